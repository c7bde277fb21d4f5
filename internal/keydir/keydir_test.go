package keydir

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateSigner(t *testing.T) {
	dir := t.TempDir()
	k1, created, err := LoadOrCreateSigner(dir)
	if err != nil || !created {
		t.Fatalf("first start: created=%v err=%v", created, err)
	}
	fi, err := os.Stat(filepath.Join(dir, SignerFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("hub key mode %v, want 0600", fi.Mode().Perm())
	}
	k2, created, err := LoadOrCreateSigner(dir)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("second start: created=%v err=%v same=%v", created, err, bytes.Equal(k1, k2))
	}
	pub, err := ReadSignerPublic(dir)
	if err != nil || !bytes.Equal(pub, k1.Public().(ed25519.PublicKey)) {
		t.Fatalf("public key: %x, %v", pub, err)
	}
	// A damaged key file is an error that says what to do, not a new key.
	os.WriteFile(filepath.Join(dir, SignerFile), []byte("garbage\n"), 0o600)
	if _, _, err := LoadOrCreateSigner(dir); err == nil || !strings.Contains(err.Error(), "hint") {
		t.Errorf("damaged key: %v", err)
	}
}

func TestWriteSecretFileRefusesOverwrite(t *testing.T) {
	p := filepath.Join(t.TempDir(), "id")
	if err := WriteSecretFile(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := WriteSecretFile(p, []byte("two")); err == nil {
		t.Fatal("overwrote a key file")
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Errorf("key file now %q", b)
	}
}

func TestCheckPrivate(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := LoadOrCreateSigner(dir); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, SignerFile)
	if err := CheckPrivate(p); err != nil {
		t.Errorf("fresh key: %v", err)
	}
	os.Chmod(p, 0o644)
	if err := CheckPrivate(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key: %v", err)
	}
}
