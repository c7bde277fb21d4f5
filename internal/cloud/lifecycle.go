package cloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"

	"vigil/internal/cloud/bus"
	"vigil/internal/cloud/liveview"
)

// workers are the goroutines a Server starts itself (Web Push deliveries,
// WebSocket pings and readers) and the WebSocket handlers it serves: an
// HTTP server's Shutdown does not wait for a hijacked connection, so the
// Server ends those connections itself. Close (translog.go) stops them all
// and waits for them; after it nothing new starts.
type workers struct {
	ctx    context.Context // cancelled by stop: work in flight gives up
	cancel context.CancelFunc

	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
	conns   map[*liveConn]struct{} // open WebSockets
	before  []func()               // run by stop first, each waiting for what it started
	after   []func()               // run by stop once the goroutines are done
}

func newWorkers() *workers {
	ctx, cancel := context.WithCancel(context.Background())
	return &workers{ctx: ctx, cancel: cancel, conns: map[*liveConn]struct{}{}}
}

// add counts one more goroutine for stop to wait for; false once stopped
// (the caller then does not start it). The goroutine calls w.wg.Done.
func (w *workers) add() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return false
	}
	w.wg.Add(1)
	return true
}

// start runs f in a goroutine stop waits for; once stopped it does not,
// and returns false.
func (w *workers) start(f func()) bool {
	if !w.add() {
		return false
	}
	go func() {
		defer w.wg.Done()
		f()
	}()
	return true
}

// stop runs the before functions (a service that closes its own
// connections and waits for them: live view), then refuses new work,
// cancels w.ctx, closes every open WebSocket and waits for the goroutines
// and handlers counted.
func (w *workers) stop() {
	w.mu.Lock()
	before := w.before
	w.before = nil
	w.mu.Unlock()
	for _, f := range before {
		f()
	}
	w.mu.Lock()
	w.stopped = true
	conns := make([]*liveConn, 0, len(w.conns))
	for c := range w.conns {
		conns = append(conns, c)
	}
	w.mu.Unlock()
	w.cancel()
	for _, c := range conns {
		c.close()
	}
	w.wg.Wait()
	w.mu.Lock()
	after := w.after
	w.after = nil
	w.mu.Unlock()
	for _, f := range after {
		f()
	}
}

// upgrade turns a request into a WebSocket that Close ends, counting the
// calling handler until it calls done (deferred, after its last use of the
// connection). On false the upgrader or the refusal answered the request.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) (c *liveConn, done func(), ok bool) {
	if !s.work.add() {
		writeError(w, errorf(http.StatusServiceUnavailable, "the service is shutting down; try again"))
		return nil, nil, false
	}
	ws, err := liveUpgrader.Upgrade(w, r, nil)
	if err != nil {
		s.work.wg.Done()
		return nil, nil, false
	}
	c = &liveConn{ws: ws, done: make(chan struct{}), work: s.work}
	s.work.mu.Lock()
	stopped := s.work.stopped
	if !stopped {
		s.work.conns[c] = struct{}{}
	}
	s.work.mu.Unlock()
	if stopped || !c.startPings() {
		c.close()
	}
	return c, func() { c.close(); s.work.wg.Done() }, true
}

// busState is the Server's end of the bus (Options.Bus): what crosses
// replicas goes through it, in one process as across many.
type busState struct {
	b       bus.Bus
	replica string // this Server's name among the replicas (random)

	ready atomic.Bool // startBus is done: the live service runs

	mu    sync.Mutex
	subs  []bus.Sub
	inval map[string][]func(key string) // by kind's token
}

// Subjects and queues of the bus (package bus says what may cross it).
const (
	// live.* (live.hub.H.D.S, live.viewer.H.C.S, live.presence) is the
	// liveview service's.
	subjEvents   = "events" // events.H: new-event and join-request notices (events.go)
	subjCache    = "cache"  // cache.KIND: invalidations (Invalidate)
	queuePush    = "push"   // Web Push jobs, one per event object (events.go)
	pushWorkers  = 4        // push jobs run at once by one replica
	busRetryWait = 5        // Retry-After, in seconds, when the bus is away
)

// errBusDown answers a request that needs the bus while it is away.
var errBusDown = &apiError{status: http.StatusServiceUnavailable, retryAfter: busRetryWait,
	msg: "the service cannot reach its message bus right now; try again in a few seconds"}

// busReady is nil when the bus carries messages, else errBusDown.
func (s *Server) busReady() error {
	if err := s.bus.b.Ready(); err != nil {
		s.log.Debug("bus not ready", "err", err)
		return errBusDown
	}
	return nil
}

