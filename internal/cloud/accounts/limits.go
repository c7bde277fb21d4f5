package accounts

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
)

// LimitIP applies the per-address limit of the entry points that take no
// credential (sign-up, sign-in, resets, sign-in links, and the cloud's
// other unauthenticated routes): a Limited error when ip is over it. The
// limit is in the Store, shared by every replica.
func (s *Service) LimitIP(ctx context.Context, ip string) error {
	ok, wait, err := s.ipLimit.Allow(ctx, ip)
	if err != nil {
		return err
	}
	if !ok {
		return &Error{Kind: Limited, Msg: "too many requests; slow down", RetryAfter: wait}
	}
	return nil
}

// FailedIP counts a failed attempt (a wrong credential) from ip: past the
// free failures, its requests back off.
func (s *Service) FailedIP(ctx context.Context, ip string) { s.failed(ctx, s.ipLimit, ip) }

// limit applies the limiter l to key (an account's bucket); msg is the
// refusal's message.
func (s *Service) limit(ctx context.Context, l *auth.Limiter, key, msg string) error {
	ok, wait, err := l.Allow(ctx, key)
	if err != nil {
		return err
	}
	if !ok {
		return &Error{Kind: Limited, Msg: msg, RetryAfter: wait}
	}
	return nil
}

// failed records a failed attempt of key with l. A failure that cannot be
// recorded is logged, not returned: the request fails anyway, with the
// answer it would have had.
func (s *Service) failed(ctx context.Context, l *auth.Limiter, key string) {
	if err := l.Fail(context.WithoutCancel(ctx), key); err != nil {
		s.log.Warn("a failed attempt was not counted", "err", err)
	}
}

// succeeded ends key's backoff with l; like failed, it only logs errors.
func (s *Service) succeeded(ctx context.Context, l *auth.Limiter, key string) {
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
func (s *Service) useTOTP(ctx context.Context, a store.Account, code string) (bool, error) {
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
