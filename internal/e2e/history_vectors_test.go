package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"vigil/internal/browsertest"
	"vigil/internal/tlog"
	"vigil/internal/tlog/tloghttp"
	"vigil/internal/tlog/tlogtest"
)

// vectorOrigin is the origin of the logs TestBrowserHistoryVectors builds.
const vectorOrigin = "vectors.test/tlog"

// openLog opens a log signed by skey on st (for a fresh one, a new
// MemoryStorage), asking witnesses; it is closed when the test ends.
func openLog(t testing.TB, skey string, st tlog.Storage, witnesses ...tlog.Witness) *tlog.Log {
	t.Helper()
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tlog.Open(context.Background(), tlog.Config{Origin: signer.Name(), Signer: signer, Storage: st, Witnesses: witnesses})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// buildLog returns a storage holding a log of entries signed by skey
// (a fresh log under that key, as an insider with the key can make).
func buildLog(t *testing.T, skey string, entries [][]byte) *tlog.MemoryStorage {
	t.Helper()
	st := tlog.NewMemoryStorage()
	l := openLog(t, skey, st)
	defer l.Close()
	if len(entries) > 0 {
		if _, err := l.Append(context.Background(), entries); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// alteredStorage serves another storage with some tiles altered.
type alteredStorage struct {
	tlog.Storage
	alter map[string]func([]byte) []byte
}

func (a alteredStorage) Tile(ctx context.Context, path string) ([]byte, error) {
	b, err := a.Storage.Tile(ctx, path)
	if f := a.alter[path]; err == nil && f != nil {
		b = f(bytes.Clone(b))
	}
	return b, err
}

// oldCheckpoint serves a grown log's tiles with an older checkpoint of it.
type oldCheckpoint struct {
	tlog.Storage
	note []byte
}

func (o oldCheckpoint) Checkpoint(context.Context) ([]byte, error) { return o.note, nil }

// logServer serves each storage read-only at /<name>/tlog/, readable from
// any origin (as the cloud serves its log); "fullonly" answers 404 for a
// partial tile whose full tile exists, as a log that deletes partial tiles
// once they are full may (C2SP tlog-tiles: the client reads the full one).
func logServer(t *testing.T, vkey string, logs map[string]tlog.Storage) string {
	t.Helper()
	mux := http.NewServeMux()
	for name, st := range logs {
		h := http.StripPrefix("/"+name+"/tlog", tloghttp.Handler(st, vkey, nil))
		fullOnly := name == "fullonly"
		mux.Handle("/"+name+"/tlog/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Access-Control-Allow-Origin", "*")
			if full, partial, ok := strings.Cut(r.URL.Path, ".p/"); fullOnly && ok && partial != "" {
				if _, err := st.Tile(r.Context(), strings.TrimPrefix(full, "/"+name+"/tlog/")); err == nil {
					http.NotFound(w, r)
					return
				}
			}
			h.ServeHTTP(w, r)
		}))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// goCode is the TlogError code the browser should give for err.
func goCode(err error) string {
	var q *tlog.QuorumError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &q):
		return "quorum"
	case errors.Is(err, tlog.ErrBadSignature):
		return "bad-signature"
	case errors.Is(err, tlog.ErrMalformed):
		return "malformed"
	}
	return "other: " + err.Error()
}

type policyJSON struct {
	Key       string   `json:"key"`
	Witnesses []string `json:"witnesses"`
	Quorum    int      `json:"quorum"`
}

