package pairing

import (
	"bytes"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
)

// testCode returns a valid code from fixed bytes.
func testCode(t testing.TB, b byte) Code {
	t.Helper()
	c, err := newCode(bytes.NewReader(bytes.Repeat([]byte{b}, codeBytes)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// withChars returns the code string for 16 data symbols with check
// characters recomputed, so it parses.
func withChars(data []byte) string {
	c0, c1 := checkSymbols(data)
	s := make([]byte, 0, codeChars)
	for _, v := range data {
		s = append(s, crockford[v])
	}
	return string(append(s, crockford[c0], crockford[c1]))
}

// symbols returns the 18 symbol values of c.
func symbols(c Code) []byte {
	s := c.chars()
	v := make([]byte, len(s))
	for i := range s {
		v[i] = byte(strings.IndexByte(crockford, s[i]))
	}
	return v
}

func symString(v []byte) string {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = crockford[x]
	}
	return string(b)
}

var parseCodeTests = []struct {
	name, in, errHas string
}{
	{"empty", "", "empty"},
	{"only dashes", " - - ", "empty"},
	{"short", "ABCDEF-GHJKMN-PQRST", "has 17 characters, want 18"},
	{"long", "ABCDEF-GHJKMN-PQRSTVW", "has 19 characters, want 18"},
	{"letter U", "ABCDEF-GHUKMN-PQRSTV", `bad character 'U' at position 9`},
	{"punctuation", "ABCDEF_GHJKMN-PQRSTV", `bad character '_' at position 7`},
	{"non-ASCII", "ÄBCDEF-GHJKMN-PQRSTV", `bad character 'Ä' at position 1`},
	{"huge", strings.Repeat("A", 10000), "far too long"},
}

// validCodeText is a valid code containing 0 and 1, so that O, I and L
// mappings can be tested.
var validCodeText = withChars([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})

func TestParseCode(t *testing.T) {
	good := validCodeText[:6] + "-" + validCodeText[6:12] + "-" + validCodeText[12:]
	accept := []string{
		good,
		validCodeText,
		strings.ToLower(good),
		" " + validCodeText[:3] + " " + validCodeText[3:9] + "\t" + validCodeText[9:] + "\n",
		strings.Replace(strings.Replace(good, "0", "O", 1), "1", "I", 1),
		strings.Replace(strings.Replace(good, "0", "o", 1), "1", "l", 1),
		strings.Replace(good, "-", "–", 2), // en dashes from a rich-text copy
	}
	for _, in := range accept {
		c, err := ParseCode(in)
		if err != nil {
			t.Errorf("ParseCode(%q): %v", in, err)
			continue
		}
		if c.String() != good {
			t.Errorf("ParseCode(%q).String() = %q, want %q", in, c.String(), good)
		}
	}
	// The example in the documentation is a valid code.
	if _, err := ParseCode("6ZNFCV-XW6Z9G-K5TWXR"); err != nil {
		t.Errorf("documented example: %v", err)
	}
	for _, tt := range parseCodeTests {
		_, err := ParseCode(tt.in)
		if err == nil || !errors.Is(err, ErrInvalidCode) || !strings.Contains(err.Error(), tt.errHas) {
			t.Errorf("%s: ParseCode(%q) = %v, want ErrInvalidCode containing %q", tt.name, tt.in, err, tt.errHas)
		}
	}
	// A checksum error says so, and hints at a typo.
	bad := []byte(good)
	bad[0] = crockford[(strings.IndexByte(crockford, bad[0])+1)%32]
	if _, err := ParseCode(string(bad)); err == nil || !strings.Contains(err.Error(), "checksum mismatch (typo?)") {
		t.Errorf("ParseCode(typo) = %v, want checksum mismatch", err)
	}
}

// TestParseCodeErrorsHideCode: an error never repeats the code, which could
// end up in a log.
func TestParseCodeErrorsHideCode(t *testing.T) {
	for i := range codeChars {
		v := symbols(testCode(t, 0x5a))
		v[i] ^= 1
		s := symString(v)
		_, err := ParseCode(s)
		if err == nil {
			t.Fatalf("ParseCode accepted a typo at %d", i)
		}
		if strings.Contains(err.Error(), s[:8]) || strings.Contains(err.Error(), s[10:]) {
			t.Errorf("error %q contains the code", err)
		}
	}
}

func TestCodeRoundTripAndEntropy(t *testing.T) {
	seen := map[string]bool{}
	ids := map[string]bool{}
	for range 1000 {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		s := c.String()
		if len(s) != codeChars+2 || s[6] != '-' || s[13] != '-' {
			t.Fatalf("String() = %q, want XXXXXX-XXXXXX-XXXXXX", s)
		}
		if seen[s] {
			t.Fatalf("NewCode repeated %q", s)
		}
		seen[s] = true
		p, err := ParseCode(s)
		if err != nil {
			t.Fatalf("ParseCode(%q): %v", s, err)
		}
		if p != c {
			t.Fatalf("ParseCode(%q) = %v, want the same code", s, p.b)
		}
		id := c.RendezvousID()
		if len(id) != 32 || ids[id] {
			t.Fatalf("RendezvousID() = %q: wrong length or repeated", id)
		}
		ids[id] = true
	}
}

// TestEverySubstitutionRejected: every change of one character of a valid
// code, to any other character of the alphabet, fails the checksum.
func TestEverySubstitutionRejected(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		var c Code
		for i := range c.b {
			c.b[i] = byte(r.UintN(256))
		}
		c.ok = true
		if n == 0 {
			c = testCode(t, 0) // the all-zero code word too
		}
		v := symbols(c)
		for i := range v {
			for x := range byte(32) {
				if x == v[i] {
					continue
				}
				w := bytes.Clone(v)
				w[i] = x
				if _, err := ParseCode(symString(w)); err == nil {
					t.Fatalf("code %s with position %d changed to %c was accepted", c, i+1, crockford[x])
				}
			}
		}
	}
}

// TestEveryDoubleErrorRejected: the check has distance 3, so changing any
// two characters — including swapping two — is caught too.
func TestEveryDoubleErrorRejected(t *testing.T) {
	for _, b := range []byte{0x00, 0xa7} {
		v := symbols(testCode(t, b))
		for i := range v {
			for j := i + 1; j < len(v); j++ {
				if v[i] != v[j] {
					w := bytes.Clone(v)
					w[i], w[j] = w[j], w[i]
					if _, err := ParseCode(symString(w)); err == nil {
						t.Fatalf("swap of positions %d and %d accepted", i+1, j+1)
					}
				}
				for x := range byte(32) {
					for y := range byte(32) {
						if x == v[i] || y == v[j] {
							continue
						}
						w := bytes.Clone(v)
						w[i], w[j] = x, y
						if _, err := ParseCode(symString(w)); err == nil {
							t.Fatalf("double change at %d, %d accepted", i+1, j+1)
						}
					}
				}
			}
		}
	}
}

func TestZeroCodeRefused(t *testing.T) {
	var zero Code
	if zero.String() != "<invalid pairing code>" {
		t.Errorf("zero Code String() = %q", zero.String())
	}
	if _, _, err := NewHub(zero, make([]byte, 32), "hub"); err == nil {
		t.Error("NewHub accepted the zero Code")
	}
	if _, err := NewMember(zero, testOffer(t, 1)); err == nil {
		t.Error("NewMember accepted the zero Code")
	}
}

func TestCodeLogValueRedacted(t *testing.T) {
	c := testCode(t, 7)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("pairing", "code", c)
	if strings.Contains(buf.String(), c.String()[:6]) || !strings.Contains(buf.String(), "REDACTED") {
		t.Errorf("log line %q leaks the code or is not redacted", buf.String())
	}
}

// TestDerivedKeysSeparate: the rendezvous ID and the MAC key come from
// different labels and share nothing visible.
func TestDerivedKeysSeparate(t *testing.T) {
	c := testCode(t, 3)
	id, err := hex.DecodeString(c.RendezvousID())
	if err != nil || len(id) != 16 {
		t.Fatalf("RendezvousID %q is not 32 hex characters", c.RendezvousID())
	}
	k := c.macKey()
	if len(k) != 32 || bytes.Contains(k, id[:8]) || bytes.Equal(k[:16], id) {
		t.Error("MAC key overlaps the rendezvous ID")
	}
	if strings.Contains(strings.ToUpper(c.RendezvousID()), c.chars()[:6]) {
		t.Error("rendezvous ID contains part of the code")
	}
	if testCode(t, 4).RendezvousID() == c.RendezvousID() {
		t.Error("different codes, same rendezvous ID")
	}
}

func TestGF32(t *testing.T) {
	for a := byte(1); a < 32; a++ {
		for b := byte(1); b < 32; b++ {
			if gfDiv(gfMul(a, b), b) != a {
				t.Fatalf("(%d*%d)/%d != %d", a, b, b, a)
			}
		}
	}
	seen := map[byte]bool{}
	for i := range 31 {
		seen[gfExp[i]] = true
	}
	if len(seen) != 31 || seen[0] {
		t.Fatal("x^5+x^2+1 is not primitive: α does not generate GF(32)*")
	}
}

func FuzzParseCode(f *testing.F) {
	for _, tt := range parseCodeTests {
		f.Add(tt.in)
	}
	f.Add(validCodeText)
	f.Add(strings.ToLower(validCodeText))
	f.Add("ILO-ilo-\u00a0-\u2014")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCode(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidCode) {
				t.Fatalf("error %v does not wrap ErrInvalidCode", err)
			}
			return
		}
		p, err := ParseCode(c.String())
		if err != nil || p != c {
			t.Fatalf("String() of a parsed code does not parse back: %v", err)
		}
	})
}
