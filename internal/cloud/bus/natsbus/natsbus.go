// Package natsbus is the Bus of a cloud that runs as several replicas: NATS
// core subjects for publish and subscribe, JetStream work-queue streams
// (one per queue, de-duplicated by job ID) for the jobs that must run
// once cluster-wide.
//
// It owns its connection and the streams under its prefix; it carries the
// bytes it is given and never looks inside them, never logs them, and
// never holds a key (package bus says what crosses it). The NATS client
// links an HTTP stack for its WebSocket transport; this package speaks
// only the NATS protocol.
package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"vigil/internal/cloud/bus"
)

// DefaultPrefix is the first token of every subject and stream name.
const DefaultPrefix = "vigil"

// Options configure a connection.
type Options struct {
	// URL is the server's URL (nats://host:4222), or several separated by
	// commas (a cluster).
	URL string
	// CredsFile is a NATS credentials file (user JWT and seed); empty
	// connects without.
	CredsFile string
	// Name names the connection on the server (the replica).
	Name string
	// Prefix is the first token of every subject and of every stream's
	// name ("vigil"): clouds sharing a NATS server need different ones.
	Prefix string
	// Replicas is how many copies of each work-queue stream a NATS
	// cluster keeps (1: a single server).
	Replicas int
	// Work queues: see bus.Default*. AckWait is how long a job may run
	// before it is handed to another worker (default 1 minute).
	DedupWindow time.Duration
	MaxDeliver  int
	RetryDelay  time.Duration
	AckWait     time.Duration
	// ConnectTimeout bounds the first connection (default 5 s).
	ConnectTimeout time.Duration
	// ReconnectWait is the pause between attempts to reconnect (default
	// 500 ms); it reconnects for ever.
	ReconnectWait time.Duration
	Logger        *slog.Logger
}

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Bus is a bus.Bus over one NATS connection.
type Bus struct {
	opt Options
	nc  *nats.Conn
	js  jetstream.JetStream
	ctx context.Context // cancelled by Close
	end context.CancelFunc

	mu      sync.Mutex
	closed  bool
	subs    map[*sub]struct{}
	workers map[*worker]struct{}
	streams map[string]bool // queues whose stream and consumer exist
	wg      sync.WaitGroup
}

var _ bus.Bus = (*Bus)(nil)

// Open connects to the server and checks that it runs JetStream.
func Open(ctx context.Context, o Options) (*Bus, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if !prefixRE.MatchString(o.Prefix) {
		return nil, fmt.Errorf("natsbus: prefix %q: 1 to 32 of A-Z a-z 0-9 _ -", o.Prefix)
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.DedupWindow <= 0 {
		o.DedupWindow = bus.DefaultDedupWindow
	}
	if o.MaxDeliver <= 0 {
		o.MaxDeliver = bus.DefaultMaxDeliver
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = bus.DefaultRetryDelay
	}
	if o.AckWait <= 0 {
		o.AckWait = time.Minute
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.ReconnectWait <= 0 {
		o.ReconnectWait = 500 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	log := o.Logger
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.Timeout(o.ConnectTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(o.ReconnectWait),
		// While reconnecting a publish fails at once (ErrUnavailable)
		// rather than waiting in a buffer the caller cannot see.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("bus: disconnected from NATS; reconnecting", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("bus: reconnected to NATS", "server", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			subj := ""
			if s != nil {
				subj = s.Subject
			}
			log.Warn("bus: NATS error", "subject", subj, "err", err)
		}),
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connecting to NATS at %s: %w", redactURLs(o.URL), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bus: %w", err)
	}
	actx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	if _, err := js.AccountInfo(actx); err != nil {
		nc.Close()
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
			return nil, fmt.Errorf("bus: the NATS server at %s runs without JetStream (hint: start nats-server with -js, or enable JetStream for the account): %w", redactURLs(o.URL), err)
		}
		return nil, fmt.Errorf("bus: asking the NATS server at %s about JetStream: %w", redactURLs(o.URL), err)
	}
	bctx, end := context.WithCancel(context.Background())
	return &Bus{opt: o, nc: nc, js: js, ctx: bctx, end: end,
		subs: map[*sub]struct{}{}, workers: map[*worker]struct{}{}, streams: map[string]bool{}}, nil
}

// Server describes the server connected to, for 'vigil cloud --check'.
func (b *Bus) Server() string {
	return fmt.Sprintf("server %s (%s), JetStream on", b.nc.ConnectedServerVersion(), b.nc.ConnectedUrlRedacted())
}

