package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"vigil/internal/tlog"
	"vigil/internal/vigiltest"
	"vigil/internal/witness"
)

func runVigil(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = Run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestWitnessKeyCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "w")
	code, _, stderr := runVigil("witness", "key", "--data", dir)
	if code != 1 || !strings.Contains(stderr, "--name") {
		t.Fatalf("no key, no name: exit %d, %q; want 1 and a hint naming --name", code, stderr)
	}
	code, stdout, stderr := runVigil("witness", "key", "--data", dir, "--name", "witness.test/w1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	vkey := strings.TrimSpace(stdout)
	v, err := tlog.NewCosignatureVerifier(vkey)
	if err != nil || v.Name() != "witness.test/w1" {
		t.Fatalf("printed %q: %v", stdout, err)
	}
	if code, again, _ := runVigil("witness", "key", "--data", dir); code != 0 || again != stdout {
		t.Fatalf("second run: exit %d, %q; want the same vkey %q", code, again, stdout)
	}
	code, _, stderr = runVigil("witness", "key", "--data", dir, "--name", "other.test/w")
	if code != 1 || !strings.Contains(stderr, "witness.test/w1") {
		t.Fatalf("another name: exit %d, %q; want 1 naming the key's name", code, stderr)
	}
	if code, _, stderr := runVigil("witness", "key"); code != 2 || !strings.Contains(stderr, "--data") {
		t.Fatalf("no --data: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runVigil("witness", "key", "--data", dir, "extra"); code != 2 || !strings.Contains(stderr, "extra") {
		t.Fatalf("stray argument: exit %d, %q", code, stderr)
	}
}

func TestWitnessHelp(t *testing.T) {
	for _, args := range [][]string{
		{"witness", "-h"}, {"witness", "--help"}, {"witness", "key", "-h"}, {"witness", "key", "--help"},
	} {
		code, _, stderr := runVigil(args...)
		if code != 0 || !strings.Contains(stderr, "Usage: vigil witness") || !strings.Contains(stderr, "-data") {
			t.Errorf("%v: exit %d\n%s", args, code, stderr)
		}
	}
	if code, _, stderr := runVigil("--help"); code != 0 || !strings.Contains(stderr, "  witness ") {
		t.Errorf("vigil --help: exit %d, does not list witness:\n%s", code, stderr)
	}
}

func TestWitnessCommandErrors(t *testing.T) {
	dir := t.TempDir()
	_, vkey, err := note.GenerateKey(rand.Reader, "vigil.test/tlog")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"witness", "--log", vkey}, 2, "--data"},
		{[]string{"witness", "--data", dir}, 2, "--log"},
		{[]string{"witness", "--data", dir, "--log", "nonsense"}, 2, "--log"},
		{[]string{"witness", "--data", dir, "--log", vkey}, 1, "--name"},
		{[]string{"witness", "--data", dir, "--name", "w.test", "--listen", "256.0.0.1:1", "--log", vkey}, 1, "--listen"},
	} {
		code, _, stderr := runVigil(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want %d naming %s", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// TestWitnessCommandServes runs 'vigil witness' on port 0, has it cosign a
// checkpoint, and stops it as SIGINT would (its context).
func TestWitnessCommandServes(t *testing.T) {
	dir := t.TempDir()
	skey, vkey, err := note.GenerateKey(rand.Reader, "vigil.test/tlog")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr vigiltest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"witness", "--data", dir, "--name", "witness.test/w1",
			"--listen", "127.0.0.1:0", "--log", vkey}, &stdout, &stderr)
	}()
	var lines []string
	for deadline := time.Now().Add(30 * time.Second); len(lines) < 2; {
		select {
		case code := <-done:
			t.Fatalf("vigil witness exited %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil witness printed %q; stderr %s", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
		lines = strings.Fields(stdout.String())
	}
	wkey, url := lines[0], lines[1]
	v, err := tlog.NewCosignatureVerifier(wkey)
	if err != nil {
		t.Fatalf("first line %q is not the witness's vkey: %v", wkey, err)
	}

	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), wkey) || !strings.Contains(string(page), vkey) {
		t.Fatalf("GET /:\n%s", page)
	}

	leaf := sumtlog.RecordHash([]byte("entry 0"))
	text := torchwood.Checkpoint{Origin: "vigil.test/tlog", Tree: sumtlog.Tree{N: 1, Hash: leaf}}.String()
	cp, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		t.Fatal(err)
	}
	c := &witness.Client{URL: url, Verifier: v}
	lines2, err := c.AddCheckpoint(ctx, 0, nil, cp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(append([]byte(text+"\n"), lines2...), note.VerifierList(v)); err != nil {
		t.Fatalf("cosignature %q: %v", lines2, err)
	}

	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("vigil witness exited %d after its context ended: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "witness stopped") {
		t.Fatalf("no clean stop in the log:\n%s", stderr.String())
	}
	// The state directory is free again.
	code, out, errs := runVigil("witness", "key", "--data", dir)
	if code != 0 || strings.TrimSpace(out) != wkey {
		t.Fatalf("witness key after the run: exit %d, %q %s", code, out, errs)
	}
}