// startBus opens the in-process bus when Options gives none, and starts
// this Server's subscriptions and workers; Close (workers.stop) stops them
// and closes a bus it opened.
func (s *Server) startBus() error {
	var rnd [8]byte
	rand.Read(rnd[:])
	s.bus.replica = "r" + hex.EncodeToString(rnd[:])
	s.bus.b = s.opt.Bus
	if s.bus.b == nil {
		local := bus.NewLocal(bus.LocalOptions{Logger: s.log})
		s.bus.b = local
		s.work.mu.Lock()
		s.work.after = append(s.work.after, func() { local.Close() })
		s.work.mu.Unlock()
	}
	// Subscriptions stop before a bus opened here closes.
	s.work.mu.Lock()
	s.work.after = append([]func(){s.stopBus}, s.work.after...)
	s.work.mu.Unlock()
	subscribe := func(pattern string, h bus.Handler) error {
		sub, err := s.bus.b.Subscribe(pattern, h)
		if err != nil {
			return err
		}
		s.bus.mu.Lock()
		s.bus.subs = append(s.bus.subs, sub)
		s.bus.mu.Unlock()
		return nil
	}
	errs := []error{
		subscribe(subjCache+".*", s.invalidated),
		subscribe(subjEvents+".*", s.eventNoticed),
	}
	for range pushWorkers {
		w, err := s.bus.b.Work(queuePush, s.pushJob)
		errs = append(errs, err)
		if err == nil {
			s.bus.mu.Lock()
			s.bus.subs = append(s.bus.subs, w)
			s.bus.mu.Unlock()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return errors.New("cloud: starting on the bus: " + err.Error())
	}
	s.OnInvalidate(InvalidateChain, s.InvalidateHousehold)
	s.OnInvalidate(InvalidateDevice, s.InvalidateDevice)
	// After the household's cached state is dropped: the service asks
	// whether each of its hubs is still in the chain.
	s.OnInvalidate(InvalidateChain, s.liveChainChanged)
	live, err := liveview.New(liveview.Config{Bus: s.bus.b, Hubs: liveHubs{s}, Replica: s.bus.replica,
		TURN: s.opt.TURN, Logger: s.log})
	if err != nil {
		return errors.New("cloud: starting live view: " + err.Error())
	}
	s.live = live
	// Its connections end, and its viewers are told, before the bus stops.
	s.work.mu.Lock()
	s.work.before = append(s.work.before, func() { live.Close() })
	s.work.mu.Unlock()
	s.bus.ready.Store(true)
	return nil
}

// liveChainChanged is this replica's reaction to a new link in the
// household's chain, once the live service runs (on the bus's goroutine;
// the service never blocks).
func (s *Server) liveChainChanged(household string) {
	if s.bus.ready.Load() {
		s.live.ChainChanged(household)
	}
}

func (s *Server) stopBus() {
	s.bus.mu.Lock()
	subs := s.bus.subs
	s.bus.subs = nil
	s.bus.mu.Unlock()
	for _, sub := range subs {
		sub.Stop()
	}
}

// Cache invalidations (Invalidate): the kinds the Server knows.
const (
	// InvalidateChain: the household's chain (key: its ID) has a new
	// link; a replica that caches its state reads it again. Hubs connected
	// to any replica are told to fetch it.
	InvalidateChain = "chain"
	// InvalidateDevice: a device (key: its ID) left its household; a
	// replica that caches its key forgets it.
	InvalidateDevice = "device"
)

// Invalidate tells every replica, this one included, that what it may
// cache under kind and key changed: the handlers OnInvalidate registered
// for kind run with key. It returns the bus's error (ErrUnavailable when
// it is away) and never blocks for long.
func (s *Server) Invalidate(ctx context.Context, kind, key string) error {
	return s.bus.b.Publish(ctx, subjCache+"."+bus.Token(kind), []byte(key))
}

// OnInvalidate registers f to run with the key of each invalidation of
// kind published by any replica, until the Server closes. f runs on the
// bus's goroutine: it must not block for long.
func (s *Server) OnInvalidate(kind string, f func(key string)) {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	if s.bus.inval == nil {
		s.bus.inval = map[string][]func(string){}
	}
	k := bus.Token(kind)
	s.bus.inval[k] = append(s.bus.inval[k], f)
}

func (s *Server) invalidated(subject string, data []byte) {
	kind := subject[len(subjCache)+1:]
	s.bus.mu.Lock()
	fs := s.bus.inval[kind]
	s.bus.mu.Unlock()
	for _, f := range fs {
		f(string(data))
	}
}
