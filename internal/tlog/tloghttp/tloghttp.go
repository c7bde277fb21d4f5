// Package tloghttp serves a transparency log over HTTP read-only (C2SP
// tlog-tiles: checkpoint, tiles, entry bundles; plus the log's key and the
// index of web app releases) and fetches one as a tlog.Fetcher.
//
// It owns the HTTP side only: paths, status codes, cache headers and size
// limits. It never writes to the log, never trusts what it fetches (the
// tlog.Client verifies everything), and never logs entries.
package tloghttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	sumtlog "golang.org/x/mod/sumdb/tlog"

	"vigil/internal/tlog"
)

// Handler serves the log in st read-only. Mount it at "/tlog/" as is
// (mux.Handle("/tlog/", h)) or with the prefix stripped
// (http.StripPrefix("/tlog", h)):
//
//	GET checkpoint                    the newest checkpoint (Cache-Control: no-store)
//	GET tile/<L>/<N>[.p/<W>]          hash tiles (immutable)
//	GET tile/entries/<N>[.p/<W>]      entry bundles (immutable)
//	GET key                           vkey, the log's note verifier key, one line
//	GET releases                      {"releases":[{"index":I},...]} from releases (nil: none)
//
// Absent or malformed paths are 404; methods other than GET and HEAD 405.
func Handler(st tlog.Storage, vkey string, releases func(ctx context.Context) ([]int64, error)) http.Handler {
	return &handler{st: st, vkey: strings.TrimSpace(vkey), releases: releases}
}

type handler struct {
	st       tlog.Storage
	vkey     string
	releases func(ctx context.Context) ([]int64, error)
}

// releasesDoc is the body of /tlog/releases.
type releasesDoc struct {
	Releases []release `json:"releases"`
}

type release struct {
	Index int64 `json:"index"`
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/")
	p = strings.TrimPrefix(p, "tlog/")
	ctx := r.Context()
	switch {
	case p == "checkpoint":
		cp, err := h.st.Checkpoint(ctx)
		if err != nil {
			h.fail(w, err)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(cp)
	case p == "key":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		io.WriteString(w, h.vkey+"\n")
	case p == "releases":
		doc := releasesDoc{Releases: []release{}}
		if h.releases != nil {
			idx, err := h.releases(ctx)
			if err != nil {
				h.fail(w, err)
				return
			}
			for _, i := range idx {
				doc.Releases = append(doc.Releases, release{Index: i})
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		json.NewEncoder(w).Encode(doc)
	case strings.HasPrefix(p, "tile/"):
		if _, err := tlog.ParseTilePath(p); err != nil {
			notFound(w)
			return
		}
		data, err := h.st.Tile(ctx, p)
		if err != nil {
			h.fail(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Write(data)
	default:
		notFound(w)
	}
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "not found", http.StatusNotFound)
}

func (h *handler) fail(w http.ResponseWriter, err error) {
	if errors.Is(err, tlog.ErrNotFound) {
		notFound(w)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "the log's storage is unavailable", http.StatusServiceUnavailable)
}

// Response size limits.
const (
	maxCheckpoint = 1 << 20
	maxReleases   = 4 << 20
	maxHashTile   = 256 * sumtlog.HashSize
	maxBundle     = 256 * (2 + tlog.MaxEntrySize)
)

// Fetcher implements tlog.Fetcher over HTTP. Nothing it returns is
// trusted: the tlog.Client verifies it.
type Fetcher struct {
	// BaseURL is the service's origin, e.g. "http://127.0.0.1:8080"; the
	// log is at BaseURL+"/tlog/".
	BaseURL string
	// HTTP is the client to use (nil: one with a 30 s timeout).
	HTTP *http.Client
}

var _ tlog.Fetcher = (*Fetcher)(nil)

var defaultClient = &http.Client{Timeout: 30 * time.Second}

// errStatus is a non-200 answer.
type errStatus struct {
	url  string
	code int
}

func (e *errStatus) Error() string { return fmt.Sprintf("GET %s: %s", e.url, http.StatusText(e.code)) }

func (f *Fetcher) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	u := strings.TrimSuffix(f.BaseURL, "/") + "/tlog/" + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("tloghttp: %w", err)
	}
	c := f.HTTP
	if c == nil {
		c = defaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tloghttp: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		err := &errStatus{url: u, code: resp.StatusCode}
		if resp.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("tloghttp: %w (%w)", tlog.ErrNotFound, err)
		}
		return nil, fmt.Errorf("tloghttp: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("tloghttp: GET %s: %w", u, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("tloghttp: GET %s: %w: the answer is over %d bytes", u, tlog.ErrMalformed, limit)
	}
	return data, nil
}

// Checkpoint implements tlog.Fetcher: GET /tlog/checkpoint.
func (f *Fetcher) Checkpoint(ctx context.Context) ([]byte, error) {
	return f.get(ctx, "checkpoint", maxCheckpoint)
}

// ReadTiles implements tlog.Fetcher, fetching up to 8 tiles at a time. A
// partial tile the server does not have (404) is read from the full tile
// and truncated, as C2SP tlog-tiles allows a log to serve only full tiles.
func (f *Fetcher) ReadTiles(ctx context.Context, tiles []sumtlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	errs := make([]error, len(tiles))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, t := range tiles {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i], errs[i] = f.readTile(ctx, t)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func (f *Fetcher) readTile(ctx context.Context, t sumtlog.Tile) ([]byte, error) {
	if t.H != tlog.TileHeight || t.L < -1 || t.W < 1 || t.W > 256 || t.N < 0 {
		return nil, fmt.Errorf("tloghttp: %w: tile %+v", tlog.ErrMalformed, t)
	}
	limit := int64(maxHashTile)
	if t.L == -1 {
		limit = maxBundle
	}
	data, err := f.get(ctx, tlog.TilePath(t), limit)
	if err == nil || t.W == 256 || !errors.Is(err, tlog.ErrNotFound) {
		return data, err
	}
	full := t
	full.W = 256
	data, err = f.get(ctx, tlog.TilePath(full), limit)
	if err != nil {
		return nil, err
	}
	return tlog.TruncateTile(t, data)
}

// Releases fetches the indexes of the web app's release entries (GET
// /tlog/releases): a hint; the client proves each entry.
func (f *Fetcher) Releases(ctx context.Context) ([]int64, error) {
	data, err := f.get(ctx, "releases", maxReleases)
	if err != nil {
		return nil, err
	}
	var doc releasesDoc
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("tloghttp: %w: /tlog/releases: %v", tlog.ErrMalformed, err)
	}
	out := make([]int64, 0, len(doc.Releases))
	for _, r := range doc.Releases {
		if r.Index < 0 {
			return nil, fmt.Errorf("tloghttp: %w: /tlog/releases lists index %d", tlog.ErrMalformed, r.Index)
		}
		out = append(out, r.Index)
	}
	return out, nil
}
