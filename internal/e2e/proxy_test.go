package e2e

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"testing"

	"vigil/internal/vigiltest"
)

// newProxy serves the cloud at target on a loopback origin of its own, as
// a cloud that lies would: serve (nil: none) answers a request itself and
// returns true, or returns false to pass it on (changed, if it likes);
// modify (nil: none) may change the cloud's answer, as
// httputil.ReverseProxy.ModifyResponse. Requests ask the cloud for plain
// bytes, so that modify can edit them. It returns the proxy's URL.
func newProxy(t testing.TB, target string, serve func(http.ResponseWriter, *http.Request) bool, modify func(*http.Response) error) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = modify
	rp.ErrorLog = slog.NewLogLogger(vigiltest.Logger(t).With("component", "proxy").Handler(), slog.LevelWarn)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if serve != nil && serve(w, r) {
			return
		}
		r.Header.Del("Accept-Encoding")
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// editBody replaces the body of the cloud's answer with edit's result (an
// error fails the answer); the answer's validators (ETag, Last-Modified)
// go with the old body.
func editBody(resp *http.Response, edit func([]byte) ([]byte, error)) error {
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		b, err = edit(b)
	}
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
	resp.Header.Del("ETag")
	resp.Header.Del("Last-Modified")
	return nil
}
