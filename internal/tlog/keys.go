package tlog

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Signature types of C2SP signed-note keys.
const (
	sigTypeEd25519     = 0x01
	sigTypeCosignature = 0x04 // tlog-cosignature v1: timestamped Ed25519
)

// GenerateKey returns a new Ed25519 note key pair named origin: the signer
// key ("PRIVATE+KEY+<origin>+<hash>+<base64>", for note.NewSigner) and the
// verifier key ("<origin>+<hash>+<base64>", what /tlog/key serves).
func GenerateKey(origin string) (skey, vkey string, err error) {
	if !validKeyName(origin) {
		return "", "", fmt.Errorf("%w: key name %q (want non-empty UTF-8 without spaces or '+')", ErrMalformed, origin)
	}
	return note.GenerateKey(rand.Reader, origin)
}

func validKeyName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// keyHash is the C2SP signed-note key ID: the first four bytes of
// SHA-256(name || "\n" || type || public key).
func keyHash(name string, typeAndKey []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(typeAndKey)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// NewCosignatureVerifier parses the verifier key of a witness, C2SP
// tlog-cosignature v1: "<name>+<hash>+<base64(0x04 || Ed25519 public key)>".
// Its Verify checks a cosignature (8-byte big-endian timestamp T, then the
// Ed25519 signature) over "cosignature/v1\ntime T\n" followed by the
// checkpoint body.
func NewCosignatureVerifier(vkey string) (note.Verifier, error) {
	name, hash, key, ok := splitKey(vkey)
	if !ok {
		return nil, fmt.Errorf("%w: witness key %q: want <name>+<8 hex digits>+<base64 key>", ErrMalformed, vkey)
	}
	if len(key) != 1+ed25519.PublicKeySize || key[0] != sigTypeCosignature {
		return nil, fmt.Errorf("%w: witness key %q is not a cosignature/v1 key (type 0x04 and a 32-byte Ed25519 key)", ErrMalformed, vkey)
	}
	if hash != keyHash(name, key) {
		return nil, fmt.Errorf("%w: witness key %q: the key hash does not match the name and key", ErrMalformed, vkey)
	}
	pub := ed25519.PublicKey(key[1:])
	return &cosigVerifier{name: name, hash: hash, pub: pub}, nil
}

// splitKey splits a signed-note key, "<name>+<8 hex digits>+<base64 key>"
// (verifier keys; signer keys after "PRIVATE+KEY+"), into its parts. It
// checks their syntax only.
func splitKey(k string) (name string, hash uint32, key []byte, ok bool) {
	name, rest, _ := strings.Cut(k, "+")
	hash16, key64, _ := strings.Cut(rest, "+")
	h, err1 := strconv.ParseUint(hash16, 16, 32)
	key, err2 := base64.StdEncoding.DecodeString(key64)
	if !validKeyName(name) || len(hash16) != 8 || err1 != nil || err2 != nil {
		return "", 0, nil, false
	}
	return name, uint32(h), key, true
}

type cosigVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

func (v *cosigVerifier) Name() string    { return v.name }
func (v *cosigVerifier) KeyHash() uint32 { return v.hash }

func (v *cosigVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	m := make([]byte, 0, 48+len(msg))
	m = append(m, "cosignature/v1\ntime "...)
	m = strconv.AppendUint(m, t, 10)
	m = append(m, '\n')
	m = append(m, msg...)
	return ed25519.Verify(v.pub, m, sig[8:])
}

// signerVerifier verifies the log's own signature with its signer: a
// signer that offers its verifier (a Verifier() note.Verifier method) is
// asked for it; otherwise the text is signed again and compared, which is
// exact for Ed25519 (deterministic signatures), the only kind the log
// uses.
type signerVerifier struct{ s note.Signer }

func (v signerVerifier) Name() string    { return v.s.Name() }
func (v signerVerifier) KeyHash() uint32 { return v.s.KeyHash() }

func (v signerVerifier) Verify(msg, sig []byte) bool {
	if sv, ok := v.s.(interface{ Verifier() note.Verifier }); ok {
		return sv.Verifier().Verify(msg, sig)
	}
	again, err := v.s.Sign(msg)
	return err == nil && subtle.ConstantTimeCompare(again, sig) == 1
}

// VerifierKey returns the verifier key of a note signer key made by
// GenerateKey: what the log publishes at /tlog/key.
func VerifierKey(skey string) (string, error) {
	bad := fmt.Errorf("%w: not a log signing key (want PRIVATE+KEY+<name>+<hash>+<key>)", ErrMalformed)
	rest, ok := strings.CutPrefix(strings.TrimSpace(skey), "PRIVATE+KEY+")
	if !ok {
		return "", bad
	}
	name, hash, key, ok := splitKey(rest)
	if !ok || len(key) != 1+ed25519.SeedSize || key[0] != sigTypeEd25519 {
		return "", bad
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	if hash != keyHash(name, append([]byte{sigTypeEd25519}, pub...)) {
		return "", fmt.Errorf("%w: the signing key's hash does not match its key", ErrMalformed)
	}
	return note.NewEd25519VerifierKey(name, pub)
}
