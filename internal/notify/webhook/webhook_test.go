package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/notify"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// receiver is a webhook receiver that checks signatures with Verify.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	fail   atomic.Int32 // respond 500 to this many requests first
	mu     sync.Mutex
	bodies []Body
	hits   atomic.Int32
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.hits.Add(1)
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := Verify(secret, r.Header.Get(SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if rc.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var b Body
		if err := json.Unmarshal(body, &b); err != nil {
			t.Errorf("receiver: %v", err)
		}
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, b)
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func event() notify.Event {
	now := time.Now()
	return notify.Event{ID: "ev-1", Camera: "drive", Labels: []string{"car"}, Zones: []string{"driveway"},
		Score: 0.8, Start: now, FirstFrame: now, Snapshot: []byte("\xff\xd8jpeg")}
}

func TestWebhookSignedAndRetried(t *testing.T) {
	rc := newReceiver(t)
	rc.fail.Store(2)
	n, err := New(Config{URLs: []string{rc.srv.URL + "/hook"}, Secret: secret, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(context.Background(), event()); err != nil {
		t.Fatal(err)
	}
	if h := rc.hits.Load(); h != 3 {
		t.Fatalf("receiver saw %d requests, want 3 (two 500s, then success)", h)
	}
	b := rc.bodies[0]
	if b.ID != "ev-1" || b.Camera != "drive" || b.Labels[0] != "car" || b.Zones[0] != "driveway" {
		t.Fatalf("body %+v", b)
	}
	if b.Snapshot != nil {
		t.Fatal("snapshot sent without IncludeSnapshot")
	}

	n2, _ := New(Config{URLs: []string{rc.srv.URL}, Secret: secret, IncludeSnapshot: true})
	if err := n2.Notify(context.Background(), event()); err != nil {
		t.Fatal(err)
	}
	if string(rc.bodies[1].Snapshot) != "\xff\xd8jpeg" {
		t.Fatal("snapshot missing with IncludeSnapshot")
	}
}

func TestWebhookGivesUp(t *testing.T) {
	rc := newReceiver(t)
	rc.fail.Store(100)
	n, _ := New(Config{URLs: []string{rc.srv.URL}, Secret: secret, Backoff: time.Millisecond, Attempts: 3})
	var se *StatusError
	if err := n.Notify(context.Background(), event()); !errors.As(err, &se) || se.Status != 500 {
		t.Fatalf("err = %v, want a 500 StatusError", err)
	}
	if h := rc.hits.Load(); h != 3 {
		t.Fatalf("%d attempts, want 3", h)
	}

	var hits atomic.Int32
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); w.WriteHeader(http.StatusBadRequest) }))
	defer bad.Close()
	n, _ = New(Config{URLs: []string{bad.URL}, Secret: secret, Backoff: time.Millisecond})
	if err := n.Notify(context.Background(), event()); err == nil || hits.Load() != 1 {
		t.Fatalf("400: err = %v after %d attempts, want an error after 1", err, hits.Load())
	}
}

func TestWebhookRetriesNetworkErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	n, _ := New(Config{URLs: []string{url}, Secret: secret, Backoff: time.Millisecond, Attempts: 2})
	if err := n.Notify(context.Background(), event()); err == nil {
		t.Fatal("no error from a closed port")
	}
}

func TestNewRejectsURLs(t *testing.T) {
	for _, u := range []string{"ftp://x/y", "file:///etc/passwd", "javascript:alert(1)", "/relative", "http://user:pw@host/", "gopher://h"} {
		if _, err := New(Config{URLs: []string{u}, Secret: secret}); err == nil {
			t.Errorf("accepted %q", u)
		}
	}
	if _, err := New(Config{URLs: []string{"https://h/x"}, Secret: []byte("short")}); err == nil {
		t.Error("accepted a short secret")
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"e"}`)
	h := Sign(secret, now, body)
	if err := Verify(secret, h, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatalf("valid: %v", err)
	}
	cases := []struct {
		name   string
		secret []byte
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"tampered body", secret, h, []byte(`{"id":"f"}`), now, ErrBadSignature},
		{"wrong secret", []byte("another secret, 32 bytes long!!!"), h, body, now, ErrBadSignature},
		{"old timestamp", secret, h, body, now.Add(10 * time.Minute), ErrStale},
		{"future timestamp", secret, h, body, now.Add(-10 * time.Minute), ErrStale},
		{"no v1", secret, "t=1800000000", body, now, ErrMalformedSignature},
		{"bad hex", secret, "t=1800000000,v1=zz", body, now, ErrMalformedSignature},
		{"empty", secret, "", body, now, ErrMalformedSignature},
		{"timestamp swapped", secret, strings.Replace(h, "t=1800000000", "t=1800000001", 1), body, now, ErrBadSignature},
	}
	for _, c := range cases {
		if err := Verify(c.secret, c.header, c.body, c.now, 5*time.Minute); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add(Sign(secret, now, []byte("x")), []byte("x"))
	f.Add("t=1,v1=00", []byte{})
	f.Add("t=-9223372036854775808,v1=", []byte{})
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		if Verify(secret, header, body, now, time.Minute) != nil {
			return
		}
		// Only a header carrying the body's MAC for a timestamp in the
		// tolerance may verify.
		for d := -60; d <= 60; d++ {
			if strings.Contains(header, Sign(secret, now.Add(time.Duration(d)*time.Second), body)[len("t=1800000000,"):]) {
				return
			}
		}
		t.Fatalf("verified a header without the body's MAC: %q", header)
	})
}
