package devauth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"testing"
	"time"
)

// Precheck refuses what Verify would refuse without the body, and records
// nothing: the request it passes still verifies once.
func TestPrecheck(t *testing.T) {
	key := testKey(1)
	d := devices{"hub-1": pub(key)}
	const url = "https://cloud.example/v1/objects"
	body := []byte("a segment")

	r, b := overWire(t, http.MethodPut, url, body, "hub-1", key, testNow)
	v := newVerifier(d, testNow)
	if id, err := v.Precheck(r); err != nil || id != "hub-1" {
		t.Fatalf("Precheck = %q, %v", id, err)
	}
	if id, err := v.Verify(r, b); err != nil || id != "hub-1" {
		t.Fatalf("Verify after Precheck = %q, %v", id, err)
	}

	none, _ := http.NewRequest(http.MethodPut, url, nil)
	two, _ := overWire(t, http.MethodPut, url, body, "hub-1", key, testNow)
	two.Header.Add(Header, two.Header.Get(Header))
	bad, _ := overWire(t, http.MethodPut, url, body, "hub-1", key, testNow)
	setParam(bad, "nonce", "short")
	stale, _ := overWire(t, http.MethodPut, url, body, "hub-1", key, testNow.Add(-time.Hour))
	unknown, _ := overWire(t, http.MethodPut, url, body, "hub-9", testKey(9), testNow)
	for _, c := range []struct {
		name string
		r    *http.Request
		want error
	}{
		{"no header", none, ErrMalformed},
		{"two headers", two, ErrMalformed},
		{"malformed nonce", bad, ErrMalformed},
		{"stale", stale, ErrStale},
		{"unknown device", unknown, ErrUnknownDevice},
	} {
		if _, err := newVerifier(d, testNow).Precheck(c.r); !errors.Is(err, c.want) {
			t.Errorf("%s: Precheck = %v, want %v", c.name, err, c.want)
		}
	}

	// A Lookup failure is passed through, not turned into a refusal.
	boom := errors.New("database is down")
	v = &Verifier{Lookup: func(context.Context, string) (ed25519.PublicKey, error) { return nil, boom }, Now: func() time.Time { return testNow }}
	if _, err := v.Precheck(r); !errors.Is(err, boom) || isSentinel(err) {
		t.Errorf("Precheck with a failing Lookup = %v", err)
	}
}
