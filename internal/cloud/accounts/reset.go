package accounts

import (
	"context"
	"errors"
	"fmt"

	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
)

// ResetStarted is the answer to a reset request, the same whether the
// address has an account or not.
const ResetStarted = "if an account has this address, a reset link is on its way; it restores sign-in (with your second factor), never access to footage"

// ResetDone is the answer to a confirmed reset.
const ResetDone = "password changed; every session was signed out. Footage access is unchanged: it needs an enrolled device or the recovery phrase"

// StartReset mails a reset token to the address if it has an account; it
// returns nil either way, so that the answer does not say which addresses
// have accounts. The caller applies LimitIP first.
func (s *Service) StartReset(ctx context.Context, email string) error {
	email, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	a, err := s.st.AccountByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	secret, hash, err := auth.NewToken("vgr_")
	if err != nil {
		return err
	}
	now := s.now().UTC()
	if err := s.st.PutToken(ctx, store.Token{Hash: hash, AccountID: a.ID, Kind: "reset", Created: now, Expires: now.Add(s.resetTTL)}); err != nil {
		return err
	}
	body := fmt.Sprintf("Someone asked to reset the password of your Vigil account.\n\n"+
		"Reset token: %s\nLink: %s/reset#%s\n\n"+
		"You will need your authenticator code too. Resetting restores sign-in only: "+
		"your footage stays sealed to your household's devices and recovery phrase.\n", secret, s.publicURL, secret)
	if err := s.mailer.Send(ctx, email, "Reset your Vigil password", body); err != nil {
		return err
	}
	s.log.Info("password reset mailed", "account", a.ID)
	return nil
}

// ConfirmReset sets a new password: it needs the mailed token AND the
// second factor, and signs every session and token of the account out. ip
// is the client's address, whose failures are counted. The caller applies
// LimitIP first.
func (s *Service) ConfirmReset(ctx context.Context, ip, token, totp, newPassword string) error {
	bad := errorf(Forbidden, "reset refused: the token is wrong or expired, or the authenticator code is wrong")
	if token == "" || len(token) > 256 {
		s.failed(ctx, s.ipLimit, ip)
		return bad
	}
	t, err := s.st.Token(ctx, auth.HashToken(token))
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.Kind != "reset") {
		s.failed(ctx, s.ipLimit, ip)
		return bad
	}
	if err != nil {
		return err
	}
	a, err := s.st.Account(ctx, t.AccountID)
	if err != nil {
		return err
	}
	if err := s.limit(ctx, s.resetLimit, a.ID, "too many failed attempts for this account; wait and try again"); err != nil {
		return err
	}
	if ok, err := s.useTOTP(ctx, a, totp); err != nil {
		return err
	} else if !ok {
		s.failed(ctx, s.resetLimit, a.ID)
		return bad
	}
	hash, err := auth.HashPassword(newPassword, s.argon2)
	if err != nil {
		return errorf(Invalid, "%v", err)
	}
	a.PasswordHash = hash
	if err := s.st.UpdateAccount(ctx, a); err != nil {
		return err
	}
	if err := s.st.DeleteTokens(ctx, a.ID, ""); err != nil {
		return err
	}
	s.succeeded(ctx, s.resetLimit, a.ID)
	s.log.Info("password reset", "account", a.ID)
	return nil
}
