// Package retention owns quota and age retention of the cloud's sealed
// objects: a household over its quota loses its oldest objects first, and
// objects older than the household's maximum age are deleted.
//
// It works from the object index alone (keys, sizes, times) and deletes
// through the index and the blob store. It never imports net/http (the
// upload path only nudges it, it never runs inside a request) and never
// reads object contents: the cloud holds ciphertext it cannot open (G2),
// and retention has no reason to look at it either.
//
// A Service sweeps in its own goroutine (Start, Close) or whenever its
// caller likes (Sweep, SweepHousehold). A sweep is idempotent and safe to
// run in several processes at once: it reads the household's usage afresh
// from the index, and an object another process deleted meanwhile is
// simply gone (deleting it again is not an error).
//
// Its storage is Index, the part of the cloud's metadata store it reads
// and deletes through; every implementation passes retentiontest.Run, its
// conformance suite.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"vigil/internal/cloud/store"
)

// Index is what retention needs of the cloud's metadata (store.Store and
// store.HouseholdLister have it).
type Index interface {
	// HouseholdIDs pages through every household (see store.HouseholdLister).
	HouseholdIDs(ctx context.Context, after string, n int) ([]string, error)
	// Retention returns the household's own settings; store.ErrNotFound
	// when it no longer exists.
	Retention(ctx context.Context, householdID string) (store.Retention, error)
	// Usage returns the bytes of the household's objects.
	Usage(ctx context.Context, householdID string) (int64, error)
	// OldestObjects returns up to n of the household's objects, oldest end
	// first.
	OldestObjects(ctx context.Context, householdID string, n int) ([]store.Object, error)
	// DeleteObject removes an object from the index; a missing one is not
	// an error.
	DeleteObject(ctx context.Context, householdID, key string) error
}

// Blobs is what retention needs of the blob store.
type Blobs interface {
	// Delete removes the object's bytes; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Defaults for Config.
const (
	DefaultInterval   = time.Minute
	DefaultNudgeDelay = time.Second
	// batch is how many of the oldest objects one index query returns.
	batch = 64
	// pageSize is how many households one listing returns.
	pageSize = 500
)

// Config configures a Service.
type Config struct {
	Index Index
	Blobs Blobs
	// QuotaBytes is the quota of a household without its own (> 0).
	QuotaBytes int64
	// MaxAge is the service's age limit (0: none); a household's own
	// setting applies when it is shorter.
	MaxAge time.Duration
	// Interval is how often Run sweeps every household; 0 means
	// DefaultInterval, and a negative one none: Run then sweeps only the
	// households nudged about, and something else (the cluster's
	// scheduler, once for all replicas) calls Sweep.
	Interval time.Duration
	// NudgeDelay is how long Run gathers nudges before sweeping the
	// households they name; 0 means DefaultNudgeDelay.
	NudgeDelay time.Duration
	// Logger receives deletions (household, key, size, reason) and
	// failures; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Service enforces retention. It is safe for concurrent use.
type Service struct {
	cfg Config

	mu      sync.Mutex
	pending map[string]string        // household nudged -> the key its last nudge protects
	nudged  chan struct{}            // 1-buffered: pending is not empty
	busy    map[string]chan struct{} // households being swept; closed when done

	startOnce sync.Once
	stop      context.CancelFunc
	done      chan struct{}
}

// New returns a Service; Start runs it in the background.
func New(cfg Config) (*Service, error) {
	if cfg.Index == nil || cfg.Blobs == nil {
		return nil, errors.New("retention: an Index and a Blobs store are required")
	}
	if cfg.QuotaBytes <= 0 {
		return nil, fmt.Errorf("retention: QuotaBytes %d: the default quota must be positive", cfg.QuotaBytes)
	}
	if cfg.MaxAge < 0 {
		return nil, fmt.Errorf("retention: MaxAge %s: 0 (no limit) or positive", cfg.MaxAge)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.NudgeDelay <= 0 {
		cfg.NudgeDelay = DefaultNudgeDelay
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, pending: map[string]string{}, nudged: make(chan struct{}, 1),
		busy: map[string]chan struct{}{}}, nil
}

// Usage returns the bytes of the household's objects: what its quota is
// held to.
func (s *Service) Usage(ctx context.Context, household string) (int64, error) {
	return s.cfg.Index.Usage(ctx, household)
}

// Nudge tells the Service that key was just stored in household, which may
// now be over its quota. It never blocks. Until the household is next
// swept, the key of its last nudge is not deleted: an object just uploaded
// is never the one its own upload pushes out (even when it is the oldest,
// from a hub catching up); the oldest others go first. An empty key says
// only that the household's settings changed.
func (s *Service) Nudge(household, key string) {
	s.mu.Lock()
	if key != "" || s.pending[household] == "" {
		s.pending[household] = key
	}
	s.mu.Unlock()
	select {
	case s.nudged <- struct{}{}:
	default:
	}
}

// Sweep enforces retention on every household once. It goes on past a
// household that fails and returns the failures joined.
func (s *Service) Sweep(ctx context.Context) error {
	var errs []error
	after := ""
	for {
		ids, err := s.cfg.Index.HouseholdIDs(ctx, after, pageSize)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("retention: listing households: %w", err))...)
		}
		for _, id := range ids {
			if err := s.SweepHousehold(ctx, id); err != nil {
				if ctx.Err() != nil {
					return errors.Join(append(errs, err)...)
				}
				errs = append(errs, err)
			}
		}
		if len(ids) < pageSize {
			return errors.Join(errs...)
		}
		after = ids[len(ids)-1]
	}
}

