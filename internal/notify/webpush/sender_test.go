package webpush

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/netguard"
	"vigil/internal/netguard/dnstest"
)

// pushService is a push service that verifies VAPID and decrypts what it
// receives with the subscription's private key, as the browser would.
type pushService struct {
	t      *testing.T
	srv    *httptest.Server
	vapid  string // the application server key it expects
	ua     *ecdh.PrivateKey
	auth   []byte
	status map[string]int // path -> forced status

	mu   sync.Mutex
	got  [][]byte // decrypted payloads
	hdrs []http.Header
}

func newPushService(t *testing.T, vapidPublic string) *pushService {
	ps := &pushService{t: t, vapid: vapidPublic, status: map[string]int{}}
	ps.ua, _ = ecdh.P256().GenerateKey(rand.Reader)
	ps.auth = make([]byte, 16)
	rand.Read(ps.auth)
	ps.srv = httptest.NewServer(http.HandlerFunc(ps.serve))
	t.Cleanup(ps.srv.Close)
	return ps
}

func (ps *pushService) subscription(path string) Subscription {
	var s Subscription
	s.Endpoint = ps.srv.URL + path
	s.Keys.P256dh = base64.RawURLEncoding.EncodeToString(ps.ua.PublicKey().Bytes())
	s.Keys.Auth = base64.RawURLEncoding.EncodeToString(ps.auth)
	return s
}

