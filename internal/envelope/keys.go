package envelope

import (
	"bufio"
	"bytes"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// A Recipient wraps a file key for one reader of an object.
//
// Wrap must return a fresh Stanza for each call. In format version 1 the
// stanza must be of type [StanzaTypeX25519] with a 32-byte Enc and a 48-byte
// Body; [NewWriter] rejects anything else.
type Recipient interface {
	Wrap(fileKey []byte) (*Stanza, error)
}

// An Identity unwraps the file key of an object sealed to it.
//
// Unwrap must return an error wrapping [ErrIncorrectIdentity] if none of the
// stanzas is for it; any other error aborts the read. Unwrap must not modify
// the stanzas. The returned key is authenticated later by the header MAC, so
// Unwrap need not detect a stanza copied from another object.
type Identity interface {
	Unwrap(stanzas []*Stanza) ([]byte, error)
}

// StanzaTypeX25519 is the stanza type of HPKE DHKEM(X25519), HKDF-SHA256,
// AES-256-GCM, the only type of format version 1.
const StanzaTypeX25519 = 1

const (
	recipientPrefix = "vigr1"
	identityPrefix  = "VIGIL-IDENTITY-1-"
	signerPrefix    = "VIGIL-SIGNER-1-"
	checksumSize    = 4
	wrapInfo        = "vigil/envelope/v1/wrap"
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func hpkeSuite() (hpke.KDF, hpke.AEAD) { return hpke.HKDFSHA256(), hpke.AES256GCM() }

func checksum(key []byte) []byte {
	h := sha256.Sum256(key)
	return h[:checksumSize]
}

// encodeKey returns prefix + base32(key || checksum(key)).
func encodeKey(prefix string, key []byte, lower bool) string {
	s := b32.EncodeToString(append(append([]byte{}, key...), checksum(key)...))
	if lower {
		s = strings.ToLower(s)
	}
	return prefix + s
}

// decodeKey reverses encodeKey. Error messages never contain s.
func decodeKey(s, prefix, what string, lower bool) ([]byte, error) {
	data, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return nil, fmt.Errorf("envelope: malformed %s: it does not start with %q", what, prefix)
	}
	if lower && data != strings.ToLower(data) || !lower && data != strings.ToUpper(data) {
		return nil, fmt.Errorf("envelope: malformed %s: mixed or wrong letter case", what)
	}
	b, err := b32.DecodeString(strings.ToUpper(data))
	if err != nil || len(b) != 32+checksumSize {
		return nil, fmt.Errorf("envelope: malformed %s: wrong length or characters (was it copied completely?)", what)
	}
	key, sum := b[:32], b[32:]
	if !bytes.Equal(checksum(key), sum) || encodeKey(prefix, key, lower) != s {
		return nil, fmt.Errorf("envelope: malformed %s: checksum mismatch (typo?)", what)
	}
	return key, nil
}

// X25519Recipient is the public half of an X25519 key: objects sealed to it
// can be opened by the matching [X25519Identity].
type X25519Recipient struct {
	pk   hpke.PublicKey
	raw  []byte
	hint [4]byte
}

var _ Recipient = (*X25519Recipient)(nil)

// NewX25519Recipient returns the recipient for a 32-byte X25519 public key.
func NewX25519Recipient(publicKey []byte) (*X25519Recipient, error) {
	pub, err := ecdh.X25519().NewPublicKey(publicKey)
	if err != nil {
		return nil, errors.New("envelope: invalid X25519 public key")
	}
	pk, err := hpke.NewDHKEMPublicKey(pub)
	if err != nil {
		return nil, errors.New("envelope: invalid X25519 public key")
	}
	r := &X25519Recipient{pk: pk, raw: pub.Bytes()}
	copy(r.hint[:], checksum(r.raw))
	return r, nil
}

// ParseX25519Recipient parses a "vigr1…" recipient string.
func ParseX25519Recipient(s string) (*X25519Recipient, error) {
	key, err := decodeKey(s, recipientPrefix, "recipient", true)
	if err != nil {
		return nil, err
	}
	return NewX25519Recipient(key)
}

// String returns the "vigr1…" encoding of r.
func (r *X25519Recipient) String() string { return encodeKey(recipientPrefix, r.raw, true) }

// Bytes returns a copy of the 32-byte X25519 public key.
func (r *X25519Recipient) Bytes() []byte { return append([]byte{}, r.raw...) }

// Wrap implements [Recipient] with HPKE single-shot Seal of the file key.
func (r *X25519Recipient) Wrap(fileKey []byte) (*Stanza, error) {
	if len(fileKey) != fileKeySize {
		return nil, fmt.Errorf("envelope: file key is %d bytes, want %d", len(fileKey), fileKeySize)
	}
	kdf, aead := hpkeSuite()
	ct, err := hpke.Seal(r.pk, kdf, aead, []byte(wrapInfo), fileKey)
	if err != nil {
		return nil, fmt.Errorf("envelope: wrapping file key: %w", err)
	}
	if len(ct) != encSize+wrappedSize {
		return nil, fmt.Errorf("envelope: HPKE output is %d bytes, want %d", len(ct), encSize+wrappedSize)
	}
	return &Stanza{Type: StanzaTypeX25519, Hint: r.hint, Enc: ct[:encSize:encSize], Body: ct[encSize:]}, nil
}

// X25519Identity is an X25519 private key that opens objects sealed to its
// [X25519Recipient].
type X25519Identity struct {
	sk   hpke.PrivateKey
	raw  []byte
	rcpt *X25519Recipient
}

var _ Identity = (*X25519Identity)(nil)

// GenerateX25519Identity returns a new random identity.
func GenerateX25519Identity() (*X25519Identity, error) {
	k := make([]byte, 32)
	rand.Read(k)
	return NewX25519Identity(k)
}

// NewX25519Identity returns the identity for a 32-byte X25519 private key.
func NewX25519Identity(privateKey []byte) (*X25519Identity, error) {
	priv, err := ecdh.X25519().NewPrivateKey(privateKey)
	if err != nil {
		return nil, errors.New("envelope: invalid X25519 private key")
	}
	sk, err := hpke.NewDHKEMPrivateKey(priv)
	if err != nil {
		return nil, errors.New("envelope: invalid X25519 private key")
	}
	rcpt, err := NewX25519Recipient(priv.PublicKey().Bytes())
	if err != nil {
		return nil, err
	}
	return &X25519Identity{sk: sk, raw: priv.Bytes(), rcpt: rcpt}, nil
}

// ParseX25519Identity parses a "VIGIL-IDENTITY-1-…" identity string.
func ParseX25519Identity(s string) (*X25519Identity, error) {
	key, err := decodeKey(s, identityPrefix, "identity", false)
	if err != nil {
		return nil, err
	}
	return NewX25519Identity(key)
}

// Recipient returns the public recipient of i.
func (i *X25519Identity) Recipient() *X25519Recipient { return i.rcpt }

// String returns the "VIGIL-IDENTITY-1-…" encoding of i. It is secret.
func (i *X25519Identity) String() string { return encodeKey(identityPrefix, i.raw, false) }

// Bytes returns a copy of the 32-byte X25519 private key. It is secret.
func (i *X25519Identity) Bytes() []byte { return append([]byte{}, i.raw...) }

// Unwrap implements [Identity]. It tries every type-1 stanza whose hint
// matches i and returns [ErrIncorrectIdentity] if none decrypts.
func (i *X25519Identity) Unwrap(stanzas []*Stanza) ([]byte, error) {
	kdf, aead := hpkeSuite()
	for _, s := range stanzas {
		if !s.validShape() || s.Hint != i.rcpt.hint {
			continue
		}
		ct := make([]byte, 0, encSize+wrappedSize)
		ct = append(append(ct, s.Enc...), s.Body...)
		key, err := hpke.Open(i.sk, kdf, aead, []byte(wrapInfo), ct)
		if err != nil || len(key) != fileKeySize {
			continue // a hint collision, or a tampered stanza
		}
		return key, nil
	}
	return nil, ErrIncorrectIdentity
}

// ParseIdentities parses an identity file: one "VIGIL-IDENTITY-1-…" per
// line; blank lines and lines starting with '#' are ignored. Errors name the
// line but never quote it.
func ParseIdentities(r io.Reader) ([]Identity, error) {
	var ids []Identity
	err := parseLines(r, "identity file", func(n int, line string) error {
		switch {
		case strings.HasPrefix(line, identityPrefix):
			id, err := ParseX25519Identity(line)
			if err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			ids = append(ids, id)
			return nil
		case strings.HasPrefix(line, recipientPrefix):
			return fmt.Errorf("line %d is a recipient (public key), not an identity; hint: identity lines start with %q", n, identityPrefix)
		case strings.HasPrefix(line, signerPrefix):
			return fmt.Errorf("line %d is a signing key, not an identity; hint: identity lines start with %q", n, identityPrefix)
		}
		return fmt.Errorf("line %d is not an identity; hint: identity lines start with %q", n, identityPrefix)
	})
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("envelope: no identities found in identity file; hint: pass the household identity file with --identity")
	}
	return ids, nil
}

