package witness

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestCosignsFirstCheckpointAndConsistentSuccessors(t *testing.T) {
	dir := t.TempDir()
	l := newTestLog(t, "vigil.test/tlog", 300)
	tw := startWitness(t, dir, l)

	tw.mustCosign(t, 0, nil, l.checkpoint(100))
	if got := tw.heldSize(t, l); got != 100 {
		t.Fatalf("held size %d, want 100", got)
	}
	tw.mustCosign(t, 100, l.proof(100, 257), l.checkpoint(257))
	tw.mustCosign(t, 257, l.proof(257, 300), l.checkpoint(300))
	// The same checkpoint again is cosigned again (a log retrying).
	tw.mustCosign(t, 300, nil, l.checkpoint(300))
	if got := tw.heldSize(t, l); got != 300 {
		t.Fatalf("held size %d, want 300", got)
	}

	// The state file is the log-signed checkpoint, byte for byte.
	b, err := os.ReadFile(tw.statePath(l.origin))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, l.checkpoint(300)) {
		t.Fatalf("state file %q, want the checkpoint of size 300", b)
	}

	// The operator's page names the witness's key, the log and its size.
	resp, err := http.Get(tw.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), tw.VerifierKey()) ||
		!strings.Contains(string(page), l.vkey) || !strings.Contains(string(page), "size 300") {
		t.Fatalf("GET /: %d\n%s", resp.StatusCode, page)
	}
}

func TestWrongOldSizeAnswersConflictWithSize(t *testing.T) {
	l := newTestLog(t, "vigil.test/tlog", 300)
	tw := startWitness(t, t.TempDir(), l)
	// A log that has never been witnessed here, claiming it was.
	a := post(t, tw.url, body(100, l.proof(100, 200), l.checkpoint(200)))
	if a.status != http.StatusConflict || a.ctype != SizeContentType || a.body != "0\n" {
		t.Fatalf("got %d %q %q, want 409 %s \"0\\n\"", a.status, a.ctype, a.body, SizeContentType)
	}
	tw.mustCosign(t, 0, nil, l.checkpoint(100))
	for _, old := range []int64{0, 50, 200} {
		a := post(t, tw.url, body(old, l.proof(old, 250), l.checkpoint(250)))
		if a.status != http.StatusConflict || a.ctype != SizeContentType || a.body != "100\n" {
			t.Errorf("old %d: got %d %q %q, want 409 %s \"100\\n\"", old, a.status, a.ctype, a.body, SizeContentType)
		}
	}
	if got := tw.heldSize(t, l); got != 100 {
		t.Fatalf("held size %d, want 100", got)
	}
}

func TestBadProofIsRefused(t *testing.T) {
	l := newTestLog(t, "vigil.test/tlog", 300)
	tw := startWitness(t, t.TempDir(), l)

	// A proof with an empty old size must be empty.
	if a := post(t, tw.url, body(0, l.proof(10, 100), l.checkpoint(100))); a.status != http.StatusUnprocessableEntity {
		t.Fatalf("non-empty proof from 0: %d %q, want 422", a.status, a.body)
	}
	tw.mustCosign(t, 0, nil, l.checkpoint(100))

	good := l.proof(100, 300)
	flipped := append(tlog.TreeProof(nil), good...)
	flipped[len(flipped)/2][0] ^= 1
	cases := map[string]tlog.TreeProof{
		"flipped bit":        flipped,
		"empty":              nil,
		"from another size":  l.proof(99, 300),
		"one hash short":     good[:len(good)-1],
		"one hash too many":  append(append(tlog.TreeProof(nil), good...), good[0]),
		"to another size":    l.proof(100, 299),
		"reversed":           reversed(good),
		"of the right shape": make(tlog.TreeProof, len(good)),
	}
	for name, p := range cases {
		if a := post(t, tw.url, body(100, p, l.checkpoint(300))); a.status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %q, want 422", name, a.status, a.body)
		}
	}
	// A same-size resubmission needs an empty proof.
	if a := post(t, tw.url, body(100, good[:1], l.checkpoint(100))); a.status != http.StatusUnprocessableEntity {
		t.Errorf("same size with a proof: %d %q, want 422", a.status, a.body)
	}
	if got := tw.heldSize(t, l); got != 100 {
		t.Fatalf("held size %d after bad proofs, want 100", got)
	}
	tw.mustCosign(t, 100, good, l.checkpoint(300))
}