// TestBrowserHistoryVectors: the browser's tlog client and history code
// against Go's. Checkpoint notes (good, a forged cosignature, too few
// cosignatures, a witness counted twice, a forged log signature, another
// origin, extension lines, …) get the verdict internal/tlog gives; the
// client follows real logs served over HTTP (entries proven included,
// tree hashes equal to Go's, a consistent successor accepted, also from a
// server with only full tiles) and refuses a rollback, a split view, a
// fork, a rewritten tile, a rewritten entry bundle and another key; and
// internal/history/testdata/vectors.json opens to the same tags, chain
// head entry, records and refusals.
func TestBrowserHistoryVectors(t *testing.T) {
	skey, vkey, err := tlog.GenerateKey(vectorOrigin)
	if err != nil {
		t.Fatal(err)
	}
	entry := func(i int) []byte { return []byte(fmt.Sprintf("entry %06d of the vectors log", i)) }
	var v1, v2 [][]byte
	for i := range 70000 {
		if i < 300 {
			v1 = append(v1, entry(i))
		}
		v2 = append(v2, entry(i))
	}
	split := append([][]byte{}, v1...)
	split[5] = []byte("a rewritten entry 5")
	forked := append([][]byte{}, v1...)
	forked[100] = []byte("a rewritten entry 100")
	for i := 300; i < 400; i++ {
		forked = append(forked, entry(i))
	}
	s1, s2 := buildLog(t, skey, v1), buildLog(t, skey, v2)
	// A log that grew from v1 to v2, serving v1's checkpoint: the tiles of
	// v1's edge are full now (its partial tiles are also there, which the
	// "fullonly" server hides).
	grown := buildLog(t, skey, v1)
	if _, err := openLog(t, skey, grown).Append(context.Background(), v2[300:]); err != nil {
		t.Fatal(err)
	}
	old1, err := s1.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	otherSkey, _, err := tlog.GenerateKey(vectorOrigin)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(off int) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= 1; return b }
	}
	base := logServer(t, vkey, map[string]tlog.Storage{
		"v1": s1, "v2": s2, "fullonly": oldCheckpoint{grown, old1},
		"split":     buildLog(t, skey, split),
		"forked":    buildLog(t, skey, forked),
		"rewritten": alteredStorage{s2, map[string]func([]byte) []byte{"tile/0/001": flip(0), "tile/entries/000": flip(2)}},
		"otherkey":  buildLog(t, otherSkey, v1),
	})

	// Checkpoint notes, signed here.
	ctx := context.Background()
	logSigner, _ := note.NewSigner(skey)
	wa := tlogtest.NewWitness(t, "witness-a.test", vkey)
	wb := tlogtest.NewWitness(t, "witness-b.test", vkey)
	wc := tlogtest.NewWitness(t, "witness-c.test", vkey)
	p1 := policyJSON{vkey, []string{wa.VKey()}, 1}
	p2 := policyJSON{vkey, []string{wa.VKey(), wb.VKey()}, 2}
	p0 := policyJSON{vkey, []string{}, 0}
	c1, err := tlog.NewClient(mustPolicy(t, p0), tlog.StorageFetcher{Storage: s1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp1, err := c1.Update(ctx)
	if err != nil {
		t.Fatal(err)
	}
	root := base64.StdEncoding.EncodeToString(cp1.Hash[:])
	body := vectorOrigin + "\n300\n" + root + "\n"
	sign := func(text string, signers ...note.Signer) string {
		b, err := note.Sign(&note.Note{Text: text}, signers...)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	good := sign(body, logSigner, wa.Signer())
	lines := strings.SplitAfter(good, "\n")
	waLine := lines[len(lines)-2]
	flipSig := func(n, line string) string {
		name, sig, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(line, "— "), "\n"), " ")
		raw, _ := base64.StdEncoding.DecodeString(sig)
		raw[len(raw)-5] ^= 1
		return strings.Replace(n, line, "— "+name+" "+base64.StdEncoding.EncodeToString(raw)+"\n", 1)
	}
	logLine := lines[len(lines)-3]
	type cpCase struct {
		Name   string     `json:"name"`
		Policy policyJSON `json:"policy"`
		Note   string     `json:"note"`
		want   string
	}
	cases := []cpCase{
		{"good", p1, good, "ok"},
		{"no-cosignature", p1, sign(body, logSigner), "quorum"},
		{"forged-cosignature", p1, flipSig(good, waLine), "bad-signature"},
		{"unlisted-witness", p1, sign(body, logSigner, wc.Signer()), "quorum"},
		{"one-witness-twice", p2, good + waLine, "quorum"},
		{"two-witnesses", p2, sign(body, logSigner, wa.Signer(), wb.Signer()), "ok"},
		{"forged-log-signature", p1, flipSig(good, logLine), "bad-signature"},
		{"witness-only", p1, sign(body, wa.Signer()), "bad-signature"},
		{"other-origin", p0, sign("other.test/tlog\n300\n"+root+"\n", logSigner), "malformed"},
		{"extension-line", p0, sign(body+"ext\n", logSigner), "malformed"},
		{"non-canonical-size", p0, sign(vectorOrigin+"\n0300\n"+root+"\n", logSigner), "malformed"},
		{"empty-tree-wrong-root", p0, sign(vectorOrigin+"\n0\n"+root+"\n", logSigner), "malformed"},
		{"no-signature-block", p0, body, "malformed"},
		{"quorum-0", p0, sign(body, logSigner), "ok"},
	}
	for _, c := range cases {
		_, err := mustPolicy(t, c.Policy).Verify([]byte(c.Note))
		if got := goCode(err); got != c.want {
			t.Fatalf("case %s: Go says %s (%v), the test wants %s", c.Name, got, err, c.want)
		}
	}
	type polCase struct {
		Name   string     `json:"name"`
		Policy policyJSON `json:"policy"`
	}
	badHash := strings.Split(vkey, "+")
	badHash[1] = "00000000"
	pols := []polCase{
		{"ok", p2},
		{"witness-twice", policyJSON{vkey, []string{wa.VKey(), wa.VKey()}, 1}},
		{"log-key-as-witness", policyJSON{vkey, []string{vkey}, 1}},
		{"quorum-too-high", policyJSON{vkey, []string{wa.VKey()}, 2}},
		{"bad-key-hash", policyJSON{strings.Join(badHash, "+"), nil, 0}},
		{"witness-as-log-key", policyJSON{wa.VKey(), nil, 0}},
	}
	for _, c := range pols {
		_, err := tlog.NewPolicy(c.Policy.Key, c.Policy.Witnesses, c.Policy.Quorum)
		if got, want := goCode(err), map[bool]string{true: "ok", false: "malformed"}[c.Name == "ok"]; got != want {
			t.Fatalf("policy %s: Go says %s (%v)", c.Name, got, err)
		}
	}

	hv, err := os.ReadFile(filepath.Join("..", "history", "testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var hvec struct {
		Tags []struct {
			Tag string `json:"tag"`
		} `json:"tags"`
		ChainHead struct {
			Entry string `json:"entry"`
		} `json:"chain_head"`
		Records []struct {
			JSON string `json:"json"`
		} `json:"records"`
		Bad []struct {
			Name, Error string
		} `json:"bad"`
	}
	if err := json.Unmarshal(hv, &hvec); err != nil {
		t.Fatal(err)
	}
	entries := []int{0, 1, 255, 256, 299}
	sizes := []int64{1, 2, 3, 255, 256, 257, 300, 511, 65535, 65536, 65537, 69999, 70000}
	in := map[string]any{
		"checkpoints": cases, "policies": pols,
		"client":  map[string]any{"base": base, "key": vkey, "entries": entries, "sizes": sizes},
		"history": json.RawMessage(hv),
	}
	var res struct {
		Checkpoints map[string]struct {
			Size      *int64   `json:"size"`
			Cosigners []string `json:"cosigners"`
			Error     string   `json:"error"`
			Message   string   `json:"message"`
		} `json:"checkpoints"`
		Policies map[string]string `json:"policies"`
		Client   struct {
			Before  int64             `json:"before"`
			Entries map[string]string `json:"entries"`
			Trees   map[string]string `json:"treeHashes"`
			Last    string            `json:"lastEntry"`
		} `json:"client"`
		History struct {
			Tags      []string          `json:"tags"`
			ChainHead string            `json:"chainHead"`
			Records   []string          `json:"records"`
			Bad       map[string]string `json:"bad"`
		} `json:"history"`
	}
	var raw struct {
		Client map[string]json.RawMessage `json:"client"`
	}
	var out json.RawMessage
	browsertest.Run(t, 3*time.Minute, "tlog.mjs", map[string]string{"INPUT": writeInput(t, in)}, &out)
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatal(err)
	}

	for _, c := range cases {
		got := res.Checkpoints[c.Name]
		verdict := got.Error
		if verdict == "" && got.Size != nil {
			verdict = "ok"
		}
		if verdict != c.want {
			t.Errorf("checkpoint %s: the browser says %q (%s), Go and the test %q", c.Name, verdict, got.Message, c.want)
		}
	}
	if g := res.Checkpoints["good"]; g.Size == nil || *g.Size != 300 || fmt.Sprint(g.Cosigners) != "[witness-a.test]" {
		t.Errorf("good checkpoint: %+v", g)
	}
	if g := res.Checkpoints["two-witnesses"]; len(g.Cosigners) != 2 {
		t.Errorf("two witnesses cosigned, the browser counts %v", g.Cosigners)
	}
	for _, c := range pols {
		want := map[bool]string{true: "ok", false: "malformed"}[c.Name == "ok"]
		if res.Policies[c.Name] != want {
			t.Errorf("policy %s: the browser says %q, want %q", c.Name, res.Policies[c.Name], want)
		}
	}

	// The client.
	c2, err := tlog.NewClient(mustPolicy(t, p0), tlog.StorageFetcher{Storage: s2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp2, err := c2.Update(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type sized struct {
		Size int64  `json:"size"`
		Hash string `json:"hash"`
	}
	var g1, g2 sized
	json.Unmarshal(raw.Client["v1"], &g1)
	json.Unmarshal(raw.Client["v2"], &g2)
	if g1.Size != 300 || g1.Hash != hex.EncodeToString(cp1.Hash[:]) || g2.Size != 70000 || g2.Hash != hex.EncodeToString(cp2.Hash[:]) || res.Client.Before != 0 {
		t.Errorf("checkpoints the browser verified: %+v %+v (before %d)", g1, g2, res.Client.Before)
	}
	for _, i := range entries {
		if got := res.Client.Entries[fmt.Sprint(i)]; got != hex.EncodeToString(v1[i]) {
			t.Errorf("entry %d: the browser read %q", i, got)
		}
	}
	if res.Client.Last != hex.EncodeToString(v2[len(v2)-1]) {
		t.Errorf("last entry of v2: %q", res.Client.Last)
	}
	for _, n := range sizes {
		h, err := sumtlog.TreeHash(n, sumtlog.HashReaderFunc(func(idx []int64) ([]sumtlog.Hash, error) {
			out := make([]sumtlog.Hash, len(idx))
			for i, x := range idx {
				out[i], err = storedHash(v2, x)
				if err != nil {
					return nil, err
				}
			}
			return out, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Client.Trees[fmt.Sprint(n)]; got != hex.EncodeToString(h[:]) {
			t.Errorf("tree hash of size %d: the browser %s, Go %x", n, got, h)
		}
	}
	type attempt struct {
		OK      json.RawMessage `json:"ok"`
		Error   string          `json:"error"`
		Message string          `json:"message"`
	}
	want := map[string]string{
		"wrongEntry": "not-included", "beyond": "not-included", "sameAgain": "", "fullOnly": "",
		"older": "older", "split": "split-view", "forked": "inconsistent", "rewrittenTile": "malformed",
		"rewrittenBundle": "not-included", "otherKey": "bad-signature", "unreachable": "unavailable",
	}
	for k, w := range want {
		var a attempt
		json.Unmarshal(raw.Client[k], &a)
		if a.Error != w {
			t.Errorf("client %s: the browser says %q (%s), want %q", k, a.Error, a.Message, w)
		}
		t.Logf("client %s: %s %s", k, a.OK, a.Message)
	}
	var fo struct {
		OK struct {
			Size int64  `json:"size"`
			Last string `json:"last"`
		} `json:"ok"`
	}
	json.Unmarshal(raw.Client["fullOnly"], &fo)
	if fo.OK.Size != 300 || fo.OK.Last != hex.EncodeToString(v1[len(v1)-1]) {
		t.Errorf("through a server with full tiles only: %+v", fo.OK)
	}
	var kept int64
	json.Unmarshal(raw.Client["keptAfterOlder"], &kept)
	if kept != 70000 {
		t.Errorf("after an older checkpoint the client keeps size %d, want 70000", kept)
	}

	// The history vectors.
	h := res.History
	for i, tg := range hvec.Tags {
		if i >= len(h.Tags) || h.Tags[i] != tg.Tag {
			t.Errorf("tag %d: the browser %v, vector %s", i, h.Tags, tg.Tag)
		}
	}
	if h.ChainHead != hvec.ChainHead.Entry {
		t.Errorf("chain head entry: the browser %s", h.ChainHead)
	}
	for i, r := range hvec.Records {
		if i >= len(h.Records) || h.Records[i] != r.JSON {
			t.Errorf("record %d: the browser opened %q, vector %s", i, h.Records, r.JSON)
		}
	}
	for _, b := range hvec.Bad {
		if h.Bad[b.Name] != b.Error {
			t.Errorf("bad entry %q: the browser says %q, want %s", b.Name, h.Bad[b.Name], b.Error)
		}
	}
}

func mustPolicy(t *testing.T, p policyJSON) tlog.Policy {
	t.Helper()
	pol, err := tlog.NewPolicy(p.Key, p.Witnesses, p.Quorum)
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// storedHash computes the stored hash at index x of the tree of entries
// directly (RFC 6962), independently of any tile.
func storedHash(entries [][]byte, x int64) (sumtlog.Hash, error) {
	level, n := sumtlog.SplitStoredHashIndex(x)
	lo, hi := n<<level, (n+1)<<level
	if hi > int64(len(entries)) {
		return sumtlog.Hash{}, fmt.Errorf("hash %d/%d beyond %d entries", level, n, len(entries))
	}
	var rec func(lo, hi int64) sumtlog.Hash
	rec = func(lo, hi int64) sumtlog.Hash {
		if hi-lo == 1 {
			return sumtlog.RecordHash(entries[lo])
		}
		m := (lo + hi) / 2
		return sumtlog.NodeHash(rec(lo, m), rec(m, hi))
	}
	return rec(lo, hi), nil
}
