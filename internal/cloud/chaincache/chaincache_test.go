package chaincache

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/keydir"
)

// store is a chain's links as a store holds them, counting reads.
type store struct {
	mu    sync.Mutex
	links [][]byte
	reads []int64 // the from of each read
}

func (s *store) read(_ context.Context, _ string, from int64) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads = append(s.reads, from)
	if from >= int64(len(s.links)) {
		return nil, nil
	}
	return append([][]byte{}, s.links[from:]...), nil
}

// TestCache: the first State verifies the whole chain from its genesis;
// within Recheck the cached state is used without a read; after it, or
// when fresh, only the links after the cached head are read and verified;
// Invalidate forces the next comparison; stored links that do not apply
// to the cached state make it verify the whole chain again, and a chain
// that does not verify (or another genesis) is an error, never a state.
func TestCache(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	admin, _ := keydir.NewDeviceKeys()
	genesis, _, st, err := keydir.NewHousehold("Labelling", admin, "lead", now)
	if err != nil {
		t.Fatal(err)
	}
	s := &store{links: [][]byte{genesis}}
	c := New("workspace", s.read, clock)
	add := func() *keydir.DeviceKeys {
		d, _ := keydir.NewDeviceKeys()
		link, err := st.AddDevice(admin, d.Public(keydir.RoleMember, "annotator"), now)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Apply(link); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		s.links = append(s.links, link)
		s.mu.Unlock()
		return d
	}
	reads := func() []int64 { s.mu.Lock(); defer s.mu.Unlock(); r := s.reads; s.reads = nil; return r }

	got, err := c.State(ctx, st.HouseholdID, st.GenesisHash, false)
	if err != nil || got.Seq != 0 || !equal(reads(), 0) {
		t.Fatalf("first State: seq %v %v", got, err)
	}
	a := add()
	if got, _ := c.State(ctx, st.HouseholdID, st.GenesisHash, false); got.Seq != 0 || len(reads()) != 0 {
		t.Fatal("within Recheck the store was read, or a link seen")
	}
	if got, _ := c.State(ctx, st.HouseholdID, st.GenesisHash, true); got.Seq != 1 || got.Devices[a.ID()].Role != keydir.RoleMember || !equal(reads(), 1) {
		t.Fatalf("fresh State: seq %d, reads: want only the links after the cached head", got.Seq)
	}
	b := add()
	now = now.Add(Recheck)
	if got, _ := c.State(ctx, st.HouseholdID, st.GenesisHash, false); got.Seq != 2 || got.Devices[b.ID()].ID == "" || !equal(reads(), 2) {
		t.Fatalf("after Recheck: seq %d", got.Seq)
	}
	c.Invalidate(st.HouseholdID)
	if _, _ = c.State(ctx, st.HouseholdID, st.GenesisHash, false); !equal(reads(), 3) {
		t.Fatal("Invalidate did not make the next State compare with the store")
	}

	// A store that lost and replaced links: the cached state does not take
	// them, and the whole chain is verified again (and refused).
	other, _ := keydir.NewDeviceKeys()
	_, _, forked, _ := keydir.NewHousehold("Other", other, "x", now)
	link, _ := forked.AddDevice(other, admin.Public(keydir.RoleMember, "y"), now)
	s.mu.Lock()
	s.links = append(s.links, link)
	s.mu.Unlock()
	_, err = c.State(ctx, st.HouseholdID, st.GenesisHash, true)
	if err == nil || !strings.Contains(err.Error(), "workspace "+st.HouseholdID+": stored chain does not verify") || !equal(reads(), 3, 0) {
		t.Fatalf("a link that does not apply: %v", err)
	}
	if _, ok := c.Cached(st.HouseholdID); ok {
		t.Error("a chain that does not verify stays cached")
	}
	s.mu.Lock()
	s.links = s.links[:3]
	s.mu.Unlock()
	if _, err := c.State(ctx, st.HouseholdID, forked.GenesisHash, false); err == nil {
		t.Error("the chain verified from another genesis")
	}
	boom := errors.New("store down")
	c2 := New("household", func(context.Context, string, int64) ([][]byte, error) { return nil, boom }, clock)
	if _, err := c2.State(ctx, st.HouseholdID, st.GenesisHash, false); !errors.Is(err, boom) {
		t.Errorf("a store error: %v", err)
	}
	c.Put(st.HouseholdID, st)
	if got, ok := c.Cached(st.HouseholdID); !ok || got != st {
		t.Error("Put did not cache the state")
	}
	c.Drop(st.HouseholdID)
	if _, ok := c.Cached(st.HouseholdID); ok {
		t.Error("Drop did not forget the state")
	}
}

func equal(a []int64, b ...int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
