package cloud

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"vigil/internal/cloud/accounts"
	"vigil/internal/cloud/store"
)

// Passkeys (WebAuthn). A signed-in account adds passkeys; a passkey then
// signs in on its own — possession of the authenticator plus its user
// verification are two factors (G3) — without the password or TOTP. Sign-up
// stays password + TOTP, so every account keeps a way in that does not
// depend on one device.
//
// Registration asks for a discoverable credential (resident key), so sign-in
// needs no e-mail address. One may be given: it restricts the ceremony to
// that account's passkeys, but the options never list credentials, so the
// answer is the same for an address with an account, one without, and no
// address at all; a ceremony begun for an unknown address fails at finish
// exactly like a known address with someone else's passkey.

// ceremonyTTL bounds how long a begun ceremony can be finished.
const ceremonyTTL = 5 * time.Minute

// passkeys is the server's relying party. Its ceremonies in progress are
// in the store, so that a ceremony begun on one replica finishes on any.
type passkeys struct {
	rp  *webauthn.WebAuthn // nil when passkeys are off
	off string             // why they are off (the client's message)
}

// newPasskeys configures the relying party from Options. Settings given
// explicitly (RPID, RPOrigins) must be valid; ones derived from PublicURL
// that cannot work turn passkeys off, with the reason.
func newPasskeys(o Options) (passkeys, error) {
	rpID, origins := o.RPID, o.RPOrigins
	var u *url.URL
	if o.PublicURL != "" {
		var err error
		if u, err = url.Parse(o.PublicURL); err != nil || u.Host == "" {
			u = nil
		}
	}
	if rpID == "" && u != nil {
		rpID = u.Hostname()
		if ip := net.ParseIP(rpID); ip != nil {
			if !ip.IsLoopback() {
				return passkeys{off: fmt.Sprintf("passkeys need a domain name, and the service's public URL has the address %s (hint: set public_url to a https://name)", rpID)}, nil
			}
			// Browsers take "localhost" as a relying party, never an address.
			rpID = "localhost"
		}
	}
	if len(origins) == 0 && u != nil {
		origins = []string{u.Scheme + "://" + u.Host}
		if rpID == "localhost" && u.Hostname() != "localhost" {
			origins = append(origins, u.Scheme+"://"+net.JoinHostPort("localhost", u.Port()))
			if u.Port() == "" {
				origins[1] = u.Scheme + "://localhost"
			}
		}
	}
	if rpID == "" || len(origins) == 0 {
		if o.RPID != "" || len(o.RPOrigins) != 0 {
			return passkeys{}, errors.New("cloud: passkeys: RPID and RPOrigins need each other, or a PublicURL to derive the other from")
		}
		return passkeys{off: "passkeys are off: the service has no public URL (hint: set public_url)"}, nil
	}
	rp, err := webauthn.New(&webauthn.Config{RPID: rpID, RPDisplayName: "Vigil", RPOrigins: origins})
	if err != nil {
		if o.RPID != "" || len(o.RPOrigins) != 0 {
			return passkeys{}, fmt.Errorf("cloud: passkeys: %w", err)
		}
		return passkeys{off: fmt.Sprintf("passkeys are off: the public URL does not make a WebAuthn relying party (%v)", err)}, nil
	}
	return passkeys{rp: rp}, nil
}

// relyingParty returns the relying party, or the answer saying why
// passkeys are off.
func (s *Server) relyingParty() (*webauthn.WebAuthn, error) {
	if s.passkeys.rp == nil {
		return nil, errorf(http.StatusNotImplemented, "%s", s.passkeys.off)
	}
	return s.passkeys.rp, nil
}

// ceremony is a begun registration or sign-in, usable once, as stored
// (JSON) under keyCeremony and its ID. The session data holds the
// challenge; it is no secret (the browser gets it), and the ceremony's ID
// is random.
type ceremony struct {
	Session  webauthn.SessionData `json:"session"`
	Register bool                 `json:"register,omitempty"`
	// AccountID is, for a registration, the signed-in account; for a
	// sign-in with Bound set, the only account that may finish it ("" for
	// an e-mail address without an account: nobody).
	AccountID string   `json:"account_id,omitempty"`
	Bound     bool     `json:"bound,omitempty"`
	TokenType string   `json:"token_type,omitempty"` // sign-in: "api" or "browser"
	Scopes    []string `json:"scopes,omitempty"`
}

// putCeremony stores cer for ceremonyTTL and returns its ID.
func (s *Server) putCeremony(ctx context.Context, cer *ceremony) (string, error) {
	v, err := json.Marshal(cer)
	if err != nil {
		return "", err
	}
	b := make([]byte, 18)
	rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	stored, err := s.st.PutIfAbsent(ctx, keyCeremony+id, v, now, now.Add(ceremonyTTL))
	if err != nil {
		return "", err
	}
	if !stored { // two random 18-byte IDs alike: never
		return "", errors.New("cloud: passkey ceremony ID collision")
	}
	return id, nil
}

