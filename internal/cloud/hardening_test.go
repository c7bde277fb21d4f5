package cloud_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/devauth"
	"vigil/internal/keydir"
	vmember "vigil/internal/member"
)

// zeros is an endless-looking body of n zero bytes that counts what the
// client has taken from it to send.
type zeros struct {
	left, read atomic.Int64
}

func (z *zeros) Read(p []byte) (int, error) {
	n := min(int64(len(p)), z.left.Load())
	if n == 0 {
		return 0, io.EOF
	}
	clear(p[:n])
	z.left.Add(-n)
	z.read.Add(n)
	return int(n), nil
}

// A device route refuses an anonymous request, a malformed header and an
// unknown device before reading the body: the answer comes while most of a
// large body is still unsent.
func TestDeviceBodyNotReadBeforeAuth(t *testing.T) {
	e := newEnv(t)
	const size = 64 << 20
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	strangerID := keydir.DeviceID(stranger.Public().(ed25519.PublicKey))
	cases := []struct {
		name string
		auth func(r *http.Request)
	}{
		{"anonymous", func(*http.Request) {}},
		{"malformed", func(r *http.Request) { r.Header.Set("Authorization", "Vigil-Device id=x") }},
		{"unknown device", func(r *http.Request) {
			if err := devauth.Sign(r, []byte("a small body"), strangerID, stranger, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := &zeros{}
			body.left.Store(size)
			req, err := http.NewRequestWithContext(context.Background(), "PUT", e.url+"/v1/objects", body)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = size
			tc.auth(req)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			sent := body.read.Load()
			res.Body.Close()
			if res.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", res.StatusCode)
			}
			if sent > size/2 {
				t.Errorf("the client had sent %d of %d body bytes when the refusal came", sent, size)
			}
			t.Logf("refused after %d of %d body bytes", sent, size)
		})
	}
}

