package cloud

import (
	"context"
	"errors"
	"net/http"
	"time"

	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
)

// One-time sign-in links. An operator process that runs next to the
// service (vigil demo) creates a link for an account; the first browser that
// presents it gets a browser session, and nobody else ever can: the token is
// stored only as its hash, used once and short-lived. The token travels in a
// URL fragment, so it never reaches a server log. (The demo enrols the
// browser through an invite of the household, households_web.go.)

const (
	// tokenSignInLink is the store kind of one-time sign-in link tokens.
	tokenSignInLink = "signin-link"
	// maxSignInLinkTTL bounds how long a link may stay valid.
	maxSignInLinkTTL = time.Hour
)

// SignInLink creates a single-use token that signs accountID in as a
// browser session through POST /v1/sessions/link, valid for ttl (at most
// an hour). Only its hash is stored.
func (s *Server) SignInLink(ctx context.Context, accountID string, ttl time.Duration) (string, error) {
	if ttl <= 0 || ttl > maxSignInLinkTTL {
		ttl = maxSignInLinkTTL
	}
	if _, err := s.st.Account(ctx, accountID); err != nil {
		return "", err
	}
	secret, hash, err := auth.NewToken("vgl_")
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	t := store.Token{Hash: hash, AccountID: accountID, Kind: tokenSignInLink, Created: now, Expires: now.Add(ttl)}
	if err := s.st.PutToken(ctx, t); err != nil {
		return "", err
	}
	s.log.Info("sign-in link created", "account", accountID, "expires", t.Expires)
	return secret, nil
}

func (s *Server) signInLinkRoutes() []route {
	return []route{
		{method: "POST", pattern: "/v1/sessions/link", auth: authNone, h: s.signInWithLink},
	}
}

type linkReq struct {
	Token string `json:"token"`
}

// signInWithLink exchanges a one-time link token for a browser session.
func (s *Server) signInWithLink(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(c); err != nil {
		return err
	}
	var req linkReq
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	bad := errorf(http.StatusUnauthorized, "this sign-in link is used, expired or wrong (hint: restart 'vigil demo' for a fresh one)")
	if req.Token == "" || len(req.Token) > 256 {
		s.ipLimit.Fail(c.ip)
		return bad
	}
	hash := auth.HashToken(req.Token)
	s.linkUse.Lock()
	t, err := s.st.Token(r.Context(), hash)
	if err == nil && t.Kind == tokenSignInLink {
		err = s.st.DeleteToken(r.Context(), hash)
	}
	s.linkUse.Unlock()
	if errors.Is(err, store.ErrNotFound) || (err == nil && (t.Kind != tokenSignInLink || !s.now().Before(t.Expires))) {
		s.ipLimit.Fail(c.ip)
		return bad
	}
	if err != nil {
		return err
	}
	resp, err := s.issueToken(w, r, t.AccountID, "browser", []string{ScopeRead, ScopeWrite})
	if err != nil {
		return err
	}
	s.log.Info("signed in", "account", t.AccountID, "type", "browser", "with", "sign-in link")
	writeJSON(w, http.StatusOK, resp)
	return nil
}
