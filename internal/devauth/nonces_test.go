package devauth

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestMemoryNonces checks MemoryNonces against the Nonces contract.
func TestMemoryNonces(t *testing.T) {
	ctx := t.Context()
	var m MemoryNonces
	n1, n2 := bytes.Repeat([]byte{1}, nonceSize), bytes.Repeat([]byte{2}, nonceSize)
	expires := testNow.Add(time.Minute)
	if err := m.Record(ctx, "hub-1", n1, testNow, expires); err != nil {
		t.Fatal(err)
	}
	// Refused from now through expires, inclusive.
	for _, at := range []time.Time{testNow, testNow.Add(30 * time.Second), expires} {
		if err := m.Record(ctx, "hub-1", n1, at, at.Add(time.Minute)); !errors.Is(err, ErrReplay) {
			t.Errorf("the same pair at %v: %v, want ErrReplay", at.Sub(testNow), err)
		}
	}
	// The pair is the device and the nonce: either alone is new.
	if err := m.Record(ctx, "hub-2", n1, testNow, expires); err != nil {
		t.Errorf("another device, same nonce: %v", err)
	}
	if err := m.Record(ctx, "hub-1", n2, testNow, expires); err != nil {
		t.Errorf("same device, another nonce: %v", err)
	}
	// The caller's slice is not kept: changing it changes nothing.
	n3 := bytes.Repeat([]byte{3}, nonceSize)
	if err := m.Record(ctx, "hub-1", n3, testNow, expires); err != nil {
		t.Fatal(err)
	}
	n3[0] = 4
	if err := m.Record(ctx, "hub-1", bytes.Repeat([]byte{3}, nonceSize), testNow, expires); !errors.Is(err, ErrReplay) {
		t.Errorf("after the caller changed its slice: %v, want ErrReplay", err)
	}
	// Past expires the pair is forgotten (a Verifier refuses its request
	// as stale by then).
	after := expires.Add(time.Nanosecond)
	if err := m.Record(ctx, "hub-1", n1, after, after.Add(time.Minute)); err != nil {
		t.Errorf("after expiry: %v", err)
	}
	if len(m.seen) != 1 {
		t.Errorf("%d pairs held after all but one expired, want 1", len(m.seen))
	}
}

func TestMemoryNoncesConcurrent(t *testing.T) {
	var m MemoryNonces
	nonce := bytes.Repeat([]byte{9}, nonceSize)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 16 {
		wg.Go(func() {
			err := m.Record(t.Context(), "hub-1", nonce, testNow, testNow.Add(time.Minute))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, ErrReplay):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d of 16 concurrent Records succeeded, want 1", ok)
	}
}

// recorder is a Nonces that notes its calls and answers with err, or
// passes them to a MemoryNonces when err is nil.
type recorder struct {
	mu    sync.Mutex
	calls []recorded
	err   error
	mem   MemoryNonces
}

type recorded struct {
	device       string
	nonce        []byte
	now, expires time.Time
}

func (r *recorder) Record(ctx context.Context, device string, nonce []byte, now, expires time.Time) error {
	r.mu.Lock()
	r.calls = append(r.calls, recorded{device, bytes.Clone(nonce), now, expires})
	r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	return r.mem.Record(ctx, device, nonce, now, expires)
}

// TestSharedNonces: two Verifiers that share a Nonces (replicas) refuse on
// one a request accepted by the other; with a memory each, the second
// accepts it.
func TestSharedNonces(t *testing.T) {
	key := testKey(1)
	d := devices{"hub-1": pub(key)}
	r, b := overWire(t, http.MethodPut, "https://cloud.example/v1/objects", []byte("x"), "hub-1", key, testNow)

	shared := &recorder{}
	a := &Verifier{Lookup: d.lookup, Now: func() time.Time { return testNow }, Nonces: shared}
	later := testNow.Add(90 * time.Second)
	c := &Verifier{Lookup: d.lookup, Now: func() time.Time { return later }, Nonces: shared}
	if _, err := a.Verify(r, b); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Verify(r, b); !errors.Is(err, ErrReplay) {
		t.Fatalf("the same request on a second Verifier sharing the Nonces: %v, want ErrReplay", err)
	}
	// Each Record got the Verifier's clock, and an expiry of the request's
	// timestamp plus the window: while the timestamp is acceptable.
	if len(shared.calls) != 2 {
		t.Fatalf("%d Records, want 2", len(shared.calls))
	}
	for i, want := range []time.Time{testNow, later} {
		c := shared.calls[i]
		if c.device != "hub-1" || c.nonce == nil || !c.now.Equal(want) || !c.expires.Equal(testNow.Add(DefaultWindow)) {
			t.Errorf("Record %d: %q at %v until %v, want hub-1 at %v until %v", i, c.device, c.now, c.expires, want, testNow.Add(DefaultWindow))
		}
	}
	if !bytes.Equal(shared.calls[0].nonce, shared.calls[1].nonce) {
		t.Error("the two Records got different nonces for one request")
	}

	// Not shared: the gap the shared Nonces closes.
	if _, err := newVerifier(d, testNow).Verify(r, b); err != nil {
		t.Fatalf("a Verifier with its own memory: %v", err)
	}
}

// TestNoncesFailure: when the Nonces cannot decide, the request is refused
// with its error (not a sentinel, so not taken for a bad request), and when
// the signature does not verify the Nonces is not asked at all.
func TestNoncesFailure(t *testing.T) {
	key := testKey(1)
	d := devices{"hub-1": pub(key)}
	down := errors.New("nonce store is down")
	n := &recorder{err: down}
	v := &Verifier{Lookup: d.lookup, Now: func() time.Time { return testNow }, Nonces: n}
	r, b := overWire(t, http.MethodPut, "https://cloud.example/v1/objects", []byte("x"), "hub-1", key, testNow)
	id, err := v.Verify(r, b)
	if !errors.Is(err, down) || isSentinel(err) || id != "" {
		t.Fatalf("Verify with the Nonces down = %q, %v; want its error, no device", id, err)
	}
	n.err = nil
	if _, err := v.Verify(r, b); err != nil {
		t.Fatalf("the same request once the Nonces is back: %v", err)
	}
	// ErrBusy from a Nonces is the Verifier's ErrBusy.
	n.err = ErrBusy
	r2, b2 := overWire(t, http.MethodPut, "https://cloud.example/v1/objects", []byte("x"), "hub-1", key, testNow)
	if _, err := v.Verify(r2, b2); !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify with a busy Nonces = %v, want ErrBusy", err)
	}
	n.err = nil
	calls := len(n.calls)
	if _, err := v.Verify(r2, append(bytes.Clone(b2), '!')); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered body: %v", err)
	}
	r3, b3 := overWire(t, http.MethodPut, "https://cloud.example/v1/objects", nil, "hub-1", key, testNow.Add(-time.Hour))
	if _, err := v.Verify(r3, b3); !errors.Is(err, ErrStale) {
		t.Fatalf("stale: %v", err)
	}
	if len(n.calls) != calls {
		t.Errorf("the Nonces was asked about %d requests that did not verify", len(n.calls)-calls)
	}
}
