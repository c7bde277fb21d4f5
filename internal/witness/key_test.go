package witness

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	vtlog "vigil/internal/tlog"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if _, _, err := LoadOrCreateKey(dir, ""); err == nil || !strings.Contains(err.Error(), "name") {
		t.Fatalf("no key and no name: %v, want an error asking for a name", err)
	}
	for _, bad := range []string{"with space", "with+plus", "tab\tname", "\xff"} {
		if _, _, err := LoadOrCreateKey(dir, bad); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	s, created, err := LoadOrCreateKey(dir, witnessName)
	if err != nil || !created {
		t.Fatalf("create: %v, created %v", err, created)
	}
	path := filepath.Join(dir, KeyFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v, want 0600", err, fi.Mode())
	}
	vkey := s.Verifier().String()
	if !strings.HasPrefix(vkey, witnessName+"+") {
		t.Fatalf("vkey %q", vkey)
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "# vkey: "+vkey+"\n") {
		t.Fatalf("key file does not show the vkey:\n%s", b)
	}
	// The C2SP cosignature key: type 0x04 and 32 bytes.
	_, rest, _ := strings.Cut(vkey, "+")
	_, key64, _ := strings.Cut(rest, "+")
	k, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(k) != 33 || k[0] != 0x04 {
		t.Fatalf("vkey key %x, want 0x04 and 32 bytes", k)
	}

	for _, name := range []string{"", witnessName} {
		s2, created, err := LoadOrCreateKey(dir, name)
		if err != nil || created || s2.Verifier().String() != vkey {
			t.Fatalf("load with name %q: %v, created %v, vkey %s", name, err, created, s2.Verifier())
		}
	}
	if _, _, err := LoadOrCreateKey(dir, "another.test/w"); err == nil || !strings.Contains(err.Error(), witnessName) {
		t.Fatalf("load with another name: %v, want an error naming %s", err, witnessName)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, b) {
		t.Fatal("the key file changed")
	}

	// A damaged file is refused, never replaced.
	damaged := bytes.Replace(b, []byte("PRIVATE+KEY+witness.test/w1+"), []byte("PRIVATE+KEY+witness.test/w2+"), 1)
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateKey(dir, ""); err == nil || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("damaged key: %v, want an error with a hint", err)
	}
	for _, junk := range []string{"", "# only a comment\n", "PRIVATE+KEY+x\n", b64line() + "\n" + b64line()} {
		if err := os.WriteFile(path, []byte(junk), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadOrCreateKey(dir, witnessName); err == nil {
			t.Errorf("key file %q accepted", junk)
		}
		if got, _ := os.ReadFile(path); string(got) != junk {
			t.Errorf("key file %q overwritten", junk)
		}
	}
}

func b64line() string {
	return formatKeyLine(witnessName, make([]byte, 32), 0)
}

// TestCosignaturesVerifyWithTlog checks the witness's key and cosignatures
// against the log package's own, independent cosignature/v1 verifier.
func TestCosignaturesVerifyWithTlog(t *testing.T) {
	s, _, err := LoadOrCreateKey(t.TempDir(), witnessName)
	if err != nil {
		t.Fatal(err)
	}
	vkey := s.Verifier().String()
	v, err := vtlog.NewCosignatureVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if v.Name() != witnessName || v.KeyHash() != s.KeyHash() {
		t.Fatalf("verifier %s %08x, want %s %08x", v.Name(), v.KeyHash(), witnessName, s.KeyHash())
	}
	l := newTestLog(t, "vigil.test/tlog", 5)
	text, _ := noteText(l.checkpoint(5))
	signed, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(signed, note.VerifierList(v)); err != nil {
		t.Fatalf("a cosignature does not verify: %v", err)
	}
	other, _ := noteText(l.checkpoint(4))
	if _, err := note.Open(append([]byte(other+"\n"), signed[len(text)+1:]...), note.VerifierList(v)); err == nil {
		t.Fatal("a cosignature verified over another checkpoint")
	}
}
