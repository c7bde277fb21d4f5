package retention_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/blob"
	"vigil/internal/cloud/retention"
	"vigil/internal/cloud/store"
	"vigil/internal/pgtest"
	"vigil/internal/vigiltest"
)

// index is the store retention runs against in these tests.
type index interface {
	store.Store
	store.HouseholdLister
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

type fixture struct {
	t     *testing.T
	st    index
	blobs *blob.Dir
	clock *clock
	n     int
}

func openSQLite(t *testing.T) index {
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cloud.db"), store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func openPostgres(t *testing.T) index {
	st, err := store.OpenPostgres(context.Background(), pgtest.NewSchema(t, pgtest.NewDB(t)), store.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newFixture(t *testing.T, st index) *fixture {
	blobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	return &fixture{t: t, st: st, blobs: blobs, clock: &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}}
}

func (f *fixture) service(quota int64, maxAge time.Duration) *retention.Service {
	s, err := retention.New(retention.Config{Index: f.st, Blobs: f.blobs, QuotaBytes: quota, MaxAge: maxAge,
		Logger: vigiltest.Logger(f.t), Now: f.clock.Now, NudgeDelay: time.Millisecond})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { s.Close() })
	return s
}

// household creates a household (with an account to be its admin).
func (f *fixture) household(id string) {
	f.t.Helper()
	ctx := context.Background()
	acct := store.Account{ID: "acct-" + id, Email: id + "@example.com", Created: f.clock.Now()}
	if err := f.st.CreateAccount(ctx, acct); err != nil {
		f.t.Fatal(err)
	}
	h := store.Household{ID: id, Name: id, GenesisHash: []byte("g"), Created: f.clock.Now()}
	if err := f.st.CreateHousehold(ctx, h, store.Member{HouseholdID: id, AccountID: acct.ID, Role: store.RoleAdmin, Created: f.clock.Now()},
		store.Link{HouseholdID: id, Seq: 0, Hash: []byte("g"), Data: []byte("genesis"), Created: f.clock.Now()}); err != nil {
		f.t.Fatal(err)
	}
}

// object stores an object of size bytes in the household, indexed as
// ending at end, and returns its key.
func (f *fixture) object(hh string, end time.Time, size int) string {
	f.t.Helper()
	ctx := context.Background()
	f.n++
	key := fmt.Sprintf("%s/hub/cam/%016x", hh, f.n)
	data := []byte(strings.Repeat(fmt.Sprint(f.n%10), size))
	info, _, err := f.blobs.Put(ctx, key, strings.NewReader(string(data)), int64(size))
	if err != nil {
		f.t.Fatal(err)
	}
	o := store.Object{HouseholdID: hh, Key: key, Device: "hub", Camera: "cam", Kind: "segment", Seq: uint64(f.n),
		Start: end.Add(-4 * time.Second), End: end, Size: int64(size), SHA256: sha256.Sum256(data), Created: f.clock.Now()}
	if info.SHA256 != o.SHA256 {
		f.t.Fatal("blob store's SHA-256 differs")
	}
	if _, err := f.st.PutObject(ctx, o); err != nil {
		f.t.Fatal(err)
	}
	return key
}

// keys returns the household's indexed keys, oldest first, after checking
// that each is in the blob store and that no other blob is.
func (f *fixture) keys(hh string) []string {
	f.t.Helper()
	keys, stored := f.listed(hh)
	if sorted := slices.Sorted(slices.Values(keys)); !slices.Equal(sorted, stored) {
		f.t.Errorf("household %s: index holds %v, blob store %v", hh, sorted, stored)
	}
	return keys
}

// settled reports whether the household's index holds want (oldest first)
// and the blob store exactly those: a check while a sweep may be between
// dropping an index entry and deleting its blob.
func (f *fixture) settled(hh string, want []string) bool {
	f.t.Helper()
	keys, stored := f.listed(hh)
	return slices.Equal(keys, want) && slices.Equal(slices.Sorted(slices.Values(keys)), stored)
}

// listed returns the household's indexed keys, oldest first, and its
// blobs' keys, sorted.
func (f *fixture) listed(hh string) (keys, stored []string) {
	f.t.Helper()
	ctx := context.Background()
	objs, err := f.st.OldestObjects(ctx, hh, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	stored, err = f.blobs.List(ctx, hh+"/")
	if err != nil {
		f.t.Fatal(err)
	}
	return keys, stored
}

func each(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newFixture(t, openSQLite(t))) })
	t.Run("postgres", func(t *testing.T) { fn(t, newFixture(t, openPostgres(t))) })
}

