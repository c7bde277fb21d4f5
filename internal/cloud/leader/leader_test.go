package leader_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"vigil/internal/cloud/leader"
	"vigil/internal/pgtest"
	"vigil/internal/vigiltest"
)

const (
	poll      = 300 * time.Millisecond
	heartbeat = 100 * time.Millisecond
)

// runs counts the runs of one job across schedulers: who ran, and whether
// two runs ever overlapped.
type runs struct {
	active   atomic.Int32
	overlaps atomic.Int32
	mu       sync.Mutex
	by       map[string]int
	last     string
}

// job is a job named name that marks each run as by who and lasts d.
func (r *runs) job(name, who string, every, d time.Duration) leader.Job {
	return leader.Job{Name: name, Every: every, Run: func(ctx context.Context) error {
		if r.active.Add(1) > 1 {
			r.overlaps.Add(1)
		}
		defer r.active.Add(-1)
		r.mu.Lock()
		r.by[who]++
		r.last = who
		r.mu.Unlock()
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
		return nil
	}}
}

func (r *runs) count(who string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.by[who]
}

func newRuns() *runs { return &runs{by: map[string]int{}} }

func start(t *testing.T, dsn string, jobs ...leader.Job) *leader.Scheduler {
	t.Helper()
	s, err := leader.New(leader.Config{DSN: dsn, Poll: poll, Heartbeat: heartbeat, Logger: vigiltest.Logger(t)}, jobs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitFor polls cond until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// holders returns the backend PIDs holding advisory locks in the database.
func holders(t *testing.T, admin *pgx.Conn) []int32 {
	t.Helper()
	rows, err := admin.Query(t.Context(), `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// takeover is how long a hand-over may take at most: the poll, the grace
// of the new holder, and slack for a loaded machine.
const takeover = poll + 3*heartbeat + 2*time.Second

// TestOneRunsAndHandOver: of two schedulers one runs the job; when its
// PostgreSQL session is ended (the backend terminated) or it closes, the
// other takes over within a poll and the grace, and no two runs overlap.
func TestOneRunsAndHandOver(t *testing.T) {
	dsn := pgtest.NewDB(t)
	admin := connect(t, dsn)
	for _, kind := range []string{"periodic", "long"} {
		t.Run(kind, func(t *testing.T) {
			r := newRuns()
			every, d := 5*time.Millisecond, 20*time.Millisecond
			if kind == "long" {
				every, d = 0, time.Hour // one run per term, until the term ends
			}
			name := "sweep-" + kind
			a := start(t, dsn, r.job(name, "a", every, d))
			b := start(t, dsn, r.job(name, "b", every, d))
			waitFor(t, takeover, "a scheduler runs the job", func() bool { return r.count("a")+r.count("b") > 0 })
			time.Sleep(2 * poll) // the other has tried the lock a few times
			r.mu.Lock()
			first := r.last
			r.mu.Unlock()
			other := map[string]string{"a": "b", "b": "a"}[first]
			if n := r.count(other); n != 0 {
				t.Fatalf("both schedulers ran the job (%s %d times)", other, n)
			}

			// The holder's session ends under it.
			pids := holders(t, admin)
			if len(pids) != 1 {
				t.Fatalf("advisory locks held by %v, want one backend", pids)
			}
			var ok bool
			if err := admin.QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, pids[0]).Scan(&ok); err != nil || !ok {
				t.Fatalf("pg_terminate_backend: %v %v", ok, err)
			}
			began := time.Now()
			waitFor(t, takeover, other+" takes over", func() bool { return r.count(other) > 0 })
			t.Logf("%s took over %s after the holder's backend was terminated", other, time.Since(began).Round(time.Millisecond))

			// The new holder closes: the first takes the job back.
			before := r.count(first)
			closer := map[string]*leader.Scheduler{"a": a, "b": b}[other]
			began = time.Now()
			closer.Close()
			waitFor(t, takeover, first+" takes the job back", func() bool { return r.count(first) > before })
			t.Logf("%s took the job back %s after %s closed", first, time.Since(began).Round(time.Millisecond), other)
			if n := r.overlaps.Load(); n != 0 {
				t.Errorf("%d runs overlapped", n)
			}
		})
	}
}

// TestJobsApart: jobs of other names (or in another schema) have locks of
// their own.
func TestJobsApart(t *testing.T) {
	dsn := pgtest.NewDB(t)
	other := pgtest.NewSchema(t, dsn)
	r1, r2, r3 := newRuns(), newRuns(), newRuns()
	start(t, dsn, r1.job("retention", "a", 10*time.Millisecond, time.Millisecond))
	start(t, dsn, r2.job("tlog", "b", 10*time.Millisecond, time.Millisecond))
	start(t, other, r3.job("retention", "c", 10*time.Millisecond, time.Millisecond))
	waitFor(t, takeover, "each job runs", func() bool {
		return r1.count("a") > 0 && r2.count("b") > 0 && r3.count("c") > 0
	})
}

// TestLocal: without a DSN every job runs here, at its interval; Close
// cancels a run and waits for it.
func TestLocal(t *testing.T) {
	r := newRuns()
	var stopped atomic.Bool
	long := leader.Job{Name: "long", Run: func(ctx context.Context) error {
		<-ctx.Done()
		stopped.Store(true)
		return nil
	}}
	s, err := leader.New(leader.Config{Logger: vigiltest.Logger(t)}, r.job("sweep", "local", 5*time.Millisecond, time.Millisecond), long)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the job runs again and again", func() bool { return r.count("local") >= 3 })
	s.Close()
	if !stopped.Load() {
		t.Error("Close returned before the long job did")
	}
	n := r.count("local")
	time.Sleep(50 * time.Millisecond)
	if r.count("local") != n {
		t.Error("the job ran after Close")
	}
}

// TestFailingJobRunsAgain: a job that fails is logged and run again after
// the poll interval.
func TestFailingJobRunsAgain(t *testing.T) {
	var calls atomic.Int32
	s, err := leader.New(leader.Config{Poll: 20 * time.Millisecond, Heartbeat: 10 * time.Millisecond, Logger: vigiltest.Logger(t)},
		leader.Job{Name: "x", Every: time.Hour, Run: func(ctx context.Context) error {
			calls.Add(1)
			return errors.New("store down")
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitFor(t, 5*time.Second, "a failed run is tried again", func() bool { return calls.Load() >= 2 })
}

// TestUnreachable: a scheduler whose PostgreSQL is not there runs nothing,
// says so once, and closes promptly.
func TestUnreachable(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	var ran atomic.Bool
	s, err := leader.New(leader.Config{DSN: "host=127.0.0.1 port=1 user=x dbname=x sslmode=disable", Poll: 50 * time.Millisecond, Heartbeat: 10 * time.Millisecond, Logger: log},
		leader.Job{Name: "x", Run: func(ctx context.Context) error { ran.Store(true); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	began := time.Now()
	s.Close()
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("Close took %s", d)
	}
	if ran.Load() {
		t.Error("the job ran without its lock")
	}
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(logs.String(), "cannot reach PostgreSQL"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestConfigErrors(t *testing.T) {
	run := func(context.Context) error { return nil }
	for _, c := range []struct {
		cfg  leader.Config
		jobs []leader.Job
		want string
	}{
		{leader.Config{Poll: time.Second, Heartbeat: time.Second}, nil, "heartbeat"},
		{leader.Config{DSN: "postgres://[::1"}, nil, "not a PostgreSQL connection string"},
		{leader.Config{}, []leader.Job{{Run: run}}, "no name"},
		{leader.Config{}, []leader.Job{{Name: "a", Run: run}, {Name: "a", Run: run}}, "two jobs"},
		{leader.Config{}, []leader.Job{{Name: "a"}}, "no Run"},
	} {
		_, err := leader.New(c.cfg, c.jobs...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error with %q", c.cfg, err, c.want)
		}
	}
}
