package objectstest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"vigil/internal/cloud/objects"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
)

// Store is what the suite needs: the objects domain's Store, and the
// storetest.Fixtures that make the households objects belong to.
type Store interface {
	objects.Store
	storetest.Fixtures
}

// Run runs the suite. newStore returns a new, empty store for each subtest and
// closes it when the subtest ends (t.Cleanup). Subtests do not run in
// parallel.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"PutObject", testPutObject},
		{"PutObjectRace", testPutObjectRace},
		{"PutObjectMixed", testPutObjectMixed},
		{"Objects", testObjects},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func testPutObject(t *testing.T, s Store) {
	ctx := t.Context()
	h, _ := storetest.MkHousehold(t, s, "hh-1", "ann")
	o := storetest.Object(h.ID, "front/1", "front", 0, 4*time.Second)
	o.Seq = 1<<63 + 7 // the full uint64 range round-trips
	o.Start = o.Start.In(storetest.Elsewhere)
	created, err := s.PutObject(ctx, o)
	storetest.OK(t, err, "PutObject")
	if !created {
		t.Error("PutObject of a new key: created = false")
	}
	got, err := s.Object(ctx, h.ID, o.Key)
	storetest.OK(t, err, "Object")
	storetest.Same(t, "Object", got, o)

	created, err = s.PutObject(ctx, o)
	storetest.OK(t, err, "PutObject again with the same SHA256")
	if created {
		t.Error("PutObject of the same object again: created = true")
	}
	other := o
	other.SHA256 = storetest.Hash("other bytes")
	created, err = s.PutObject(ctx, other)
	storetest.IsErr(t, err, store.ErrConflict, "PutObject of another SHA256 under a taken key")
	if created {
		t.Error("PutObject conflict: created = true")
	}
	got, err = s.Object(ctx, h.ID, o.Key)
	storetest.OK(t, err, "Object")
	storetest.Same(t, "Object after a conflicting put", got, o)

	_, err = s.Object(ctx, h.ID, "hh-1/missing")
	storetest.IsErr(t, err, store.ErrNotFound, "Object of a missing key")
	_, err = s.Object(ctx, "hh-missing", o.Key)
	storetest.IsErr(t, err, store.ErrNotFound, "Object under another household ID")
}

func testPutObjectRace(t *testing.T, s Store) {
	ctx := t.Context()
	h, _ := storetest.MkHousehold(t, s, "hh-1", "ann")
	o := storetest.Object(h.ID, "front/1", "front", 0, 4*time.Second)
	var mu sync.Mutex
	createdBy := []int{}
	errs := storetest.Race(func(i int) error {
		created, err := s.PutObject(ctx, o)
		if created {
			mu.Lock()
			createdBy = append(createdBy, i)
			mu.Unlock()
		}
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("racer %d: PutObject of the same object: %v", i, err)
		}
	}
	if len(createdBy) != 1 {
		t.Errorf("racing PutObject of one object: created = true for racers %v, want exactly one", createdBy)
	}
	objs, err := s.Objects(ctx, store.ObjectFilter{HouseholdID: h.ID})
	storetest.SameKeys(t, "Objects after race", objs, err, "front/1")
}

// testPutObjectMixed races puts that must go in with puts that must fail
// (a household that does not exist, a key holding another object): a store
// that commits concurrent puts together must fail each bad one alone and
// keep every good one.
func testPutObjectMixed(t *testing.T, s Store) {
	ctx := t.Context()
	h, _ := storetest.MkHousehold(t, s, "hh-1", "ann")
	taken := storetest.Object(h.ID, "front/taken", "front", 0, 4*time.Second)
	_, err := s.PutObject(ctx, taken)
	storetest.OK(t, err, "PutObject")
	other := taken
	other.SHA256[0] ^= 1
	want := map[int]string{} // racer -> its key, for those that must be created
	errs := storetest.Race(func(i int) error {
		switch i % 3 {
		case 0:
			_, err := s.PutObject(ctx, storetest.Object("hh-none", fmt.Sprintf("front/%d", i), "front", 0, 4*time.Second))
			if !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("PutObject into a household that does not exist: %v, want ErrNotFound", err)
			}
		case 1:
			_, err := s.PutObject(ctx, other)
			if !errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("PutObject of another object under a taken key: %v, want ErrConflict", err)
			}
		default:
			created, err := s.PutObject(ctx, storetest.Object(h.ID, fmt.Sprintf("front/%d", i), "front", time.Duration(i)*time.Second, time.Duration(i+4)*time.Second))
			if err != nil || !created {
				return fmt.Errorf("PutObject of a new object: created %v, %v", created, err)
			}
		}
		return nil
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("racer %d: %v", i, err)
		}
		if i%3 == 2 {
			want[i] = h.ID + "/" + fmt.Sprintf("front/%d", i)
		}
	}
	keys := []string{taken.Key}
	for _, k := range want {
		keys = append(keys, k)
	}
	objs, err := s.Objects(ctx, store.ObjectFilter{HouseholdID: h.ID})
	got := make([]string, 0, len(objs))
	for _, o := range objs {
		got = append(got, o.Key)
	}
	storetest.OK(t, err, "Objects")
	slices.Sort(got)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("Objects after the mixed race: %v, want %v", got, keys)
	}
	o, err := s.Object(ctx, h.ID, taken.Key)
	storetest.OK(t, err, "Object")
	if o.SHA256 != taken.SHA256 {
		t.Error("the taken key's object changed")
	}
}