// Behind a trusted proxy the client address is the entry the proxy
// appended (the rightmost): a client that varies the entries it sends
// itself is still one address to the rate limiter.
func TestTrustProxyRightmostForwardedFor(t *testing.T) {
	e := newEnvWith(t, func(o *cloud.Options) { o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	pairing := func(xff string) int {
		t.Helper()
		req, err := http.NewRequest("POST", e.url+"/v1/pairings", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", xff)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	limited := 0
	for i := range 60 {
		switch st := pairing(fmt.Sprintf("198.18.%d.%d, 203.0.113.7", i/250, i%250+1)); st {
		case http.StatusTooManyRequests:
			limited++
		case http.StatusBadRequest: // allowed through to the body check
		default:
			t.Fatalf("request %d: status %d", i, st)
		}
	}
	if limited == 0 {
		t.Fatal("60 requests through the proxy from one client, each with its own forged X-Forwarded-For entry, were never rate limited")
	}
	// Another client behind the same proxy, forging the first one's address
	// as its own entry, is not held to the first one's limit.
	if st := pairing("203.0.113.7, 198.51.100.9"); st != http.StatusBadRequest {
		t.Errorf("another client behind the proxy: status %d, want 400 (not rate limited)", st)
	}
}

// An invite takes at most maxJoinRequestsTotal requests, declined ones
// included; once a request is approved it takes no more (410), and the
// approval does not keep it alive past the expiry it was created with.
func TestJoinInviteBounds(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	bob := e.signUp("bob@example.com")
	carol := e.signUp("carol@example.com")
	st := e.household(alice, "Home")
	hh := st.HouseholdID

	// Declining makes no room for ever more requests.
	inv := e.invite(alice, hh, "member", time.Hour)
	const total = 16
	for i := range total {
		rid, _, _ := joinRequest(t, carol, inv)
		if status, b, _ := alice.c.Raw(ctx, "DELETE", "/v1/households/"+hh+"/join-requests/"+rid, nil); status != 200 {
			t.Fatalf("decline %d: %d %s", i, status, b)
		}
	}
	k, _ := keydir.NewDeviceKeys()
	dev := keydir.EncodeDevice(k)
	if _, err := carol.c.RequestJoin(ctx, inv.Key, dev, "phone", vmember.JoinProof(inv.Secret, inv.ID, dev)); !client.IsStatus(err, 429) {
		t.Errorf("request %d on one invite: %v, want 429", total+1, err)
	}

	// A used invite: no new requests, and no life past its expiry.
	inv = e.invite(alice, hh, "member", 5*time.Minute)
	rid, _, dev := joinRequest(t, bob, inv)
	dk, err := keydir.ParseDevice(dev, keydir.RoleMember, "phone")
	if err != nil {
		t.Fatal(err)
	}
	link, err := st.AddDevice(alice.keys, dk, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.c.ApproveJoinRequest(ctx, hh, rid, link); err != nil {
		t.Fatalf("approve: %v", err)
	}
	k, _ = keydir.NewDeviceKeys()
	dev = keydir.EncodeDevice(k)
	_, err = carol.c.RequestJoin(ctx, inv.Key, dev, "tablet", vmember.JoinProof(inv.Secret, inv.ID, dev))
	if !client.IsStatus(err, 410) || !strings.Contains(err.Error(), "this invite has been used") {
		t.Errorf("request on a used invite: %v, want 410 this invite has been used", err)
	}
	if s, err := bob.c.JoinStatus(ctx, inv.Key, rid); err != nil || s != "approved" {
		t.Errorf("status right after approval: %q %v", s, err)
	}
	e.clock.Add(5*time.Minute + time.Second)
	if s, err := bob.c.JoinStatus(ctx, inv.Key, rid); !client.IsStatus(err, 404) {
		t.Errorf("status after the invite's expiry: %q %v, want 404", s, err)
	}
	if status, b, _ := bob.c.Raw(ctx, "POST", "/v1/invites/open", openInvite(inv.Key)); status != 404 {
		t.Errorf("invite after its expiry: %d %s", status, b)
	}
}

// stalled is a body that sends one byte and then waits for release, when
// it fails (the client gives up on the request).
type stalled struct {
	sent    bool
	release chan struct{}
}

func (s *stalled) Read(p []byte) (int, error) {
	if !s.sent && len(p) > 0 {
		s.sent = true
		p[0] = 0
		return 1, nil
	}
	<-s.release
	return 0, fmt.Errorf("released")
}

// At most cloud.MaxBodyReads device bodies are read at once: while that
// many hubs send slowly, another upload gets 503 with Retry-After; when
// they are gone, uploads go through again.
func TestDeviceBodyReadsBounded(t *testing.T) {
	e := newEnv(t)
	cloud.SetBodyWait(e.srv, 50*time.Millisecond)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hub, key := e.addHub(alice, st)
	signed := func(body io.Reader, size int64, signedBody []byte) *http.Request {
		t.Helper()
		req, err := http.NewRequest("PUT", e.url+"/v1/objects", body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = size
		if err := devauth.Sign(req, signedBody, hub.DeviceID, key, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		return req
	}
	release := make(chan struct{})
	done := make(chan struct{})
	for range cloud.MaxBodyReads {
		go func() {
			defer func() { done <- struct{}{} }()
			res, err := http.DefaultClient.Do(signed(&stalled{release: release}, 1<<20, nil))
			if err == nil {
				res.Body.Close()
			}
		}()
	}
	var seq uint64
	upload := func() *http.Response {
		t.Helper()
		seq++
		obj := seal(t, key, st, "front", seq, e.clock.Now().Add(-time.Minute), 1000)
		res, err := http.DefaultClient.Do(signed(bytes.NewReader(obj), int64(len(obj)), obj))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	var busy *http.Response
	for range 200 { // until the stalled bodies hold every turn
		if res := upload(); res.StatusCode == http.StatusServiceUnavailable {
			busy = res
			break
		}
	}
	if busy == nil {
		t.Fatalf("200 uploads while %d hubs stalled their bodies, none was told to wait", cloud.MaxBodyReads)
	}
	if busy.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	close(release)
	for range cloud.MaxBodyReads {
		<-done
	}
	if res := upload(); res.StatusCode != http.StatusOK && res.StatusCode != http.StatusCreated {
		t.Errorf("upload after the stalled ones: status %d", res.StatusCode)
	}
}
