// Package keydir keeps a device's keys and the household's membership chain:
// the hub's Ed25519 signing key and member device keys on disk (keydir.go,
// devicekeys.go), a device's public identity as people copy it, "vigdev1:..."
// (identity.go), the hash-chained, admin-signed list of the household's
// devices and its epoch keys wrapped to them (chain.go), and the recovery
// phrase (recovery.go).
//
// The chain is the authority on who can decrypt (G4): every link after the
// genesis is signed by an admin device of the state before it, and hubs and
// clients verify the whole chain from the genesis they pinned. Private keys
// never appear in a link except HPKE-wrapped; nothing here trusts the cloud
// that stores the links.
//
// Files holding a private key are created with mode 0600 and O_EXCL, written,
// fsynced and only then renamed into place, so a crash never leaves a
// half-written key. This package never logs key material and never imports
// net/http.
package keydir

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"vigil/internal/envelope"
	"vigil/internal/fsutil"
)

// Names of the hub's key files inside its data directory.
const (
	SignerFile    = "hub.key" // private: VIGIL-SIGNER-1-...
	SignerPubFile = "hub.pub" // public: hex Ed25519 key, for local verification
)

// LoadOrCreateSigner returns the device signing key in dir, creating it (and
// its public half) on first use. created reports whether it was new.
func LoadOrCreateSigner(dir string) (key ed25519.PrivateKey, created bool, err error) {
	path := filepath.Join(dir, SignerFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k, perr := envelope.ParseSigningKey(strings.TrimSpace(string(b)))
		if perr != nil {
			return nil, false, fmt.Errorf("%s: %w (hint: the hub key file is damaged; restore it from backup, or move it away to make a new hub identity)", path, perr)
		}
		if err := writePublic(dir, k.Public().(ed25519.PublicKey)); err != nil {
			return nil, false, err
		}
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("read hub key: %w", err)
	}
	k, err := envelope.GenerateSigningKey()
	if err != nil {
		return nil, false, err
	}
	if err := WriteSecretFile(path, []byte(envelope.MarshalSigningKey(k)+"\n")); err != nil {
		return nil, false, err
	}
	if err := writePublic(dir, k.Public().(ed25519.PublicKey)); err != nil {
		return nil, false, err
	}
	return k, true, nil
}

func writePublic(dir string, pub ed25519.PublicKey) error {
	path := filepath.Join(dir, SignerPubFile)
	want := fmt.Sprintf("%x\n", []byte(pub))
	if b, err := os.ReadFile(path); err == nil && string(b) == want {
		return nil
	}
	return fsutil.WriteFile(path, []byte(want), 0o644)
}

// ReadSignerPublic returns the hub's public signing key from dir, used to
// verify the hub's own recordings.
func ReadSignerPublic(dir string) (ed25519.PublicKey, error) {
	b, err := os.ReadFile(filepath.Join(dir, SignerPubFile))
	if err != nil {
		return nil, fmt.Errorf("read hub public key: %w (hint: is %s a hub data directory?)", err, dir)
	}
	pub, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%s: not a hex Ed25519 public key", filepath.Join(dir, SignerPubFile))
	}
	return ed25519.PublicKey(pub), nil
}

// WriteSecretFile writes a private key file with mode 0600. It refuses to
// overwrite an existing file.
func WriteSecretFile(path string, data []byte) error {
	err := fsutil.WriteNew(path, data, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; refusing to overwrite a key (hint: choose another path or move the old file away)", path)
	}
	return err
}

// CheckPrivate returns an error when the key file at path can be read by
// other users (group or world permission bits set), so the caller can warn.
func CheckPrivate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%s is readable by other users (mode %04o); hint: chmod 600 %s", path, perm, path)
	}
	return nil
}
