package cloud_test

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"vigil/internal/devauth"
	"vigil/internal/eventrec"
)

// cloudGoroutines returns the stacks of the goroutines running code of
// package cloud (not its tests, not its subpackages).
func cloudGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "vigil/internal/cloud.") {
			out = append(out, g)
		}
	}
	return out
}

// Close ends what the Server started and an HTTP server's shutdown leaves
// running: the WebSockets of live view and of the events feed (hijacked
// connections) and a Web Push delivery stuck on a push service that does
// not answer. Once it returns, the clients' WebSockets are closed and no
// goroutine runs the Server's code.
func TestCloseEndsGoroutines(t *testing.T) {
	before := len(cloudGoroutines())
	e := newEnvWith(t, withLocalPush)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hub := newEventHub(t, e, alice, st)
	hh := "/v1/households/" + st.HouseholdID

	// A push service that takes the request and never answers.
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(ps.Close)
	t.Cleanup(func() { close(release) })
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	sub, _ := json.Marshal(map[string]any{"endpoint": ps.URL + "/push",
		"keys": map[string]string{"p256dh": b64(ua.PublicKey().Bytes()), "auth": b64(make([]byte, 16))}})
	if status, body := post(t, alice.c, hh+"/push", sub); status != 201 {
		t.Fatalf("subscribe: %d %s", status, body)
	}

	wsBase := "ws" + strings.TrimPrefix(e.url, "http")
	bearer := http.Header{"Authorization": {"Bearer " + alice.c.Token}}
	dial := func(what, path string, hdr http.Header) *websocket.Conn {
		ws, resp, err := websocket.DefaultDialer.Dial(wsBase+path, hdr)
		if err != nil {
			t.Fatalf("%s: %v %v", what, err, resp)
		}
		t.Cleanup(func() { ws.Close() })
		return ws
	}
	events := dial("events", hh+"/events/live", bearer)
	req, err := http.NewRequest("GET", e.url+"/v1/hub/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := devauth.Sign(req, nil, hub.id, hub.key, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	hubWS := dial("hub", "/v1/hub/live", req.Header)
	viewer := dial("viewer", hh+"/live", bearer)

	hub.event(record(time.Unix(1_800_000_000, 0).UTC(), eventrec.StateStart))
	select {
	case <-arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the push never reached the push service")
	}

	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	for name, ws := range map[string]*websocket.Conn{"events": events, "hub": hubWS, "viewer": viewer} {
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			_, _, err := ws.ReadMessage()
			if err == nil {
				continue // a note sent before Close
			}
			if ne := (net.Error)(nil); errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("the %s WebSocket is still open after Close", name)
			}
			break
		}
	}
	// A goroutine that signalled its end may still be unwinding.
	for i := 0; ; i++ {
		left := cloudGoroutines()
		if len(left) <= before {
			break
		}
		if i == 500 {
			t.Fatalf("%d goroutines run the Server's code after Close (%d before New):\n%s",
				len(left), before, strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