func (ps *pushService) serve(w http.ResponseWriter, r *http.Request) {
	if st := ps.status[r.URL.Path]; st != 0 {
		if st == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "30")
		}
		w.WriteHeader(st)
		return
	}
	_, k, err := VerifyAuthorization(r.Header.Get("Authorization"), ps.srv.URL, time.Now())
	if err != nil || k != ps.vapid {
		ps.t.Errorf("VAPID: key match %v, err %v", k == ps.vapid, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		ps.t.Errorf("Content-Encoding %q", ce)
	}
	if r.Header.Get("TTL") == "" || r.Header.Get("Urgency") == "" {
		ps.t.Errorf("TTL %q, Urgency %q", r.Header.Get("TTL"), r.Header.Get("Urgency"))
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, RecordSize+1))
	if err != nil || len(body) > RecordSize {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	pt, err := Decrypt(body, ps.ua, ps.auth)
	if err != nil {
		ps.t.Errorf("push service cannot decrypt: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	ps.mu.Lock()
	ps.got = append(ps.got, pt)
	ps.hdrs = append(ps.hdrs, r.Header.Clone())
	ps.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
}

func TestSenderStatuses(t *testing.T) {
	key, _ := GenerateVAPIDKey()
	ps := newPushService(t, key.PublicKey())
	ps.status["/gone"] = http.StatusGone
	ps.status["/missing"] = http.StatusNotFound
	ps.status["/busy"] = http.StatusTooManyRequests
	ps.status["/broken"] = http.StatusBadRequest
	s := &Sender{VAPID: key, Subject: "mailto:hub@example.org", Client: NewClient(loopbackForTests)}
	ctx := context.Background()
	m := Message{Payload: []byte("sealed bytes"), TTL: time.Minute}

	if err := s.Send(ctx, ps.subscription("/ok"), m); err != nil {
		t.Fatalf("201: %v", err)
	}
	if string(ps.got[0]) != "sealed bytes" || ps.hdrs[0].Get("TTL") != "60" {
		t.Fatalf("got %q with TTL %q", ps.got[0], ps.hdrs[0].Get("TTL"))
	}
	for _, p := range []string{"/gone", "/missing"} {
		if err := s.Send(ctx, ps.subscription(p), m); !errors.Is(err, ErrGone) {
			t.Errorf("%s: err = %v, want ErrGone", p, err)
		}
	}
	var se *StatusError
	if err := s.Send(ctx, ps.subscription("/busy"), m); !errors.As(err, &se) || se.Status != 429 || se.RetryAfter != 30*time.Second {
		t.Errorf("429: err = %v", err)
	}
	if err := s.Send(ctx, ps.subscription("/broken"), m); !errors.As(err, &se) || se.Status != 400 {
		t.Errorf("400: err = %v", err)
	}
	if err := s.Send(ctx, ps.subscription("/ok"), Message{Payload: make([]byte, MaxPlaintext+1)}); err == nil {
		t.Error("an oversized payload was sent")
	}
	bad := ps.subscription("/ok")
	bad.Endpoint = "file:///etc/passwd"
	if err := s.Send(ctx, bad, m); err == nil {
		t.Error("a non-http endpoint was accepted")
	}
}

// loopbackForTests lets a test's push service on 127.0.0.1 be reached.
var loopbackForTests = netguard.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

// A Sender's default client refuses, when it connects, every endpoint
// that is not on the public internet: an address in the URL, and names
// resolving to a cloud metadata service, a cluster's service or loopback
// (where a push service listens and receives nothing), however the name
// resolved when the endpoint was checked (DNS rebinding). Errors name the
// host, the address and why, never the endpoint's path.
func TestSenderDialsOnlyPublicAddresses(t *testing.T) {
	key, _ := GenerateVAPIDKey()
	ps := newPushService(t, key.PublicKey())
	var arrived atomic.Int64
	ps.srv.Config.ConnState = func(net.Conn, http.ConnState) { arrived.Add(1) }
	_, port, _ := net.SplitHostPort(ps.srv.Listener.Addr().String())
	dns := dnstest.Start(t)
	dns.Set("metadata.google.internal", "169.254.169.254")
	dns.Set("kubernetes.default.svc", "10.96.0.1")
	dns.Set("push.looks-public.example", "127.0.0.1")
	dns.Set("rebind.looks-public.example", "8.8.8.8")
	s := &Sender{VAPID: key, Subject: "mailto:hub@example.org", Client: NewClient(netguard.Options{Resolver: dns.Resolver()})}
	m := Message{Payload: []byte("sealed bytes"), TTL: time.Minute}
	send := func(endpoint, ip, reason string) {
		t.Helper()
		sub := ps.subscription("/secret-path")
		sub.Endpoint = endpoint
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.Send(ctx, sub, m)
		var re *netguard.RefusedError
		if !errors.As(err, &re) || re.Addr.String() != ip || !strings.Contains(err.Error(), ip) || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: %v, want a refusal of %s (%s)", endpoint, err, ip, reason)
		}
		if err != nil && strings.Contains(err.Error(), "secret-path") {
			t.Errorf("%s: the error shows the endpoint's path: %v", endpoint, err)
		}
	}
	send("https://100.64.0.1/secret-path", "100.64.0.1", "carrier-grade NAT")
	send("http://metadata.google.internal/secret-path", "169.254.169.254", "link-local")
	send("https://kubernetes.default.svc/secret-path", "10.96.0.1", "private")
	send("http://push.looks-public.example:"+port+"/secret-path", "127.0.0.1", "loopback")
	send(ps.srv.URL+"/secret-path", "127.0.0.1", "loopback")
	d := netguard.NewDialer(netguard.Options{Resolver: dns.Resolver()})
	if _, err := d.Lookup(context.Background(), "rebind.looks-public.example"); err != nil {
		t.Fatalf("the rebinding name at validation: %v", err)
	}
	dns.Set("rebind.looks-public.example", "127.0.0.1")
	send("http://rebind.looks-public.example:"+port+"/secret-path", "127.0.0.1", "loopback")
	if n := arrived.Load(); n != 0 || len(ps.got) != 0 {
		t.Errorf("the loopback push service saw %d connections and %d messages", n, len(ps.got))
	}
	// The same Sender with a client that allows loopback delivers.
	s = &Sender{VAPID: key, Subject: "mailto:hub@example.org", Client: NewClient(netguard.Options{Resolver: dns.Resolver(), Allow: loopbackForTests.Allow})}
	if err := s.Send(context.Background(), ps.subscription("/ok"), m); err != nil {
		t.Fatalf("with loopback allowed: %v", err)
	}
}

func TestVAPIDRejects(t *testing.T) {
	key, _ := GenerateVAPIDKey()
	now := time.Now()
	h, err := key.Authorization("https://push.example/abc", "mailto:a@b", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, k, err := VerifyAuthorization(h, "https://push.example", now); err != nil || k != key.PublicKey() {
		t.Fatalf("valid token: %v", err)
	}
	if _, _, err := VerifyAuthorization(h, "https://other.example", now); err == nil {
		t.Error("wrong audience accepted")
	}
	if _, _, err := VerifyAuthorization(h, "https://push.example", now.Add(2*time.Hour)); err == nil {
		t.Error("expired token accepted")
	}
	other, _ := GenerateVAPIDKey()
	forged := h[:strings.Index(h, "k=")+2] + other.PublicKey()
	if _, _, err := VerifyAuthorization(forged, "https://push.example", now); err == nil {
		t.Error("token verified under another key")
	}
	k2, err := ParseVAPIDKey(key.String())
	if err != nil || k2.PublicKey() != key.PublicKey() {
		t.Fatalf("ParseVAPIDKey round trip: %v", err)
	}
}

func FuzzVerifyAuthorization(f *testing.F) {
	key, _ := GenerateVAPIDKey()
	now := time.Unix(1_800_000_000, 0)
	h, _ := key.Authorization("https://push.example/x", "mailto:a@b", now, time.Hour)
	f.Add(h)
	f.Add("vapid t=a.b.c, k=" + key.PublicKey())
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		VerifyAuthorization(h, "https://push.example", now)
	})
}
