package pairing

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode"
)

// ErrInvalidCode is wrapped by every error of [ParseCode].
var ErrInvalidCode = errors.New("pairing: invalid pairing code")

const (
	// crockford is Crockford's base32 alphabet: digits and upper-case
	// letters without I, L, O and U.
	crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

	codeBytes   = 10                     // 80 bits of entropy
	dataChars   = codeBytes * 8 / 5      // 16
	checkChars  = 2                      // distance-3 check over GF(32)
	codeChars   = dataChars + checkChars // 18
	groupChars  = 6                      // shown as XXXXXX-XXXXXX-XXXXXX
	maxCodeText = 256                    // ParseCode refuses longer input outright

	rendezvousInfo = "vigil/pairing/v1/rendezvous"
	macKeyInfo     = "vigil/pairing/v1/mac-key"
)

var codeEncoding = base32.NewEncoding(crockford).WithPadding(base32.NoPadding)

// A Code is a pairing code: 80 random bits shown as 18 characters of
// Crockford base32 in three groups of six, the last two characters being a
// check over the first sixteen.
//
// A Code is a short-lived secret. [Code.String] is for showing it on the
// hub's screen only; it must never be logged. Code implements
// [slog.LogValuer] and logs as "REDACTED" if it is passed to a logger by
// mistake. The zero Code is not a valid code; [NewHub] and [NewMember]
// refuse it.
type Code struct {
	b  [codeBytes]byte
	ok bool
}

// NewCode returns a fresh random pairing code.
func NewCode() (Code, error) { return newCode(rand.Reader) }

func newCode(r io.Reader) (Code, error) {
	var c Code
	if _, err := io.ReadFull(r, c.b[:]); err != nil {
		return Code{}, fmt.Errorf("pairing: generating a code: %w", err)
	}
	c.ok = true
	return c, nil
}

// String returns the code as the hub shows it, for example
// "6ZNFCV-XW6Z9G-K5TWXR". It is secret: show it, never log it.
func (c Code) String() string {
	if !c.ok {
		return "<invalid pairing code>"
	}
	s := c.chars()
	var b strings.Builder
	for i := 0; i < len(s); i += groupChars {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i : i+groupChars])
	}
	return b.String()
}

// chars returns the 18 code characters without separators.
func (c Code) chars() string {
	data := codeEncoding.EncodeToString(c.b[:])
	var sym [dataChars]byte
	for i := range sym {
		sym[i] = byte(strings.IndexByte(crockford, data[i]))
	}
	c0, c1 := checkSymbols(sym[:])
	return data + string([]byte{crockford[c0], crockford[c1]})
}

// LogValue implements [slog.LogValuer] so that a Code handed to a logger by
// mistake does not leak.
func (c Code) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// RendezvousID returns the ID under which the cloud relays this pairing's
// messages: 32 hex characters derived one-way from the code with a label of
// its own. It reveals nothing about the MAC key, which is derived with a
// different label.
func (c Code) RendezvousID() string {
	return hex.EncodeToString(c.derive(rendezvousInfo, 16))
}

// macKey returns the 32-byte HMAC key of the pairing transcript.
func (c Code) macKey() []byte { return c.derive(macKeyInfo, 32) }

func (c Code) derive(info string, n int) []byte {
	k, err := hkdf.Key(sha256.New, c.b[:], nil, info, n)
	if err != nil {
		panic("pairing: HKDF: " + err.Error()) // only for n > 255*32
	}
	return k
}

// ParseCode parses a code typed by a person. Letter case, spaces and dashes
// do not matter, and I and L are read as 1, O as 0. Errors wrap
// [ErrInvalidCode] and never contain the code.
func ParseCode(s string) (Code, error) {
	if len(s) > maxCodeText {
		return Code{}, fmt.Errorf("%w: it is far too long; type the %d characters the hub shows", ErrInvalidCode, codeChars)
	}
	var sym []byte
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) {
			continue
		}
		switch unicode.ToUpper(r) {
		case 'I', 'L':
			r = '1'
		case 'O':
			r = '0'
		}
		i := -1
		if r <= unicode.MaxASCII {
			i = strings.IndexByte(crockford, byte(unicode.ToUpper(r)))
		}
		if i < 0 {
			return Code{}, fmt.Errorf("%w: bad character %q at position %d (dashes and spaces not counted); codes use only 0-9 and A-Z without U",
				ErrInvalidCode, r, len(sym)+1)
		}
		sym = append(sym, byte(i))
	}
	switch {
	case len(sym) == 0:
		return Code{}, fmt.Errorf("%w: it is empty; type the code the hub shows (like XXXXXX-XXXXXX-XXXXXX)", ErrInvalidCode)
	case len(sym) != codeChars:
		return Code{}, fmt.Errorf("%w: it has %d characters, want %d (three groups of six, like XXXXXX-XXXXXX-XXXXXX)",
			ErrInvalidCode, len(sym), codeChars)
	}
	c0, c1 := checkSymbols(sym[:dataChars])
	if c0 != sym[dataChars] || c1 != sym[dataChars+1] {
		return Code{}, fmt.Errorf("%w: checksum mismatch (typo?); compare it with the code on the hub's screen and type it again", ErrInvalidCode)
	}
	data := make([]byte, dataChars)
	for i, v := range sym[:dataChars] {
		data[i] = crockford[v]
	}
	var c Code
	if n, err := codeEncoding.Decode(c.b[:], data); err != nil || n != codeBytes {
		// Unreachable: 16 symbols are exactly 80 bits.
		return Code{}, fmt.Errorf("%w: cannot decode it", ErrInvalidCode)
	}
	c.ok = true
	return c, nil
}

// The check characters make every code word satisfy, over GF(32) with
// primitive element α,
//
//	Σ w_i = 0  and  Σ α^i·w_i = 0   (i = 0..17).
//
// Any two columns (1, α^i), (1, α^j) of that parity-check matrix are
// independent for i ≠ j < 31, so the code has minimum distance 3: every
// change of one or two characters, and so every transposition, is caught.

var gfExp, gfLog = gfTables()

// gfTables builds exp/log tables of GF(32) = GF(2)[x]/(x^5 + x^2 + 1).
func gfTables() (exp [62]byte, log [32]byte) {
	x := byte(1)
	for i := range 31 {
		exp[i], exp[i+31] = x, x
		log[x] = byte(i)
		x <<= 1
		if x&0x20 != 0 {
			x ^= 0x25
		}
	}
	return exp, log
}

func gfMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+int(gfLog[b])]
}

func gfDiv(a, b byte) byte {
	if a == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+31-int(gfLog[b])]
}

// checkSymbols returns the two check symbols for 16 data symbols.
func checkSymbols(data []byte) (c0, c1 byte) {
	var s0, s1 byte
	for i, d := range data {
		s0 ^= d
		s1 ^= gfMul(gfExp[i], d)
	}
	a16, a17 := gfExp[dataChars], gfExp[dataChars+1]
	// c0 + c1 = s0 and α^16·c0 + α^17·c1 = s1.
	c1 = gfDiv(s1^gfMul(a16, s0), a16^a17)
	c0 = s0 ^ c1
	return c0, c1
}
