package release

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"vigil/internal/history"
)

// SignContext is what a release key signs before the manifest, with a zero
// byte between them (docs/FORMAT.md).
const SignContext = "vigil/release/v1/manifest"

const entryFixed = 2 + ed25519.PublicKeySize + ed25519.SignatureSize

var (
	// ErrBadSignature: a release whose signature does not verify with the
	// key it names.
	ErrBadSignature = errors.New("release: the signature does not verify")
	// ErrUntrustedKey: a release signed by a key the verifier does not pin.
	ErrUntrustedKey = errors.New("release: signed by a key that is not a trusted release key")
)

func message(manifest []byte) []byte {
	m := make([]byte, 0, len(SignContext)+1+len(manifest))
	m = append(m, SignContext...)
	m = append(m, 0)
	return append(m, manifest...)
}

// Sign signs a manifest (canonical bytes, e.g. from BuildManifest) with a
// release key and returns the signed release: a type-3 log entry, which is
// also the release.vrel file.
func Sign(key ed25519.PrivateKey, manifest []byte) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("release: not an Ed25519 private key")
	}
	if _, err := ParseManifest(manifest); err != nil {
		return nil, err
	}
	pub := key.Public().(ed25519.PublicKey)
	e := history.Release{Key: pub, Sig: ed25519.Sign(key, message(manifest)), Manifest: manifest}.Encode()
	if len(e) > history.MaxEntrySize {
		return nil, fmt.Errorf("%w: a release of %d bytes is over the log's limit of %d", ErrMalformed, len(e), history.MaxEntrySize)
	}
	return e, nil
}

// SignDist builds the manifest of the web app in dist (see BuildManifest)
// and signs it: what 'vigil release sign' writes and what a cloud that
// builds its own demo release appends to the log.
func SignDist(key ed25519.PrivateKey, dist fs.FS, name, version string, created time.Time) ([]byte, error) {
	m, err := BuildManifest(dist, name, version, created)
	if err != nil {
		return nil, err
	}
	return Sign(key, m)
}

// Signed is a release whose signature verified with the key it names.
type Signed struct {
	Key      ed25519.PublicKey
	Manifest Manifest
}

// Parse reads a signed release (a log entry or a release.vrel file): its
// layout, its signature with the key it names and its manifest. It does
// not say whether the key is trusted: Open does. Errors wrap ErrMalformed
// or ErrBadSignature.
func Parse(entry []byte) (Signed, error) {
	e, err := history.ParseEntry(entry)
	if err != nil {
		return Signed{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if e.Release == nil {
		return Signed{}, fmt.Errorf("%w: the log entry is not a web release", ErrMalformed)
	}
	r := e.Release
	if !ed25519.Verify(r.Key, message(r.Manifest), r.Sig) {
		return Signed{}, fmt.Errorf("%w (key %s)", ErrBadSignature, FormatPublicKey(r.Key))
	}
	m, err := ParseManifest(r.Manifest)
	if err != nil {
		return Signed{}, err
	}
	return Signed{Key: r.Key, Manifest: m}, nil
}

// Open reads a signed release and returns its manifest if it is signed by
// one of the trusted release keys. Errors wrap ErrMalformed,
// ErrBadSignature or ErrUntrustedKey.
func Open(entry []byte, trusted []ed25519.PublicKey) (Manifest, error) {
	s, err := Parse(entry)
	if err != nil {
		return Manifest{}, err
	}
	for _, k := range trusted {
		if s.Key.Equal(k) {
			return s.Manifest, nil
		}
	}
	return Manifest{}, fmt.Errorf("%w (signed by %s)", ErrUntrustedKey, FormatPublicKey(s.Key))
}
