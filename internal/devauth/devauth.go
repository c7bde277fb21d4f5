// Package devauth authenticates HTTP requests made by a device (a hub
// uploading footage; later CLI devices) with the device's Ed25519 key.
//
// A device signs each request with [Sign]; the server checks it with a
// [Verifier]. The signature covers the method, the request target, the host,
// a timestamp, a fresh random nonce and the SHA-256 of the body, so a
// request cannot be altered, replayed (the Verifier remembers nonces for as
// long as their timestamp is acceptable, in its own memory or in a [Nonces]
// that replicas share) or moved to another server.
//
// # Wire format
//
// The request carries one header:
//
//	Authorization: Vigil-Device id=<device id>, ts=<unix seconds>, nonce=<nonce>, sig=<signature>
//
// The four parameters appear in exactly this order, separated by a comma and
// one space. The device id is 1 to [MaxDeviceIDLen] bytes of
// [A-Za-z0-9._~:-] (see [ValidDeviceID]); ts is the decimal Unix time in
// seconds without sign or leading zeros; nonce is 16 random bytes and sig the
// 64-byte Ed25519 signature, both in unpadded base64url (RFC 4648 §5). The
// scheme name is matched without regard to case; nothing else is.
//
// The signed message is the UTF-8 text
//
//	"vigil-device-request-v1\n" + id + "\n" + method + "\n" + target + "\n" +
//	host + "\n" + ts + "\n" + nonce + "\n" + hex(SHA-256(body))
//
// where id, ts and nonce are the header's parameter texts, method is the
// request method ("GET" when empty), target is the request URI as sent on the
// wire in origin form (escaped path and raw query, as returned by
// [url.URL.RequestURI]), host is the Host header in lower case, and the
// SHA-256 is in lower-case hex. A server behind a reverse proxy must see the
// Host and request target the device sent.
//
// # What the package must never do
//
// It never logs (it does not import a logger) and never puts a key, a
// signature or body bytes into an error message; the device id, which is
// not secret, is the only header value an error may repeat. A Verifier
// records a nonce only after the signature verified, so unauthenticated
// requests cannot fill its memory.
//
// Errors from [Verifier.Verify] wrap one of [ErrMalformed], [ErrStale],
// [ErrUnknownDevice], [ErrBadSignature], [ErrReplay] or [ErrBusy]; any other
// error comes from the Lookup function or from the Verifier's Nonces and
// means the server could not decide (map it to a server error, not to 401;
// the request was not accepted).
package devauth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header is the request header that carries the device authorization.
const Header = "Authorization"

// Scheme is the authorization scheme name.
const Scheme = "Vigil-Device"

// MaxDeviceIDLen is the longest device id, in bytes.
const MaxDeviceIDLen = 128

const (
	domain    = "vigil-device-request-v1\n"
	nonceSize = 16
	// maxHeaderLen bounds the header value the parser looks at: the scheme,
	// the longest id, a 20-digit ts, the nonce, the signature and separators
	// fit well within it.
	maxHeaderLen = 512
)

// b64 is unpadded base64url that rejects non-canonical encodings (non-zero
// trailing bits), so each value has exactly one text form.
var b64 = base64.RawURLEncoding.Strict()

// Errors returned by Verify, wrapped with details; test with errors.Is.
var (
	// ErrMalformed: the Authorization header is missing, repeated or not of
	// the form described in the package documentation.
	ErrMalformed = errors.New("devauth: malformed device authorization header")
	// ErrStale: the request's timestamp is further from the server's clock
	// than the Verifier's window.
	ErrStale = errors.New("devauth: request time is outside the accepted window; check the device's clock")
	// ErrUnknownDevice: the Lookup function does not know the device id.
	// Lookup implementations return an error wrapping it.
	ErrUnknownDevice = errors.New("devauth: unknown device; hint: is the device paired with this server?")
	// ErrBadSignature: the signature does not verify with the device's
	// key over this request (method, target, host, time, nonce, body).
	ErrBadSignature = errors.New("devauth: request signature does not verify")
	// ErrReplay: a request with the same device and nonce was already
	// accepted within the window. Nonces implementations return an error
	// wrapping it.
	ErrReplay = errors.New("devauth: request was already seen (replayed nonce)")
	// ErrBusy: the Verifier's Nonces holds as many unexpired nonces as it
	// may remember, so it refuses new requests until some expire rather
	// than forget one (which would let that request be replayed). Map it
	// to 503 with Retry-After.
	ErrBusy = errors.New("devauth: too many recent requests to remember; retry later")
)

