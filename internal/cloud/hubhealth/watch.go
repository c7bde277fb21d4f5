package hubhealth

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"vigil/internal/cloud/store"
)

// Defaults for WatchConfig.
const (
	// DefaultQuietAfter is how long a hub may go without a report before
	// its household is told it went quiet. A hub reports every minute
	// (hubd's health reporter), so this is ten missed reports.
	DefaultQuietAfter = 10 * time.Minute
	// DefaultWatchEvery is how often the Watcher looks.
	DefaultWatchEvery = time.Minute
	// watchBatch bounds the reports one look handles; the next handles
	// the rest.
	watchBatch = 500
)

// Change is what a household is told of one of its hubs: that it went
// quiet (Back is zero) or that it is back. It holds only what the cloud
// already keeps: the hub's ID and times by the cloud's clock.
type Change struct {
	HouseholdID string
	HubID       string
	// LastContact is the hub's last report before it went quiet.
	LastContact time.Time
	// Back is when the hub's first report after going quiet arrived;
	// zero for a hub gone quiet.
	Back time.Time
}

// WatchConfig configures a Watcher.
type WatchConfig struct {
	Store Store
	// Tell tells the household of a change (a push to its members'
	// subscriptions). It is called at most once per change, after the
	// change is marked in the Store, so of replicas watching the same
	// Store only one tells; a change Tell fails to deliver is not retried.
	Tell func(ctx context.Context, c Change)
	// IsHub reports whether hubID is a hub of the household's chain now;
	// a hub removed from it is marked but its household is not told, and
	// a change whose check fails is left for the next look. nil: every
	// reporting hub is.
	IsHub func(ctx context.Context, householdID, hubID string) (bool, error)
	// QuietAfter is how long without a report makes a hub quiet (0:
	// DefaultQuietAfter).
	QuietAfter time.Duration
	// Every is how often the Watcher looks (0: DefaultWatchEvery; < 0:
	// never by itself, only when Sweep is called).
	Every  time.Duration
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger
}

// Watcher tells households when one of their hubs stops reporting, once
// per outage, and when it is back. It runs one goroutine; Close stops it
// and waits.
type Watcher struct {
	c      WatchConfig
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// NewWatcher returns a Watcher that looks every c.Every until Close.
func NewWatcher(c WatchConfig) (*Watcher, error) {
	if c.Store == nil || c.Tell == nil {
		return nil, errors.New("hubhealth: a watcher needs a store and a way to tell households")
	}
	if c.QuietAfter <= 0 {
		c.QuietAfter = DefaultQuietAfter
	}
	if c.Every == 0 {
		c.Every = DefaultWatchEvery
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &Watcher{c: c, cancel: cancel, done: make(chan struct{})}
	go w.run(ctx)
	return w, nil
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	if w.c.Every < 0 {
		return
	}
	t := time.NewTicker(w.c.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := w.Sweep(ctx); err != nil && ctx.Err() == nil {
				w.c.Logger.Warn("watching for quiet hubs", "err", err)
			}
		}
	}
}

// Close stops the Watcher and waits for a look in progress to end.
func (w *Watcher) Close() error {
	w.once.Do(w.cancel)
	<-w.done
	return nil
}

// Sweep looks once: each hub quiet for QuietAfter and not yet told of is
// marked and its household told; each hub told of that reported since is
// unmarked and its household told it is back. It returns how many
// households it told.
func (w *Watcher) Sweep(ctx context.Context) (int, error) {
	now := w.c.Now().UTC()
	rs, err := w.c.Store.QuietHubReports(ctx, now.Add(-w.c.QuietAfter), watchBatch)
	if err != nil {
		return 0, err
	}
	told := 0
	for _, r := range rs {
		if ctx.Err() != nil {
			return told, ctx.Err()
		}
		hub := true
		if w.c.IsHub != nil {
			// Before the mark: a failed check is tried again next time.
			if hub, err = w.c.IsHub(ctx, r.HouseholdID, r.HubID); err != nil {
				w.c.Logger.Warn("is a quiet hub still the household's", "household", r.HouseholdID, "hub", r.HubID, "err", err)
				continue
			}
		}
		ok, err := w.mark(ctx, r)
		if err != nil {
			w.c.Logger.Warn("marking a quiet hub", "household", r.HouseholdID, "hub", r.HubID, "err", err)
			continue
		}
		if !ok || !hub {
			continue // another replica did, the hub reported meanwhile, or it left the chain
		}
		c := Change{HouseholdID: r.HouseholdID, HubID: r.HubID, LastContact: r.Received}
		if !r.Quiet.IsZero() {
			c.LastContact, c.Back = r.Quiet, r.Received
		}
		w.c.Tell(ctx, c)
		told++
	}
	return told, nil
}

// mark marks r's hub quiet, or back when it was marked quiet.
func (w *Watcher) mark(ctx context.Context, r store.HubReport) (bool, error) {
	if r.Quiet.IsZero() {
		return w.c.Store.MarkHubQuiet(ctx, r.HouseholdID, r.HubID, r.Received)
	}
	return w.c.Store.MarkHubBack(ctx, r.HouseholdID, r.HubID, r.Quiet)
}