func reversed(p tlog.TreeProof) tlog.TreeProof {
	r := make(tlog.TreeProof, len(p))
	for i := range p {
		r[i] = p[len(p)-1-i]
	}
	return r
}

func TestSplitViewIsRefusedAndKeptAsEvidence(t *testing.T) {
	l := newTestLog(t, "vigil.test/tlog", 300)
	tw := startWitness(t, t.TempDir(), l)
	tw.mustCosign(t, 0, nil, l.checkpoint(100))

	// The log's other history: the same first 60 entries, then others.
	fork := l.fork(60)
	fork.add(240, "forked")
	if fork.root(100) == l.root(100) {
		t.Fatal("the fork has the same root")
	}
	for _, old := range []int64{100, 0} {
		a := post(t, tw.url, body(old, nil, fork.checkpoint(100)))
		if a.status != http.StatusConflict || a.ctype == SizeContentType || !strings.Contains(a.body, "split view") {
			t.Fatalf("old %d: split view answered %d %q %q, want 409 naming the split view", old, a.status, a.ctype, a.body)
		}
	}
	// The fork's successor cannot be proved consistent either.
	if a := post(t, tw.url, body(100, fork.proof(100, 300), fork.checkpoint(300))); a.status != http.StatusUnprocessableEntity {
		t.Fatalf("fork successor: %d %q, want 422", a.status, a.body)
	}

	// One evidence file (the same pair twice is one file), with both notes
	// as the log signed them.
	files, err := filepath.Glob(filepath.Join(tw.dir, evidenceDir, "*.json"))
	if err != nil || len(files) != 1 {
		t.Fatalf("evidence files %v (%v), want 1", files, err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	var e evidence
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if e.Kind != "split-view" || e.Origin != l.origin || e.LogKey != l.vkey || e.Size != 100 ||
		e.Cosigned != string(l.checkpoint(100)) || e.Submitted != string(fork.checkpoint(100)) {
		t.Fatalf("evidence %+v", e)
	}
	v, err := note.NewVerifier(e.LogKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{e.Cosigned, e.Submitted} {
		if _, err := note.Open([]byte(n), note.VerifierList(v)); err != nil {
			t.Fatalf("evidence note does not verify with the log key: %v", err)
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(tw.dir, evidenceDir, ".tmp-*")); len(leftovers) != 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}

	// The witness stays on the history it cosigned.
	if got := tw.heldSize(t, l); got != 100 {
		t.Fatalf("held size %d, want 100", got)
	}
	tw.mustCosign(t, 100, l.proof(100, 300), l.checkpoint(300))
}

func TestSmallerCheckpointIsRefused(t *testing.T) {
	l := newTestLog(t, "vigil.test/tlog", 300)
	tw := startWitness(t, t.TempDir(), l)
	tw.mustCosign(t, 0, nil, l.checkpoint(300))

	// Old size above the checkpoint's size: 400, as C2SP tlog-witness says.
	if a := post(t, tw.url, body(300, nil, l.checkpoint(100))); a.status != http.StatusBadRequest {
		t.Errorf("old 300, size 100: %d %q, want 400", a.status, a.body)
	}
	// A consistent-looking request from an older size: 409 with the size.
	if a := post(t, tw.url, body(50, l.proof(50, 100), l.checkpoint(100))); a.status != http.StatusConflict || a.body != "300\n" {
		t.Errorf("old 50, size 100: %d %q, want 409 300", a.status, a.body)
	}
	if a := post(t, tw.url, body(0, nil, l.checkpoint(100))); a.status != http.StatusConflict || a.body != "300\n" {
		t.Errorf("old 0, size 100: %d %q, want 409 300", a.status, a.body)
	}
	if got := tw.heldSize(t, l); got != 300 {
		t.Fatalf("held size %d, want 300", got)
	}
}

func TestUnknownOriginIsNotFound(t *testing.T) {
	l := newTestLog(t, "vigil.test/tlog", 10)
	other := newTestLog(t, "other.test/tlog", 10)
	tw := startWitness(t, t.TempDir(), l)
	if a := post(t, tw.url, body(0, nil, other.checkpoint(10))); a.status != http.StatusNotFound {
		t.Fatalf("unknown origin: %d %q, want 404", a.status, a.body)
	}
}

func TestCheckpointWithoutLogSignatureIsForbidden(t *testing.T) {
	l := newTestLog(t, "vigil.test/tlog", 100)
	tw := startWitness(t, t.TempDir(), l)

	// Another key under the log's name.
	impostor := newTestLog(t, l.origin, 100)
	// Another key under another name.
	stranger := newTestLog(t, "stranger.test", 0)
	// The log's own signature over other text.
	tampered := bytes.Replace(l.checkpoint(100), []byte("\n100\n"), []byte("\n99\n"), 1)
	// The log's signature line with its last byte changed.
	sig := l.checkpoint(100)
	i := bytes.LastIndex(sig, []byte("\n")) - 40
	badSig := append([]byte(nil), sig...)
	if badSig[i] == 'A' {
		badSig[i] = 'B'
	} else {
		badSig[i] = 'A'
	}

	for name, cp := range map[string][]byte{
		"impostor key":      impostor.checkpoint(100),
		"stranger key":      l.signedBy(100, stranger.signer),
		"tampered text":     tampered,
		"changed signature": badSig,
	} {
		if a := post(t, tw.url, body(0, nil, cp)); a.status != http.StatusForbidden {
			t.Errorf("%s: %d %q, want 403", name, a.status, a.body)
		}
	}
	if got := tw.heldSize(t, l); got != -1 {
		t.Fatalf("held size %d, want none", got)
	}
	// Extra signatures by unknown keys are ignored.
	tw.mustCosign(t, 0, nil, l.signedBy(100, l.signer, stranger.signer))
}

// malformed are request bodies the witness must answer with 400; they also
// seed FuzzAddCheckpoint.
func malformed(l *testLog) map[string][]byte {
	cp := l.checkpoint(100)
	p := l.proof(50, 100)
	text, _ := noteText(cp)
	many := make(tlog.TreeProof, MaxProofLines+1)
	return map[string][]byte{
		"empty":                   {},
		"no newline":              []byte("old 0"),
		"no old line":             []byte("\n" + string(cp)),
		"old without size":        []byte("old \n\n" + string(cp)),
		"old with leading zero":   append([]byte("old 00\n\n"), cp...),
		"old negative":            append([]byte("old -1\n\n"), cp...),
		"old with plus":           append([]byte("old +1\n\n"), cp...),
		"old overflowing":         append([]byte("old 9223372036854775808\n\n"), cp...),
		"old in hex":              append([]byte("old 0x10\n\n"), cp...),
		"OLD upper case":          append([]byte("OLD 0\n\n"), cp...),
		"old two spaces":          append([]byte("old  0\n\n"), cp...),
		"crlf":                    []byte(strings.ReplaceAll(string(body(0, nil, cp)), "\n", "\r\n")),
		"no empty line":           []byte("old 0\n" + string(cp[:bytes.IndexByte(cp, '\n')+1])),
		"proof not base64":        append([]byte("old 50\n!!!!\n\n"), cp...),
		"proof 31 bytes":          append([]byte("old 50\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n\n"), cp...),
		"proof 33 bytes":          append([]byte("old 50\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n\n"), cp...),
		"proof url base64":        append([]byte("old 50\n"+"-_"+p[0].String()[2:]+"\n\n"), cp...),
		"proof not canonical":     append([]byte("old 50\n"+p[0].String()[:42]+"B=\n\n"), cp...),
		"proof with space":        append([]byte("old 50\n "+p[0].String()+"\n\n"), cp...),
		"64 proof lines":          body(50, many, cp),
		"no checkpoint":           []byte("old 0\n\n"),
		"checkpoint no newline":   []byte("old 0\n\n" + l.origin),
		"note without signature":  body(0, nil, []byte(text)),
		"note bad signature line": body(0, nil, append([]byte(text+"\n"), "- not a signature\n"...)),
		"note with control char":  body(0, nil, bytes.Replace(cp, []byte("\n100\n"), []byte("\n1\x0000\n"), 1)),
		"note not UTF-8":          body(0, nil, bytes.Replace(cp, []byte("\n100\n"), []byte("\n\xff\n"), 1)),
	}
}

func TestMalformedRequestsAreBadRequests(t *testing.T) {
	l := newTestLog(t, "vigil.test/tlog", 100)
	tw := startWitness(t, t.TempDir(), l)
	for name, b := range malformed(l) {
		if a := post(t, tw.url, b); a.status != http.StatusBadRequest {
			t.Errorf("%s: %d %q, want 400", name, a.status, a.body)
		}
	}
	// A log-signed note whose text is not a checkpoint.
	n, err := note.Sign(&note.Note{Text: l.origin + "\nnot a size\n"}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	if a := post(t, tw.url, body(0, nil, n)); a.status != http.StatusBadRequest {
		t.Errorf("signed non-checkpoint: %d %q, want 400", a.status, a.body)
	}
	// Too large a body.
	big := append(body(0, nil, l.checkpoint(100)), bytes.Repeat([]byte("x"), MaxRequestBytes)...)
	if a := post(t, tw.url, big); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("body over 1 MiB: %d, want 413", a.status)
	}
	// Only POST adds.
	resp, err := http.Get(tw.url + "/add-checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /add-checkpoint: %d, want 405", resp.StatusCode)
	}
	if got := tw.heldSize(t, l); got != -1 {
		t.Fatalf("held size %d, want none", got)
	}
	// 63 proof lines is the most, and allowed (here: a wrong proof).
	if a := post(t, tw.url, body(0, make(tlog.TreeProof, MaxProofLines), l.checkpoint(100))); a.status != http.StatusUnprocessableEntity {
		t.Errorf("63 proof lines: %d %q, want 422", a.status, a.body)
	}
}

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	l := newTestLog(t, "vigil.test/tlog", 300)
	other := newTestLog(t, "vigil.test/other", 30)
	tw := startWitness(t, dir, l, other)
	vkey := tw.VerifierKey()
	tw.mustCosign(t, 0, nil, l.checkpoint(100))
	tw.stop()

	tw = startWitness(t, dir, l, other)
	if tw.VerifierKey() != vkey {
		t.Fatalf("the witness's key changed across a restart: %s, was %s", tw.VerifierKey(), vkey)
	}
	if got := tw.heldSize(t, l); got != 100 {
		t.Fatalf("held size after restart %d, want 100", got)
	}
	// A successor of the old checkpoint is still required.
	if a := post(t, tw.url, body(0, nil, l.checkpoint(300))); a.status != http.StatusConflict || a.body != "100\n" {
		t.Fatalf("old 0 after restart: %d %q, want 409 100", a.status, a.body)
	}
	fork := l.fork(60)
	fork.add(100, "forked")
	if a := post(t, tw.url, body(100, nil, fork.checkpoint(100))); a.status != http.StatusConflict || !strings.Contains(a.body, "split view") {
		t.Fatalf("split view after restart: %d %q", a.status, a.body)
	}
	tw.mustCosign(t, 100, l.proof(100, 300), l.checkpoint(300))
	tw.mustCosign(t, 0, nil, other.checkpoint(30))
}

func TestOneProcessPerStateDirectory(t *testing.T) {
	dir := t.TempDir()
	l := newTestLog(t, "vigil.test/tlog", 10)
	tw := startWitness(t, dir, l)
	_, err := New(Config{Dir: dir, Signer: tw.signer, Logs: map[string]string{l.origin: l.vkey}})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second witness on one directory: %v, want ErrLocked", err)
	}
}

func TestDamagedStateRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	l := newTestLog(t, "vigil.test/tlog", 10)
	tw := startWitness(t, dir, l)
	tw.mustCosign(t, 0, nil, l.checkpoint(10))
	tw.stop()
	if err := os.WriteFile(tw.statePath(l.origin), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(Config{Dir: dir, Signer: tw.signer, Logs: map[string]string{l.origin: l.vkey}})
	if err == nil || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("damaged state: %v, want an error with a hint", err)
	}
}

func TestConfigErrors(t *testing.T) {
	l := newTestLog(t, "vigil.test/tlog", 0)
	s, _, err := LoadOrCreateKey(t.TempDir(), witnessName)
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"no dir":     {Signer: s, Logs: map[string]string{l.origin: l.vkey}},
		"no signer":  {Dir: t.TempDir(), Logs: map[string]string{l.origin: l.vkey}},
		"no logs":    {Dir: t.TempDir(), Signer: s},
		"bad vkey":   {Dir: t.TempDir(), Signer: s, Logs: map[string]string{l.origin: "nope"}},
		"bad origin": {Dir: t.TempDir(), Signer: s, Logs: map[string]string{"a\nb": l.vkey}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestPersistFailureDoesNotCosign(t *testing.T) {
	l := newTestLog(t, "vigil.test/tlog", 300)
	tw := startWitness(t, t.TempDir(), l)
	tw.mustCosign(t, 0, nil, l.checkpoint(100))
	tw.persistHook = func(string) error { return errors.New("disk full") }
	if a := post(t, tw.url, body(100, l.proof(100, 300), l.checkpoint(300))); a.status != http.StatusInternalServerError || strings.Contains(a.body, "—") {
		t.Fatalf("failed write: %d %q, want 500 without a cosignature", a.status, a.body)
	}
	if got := tw.heldSize(t, l); got != 100 {
		t.Fatalf("held size %d after a failed write, want 100", got)
	}
	tw.persistHook = nil
	tw.mustCosign(t, 100, l.proof(100, 300), l.checkpoint(300))
}

func TestConcurrentSubmissionsCosignOneSuccessor(t *testing.T) {
	l := newTestLog(t, "vigil.test/tlog", 400)
	tw := startWitness(t, t.TempDir(), l)
	tw.mustCosign(t, 0, nil, l.checkpoint(100))

	// Many successors of 100 at once: exactly one may be cosigned, and the
	// others must be told the size it took.
	const n = 16
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			size := int64(101 + i*18)
			answers[i] = post(t, tw.url, body(100, l.proof(100, size), l.checkpoint(size)))
		})
	}
	wg.Wait()
	won := 0
	for _, a := range answers {
		if a.status == http.StatusOK {
			won++
		}
	}
	held := tw.heldSize(t, l)
	if won != 1 {
		t.Fatalf("%d of %d concurrent successors cosigned, want 1", won, n)
	}
	for i, a := range answers {
		if a.status != http.StatusOK && (a.status != http.StatusConflict || a.body != strconv.FormatInt(held, 10)+"\n") {
			t.Errorf("submission %d: %d %q, want 409 %d", i, a.status, a.body, held)
		}
	}
}

func TestClosedWitnessRefuses(t *testing.T) {
	l := newTestLog(t, "vigil.test/tlog", 10)
	tw := startWitness(t, t.TempDir(), l)
	tw.Close()
	if a := post(t, tw.url, body(0, nil, l.checkpoint(10))); a.status != http.StatusServiceUnavailable {
		t.Fatalf("after Close: %d %q, want 503", a.status, a.body)
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
