package notify

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"
)

// Sink is a named [Notifier] with its own queue in a [Dispatcher].
type Sink struct {
	Name     string // e.g. "webpush", "webhook", "mqtt"; appears in logs and stats
	Notifier Notifier
}

// DispatcherConfig configures a [Dispatcher].
type DispatcherConfig struct {
	// QueueSize is the number of events each sink may have waiting; when a
	// queue is full the oldest waiting event is dropped. 0 means 64.
	QueueSize int
	// Timeout bounds one delivery to one sink, retries included. 0 means 30s.
	Timeout time.Duration
	// Logger receives delivery failures (never payloads). nil discards.
	Logger *slog.Logger
	// Now is the clock used for latencies; nil means time.Now.
	Now func() time.Time
}

// latencyWindow is how many recent latencies each sink keeps for percentiles.
const latencyWindow = 1024

// Dispatcher fans events out to sinks. Each sink has a bounded queue and a
// goroutine of its own, so that a slow or failing sink delays no other.
// [Dispatcher.Notify] never blocks.
type Dispatcher struct {
	cfg    DispatcherConfig
	sinks  []*sinkQueue
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type sinkQueue struct {
	name string
	n    Notifier
	ch   chan Event

	mu        sync.Mutex
	dropped   uint64
	delivered uint64
	failed    uint64
	lat       []time.Duration // ring of the last latencyWindow latencies
	next      int
}

// NewDispatcher starts a dispatcher delivering to sinks. Close stops it.
func NewDispatcher(cfg DispatcherConfig, sinks ...Sink) *Dispatcher {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &Dispatcher{cfg: cfg, ctx: ctx, cancel: cancel}
	for _, s := range sinks {
		q := &sinkQueue{name: s.Name, n: s.Notifier, ch: make(chan Event, cfg.QueueSize)}
		d.sinks = append(d.sinks, q)
		d.wg.Add(1)
		go d.run(q)
	}
	return d
}

// Notify queues ev for every sink and returns at once. When a sink's queue
// is full its oldest event is dropped and counted. The returned error is
// always nil; Notify has the [Notifier] signature so that a Dispatcher can be
// used wherever a Notifier is expected. ctx is not used: delivery outlives
// the caller's request.
func (d *Dispatcher) Notify(_ context.Context, ev Event) error {
	for _, q := range d.sinks {
		q.push(ev)
	}
	return nil
}

func (q *sinkQueue) push(ev Event) {
	for {
		select {
		case q.ch <- ev:
			return
		default:
		}
		select {
		case <-q.ch:
			q.mu.Lock()
			q.dropped++
			q.mu.Unlock()
		default:
		}
	}
}

func (d *Dispatcher) run(q *sinkQueue) {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case ev := <-q.ch:
			ctx, cancel := context.WithTimeout(d.ctx, d.cfg.Timeout)
			err := q.n.Notify(ctx, ev)
			cancel()
			done := d.cfg.Now()
			q.mu.Lock()
			if err != nil {
				q.failed++
			} else {
				q.delivered++
				if !ev.FirstFrame.IsZero() {
					q.record(done.Sub(ev.FirstFrame))
				}
			}
			q.mu.Unlock()
			if err != nil && !errors.Is(err, context.Canceled) {
				d.cfg.Logger.Warn("notification not delivered", "sink", q.name, "event", ev.ID, "err", err)
			}
		}
	}
}

func (q *sinkQueue) record(l time.Duration) {
	if len(q.lat) < latencyWindow {
		q.lat = append(q.lat, l)
		return
	}
	q.lat[q.next] = l
	q.next = (q.next + 1) % latencyWindow
}

// Close stops delivery, abandoning queued events and cancelling deliveries
// in flight, and waits for the sinks' goroutines to return.
func (d *Dispatcher) Close() {
	d.cancel()
	d.wg.Wait()
}

// SinkStats are a sink's counters and its recent delivery latencies, measured
// from each event's first frame to the end of its delivery.
type SinkStats struct {
	Name      string
	Delivered uint64
	Failed    uint64
	Dropped   uint64        // events dropped because the sink's queue was full
	Samples   int           // latencies the percentiles are computed over (at most 1024, the most recent)
	P50, P95  time.Duration // zero when Samples is 0
}

// Stats returns each sink's stats, in the order the sinks were given.
func (d *Dispatcher) Stats() []SinkStats {
	out := make([]SinkStats, 0, len(d.sinks))
	for _, q := range d.sinks {
		q.mu.Lock()
		s := SinkStats{Name: q.name, Delivered: q.delivered, Failed: q.failed, Dropped: q.dropped, Samples: len(q.lat)}
		lat := slices.Clone(q.lat)
		q.mu.Unlock()
		s.P50, s.P95 = Percentile(lat, 0.50), Percentile(lat, 0.95)
		out = append(out, s)
	}
	return out
}

// Percentile returns the p-quantile (0 < p <= 1) of ds by the nearest-rank
// method, or 0 for an empty slice. It sorts ds in place.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(float64(len(ds))*p)) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}