// redactURLs hides passwords and tokens in server URLs.
func redactURLs(urls string) string {
	var out []string
	for _, u := range strings.Split(urls, ",") {
		u = strings.TrimSpace(u)
		if i, j := strings.Index(u, "://"), strings.LastIndex(u, "@"); i >= 0 && j > i {
			u = u[:i+3] + "xxxxx" + u[j:]
		}
		out = append(out, u)
	}
	return strings.Join(out, ",")
}

// unavailable maps the client's "not now" errors to bus.ErrUnavailable.
func unavailable(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nats.ErrReconnectBufExceeded), errors.Is(err, nats.ErrConnectionReconnecting),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, jetstream.ErrNoStreamResponse), errors.Is(err, nats.ErrDisconnected):
		return fmt.Errorf("%w: %v", bus.ErrUnavailable, err)
	case errors.Is(err, nats.ErrConnectionClosed):
		return bus.ErrClosed
	}
	return err
}

func (b *Bus) subject(s string) string { return b.opt.Prefix + "." + s }

// Publish implements bus.Bus.
func (b *Bus) Publish(ctx context.Context, subject string, data []byte) error {
	if err := bus.CheckSubject(subject, false); err != nil {
		return err
	}
	if len(data) > bus.MaxData {
		return bus.ErrTooLarge
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.Ready(); err != nil {
		return err
	}
	return unavailable(b.nc.Publish(b.subject(subject), data))
}

type sub struct {
	b    *Bus
	ns   *nats.Subscription
	mu   sync.Mutex
	done bool
	wg   sync.WaitGroup
	once sync.Once
}

// Subscribe implements bus.Bus.
func (b *Bus) Subscribe(pattern string, h bus.Handler) (bus.Sub, error) {
	if err := bus.CheckSubject(pattern, true); err != nil {
		return nil, err
	}
	if err := b.Ready(); err != nil {
		return nil, err
	}
	s := &sub{b: b}
	cut := len(b.opt.Prefix) + 1
	ns, err := b.nc.Subscribe(b.subject(pattern), func(m *nats.Msg) {
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()
		h(m.Subject[cut:], m.Data)
	})
	if err != nil {
		return nil, unavailable(err)
	}
	s.ns = ns
	// A round trip: the server knows of the subscription before Subscribe
	// returns, so a message published after it reaches it.
	if err := b.nc.FlushTimeout(5 * time.Second); err != nil {
		s.Stop()
		return nil, unavailable(err)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.Stop()
		return nil, bus.ErrClosed
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s, nil
}

func (s *sub) Stop() {
	s.once.Do(func() {
		s.mu.Lock()
		s.done = true
		s.mu.Unlock()
		s.ns.Unsubscribe()
		s.b.mu.Lock()
		delete(s.b.subs, s)
		s.b.mu.Unlock()
	})
	s.wg.Wait()
}

// stream returns the names of queue's stream and subject, making the
// stream and its consumer the first time.
func (b *Bus) stream(ctx context.Context, queue string) (name, subject string, err error) {
	name, subject = b.opt.Prefix+"_jobs_"+queue, b.subject("jobs."+queue)
	b.mu.Lock()
	made := b.streams[queue]
	b.mu.Unlock()
	if made {
		return name, subject, nil
	}
	_, err = b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{subject}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Replicas: b.opt.Replicas, Duplicates: b.opt.DedupWindow,
		MaxAge: max(24*time.Hour, 2*b.opt.DedupWindow), Discard: jetstream.DiscardOld,
		MaxMsgSize: bus.MaxData + 1024,
	})
	if err != nil {
		return "", "", fmt.Errorf("bus: making the stream of queue %s: %w", queue, unavailable(err))
	}
	_, err = b.js.CreateOrUpdateConsumer(ctx, name, jetstream.ConsumerConfig{
		Durable: "workers", AckPolicy: jetstream.AckExplicitPolicy, AckWait: b.opt.AckWait,
		MaxDeliver: b.opt.MaxDeliver, MaxAckPending: 1000,
	})
	if err != nil {
		return "", "", fmt.Errorf("bus: making the consumer of queue %s: %w", queue, unavailable(err))
	}
	b.mu.Lock()
	b.streams[queue] = true
	b.mu.Unlock()
	return name, subject, nil
}

