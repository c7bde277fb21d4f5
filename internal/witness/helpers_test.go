package witness

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"vigil/internal/vigiltest"

	vtlog "vigil/internal/tlog"
)

// testLog is a small in-memory Merkle log built with x/mod's tlog: its
// stored hashes, and a note signer named after its origin.
type testLog struct {
	t      testing.TB
	origin string
	signer note.Signer
	vkey   string
	hashes []tlog.Hash
	n      int64
}

func newTestLog(t testing.TB, origin string, entries int) *testLog {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{t: t, origin: origin, signer: s, vkey: vkey}
	l.add(entries, "entry")
	return l
}

// fork returns a log with the same key and the same first n entries.
func (l *testLog) fork(n int64) *testLog {
	f := &testLog{t: l.t, origin: l.origin, signer: l.signer, vkey: l.vkey}
	f.hashes = append(f.hashes, l.hashes[:tlog.StoredHashCount(n)]...)
	f.n = n
	return f
}

func (l *testLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(l.hashes)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = l.hashes[x]
	}
	return out, nil
}

// add appends k entries "<tag> <index>".
func (l *testLog) add(k int, tag string) {
	l.t.Helper()
	for range k {
		hs, err := tlog.StoredHashes(l.n, fmt.Appendf(nil, "%s %d", tag, l.n), l)
		if err != nil {
			l.t.Fatal(err)
		}
		l.hashes = append(l.hashes, hs...)
		l.n++
	}
}

func (l *testLog) root(n int64) tlog.Hash {
	l.t.Helper()
	h, err := tlog.TreeHash(n, l)
	if err != nil {
		l.t.Fatal(err)
	}
	return h
}

// checkpoint returns the log-signed checkpoint of the first n entries.
func (l *testLog) checkpoint(n int64) []byte {
	return l.signedBy(n, l.signer)
}

func (l *testLog) signedBy(n int64, signers ...note.Signer) []byte {
	l.t.Helper()
	text := torchwood.Checkpoint{Origin: l.origin, Tree: tlog.Tree{N: n, Hash: l.root(n)}}.String()
	b, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		l.t.Fatal(err)
	}
	return b
}

// proof returns the consistency proof from size old to size n.
func (l *testLog) proof(old, n int64) tlog.TreeProof {
	l.t.Helper()
	if old == 0 {
		return nil
	}
	p, err := tlog.ProveTree(n, old, l)
	if err != nil {
		l.t.Fatal(err)
	}
	return p
}

// body is an add-checkpoint request body.
func body(old int64, proof tlog.TreeProof, checkpoint []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		b.WriteString(h.String() + "\n")
	}
	b.WriteString("\n")
	b.Write(checkpoint)
	return b.Bytes()
}

const witnessName = "witness.test/w1"

// testWitness is a witness served over real HTTP on 127.0.0.1.
type testWitness struct {
	*Witness
	dir string
	url string
	srv *httptest.Server
}

func startWitness(t testing.TB, dir string, logs ...*testLog) *testWitness {
	t.Helper()
	m := map[string]string{}
	for _, l := range logs {
		m[l.origin] = l.vkey
	}
	return startNamedWitness(t, dir, witnessName, m)
}

// startNamedWitness starts a witness named name for logs (origin → vkey).
func startNamedWitness(t testing.TB, dir, name string, logs map[string]string) *testWitness {
	t.Helper()
	s, _, err := LoadOrCreateKey(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Config{Dir: dir, Signer: s, Logs: logs, Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	tw := &testWitness{Witness: w, dir: dir, url: srv.URL, srv: srv}
	t.Cleanup(tw.stop)
	return tw
}

func (tw *testWitness) stop() {
	tw.srv.Close()
	tw.Close()
}

type answer struct {
	status int
	ctype  string
	body   string
}

func post(t testing.TB, url string, b []byte) answer {
	t.Helper()
	resp, err := http.Post(url+"/add-checkpoint", "text/plain", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(rb)}
}

// mustCosign posts and checks that the answer is a valid cosignature by the
// witness over checkpoint.
func (tw *testWitness) mustCosign(t testing.TB, old int64, proof tlog.TreeProof, checkpoint []byte) {
	t.Helper()
	a := post(t, tw.url, body(old, proof, checkpoint))
	if a.status != http.StatusOK {
		t.Fatalf("add-checkpoint: %d %q, want 200", a.status, a.body)
	}
	v, err := vtlog.NewCosignatureVerifier(tw.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	text, _ := noteText(checkpoint)
	n, err := note.Open([]byte(text+"\n"+a.body), note.VerifierList(v))
	if err != nil {
		t.Fatalf("the answer %q is not a cosignature by the witness: %v", a.body, err)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Name != witnessName {
		t.Fatalf("cosignatures %+v, want one by %s", n.Sigs, witnessName)
	}
	if ts, err := torchwood.CosignatureTimestamp(n.Sigs[0]); err != nil || ts <= 0 {
		t.Fatalf("cosignature timestamp %d, %v", ts, err)
	}
}

// heldSize returns the size the witness holds for l (-1 for none) and
// checks it is l's own tree at that size.
func (tw *testWitness) heldSize(t testing.TB, l *testLog) int64 {
	t.Helper()
	ls := tw.logs[l.origin]
	ls.mu.Lock()
	h := ls.held
	ls.mu.Unlock()
	if h == nil {
		return -1
	}
	if h.checkpoint.Hash != l.root(h.checkpoint.N) {
		t.Fatalf("the witness holds size %d with root %s, not the log's %s", h.checkpoint.N, h.checkpoint.Hash, l.root(h.checkpoint.N))
	}
	return h.checkpoint.N
}
