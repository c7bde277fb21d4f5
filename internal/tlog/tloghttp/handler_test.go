package tloghttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"vigil/internal/tlog"
	"vigil/internal/tlog/tloghttp"
	"vigil/internal/tlog/tlogtest"
)

type fixture struct {
	st      *tlog.MemoryStorage
	log     *tlog.Log
	vkey    string
	witness *tlogtest.Witness
	url     string
	entries [][]byte
}

func newFixture(t *testing.T, handler func(st tlog.Storage, vkey string) http.Handler) *fixture {
	t.Helper()
	skey, vkey, err := tlog.GenerateKey("vigil.test/tlog")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: tlog.NewMemoryStorage(), vkey: vkey, witness: tlogtest.NewWitness(t, "w.test", vkey)}
	f.log, err = tlog.Open(context.Background(), tlog.Config{Origin: "vigil.test/tlog", Signer: signer,
		Storage: f.st, Witnesses: []tlog.Witness{f.witness}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.log.Close() })
	if handler == nil {
		handler = func(st tlog.Storage, vkey string) http.Handler {
			return tloghttp.Handler(st, vkey, func(context.Context) ([]int64, error) { return []int64{3, 700}, nil })
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/tlog/", handler(f.st, vkey))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fixture) append(t *testing.T, n int) {
	t.Helper()
	for range n {
		f.entries = append(f.entries, []byte(strings.Repeat("e", len(f.entries)%50+1)))
	}
	if _, err := f.log.Append(context.Background(), f.entries[len(f.entries)-n:]); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, method, url string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestHandler(t *testing.T) {
	f := newFixture(t, nil)
	f.append(t, 300)
	ctx := context.Background()

	resp, body := get(t, "GET", f.url+"/tlog/checkpoint")
	if resp.StatusCode != 200 || !bytes.Equal(body, f.log.Checkpoint()) ||
		resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("checkpoint: %s %q %v", resp.Status, body, resp.Header)
	}
	for _, p := range []string{"tile/0/000", "tile/0/001.p/44", "tile/1/000.p/1", "tile/entries/000", "tile/entries/001.p/44"} {
		want, err := f.st.Tile(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		resp, body := get(t, "GET", f.url+"/tlog/"+p)
		if resp.StatusCode != 200 || !bytes.Equal(body, want) ||
			resp.Header.Get("Content-Type") != "application/octet-stream" ||
			resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Errorf("%s: %s, %d bytes, %v", p, resp.Status, len(body), resp.Header)
		}
	}
	for _, p := range []string{"tile/0/002", "tile/0/001.p/45", "tile/0/001", "tile/entries/001", "tile/0/1", "tile/8/0/000",
		"tile/data/000", "tile/0/000.p/256", "tile/0/x000/000", "tile", "tile/", "nothing", "", "checkpoint/", "tile/0/000/"} {
		resp, _ := get(t, "GET", f.url+"/tlog/"+p)
		if resp.StatusCode != 404 || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%q: %s, Cache-Control %q; want 404, no-store", p, resp.Status, resp.Header.Get("Cache-Control"))
		}
	}
	resp, body = get(t, "GET", f.url+"/tlog/key")
	if resp.StatusCode != 200 || string(body) != f.vkey+"\n" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("key: %s %q", resp.Status, body)
	}
	resp, body = get(t, "GET", f.url+"/tlog/releases")
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"releases":[{"index":3},{"index":700}]}` {
		t.Errorf("releases: %s %s", resp.Status, body)
	}
	resp, _ = get(t, "POST", f.url+"/tlog/checkpoint")
	if resp.StatusCode != 405 {
		t.Errorf("POST: %s", resp.Status)
	}
	resp, body = get(t, "HEAD", f.url+"/tlog/tile/0/000")
	if resp.StatusCode != 200 || len(body) != 0 {
		t.Errorf("HEAD: %s", resp.Status)
	}

	// The Fetcher: releases, and a client that follows the log.
	fe := &tloghttp.Fetcher{BaseURL: f.url}
	if r, err := fe.Releases(ctx); err != nil || len(r) != 2 || r[1] != 700 {
		t.Errorf("Releases = %v, %v", r, err)
	}
	p, err := tlog.NewPolicy(f.vkey, []string{f.witness.VKey()}, 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tlog.NewClient(p, fe, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := c.Update(ctx); err != nil || cp.N != 300 {
		t.Fatalf("Update: %+v, %v", cp, err)
	}
	f.append(t, 1000)
	if cp, err := c.Update(ctx); err != nil || cp.N != 1300 {
		t.Fatalf("Update: %+v, %v", cp, err)
	}
	for _, i := range []int64{0, 299, 300, 1299} {
		if e, err := c.Entry(ctx, i); err != nil || !bytes.Equal(e, f.entries[i]) {
			t.Errorf("Entry(%d) = %q, %v", i, e, err)
		}
	}
}

func TestHandlerStripPrefixAndEmpty(t *testing.T) {
	f := newFixture(t, func(st tlog.Storage, vkey string) http.Handler {
		return http.StripPrefix("/tlog", tloghttp.Handler(st, vkey, nil))
	})
	resp, body := get(t, "GET", f.url+"/tlog/releases")
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"releases":[]}` {
		t.Errorf("releases with no func: %s %s", resp.Status, body)
	}
	resp, body = get(t, "GET", f.url+"/tlog/checkpoint")
	if resp.StatusCode != 200 || !bytes.Equal(body, f.log.Checkpoint()) {
		t.Errorf("checkpoint behind StripPrefix: %s", resp.Status)
	}
	// An empty storage has no checkpoint: 404.
	srv := httptest.NewServer(tloghttp.Handler(tlog.NewMemoryStorage(), f.vkey, nil))
	defer srv.Close()
	if resp, _ := get(t, "GET", srv.URL+"/tlog/checkpoint"); resp.StatusCode != 404 {
		t.Errorf("checkpoint of an empty storage: %s", resp.Status)
	}
	if _, err := (&tloghttp.Fetcher{BaseURL: srv.URL}).Checkpoint(context.Background()); !errors.Is(err, tlog.ErrNotFound) {
		t.Errorf("Fetcher.Checkpoint of an empty log: %v", err)
	}
}

