package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/devauth"
	"vigil/internal/keydir"
)

// TestBrowserDeviceRequests: requests signed in Chromium by
// web/src/crypto/devauth.ts with the browser's non-extractable device key
// verify with internal/devauth — method, target (escaped path and query),
// host, time, nonce and the body's SHA-256 — and stop verifying when any of
// them changes. A method that is not an HTTP token is refused in the
// browser.
func TestBrowserDeviceRequests(t *testing.T) {
	big := make([]byte, 300_000)
	rand.Read(big)
	type sigCase struct {
		Method string `json:"method"`
		URL    string `json:"url"`
		Body   string `json:"body"`
	}
	b64 := base64.RawURLEncoding.EncodeToString
	bodies := [][]byte{nil, big, []byte(`{"version":2,"accept":true}`), nil, nil}
	cases := []sigCase{
		{"GET", "https://Cloud.Example:8443/v1/workspaces/habc/chain", ""},
		{"PUT", "http://127.0.0.1:41234/v1/workspaces/habc/donations/abcd/annotations/2", b64(big)},
		{"POST", "http://127.0.0.1:41234/v1/workspaces/habc/donations/abcd/review", b64(bodies[2])},
		{"GET", "http://127.0.0.1:41234/v1/a%20b/c?from=0&q=%2F", ""},
		{"GE T", "http://127.0.0.1:41234/v1/x", ""},
	}
	var res struct {
		ID      string `json:"id"`
		SignPub string `json:"signPub"`
		Results []struct{ Header, Error string }
	}
	browsertest.Run(t, 2*time.Minute, "devauth.mjs", map[string]string{"INPUT": writeInput(t, cases)}, &res)
	pub, err := base64.RawURLEncoding.DecodeString(res.SignPub)
	if err != nil || len(pub) != ed25519.PublicKeySize || keydir.DeviceID(pub) != res.ID {
		t.Fatalf("device %s with key %q: %v", res.ID, res.SignPub, err)
	}
	if len(res.Results) != len(cases) {
		t.Fatalf("%d results for %d cases", len(res.Results), len(cases))
	}
	lookup := func(_ context.Context, id string) (ed25519.PublicKey, error) {
		if id != res.ID {
			return nil, devauth.ErrUnknownDevice
		}
		return pub, nil
	}
	// request builds the request as a server reads it off the wire.
	request := func(method, rawURL, header string) *http.Request {
		u, err := url.Parse(rawURL)
		if err != nil {
			t.Fatal(err)
		}
		wire := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\n\r\n", method, u.RequestURI(), u.Host, header)
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(wire)))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i, c := range cases[:4] {
		got := res.Results[i]
		if got.Error != "" || !strings.HasPrefix(got.Header, "Vigil-Device id="+res.ID+", ts=") {
			t.Errorf("%s %s: header %q, error %q", c.Method, c.URL, got.Header, got.Error)
			continue
		}
		body := bodies[i]
		// Each change alone must fail, before the genuine request is
		// verified (a verified nonce is remembered).
		fresh := func() *devauth.Verifier { return &devauth.Verifier{Lookup: lookup} }
		changed := map[string]func() (*http.Request, []byte){
			"body": func() (*http.Request, []byte) {
				return request(c.Method, c.URL, got.Header), append(bytes.Clone(body), 0)
			},
			"method": func() (*http.Request, []byte) { return request("DELETE", c.URL, got.Header), body },
			"path": func() (*http.Request, []byte) {
				return request(c.Method, strings.Replace(c.URL, "/v1/", "/v2/", 1), got.Header), body
			},
			"host": func() (*http.Request, []byte) {
				return request(c.Method, strings.Replace(strings.Replace(c.URL, "41234", "41235", 1), "8443", "8444", 1), got.Header), body
			},
		}
		for what, mk := range changed {
			r, b := mk()
			if _, err := fresh().Verify(r, b); !errors.Is(err, devauth.ErrBadSignature) {
				t.Errorf("%s %s with another %s: %v, want a bad signature", c.Method, c.URL, what, err)
			}
		}
		v := fresh()
		id, err := v.Verify(request(c.Method, c.URL, got.Header), body)
		if err != nil || id != res.ID {
			t.Errorf("%s %s: %v (device %q)", c.Method, c.URL, err, id)
		}
		if _, err := v.Verify(request(c.Method, c.URL, got.Header), body); !errors.Is(err, devauth.ErrReplay) {
			t.Errorf("%s %s again: %v, want a replay", c.Method, c.URL, err)
		}
	}
	if got := res.Results[4]; got.Header != "" || !strings.Contains(got.Error, "HTTP token") {
		t.Errorf("method %q: %+v", cases[4].Method, got)
	}
}