// ParseRecipients parses a recipients file: one "vigr1…" per line; blank
// lines and lines starting with '#' are ignored. Errors name the line.
func ParseRecipients(r io.Reader) ([]Recipient, error) {
	var rs []Recipient
	err := parseLines(r, "recipients file", func(n int, line string) error {
		switch {
		case strings.HasPrefix(line, recipientPrefix):
			rc, err := ParseX25519Recipient(line)
			if err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			rs = append(rs, rc)
			return nil
		case strings.HasPrefix(line, identityPrefix), strings.HasPrefix(line, signerPrefix):
			return fmt.Errorf("line %d is a secret key, not a recipient; hint: remove it from this file and use its recipient (%q…) instead", n, recipientPrefix)
		}
		return fmt.Errorf("line %d is not a recipient; hint: recipient lines start with %q", n, recipientPrefix)
	})
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("envelope: no recipients found in recipients file")
	}
	return rs, nil
}

func parseLines(r io.Reader, what string, f func(n int, line string) error) error {
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := f(n, line); err != nil {
			return fmt.Errorf("envelope: %s: %w", what, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("envelope: reading %s after line %d: %w", what, n, err)
	}
	return nil
}

// GenerateSigningKey returns a new random Ed25519 signing key for a producer
// (a hub).
func GenerateSigningKey() (ed25519.PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	return k, err
}

// MarshalSigningKey returns the "VIGIL-SIGNER-1-…" encoding of k's seed. It
// is secret.
func MarshalSigningKey(k ed25519.PrivateKey) string {
	return encodeKey(signerPrefix, k.Seed(), false)
}

// ParseSigningKey parses a "VIGIL-SIGNER-1-…" signing key.
func ParseSigningKey(s string) (ed25519.PrivateKey, error) {
	seed, err := decodeKey(s, signerPrefix, "signing key", false)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// SignerID returns a short, non-secret identifier of a signing public key for
// logs and error messages: the hex of its first 8 bytes.
func SignerID(pub ed25519.PublicKey) string {
	return hex.EncodeToString(pub[:min(8, len(pub))])
}

// A Verifier decides which producers are trusted.
type Verifier interface {
	// Trusted reports whether objects signed by signer are accepted.
	Trusted(signer ed25519.PublicKey) bool
}

// TrustedKeys is a [Verifier] that trusts exactly the listed keys.
type TrustedKeys []ed25519.PublicKey

// Trusted implements [Verifier].
func (t TrustedKeys) Trusted(signer ed25519.PublicKey) bool {
	if len(signer) != ed25519.PublicKeySize {
		return false
	}
	for _, k := range t {
		if bytes.Equal(k, signer) {
			return true
		}
	}
	return false
}

// AnySigner is a [Verifier] that trusts every signer.
//
// The signature is still checked, so the object is intact as its signer made
// it, but the signer can be anybody: any holder of a recipient's public key
// (which is not secret) can make an object that opens with AnySigner. Use it
// only in tools that need the content and never act on who produced it, such
// as a local decrypt command run by the user on their own files. Hubs, the
// cloud and clients that display or trust recordings must use [TrustedKeys]
// or another Verifier backed by the household's membership chain.
type AnySigner struct{}

// Trusted implements [Verifier]; it always returns true.
func (AnySigner) Trusted(ed25519.PublicKey) bool { return true }
