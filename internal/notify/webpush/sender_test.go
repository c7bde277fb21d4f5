package webpush

import (
	"context"
	"crypto/ecdh"
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
