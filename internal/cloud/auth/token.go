package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
)

// TokenBytes is how many random bytes a token or CSRF token carries (256
// bits), before base64url encoding.
const TokenBytes = 32

// MaxTokenPrefixLen bounds the prefix of NewToken.
const MaxTokenPrefixLen = 16

// ErrInvalidTokenPrefix is returned by NewToken for a prefix that is too
// long or holds characters other than ASCII letters, digits, '_' and '-'.
var ErrInvalidTokenPrefix = errors.New("auth: invalid token prefix")

// NewToken returns a new bearer token: prefix followed by the unpadded
// base64url form of TokenBytes random bytes (for example "vgs_..."), and
// its SHA-256 (HashToken). The secret goes to the client once; only the
// hash is stored, so a copy of the database cannot be replayed. The prefix
// says what kind of token it is, for people and secret scanners; it adds no
// security.
func NewToken(prefix string) (secret string, hash [32]byte, err error) {
	if !validPrefix(prefix) {
		return "", hash, fmt.Errorf("%w: %q: use at most %d of A-Z a-z 0-9 _ -", ErrInvalidTokenPrefix, prefix, MaxTokenPrefixLen)
	}
	r, err := randomText()
	if err != nil {
		return "", hash, err
	}
	secret = prefix + r
	return secret, HashToken(secret), nil
}

func validPrefix(p string) bool {
	if len(p) > MaxTokenPrefixLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// HashToken returns the SHA-256 of a presented token, the key it is stored
// and looked up under. The token has 256 bits of entropy, so a fast hash is
// enough: there is nothing to brute-force.
func HashToken(secret string) [32]byte {
	return sha256.Sum256([]byte(secret))
}

// NewCSRFToken returns a random token (base64url of TokenBytes bytes) to
// bind to a browser session and require in a request header.
func NewCSRFToken() (string, error) {
	return randomText()
}

// EqualTokens reports whether a and b are the same token, in time that
// depends on neither their contents nor their lengths (both are hashed
// first). An empty token equals nothing, not even another empty one, so a
// missing header never matches a missing session value.
func EqualTokens(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

func randomText() (string, error) {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: reading random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
