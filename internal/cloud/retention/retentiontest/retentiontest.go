package retentiontest

import (
	"context"
	"testing"
	"time"

	"vigil/internal/cloud/retention"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
)

// Store is what the suite needs: retention's Index, and beside it the
// writes that make its fixtures, which other domains own: the
// storetest.Fixtures for households, and PutObject for their objects.
type Store interface {
	retention.Index
	storetest.Fixtures
	PutObject(ctx context.Context, o store.Object) (created bool, err error)
}

// Run runs the suite. newStore returns a new, empty store for each subtest and
// closes it when the subtest ends (t.Cleanup). Subtests do not run in
// parallel.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"OldestObjects", testOldestObjects},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func testOldestObjects(t *testing.T, s Store) {
	ctx := t.Context()
	h, _ := storetest.MkHousehold(t, s, "hh-1", "ann")
	sec := time.Second
	for _, o := range []store.Object{
		storetest.Object(h.ID, "k1", "front", 40*sec, 50*sec),
		storetest.Object(h.ID, "k2", "back", 0, 10*sec),
		storetest.Object(h.ID, "k3", "front", 5*sec, 30*sec), // starts early, ends late
		storetest.Object(h.ID, "k4", "side", 15*sec, 20*sec),
	} {
		_, err := s.PutObject(ctx, o)
		storetest.OK(t, err, "PutObject")
	}
	got, err := s.OldestObjects(ctx, h.ID, 2)
	storetest.SameKeys(t, "OldestObjects(2)", got, err, "k2", "k4")
	got, err = s.OldestObjects(ctx, h.ID, 10)
	storetest.SameKeys(t, "OldestObjects(10)", got, err, "k2", "k4", "k3", "k1")
	if len(got) == 4 {
		storetest.Same(t, "OldestObjects full row", got[0], storetest.Object(h.ID, "k2", "back", 0, 10*sec))
	}
	got, err = s.OldestObjects(ctx, h.ID, 0)
	storetest.SameKeys(t, "OldestObjects(0)", got, err)
	got, err = s.OldestObjects(ctx, "hh-missing", 10)
	storetest.SameKeys(t, "OldestObjects of a missing household", got, err)
}
