package cloud

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"vigil/internal/cloud/store"
)

// Passkeys (WebAuthn). A signed-in account adds passkeys; a passkey then
// signs in on its own (possession of the authenticator plus its user
// verification), without the password or TOTP. Sign-in uses discoverable
// credentials only: the begin step takes no e-mail address, so it cannot
// reveal whether an account exists.

// ceremonyTTL bounds how long a begun ceremony can be finished.
const ceremonyTTL = 5 * time.Minute

// ceremony is a begun registration or sign-in, kept in memory (one replica)
// and usable once.
type ceremony struct {
	session   webauthn.SessionData
	register  bool
	accountID string // registration: the signed-in account
	tokenType string // sign-in: "api" or "browser"
	scopes    []string
	expires   time.Time
}

type ceremonies struct {
	mu sync.Mutex
	m  map[string]*ceremony
}

func (c *ceremonies) put(now time.Time, cer *ceremony) string {
	b := make([]byte, 18)
	rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*ceremony{}
	}
	for k, v := range c.m { // expired ones go; the map stays small
		if now.After(v.expires) {
			delete(c.m, k)
		}
	}
	if len(c.m) >= 100_000 {
		return ""
	}
	c.m[id] = cer
	return id
}

// take returns and forgets a ceremony: a challenge is answered once.
func (c *ceremonies) take(now time.Time, id string) *ceremony {
	c.mu.Lock()
	defer c.mu.Unlock()
	cer := c.m[id]
	delete(c.m, id)
	if cer == nil || now.After(cer.expires) {
		return nil
	}
	return cer
}

// relyingParty configures WebAuthn for the service's public URL.
func (s *Server) relyingParty() (*webauthn.WebAuthn, error) {
	u, err := url.Parse(s.opt.PublicURL)
	if err != nil || u.Host == "" {
		return nil, errorf(http.StatusNotImplemented, "passkeys need the service's public_url to be set")
	}
	return webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: "Vigil",
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
	})
}

// passkeyUser is an account as the WebAuthn library sees it.
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
			return passkeyUser{}, fmt.Errorf("stored passkey of %s: %w", a.ID, err)
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
	id := s.ceremonies.put(s.now(), &ceremony{session: *session, register: true, accountID: c.account.ID, expires: s.now().Add(ceremonyTTL)})
	if id == "" {
		return errorf(http.StatusServiceUnavailable, "too many passkey ceremonies in progress; retry")
	}
	writeJSON(w, http.StatusOK, ceremonyResp{Ceremony: id, Options: creation})
	return nil
}

func (s *Server) passkeyRegisterFinish(w http.ResponseWriter, r *http.Request, c *call) error {
	cer := s.ceremonies.take(s.now(), r.URL.Query().Get("ceremony"))
	if cer == nil || !cer.register || cer.accountID != c.account.ID {
		return errorf(http.StatusBadRequest, "no such passkey registration in progress (expired or already used); begin again")
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
	cred, err := rp.CreateCredential(u, cer.session, parsed)
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
	writeJSON(w, http.StatusCreated, map[string]string{"status": "passkey added; it signs in on its own"})
	return nil
}

type passkeyLoginReq struct {
	Type   string   `json:"type"`
	Scopes []string `json:"scopes,omitempty"`
}

func (s *Server) passkeyLoginBegin(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(c); err != nil {
		return err
	}
	var req passkeyLoginReq
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Type != "api" && req.Type != "browser" {
		return errorf(http.StatusBadRequest, `field "type": "api" or "browser"`)
	}
	if len(req.Scopes) == 0 {
		req.Scopes = []string{ScopeRead, ScopeWrite}
	}
	for _, sc := range req.Scopes {
		if sc != ScopeRead && sc != ScopeWrite || (req.Type == "browser" && len(req.Scopes) != 2) {
			return errorf(http.StatusBadRequest, `field "scopes": "read" and/or "write", for "api" tokens only`)
		}
	}
	rp, err := s.relyingParty()
	if err != nil {
		return err
	}
	assertion, session, err := rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return err
	}
	id := s.ceremonies.put(s.now(), &ceremony{session: *session, tokenType: req.Type, scopes: req.Scopes, expires: s.now().Add(ceremonyTTL)})
	if id == "" {
		return errorf(http.StatusServiceUnavailable, "too many passkey ceremonies in progress; retry")
	}
	writeJSON(w, http.StatusOK, ceremonyResp{Ceremony: id, Options: assertion})
	return nil
}

// errPasskey is the one answer for a passkey sign-in that does not verify.
var errPasskey = &apiError{status: http.StatusUnauthorized, msg: "passkey sign-in failed"}

func (s *Server) passkeyLoginFinish(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(c); err != nil {
		return err
	}
	cer := s.ceremonies.take(s.now(), r.URL.Query().Get("ceremony"))
	if cer == nil || cer.register {
		return errorf(http.StatusBadRequest, "no such passkey sign-in in progress (expired or already used); begin again")
	}
	body, err := readBody(w, r, maxJSONBytes)
	if err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		s.ipLimit.Fail(c.ip)
		return &apiError{status: http.StatusUnauthorized, msg: "passkey sign-in failed: " + webauthnReason(err)}
	}
	rp, err := s.relyingParty()
	if err != nil {
		return err
	}
	var user passkeyUser
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		if len(userHandle) == 0 || len(userHandle) > 64 {
			return nil, errors.New("no user handle")
		}
		a, err := s.st.Account(r.Context(), string(userHandle))
		if err != nil {
			return nil, err
		}
		user, err = s.passkeyUser(r, a)
		return user, err
	}
	cred, err := rp.ValidateDiscoverableLogin(handler, cer.session, parsed)
	if err != nil {
		s.ipLimit.Fail(c.ip)
		return &apiError{status: http.StatusUnauthorized, msg: "passkey sign-in failed: " + webauthnReason(err)}
	}
	if cred.Authenticator.CloneWarning {
		s.ipLimit.Fail(c.ip)
		s.log.Warn("passkey sign count went backwards: possibly a cloned authenticator; sign-in refused", "account", user.a.ID)
		return &apiError{status: http.StatusUnauthorized, msg: "passkey sign-in failed: the authenticator's signature counter went backwards (a cloned passkey?); sign in another way and remove this passkey"}
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	if err := s.st.UpdateCredential(r.Context(), store.Credential{ID: cred.ID, Data: data, LastUsed: s.now().UTC()}); err != nil {
		return err
	}
	resp, err := s.issueToken(w, r, user.a.ID, cer.tokenType, cer.scopes)
	if err != nil {
		return err
	}
	s.log.Info("signed in", "account", user.a.ID, "type", cer.tokenType, "with", "passkey")
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// webauthnReason is the client-facing reason of a WebAuthn error.
func webauthnReason(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return pe.Details
	}
	return "the response does not verify"
}