// takeCeremony returns and forgets a ceremony (nil when there is none, or
// it expired): a challenge is answered once, right or wrong, on whichever
// replica.
func (s *Server) takeCeremony(ctx context.Context, id string) (*ceremony, error) {
	if id == "" || len(id) > 64 {
		return nil, nil
	}
	v, err := s.st.Take(ctx, keyCeremony+id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cer := &ceremony{}
	if err := json.Unmarshal(v, cer); err != nil {
		return nil, fmt.Errorf("a stored passkey ceremony: %w", err)
	}
	return cer, nil
}

// passkeyUser is an account as the WebAuthn library sees it. Its user
// handle is the account ID (random; no e-mail address).
type passkeyUser struct {
	a     store.Account
	creds []webauthn.Credential
}

func (u passkeyUser) WebAuthnID() []byte                         { return []byte(u.a.ID) }
func (u passkeyUser) WebAuthnName() string                       { return u.a.Email }
func (u passkeyUser) WebAuthnDisplayName() string                { return u.a.Email }
func (u passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (s *Server) passkeyUser(r *http.Request, a store.Account) (passkeyUser, error) {
	stored, err := s.st.Credentials(r.Context(), a.ID)
	if err != nil {
		return passkeyUser{}, err
	}
	u := passkeyUser{a: a}
	for _, c := range stored {
		var wc webauthn.Credential
		if err := json.Unmarshal(c.Data, &wc); err != nil {
			return passkeyUser{}, fmt.Errorf("a stored passkey of %s: %w", a.ID, err)
		}
		u.creds = append(u.creds, wc)
	}
	return u, nil
}

type ceremonyResp struct {
	Ceremony string `json:"ceremony"`
	Options  any    `json:"options"`
}

func (s *Server) passkeyRegisterBegin(w http.ResponseWriter, r *http.Request, c *call) error {
	var req struct{}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	rp, err := s.relyingParty()
	if err != nil {
		return err
	}
	u, err := s.passkeyUser(r, c.account)
	if err != nil {
		return err
	}
	var exclude []protocol.CredentialDescriptor
	for _, cr := range u.creds {
		exclude = append(exclude, cr.Descriptor())
	}
	creation, session, err := rp.BeginRegistration(u,
		webauthn.WithExclusions(exclude),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, UserVerification: protocol.VerificationRequired}))
	if err != nil {
		return err
	}
	id, err := s.putCeremony(r.Context(), &ceremony{Session: *session, Register: true, AccountID: c.account.ID})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ceremonyResp{Ceremony: id, Options: creation})
	return nil
}

func (s *Server) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request, c *call) error {
	cer, err := s.takeCeremony(r.Context(), r.URL.Query().Get("ceremony"))
	if err != nil {
		return err
	}
	if cer == nil || !cer.Register || cer.AccountID != c.account.ID {
		return errorf(http.StatusBadRequest, "no such passkey registration in progress (expired, already used, or begun by another account); begin again")
	}
	body, err := readBody(w, r, maxJSONBytes)
	if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return errorf(http.StatusBadRequest, "passkey registration refused: %s", webauthnReason(err))
	}
	rp, err := s.relyingParty()
	if err != nil {
		return err
	}
	u, err := s.passkeyUser(r, c.account)
	if err != nil {
		return err
	}
	cred, err := rp.CreateCredential(u, cer.Session, parsed)
	if err != nil {
		return errorf(http.StatusBadRequest, "passkey registration refused: %s", webauthnReason(err))
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	if err := s.st.PutCredential(r.Context(), store.Credential{ID: cred.ID, AccountID: c.account.ID, Data: data, Created: now, LastUsed: now}); errors.Is(err, store.ErrExists) {
		return errorf(http.StatusConflict, "this passkey is already registered")
	} else if err != nil {
		return err
	}
	s.log.Info("passkey added", "account", c.account.ID)
	writeJSON(w, http.StatusCreated, passkeyInfo(store.Credential{ID: cred.ID, Created: now, LastUsed: now}))
	return nil
}

type passkeyJSON struct {
	ID       string    `json:"id"` // base64url, as WebAuthn's credential id
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
}

func passkeyInfo(c store.Credential) passkeyJSON {
	return passkeyJSON{ID: base64.RawURLEncoding.EncodeToString(c.ID), Created: c.Created, LastUsed: c.LastUsed}
}

func (s *Server) listPasskeys(w http.ResponseWriter, r *http.Request, c *call) error {
	creds, err := s.st.Credentials(r.Context(), c.account.ID)
	if err != nil {
		return err
	}
	out := []passkeyJSON{}
	for _, cr := range creds {
		out = append(out, passkeyInfo(cr))
	}
	writeJSON(w, http.StatusOK, map[string]any{"passkeys": out})
	return nil
}

