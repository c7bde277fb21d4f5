package cloudtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a small round-robin reverse proxy, as a load balancer in front
// of the replicas: each request goes to the next live backend; a backend
// that refuses the connection is passed over (the request goes to the next
// one, its body not yet sent) and left out for a moment; WebSocket
// upgrades and streamed answers pass through. The Host header and the
// client's address reach the backend as a load balancer sends them
// (X-Forwarded-For, X-Forwarded-Host, X-Forwarded-Proto). A test may
// steer requests to a backend of its choice (Prefer), as a load balancer
// with sticky sessions would, and reads where each WebSocket landed
// (Upgrades).
type Proxy struct {
	// URL is where clients reach it (http://127.0.0.1:port).
	URL string

	backends func() []string
	next     atomic.Uint64
	tr       *http.Transport
	srv      *httptest.Server

	mu   sync.Mutex
	down map[string]time.Time // backend -> left out until

	prefer atomic.Pointer[func(*http.Request) string]

	served   atomic.Int64
	amu      sync.Mutex
	faults   []Answer
	upgrades []Answer
}

// Answer is a request the proxy passed on and what came back.
type Answer struct {
	Method, Path string
	Status       int
	Backend      string // the backend's URL
}

func (a Answer) String() string {
	return fmt.Sprintf("%s %s -> %d from %s", a.Method, a.Path, a.Status, a.Backend)
}

// maxFaults bounds the answers Faults keeps.
const maxFaults = 1000

// Faults are the answers so far that refused a client (401, 403) or
// failed on the server's side (5xx, the proxy's own 502 included), in
// order, up to the first 1000: a flow that should go through without one
// asserts there are none.
func (p *Proxy) Faults() []Answer {
	p.amu.Lock()
	defer p.amu.Unlock()
	return slices.Clone(p.faults)
}

// Upgrades are the WebSocket upgrades so far that a backend accepted
// (101), in order, up to the first 1000: where each connection landed.
func (p *Proxy) Upgrades() []Answer {
	p.amu.Lock()
	defer p.amu.Unlock()
	return slices.Clone(p.upgrades)
}

// Prefer steers requests: f returns the backend (a replica's URL) a
// request goes to first, or "" for the next in turn; a backend that is not
// live is passed over as usual. nil stops steering.
func (p *Proxy) Prefer(f func(r *http.Request) string) {
	if f == nil {
		p.prefer.Store(nil)
		return
	}
	p.prefer.Store(&f)
}

func (p *Proxy) record(r *http.Request, status int, backend string) {
	if status == http.StatusSwitchingProtocols {
		p.amu.Lock()
		defer p.amu.Unlock()
		if len(p.upgrades) < maxFaults {
			p.upgrades = append(p.upgrades, Answer{Method: r.Method, Path: r.URL.Path, Status: status, Backend: backend})
		}
		return
	}
	if status != http.StatusUnauthorized && status != http.StatusForbidden && status < 500 {
		return
	}
	p.amu.Lock()
	defer p.amu.Unlock()
	if len(p.faults) < maxFaults {
		p.faults = append(p.faults, Answer{Method: r.Method, Path: r.URL.Path, Status: status, Backend: backend})
	}
}

// downFor is how long a backend that refused a connection is left out.
const downFor = 500 * time.Millisecond

// NewProxy starts a proxy on a free loopback port in front of the
// backends (base URLs) that backends returns at each request; it is
// closed when t ends. A request finds no live backend: 502.
func NewProxy(t testing.TB, backends func() []string) *Proxy {
	t.Helper()
	p := &Proxy{backends: backends, down: map[string]time.Time{},
		tr: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second,
			DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetXForwarded()
			pr.Out.Host = pr.In.Host
		},
		Transport:     (*failover)(p),
		FlushInterval: -1, // server-sent events and long polls pass at once
		ErrorLog:      log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.record(r, http.StatusBadGateway, "")
			http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = httptest.NewServer(rp)
	p.URL = p.srv.URL
	t.Cleanup(p.Close)
	return p
}

// Close stops the proxy and closes its connections, waiting for the
// requests under way.
func (p *Proxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
	p.tr.CloseIdleConnections()
}

// Served is the number of requests the proxy has passed to a backend.
func (p *Proxy) Served() int64 { return p.served.Load() }

// failover is the proxy's transport: it picks the backend.
type failover Proxy

// errNoBackend is the answer when no backend is live.
var errNoBackend = errors.New("no live backend")

func (f *failover) RoundTrip(r *http.Request) (*http.Response, error) {
	p := (*Proxy)(f)
	all := p.backends()
	if len(all) == 0 {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errNoBackend
	}
	// The transport closes a request's body when it fails; a body not yet
	// read is kept open for the next backend.
	var body *trackedBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &trackedBody{r: r.Body}
		defer r.Body.Close()
	}
	// Round robin, the backends left out for now last; a preferred live
	// backend first.
	start := int(p.next.Add(1) - 1)
	order := make([]string, 0, len(all))
	var later []string
	var first string
	if f := p.prefer.Load(); f != nil {
		if b := (*f)(r); b != "" && slices.Contains(all, b) && !p.isDown(b) {
			first = b
			order = append(order, b)
		}
	}
	for i := range all {
		b := all[(start+i)%len(all)]
		if b == first {
			continue
		}
		if p.isDown(b) {
			later = append(later, b)
		} else {
			order = append(order, b)
		}
	}
	var lastErr error
	for _, b := range append(order, later...) {
		u, err := url.Parse(b)
		if err != nil {
			return nil, err
		}
		out := r.Clone(r.Context())
		out.URL.Scheme, out.URL.Host = u.Scheme, u.Host
		if body != nil {
			out.Body = body
		}
		resp, err := p.tr.RoundTrip(out)
		if err == nil {
			p.served.Add(1)
			p.record(r, resp.StatusCode, b)
			return resp, nil
		}
		lastErr = err
		if !refused(err) || (body != nil && body.read.Load()) || r.Context().Err() != nil {
			return nil, err
		}
		p.markDown(b)
	}
	return nil, lastErr
}

func (p *Proxy) isDown(b string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Now().Before(p.down[b])
}

func (p *Proxy) markDown(b string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down[b] = time.Now().Add(downFor)
}

// refused reports whether err is a failure to connect (nothing was sent).
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && !errors.Is(err, context.Canceled)
}

// trackedBody is a request body that remembers being read and that the
// transport cannot close (the proxy closes it when the request is done).
type trackedBody struct {
	r    io.Reader
	read atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.r.Read(p)
}

func (b *trackedBody) Close() error { return nil }
