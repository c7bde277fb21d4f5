// Package leader runs the cloud's cluster-wide jobs (retention sweeps, the
// transparency log's sequencer) once across every replica of the cloud.
//
// On PostgreSQL each job has a lock of its own: a session-level advisory
// lock (pg_try_advisory_lock), held on a connection the scheduler keeps for
// that job alone. The replica whose connection holds the lock runs the job;
// the others try the lock again every poll interval and take over when the
// holder's session ends (the process died, its connection broke, or it
// closed). The holder pings its connection every heartbeat and cancels the
// job's context as soon as a ping fails, and a new holder waits a grace
// period (longer than a heartbeat and its ping's timeout together) before
// it starts the job, so that two replicas never run it at the same time as
// long as the job returns promptly once its context is cancelled. Without
// PostgreSQL (one process on SQLite) the jobs simply run here.
//
// What it owns: the locks, the connections that hold them, the goroutines
// that run the jobs, and the log lines of hand-overs.
//
// What it must never do: run a job while it is not sure its lock is held
// (a failed or slow ping ends the run); share a lock's connection with
// anything else (a pool could hand the session, and with it the lock, to
// other code); take locks outside the keys it derives from the jobs'
// names; import net/http or any device code.
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Job is work that must run on one replica at a time.
type Job struct {
	// Name identifies the job cluster-wide: every replica that runs it
	// gives it the same name (it derives the lock).
	Name string
	// Every is the time between the end of one run and the start of the
	// next while this replica leads. Zero makes Run a job that runs for
	// the whole term: it is called once and should return only when ctx
	// ends (it is called again, after the poll interval, if it returns
	// before).
	Every time.Duration
	// Run does the job; ctx is cancelled the moment leadership may be
	// lost, and Run must then return promptly (within Config.Heartbeat).
	Run func(ctx context.Context) error
}

// Defaults of Config.
const (
	DefaultPoll      = 3 * time.Second
	DefaultHeartbeat = time.Second
)

// Config configures a Scheduler.
type Config struct {
	// DSN is the PostgreSQL connection string; empty runs every job here,
	// without locks (one process, SQLite). The locks are advisory locks in
	// its database, keyed by the schema (search_path) and the job's name,
	// so clouds in different schemas of one database do not meet.
	DSN string
	// Poll is how often a replica that does not lead tries to take over
	// (and how soon a failed job runs again); 0 means DefaultPoll.
	Poll time.Duration
	// Heartbeat is how often the holder pings its lock's connection, and
	// how long a ping may take; 0 means DefaultHeartbeat. It must be
	// shorter than Poll.
	Heartbeat time.Duration
	Logger    *slog.Logger
}

