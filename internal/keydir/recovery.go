package keydir

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"vigil/internal/envelope"
)

// A recovery phrase is 32 Crockford base32 characters written as 8 groups
// of 4, e.g. "7KQ2-M9XD-…": 26 random characters (130 bits) followed by a
// 6-character checksum. The checksum is the BCH code of bech32m (BIP 350)
// over the 5-bit values, seeded with a Vigil-specific prefix, so it detects
// every phrase with up to 4 mistyped characters (and so every swap of two
// characters), and other errors with probability 1 - 2^-30.
//
// Parsing ignores case, spaces and dashes, and reads I and L as 1 and O as
// 0, as Crockford base32 does. The phrase derives an X25519 identity with
// HKDF-SHA256; the chain stores only its public key.
const (
	phraseDataChars  = 26
	phraseCheckChars = 6
	phraseChars      = phraseDataChars + phraseCheckChars
	phraseGroup      = 4

	crockford       = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	phraseChecksum  = "vigil-recovery-v1" // seeds the checksum
	bech32mConst    = 0x2bc830a3
	recoveryKDFInfo = "vigil/keydir/recovery/v1/x25519"
)

// ErrWrongRecoveryPhrase is returned by [State.RecoveryIdentities] for a
// well-formed recovery phrase that is not the household's.
var ErrWrongRecoveryPhrase = errors.New("recovery phrase does not belong to this household")

// NewRecoveryPhrase returns a fresh random recovery phrase. It is secret:
// show it once, never store or log it.
func NewRecoveryPhrase() (string, error) {
	v := make([]byte, phraseDataChars)
	if _, err := rand.Read(v); err != nil {
		return "", fmt.Errorf("keydir: generating recovery phrase: %w", err)
	}
	for i := range v {
		v[i] &= 31 // 256 is a multiple of 32: still uniform
	}
	return formatPhrase(append(v, phraseCheck(v)...)), nil
}

func formatPhrase(v []byte) string {
	var b strings.Builder
	for i, c := range v {
		if i > 0 && i%phraseGroup == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(crockford[c])
	}
	return b.String()
}

// ParseRecoveryPhrase checks a recovery phrase and returns the X25519
// identity it derives. Errors say what is wrong and where, but never quote
// the phrase.
func ParseRecoveryPhrase(s string) (*envelope.X25519Identity, error) {
	v, err := phraseValues(s)
	if err != nil {
		return nil, err
	}
	return recoveryIdentity(v[:phraseDataChars])
}

func phraseValues(s string) ([]byte, error) {
	v := make([]byte, 0, phraseChars)
	n := 0
	for _, r := range s {
		if r == '-' || r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			continue
		}
		n++
		c, ok := crockfordValue(r)
		if !ok {
			return nil, fmt.Errorf("keydir: recovery phrase: character %d of group %d is not one of the characters a recovery phrase uses (0-9 and letters other than U)",
				(n-1)%phraseGroup+1, (n-1)/phraseGroup+1)
		}
		if n <= phraseChars {
			v = append(v, c)
		}
	}
	switch {
	case n == 0:
		return nil, errors.New("keydir: recovery phrase is empty")
	case n < phraseChars:
		return nil, fmt.Errorf("keydir: recovery phrase has %d characters, want %d (8 groups of 4); a character or group is missing", n, phraseChars)
	case n > phraseChars:
		return nil, fmt.Errorf("keydir: recovery phrase has %d characters, want %d (8 groups of 4); a character or group is doubled", n, phraseChars)
	}
	if polymod(v) != bech32mConst {
		msg := "keydir: recovery phrase checksum does not match: a character is mistyped"
		if g := locateTypo(v); g > 0 {
			msg += fmt.Sprintf(", probably in group %d", g)
		}
		return nil, errors.New(msg + "; hint: compare each group with the written-down phrase")
	}
	return v, nil
}

func crockfordValue(r rune) (byte, bool) {
	switch r {
	case 'I', 'i', 'L', 'l':
		r = '1'
	case 'O', 'o':
		r = '0'
	}
	if r >= 'a' && r <= 'z' {
		r -= 'a' - 'A'
	}
	if r > 0x7f {
		return 0, false
	}
	i := strings.IndexByte(crockford, byte(r))
	return byte(i), i >= 0
}

// locateTypo returns the 1-based group of the only single-character change
// that makes v valid, or 0 if there is no such change or more than one.
func locateTypo(v []byte) int {
	w := bytes.Clone(v)
	group := 0
	for i := range w {
		orig := w[i]
		for c := byte(0); c < 32; c++ {
			if c == orig {
				continue
			}
			w[i] = c
			if polymod(w) == bech32mConst {
				if group != 0 {
					return 0
				}
				group = i/phraseGroup + 1
			}
		}
		w[i] = orig
	}
	return group
}

// polymod is the bech32 BCH checksum function over 5-bit values, run after
// the expansion of phraseChecksum as bech32 expands its human-readable part.
func polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	step := func(v byte) {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range gen {
			if top>>i&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	for i := 0; i < len(phraseChecksum); i++ {
		step(phraseChecksum[i] >> 5)
	}
	step(0)
	for i := 0; i < len(phraseChecksum); i++ {
		step(phraseChecksum[i] & 31)
	}
	for _, v := range values {
		step(v)
	}
	return chk
}

func phraseCheck(data []byte) []byte {
	mod := polymod(append(bytes.Clone(data), make([]byte, phraseCheckChars)...)) ^ bech32mConst
	c := make([]byte, phraseCheckChars)
	for i := range c {
		c[i] = byte(mod>>(5*(phraseCheckChars-1-i))) & 31
	}
	return c
}

// recoveryIdentity derives the recovery X25519 identity from the 26 data
// values of a phrase. The phrase carries 130 random bits, so a plain KDF is
// enough: there is nothing to stretch.
func recoveryIdentity(data []byte) (*envelope.X25519Identity, error) {
	k, err := hkdf.Key(sha256.New, data, nil, recoveryKDFInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("keydir: deriving recovery key: %w", err)
	}
	defer clear(k)
	return envelope.NewX25519Identity(k)
}

// RecoveryIdentities returns the identities of every epoch of the
// household, newest first, unwrapped with the key derived from the recovery
// phrase, for [envelope.Open]. A malformed phrase gives the error of
// [ParseRecoveryPhrase]; a well-formed phrase of another household gives
// [ErrWrongRecoveryPhrase].
func (s *State) RecoveryIdentities(phrase string) ([]envelope.Identity, error) {
	id, err := ParseRecoveryPhrase(phrase)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(id.Recipient().Bytes(), s.recovery) {
		return nil, fmt.Errorf("keydir: %w %s (%q); hint: check that this is the phrase shown when this household was created",
			ErrWrongRecoveryPhrase, s.HouseholdID, s.Name)
	}
	ids := make([]envelope.Identity, 0, len(s.epochs))
	for n := len(s.epochs); n >= 1; n-- {
		e := s.epochs[n-1]
		ident, err := e.unwrap(id, e.recoveryWrap, n)
		if err != nil {
			return nil, err
		}
		ids = append(ids, ident)
	}
	return ids, nil
}
