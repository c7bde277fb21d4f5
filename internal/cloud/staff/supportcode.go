package staff

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"

	"vigil/internal/cloud/store"
)

// Support codes: what a household member reads out to support, and the
// only way staff find a household. A code is CodeLen characters of
// Crockford's base32 alphabet: CodeLen-1 random ones (45 bits: not
// guessable, and not derived from anything) and a check character (Luhn
// mod 32), so a misheard character or two swapped neighbours are told
// apart from another household's code. It is shown as two groups of five
// ("7KQ2M-9XHT4"); LookUp takes it in either case, with or without the
// dash and spaces, and with O, I and L read as 0, 1 and 1.

// CodeLen is a support code's length, its check character included.
const CodeLen = 10

// alphabet is Crockford's base32: no I, L, O or U.
const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// maxCodeTries bounds the codes SupportCode draws when one is taken (a
// collision of 45 random bits: never in practice).
const maxCodeTries = 5

// NewSupportCode returns a fresh random support code, in its canonical
// form (CodeLen characters, no dash).
func NewSupportCode() string {
	b := make([]byte, CodeLen-1)
	rand.Read(b)
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(alphabet[c&31])
	}
	body := sb.String()
	return body + string(alphabet[checkChar(body)])
}

// checkChar returns the Luhn mod 32 check value of s (in alphabet).
func checkChar(s string) int {
	const n = 32
	factor, sum := 2, 0
	for i := len(s) - 1; i >= 0; i-- {
		addend := factor * strings.IndexByte(alphabet, s[i])
		factor = 3 - factor
		sum += addend/n + addend%n
	}
	return (n - sum%n) % n
}

// FormatSupportCode writes a canonical code as people read it: two groups
// of five.
func FormatSupportCode(code string) string {
	if len(code) != CodeLen {
		return code
	}
	return code[:5] + "-" + code[5:]
}

// ParseSupportCode returns the canonical form of a code as a person typed
// it, or Invalid with what is wrong.
func ParseSupportCode(typed string) (string, error) {
	var sb strings.Builder
	for _, r := range strings.ToUpper(typed) {
		switch {
		case r == '-' || r == ' ':
			continue
		case r == 'O':
			r = '0'
		case r == 'I' || r == 'L':
			r = '1'
		}
		if r > 0x7f || !strings.ContainsRune(alphabet, r) {
			return "", errorf(Invalid, "a support code has only the letters and digits of %s", alphabet)
		}
		sb.WriteRune(r)
		if sb.Len() > CodeLen {
			break
		}
	}
	code := sb.String()
	if len(code) != CodeLen {
		return "", errorf(Invalid, "a support code has %d characters (as 7KQ2M-9XHT4)", CodeLen)
	}
	if alphabet[checkChar(code[:CodeLen-1])] != code[CodeLen-1] {
		return "", errorf(Invalid, "this is not a valid support code: a character was misheard or mistyped (ask for it again)")
	}
	return code, nil
}

// SupportCode returns household hh's support code (formatted), making one
// the first time. The caller has checked that the household exists and
// that the one asking is its member.
func (s *Service) SupportCode(ctx context.Context, hh string) (string, error) {
	code, err := s.st.SupportCode(ctx, hh)
	if err == nil {
		return FormatSupportCode(code), nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	for range maxCodeTries {
		code, err = s.st.InitSupportCode(ctx, hh, NewSupportCode())
		if errors.Is(err, store.ErrExists) {
			continue
		}
		if errors.Is(err, store.ErrNotFound) {
			return "", errorf(NotFound, "not found")
		}
		if err != nil {
			return "", err
		}
		return FormatSupportCode(code), nil
	}
	return "", errors.New("staff: no free support code after several draws")
}

// LookUp returns the ID of the household with the typed support code:
// Invalid for a code with a wrong check character (a typing error, told
// as such), NotFound for a valid code no household has.
func (s *Service) LookUp(ctx context.Context, typed string) (string, error) {
	code, err := ParseSupportCode(typed)
	if err != nil {
		return "", err
	}
	hh, err := s.st.HouseholdBySupportCode(ctx, code)
	if errors.Is(err, store.ErrNotFound) {
		return "", errorf(NotFound, "no household has this support code")
	}
	return hh, err
}
