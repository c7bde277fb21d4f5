package webpush

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/envelope"
	"vigil/internal/eventrec"
	"vigil/internal/notify"
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

// household returns a household identity, the hub's signing key and a
// sealer sealing to the household.
func household(t testing.TB) (*envelope.X25519Identity, envelope.TrustedKeys, *notify.Sealer) {
	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	hub, err := envelope.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	s := &notify.Sealer{Signer: hub, Keys: func() (uint32, []envelope.Recipient, error) {
		return 3, []envelope.Recipient{id.Recipient()}, nil
	}}
	return id, envelope.TrustedKeys{hub.Public().(ed25519.PublicKey)}, s
}

func testEvent() notify.Event {
	now := time.Now()
	return notify.Event{
		ID: "0123456789abcdef0123456789abcd42", Camera: "front-door", Labels: []string{"person"}, Zones: []string{"porch"},
		Score: 0.91, Alert: true, Start: now, FirstFrame: now,
	}
}

func TestNotifierPushesSealedPayload(t *testing.T) {
	key, err := GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	ps := newPushService(t, key.PublicKey())
	ps.status["/gone"] = http.StatusGone
	id, trusted, sealer := household(t)

	var gone []string
	var mu sync.Mutex
	n := &Notifier{
		Sender: &Sender{VAPID: key, Subject: "mailto:hub@example.org"},
		Sealer: sealer,
		Subscriptions: func(context.Context) ([]Subscription, error) {
			return []Subscription{ps.subscription("/sub/1"), ps.subscription("/gone")}, nil
		},
		Gone: func(s Subscription) { mu.Lock(); gone = append(gone, s.Endpoint); mu.Unlock() },
	}
	ev := testEvent()
	if err := n.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if len(gone) != 1 || !strings.HasSuffix(gone[0], "/gone") {
		t.Fatalf("gone subscriptions reported: %v", gone)
	}
	if len(ps.got) != 1 {
		t.Fatalf("push service received %d messages, want 1", len(ps.got))
	}
	if u := ps.hdrs[0].Get("Urgency"); u != string(UrgencyHigh) {
		t.Errorf("alert pushed with Urgency %q", u)
	}
	sealed := ps.got[0]

	// What the push service holds after decrypting is opaque to it: none of
	// the event's words appear in it ...
	for _, w := range []string{"person", "front-door", "porch", ev.ID} {
		if strings.Contains(string(sealed), w) {
			t.Errorf("push payload contains %q in the clear", w)
		}
	}
	// ... no other identity opens it ...
	stranger, _ := envelope.GenerateX25519Identity()
	if _, _, err := eventrec.Open(sealed, trusted, stranger); !errors.Is(err, envelope.ErrIncorrectIdentity) {
		t.Fatalf("a stranger's identity: err = %v, want ErrIncorrectIdentity", err)
	}
	// ... and the household opens it.
	// It is the event record the web app's service worker opens.
	p, _, err := eventrec.Open(sealed, trusted, id)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != ev.ID || p.Camera != ev.Camera || p.Labels[0] != "person" || p.Zones[0] != "porch" || !p.Alert || p.State != eventrec.StateStart {
		t.Fatalf("household opened %+v", p)
	}
}

func TestSenderStatuses(t *testing.T) {
	key, _ := GenerateVAPIDKey()
	ps := newPushService(t, key.PublicKey())
	ps.status["/gone"] = http.StatusGone
	ps.status["/missing"] = http.StatusNotFound
	ps.status["/busy"] = http.StatusTooManyRequests
	ps.status["/broken"] = http.StatusBadRequest
	s := &Sender{VAPID: key, Subject: "mailto:hub@example.org"}
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
