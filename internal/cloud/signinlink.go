package cloud

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
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
// never reaches a server log. (The demo enrols the
// browser through an invite of the household, households_web.go.)

// maxSignInLinkTTL bounds how long a link may stay valid.
const maxSignInLinkTTL = time.Hour

// linkKey is the store key of the link whose token hashes to hash.
func linkKey(hash [32]byte) string { return keyLink + hex.EncodeToString(hash[:]) }

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
	expires := now.Add(ttl)
	stored, err := s.st.PutIfAbsent(ctx, linkKey(hash), []byte(accountID), now, expires)
	if err != nil {
		return "", err
	}
	if !stored { // two random 32-byte tokens alike: never
		return "", errors.New("cloud: sign-in link: token collision")
	}
	s.log.Info("sign-in link created", "account", accountID, "expires", expires)
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
	if err := s.limitIP(r.Context(), c); err != nil {
		return err
	}
	var req linkReq
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	bad := errorf(http.StatusUnauthorized, "this sign-in link is used, expired or wrong (hint: restart 'vigil demo' for a fresh one)")
	if req.Token == "" || len(req.Token) > 256 {
		s.failed(r.Context(), s.ipLimit, c.ip)
		return bad
	}
	acct, err := s.st.Take(r.Context(), linkKey(auth.HashToken(req.Token)), s.now())
	if errors.Is(err, store.ErrNotFound) {
		s.failed(r.Context(), s.ipLimit, c.ip)
		return bad
	}
	if err != nil {
		return err
	}
	resp, err := s.issueToken(w, r, string(acct), "browser", []string{ScopeRead, ScopeWrite})
	if err != nil {
		return err
	}
	s.log.Info("signed in", "account", string(acct), "type", "browser", "with", "sign-in link")
	writeJSON(w, http.StatusOK, resp)
	return nil
}
