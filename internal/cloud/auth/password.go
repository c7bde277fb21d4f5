package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the cost parameters of an Argon2id password hash.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over memory
	Threads uint8  // parallelism
}

// DefaultArgon2 is the cost new passwords are hashed with: 64 MiB, two
// passes, two lanes (above the OWASP minimum of 19 MiB, t=2, p=1). One
// check takes tens of milliseconds and 64 MiB; callers that accept
// sign-ins must bound how many checks run at once.
var DefaultArgon2 = Argon2Params{Memory: 64 * 1024, Time: 2, Threads: 2}

// Bounds on Argon2 parameters. HashPassword refuses to produce, and
// CheckPassword refuses to evaluate, anything outside them, so a hostile or
// corrupt stored hash cannot make a check allocate more than
// MaxArgon2Memory or run for more than MaxArgon2Time passes.
const (
	MaxArgon2Memory  = 256 * 1024 // KiB (256 MiB)
	MaxArgon2Time    = 10
	MaxArgon2Threads = 16
)

// Password length limits. The minimum counts characters (Unicode code
// points; each invalid UTF-8 byte counts as one), the maximum counts bytes.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 1024
)

const (
	saltLen    = 16 // bytes of random salt in new hashes
	keyLen     = 32 // bytes of Argon2 output in new hashes
	minSaltLen = 8  // accepted when parsing
	maxSaltLen = 64
	minKeyLen  = 16
	maxKeyLen  = 64
	maxPHCLen  = 256 // longest stored hash we parse
)

var (
	// ErrWeakPassword is returned by HashPassword for a password shorter
	// than MinPasswordLen characters.
	ErrWeakPassword = fmt.Errorf("auth: password too short: use at least %d characters", MinPasswordLen)
	// ErrPasswordTooLong is returned by HashPassword for a password longer
	// than MaxPasswordLen bytes.
	ErrPasswordTooLong = fmt.Errorf("auth: password too long: use at most %d bytes", MaxPasswordLen)
	// ErrMalformedHash is returned (wrapped, with the reason) by
	// CheckPassword when the stored hash is not an Argon2id PHC string this
	// package would produce, or its parameters exceed the caps.
	ErrMalformedHash = errors.New("auth: malformed password hash")
	// ErrInvalidParams is returned (wrapped) by HashPassword when the
	// Argon2 parameters are out of range.
	ErrInvalidParams = errors.New("auth: invalid Argon2 parameters")
)

// Validate reports whether p is within the bounds this package accepts:
// Time 1..MaxArgon2Time, Threads 1..MaxArgon2Threads and Memory from
// 8×Threads (the Argon2 minimum) to MaxArgon2Memory KiB.
func (p Argon2Params) Validate() error {
	switch {
	case p.Time < 1 || p.Time > MaxArgon2Time:
		return fmt.Errorf("time t=%d outside 1..%d", p.Time, MaxArgon2Time)
	case p.Threads < 1 || p.Threads > MaxArgon2Threads:
		return fmt.Errorf("threads p=%d outside 1..%d", p.Threads, MaxArgon2Threads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > MaxArgon2Memory:
		return fmt.Errorf("memory m=%d KiB outside %d..%d", p.Memory, 8*uint32(p.Threads), MaxArgon2Memory)
	}
	return nil
}

// HashPassword hashes pw with Argon2id and a fresh 16-byte salt and returns
// the PHC string "$argon2id$v=19$m=...,t=...,p=...$salt$hash" (unpadded
// standard base64). It returns ErrWeakPassword or ErrPasswordTooLong for a
// password outside the length limits, and an error wrapping
// ErrInvalidParams for parameters that fail Argon2Params.Validate.
func HashPassword(pw string, p Argon2Params) (string, error) {
	if len(pw) > MaxPasswordLen {
		return "", ErrPasswordTooLong
	}
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return "", ErrWeakPassword
	}
	if err := p.Validate(); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidParams, err)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: reading random salt: %w", err)
	}
	h := phc{params: p, salt: salt}
	h.key = argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	return h.String(), nil
}