// deletePasskey removes one of the caller's passkeys (a lost or cloned
// authenticator). Another account's passkey is not found.
func (s *Server) deletePasskey(w http.ResponseWriter, r *http.Request, c *call) error {
	id, err := base64.RawURLEncoding.DecodeString(r.PathValue("id"))
	if err != nil || len(id) == 0 || len(id) > 1023 {
		return errNotFound
	}
	if err := s.st.DeleteCredential(r.Context(), c.account.ID, id); errors.Is(err, store.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return err
	}
	s.log.Info("passkey removed", "account", c.account.ID)
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
	req.Scopes = scopes
	rp, err := s.relyingParty()
	if err != nil {
		return err
	}
	cer := &ceremony{TokenType: req.Type, Scopes: req.Scopes}
	if req.Email != "" {
		email, err := NormalizeEmail(req.Email)
		if err != nil {
			return err
		}
		cer.Bound = true
		// An address without an account binds the ceremony to nobody; the
		// answer does not change.
		a, err := s.st.AccountByEmail(r.Context(), email)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		cer.AccountID = a.ID
	}
	assertion, session, err := rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return err
	}
	cer.Session = *session
	id, err := s.putCeremony(r.Context(), cer)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ceremonyResp{Ceremony: id, Options: assertion})
	return nil
}

func (s *Server) passkeyLoginFinish(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(r.Context(), c); err != nil {
		return err
	}
	cer, err := s.takeCeremony(r.Context(), r.URL.Query().Get("ceremony"))
	if err != nil {
		return err
	}
	if cer == nil || cer.Register {
		return errorf(http.StatusBadRequest, "no such passkey sign-in in progress (expired or already used); begin again")
	}
	body, err := readBody(w, r, maxJSONBytes)
	if err != nil {
		return err
	}
	refuse := func(reason string) error {
		s.accounts.FailedIP(r.Context(), c.ip)
		return &apiError{status: http.StatusUnauthorized, msg: "passkey sign-in failed: " + reason}
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return refuse(webauthnReason(err))
	}
	// Checked before anything else about the passkey, so that an address
	// with an account and one without fail alike.
	if cer.Bound && (cer.AccountID == "" || string(parsed.Response.UserHandle) != cer.AccountID) {
		return refuse("this passkey does not belong to the account named at login/begin")
	}
	rp, err := s.relyingParty()
	if err != nil {
		return err
	}
	var (
		user      passkeyUser
		lookupErr error // the server's fault, not the client's
	)
	lookup := func(rawID, userHandle []byte) (webauthn.User, error) {
		if len(userHandle) > 64 {
			return nil, errors.New("no account has this passkey")
		}
		a, err := s.st.Account(r.Context(), string(userHandle))
		if errors.Is(err, store.ErrNotFound) {
			return nil, errors.New("no account has this passkey")
		}
		if err == nil {
			user, err = s.passkeyUser(r, a)
		}
		if err != nil {
			lookupErr = err
			return nil, errors.New("internal error")
		}
		return user, nil
	}
	cred, err := rp.ValidateDiscoverableLogin(lookup, cer.Session, parsed)
	if lookupErr != nil {
		return lookupErr
	}
	if err != nil {
		return refuse(webauthnReason(err))
	}
	if cred.Authenticator.CloneWarning {
		s.log.Warn("passkey signature counter went backwards (a cloned authenticator?); sign-in refused", "account", user.a.ID)
		return refuse("the authenticator's signature counter went backwards, so this passkey may have been copied; " +
			"sign in with your password and code, and remove it (DELETE /v1/passkeys/{id})")
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	if err := s.st.UpdateCredential(r.Context(), store.Credential{ID: cred.ID, Data: data, LastUsed: s.now().UTC()}); err != nil {
		return err
	}
	sess, err := s.accounts.Issue(r.Context(), user.a.ID, cer.TokenType, cer.Scopes)
	if err != nil {
		return err
	}
	s.log.Info("signed in", "account", user.a.ID, "type", cer.TokenType, "with", "passkey")
	writeJSON(w, http.StatusOK, s.sessionAnswer(w, sess))
	return nil
}

// webauthnReason is the client-facing reason of a WebAuthn error: the
// library's details name the failed check (origin, challenge, signature,
// credential) and hold no secrets; the checks of the authenticator data,
// which it reports only in its developer information, are named here.
func webauthnReason(err error) string {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		return "the response does not verify"
	}
	switch {
	case strings.HasPrefix(pe.DevInfo, "RP Hash mismatch"):
		return "the passkey is for another site (RP ID hash mismatch)"
	case strings.HasPrefix(pe.DevInfo, "User verification required"):
		return "the authenticator did not verify the user (PIN or biometrics are required)"
	case strings.HasPrefix(pe.DevInfo, "User presence required"):
		return "the authenticator did not report the user present"
	case strings.HasPrefix(pe.Details, "Error validating the assertion signature"):
		return "the signature does not verify"
	case pe.Details != "":
		return pe.Details
	}
	return "the response does not verify"
}
