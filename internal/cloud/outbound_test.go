package cloud_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/cloud"
	"vigil/internal/eventrec"
	"vigil/internal/netguard"
	"vigil/internal/netguard/dnstest"
	"vigil/internal/vigiltest"
)

// localPushOutbound lets a Server deliver Web Push to a test's push
// service on 127.0.0.1, which the default outbound policy refuses.
var localPushOutbound = netguard.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

// withLocalPush is newEnvWith's adjustment for localPushOutbound.
func withLocalPush(o *cloud.Options) { o.Outbound = localPushOutbound }

// pushFailures passes records to next and sends the error of each "push
// failed" record on ch.
type pushFailures struct {
	slog.Handler
	ch chan string
}

func (h pushFailures) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "push failed" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "err" {
				h.ch <- a.Value.String()
			}
			return true
		})
	}
	return h.Handler.Handle(ctx, r)
}

func (h pushFailures) WithAttrs(as []slog.Attr) slog.Handler {
	return pushFailures{h.Handler.WithAttrs(as), h.ch}
}

// The cloud's Web Push sender connects only to public addresses, checked
// on the address it connects to (red-team cases, issue 14): endpoints
// whose text names a local place are refused when subscribing; a name
// resolving to loopback now is refused when subscribing, with the
// reason; and an endpoint that passed (a loopback address on a
// development service, a name that resolved to a public address and now
// resolves to 127.0.0.1) is refused when the push is delivered, so the
// push service listening on loopback receives nothing.
func TestPushDialsOnlyPublicAddresses(t *testing.T) {
	dns := dnstest.Start(t)
	failed := make(chan string, 16)
	e := newEnvWith(t, func(o *cloud.Options) {
		o.Outbound = netguard.Options{Resolver: dns.Resolver()}
		o.Logger = slog.New(pushFailures{vigiltest.Logger(t).Handler(), failed})
	})
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hub := newEventHub(t, e, alice, st)
	hh := "/v1/households/" + st.HouseholdID
	ps := newPushService(t)
	var conns atomic.Int64
	ps.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	_, port, _ := net.SplitHostPort(ps.srv.Listener.Addr().String())

	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	sub := func(endpoint string) []byte {
		b, _ := json.Marshal(map[string]any{"endpoint": endpoint,
			"keys": map[string]string{"p256dh": b64(ua.PublicKey().Bytes()), "auth": b64(make([]byte, 16))}})
		return b
	}
	dns.Set("push.looks-public.example", "127.0.0.1")
	dns.Set("rebind.looks-public.example", "8.8.8.8")
	for _, c := range []struct{ endpoint, want string }{
		{"https://100.64.0.1/x", "not a local address"},
		{"https://169.254.169.254/latest/meta-data/", "not a local address"},
		{"https://metadata.google.internal/computeMetadata/v1/", "not a local address"},
		{"https://kubernetes.default.svc/api", "not a local address"},
		{"https://push.looks-public.example:" + port + "/x", "resolves to 127.0.0.1, loopback"},
	} {
		if status, body := post(t, alice.c, hh+"/push", sub(c.endpoint)); status != 400 || !strings.Contains(string(body), c.want) {
			t.Errorf("subscribing %s: %d %s, want 400 (%s)", c.endpoint, status, body, c.want)
		}
	}
	// Accepted when subscribing: a loopback address on this development
	// service (plain HTTP on loopback), and a name that resolves to a
	// public address for now.
	for _, ep := range []string{ps.srv.URL + "/literal", "https://rebind.looks-public.example:" + port + "/rebind"} {
		if status, body := post(t, alice.c, hh+"/push", sub(ep)); status != 201 {
			t.Fatalf("subscribing %s: %d %s", ep, status, body)
		}
	}
	dns.Set("rebind.looks-public.example", "127.0.0.1")

	hub.event(record(time.Unix(1_800_000_000, 0).UTC(), eventrec.StateStart))
	for range 2 {
		select {
		case err := <-failed:
			if !strings.Contains(err, "refused to connect to 127.0.0.1: loopback") {
				t.Errorf("a push failed with %q, want a refusal of 127.0.0.1 (loopback)", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the pushes did not fail")
		}
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("the push service on loopback saw %d connections", n)
	}
	select {
	case p := <-ps.got:
		t.Errorf("the push service received a push on %s", p.path)
	default:
	}
}
