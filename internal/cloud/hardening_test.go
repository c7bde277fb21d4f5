package cloud_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"vigil/internal/cloud"
	"vigil/internal/devauth"
	"vigil/internal/keydir"
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
	e := newEnvWith(t, func(o *cloud.Options) { o.TrustProxy = true })
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