// CheckPassword reports whether pw matches the stored PHC string. The
// comparison is constant time. The error is non-nil only when the stored
// string is malformed or its parameters exceed the caps (it then wraps
// ErrMalformedHash); a wrong password is (false, nil). A password longer
// than MaxPasswordLen never matches and is not hashed.
func CheckPassword(stored, pw string) (bool, error) {
	h, err := parsePHC(stored)
	if err != nil {
		return false, err
	}
	if len(pw) > MaxPasswordLen {
		return false, nil
	}
	p := h.params
	got := argon2.IDKey([]byte(pw), h.salt, p.Time, p.Memory, p.Threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1, nil
}

// NeedsRehash reports whether the stored hash should be replaced by
// HashPassword(pw, p) at the next successful sign-in: it is malformed, or
// its parameters, salt length or output length differ from what
// HashPassword(_, p) produces now.
func NeedsRehash(stored string, p Argon2Params) bool {
	h, err := parsePHC(stored)
	if err != nil {
		return true
	}
	return h.params != p || len(h.salt) != saltLen || len(h.key) != keyLen
}

// CheckDummyWith costs what CheckPassword costs for a hash made with p
// (DefaultArgon2 when p is invalid), and always fails. Call it when the
// account does not exist (or has no password), so that the response time
// does not tell which e-mail addresses have accounts.
func CheckDummyWith(pw string, p Argon2Params) {
	_, _ = CheckPassword(dummyHash(p), pw)
}

// dummyHash is a well-formed hash with parameters p (DefaultArgon2 if p is
// invalid), so that checking it runs the same code as a real check: parse,
// length rule, Argon2id, compare. Its zero key is matched by no password
// except with probability 2^-256.
func dummyHash(p Argon2Params) string {
	if p.Validate() != nil {
		p = DefaultArgon2
	}
	return phc{params: p, salt: make([]byte, saltLen), key: make([]byte, keyLen)}.String()
}

// phc is a parsed Argon2id PHC string.
type phc struct {
	params Argon2Params
	salt   []byte
	key    []byte
}

var b64 = base64.RawStdEncoding.Strict()

func (h phc) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.params.Memory, h.params.Time, h.params.Threads,
		b64.EncodeToString(h.salt), b64.EncodeToString(h.key))
}

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedHash, fmt.Sprintf(format, a...))
}

// parsePHC parses the one canonical form String produces, and checks the
// parameters against the caps before anything is allocated for Argon2.
// Errors name the faulty field, never echo the salt or hash.
func parsePHC(s string) (phc, error) {
	var h phc
	if len(s) > maxPHCLen {
		return h, malformed("%d bytes, longer than %d", len(s), maxPHCLen)
	}
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return h, malformed(`want "$argon2id$v=19$m=M,t=T,p=P$salt$hash"`)
	}
	if f[1] != "argon2id" {
		return h, malformed("algorithm is not argon2id")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, malformed("version is not v=%d", argon2.Version)
	}
	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return h, malformed(`parameters: want "m=M,t=T,p=P"`)
	}
	var vals [3]uint32
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(ps[i], name+"=")
		if !ok {
			return h, malformed("parameter %d: want %s=", i+1, name)
		}
		n, err := parseDecimal(v)
		if err != nil {
			return h, malformed("parameter %s: %v", name, err)
		}
		vals[i] = n
	}
	if vals[2] > MaxArgon2Threads {
		return h, malformed("threads p=%d above the cap of %d", vals[2], MaxArgon2Threads)
	}
	h.params = Argon2Params{Memory: vals[0], Time: vals[1], Threads: uint8(vals[2])}
	if err := h.params.Validate(); err != nil {
		return h, malformed("%v", err)
	}
	var err error
	if h.salt, err = decodeB64(f[4], minSaltLen, maxSaltLen); err != nil {
		return h, malformed("salt: %v", err)
	}
	if h.key, err = decodeB64(f[5], minKeyLen, maxKeyLen); err != nil {
		return h, malformed("hash: %v", err)
	}
	return h, nil
}

// parseDecimal accepts 0 or a decimal number without sign or leading
// zeros that fits in 32 bits.
func parseDecimal(s string) (uint32, error) {
	if s == "" || len(s) > 10 {
		return 0, errors.New("not a 32-bit decimal number")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, errors.New("leading zero")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("not a decimal number")
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errors.New("not a 32-bit decimal number")
	}
	return uint32(n), nil
}

func decodeB64(s string, minLen, maxLen int) ([]byte, error) {
	n := b64.DecodedLen(len(s))
	if n < minLen || n > maxLen {
		return nil, fmt.Errorf("%d bytes, want %d..%d", n, minLen, maxLen)
	}
	// The decoder skips '\r' and '\n'; a stored hash must not carry them.
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, errors.New("not unpadded standard base64")
		}
	}
	b, err := b64.DecodeString(s)
	if err != nil {
		return nil, errors.New("not unpadded standard base64")
	}
	if len(b) < minLen {
		return nil, fmt.Errorf("%d bytes, want %d..%d", len(b), minLen, maxLen)
	}
	return b, nil
}
