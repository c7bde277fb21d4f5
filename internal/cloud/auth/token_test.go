package auth

import (
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
)

var b64urlRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	hashes := map[[32]byte]bool{}
	for range 1000 {
		secret, hash, err := NewToken("vgs_")
		if err != nil {
			t.Fatal(err)
		}
		rest, ok := strings.CutPrefix(secret, "vgs_")
		if !ok || !b64urlRE.MatchString(rest) {
			t.Fatalf("token %q: want vgs_ and 43 base64url characters", secret)
		}
		if hash != HashToken(secret) {
			t.Fatal("returned hash differs from HashToken(secret)")
		}
		if seen[secret] || hashes[hash] {
			t.Fatal("token repeated")
		}
		seen[secret], hashes[hash] = true, true
	}
}

func TestNewTokenPrefix(t *testing.T) {
	for _, p := range []string{"", "vga_", "vgr_", "A-z_09"} {
		if _, _, err := NewToken(p); err != nil {
			t.Errorf("NewToken(%q): %v", p, err)
		}
	}
	for _, p := range []string{"a b", "x$", "é_", "a\n", "a:b", strings.Repeat("a", MaxTokenPrefixLen+1)} {
		if s, _, err := NewToken(p); !errors.Is(err, ErrInvalidTokenPrefix) || s != "" {
			t.Errorf("NewToken(%q) = %q, %v; want ErrInvalidTokenPrefix", p, s, err)
		}
	}
}

func TestHashTokenStable(t *testing.T) {
	// SHA-256("vgs_test"): the stored form must not change between
	// releases, or every session is logged out.
	got := HashToken("vgs_test")
	if want := "7e63bf59be2834e3f8f7f6ccf4fec4e013be95507bb8ae11112d94bc6c125bfa"; hex.EncodeToString(got[:]) != want {
		t.Errorf("HashToken(vgs_test) = %x, want %s", got, want)
	}
	if HashToken("vgs_test") != HashToken("vgs_test") || HashToken("vgs_test") == HashToken("vgs_tesT") {
		t.Error("HashToken is not a function of its input")
	}
}

func TestNewCSRFToken(t *testing.T) {
	a, err := NewCSRFToken()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCSRFToken()
	if err != nil {
		t.Fatal(err)
	}
	if !b64urlRE.MatchString(a) || a == b {
		t.Errorf("CSRF tokens %q, %q: want distinct 43-character base64url strings", a, b)
	}
}

func TestEqualTokens(t *testing.T) {
	tok, _, err := NewToken("vgs_")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{tok, tok, true},
		{tok, strings.Clone(tok), true},
		{tok, tok[:len(tok)-1], false},
		{tok, tok + "x", false},
		{tok, strings.ToUpper(tok), false},
		{tok, "", false},
		{"", tok, false},
		{"", "", false}, // a missing header never matches a missing session value
	} {
		if got := EqualTokens(tt.a, tt.b); got != tt.want {
			t.Errorf("EqualTokens(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}