// fullOnly hides the partial tiles whose full tile exists, as C2SP lets a
// log do.
type fullOnly struct{ tlog.Storage }

func (s fullOnly) Tile(ctx context.Context, p string) ([]byte, error) {
	if i := strings.Index(p, ".p/"); i >= 0 {
		if _, err := s.Storage.Tile(ctx, p[:i]); err == nil {
			return nil, tlog.ErrNotFound
		}
	}
	return s.Storage.Tile(ctx, p)
}

func TestFetcherFallsBackToFullTiles(t *testing.T) {
	f := newFixture(t, func(st tlog.Storage, vkey string) http.Handler {
		return tloghttp.Handler(fullOnly{st}, vkey, nil)
	})
	f.append(t, 44)
	f.append(t, 300)
	ctx := context.Background()
	if resp, _ := get(t, "GET", f.url+"/tlog/tile/0/000.p/44"); resp.StatusCode != 404 {
		t.Fatalf("the server still serves the replaced partial tile: %s", resp.Status)
	}
	fe := &tloghttp.Fetcher{BaseURL: f.url}
	tiles := []sumtlog.Tile{{H: 8, L: 0, N: 0, W: 44}, {H: 8, L: -1, N: 0, W: 44}, {H: 8, L: 0, N: 1, W: 88}, {H: 8, L: 0, N: 0, W: 256}}
	got, err := fe.ReadTiles(ctx, tiles)
	if err != nil {
		t.Fatal(err)
	}
	for i, tile := range tiles {
		want, err := f.st.Tile(ctx, tlog.TilePath(tile))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[i], want) {
			t.Errorf("tile %s: %d bytes, want the %d of the partial tile", tlog.TilePath(tile), len(got[i]), len(want))
		}
	}
	if _, err := fe.ReadTiles(ctx, []sumtlog.Tile{{H: 8, L: 0, N: 5, W: 3}}); !errors.Is(err, tlog.ErrNotFound) {
		t.Errorf("a tile that is nowhere: %v", err)
	}
}

// The Fetcher bounds what it reads and refuses malformed answers.
func TestFetcherLimits(t *testing.T) {
	big := bytes.Repeat([]byte("a"), 1<<20+1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/tlog/checkpoint":
			w.Write(big)
		case "/tlog/tile/0/000":
			w.Write(make([]byte, 256*32+1))
		case "/tlog/releases":
			json.NewEncoder(w).Encode(map[string]any{"releases": []map[string]any{{"index": 1, "extra": 2}}})
		default:
			http.Error(w, "boom", 500)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	fe := &tloghttp.Fetcher{BaseURL: srv.URL}
	if _, err := fe.Checkpoint(ctx); !errors.Is(err, tlog.ErrMalformed) {
		t.Errorf("an oversized checkpoint: %v", err)
	}
	if _, err := fe.ReadTiles(ctx, []sumtlog.Tile{{H: 8, L: 0, N: 0, W: 256}}); !errors.Is(err, tlog.ErrMalformed) {
		t.Errorf("an oversized tile: %v", err)
	}
	if _, err := fe.ReadTiles(ctx, []sumtlog.Tile{{H: 8, L: 0, N: 1, W: 256}}); err == nil || errors.Is(err, tlog.ErrNotFound) {
		t.Errorf("a 500: %v", err)
	}
	if _, err := fe.Releases(ctx); !errors.Is(err, tlog.ErrMalformed) {
		t.Errorf("releases with an unknown field: %v", err)
	}
	if _, err := fe.ReadTiles(ctx, []sumtlog.Tile{{H: 4, L: 0, N: 0, W: 3}}); !errors.Is(err, tlog.ErrMalformed) {
		t.Errorf("a tile of height 4: %v", err)
	}
}

// FuzzHandlerPath: any path is answered without a panic, and 200 only for
// the checkpoint, key, releases and stored tiles.
func FuzzHandlerPath(f *testing.F) {
	for _, p := range []string{"/tlog/checkpoint", "/tlog/tile/0/000", "/tlog/tile/entries/000.p/5", "/tlog/tile/0/x001/234",
		"/tlog/../tlog/checkpoint", "/tlog/tile/0/000.p/0", "/tlog/key", "/tlog/releases", "/tlog/tile/data/000"} {
		f.Add(p)
	}
	st := tlog.NewMemoryStorage()
	ctx := context.Background()
	st.PutTile(ctx, "tile/0/000.p/5", make([]byte, 5*32))
	st.PutTile(ctx, "tile/entries/000.p/5", []byte{0, 1, 'a', 0, 1, 'b', 0, 1, 'c', 0, 1, 'd', 0, 1, 'e'})
	h := tloghttp.Handler(st, "vigil.test/tlog+01234567+AAAA", nil)
	f.Fuzz(func(t *testing.T, p string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path = p
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == 200 {
			rest := strings.TrimPrefix(strings.TrimPrefix(p, "/"), "tlog/")
			switch rest {
			case "checkpoint", "key", "releases", "tile/0/000.p/5", "tile/entries/000.p/5":
			default:
				t.Fatalf("200 for %q", p)
			}
		}
	})
}
