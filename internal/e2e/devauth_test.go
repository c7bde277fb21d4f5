package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/consent"
	"vigil/internal/devauth"
	"vigil/internal/keydir"
)

// consentCase is a consent the browser checks as an annotator's page does
// (web/src/label/consent.ts) before it shows a frame.
type consentCase struct {
	Name      string `json:"name"`
	Signed    string `json:"signed"`
	Pub       string `json:"pub"`    // base64url: the donor device's key the listing gives
	Object    string `json:"object"` // base64url: the sealed bytes fetched
	Workspace string `json:"workspace"`
	ID        string `json:"id"`
	Now       int64  `json:"now"` // Unix ms
}

// consentCases returns consents, valid and not, and a check that the
// browser's verdict on each is consent.VerifyWithKey's.
func consentCases(t *testing.T) ([]consentCase, func(t *testing.T, n int, got func(int) (bool, string))) {
	t.Helper()
	k, _ := keydir.NewDeviceKeys()
	other, _ := keydir.NewDeviceKeys()
	object := make([]byte, 5000)
	rand.Read(object)
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	_, _, hh, err := keydir.NewHousehold("Home", k, "laptop", now)
	if err != nil {
		t.Fatal(err)
	}
	_, _, wst, err := keydir.NewHousehold("Person detection", other, "lead", now)
	if err != nil {
		t.Fatal(err)
	}
	ws := wst.HouseholdID
	c := consent.Consent{V: 1, ID: consent.NewID(), Household: hh.HouseholdID, Device: k.ID(), Workspace: ws,
		Purpose: consent.PurposePersonDetection, Camera: consent.CameraDigest("front"), From: now.Add(-time.Hour), To: now.Add(-time.Hour + 20*time.Second),
		Event: "ev-1", Object: sha256.Sum256(object), Created: now, Expires: now.Add(consent.DefaultLife)}
	good, err := consent.Sign(k, c)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	// raw signs body bytes as they are (the signer's own encoding).
	raw := func(body string) string {
		return b64([]byte(body)) + "." + b64(ed25519.Sign(k.Sign, append([]byte("vigil/labelling/v1/consent\x00"), body...)))
	}
	body := string(good.Body)
	flipped := consent.Signed{Body: good.Body, Sig: bytes.Clone(good.Sig)}
	flipped.Sig[9] ^= 1
	pub := b64(k.Sign.Public().(ed25519.PublicKey))
	at := now.Add(time.Minute).UnixMilli()
	cs := []consentCase{
		{Name: "valid", Signed: good.String()},
		{Name: "valid, an instant before it expires", Signed: good.String(), Now: c.Expires.UnixMilli() - 1},
		{Name: "expired", Signed: good.String(), Now: c.Expires.UnixMilli()},
		{Name: "bad signature", Signed: flipped.String()},
		{Name: "another device's key", Signed: good.String(), Pub: b64(other.Sign.Public().(ed25519.PublicKey))},
		{Name: "other bytes", Signed: good.String(), Object: b64(object[1:])},
		{Name: "whitespace", Signed: raw(strings.Replace(body, `,"id"`, `, "id"`, 1))},
		{Name: "fields reordered", Signed: raw(strings.Replace(strings.Replace(body, `"v":1,`, ``, 1), `"audio":false`, `"audio":false,"v":1`, 1))},
		{Name: "extra field", Signed: raw(strings.Replace(body, `"audio":false`, `"audio":false,"x":1`, 1))},
		{Name: "unknown purpose", Signed: raw(strings.Replace(body, consent.PurposePersonDetection, "improve-face-recognition", 1))},
		{Name: "time without milliseconds", Signed: raw(strings.Replace(body, c.Created.Format("2006-01-02T15:04:05.000Z"), c.Created.Format(time.RFC3339), 1))},
		{Name: "expires before created", Signed: raw(strings.Replace(body, c.Expires.Format("2006-01-02T15:04:05.000Z"), now.Add(-time.Second).Format("2006-01-02T15:04:05.000Z"), 1))},
		{Name: "version 2", Signed: raw(strings.Replace(body, `"v":1`, `"v":2`, 1))},
		{Name: "not JSON", Signed: raw("consent")},
		{Name: "no signature", Signed: b64(good.Body)},
	}
	for i := range cs {
		if cs[i].Pub == "" {
			cs[i].Pub = pub
		}
		if cs[i].Object == "" {
			cs[i].Object = b64(object)
		}
		if cs[i].Now == 0 {
			cs[i].Now = at
		}
		cs[i].Workspace, cs[i].ID = ws, c.ID
	}
	check := func(t *testing.T, n int, got func(int) (bool, string)) {
		t.Helper()
		if n != len(cs) {
			t.Fatalf("%d consent verdicts for %d cases", n, len(cs))
		}
		for i, tc := range cs {
			ok, msg := got(i)
			pk, _ := base64.RawURLEncoding.DecodeString(tc.Pub)
			obj, _ := base64.RawURLEncoding.DecodeString(tc.Object)
			var goErr error
			s, err := consent.ParseSigned(tc.Signed)
			if err == nil {
				_, err = consent.VerifyWithKey(s, pk, time.UnixMilli(tc.Now), sha256.Sum256(obj))
			}
			goErr = err
			if ok != (goErr == nil) {
				t.Errorf("consent %q: the browser says ok=%v (%s); Go says %v", tc.Name, ok, msg, goErr)
			}
		}
		if ok, _ := got(0); !ok {
			t.Error("the browser refuses a valid consent")
		}
	}
	return cs, check
}

// TestBrowserDeviceRequests: requests signed in Chromium by
// web/src/crypto/devauth.ts with the browser's non-extractable device key
// verify with internal/devauth — method, target (escaped path and query),
// host, time, nonce and the body's SHA-256 — and stop verifying when any of
// them changes. A method that is not an HTTP token is refused in the
// browser. The same page checks consents as an annotator's page does, and
// accepts exactly those consent.VerifyWithKey accepts.
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
	consents, check := consentCases(t)
	var res struct {
		ID       string `json:"id"`
		SignPub  string `json:"signPub"`
		Results  []struct{ Header, Error string }
		Consents []struct {
			OK    bool
			Error string
		}
	}
	browsertest.Run(t, 2*time.Minute, "label-crypto.mjs", map[string]string{"INPUT": writeInput(t, map[string]any{"requests": cases, "consents": consents})}, &res)
	check(t, len(res.Consents), func(i int) (bool, string) { return res.Consents[i].OK, res.Consents[i].Error })
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
