package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TOTP as authenticator apps implement it (RFC 6238 with the defaults of
// the otpauth key URI format): HMAC-SHA-1, 30-second steps, 6 digits.
const (
	TOTPPeriod     = 30 * time.Second
	TOTPDigits     = 6
	TOTPSecretSize = 20 // bytes from NewTOTPSecret (160 bits, RFC 4226's recommendation)
	// MinTOTPSecretSize is the shortest secret VerifyTOTP accepts (RFC 4226
	// requires at least 128 bits).
	MinTOTPSecretSize = 16
)

// NewTOTPSecret returns TOTPSecretSize random bytes for a new second
// factor. Store it as is (it must be readable to verify codes) and show it
// to the user once, as TOTPURI or Base32Secret.
func NewTOTPSecret() ([]byte, error) {
	b := make([]byte, TOTPSecretSize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("auth: reading random TOTP secret: %w", err)
	}
	return b, nil
}

// TOTPStep returns the RFC 6238 time step of t: floor(Unix time / 30 s).
func TOTPStep(t time.Time) int64 {
	u := t.Unix()
	s := u / int64(TOTPPeriod/time.Second)
	if u < 0 && u%int64(TOTPPeriod/time.Second) != 0 {
		s--
	}
	return s
}

// TOTPCode returns the 6-digit code for secret at time t.
func TOTPCode(secret []byte, t time.Time) string {
	return totp(secret, t, TOTPDigits)
}

// totp is RFC 6238 TOTP (HMAC-SHA-1, 30 s) with the given number of
// digits; the RFC's own test vectors use 8.
func totp(secret []byte, t time.Time, digits int) string {
	return hotp(secret, uint64(TOTPStep(t)), digits)
}

// VerifyTOTP checks a 6-digit code against the steps of t-30s, t and
// t+30s (clock skew between phone and server). It returns the step the code
// matched so the caller can record it; a step at or below lastUsedStep is
// refused, so a code — or any code from an earlier step — is accepted at
// most once (replay). Pass 0 when no code has been used yet.
//
// The code must be exactly six ASCII digits: callers that let users type
// "123 456" strip the space first. A secret shorter than
// MinTOTPSecretSize never verifies.
func VerifyTOTP(secret []byte, code string, t time.Time, lastUsedStep int64) (step int64, ok bool) {
	if len(secret) < MinTOTPSecretSize || !isDigits(code, TOTPDigits) {
		return 0, false
	}
	now := TOTPStep(t)
	matched := int64(0)
	found := 0
	// Every candidate is computed and compared, matched or not, so the time
	// taken does not say which step matched.
	for s := now + 1; s >= now-1; s-- {
		eq := subtle.ConstantTimeCompare([]byte(hotp(secret, uint64(s), TOTPDigits)), []byte(code))
		fresh := 0
		if s > lastUsedStep {
			fresh = 1
		}
		// Iterating downwards, the last hit is the earliest fresh step, which
		// leaves later steps usable.
		if eq&fresh == 1 {
			matched, found = s, 1
		}
	}
	if found == 0 {
		return 0, false
	}
	return matched, true
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

var pow10 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// hotp is RFC 4226 HOTP with dynamic truncation to digits (1..8) digits.
func hotp(secret []byte, counter uint64, digits int) string {
	mac := hmac.New(sha1.New, secret)
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], counter)
	mac.Write(c[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", digits, bin%pow10[digits])
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Base32Secret returns secret as unpadded base32, the form authenticator
// apps accept for manual entry.
func Base32Secret(secret []byte) string {
	return b32.EncodeToString(secret)
}

// TOTPURI returns the otpauth://totp/ key URI for enrolling secret in an
// authenticator app (usually shown as a QR code): label "issuer:account",
// secret in unpadded base32, and the algorithm, digits and period spelled
// out. The URI contains the secret: show it to the user, never log it.
func TOTPURI(secret []byte, account, issuer string) string {
	label := uriEscape(account)
	if issuer != "" {
		label = uriEscape(issuer) + ":" + label
	}
	q := "secret=" + Base32Secret(secret)
	if issuer != "" {
		q += "&issuer=" + uriEscape(issuer)
	}
	q += fmt.Sprintf("&algorithm=SHA1&digits=%d&period=%d", TOTPDigits, int(TOTPPeriod/time.Second))
	return "otpauth://totp/" + label + "?" + q
}

// uriEscape percent-encodes s for the key URI, spaces as %20 (some apps
// show a literal "+").
func uriEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