// SweepHousehold enforces retention on one household: while it is over its
// quota its oldest objects are deleted, then every object that ended
// before its maximum age. A household that does not exist is not an
// error.
func (s *Service) SweepHousehold(ctx context.Context, household string) error {
	// One sweep of a household at a time in this process.
	s.mu.Lock()
	for {
		ch, ok := s.busy[household]
		if !ok {
			break
		}
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	done := make(chan struct{})
	s.busy[household] = done
	keep, nudged := s.pending[household]
	delete(s.pending, household)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.busy, household)
		s.mu.Unlock()
		close(done)
	}()
	err := s.sweep(ctx, household, keep)
	if err != nil && nudged {
		s.mu.Lock()
		if _, ok := s.pending[household]; !ok {
			s.pending[household] = keep // still protected at the next try
		}
		s.mu.Unlock()
	}
	return err
}

func (s *Service) sweep(ctx context.Context, household, keep string) error {
	ret, err := s.cfg.Index.Retention(ctx, household)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("retention: household %s: %w", household, err)
	}
	quota := s.cfg.QuotaBytes
	if ret.QuotaBytes > 0 {
		quota = ret.QuotaBytes
	}
	age := s.cfg.MaxAge
	if ret.MaxAge > 0 && (age == 0 || ret.MaxAge < age) {
		age = ret.MaxAge
	}
	var cut time.Time
	if age > 0 {
		cut = s.cfg.Now().Add(-age)
	}
	for {
		// Read afresh for every batch: another process may be deleting
		// too, and what it deleted must not be counted again here.
		used, err := s.cfg.Index.Usage(ctx, household)
		if err != nil {
			return fmt.Errorf("retention: household %s: %w", household, err)
		}
		if used <= quota && cut.IsZero() {
			return nil
		}
		olds, err := s.cfg.Index.OldestObjects(ctx, household, batch)
		if err != nil {
			return fmt.Errorf("retention: household %s: %w", household, err)
		}
		deleted, kept := 0, 0
		for _, o := range olds {
			if o.Key == keep {
				kept++
				continue
			}
			tooOld := !cut.IsZero() && o.End.Before(cut)
			if used <= quota && !tooOld {
				cut = time.Time{} // the rest are newer: done
				break
			}
			reason := "quota"
			if tooOld {
				reason = "age"
			}
			if err := s.cfg.Index.DeleteObject(ctx, household, o.Key); err != nil {
				return fmt.Errorf("retention: household %s: %w", household, err)
			}
			if err := s.cfg.Blobs.Delete(ctx, o.Key); err != nil {
				return fmt.Errorf("retention: household %s: deleting object %s: %w", household, o.Key, err)
			}
			s.cfg.Logger.Info("object deleted", "household", household, "key", o.Key, "size", o.Size, "reason", reason)
			used -= o.Size
			deleted++
		}
		if deleted == 0 || len(olds) < batch && deleted+kept == len(olds) {
			return nil
		}
	}
}

// Run sweeps the households nudged about, NudgeDelay after the first nudge,
// and every household every Interval (unless it is negative), until ctx
// is done. Failures are
// logged and tried again at the next pass.
func (s *Service) Run(ctx context.Context) {
	var ticks <-chan time.Time
	if s.cfg.Interval > 0 {
		tick := time.NewTicker(s.cfg.Interval)
		defer tick.Stop()
		ticks = tick.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
			if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.cfg.Logger.Error("retention sweep", "err", err)
			}
		case <-s.nudged:
			t := time.NewTimer(s.cfg.NudgeDelay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			s.mu.Lock()
			ids := make([]string, 0, len(s.pending))
			for id := range s.pending {
				ids = append(ids, id)
			}
			s.mu.Unlock()
			for _, id := range ids {
				if err := s.SweepHousehold(ctx, id); err != nil && ctx.Err() == nil {
					s.cfg.Logger.Error("retention", "household", id, "err", err)
				}
			}
		}
	}
}

// Start runs Run in a goroutine until Close. Starting twice starts once.
func (s *Service) Start() {
	s.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.stop, s.done = cancel, make(chan struct{})
		go func() {
			defer close(s.done)
			s.Run(ctx)
		}()
	})
}

// Close stops what Start started and waits for it; a sweep under way gives
// up at its next index or blob call.
func (s *Service) Close() error {
	s.startOnce.Do(func() {}) // no Start after Close
	if s.stop != nil {
		s.stop()
		<-s.done
	}
	return nil
}
