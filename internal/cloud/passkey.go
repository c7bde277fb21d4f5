package cloud

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"vigil/internal/cloud/accounts"
	"vigil/internal/cloud/passkeys"
)

// The passkeys routes: register, list and delete passkeys, and sign in with
// one. Their logic is the passkeys domain's (internal/cloud/passkeys); the
// handlers here read the request, apply the per-address limits, call it,
// issue the session through the accounts domain and write the answer.

// passkeysError maps a passkeys domain refusal to its answer, and returns
// any other error as it is.
func passkeysError(err error) error {
	var pe *passkeys.Error
	if !errors.As(err, &pe) {
		return err
	}
	if pe.Kind == passkeys.NotFound {
		return errNotFound
	}
	status := map[passkeys.Kind]int{
		passkeys.Invalid:      http.StatusBadRequest,
		passkeys.Unauthorized: http.StatusUnauthorized,
		passkeys.Conflict:     http.StatusConflict,
		passkeys.Off:          http.StatusNotImplemented,
	}[pe.Kind]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	return &apiError{status: status, msg: pe.Msg}
}

type ceremonyResp struct {
	Ceremony string          `json:"ceremony"`
	Options  json.RawMessage `json:"options"`
}

func (s *Server) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct{}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	b, err := s.passkeys.BeginRegistration(r.Context(), c.account)
	if err != nil {
		return passkeysError(err)
	}
	writeJSON(w, http.StatusOK, ceremonyResp{Ceremony: b.Ceremony, Options: b.Options})
	return nil
}

func (s *Server) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := readBody(w, r, maxJSONBytes)
	if err != nil {
		return err
	}
	pk, err := s.passkeys.FinishRegistration(r.Context(), c.account, r.URL.Query().Get("ceremony"), body)
	if err != nil {
		return passkeysError(err)
	}
	writeJSON(w, http.StatusCreated, passkeyInfo(pk))
	return nil
}

type passkeyJSON struct {
	ID       string    `json:"id"` // base64url, as WebAuthn's credential id
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
}

func passkeyInfo(p passkeys.Passkey) passkeyJSON {
	return passkeyJSON{ID: base64.RawURLEncoding.EncodeToString(p.ID), Created: p.Created, LastUsed: p.LastUsed}
}

func (s *Server) listPasskeys(w http.ResponseWriter, r *http.Request, c *call) error {
	pks, err := s.passkeys.List(r.Context(), c.account.ID)
	if err != nil {
		return passkeysError(err)
	}
	out := []passkeyJSON{}
	for _, pk := range pks {
		out = append(out, passkeyInfo(pk))
	}
	writeJSON(w, http.StatusOK, map[string]any{"passkeys": out})
	return nil
}

// deletePasskey removes one of the caller's passkeys (a lost or cloned
// authenticator). Another account's passkey is not found.
func (s *Server) deletePasskey(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := base64.RawURLEncoding.DecodeString(r.PathValue("id"))
	if err != nil {
		return errNotFound
	}
	if err := s.passkeys.Delete(r.Context(), c.account.ID, id); err != nil {
		return passkeysError(err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "passkey removed; it no longer signs in"})
	return nil
}

type passkeyLoginReq struct {
	// Type and Scopes are those of POST /v1/sessions.
	Type   string   `json:"type"`
	Scopes []string `json:"scopes,omitempty"`
	// Email, optional, restricts the sign-in to that account's passkeys.
	Email string `json:"email,omitempty"`
}

func (s *Server) passkeyLoginBegin(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(r.Context(), c); err != nil {
		return err
	}
	var req passkeyLoginReq
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	scopes, err := accounts.CheckTokenType(req.Type, req.Scopes)
	if err != nil {
		return err
	}
	email := ""
	if req.Email != "" {
		if email, err = accounts.NormalizeEmail(req.Email); err != nil {
			return err
		}
	}
	b, err := s.passkeys.BeginLogin(r.Context(), email, passkeys.Grant{Type: req.Type, Scopes: scopes})
	if err != nil {
		return passkeysError(err)
	}
	writeJSON(w, http.StatusOK, ceremonyResp{Ceremony: b.Ceremony, Options: b.Options})
	return nil
}

// passkeyLoginFinish signs in with a passkey: the passkeys domain checks
// the answer, the accounts domain issues the session as for any sign-in.
func (s *Server) passkeyLoginFinish(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(r.Context(), c); err != nil {
		return err
	}
	body, err := readBody(w, r, maxJSONBytes)
	if err != nil {
		return err
	}
	in, err := s.passkeys.FinishLogin(r.Context(), r.URL.Query().Get("ceremony"), body)
	if err != nil {
		// A wrong answer counts against the address, as a wrong password does.
		var pe *passkeys.Error
		if errors.As(err, &pe) && pe.Kind == passkeys.Unauthorized {
			s.accounts.FailedIP(r.Context(), c.ip)
		}
		return passkeysError(err)
	}
	sess, err := s.accounts.Issue(r.Context(), in.AccountID, in.Grant.Type, in.Grant.Scopes)
	if err != nil {
		return err
	}
	s.log.Info("signed in", "account", in.AccountID, "type", in.Grant.Type, "with", "passkey")
	writeJSON(w, http.StatusOK, s.sessionAnswer(w, sess))
	return nil
}
