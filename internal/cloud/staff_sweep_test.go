package cloud_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/cloud"
	"vigil/internal/cloud/leader"
	"vigil/internal/cloud/store"
	"vigil/internal/history"
	"vigil/internal/keydir"
	"vigil/internal/pgtest"
	"vigil/internal/vigiltest"
)

// grantsRunningOut files n requests of m's household as staff member u,
// approves each for a minute and moves the clock past their end: n
// grants that ran out unread. It returns their IDs.
func grantsRunningOut(t *testing.T, e *env, m *member, st *keydir.State, u staffUser, n int) []string {
	t.Helper()
	hh := st.HouseholdID
	code := supportCode(t, e, m, hh)
	var ids []string
	for range n {
		r := e.fileRequest(t, u, code, []string{"hubs"}, "hub offline", 60)
		if status, b := decide(t, m, hh, r.ID, "approve", e.action(m.keys, hh, history.StaffApproveParams{Request: r.ID, Scopes: []string{"hubs"}, Seconds: 60})); status != 200 {
			t.Fatalf("approve: %d %s", status, b)
		}
		ids = append(ids, r.ID)
	}
	e.clock.Add(61 * time.Second)
	return ids
}

// expiries counts the staff.expire records of each request in the
// household's verified history.
func expiries(e *env, m *member, st *keydir.State) map[string]int {
	got := map[string]int{}
	for _, rec := range e.history(m, st) {
		if rec.Action == "staff.expire" {
			if !strings.HasPrefix(rec.Object, "request ") || len(rec.Object) < len("request ")+26 {
				e.t.Fatalf("expiry record of %q", rec.Object)
			}
			got[rec.Object[len("request "):len("request ")+26]]++
		}
	}
	return got
}

// waitExpiries waits until every grant's expiry is in the history, and
// then checks that each is there exactly once.
func waitExpiries(t *testing.T, e *env, m *member, st *keydir.State, ids []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := expiries(e, m, st)
		if len(got) == len(ids) {
			for _, id := range ids {
				if got[id] != 1 {
					t.Errorf("request %s: %d expiry records, want 1 (%v)", id, got[id], got)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("expiry records %v, want one of each of %v", got, ids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStaffSweepEmbedded: one process on SQLite sweeps itself (no
// scheduler): grants that ran out unread get one expiry record each, and
// later sweeps add none. Close stops the sweep: after it, a sweep asked
// for does nothing.
func TestStaffSweepEmbedded(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "cloud.db"), store.SQLiteOptions{Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Now()}
	outbox := filepath.Join(dir, "outbox")
	srv, err := cloud.New(cloud.Options{Store: st, Blobs: blobDir(t), Logger: vigiltest.Logger(t), Now: clk.Now,
		Mailer: cloud.OutboxMailer{Dir: outbox}, Argon2: testArgon, PublicURL: "http://vigil.test",
		StaffSweepEvery: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	e := &env{t: t, srv: srv, url: hs.URL, dir: dir, st: st, clock: clk, outbox: outbox}
	alice := e.signUp("alice@example.com")
	hh := e.household(alice, "Home")
	ids := grantsRunningOut(t, e, alice, hh, e.staffUser("Ada", "support"), 3)
	waitExpiries(t, e, alice, hh, ids)
	time.Sleep(100 * time.Millisecond) // five more sweeps
	waitExpiries(t, e, alice, hh, ids)

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.SweepStaffGrants(t.Context()); err == nil {
		t.Error("a sweep after Close: no error")
	}
}

// TestStaffSweepLeader: two replicas over one PostgreSQL database, each
// with ClusterStaffSweep set and a scheduler running the staff-grants job
// (and the log's sequencer) as 'vigil cloud' does. Neither sweeps by
// itself; only the replica that leads runs the job, never both at once,
// and every grant that ran out is recorded once.
func TestStaffSweepLeader(t *testing.T) {
	dsn := pgtest.NewDB(t)
	dir := t.TempDir()
	blobs, storage, vkey, open := sharedLog(t, dir)
	clk := &clock{t: time.Now()}
	outbox := filepath.Join(dir, "outbox")
	type rep struct {
		srv    *cloud.Server
		url    string
		st     store.Store
		sweeps atomic.Int32
	}
	var running, overlaps atomic.Int32
	var reps []*rep
	startSchedulers := func(jobs func(r *rep) []leader.Job) {
		for i, r := range reps {
			s, err := leader.New(leader.Config{DSN: dsn, Poll: 300 * time.Millisecond, Heartbeat: 100 * time.Millisecond,
				Logger: vigiltest.Logger(t).With("replica", i)}, jobs(r)...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() }) // before the servers close
		}
	}
	for i := range 2 {
		st, err := store.OpenPostgres(t.Context(), dsn, store.PostgresOptions{Logger: vigiltest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		// A replica that swept by itself would sweep every 10 ms.
		srv, err := cloud.New(cloud.Options{Store: st, Blobs: blobs, Logger: vigiltest.Logger(t).With("replica", i), Now: clk.Now,
			Mailer: cloud.OutboxMailer{Dir: outbox}, Argon2: testArgon, PublicURL: "http://vigil.test",
			LogStorage: storage, LogKey: vkey, OpenLog: open, ClusterStaffSweep: true, StaffSweepEvery: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		reps = append(reps, &rep{srv: srv, url: hs.URL, st: st})
	}
	// The log's sequencer first: the history is readable.
	startSchedulers(func(r *rep) []leader.Job {
		return []leader.Job{{Name: "tlog", Run: r.srv.SequenceLog}}
	})
	e := &env{t: t, srv: reps[0].srv, url: reps[0].url, dir: dir, st: reps[0].st, clock: clk, outbox: outbox}
	alice := e.signUp("alice@example.com")
	hh := e.household(alice, "Home")
	ada := e.staffUser("Ada", "support")
	ids := grantsRunningOut(t, e, alice, hh, ada, 3)

	// No replica sweeps by itself.
	time.Sleep(200 * time.Millisecond)
	if got := expiries(e, alice, hh); len(got) != 0 {
		t.Fatalf("expiries recorded with no staff-grants job running: %v", got)
	}

	startSchedulers(func(r *rep) []leader.Job {
		return []leader.Job{{Name: "staff-grants", Every: 20 * time.Millisecond, Run: func(ctx context.Context) error {
			if running.Add(1) > 1 {
				overlaps.Add(1)
			}
			defer running.Add(-1)
			r.sweeps.Add(1)
			return r.srv.SweepStaffGrants(ctx)
		}}}
	})
	waitExpiries(t, e, alice, hh, ids)
	// More grants run out while the same replica leads.
	more := grantsRunningOut(t, e, alice, hh, ada, 2)
	waitExpiries(t, e, alice, hh, append(ids, more...))
	a, b := reps[0].sweeps.Load(), reps[1].sweeps.Load()
	if (a == 0) == (b == 0) {
		t.Errorf("sweeps: %d on one replica, %d on the other; want them all on one", a, b)
	}
	if n := overlaps.Load(); n != 0 {
		t.Errorf("the sweep ran on both replicas at once %d times", n)
	}
}