// TestQuota: a household over its quota loses its oldest objects first,
// just enough of them; a household's own quota wins over the default; other
// households are untouched; a second sweep changes nothing.
func TestQuota(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.household("hh-a")
		f.household("hh-b")
		base := f.clock.Now().Add(-time.Hour)
		var a, b []string
		// Stored out of order: the end time decides what is oldest.
		for _, i := range []int{3, 0, 4, 1, 2} {
			a = append(a, f.object("hh-a", base.Add(time.Duration(i)*time.Minute), 1000))
			b = append(b, f.object("hh-b", base.Add(time.Duration(i)*time.Minute), 1000))
		}
		byEnd := func(keys []string) []string { // keys in end order
			return []string{keys[1], keys[3], keys[4], keys[0], keys[2]}
		}
		if err := f.st.SetRetention(ctx, "hh-b", store.Retention{QuotaBytes: 10_000}); err != nil {
			t.Fatal(err)
		}
		s := f.service(2500, 0)
		if used, err := s.Usage(ctx, "hh-a"); err != nil || used != 5000 {
			t.Errorf("Usage(hh-a) before sweeping = %d, %v; want 5000", used, err)
		}
		for range 2 {
			if err := s.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if used, err := s.Usage(ctx, "hh-a"); err != nil || used != 2000 {
				t.Errorf("Usage(hh-a) after sweeping = %d, %v; want the 2000 bytes kept under the quota", used, err)
			}
			if got, want := f.keys("hh-a"), byEnd(a)[3:]; !slices.Equal(got, want) {
				t.Errorf("hh-a after sweeping: %v, want %v", got, want)
			}
			if got, want := f.keys("hh-b"), byEnd(b); !slices.Equal(got, want) {
				t.Errorf("hh-b (own quota of 10,000 bytes) after sweeping: %v, want %v", got, want)
			}
		}
	})
}

// TestAge: objects that ended before the maximum age are deleted, the
// service's or the household's own, whichever is shorter; the quota does
// not matter.
func TestAge(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.household("hh-a")
		f.household("hh-b")
		now := f.clock.Now()
		var a, b []string
		for _, ago := range []time.Duration{72 * time.Hour, 30 * time.Hour, 2 * time.Hour, time.Minute} {
			a = append(a, f.object("hh-a", now.Add(-ago), 100))
			b = append(b, f.object("hh-b", now.Add(-ago), 100))
		}
		if err := f.st.SetRetention(ctx, "hh-b", store.Retention{MaxAge: time.Hour}); err != nil {
			t.Fatal(err)
		}
		s := f.service(1<<30, 48*time.Hour)
		if err := s.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := f.keys("hh-a"); !slices.Equal(got, a[1:]) {
			t.Errorf("hh-a (service's 48 h): %v, want %v", got, a[1:])
		}
		if got := f.keys("hh-b"); !slices.Equal(got, b[3:]) {
			t.Errorf("hh-b (own 1 h): %v, want %v", got, b[3:])
		}
		// A day later the next one has aged out.
		f.clock.mu.Lock()
		f.clock.t = f.clock.t.Add(24 * time.Hour)
		f.clock.mu.Unlock()
		if err := s.SweepHousehold(ctx, "hh-a"); err != nil {
			t.Fatal(err)
		}
		if got := f.keys("hh-a"); !slices.Equal(got, a[2:]) {
			t.Errorf("hh-a a day later: %v, want %v", got, a[2:])
		}
	})
}

// TestNudgeKeepsTheNewObject: the object whose upload nudged the service
// is not the one deleted, even when it is the oldest (a hub catching up);
// the oldest others go first. Once swept, it is no longer protected.
func TestNudgeKeepsTheNewObject(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.household("hh")
		now := f.clock.Now()
		k1 := f.object("hh", now.Add(-3*time.Minute), 1000)
		k2 := f.object("hh", now.Add(-2*time.Minute), 1000)
		late := f.object("hh", now.Add(-10*time.Minute), 1000) // uploaded last, oldest by end
		s := f.service(2000, 0)
		s.Nudge("hh", late)
		if err := s.SweepHousehold(ctx, "hh"); err != nil {
			t.Fatal(err)
		}
		if got, want := f.keys("hh"), []string{late, k2}; !slices.Equal(got, want) {
			t.Errorf("after the nudged sweep: %v, want %v (k1 %s deleted)", got, want, k1)
		}
		k3 := f.object("hh", now.Add(-time.Minute), 1000)
		s.Nudge("hh", k3)
		if err := s.SweepHousehold(ctx, "hh"); err != nil {
			t.Fatal(err)
		}
		if got, want := f.keys("hh"), []string{k2, k3}; !slices.Equal(got, want) {
			t.Errorf("after the next upload: %v, want %v", got, want)
		}
	})
}

