package webpushsink

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
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/envelope"
	"vigil/internal/eventrec"
	"vigil/internal/netguard"
	"vigil/internal/notify"
	"vigil/internal/notify/webpush"
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

func (ps *pushService) subscription(path string) webpush.Subscription {
	var s webpush.Subscription
	s.Endpoint = ps.srv.URL + path
	s.Keys.P256dh = base64.RawURLEncoding.EncodeToString(ps.ua.PublicKey().Bytes())
	s.Keys.Auth = base64.RawURLEncoding.EncodeToString(ps.auth)
	return s
}

func (ps *pushService) serve(w http.ResponseWriter, r *http.Request) {
	if st := ps.status[r.URL.Path]; st != 0 {
		w.WriteHeader(st)
		return
	}
	_, k, err := webpush.VerifyAuthorization(r.Header.Get("Authorization"), ps.srv.URL, time.Now())
	if err != nil || k != ps.vapid {
		ps.t.Errorf("VAPID: key match %v, err %v", k == ps.vapid, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, webpush.RecordSize+1))
	if err != nil || len(body) > webpush.RecordSize {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	pt, err := webpush.Decrypt(body, ps.ua, ps.auth)
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
	key, err := webpush.GenerateVAPIDKey()
	if err != nil {
		t.Fatal(err)
	}
	ps := newPushService(t, key.PublicKey())
	ps.status["/gone"] = http.StatusGone
	id, trusted, sealer := household(t)

	var gone []string
	var mu sync.Mutex
	n := &Notifier{
		Sender: &webpush.Sender{VAPID: key, Subject: "mailto:hub@example.org", Client: webpush.NewClient(loopbackForTests)},
		Sealer: sealer,
		Subscriptions: func(context.Context) ([]webpush.Subscription, error) {
			return []webpush.Subscription{ps.subscription("/sub/1"), ps.subscription("/gone")}, nil
		},
		Gone: func(s webpush.Subscription) { mu.Lock(); gone = append(gone, s.Endpoint); mu.Unlock() },
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
	if u := ps.hdrs[0].Get("Urgency"); u != string(webpush.UrgencyHigh) {
		t.Errorf("alert pushed with Urgency %q", u)
	}
	if ttl := ps.hdrs[0].Get("TTL"); ttl != "3600" {
		t.Errorf("pushed with TTL %q, want the default hour", ttl)
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

// A Notifier without a Sealer pushes nothing: plaintext never leaves the
// home.
func TestNotifierWithoutSealerSendsNothing(t *testing.T) {
	key, _ := webpush.GenerateVAPIDKey()
	ps := newPushService(t, key.PublicKey())
	n := &Notifier{
		Sender: &webpush.Sender{VAPID: key, Subject: "mailto:hub@example.org", Client: webpush.NewClient(loopbackForTests)},
		Subscriptions: func(context.Context) ([]webpush.Subscription, error) {
			return []webpush.Subscription{ps.subscription("/sub/1")}, nil
		},
	}
	if err := n.Notify(context.Background(), testEvent()); err == nil {
		t.Fatal("a notifier without a sealer returned no error")
	}
	if len(ps.got) != 0 {
		t.Fatalf("push service received %d messages, want none", len(ps.got))
	}
}

// loopbackForTests lets a test's push service on 127.0.0.1 be reached.
var loopbackForTests = netguard.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
