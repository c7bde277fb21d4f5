package liveview_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/cloud/bus"
	"vigil/internal/cloud/bus/natsbus"
	"vigil/internal/cloud/liveview"
	"vigil/internal/cloud/liveview/liveviewtest"
	"vigil/internal/natstest"
	"vigil/internal/vigiltest"
)

// conn is a liveview.Conn in memory: the test plays the browser or the hub
// at its other end.
type conn struct {
	in     chan []byte // to the service
	out    chan []byte // from the service
	done   chan struct{}
	once   sync.Once
	reason atomic.Value // string
}

func newConn() *conn {
	return &conn{in: make(chan []byte), out: make(chan []byte, 256), done: make(chan struct{})}
}

func (c *conn) Send(b []byte) error {
	b = slices.Clone(b)
	select {
	case <-c.done:
		return io.ErrClosedPipe
	default:
	}
	select {
	case c.out <- b:
		return nil
	case <-c.done:
		return io.ErrClosedPipe
	}
}

func (c *conn) Read() ([]byte, error) {
	select {
	case b := <-c.in:
		return b, nil
	case <-c.done:
		return nil, io.EOF
	}
}

func (c *conn) Close(reason string) {
	c.once.Do(func() {
		c.reason.Store(reason)
		close(c.done)
	})
}

// write sends v to the service as the other end.
func (c *conn) write(t *testing.T, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case c.in <- b:
	case <-c.done:
		t.Fatalf("writing %s: the connection is closed (%v)", b, c.reason.Load())
	case <-time.After(10 * time.Second):
		t.Fatalf("writing %s: the service does not read", b)
	}
}

// next returns the next message from the service, skipping chain notices
// unless chain.
func (c *conn) next(t *testing.T, chain bool) map[string]json.RawMessage {
	t.Helper()
	for {
		select {
		case b := <-c.out:
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("the service sent %q: %v", b, err)
			}
			if !chain && str(m, "type") == "chain" {
				continue
			}
			return m
		case <-time.After(15 * time.Second):
			t.Fatal("no message from the service")
		}
	}
}

// closed waits for the service to close c and returns its reason.
func (c *conn) closed(t *testing.T) string {
	t.Helper()
	select {
	case <-c.done:
		r, _ := c.reason.Load().(string)
		return r
	case <-time.After(15 * time.Second):
		t.Fatal("the service did not close the connection")
		return ""
	}
}

func str(m map[string]json.RawMessage, k string) string {
	var s string
	json.Unmarshal(m[k], &s)
	return s
}

// chains is a household's hubs as a chain holds them (liveview.Hubs).
type chains struct {
	mu   sync.Mutex
	hubs map[[2]string]bool
}

func (c *chains) set(household, device string, in bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hubs == nil {
		c.hubs = map[[2]string]bool{}
	}
	c.hubs[[2]string{household, device}] = in
}

func (c *chains) IsHub(_ context.Context, household, device string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hubs[[2]string{household, device}], nil
}

// replicas are two Services on one bus, as two replicas of the cloud.
type replicas struct {
	a, b   *liveview.Service
	chains *chains
}

// busKinds runs f over two replicas on the in-process bus and on NATS.
func busKinds(t *testing.T, f func(t *testing.T, r replicas)) {
	t.Run("local", func(t *testing.T) {
		b := bus.NewLocal(bus.LocalOptions{Logger: vigiltest.Logger(t)})
		t.Cleanup(func() { b.Close() })
		f(t, newReplicas(t, b, b))
	})
	t.Run("nats", func(t *testing.T) {
		url := natstest.URL(t)
		prefix := natstest.Prefix(t, url)
		f(t, newReplicas(t, openNATS(t, url, prefix, "a"), openNATS(t, url, prefix, "b")))
	})
}

