package e2e

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"vigil/internal/history"
	"vigil/internal/keydir"
	"vigil/internal/tlog"
	"vigil/internal/tlog/tloghttp"
)

// standInLog is the transparency log of the browser tests' stand-ins for
// the cloud: it logs the head of every chain it is shown (as the cloud
// logs every head) and serves GET /v1/log and /tlog/, so that the web app,
// which uses a chain only with its head proven in the log, can run
// against them.
type standInLog struct {
	vkey string
	st   *tlog.MemoryStorage
	lg   *tlog.Log

	mu    sync.Mutex
	index map[string]int64 // chain head entry (hex) → log index
}

func newStandInLog(t testing.TB) *standInLog {
	t.Helper()
	skey, vkey, err := tlog.GenerateKey("standin.test/tlog")
	if err != nil {
		t.Fatal(err)
	}
	l := &standInLog{vkey: vkey, st: tlog.NewMemoryStorage(), index: map[string]int64{}}
	l.lg = openLog(t, skey, l.st)
	return l
}

// indexes returns the log index of each link's head, logging the heads
// the log does not hold yet.
func (l *standInLog) indexes(links [][]byte) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]int64, len(links))
	if len(links) == 0 {
		return out
	}
	tk, _ := history.NewTagKey(keydir.LinkHash(links[0]))
	for i, link := range links {
		e, _ := tk.ChainHeadEntry(int64(i), keydir.LinkHash(link))
		k := hex.EncodeToString(e)
		ix, ok := l.index[k]
		if !ok {
			var err error
			if ix, err = l.lg.Append(context.Background(), [][]byte{e}); err != nil {
				ix = -1
			} else {
				l.index[k] = ix
			}
		}
		out[i] = ix
	}
	return out
}

// ServeHTTP serves GET /v1/log, /tlog/... and POST /index (the hex links
// of a chain as a JSON list → their heads' log indexes).
func (l *standInLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	switch {
	case r.URL.Path == "/v1/log":
		w.Header().Set("Content-Type", "application/json")
		origin, _, _ := strings.Cut(l.vkey, "+")
		json.NewEncoder(w).Encode(history.LogPolicy{Origin: origin, Key: l.vkey, Witnesses: []string{}, Quorum: 0})
	case strings.HasPrefix(r.URL.Path, "/tlog/"):
		http.StripPrefix("/tlog", tloghttp.Handler(l.st, l.vkey, nil)).ServeHTTP(w, r)
	case r.URL.Path == "/index" && r.Method == "POST":
		var hexLinks []string
		b, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		json.Unmarshal(b, &hexLinks)
		links := make([][]byte, len(hexLinks))
		for i, s := range hexLinks {
			links[i], _ = hex.DecodeString(s)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(l.indexes(links))
	default:
		http.NotFound(w, r)
	}
}