func testObjects(t *testing.T, s Store) {
	ctx := t.Context()
	h, _ := storetest.MkHousehold(t, s, "hh-1", "ann")
	sec := time.Second
	// Key order differs from start order, so the order is checked, and
	// f-b and f-d share a start, so the key breaks the tie.
	objs := []store.Object{
		storetest.Object(h.ID, "f-a", "front", 30*sec, 40*sec),
		storetest.Object(h.ID, "f-d", "front", 10*sec, 15*sec),
		storetest.Object(h.ID, "b-y", "back", 10*sec, 20*sec),
		storetest.Object(h.ID, "f-c", "front", 0, 10*sec),
		storetest.Object(h.ID, "f-b", "front", 10*sec, 20*sec),
		storetest.Object(h.ID, "b-z", "back", 0, 10*sec),
	}
	for _, o := range objs {
		_, err := s.PutObject(ctx, o)
		storetest.OK(t, err, "PutObject "+o.Key)
	}
	f := func(camera string, from, to time.Duration, limit int) store.ObjectFilter {
		of := store.ObjectFilter{HouseholdID: h.ID, Camera: camera, Limit: limit}
		if from >= 0 {
			of.From = storetest.At(from)
		}
		if to >= 0 {
			of.To = storetest.At(to).In(storetest.Elsewhere)
		}
		return of
	}
	const open = -1
	all := []string{"b-z", "b-y", "f-c", "f-b", "f-d", "f-a"}
	for _, c := range []struct {
		name string
		f    store.ObjectFilter
		want []string
	}{
		{"all, ordered by camera, start, key", f("", open, open, 0), all},
		{"one camera", f("front", open, open, 0), []string{"f-c", "f-b", "f-d", "f-a"}},
		{"missing camera", f("side", open, open, 0), nil},
		{"from an end: that object excluded", f("", 10*sec, open, 0), []string{"b-y", "f-b", "f-d", "f-a"}},
		{"to a start: that object excluded", f("", open, 10*sec, 0), []string{"b-z", "f-c"}},
		{"inside", f("", 12*sec, 31*sec, 0), []string{"b-y", "f-b", "f-d", "f-a"}},
		{"in a hole", f("", 20*sec, 30*sec, 0), nil},
		{"camera and range", f("front", 5*sec, 12*sec, 0), []string{"f-c", "f-b", "f-d"}},
		{"before everything", f("", open, 0, 0), nil},
		{"after everything", f("", 40*sec, open, 0), nil},
		{"limit", f("", open, open, 2), []string{"b-z", "b-y"}},
		{"limit with camera and range", f("front", 5*sec, open, 3), []string{"f-c", "f-b", "f-d"}},
		{"limit above count", f("", open, open, 100), all},
	} {
		got, err := s.Objects(ctx, c.f)
		storetest.SameKeys(t, "Objects "+c.name, got, err, c.want...)
	}
	// The timezone of From does not matter, only the instant.
	got, err := s.Objects(ctx, store.ObjectFilter{HouseholdID: h.ID, From: storetest.At(35 * sec).In(storetest.Elsewhere)})
	storetest.SameKeys(t, "Objects from a non-UTC time", got, err, "f-a")

	got, err = s.Objects(ctx, store.ObjectFilter{HouseholdID: h.ID, Camera: "back"})
	storetest.OK(t, err, "Objects")
	storetest.Same(t, "Objects full rows", got, []store.Object{objs[5], objs[2]})
	got, err = s.Objects(ctx, store.ObjectFilter{HouseholdID: "hh-missing"})
	storetest.SameKeys(t, "Objects of a missing household", got, err)

	ev := storetest.Object(h.ID, "e-a", "events", 12*sec, 13*sec)
	ev.Kind = "event"
	_, err = s.PutObject(ctx, ev)
	storetest.OK(t, err, "PutObject event")
	got, err = s.Objects(ctx, store.ObjectFilter{HouseholdID: h.ID, Kind: "segment"})
	storetest.SameKeys(t, "Objects of one kind", got, err, all...)
	got, err = s.Objects(ctx, store.ObjectFilter{HouseholdID: h.ID, Kind: "event", From: storetest.At(5 * sec), Limit: 5})
	storetest.SameKeys(t, "Objects of another kind in a range", got, err, "e-a")
}