func openNATS(t *testing.T, url, prefix, name string) *natsbus.Bus {
	t.Helper()
	b, err := natsbus.Open(context.Background(), natsbus.Options{URL: url, Prefix: prefix, Name: name,
		ReconnectWait: 50 * time.Millisecond, Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func newReplicas(t *testing.T, busA, busB bus.Bus) replicas {
	t.Helper()
	ch := &chains{}
	start := func(b bus.Bus) *liveview.Service {
		s, err := liveview.New(liveview.Config{Bus: b, Hubs: ch, Beat: 100 * time.Millisecond, Logger: vigiltest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return replicas{a: start(busA), b: start(busB), chains: ch}
}

// serve runs serve(c) in a goroutine and returns a channel that receives
// its result.
func serve(serve func() error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- serve() }()
	return done
}

// waitCameras waits until s lists camera among the household's cameras
// (want) or does not.
func waitCameras(t *testing.T, s *liveview.Service, hh, camera string, want bool) {
	t.Helper()
	for i := 0; slices.Contains(s.Cameras(hh), camera) != want; i++ {
		if i == 1000 {
			t.Fatalf("replica %s: camera %q listed %v, want %v", s.Replica(), camera, s.Cameras(hh), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const hh, hubID = "household-1", "hub-device-1"

// connectHub serves a hub of hh on s that says hello with camera "front",
// and waits until other lists the camera.
func connectHub(t *testing.T, s, other *liveview.Service) (*conn, <-chan error) {
	t.Helper()
	hub := newConn()
	done := serve(func() error { return s.ServeHub(hub, hh, hubID) })
	hub.write(t, map[string]any{"type": "hello", "cameras": []string{"front"}})
	waitCameras(t, s, hh, "front", true)
	waitCameras(t, other, hh, "front", true)
	return hub, done
}

// viewerOn serves a viewer of hh on s.
func viewerOn(s *liveview.Service) *conn {
	viewer := newConn()
	serve(func() error { return s.ServeViewer(viewer, hh) })
	return viewer
}

// offer starts session sess from viewer to the hub, which gets the offer.
func offer(t *testing.T, viewer, hub *conn, sess string) {
	t.Helper()
	viewer.write(t, map[string]any{"type": "offer", "session": sess, "camera": "front", "device": "viewer-device",
		"ts": 1_800_000_000_000, "fingerprint": "sha-256 AA", "sig": "c2ln", "sdp": "v=0\r\noffer\r\n",
		"ice_servers": liveviewtest.ForgedICEServers(), liveviewtest.OutsideField: liveviewtest.OutsideValue})
	got := hub.next(t, false)
	if str(got, "type") != "offer" || str(got, "session") != sess || str(got, "sdp") != "v=0\r\noffer\r\n" || str(got, "sig") != "c2ln" {
		t.Fatalf("the hub got %v, want the viewer's offer", got)
	}
	liveviewtest.CheckOfferAtHub(t, got, false)
}

// A viewer on replica B reaches a hub on replica A, both ways, in order;
// a message of a session the hub never saw is answered as gone.
func TestViewerReachesHubOnOtherReplica(t *testing.T) {
	busKinds(t, func(t *testing.T, r replicas) {
		r.chains.set(hh, hubID, true)
		hub, _ := connectHub(t, r.a, r.b)
		viewer := viewerOn(r.b)

		const sess = "session-0123456789abcdef"
		offer(t, viewer, hub, sess)
		hub.write(t, map[string]any{"type": "answer", "session": sess, "sdp": "v=0\r\nanswer\r\n", "sig": "aHVi"})
		if got := viewer.next(t, false); str(got, "type") != "answer" || str(got, "session") != sess || str(got, "sig") != "aHVi" {
			t.Fatalf("the viewer got %v, want the hub's answer", got)
		}
		// More messages both ways arrive in order. A viewer's message
		// carries only the format's fields to the hub; a hub's reaches the
		// viewer as it is.
		for i := range 5 {
			viewer.write(t, map[string]any{"type": "renegotiate", "session": sess, "sdp": fmt.Sprint("v", i), "candidate": "dropped"})
			hub.write(t, map[string]any{"type": "candidate", "session": sess, "candidate": fmt.Sprint("h", i)})
		}
		for i := range 5 {
			if got := hub.next(t, false); str(got, "sdp") != fmt.Sprint("v", i) || got["candidate"] != nil {
				t.Fatalf("the hub got %v, want message v%d without its candidate field", got, i)
			}
			if got := viewer.next(t, false); str(got, "candidate") != fmt.Sprint("h", i) {
				t.Fatalf("the viewer got %v, want candidate h%d", got, i)
			}
		}
		// A viewer's message for a camera no hub has is refused here.
		viewer.write(t, map[string]any{"type": "offer", "session": "session-nocamera-0123", "camera": "back"})
		if got := viewer.next(t, false); str(got, "code") != "hub-offline" {
			t.Errorf("an offer for a camera no hub has: %v, want hub-offline", got)
		}
		// A session ID out of the format is refused.
		viewer.write(t, map[string]any{"type": "offer", "session": "short", "camera": "front"})
		if got := viewer.next(t, false); str(got, "code") != "bad-message" {
			t.Errorf("a short session ID: %v, want bad-message", got)
		}
		// The viewer closes the session: the hub hears it.
		viewer.write(t, map[string]any{"type": "close", "session": sess})
		if got := hub.next(t, false); str(got, "type") != "close" || str(got, "session") != sess {
			t.Errorf("the hub got %v, want the close", got)
		}
	})
}

// A hub whose connection ends: its viewer on the other replica hears that
// its session is gone and why, and the camera is listed nowhere.
func TestHubGoneEndsSession(t *testing.T) {
	busKinds(t, func(t *testing.T, r replicas) {
		r.chains.set(hh, hubID, true)
		hub, hubDone := connectHub(t, r.a, r.b)
		viewer := viewerOn(r.b)
		const sess = "session-gone-0123456789"
		offer(t, viewer, hub, sess)

		hub.Close("") // the hub's end went away
		if err := <-hubDone; err != nil {
			t.Errorf("ServeHub: %v", err)
		}
		got := viewer.next(t, false)
		if str(got, "type") != "error" || str(got, "code") != "session-gone" || str(got, "session") != sess || str(got, "error") != "the hub disconnected" {
			t.Fatalf("the viewer got %v, want session-gone: the hub disconnected", got)
		}
		waitCameras(t, r.b, hh, "front", false)
		waitCameras(t, r.a, hh, "front", false)
		// The session is over for the viewer too.
		viewer.write(t, map[string]any{"type": "candidate", "session": sess, "candidate": "late"})
		if got := viewer.next(t, false); str(got, "code") != "session-gone" {
			t.Errorf("a message of the ended session: %v, want session-gone", got)
		}
	})
}

// A hub that connects to the other replica replaces its connection: the
// old one is closed, and the sessions through it end.
func TestHubReconnectsElsewhere(t *testing.T) {
	busKinds(t, func(t *testing.T, r replicas) {
		r.chains.set(hh, hubID, true)
		old, _ := connectHub(t, r.a, r.b)
		viewer := viewerOn(r.a)
		offer(t, viewer, old, "session-before-0123456789")

		hub := newConn()
		serve(func() error { return r.b.ServeHub(hub, hh, hubID) })
		hub.write(t, map[string]any{"type": "hello", "cameras": []string{"front"}})
		if reason := old.closed(t); reason != liveview.ReasonReplaced {
			t.Errorf("the old connection was closed with %q, want %q", reason, liveview.ReasonReplaced)
		}
		if got := viewer.next(t, false); str(got, "code") != "session-gone" {
			t.Fatalf("the viewer got %v, want session-gone", got)
		}
		waitCameras(t, r.a, hh, "front", true)
		offer(t, viewer, hub, "session-after-0123456789")
	})
}

// A chain change that removes the hub's device disconnects it (the hub
// hears why) and ends its viewers' sessions on every replica with that
// reason; a hub still in the chain is told to fetch the chain and keeps
// its sessions.
func TestChainChangeRemovesHub(t *testing.T) {
	busKinds(t, func(t *testing.T, r replicas) {
		const other = "hub-device-2"
		r.chains.set(hh, hubID, true)
		r.chains.set(hh, other, true)
		hub, hubDone := connectHub(t, r.a, r.b)
		stays := newConn()
		serve(func() error { return r.a.ServeHub(stays, hh, other) })
		stays.write(t, map[string]any{"type": "hello", "cameras": []string{"back"}})
		waitCameras(t, r.b, hh, "back", true)

		viewer := viewerOn(r.b)
		const sess, kept = "session-removed-0123456789", "session-kept-0123456789"
		offer(t, viewer, hub, sess)
		viewer.write(t, map[string]any{"type": "offer", "session": kept, "camera": "back"})
		if got := stays.next(t, false); str(got, "session") != kept {
			t.Fatalf("the other hub got %v", got)
		}

		// A change that keeps both hubs: each is told, nothing ends.
		r.a.ChainChanged(hh)
		r.b.ChainChanged(hh)
		for _, c := range []*conn{hub, stays} {
			if got := c.next(t, true); str(got, "type") != "chain" {
				t.Fatalf("a hub got %v, want the chain notice", got)
			}
		}

		r.chains.set(hh, hubID, false)
		r.a.ChainChanged(hh) // as every replica hears it
		r.b.ChainChanged(hh)
		if reason := hub.closed(t); reason != liveview.ReasonRemoved {
			t.Errorf("the removed hub's connection was closed with %q, want %q", reason, liveview.ReasonRemoved)
		}
		if err := <-hubDone; err != nil {
			t.Errorf("ServeHub: %v", err)
		}
		got := viewer.next(t, false)
		if str(got, "code") != "session-gone" || str(got, "session") != sess || str(got, "error") != "the hub was removed from the household" {
			t.Fatalf("the viewer got %v, want session-gone: the hub was removed", got)
		}
		waitCameras(t, r.b, hh, "front", false)
		if got := stays.next(t, true); str(got, "type") != "chain" {
			t.Fatalf("the hub that stays got %v, want the chain notice", got)
		}
		// The other hub's session goes on.
		viewer.write(t, map[string]any{"type": "renegotiate", "session": kept, "sdp": "c"})
		if got := stays.next(t, false); str(got, "session") != kept || str(got, "sdp") != "c" {
			t.Errorf("the hub that stays got %v, want the candidate", got)
		}
		select {
		case <-stays.done:
			t.Error("the hub still in the chain was disconnected")
		default:
		}
	})
}

// blockingHubs answers IsHub only once its context is cancelled.
type blockingHubs struct {
	asked    chan struct{}
	returned atomic.Bool
}

func (b *blockingHubs) IsHub(ctx context.Context, _, _ string) (bool, error) {
	close(b.asked)
	<-ctx.Done()
	time.Sleep(50 * time.Millisecond) // Close must wait for this too
	b.returned.Store(true)
	return false, ctx.Err()
}

// Close closes the connections it serves, and returns only once every
// Serve call and goroutine of the service has; after it the service takes
// no connection.
func TestCloseWaits(t *testing.T) {
	b := bus.NewLocal(bus.LocalOptions{Logger: vigiltest.Logger(t)})
	defer b.Close()
	hubs := &blockingHubs{asked: make(chan struct{})}
	s, err := liveview.New(liveview.Config{Bus: b, Hubs: hubs, Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	hub, viewer := newConn(), newConn()
	var served atomic.Int32
	hubDone := serve(func() error { defer served.Add(1); return s.ServeHub(hub, hh, hubID) })
	viewerDone := serve(func() error { defer served.Add(1); return s.ServeViewer(viewer, hh) })
	hub.write(t, map[string]any{"type": "hello", "cameras": []string{"front"}})
	waitCameras(t, s, hh, "front", true)
	viewer.write(t, map[string]any{"type": "offer", "session": "session-close-0123456789", "camera": "front"})
	hub.next(t, false)
	s.ChainChanged(hh) // a goroutine that waits for IsHub
	<-hubs.asked

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !hubs.returned.Load() {
		t.Error("Close returned before the chain check it started")
	}
	if n := served.Load(); n != 2 {
		t.Errorf("Close returned with %d of 2 Serve calls done", n)
	}
	for _, c := range []*conn{hub, viewer} {
		if reason := c.closed(t); reason != liveview.ReasonClosing {
			t.Errorf("a connection was closed with %q, want %q", reason, liveview.ReasonClosing)
		}
	}
	if err := <-hubDone; err != nil {
		t.Errorf("ServeHub: %v", err)
	}
	if err := <-viewerDone; err != nil {
		t.Errorf("ServeViewer: %v", err)
	}
	var le *liveview.Error
	if err := s.Ready(); !errors.As(err, &le) || le.Kind != liveview.Closed {
		t.Errorf("Ready after Close: %v, want Closed", err)
	}
	late := newConn()
	if err := s.ServeHub(late, hh, hubID); !errors.As(err, &le) || le.Kind != liveview.Closed {
		t.Errorf("ServeHub after Close: %v, want Closed", err)
	}
	if reason := late.closed(t); reason != liveview.ReasonClosing {
		t.Errorf("a connection after Close was closed with %q", reason)
	}
	if err := s.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

// While the bus is away the service refuses connections (Unavailable),
// and takes them again when it is back.
func TestReadyFollowsTheBus(t *testing.T) {
	srv := natstest.Start(t)
	b := openNATS(t, srv.URL(), "ready", "a")
	s, err := liveview.New(liveview.Config{Bus: b, Hubs: &chains{}, Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	srv.Stop()
	var le *liveview.Error
	for i := 0; ; i++ {
		err := s.Ready()
		if errors.As(err, &le) && le.Kind == liveview.Unavailable && errors.Is(err, bus.ErrUnavailable) {
			break
		}
		if i == 500 {
			t.Fatalf("Ready with the NATS server stopped: %v, want Unavailable", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.Restart()
	for i := 0; s.Ready() != nil; i++ {
		if i == 1000 {
			t.Fatalf("Ready with the server back: %v", s.Ready())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A replica that goes silent (its bus connection gone) is forgotten after
// three beats: the sessions through its hubs end, and its cameras are no
// longer listed.
func TestSilentReplicaForgotten(t *testing.T) {
	url := natstest.URL(t)
	prefix := natstest.Prefix(t, url)
	busA := openNATS(t, url, prefix, "a")
	r := newReplicas(t, busA, openNATS(t, url, prefix, "b"))
	r.chains.set(hh, hubID, true)
	hub, _ := connectHub(t, r.a, r.b)
	viewer := viewerOn(r.b)
	const sess = "session-silent-0123456789"
	offer(t, viewer, hub, sess)

	busA.Close() // A can tell no one
	got := viewer.next(t, false)
	if str(got, "code") != "session-gone" || str(got, "session") != sess {
		t.Fatalf("the viewer got %v, want session-gone", got)
	}
	waitCameras(t, r.b, hh, "front", false)
}

// With a relay, a member gets credentials of its own and the hub gets,
// with each offer, credentials of its own for the cloud's relay, never
// the ICE servers a viewer named; without one, neither gets any.
func TestICEServersFromTheCloudOnly(t *testing.T) {
	relay, err := liveview.StartTURN(liveview.TURNConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	b := bus.NewLocal(bus.LocalOptions{Logger: vigiltest.Logger(t)})
	defer b.Close()
	for _, withRelay := range []bool{false, true} {
		t.Run(fmt.Sprintf("relay=%v", withRelay), func(t *testing.T) {
			cfg := liveview.Config{Bus: b, Hubs: &chains{}, Logger: vigiltest.Logger(t)}
			if withRelay {
				cfg.TURN = relay
			}
			s, err := liveview.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			servers, err := s.ICEServers("account-1")
			if err != nil {
				t.Fatal(err)
			}
			if servers == nil || len(servers) != map[bool]int{false: 0, true: 1}[withRelay] {
				t.Fatalf("ICE servers for a member: %#v", servers)
			}
			if withRelay && (!strings.HasSuffix(servers[0].Username, ":account-1") || servers[0].Credential == "" ||
				len(servers[0].URLs) != 1 || !strings.Contains(servers[0].URLs[0], relay.Addr().(*net.UDPAddr).AddrPort().String())) {
				t.Errorf("a member's ICE server %+v, want credentials of its own for %v", servers[0], relay.Addr())
			}

			hub, viewer := newConn(), newConn()
			serve(func() error { return s.ServeHub(hub, hh, hubID) })
			serve(func() error { return s.ServeViewer(viewer, hh) })
			hub.write(t, map[string]any{"type": "hello", "cameras": []string{"front"}})
			waitCameras(t, s, hh, "front", true)
			viewer.write(t, map[string]any{"type": "offer", "session": "session-ice-0123456789", "camera": "front", "sdp": "v=0\r\n",
				"ice_servers": liveviewtest.ForgedICEServers()})
			hubServer, ok := liveviewtest.CheckOfferAtHub(t, hub.next(t, false), withRelay)
			if !ok {
				return
			}
			if !slices.Equal(hubServer.URLs, servers[0].URLs) || !strings.HasSuffix(hubServer.Username, ":hub-"+hubID) {
				t.Errorf("the hub's ICE server %+v, want the cloud's relay with the hub's own credentials", hubServer)
			}
		})
	}
}
