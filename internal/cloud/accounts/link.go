package accounts

import (
	"context"
	"encoding/hex"
	"errors"
	"time"

	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
)

// One-time sign-in links. An operator process that runs next to the
// service (vigil demo) creates a link for an account; the first browser that
// presents it gets a browser session, and nobody else ever can: the token is
// stored only as its hash (an EphemeralStore entry naming the account),
// taken atomically when used — by one request of one replica, however many
// race with it — and short-lived. The token travels in a URL fragment, so it
// never reaches a server log.

// linkKey is the store key of the link whose token hashes to hash.
func linkKey(hash [32]byte) string { return keyLink + hex.EncodeToString(hash[:]) }

// SignInLink creates a single-use token that signs accountID in as a
// browser session (SignInWithLink), valid for ttl (at most
// MaxSignInLinkTTL, which is also what 0 means). Only its hash is stored.
func (s *Service) SignInLink(ctx context.Context, accountID string, ttl time.Duration) (string, error) {
	if ttl <= 0 || ttl > MaxSignInLinkTTL {
		ttl = MaxSignInLinkTTL
	}
	if _, err := s.st.Account(ctx, accountID); err != nil {
		return "", err
	}
	secret, hash, err := auth.NewToken("vgl_")
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	expires := now.Add(ttl)
	stored, err := s.st.PutIfAbsent(ctx, linkKey(hash), []byte(accountID), now, expires)
	if err != nil {
		return "", err
	}
	if !stored { // two random 32-byte tokens alike: never
		return "", errors.New("accounts: sign-in link: token collision")
	}
	s.log.Info("sign-in link created", "account", accountID, "expires", expires)
	return secret, nil
}

// SignInWithLink exchanges a one-time link token for a browser session. ip
// is the client's address, whose failures are counted. The caller applies
// LimitIP first.
func (s *Service) SignInWithLink(ctx context.Context, ip, token string) (Session, error) {
	bad := errorf(Unauthorized, "this sign-in link is used, expired or wrong (hint: restart 'vigil demo' for a fresh one)")
	if token == "" || len(token) > 256 {
		s.failed(ctx, s.ipLimit, ip)
		return Session{}, bad
	}
	acct, err := s.st.Take(ctx, linkKey(auth.HashToken(token)), s.now())
	if errors.Is(err, store.ErrNotFound) {
		s.failed(ctx, s.ipLimit, ip)
		return Session{}, bad
	}
	if err != nil {
		return Session{}, err
	}
	sess, err := s.Issue(ctx, string(acct), TypeBrowser, []string{ScopeRead, ScopeWrite})
	if err != nil {
		return Session{}, err
	}
	s.log.Info("signed in", "account", string(acct), "type", TypeBrowser, "with", "sign-in link")
	return sess, nil
}