// Scheduler runs jobs, each on one replica at a time. Close stops it.
type Scheduler struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New checks cfg and the jobs and starts running them.
func New(cfg Config, jobs ...Job) (*Scheduler, error) {
	if cfg.Poll == 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Poll < 0 || cfg.Heartbeat < 0 || cfg.Heartbeat >= cfg.Poll {
		return nil, fmt.Errorf("leader: heartbeat %s and poll %s: want 0 < heartbeat < poll", cfg.Heartbeat, cfg.Poll)
	}
	if cfg.DSN != "" {
		if _, err := pgx.ParseConfig(cfg.DSN); err != nil {
			return nil, errors.New("leader: the DSN is not a PostgreSQL connection string")
		}
	}
	seen := map[string]bool{}
	for i, j := range jobs {
		switch {
		case j.Name == "":
			return nil, fmt.Errorf("leader: job %d has no name", i)
		case seen[j.Name]:
			return nil, fmt.Errorf("leader: two jobs are named %q", j.Name)
		case j.Run == nil:
			return nil, fmt.Errorf("leader: job %q has no Run", j.Name)
		case j.Every < 0:
			return nil, fmt.Errorf("leader: job %q: Every is negative", j.Name)
		}
		seen[j.Name] = true
	}
	s := &Scheduler{cfg: cfg, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, j := range jobs {
		if cfg.DSN == "" {
			s.wg.Go(func() { s.runLocal(j) })
		} else {
			s.wg.Go(func() { s.lead(j) })
		}
	}
	return s, nil
}

// Close cancels every job's context, waits for the runs to return and
// releases the locks (closing their connections).
func (s *Scheduler) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// wait sleeps d, or less if the scheduler closes; it reports whether it
// slept the whole time.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// runLocal runs j here until Close.
func (s *Scheduler) runLocal(j Job) {
	s.runTerm(s.ctx, j)
}

// runTerm runs j until ctx ends: every Every, or once for the whole term.
func (s *Scheduler) runTerm(ctx context.Context, j Job) {
	for ctx.Err() == nil {
		err := j.Run(ctx)
		if ctx.Err() != nil {
			return
		}
		next := j.Every
		if err != nil {
			s.log.Warn("scheduler: job failed", "job", j.Name, "err", err)
			next = s.cfg.Poll
		} else if next == 0 {
			next = s.cfg.Poll
		}
		if !wait(ctx, next) {
			return
		}
	}
}

// lockSQL takes the job's lock if it is free; the key is the job's name
// within the connection's schema.
const lockSQL = `SELECT pg_try_advisory_lock(hashtextextended(coalesce(current_schema(), '') || '/vigil/leader/' || $1, 0))`

// lead competes for j's lock until Close, running j while it holds it.
func (s *Scheduler) lead(j Job) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	failing := false // the last attempt to reach PostgreSQL failed: log the next failure at Debug
	for {
		if conn == nil {
			c, err := s.connect(j)
			if err != nil {
				if s.ctx.Err() != nil {
					return
				}
				if !failing {
					s.log.Warn("scheduler: cannot reach PostgreSQL for the job's lock; trying again", "job", j.Name, "every", s.cfg.Poll, "err", err)
				}
				failing = true
				if !wait(s.ctx, s.cfg.Poll) {
					return
				}
				continue
			}
			conn = c
		}
		got, err := s.tryLock(conn, j)
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			if !failing {
				s.log.Warn("scheduler: trying the job's lock failed; reconnecting", "job", j.Name, "err", err)
			}
			failing = true
			conn.Close(context.Background())
			conn = nil
			if !wait(s.ctx, s.cfg.Poll) {
				return
			}
			continue
		}
		if failing {
			s.log.Info("scheduler: PostgreSQL answers again", "job", j.Name)
			failing = false
		}
		if got {
			lost := s.hold(conn, j)
			if lost {
				conn.Close(context.Background())
				conn = nil
			}
		}
		if !wait(s.ctx, s.cfg.Poll) {
			return
		}
	}
}

func (s *Scheduler) connect(j Job) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(s.cfg.DSN)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > s.cfg.Poll {
		cfg.ConnectTimeout = s.cfg.Poll
	}
	cfg.RuntimeParams["application_name"] = "vigil leader " + j.Name
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Poll)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

func (s *Scheduler) tryLock(conn *pgx.Conn, j Job) (bool, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Poll)
	defer cancel()
	var got bool
	err := conn.QueryRow(ctx, lockSQL, j.Name).Scan(&got)
	return got, err
}

// grace is how long a new holder waits before it runs a job: the time the
// previous holder needs, at worst, to notice that it lost its session (a
// heartbeat, then a ping that times out) and for its run to return.
func (s *Scheduler) grace() time.Duration { return 3 * s.cfg.Heartbeat }

// hold runs j while conn holds its lock, and reports whether the lock (the
// session) was lost; it releases the lock when the scheduler closes.
func (s *Scheduler) hold(conn *pgx.Conn, j Job) (lost bool) {
	term, end := context.WithCancel(s.ctx)
	defer end()
	alive := make(chan struct{})
	var watch sync.WaitGroup
	var lostErr error
	watch.Go(func() {
		defer end()
		tick := time.NewTicker(s.cfg.Heartbeat)
		defer tick.Stop()
		for {
			select {
			case <-term.Done():
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(term, s.cfg.Heartbeat)
			err := conn.Ping(ctx)
			cancel()
			if term.Err() != nil {
				return
			}
			if err != nil {
				lostErr = err
				close(alive)
				return
			}
		}
	})
	s.log.Debug("scheduler: holding the job's lock; waiting for any previous holder to stop", "job", j.Name, "grace", s.grace())
	if wait(term, s.grace()) {
		s.log.Info("scheduler: took over job", "job", j.Name)
		s.runTerm(term, j)
	}
	end()
	watch.Wait()
	select {
	case <-alive:
		s.log.Warn("scheduler: lost the job's lock (its PostgreSQL session ended); the job stopped here", "job", j.Name, "err", lostErr)
		return true
	default:
	}
	// Closing: the deferred Close of the connection releases the lock.
	s.log.Info("scheduler: stopped leading job", "job", j.Name)
	return false
}
