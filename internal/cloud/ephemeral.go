package cloud

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"time"

	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
)

// Short-lived state lives in the store (store.EphemeralStore), not in the
// Server, so that any replica can take the next request: a sign-in's
// failures count on every replica, a TOTP code used on one is refused on
// all, a passkey ceremony begun on one finishes on another, a sign-in link
// is used once across all, an invite made on one is joined on another.
// Each feature keeps its entries under its own key prefix:
const (
	keyLimitIP   = "limit/ip/"    // + client address: auth.Limiter bucket
	keyLimitAcct = "limit/acct/"  // + normalised e-mail: auth.Limiter bucket
	keyTOTP      = "totp/"        // + account ID: the last TOTP step used (8 bytes)
	keyCeremony  = "passkey/"     // + ceremony ID: a passkey ceremony (passkey.go)
	keyLink      = "signin-link/" // + hex SHA-256 of the link token: account ID (signinlink.go)
	keyNonces    = "nonces/"      // + household ID: signed actions' nonces (households_web.go)
	keyInvites   = "invites/"     // + household ID: its open invites and requests (households_web.go)
	keyInvite    = "invite/"      // + invite ID: its household ID (households_web.go)
)

// limitIP applies the per-address limit to unauthenticated entry points.
func (s *Server) limitIP(ctx context.Context, c *call) error {
	ok, wait, err := s.ipLimit.Allow(ctx, c.ip)
	if err != nil {
		return err
	}
	if !ok {
		return &apiError{status: http.StatusTooManyRequests, msg: "too many requests; slow down", retryAfter: retrySeconds(wait)}
	}
	return nil
}

// limitAccount applies the per-account backoff of failed sign-ins; msg is
// the refusal's message.
func (s *Server) limitAccount(ctx context.Context, email, msg string) error {
	ok, wait, err := s.acctLimit.Allow(ctx, email)
	if err != nil {
		return err
	}
	if !ok {
		return &apiError{status: http.StatusTooManyRequests, msg: msg, retryAfter: retrySeconds(wait)}
	}
	return nil
}

func retrySeconds(wait time.Duration) int { return max(1, int(wait.Seconds()+0.999)) }

// failed records a failed attempt of key with l. A failure that cannot be
// recorded is logged, not returned: the request fails anyway, with the
// answer it would have had.
func (s *Server) failed(ctx context.Context, l *auth.Limiter, key string) {
	if err := l.Fail(context.WithoutCancel(ctx), key); err != nil {
		s.log.Warn("a failed attempt was not counted", "err", err)
	}
}

// succeeded ends key's backoff with l; like failed, it only logs errors.
func (s *Server) succeeded(ctx context.Context, l *auth.Limiter, key string) {
	if err := l.Succeed(context.WithoutCancel(ctx), key); err != nil {
		s.log.Warn("a backoff was not reset", "err", err)
	}
}

// errTOTPRefused aborts the TOTP step's update: the code is wrong or used.
var errTOTPRefused = errors.New("totp refused")

// useTOTP checks an authenticator code of account a and, if it is right
// and of a step later than the last one used, records its step, in one
// atomic update: a code is accepted once across every replica, even by two
// requests racing with it. It returns false for a wrong or used code, or
// an account without a second factor.
func (s *Server) useTOTP(ctx context.Context, a store.Account, code string) (bool, error) {
	if len(a.TOTPSecret) == 0 {
		return false, nil
	}
	now := s.now()
	err := s.st.Update(ctx, keyTOTP+a.ID, now, func(cur []byte) ([]byte, time.Time, error) {
		var last int64
		if len(cur) == 8 {
			last = int64(binary.BigEndian.Uint64(cur))
		}
		step, ok := auth.VerifyTOTP(a.TOTPSecret, code, now, last)
		if !ok {
			return nil, time.Time{}, errTOTPRefused
		}
		// Kept until VerifyTOTP no longer looks at steps it could refuse
		// (it tries the steps of now-30s..now+30s).
		until := time.Unix((step+3)*int64(auth.TOTPPeriod/time.Second), 0)
		return binary.BigEndian.AppendUint64(nil, uint64(step)), until, nil
	})
	if errors.Is(err, errTOTPRefused) {
		return false, nil
	}
	return err == nil, err
}
