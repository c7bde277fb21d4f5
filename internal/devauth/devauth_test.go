package devauth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func testKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

// devices is a Lookup backed by a map.
type devices map[string]ed25519.PublicKey

func (d devices) lookup(_ context.Context, id string) (ed25519.PublicKey, error) {
	if k, ok := d[id]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("device %q: %w", id, ErrUnknownDevice)
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func newVerifier(d devices, now time.Time) *Verifier {
	return &Verifier{Lookup: d.lookup, Now: func() time.Time { return now }}
}

// overWire signs a client request and returns it as a server reads it off
// the wire (RequestURI and Host set by the server's parser), with its body.
func overWire(t *testing.T, method, url string, body []byte, id string, key ed25519.PrivateKey, now time.Time) (*http.Request, []byte) {
	t.Helper()
	r, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(r, body, id, key, now); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return wire(t, r), body
}

func wire(t *testing.T, r *http.Request) *http.Request {
	t.Helper()
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		t.Fatal(err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

func TestRoundTrip(t *testing.T) {
	key := testKey(1)
	v := newVerifier(devices{"hub-1": pub(key)}, testNow)
	for _, url := range []string{
		"https://cloud.example/v1/objects",
		"http://127.0.0.1:8080/v1/objects?a=1&b=two%20words",
		"https://Cloud.Example:443/v1/a%2Fb/c?x=%7B%7D#fragment-is-not-sent",
		"https://cloud.example/",
	} {
		for _, body := range [][]byte{nil, []byte("sealed bytes")} {
			r, b := overWire(t, http.MethodPut, url, body, "hub-1", key, testNow)
			id, err := v.Verify(r, b)
			if err != nil || id != "hub-1" {
				t.Errorf("%s body %d: Verify = %q, %v", url, len(body), id, err)
			}
		}
	}
}

// TestRealServer checks that what Sign covers is what a net/http server
// sees, through a real connection.
func TestRealServer(t *testing.T) {
	key := testKey(2)
	v := &Verifier{Lookup: devices{"hub:2": pub(key)}.lookup}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		id, err := v.Verify(r, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		io.WriteString(w, id)
	}))
	defer srv.Close()
	for _, path := range []string{"/v1/objects", "/v1/a%2Fb/%7Bx%7D?q=a+b&r=%20", "/x?"} {
		body := []byte("body of " + path)
		r, err := http.NewRequest(http.MethodPut, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := Sign(r, body, "hub:2", key, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(got) != "hub:2" {
			t.Errorf("%s: %s %s", path, resp.Status, got)
		}
	}
}

// setParam replaces one parameter's value in the request's header.
func setParam(r *http.Request, name, value string) {
	h := r.Header.Get(Header)
	i := strings.Index(h, name+"=")
	j := strings.Index(h[i:], ",")
	if j < 0 {
		j = len(h) - i
	}
	r.Header.Set(Header, h[:i]+name+"="+value+h[i+j:])
}

func param(r *http.Request, name string) string {
	a, err := parseHeader(r.Header.Get(Header))
	if err != nil {
		panic(err)
	}
	switch name {
	case "nonce":
		return a.nonceTx
	case "sig":
		return b64.EncodeToString(a.sig)
	}
	panic(name)
}

func TestTamper(t *testing.T) {
	key, other := testKey(1), testKey(3)
	d := devices{"hub-1": pub(key), "hub-twin": pub(key), "hub-3": pub(other)}
	const url = "https://cloud.example/v1/objects?camera=front"
	body := []byte("sealed object bytes")
	tests := []struct {
		name   string
		tamper func(r *http.Request, body []byte) []byte
	}{
		{"method", func(r *http.Request, b []byte) []byte { r.Method = http.MethodPost; return b }},
		{"path", func(r *http.Request, b []byte) []byte { r.RequestURI = "/v1/objectz?camera=front"; return b }},
		{"query", func(r *http.Request, b []byte) []byte { r.RequestURI = "/v1/objects?camera=back"; return b }},
		{"query dropped", func(r *http.Request, b []byte) []byte { r.RequestURI = "/v1/objects"; return b }},
		{"host", func(r *http.Request, b []byte) []byte { r.Host = "evil.example"; return b }},
		{"host port", func(r *http.Request, b []byte) []byte { r.Host = "cloud.example:8443"; return b }},
		{"ts", func(r *http.Request, b []byte) []byte {
			setParam(r, "ts", strconv.FormatInt(testNow.Unix()+1, 10))
			return b
		}},
		{"nonce", func(r *http.Request, b []byte) []byte {
			setParam(r, "nonce", b64.EncodeToString(bytes.Repeat([]byte{7}, nonceSize)))
			return b
		}},
		{"body", func(r *http.Request, b []byte) []byte { return append(bytes.Clone(b), '!') }},
		{"body empty", func(r *http.Request, b []byte) []byte { return nil }},
		{"sig", func(r *http.Request, b []byte) []byte {
			sig, _ := b64.DecodeString(param(r, "sig"))
			sig[10] ^= 1
			setParam(r, "sig", b64.EncodeToString(sig))
			return b
		}},
		// Another device holding the same key: the id is signed too.
		{"id same key", func(r *http.Request, b []byte) []byte { setParam(r, "id", "hub-twin"); return b }},
		{"id other key", func(r *http.Request, b []byte) []byte { setParam(r, "id", "hub-3"); return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, b := overWire(t, http.MethodPut, url, body, "hub-1", key, testNow)
			b = tt.tamper(r, b)
			_, err := newVerifier(d, testNow).Verify(r, b)
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Verify = %v, want ErrBadSignature", err)
			}
			if strings.Contains(err.Error(), param(r, "sig")) {
				t.Errorf("error repeats the signature: %v", err)
			}
		})
	}
	// The untampered request passes, so each case above failed for its
	// tampering alone.
	r, b := overWire(t, http.MethodPut, url, body, "hub-1", key, testNow)
	if _, err := newVerifier(d, testNow).Verify(r, b); err != nil {
		t.Fatalf("untampered: %v", err)
	}
}

func TestReplay(t *testing.T) {
	key := testKey(1)
	now := testNow
	v := &Verifier{Lookup: devices{"hub-1": pub(key)}.lookup, Now: func() time.Time { return now }, Window: time.Minute}
	r, b := overWire(t, http.MethodPut, "https://cloud.example/v1/objects", []byte("x"), "hub-1", key, testNow)
	if _, err := v.Verify(r, b); err != nil {
		t.Fatal(err)
	}
	now = testNow.Add(59 * time.Second)
	if _, err := v.Verify(r, b); !errors.Is(err, ErrReplay) {
		t.Fatalf("second Verify = %v, want ErrReplay", err)
	}
	// Once the window has passed the nonce may be forgotten: the request is
	// then stale.
	now = testNow.Add(61 * time.Second)
	if _, err := v.Verify(r, b); !errors.Is(err, ErrStale) {
		t.Fatalf("Verify after the window = %v, want ErrStale", err)
	}
	// A new request with a fresh nonce is fine, and the expired nonce is
	// forgotten.
	r2, b2 := overWire(t, http.MethodPut, "https://cloud.example/v1/objects", []byte("x"), "hub-1", key, now)
	if _, err := v.Verify(r2, b2); err != nil {
		t.Fatal(err)
	}
	if len(v.mem.seen) != 1 || len(v.mem.exp) != 1 {
		t.Errorf("%d nonces (%d expiries) remembered, want only the new one", len(v.mem.seen), len(v.mem.exp))
	}
}

func TestBusyRatherThanForget(t *testing.T) {
	key := testKey(1)
	now := testNow
	v := &Verifier{Lookup: devices{"hub-1": pub(key)}.lookup, Now: func() time.Time { return now }, Window: time.Minute, MaxNonces: 2}
	var reqs []*http.Request
	for range 3 {
		r, _ := overWire(t, http.MethodGet, "https://cloud.example/v1/x", nil, "hub-1", key, testNow)
		reqs = append(reqs, r)
	}
	for i, r := range reqs[:2] {
		if _, err := v.Verify(r, nil); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if _, err := v.Verify(reqs[2], nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("third request = %v, want ErrBusy", err)
	}
	// The remembered nonces were not forgotten to make room.
	if _, err := v.Verify(reqs[0], nil); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay while full = %v, want ErrReplay", err)
	}
	now = testNow.Add(2 * time.Minute)
	r, _ := overWire(t, http.MethodGet, "https://cloud.example/v1/x", nil, "hub-1", key, now)
	if _, err := v.Verify(r, nil); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

func TestStale(t *testing.T) {
	key := testKey(1)
	d := devices{"hub-1": pub(key)}
	for _, skew := range []time.Duration{-6 * time.Minute, 6 * time.Minute, 100 * 365 * 24 * time.Hour} {
		r, b := overWire(t, http.MethodPut, "https://cloud.example/v1/objects", nil, "hub-1", key, testNow.Add(skew))
		_, err := newVerifier(d, testNow).Verify(r, b)
		if !errors.Is(err, ErrStale) {
			t.Fatalf("skew %v: %v, want ErrStale", skew, err)
		}
		if !strings.Contains(err.Error(), "check the device's clock") {
			t.Errorf("skew %v: message has no hint: %v", skew, err)
		}
	}
	for _, skew := range []time.Duration{-4 * time.Minute, 4 * time.Minute} {
		r, b := overWire(t, http.MethodPut, "https://cloud.example/v1/objects", nil, "hub-1", key, testNow.Add(skew))
		if _, err := newVerifier(d, testNow).Verify(r, b); err != nil {
			t.Fatalf("skew %v: %v", skew, err)
		}
	}
}

func TestUnknownDevice(t *testing.T) {
	r, b := overWire(t, http.MethodPut, "https://cloud.example/v1/objects", nil, "hub-9", testKey(9), testNow)
	_, err := newVerifier(devices{}, testNow).Verify(r, b)
	if !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("Verify = %v, want ErrUnknownDevice", err)
	}
	// Any other Lookup failure is passed through, not turned into a 401.
	boom := errors.New("database is down")
	v := &Verifier{Lookup: func(context.Context, string) (ed25519.PublicKey, error) { return nil, boom }, Now: func() time.Time { return testNow }}
	if _, err := v.Verify(r, b); !errors.Is(err, boom) {
		t.Fatalf("Verify = %v, want the Lookup error", err)
	}
	v.Lookup = func(context.Context, string) (ed25519.PublicKey, error) { return ed25519.PublicKey{1, 2}, nil }
	if _, err := v.Verify(r, b); err == nil || isSentinel(err) {
		t.Fatalf("short key from Lookup: %v", err)
	}
}

func isSentinel(err error) bool {
	for _, s := range []error{ErrMalformed, ErrStale, ErrUnknownDevice, ErrBadSignature, ErrReplay, ErrBusy} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// validHeader is a well-formed header value (not signed for any request).
var validHeader = Scheme + " id=hub-1, ts=1773500966, nonce=" + b64.EncodeToString(make([]byte, nonceSize)) +
	", sig=" + b64.EncodeToString(make([]byte, ed25519.SignatureSize))

// malformed are header values the parser must reject.
var malformed = []string{
	"",
	" ",
	"Vigil-Device",
	"Vigil-Device ",
	"Bearer abc",
	"Basic aHViOnB3",
	strings.Replace(validHeader, "Vigil-Device ", "Vigil-Devices ", 1),
	strings.Replace(validHeader, "Vigil-Device ", "Vigil-Device  ", 1),
	strings.Replace(validHeader, ", ", ",", 1),
	strings.Replace(validHeader, ", ", " , ", 1),
	strings.Replace(validHeader, ", ", ",  ", 1),
	validHeader + ",",
	validHeader + ", ",
	validHeader + ", extra=1",
	validHeader + " ",
	strings.Replace(validHeader, "id=hub-1, ts=1773500966", "ts=1773500966, id=hub-1", 1),
	strings.Replace(validHeader, "id=", "ID=", 1),
	strings.Replace(validHeader, "id=hub-1", "id=", 1),
	strings.Replace(validHeader, "id=hub-1", "id=hub 1", 1),
	strings.Replace(validHeader, "id=hub-1", `id="hub-1"`, 1),
	strings.Replace(validHeader, "id=hub-1", "id=hub/1", 1),
	strings.Replace(validHeader, "id=hub-1", "id=hub=1", 1),
	strings.Replace(validHeader, "id=hub-1", "id=hüb", 1),
	strings.Replace(validHeader, "id=hub-1", "id="+strings.Repeat("a", MaxDeviceIDLen+1), 1),
	strings.Replace(validHeader, "ts=1773500966", "ts=", 1),
	strings.Replace(validHeader, "ts=1773500966", "ts=01773500966", 1),
	strings.Replace(validHeader, "ts=1773500966", "ts=-1773500966", 1),
	strings.Replace(validHeader, "ts=1773500966", "ts=+1773500966", 1),
	strings.Replace(validHeader, "ts=1773500966", "ts=1.7e9", 1),
	strings.Replace(validHeader, "ts=1773500966", "ts=0x69b57a26", 1),
	strings.Replace(validHeader, "ts=1773500966", "ts=99999999999999999999", 1),
	strings.Replace(validHeader, "ts=1773500966", "ts=1773500966.5", 1),
	strings.Replace(validHeader, "nonce=AAAA", "nonce=", 1),
	strings.Replace(validHeader, "nonce=AAAAAAAAAAAAAAAAAAAAAA", "nonce=AAAAAAAAAAAAAAAAAAAAAA==", 1),
	strings.Replace(validHeader, "nonce=AAAAAAAAAAAAAAAAAAAAAA", "nonce=AAAAAAAAAAAAAAAAAAAAA", 1),
	strings.Replace(validHeader, "nonce=AAAAAAAAAAAAAAAAAAAAAA", "nonce=AAAAAAAAAAAAAAAAAAAAAB", 1), // non-zero trailing bits
	strings.Replace(validHeader, "nonce=AAAAAAAAAAAAAAAAAAAAAA", "nonce=AAAAAAAAAAAAAAAAAAAA+A", 1),
	strings.Replace(validHeader, "nonce=AAAAAAAAAAAAAAAAAAAAAA", "nonce=AAAAAAAAAAAAAAAAAAAA/A", 1),
	strings.Replace(validHeader, "sig=AAAA", "sig=A", 1),
	validHeader[:len(validHeader)-1],
	validHeader + "A",
	validHeader[:len(validHeader)-1] + "B",
	validHeader[:len(validHeader)-1] + "=",
	strings.Repeat("A", maxHeaderLen+1),
	Scheme + " " + strings.Repeat(", ", 300),
	"Vigil-Device id=a, ts=1, nonce=\x00\x00, sig=\n",
}

func TestParseHeader(t *testing.T) {
	a, err := parseHeader(validHeader)
	if err != nil {
		t.Fatalf("valid header: %v", err)
	}
	if a.id != "hub-1" || a.ts != 1773500966 || len(a.nonce) != nonceSize || len(a.sig) != ed25519.SignatureSize {
		t.Fatalf("parsed %+v", a)
	}
	if _, err := parseHeader(strings.Replace(validHeader, Scheme, "vigil-device", 1)); err != nil {
		t.Errorf("scheme is case-insensitive: %v", err)
	}
	for _, h := range malformed {
		if _, err := parseHeader(h); !errors.Is(err, ErrMalformed) {
			t.Errorf("parseHeader(%q) = %v, want ErrMalformed", h, err)
		}
	}
}

func TestVerifyMalformed(t *testing.T) {
	v := newVerifier(devices{"hub-1": pub(testKey(1))}, testNow)
	r := httptest.NewRequest(http.MethodPut, "/v1/objects", nil)
	if _, err := v.Verify(r, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("no header: %v", err)
	}
	r.Header.Add(Header, validHeader)
	r.Header.Add(Header, validHeader)
	if _, err := v.Verify(r, nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("two headers: %v", err)
	}
	for _, h := range malformed {
		r.Header.Set(Header, h)
		if _, err := v.Verify(r, nil); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify with %q = %v, want ErrMalformed", h, err)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(validHeader)
	for _, h := range malformed {
		f.Add(h)
	}
	r, _ := http.NewRequest(http.MethodPut, "https://cloud.example/v1/objects", nil)
	Sign(r, []byte("x"), "hub-1", testKey(1), testNow)
	f.Add(r.Header.Get(Header))
	v := newVerifier(devices{"hub-1": pub(testKey(1))}, testNow)

	f.Fuzz(func(t *testing.T, h string) {
		a, err := parseHeader(h)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
		} else {
			// Each accepted header has one text form (up to the scheme's case).
			got := formatHeader(a.id, a.tsText, a.nonceTx, a.sig)
			if got[len(Scheme):] != h[len(Scheme):] || !strings.EqualFold(h[:len(Scheme)], Scheme) {
				t.Fatalf("re-encoded %q as %q", h, got)
			}
		}
		req := httptest.NewRequest(http.MethodPut, "/v1/objects", nil)
		req.Header.Set(Header, h)
		if _, err := v.Verify(req, []byte("x")); err == nil || !isSentinel(err) {
			t.Fatalf("Verify(%q) = %v, want a sentinel error", h, err)
		}
	})
}

// TestVector pins the signed message and the header for a fixed key (seed of
// 32 bytes 0x42), time and nonce, so that other implementations can check
// against them. The signature was reproduced independently with Python's
// cryptography package.
func TestVector(t *testing.T) {
	key := testKey(0x42)
	r, err := http.NewRequest(http.MethodPut, "https://Cloud.Example/v1/objects?x=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	nonce := []byte("0123456789abcdef")
	body := []byte("hello")
	if err := sign(r, body, "hub-1", key, testNow, nonce); err != nil {
		t.Fatal(err)
	}
	wantMsg := "vigil-device-request-v1\nhub-1\nPUT\n/v1/objects?x=1\ncloud.example\n1773500966\nMDEyMzQ1Njc4OWFiY2RlZg\n" +
		"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	if got := string(message("hub-1", "PUT", "/v1/objects?x=1", "cloud.example", "1773500966", "MDEyMzQ1Njc4OWFiY2RlZg", body)); got != wantMsg {
		t.Errorf("message:\n%q\nwant\n%q", got, wantMsg)
	}
	const wantHeader = "Vigil-Device id=hub-1, ts=1773500966, nonce=MDEyMzQ1Njc4OWFiY2RlZg, sig=" +
		"D9s-H3Hkh1zj5P5K2BHvElmbnTu6_gQMUk2I3Gii0YbnMRIyIYZemTIIxjlI3IEWcSSiObEZCpCA91eIpbBQBw"
	if got := r.Header.Get(Header); got != wantHeader {
		t.Errorf("header:\n%s\nwant\n%s", got, wantHeader)
	}
	if !ed25519.Verify(pub(key), []byte(wantMsg), mustB64(t, wantHeader[strings.LastIndex(wantHeader, "=")+1:])) {
		t.Error("the vector's signature does not verify over the vector's message")
	}
}

func mustB64(t *testing.T, s string) []byte {
	b, err := b64.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignRejects(t *testing.T) {
	key := testKey(1)
	r, _ := http.NewRequest(http.MethodPut, "https://cloud.example/v1/objects", nil)
	if err := Sign(r, nil, "hub 1", key, testNow); err == nil {
		t.Error("device id with a space accepted")
	}
	if err := Sign(r, nil, "hub-1", key[:10], testNow); err == nil {
		t.Error("short key accepted")
	}
	r.Method = "PU T"
	if err := Sign(r, nil, "hub-1", key, testNow); err == nil {
		t.Error("bad method accepted")
	}
	r.Method = http.MethodPut
	r.Host = "cloud.example\nX: y"
	if err := Sign(r, nil, "hub-1", key, testNow); err == nil {
		t.Error("host with a newline accepted")
	}
	if err := Sign(r, nil, "hub-1", key, time.Unix(-5, 0)); err == nil {
		t.Error("time before 1970 accepted")
	}
}

func TestConcurrentVerify(t *testing.T) {
	key := testKey(1)
	v := &Verifier{Lookup: devices{"hub-1": pub(key)}.lookup}
	r, b := overWire(t, http.MethodPut, "https://cloud.example/v1/objects", []byte("x"), "hub-1", key, time.Now())
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 16 {
		wg.Go(func() {
			if _, err := v.Verify(r, b); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if !errors.Is(err, ErrReplay) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d of 16 concurrent copies accepted, want 1", ok)
	}
}