// TestRunSweepsNudged: a running Service sweeps a nudged household soon
// (not at its next full sweep), and Close waits for it.
func TestRunSweepsNudged(t *testing.T) {
	f := newFixture(t, openSQLite(t))
	f.household("hh")
	now := f.clock.Now()
	old := f.object("hh", now.Add(-2*time.Minute), 1000)
	s, err := retention.New(retention.Config{Index: f.st, Blobs: f.blobs, QuotaBytes: 1500, Now: f.clock.Now,
		Logger: vigiltest.Logger(t), Interval: time.Hour, NudgeDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Close()
	newer := f.object("hh", now.Add(-time.Minute), 1000)
	s.Nudge("hh", newer)
	deadline := time.Now().Add(10 * time.Second)
	for !f.settled("hh", []string{newer}) {
		if time.Now().After(deadline) {
			t.Fatalf("still %v after a nudge, want %v (%s deleted)", f.keys("hh"), []string{newer}, old)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentSweeps: sweeps running at once (as in two processes)
// delete what one would, and neither fails on what the other deleted.
func TestConcurrentSweeps(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.household("hh")
		base := f.clock.Now().Add(-time.Hour)
		var keys []string
		for i := range 40 {
			keys = append(keys, f.object("hh", base.Add(time.Duration(i)*time.Second), 100))
		}
		s1, s2 := f.service(1000, 0), f.service(1000, 0)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() {
				s := s1
				if i%2 == 1 {
					s = s2
				}
				errs[i] = s.Sweep(ctx)
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		got := f.keys("hh")
		// Each sweep keeps at least the newest 10 (1,000 bytes); racing
		// sweeps may each delete one more before seeing the other's.
		if len(got) < 6 || len(got) > 10 || !slices.Equal(got, keys[len(keys)-len(got):]) {
			t.Errorf("after concurrent sweeps: %d objects %v, want the newest (up to 10)", len(got), got)
		}
	})
}

// TestUnknownHousehold: sweeping a household that does not exist (deleted
// meanwhile) is not an error.
func TestUnknownHousehold(t *testing.T) {
	f := newFixture(t, openSQLite(t))
	if err := f.service(1000, time.Hour).SweepHousehold(context.Background(), "nope"); err != nil {
		t.Fatal(err)
	}
}

func TestConfigRefused(t *testing.T) {
	f := newFixture(t, openSQLite(t))
	for _, c := range []retention.Config{
		{Blobs: f.blobs, QuotaBytes: 1},
		{Index: f.st, QuotaBytes: 1},
		{Index: f.st, Blobs: f.blobs},
		{Index: f.st, Blobs: f.blobs, QuotaBytes: 1, MaxAge: -time.Second},
	} {
		if _, err := retention.New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
}

// TestHouseholdIDs: the listing Sweep pages through gives every household
// once, in order, a page at a time.
func TestHouseholdIDs(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		want := []string{"hh-a", "hh-b", "hh-c", "hh-d", "hh-e"}
		for _, id := range []string{"hh-c", "hh-a", "hh-e", "hh-b", "hh-d"} {
			f.household(id)
		}
		var got []string
		after := ""
		for range 10 {
			page, err := f.st.HouseholdIDs(ctx, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, page...)
			if len(page) < 2 {
				break
			}
			after = page[len(page)-1]
		}
		if !slices.Equal(got, want) {
			t.Errorf("households in pages of 2: %v, want %v", got, want)
		}
		if page, err := f.st.HouseholdIDs(ctx, "", 0); err != nil || len(page) != 0 {
			t.Errorf("a page of 0: %v, %v", page, err)
		}
	})
}

// TestRunWithoutFullSweeps: with a negative Interval (the cluster's
// scheduler runs Sweep), Run sweeps the households nudged about and leaves
// the others to Sweep.
func TestRunWithoutFullSweeps(t *testing.T) {
	f := newFixture(t, openSQLite(t))
	f.household("nudged")
	f.household("other")
	now := f.clock.Now()
	f.object("other", now.Add(-3*time.Minute), 1000)
	f.object("other", now.Add(-2*time.Minute), 1000)
	f.object("nudged", now.Add(-2*time.Minute), 1000)
	s, err := retention.New(retention.Config{Index: f.st, Blobs: f.blobs, QuotaBytes: 1500, Now: f.clock.Now,
		Logger: vigiltest.Logger(t), Interval: -1, NudgeDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Close()
	newer := f.object("nudged", now.Add(-time.Minute), 1000)
	s.Nudge("nudged", newer)
	for deadline := time.Now().Add(10 * time.Second); !f.settled("nudged", []string{newer}); {
		if time.Now().After(deadline) {
			t.Fatalf("the nudged household: %v after a nudge, want %v", f.keys("nudged"), []string{newer})
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A full sweep would have come at once with any positive Interval
	// this short; without one the other household waits for Sweep.
	time.Sleep(100 * time.Millisecond)
	if keys := f.keys("other"); len(keys) != 2 {
		t.Fatalf("the household nobody nudged: %v, want both objects until Sweep", keys)
	}
	if err := s.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if keys := f.keys("other"); len(keys) != 1 {
		t.Errorf("after Sweep: %v, want the newer object only", keys)
	}
}
