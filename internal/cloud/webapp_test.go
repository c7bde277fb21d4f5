package cloud_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"vigil/internal/blob"
	"vigil/internal/cloud"
	"vigil/internal/cloud/store"
)

// TestWebAppServing: hashed assets are cached long, index.html never; every
// app path gets the strict CSP; API and app answers carry nosniff and
// framing protection; the API never falls back to the app.
func TestWebAppServing(t *testing.T) {
	dir := t.TempDir()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "c.db"), store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	blobs, err := blob.OpenDir(filepath.Join(dir, "b"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	app := fstest.MapFS{
		"index.html":          {Data: []byte("<!doctype html><title>Vigil</title>")},
		"assets/index-abc.js": {Data: []byte("console.log(1)")},
	}
	srv, err := cloud.New(cloud.Options{Store: st, Blobs: blobs, App: app, PublicURL: "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	get := func(method, path string) (*http.Response, string) {
		req, _ := http.NewRequest(method, hs.URL+path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, string(b)
	}
	for _, p := range []string{"/", "/h/abc/cam/front", "/s/xyz"} {
		res, body := get("GET", p)
		if res.StatusCode != 200 || !strings.Contains(body, "<title>Vigil") {
			t.Errorf("GET %s: %d %q, want index.html", p, res.StatusCode, body)
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("GET %s: Cache-Control %q, want no-store", p, cc)
		}
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("CSP allows inline or eval: %q", csp)
		}
	}
	res, body := get("GET", "/assets/index-abc.js")
	if res.StatusCode != 200 || body != "console.log(1)" || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("asset: %d %q cache %q", res.StatusCode, body, res.Header.Get("Cache-Control"))
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("asset Content-Type %q", ct)
	}
	for _, p := range []string{"/assets/missing.js", "/assets/sub/missing.css", "/v1/nothing"} {
		if res, _ := get("GET", p); res.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
	if res, _ := get("POST", "/h/abc"); res.StatusCode != 404 {
		t.Errorf("POST to an app path: %d, want 404", res.StatusCode)
	}
	for _, p := range []string{"/", "/v1/account", "/assets/index-abc.js"} {
		res, _ := get("GET", p)
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("GET %s: security headers missing: %v", p, res.Header)
		}
	}
	if res, _ := get("GET", "/v1/account"); res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("API answers must not be cached: %q", res.Header.Get("Cache-Control"))
	}
}
