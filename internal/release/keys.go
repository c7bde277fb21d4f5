package release

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"vigil/internal/fsutil"
)

// A release key file is PEM, "PRIVATE KEY" (PKCS #8, Ed25519), as OpenSSL
// writes it: `openssl pkey -in FILE -pubout` shows its public half. Its
// public key is written as the base64 of its 32 bytes (FormatPublicKey).

const pemType = "PRIVATE KEY"

// GenerateKey returns a new Ed25519 release key.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	return priv, err
}

// SaveKey writes key to a new file at path, readable by its owner only
// (0600), durably (fsutil.WriteNew: a crash leaves no partial key file). It
// never overwrites: an existing file is an error.
func SaveKey(path string, key ed25519.PrivateKey) error {
	if len(key) != ed25519.PrivateKeySize {
		return errors.New("release: not an Ed25519 private key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	err = fsutil.WriteNew(path, pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der}), 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists: a release key is never overwritten (choose another file, or remove it if you are sure no release needs it)", path)
	}
	return err
}

// LoadKey reads a release key file written by SaveKey (or by OpenSSL:
// `openssl genpkey -algorithm ed25519`).
func LoadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseKey(b)
}

// ParseKey reads the bytes of a release key file.
func ParseKey(b []byte) (ed25519.PrivateKey, error) {
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != pemType || len(rest) != 0 && len(trimSpace(rest)) != 0 {
		return nil, errors.New("not a release key file (want one PEM \"PRIVATE KEY\" block, as 'vigil release key' writes)")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a release key file: %v", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the key is a %T, a release key is Ed25519", k)
	}
	return priv, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// FormatPublicKey writes a release public key as verifiers take it: the
// standard base64 of its 32 bytes.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads a release public key written by FormatPublicKey.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("release key %q is not the base64 of a 32-byte Ed25519 public key (what 'vigil release key' prints)", s)
	}
	return ed25519.PublicKey(b), nil
}
