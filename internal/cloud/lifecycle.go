package cloud

import (
	"context"
	"net/http"
	"sync"
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

// stop refuses new work, cancels w.ctx, closes every open WebSocket and
// waits for the goroutines and handlers counted.
func (w *workers) stop() {
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