// Enqueue implements bus.Bus.
func (b *Bus) Enqueue(ctx context.Context, queue, id string, data []byte) (bool, error) {
	if err := bus.CheckQueue(queue); err != nil {
		return false, err
	}
	if err := bus.CheckJobID(id); err != nil {
		return false, err
	}
	if len(data) > bus.MaxData {
		return false, bus.ErrTooLarge
	}
	if err := b.Ready(); err != nil {
		return false, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	_, subject, err := b.stream(ctx, queue)
	if err != nil {
		return false, err
	}
	ack, err := b.js.Publish(ctx, subject, data, jetstream.WithMsgID(id))
	if err != nil {
		return false, fmt.Errorf("bus: enqueueing a job on %s: %w", queue, unavailable(err))
	}
	return !ack.Duplicate, nil
}

type worker struct {
	b    *Bus
	ctx  context.Context
	end  context.CancelFunc
	mu   sync.Mutex
	cc   jetstream.ConsumeContext
	done bool
	wg   sync.WaitGroup // the handler in flight and the set-up goroutine
	once sync.Once
}

// Work implements bus.Bus. When the stream cannot be made now (the server
// is away), the worker keeps trying in the background until Stop.
func (b *Bus) Work(queue string, h bus.JobHandler) (bus.Sub, error) {
	if err := bus.CheckQueue(queue); err != nil {
		return nil, err
	}
	ctx, end := context.WithCancel(b.ctx)
	w := &worker{b: b, ctx: ctx, end: end}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		end()
		return nil, bus.ErrClosed
	}
	b.workers[w] = struct{}{}
	w.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer w.wg.Done()
		for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
			err := w.consume(queue, h)
			if err == nil || ctx.Err() != nil {
				return
			}
			b.opt.Logger.Warn("bus: cannot start a worker yet; retrying", "queue", queue, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
		}
	}()
	return w, nil
}

func (w *worker) consume(queue string, h bus.JobHandler) error {
	b := w.b
	sctx, cancel := context.WithTimeout(w.ctx, 10*time.Second)
	defer cancel()
	name, _, err := b.stream(sctx, queue)
	if err != nil {
		return err
	}
	c, err := b.js.Consumer(sctx, name, "workers")
	if err != nil {
		return unavailable(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return nil
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		w.mu.Lock()
		if w.done {
			w.mu.Unlock()
			return // not acknowledged: another worker gets it after AckWait
		}
		w.wg.Add(1)
		w.mu.Unlock()
		defer w.wg.Done()
		err := h(w.ctx, m.Data())
		switch {
		case err == nil:
			m.Ack()
		case w.ctx.Err() != nil:
			m.Nak() // stopping: another worker takes it now
		default:
			md, merr := m.Metadata()
			if merr == nil && md.NumDelivered >= uint64(b.opt.MaxDeliver) {
				b.opt.Logger.Warn("bus: a job failed every attempt; dropped", "queue", queue, "attempts", md.NumDelivered, "err", err)
				m.Term()
				return
			}
			m.NakWithDelay(b.opt.RetryDelay)
		}
	}, jetstream.PullMaxMessages(4), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if w.ctx.Err() == nil && !errors.Is(err, nats.ErrConnectionClosed) {
			b.opt.Logger.Debug("bus: worker", "queue", queue, "err", err)
		}
	}))
	if err != nil {
		return unavailable(err)
	}
	w.cc = cc
	return nil
}

func (w *worker) Stop() {
	w.once.Do(func() {
		w.mu.Lock()
		w.done = true
		cc := w.cc
		w.mu.Unlock()
		w.end()
		if cc != nil {
			cc.Stop()
		}
		w.b.mu.Lock()
		delete(w.b.workers, w)
		w.b.mu.Unlock()
	})
	w.wg.Wait()
}

// Ready implements bus.Bus.
func (b *Bus) Ready() error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	switch {
	case closed:
		return bus.ErrClosed
	case !b.nc.IsConnected():
		return fmt.Errorf("%w: not connected to NATS (%s); reconnecting", bus.ErrUnavailable, strings.ToLower(b.nc.Status().String()))
	}
	return nil
}

// Close implements bus.Bus.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	var stops []bus.Sub
	for s := range b.subs {
		stops = append(stops, s)
	}
	for w := range b.workers {
		stops = append(stops, w)
	}
	b.mu.Unlock()
	b.end()
	for _, s := range stops {
		s.Stop()
	}
	if b.nc.IsConnected() {
		b.nc.FlushTimeout(time.Second)
	}
	b.nc.Close()
	return nil
}
