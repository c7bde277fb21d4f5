package storetest

import (
	"testing"
	"time"

	"vigil/internal/cloud/store"
)

// testUploadedSince: UploadedSince sums the sizes of one household's
// objects created at or after the time (the boundary included), forgets
// deleted objects, and answers 0 for an empty or unknown household.
func testUploadedSince(t *testing.T, s store.Store) {
	ctx := t.Context()
	h, _ := mkHousehold(t, s, "hh-1", "ann")
	o, _ := mkHousehold(t, s, "hh-2", "bob")
	objs := []store.Object{
		object(h.ID, "old", "front", 0, time.Second),                 // created at(2s)
		object(h.ID, "edge", "front", 9*time.Second, 10*time.Second), // created at(11s)
		object(h.ID, "new", "back", 20*time.Second, 21*time.Second),  // created at(22s)
		object(o.ID, "other", "front", 20*time.Second, 21*time.Second),
	}
	objs[2].Size = 1 << 40 // sums are 64-bit
	for _, x := range objs {
		_, err := s.PutObject(ctx, x)
		ok(t, err, "PutObject")
	}
	since := func(hh string, from time.Time, want int64) {
		t.Helper()
		got, err := s.UploadedSince(ctx, hh, from)
		ok(t, err, "UploadedSince")
		if got != want {
			t.Errorf("UploadedSince(%s, %s) = %d, want %d", hh, from.Sub(base), got, want)
		}
	}
	since(h.ID, time.Time{}, objs[0].Size+objs[1].Size+objs[2].Size)
	since(h.ID, at(11*time.Second), objs[1].Size+objs[2].Size)
	since(h.ID, at(11*time.Second+time.Microsecond), objs[2].Size)
	since(h.ID, at(time.Minute), 0)
	since(o.ID, at(11*time.Second), objs[3].Size)
	since("hh-missing", time.Time{}, 0)
	ok(t, s.DeleteObject(ctx, h.ID, objs[2].Key), "DeleteObject")
	since(h.ID, at(11*time.Second), objs[1].Size)
}
