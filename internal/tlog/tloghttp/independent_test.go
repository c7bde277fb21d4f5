package tloghttp_test

// This file is the check that an outside client can verify the log: its
// client half knows only the published specifications (C2SP tlog-tiles,
// tlog-checkpoint, signed-note; RFC 6962 hashing) and uses only
// golang.org/x/mod/sumdb/{tlog,note}, net/http and the standard library.
// Nothing of Vigil's (nor torchwood) is used to fetch, parse or verify.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"vigil/internal/blob"
	"vigil/internal/tlog"
	"vigil/internal/tlog/tloghttp"
	"vigil/internal/tlog/tlogtest"
	"vigil/internal/vigiltest"
)

// ---- Server half: Vigil's log, served by the real Handler. ----

type server struct {
	url     string
	vkey    string
	entries [][]byte
	log     *tlog.Log
}

func startServer(t *testing.T) *server {
	t.Helper()
	ctx := context.Background()
	dir, err := blob.OpenDir(t.TempDir(), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	st := tlog.NewBlobStorage(dir, "tlog")
	skey, vkey, err := tlog.GenerateKey("vigil.test/tlog")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	w := tlogtest.NewWitness(t, "witness.test", vkey)
	l, err := tlog.Open(ctx, tlog.Config{Origin: "vigil.test/tlog", Signer: signer, Storage: st,
		Witnesses: []tlog.Witness{w}, Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	mux := http.NewServeMux()
	mux.Handle("/tlog/", tloghttp.Handler(st, vkey, nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &server{url: srv.URL, vkey: vkey, log: l}
}

func (s *server) append(t *testing.T, n int) {
	t.Helper()
	batch := make([][]byte, n)
	for i := range batch {
		batch[i] = []byte(fmt.Sprintf("entry %d: %s", len(s.entries)+i, strings.Repeat("v", (len(s.entries)+i)%97)))
	}
	if _, err := s.log.Append(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	s.entries = append(s.entries, batch...)
}

// ---- Client half: the specifications, x/mod and net/http only. ----

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 20<<20))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return body
}

// c2spTilePath formats a tile path per C2SP tlog-tiles: tile/<L>/<N> or
// tile/entries/<N>, N in groups of three digits, all but the last
// prefixed with "x", and .p/<W> for a partial tile.
func c2spTilePath(t sumtlog.Tile) string {
	level := strconv.Itoa(t.L)
	if t.L == -1 {
		level = "entries"
	}
	n := t.N
	groups := []string{fmt.Sprintf("%03d", n%1000)}
	for n >= 1000 {
		n /= 1000
		groups = append([]string{fmt.Sprintf("x%03d", n%1000)}, groups...)
	}
	p := "tile/" + level + "/" + strings.Join(groups, "/")
	if t.W < 256 {
		p += ".p/" + strconv.Itoa(t.W)
	}
	return p
}

// httpTiles is an x/mod TileReader over HTTP.
type httpTiles struct {
	t    *testing.T
	base string
	n    int // tiles fetched
}

func (r *httpTiles) Height() int { return 8 }

func (r *httpTiles) ReadTiles(tiles []sumtlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		out[i] = httpGet(r.t, r.base+"/tlog/"+c2spTilePath(t))
		r.n++
	}
	return out, nil
}

func (r *httpTiles) SaveTiles([]sumtlog.Tile, [][]byte) {}

// openCheckpoint verifies a checkpoint note with the log's key and parses
// its body per C2SP tlog-checkpoint: origin, size, base64 root.
func openCheckpoint(t *testing.T, msg []byte, v note.Verifier) (string, sumtlog.Tree) {
	t.Helper()
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatalf("opening the checkpoint: %v\n%s", err, msg)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) != 4 || lines[3] != "" {
		t.Fatalf("checkpoint body %q: want three lines", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != 32 {
		t.Fatalf("root hash %q", lines[2])
	}
	var tree sumtlog.Tree
	tree.N = size
	copy(tree.Hash[:], h)
	return lines[0], tree
}

// bundleEntries parses an entry bundle: each entry a 2-byte big-endian
// length and its bytes.
func bundleEntries(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			t.Fatalf("entry bundle: a trailing byte")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			t.Fatalf("entry bundle: entry of %d bytes past the end", n)
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out
}

func TestIndependentClient(t *testing.T) {
	s := startServer(t)
	s.append(t, 1234)
	oldMsg := httpGet(t, s.url+"/tlog/checkpoint")
	s.append(t, 1000)
	s.append(t, 1)
	s.append(t, 1565)

	// The key the log serves is the one it was made with.
	vkey := strings.TrimSpace(string(httpGet(t, s.url+"/tlog/key")))
	if vkey != s.vkey {
		t.Fatalf("/tlog/key = %q, want %q", vkey, s.vkey)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	newMsg := httpGet(t, s.url+"/tlog/checkpoint")
	origin, tree := openCheckpoint(t, newMsg, v)
	oldOrigin, oldTree := openCheckpoint(t, oldMsg, v)
	if origin != "vigil.test/tlog" || oldOrigin != origin || tree.N != 3800 || oldTree.N != 1234 {
		t.Fatalf("checkpoints: %s %d, %s %d", origin, tree.N, oldOrigin, oldTree.N)
	}

	tiles := &httpTiles{t: t, base: s.url}
	hr := sumtlog.TileHashReader(tree, tiles)

	// Inclusion of entries read from the entry bundles.
	for _, idx := range []int64{0, 1, 255, 256, 1233, 1234, 2047, 2048, 3000, 3799} {
		bt := sumtlog.Tile{H: 8, L: -1, N: idx / 256, W: int(min(256, tree.N-idx/256*256))}
		es := bundleEntries(t, httpGet(t, s.url+"/tlog/"+c2spTilePath(bt)))
		if len(es) != bt.W {
			t.Fatalf("bundle %s has %d entries, want %d", c2spTilePath(bt), len(es), bt.W)
		}
		e := es[idx%256]
		if !bytes.Equal(e, s.entries[idx]) {
			t.Fatalf("entry %d = %q, the server appended %q", idx, e, s.entries[idx])
		}
		proof, err := sumtlog.ProveRecord(tree.N, idx, hr)
		if err != nil {
			t.Fatalf("ProveRecord(%d): %v", idx, err)
		}
		if err := sumtlog.CheckRecord(proof, tree.N, tree.Hash, idx, sumtlog.RecordHash(e)); err != nil {
			t.Fatalf("entry %d is not included: %v", idx, err)
		}
		if err := sumtlog.CheckRecord(proof, tree.N, tree.Hash, idx, sumtlog.RecordHash(append(e, '!'))); err == nil {
			t.Fatalf("a changed entry %d passed the inclusion check", idx)
		}
	}

	// Consistency between the two checkpoints.
	proof, err := sumtlog.ProveTree(tree.N, oldTree.N, hr)
	if err != nil {
		t.Fatal(err)
	}
	if err := sumtlog.CheckTree(proof, tree.N, tree.Hash, oldTree.N, oldTree.Hash); err != nil {
		t.Fatalf("the checkpoints of size %d and %d are not consistent: %v", oldTree.N, tree.N, err)
	}
	wrong := oldTree.Hash
	wrong[0] ^= 1
	if err := sumtlog.CheckTree(proof, tree.N, tree.Hash, oldTree.N, wrong); err == nil {
		t.Fatalf("the consistency check passed for a wrong old root")
	}
	// The old root is also what the new tree's tiles give for its prefix.
	if h, err := sumtlog.TreeHash(oldTree.N, hr); err != nil || h != oldTree.Hash {
		t.Fatalf("TreeHash(%d) from the tiles = %v, %v; the old checkpoint says %v", oldTree.N, h, err, oldTree.Hash)
	}
	if tiles.n == 0 {
		t.Fatal("no tile was fetched")
	}
}
