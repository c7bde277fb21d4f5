package witness

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	vtlog "vigil/internal/tlog"
)

// FuzzAddCheckpoint sends hostile bodies to a witness of one log. It must
// never panic or answer 5xx, and whatever it cosigns must be the log's one
// history (the fuzzer cannot forge the log's signature, so any checkpoint
// it gets cosigned is one the log signed).
func FuzzAddCheckpoint(f *testing.F) {
	l := newTestLog(f, "vigil.test/tlog", 300)
	for _, b := range malformed(l) {
		f.Add(b)
	}
	f.Add(body(0, nil, l.checkpoint(100)))
	f.Add(body(100, l.proof(100, 300), l.checkpoint(300)))
	f.Add(body(100, l.proof(100, 101), l.checkpoint(101)))
	f.Add(body(0, nil, l.checkpoint(0)))
	f.Add(body(3, l.proof(3, 300), l.checkpoint(300)))
	f.Add(body(300, nil, l.checkpoint(300)))
	f.Add(body(0, make(tlog.TreeProof, MaxProofLines), l.checkpoint(7)))

	s, _, err := LoadOrCreateKey(f.TempDir(), witnessName)
	if err != nil {
		f.Fatal(err)
	}
	w, err := New(Config{Dir: f.TempDir(), Signer: s, Logs: map[string]string{l.origin: l.vkey}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { w.Close() })
	v, err := vtlog.NewCosignatureVerifier(w.VerifierKey())
	if err != nil {
		f.Fatal(err)
	}
	roots := make([]tlog.Hash, l.n+1)
	for n := range roots {
		roots[n] = l.root(int64(n))
	}
	h := w.Handler()
	f.Fuzz(func(t *testing.T, b []byte) {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest(http.MethodPost, "/add-checkpoint", bytes.NewReader(b)))
		if rr.Code >= 500 {
			t.Fatalf("answered %d %q", rr.Code, rr.Body)
		}
		ls := w.logs[l.origin]
		ls.mu.Lock()
		held := ls.held
		ls.mu.Unlock()
		if held != nil && (held.checkpoint.N > l.n || held.checkpoint.Hash != roots[held.checkpoint.N]) {
			t.Fatalf("the witness holds size %d with a root that is not the log's", held.checkpoint.N)
		}
		if rr.Code == http.StatusOK {
			req, err := parseRequest(b)
			if err != nil {
				t.Fatalf("cosigned an unparseable request: %v", err)
			}
			text, _ := noteText(req.note)
			if _, err := note.Open(append([]byte(text+"\n"), rr.Body.Bytes()...), note.VerifierList(v)); err != nil {
				t.Fatalf("200 without a valid cosignature: %v", err)
			}
		}
	})
}

// FuzzParseRequest checks that the parser is strict: whatever it accepts is
// the one canonical encoding of what it returns.
func FuzzParseRequest(f *testing.F) {
	l := newTestLog(f, "vigil.test/tlog", 100)
	for _, b := range malformed(l) {
		f.Add(b)
	}
	f.Add(body(10, l.proof(10, 50), l.checkpoint(50)))
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := parseRequest(b)
		if err != nil {
			return
		}
		if len(req.proof) > MaxProofLines {
			t.Fatalf("%d proof lines accepted", len(req.proof))
		}
		if again := body(req.oldSize, req.proof, req.note); !bytes.Equal(again, b) {
			t.Fatalf("parsed %q but it encodes as %q", b, again)
		}
	})
}
