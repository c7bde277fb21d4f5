package cloud

import (
	"context"
	"net/http"
	"time"
)

// One-time sign-in links (accounts.Service.SignInLink): an operator
// process that runs next to the service (vigil demo) creates one for an
// account, and the first browser that presents it gets a browser session.
// (The demo enrols the browser through an invite of the household,
// households_web.go.)

// SignInLink creates a single-use token that signs accountID in as a
// browser session through POST /v1/sessions/link, valid for ttl (at most
// an hour). Only its hash is stored.
func (s *Server) SignInLink(ctx context.Context, accountID string, ttl time.Duration) (string, error) {
	return s.accounts.SignInLink(ctx, accountID, ttl)
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
	sess, err := s.accounts.SignInWithLink(r.Context(), c.ip, req.Token)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.sessionAnswer(w, sess))
	return nil
}