// ValidDeviceID reports whether id can appear in the header: 1 to
// MaxDeviceIDLen bytes of [A-Za-z0-9._~:-].
func ValidDeviceID(id string) bool {
	if id == "" || len(id) > MaxDeviceIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '~', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// auth holds the parsed parameters of the header, keeping the texts that
// the signature covers.
type auth struct {
	id      string
	ts      int64
	tsText  string
	nonce   []byte
	nonceTx string
	sig     []byte
}

// parseHeader parses the value of the Authorization header. Every error
// wraps ErrMalformed and names what is wrong, never repeating the value.
func parseHeader(v string) (auth, error) {
	var a auth
	if len(v) > maxHeaderLen {
		return a, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxHeaderLen)
	}
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, Scheme) {
		return a, fmt.Errorf("%w: scheme is not %s", ErrMalformed, Scheme)
	}
	params := strings.Split(rest, ", ")
	names := [...]string{"id", "ts", "nonce", "sig"}
	if len(params) != len(names) {
		return a, fmt.Errorf("%w: want the parameters id, ts, nonce and sig separated by \", \"", ErrMalformed)
	}
	var vals [len(names)]string
	for i, p := range params {
		k, val, ok := strings.Cut(p, "=")
		if !ok || k != names[i] {
			return a, fmt.Errorf("%w: parameter %d must be %s=", ErrMalformed, i+1, names[i])
		}
		vals[i] = val
	}

	if !ValidDeviceID(vals[0]) {
		return a, fmt.Errorf("%w: id must be 1 to %d bytes of [A-Za-z0-9._~:-]", ErrMalformed, MaxDeviceIDLen)
	}
	a.id = vals[0]

	ts, err := strconv.ParseInt(vals[1], 10, 64)
	if err != nil || ts < 0 || strconv.FormatInt(ts, 10) != vals[1] {
		return a, fmt.Errorf("%w: ts must be Unix seconds in decimal, without sign or leading zeros", ErrMalformed)
	}
	a.ts, a.tsText = ts, vals[1]

	if len(vals[2]) != b64.EncodedLen(nonceSize) {
		return a, fmt.Errorf("%w: nonce must be %d bytes in unpadded base64url", ErrMalformed, nonceSize)
	}
	if a.nonce, err = b64.DecodeString(vals[2]); err != nil {
		return a, fmt.Errorf("%w: nonce is not canonical unpadded base64url", ErrMalformed)
	}
	a.nonceTx = vals[2]

	if len(vals[3]) != b64.EncodedLen(ed25519.SignatureSize) {
		return a, fmt.Errorf("%w: sig must be %d bytes in unpadded base64url", ErrMalformed, ed25519.SignatureSize)
	}
	if a.sig, err = b64.DecodeString(vals[3]); err != nil {
		return a, fmt.Errorf("%w: sig is not canonical unpadded base64url", ErrMalformed)
	}
	return a, nil
}

// formatHeader returns the header value for a.
func formatHeader(id, ts, nonce string, sig []byte) string {
	return Scheme + " id=" + id + ", ts=" + ts + ", nonce=" + nonce + ", sig=" + b64.EncodeToString(sig)
}

// message returns the signed message. The fields cannot contain a newline:
// the id, ts and nonce are checked by the parser or by Sign, the method must
// be a token, and target and host are checked by checkLine.
func message(id, method, target, host, ts, nonce string, body []byte) []byte {
	return messageSum(id, method, target, host, ts, nonce, sha256.Sum256(body))
}

// messageSum is message for a body whose SHA-256 is sum.
func messageSum(id, method, target, host, ts, nonce string, sum [32]byte) []byte {
	var b bytes.Buffer
	b.Grow(len(domain) + len(id) + len(method) + len(target) + len(host) + len(ts) + len(nonce) + 6 + 2*len(sum))
	b.WriteString(domain)
	for _, f := range []string{id, method, target, host, ts, nonce} {
		b.WriteString(f)
		b.WriteByte('\n')
	}
	b.WriteString(hex.EncodeToString(sum[:]))
	return b.Bytes()
}

// validMethod reports whether m is an HTTP token.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validLine reports whether s holds no control characters (so no newline).
func validLine(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

func method(r *http.Request) string {
	if r.Method == "" {
		return http.MethodGet
	}
	return r.Method
}

// clientTarget returns the request target the client will send, in origin
// form.
func clientTarget(r *http.Request) string { return r.URL.RequestURI() }

// clientHost returns the Host header the client will send, in lower case.
func clientHost(r *http.Request) string {
	if r.Host != "" {
		return strings.ToLower(r.Host)
	}
	return strings.ToLower(r.URL.Host)
}

// Sign sets the Authorization header of r for the device deviceID, signing
// with key at time now. body must be exactly the bytes r will send (Sign
// does not read or set r.Body); a nil body is the empty body. Each call uses
// a fresh random nonce, so a signed request can be sent once: sign again to
// retry.
func Sign(r *http.Request, body []byte, deviceID string, key ed25519.PrivateKey, now time.Time) error {
	var nonce [nonceSize]byte
	rand.Read(nonce[:])
	return sign(r, body, deviceID, key, now, nonce[:])
}

func sign(r *http.Request, body []byte, deviceID string, key ed25519.PrivateKey, now time.Time, nonce []byte) error {
	switch {
	case !ValidDeviceID(deviceID):
		return fmt.Errorf("devauth: sign: invalid device id: want 1 to %d bytes of [A-Za-z0-9._~:-]", MaxDeviceIDLen)
	case len(key) != ed25519.PrivateKeySize:
		return errors.New("devauth: sign: invalid Ed25519 private key")
	case r.URL == nil:
		return errors.New("devauth: sign: request has no URL")
	case now.Unix() < 0:
		return errors.New("devauth: sign: time is before 1970; check the device's clock")
	}
	m, target, host := method(r), clientTarget(r), clientHost(r)
	if !validMethod(m) {
		return errors.New("devauth: sign: invalid request method")
	}
	if !validLine(target) || !validLine(host) || host == "" {
		return errors.New("devauth: sign: request target or host is empty or has control characters")
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	nonceTx := b64.EncodeToString(nonce)
	sig := ed25519.Sign(key, message(deviceID, m, target, host, ts, nonceTx, body))
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	r.Header.Set(Header, formatHeader(deviceID, ts, nonceTx, sig))
	return nil
}
