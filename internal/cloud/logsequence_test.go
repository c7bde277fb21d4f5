package cloud_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"

	"vigil/internal/blob"
	"vigil/internal/cloud"
	"vigil/internal/cloud/leader"
	"vigil/internal/cloud/store"
	"vigil/internal/pgtest"
	"vigil/internal/tlog"
	"vigil/internal/vigiltest"
)

// replica is one of several Servers over one PostgreSQL database and one
// blob store, each sequencing the log only while its scheduler leads.
type replica struct {
	srv   *cloud.Server
	url   string
	sched *leader.Scheduler
	terms atomic.Int32 // SequenceLog runs started here
}

// TestLogSequencedOnce: two replicas share the store and the log's
// storage; households' records made through either reach the log through
// the one that leads, never both at once, and when the leader's
// PostgreSQL session ends the other takes over; members verify a complete
// history throughout.
func TestLogSequencedOnce(t *testing.T) {
	dsn := pgtest.NewDB(t)
	ctx := t.Context()
	dir := t.TempDir()
	blobs, storage, vkey, open := sharedLog(t, dir)
	clk := &clock{t: time.Now()}
	var running, overlaps atomic.Int32
	var reps []*replica
	for i := range 2 {
		st, err := store.OpenPostgres(ctx, dsn, store.PostgresOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		log := vigiltest.Logger(t).With("replica", i)
		srv, err := cloud.New(cloud.Options{Store: st, Blobs: blobs, Logger: log, Now: clk.Now,
			Mailer: cloud.OutboxMailer{Dir: filepath.Join(dir, "outbox")}, Argon2: testArgon, PublicURL: "http://vigil.test",
			LogStorage: storage, LogKey: vkey, OpenLog: open, Coalesce: -1})
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv.Handler())
		r := &replica{srv: srv, url: hs.URL}
		r.sched, err = leader.New(leader.Config{DSN: dsn, Poll: 300 * time.Millisecond, Heartbeat: 100 * time.Millisecond, Logger: log},
			leader.Job{Name: "tlog", Run: func(ctx context.Context) error {
				if running.Add(1) > 1 {
					overlaps.Add(1)
				}
				defer running.Add(-1)
				r.terms.Add(1)
				return srv.SequenceLog(ctx)
			}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			r.sched.Close()
			hs.Close()
			srv.Close()
		})
		reps = append(reps, r)
	}

	// Alice's account and household through replica 0, her hub through
	// replica 1.
	e := &env{t: t, srv: reps[0].srv, url: reps[0].url, dir: dir, clock: clk}
	alice := e.signUp("alice@example.com")
	hh := e.household(alice, "Home")
	hub, hubKey := e.addHub(alice, hh)
	hub.BaseURL = reps[1].url
	start := time.Unix(1_800_000_000, 0).UTC()
	seq := uint64(0)
	activity := func() {
		t.Helper()
		b := seal(t, hubKey, hh, "front", seq, start.Add(time.Duration(seq)*4*time.Second), 1000)
		seq++
		key, _, err := hub.Upload(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range reps {
			c := *alice.c
			c.BaseURL = r.url
			if _, err := c.ReadObject(ctx, hh.HouseholdID, key, 1<<20); err != nil {
				t.Fatal(err)
			}
		}
	}
	reads := func() int {
		t.Helper()
		n := 0
		for _, r := range e.history(alice, hh) {
			if r.Action == "object.read" {
				n += int(r.Count)
			}
		}
		return n
	}
	activity()
	if n := reads(); n != 2 {
		t.Fatalf("%d object reads in the verified history, want 2", n)
	}
	var lead int
	switch {
	case reps[0].terms.Load() > 0 && reps[1].terms.Load() == 0:
		lead = 0
	case reps[1].terms.Load() > 0 && reps[0].terms.Load() == 0:
		lead = 1
	default:
		t.Fatalf("sequencer terms: %d and %d, want one replica only", reps[0].terms.Load(), reps[1].terms.Load())
	}

	// The leader's lock session ends under it.
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var pid int32
	if err := c.QueryRow(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	other := 1 - lead
	deadline := time.Now().Add(5 * time.Second)
	for reps[other].terms.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the other replica did not take the sequencer over")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for range 3 {
		activity()
	}
	// Synced through the new leader: every read is in the log once.
	if n := reads(); n != 8 {
		t.Errorf("%d object reads in the verified history, want 8", n)
	}
	if n := overlaps.Load(); n != 0 {
		t.Errorf("the sequencer ran on both replicas at once %d times", n)
	}
}

// sharedLog is what replicas share as deployed: one blob store standing
// for the bucket, and the log kept in it, which the replica that leads
// opens afresh for its term (open, as Options.OpenLog). Like the command
// at its first start, it makes the empty log.
func sharedLog(t *testing.T, dir string) (blobs *blob.Dir, storage tlog.Storage, vkey string, open func(context.Context) (*tlog.Log, error)) {
	t.Helper()
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	signer, vkey := logSigner(t, "vigil.test/tlog")
	storage = tlog.NewBlobStorage(blobs, "tlog")
	open = func(ctx context.Context) (*tlog.Log, error) {
		return tlog.Open(ctx, tlog.Config{Origin: signer.Name(), Signer: signer, Storage: storage})
	}
	l, err := open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	return blobs, storage, vkey, open
}

// logSigner makes a log's signing key for origin: its signer, and the
// verifier key devices pin.
func logSigner(t testing.TB, origin string) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := tlog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return signer, vkey
}
