package devauth

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultWindow is the clock skew a Verifier accepts when Window is 0.
const DefaultWindow = 5 * time.Minute

// DefaultMaxNonces is how many nonces a MemoryNonces remembers when its Max
// (or the Verifier's MaxNonces) is 0. At full capacity it takes about
// 64 MB.
const DefaultMaxNonces = 1 << 20

// Verifier checks device-signed requests. Set the fields before the first
// Verify and do not change them afterwards. It is safe for concurrent use.
//
// # Replay memory
//
// A request is accepted when its timestamp is within Window of the server's
// clock, so its nonce is remembered (in Nonces) until the timestamp plus
// Window has passed; after that a replay is refused as stale. Nonces are
// recorded only after the signature verified, so only a device with a valid
// key can fill the memory. The default memory is this process's
// ([MemoryNonces]): when it holds MaxNonces unexpired nonces, the Verifier
// refuses new requests with ErrBusy until some expire, instead of forgetting
// one early, which would let that request be replayed (DefaultMaxNonces
// within the default window is more than 3,000 requests a second), and the
// price is availability, not authenticity. Several servers that accept the
// same devices (replicas) must share one Nonces.
type Verifier struct {
	// Lookup returns the public key of a device. For an unknown device it
	// returns an error wrapping ErrUnknownDevice; any other error is passed
	// through by Verify as a failure to decide. It gets the request's
	// context.
	Lookup func(ctx context.Context, deviceID string) (ed25519.PublicKey, error)
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Window is the accepted difference between a request's timestamp and
	// Now, in either direction; 0 means DefaultWindow.
	Window time.Duration
	// Nonces remembers the nonces of accepted requests; nil means one in
	// this Verifier's memory, bounded by MaxNonces. It gets the request's
	// context.
	Nonces Nonces
	// MaxNonces bounds the default in-memory Nonces; 0 means
	// DefaultMaxNonces. It is not used when Nonces is set.
	MaxNonces int

	mem MemoryNonces // when Nonces is nil
}

func (v *Verifier) window() time.Duration {
	if v.Window > 0 {
		return v.Window
	}
	return DefaultWindow
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Verify checks the device authorization of r, whose body is body: exactly
// the bytes the server read (with a size limit) before calling Verify. It
// returns the authenticated device id. Errors wrap one of the package's
// sentinel errors, except errors from Lookup other than ErrUnknownDevice
// and errors from Nonces other than ErrReplay and ErrBusy, which are
// returned wrapped as they are (the request is refused, for want of a
// decision).
func (v *Verifier) Verify(r *http.Request, body []byte) (deviceID string, err error) {
	return v.VerifySum(r, sha256.Sum256(body))
}

// VerifySum is Verify for a caller that has hashed the body already:
// bodySum is the SHA-256 of exactly the bytes the server read.
func (v *Verifier) VerifySum(r *http.Request, bodySum [32]byte) (deviceID string, err error) {
	a, err := requestHeader(r)
	if err != nil {
		return "", err
	}

	now := v.now()
	w := v.window()
	skew := now.Sub(time.Unix(a.ts, 0))
	if skew > w || skew < -w {
		dir := "behind"
		if skew < 0 {
			dir, skew = "ahead of", -skew
		}
		return "", fmt.Errorf("devauth: device %s: request time is %s %s the server's clock (accepted: %s): %w",
			a.id, skew.Round(time.Second), dir, w, ErrStale)
	}

	if v.Lookup == nil {
		return "", errors.New("devauth: Verifier has no Lookup function")
	}
	pub, err := v.Lookup(r.Context(), a.id)
	if err != nil {
		return "", fmt.Errorf("devauth: device %s: %w", a.id, err)
	}
	if len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("devauth: device %s: Lookup returned a %d-byte key, want %d", a.id, len(pub), ed25519.PublicKeySize)
	}

	target, err := serverTarget(r)
	if err != nil {
		return "", err
	}
	msg := messageSum(a.id, method(r), target, strings.ToLower(r.Host), a.tsText, a.nonceTx, bodySum)
	if !ed25519.Verify(pub, msg, a.sig) {
		return "", fmt.Errorf("devauth: device %s: %w", a.id, ErrBadSignature)
	}

	if err := v.remember(r.Context(), a, time.Unix(a.ts, 0).Add(w), now); err != nil {
		return "", fmt.Errorf("devauth: device %s: %w", a.id, err)
	}
	return a.id, nil
}

// remember records a's nonce through expires in the Verifier's Nonces.
func (v *Verifier) remember(ctx context.Context, a auth, expires, now time.Time) error {
	if v.Nonces != nil {
		return v.Nonces.Record(ctx, a.id, a.nonce, now, expires)
	}
	return v.mem.record(keyOf(a.id, a.nonce), expires, now, v.MaxNonces)
}

// serverTarget returns the request target as the client sent it, in origin
// form: the raw request URI when it is in origin form (so the server's own
// path rewriting does not matter), the path and query of an absolute-form
// target, or the URL's request URI when the request did not come from the
// wire.
func serverTarget(r *http.Request) (string, error) {
	switch t := r.RequestURI; {
	case strings.HasPrefix(t, "/") || t == "*":
		return t, nil
	case t != "":
		u, err := url.ParseRequestURI(t)
		if err != nil {
			return "", fmt.Errorf("%w: unparsable request target", ErrMalformed)
		}
		return u.RequestURI(), nil
	case r.URL != nil:
		return r.URL.RequestURI(), nil
	}
	return "", fmt.Errorf("%w: request has no target", ErrMalformed)
}

// requestHeader parses r's one device authorization header.
func requestHeader(r *http.Request) (auth, error) {
	vals := r.Header.Values(Header)
	switch len(vals) {
	case 0:
		return auth{}, fmt.Errorf("%w: no %s header", ErrMalformed, Header)
	case 1:
	default:
		return auth{}, fmt.Errorf("%w: %d %s headers, want one", ErrMalformed, len(vals), Header)
	}
	return parseHeader(vals[0])
}
