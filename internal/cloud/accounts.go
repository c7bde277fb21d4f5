package cloud

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"

	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
	"vigil/internal/keydir"
)

// NormalizeEmail trims and lower-cases an address and checks its shape.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 254 {
		return "", errorf(http.StatusBadRequest, "e-mail address is too long")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s, "@") {
		return "", errorf(http.StatusBadRequest, "%q is not an e-mail address", s)
	}
	return s, nil
}

func newID(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return prefix + fmt.Sprintf("%x", b)
}

// signUp creates an account with a password and enrols its second factor
// at once: the account cannot sign in with the password alone.
func (s *Server) signUp(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(r.Context(), c); err != nil {
		return err
	}
	var req cloudapi.SignUp
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return err
	}
	if err := s.acquireHashing(r); err != nil {
		return err
	}
	hash, err := auth.HashPassword(req.Password, s.opt.Argon2)
	<-s.hashing
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	secret, err := auth.NewTOTPSecret()
	if err != nil {
		return err
	}
	a := store.Account{ID: newID("a"), Email: email, PasswordHash: hash, TOTPSecret: secret, Created: s.now().UTC()}
	if err := s.st.CreateAccount(r.Context(), a); errors.Is(err, store.ErrExists) {
		// Saying "taken" tells an outsider the address has an account; the
		// address owner learns it anyway by e-mail in a full deployment.
		return errorf(http.StatusConflict, "an account with this e-mail address exists; sign in or reset it")
	} else if err != nil {
		return err
	}
	s.log.Info("account created", "account", a.ID)
	writeJSON(w, http.StatusCreated, cloudapi.SignUpResult{
		AccountID: a.ID, TOTPSecret: auth.Base32Secret(secret), TOTPURI: auth.TOTPURI(secret, email, "Vigil"),
		Note: "add the secret to an authenticator app: every sign-in needs its 6-digit code",
	})
	return nil
}

// Token scopes.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// acquireHashing waits for a password-hashing slot.
func (s *Server) acquireHashing(r *http.Request) error {
	select {
	case s.hashing <- struct{}{}:
		return nil
	case <-r.Context().Done():
		return errorf(http.StatusServiceUnavailable, "request cancelled")
	}
}

// errSignInFailed is the one answer for a wrong e-mail, password or code, so
// the answer does not say which accounts exist or which factor was wrong.
var errSignInFailed = &apiError{status: http.StatusUnauthorized, msg: "sign-in failed: wrong e-mail, password or code"}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(r.Context(), c); err != nil {
		return err
	}
	var req cloudapi.SignIn
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
		if sc != ScopeRead && sc != ScopeWrite {
			return errorf(http.StatusBadRequest, `field "scopes": %q is not "read" or "write"`, sc)
		}
	}
	if req.Type == "browser" && len(req.Scopes) != 2 {
		return errorf(http.StatusBadRequest, `field "scopes": only for "api" tokens`)
	}
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return err
	}
	if err := s.limitAccount(r.Context(), email, "too many failed sign-ins for this account; wait and try again"); err != nil {
		return err
	}
	fail := func() error {
		s.failed(r.Context(), s.acctLimit, email)
		s.failed(r.Context(), s.ipLimit, c.ip)
		return errSignInFailed
	}
	a, err := s.st.AccountByEmail(r.Context(), email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := s.acquireHashing(r); err != nil {
		return err
	}
	var ok bool
	if a.PasswordHash == "" {
		// No such account (or no password): spend the same time as a check.
		auth.CheckDummyWith(req.Password, s.opt.Argon2)
	} else {
		ok, err = auth.CheckPassword(a.PasswordHash, req.Password)
	}
	<-s.hashing
	if err != nil {
		return err
	}
	if !ok {
		return fail()
	}
	// The password alone never signs in (G3).
	if len(a.TOTPSecret) == 0 {
		return errorf(http.StatusForbidden, "this account has no second factor; it cannot sign in")
	}
	if ok, err := s.useTOTP(r.Context(), a, req.TOTP); err != nil {
		return err
	} else if !ok {
		return fail()
	}
	s.succeeded(r.Context(), s.acctLimit, email)

	resp, err := s.issueToken(w, r, a.ID, req.Type, req.Scopes)
	if err != nil {
		return err
	}
	s.log.Info("signed in", "account", a.ID, "type", req.Type, "with", "password+totp")
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// issueToken creates an API token or a browser session (cookie + CSRF
// token) for an account that proved who it is.
func (s *Server) issueToken(w http.ResponseWriter, r *http.Request, accountID, typ string, scopes []string) (cloudapi.SignInResult, error) {
	secret, hash, err := auth.NewToken(map[string]string{"api": "vga_", "browser": "vgs_"}[typ])
	if err != nil {
		return cloudapi.SignInResult{}, err
	}
	t := store.Token{Hash: hash, AccountID: accountID, Created: s.now().UTC(), Scopes: scopes}
	resp := cloudapi.SignInResult{AccountID: accountID}
	if typ == "api" {
		t.Kind, t.Expires = store.TokenAPI, t.Created.Add(DefaultAPITokenTTL)
		resp.Token = secret
	} else {
		csrf, err := auth.NewCSRFToken()
		if err != nil {
			return cloudapi.SignInResult{}, err
		}
		t.Kind, t.CSRF, t.Expires = store.TokenSession, csrf, t.Created.Add(DefaultSessionTTL)
		resp.CSRF = csrf
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", Expires: t.Expires,
			HttpOnly: true, Secure: s.opt.SecureCookies, SameSite: http.SameSiteStrictMode})
	}
	resp.Expires = t.Expires
	if err := s.st.PutToken(r.Context(), t); err != nil {
		return cloudapi.SignInResult{}, err
	}
	return resp, nil
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.st.DeleteToken(r.Context(), c.token.Hash); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.opt.SecureCookies, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]string{"status": "signed out"})
	return nil
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request, c *call) error {
	writeJSON(w, http.StatusOK, map[string]any{"account_id": c.account.ID, "email": c.account.Email,
		"second_factor": len(c.account.TOTPSecret) > 0, "device": c.token.Device})
	return nil
}

// Sessions bound to a device. A browser (or any holder of a token) proves
// once per session which member device it runs on: it signs the session's
// challenge with the device's signing key (auth.SessionChallenge), the
// cloud checks the signature against the device identity the browser
// sends, and keeps the device ID on the session. From then on every
// record of the session's accesses names that device (actor.device,
// docs/FORMAT.md "Household records"). Whether the device belongs to a
// household is not the cloud's to say: the member's browser names it from
// the household's chain, or calls it a device not in the household.

type sessionDeviceResp struct {
	// Challenge is what the device signs (base64url, unpadded).
	Challenge string `json:"challenge"`
	// Device is the device ID the session is bound to, "" when none.
	Device string `json:"device"`
}

// getSessionDevice answers the session's challenge and its device.
func (s *Server) getSessionDevice(w http.ResponseWriter, r *http.Request, c *call) error {
	writeJSON(w, http.StatusOK, sessionDeviceResp{Challenge: base64.RawURLEncoding.EncodeToString(auth.SessionChallenge(c.token.Hash)), Device: c.token.Device})
	return nil
}

type bindDeviceReq struct {
	// Device is the device's public identity ("vigdev1:…").
	Device string `json:"device"`
	// Sig is the Ed25519 signature of the session's challenge message
	// (base64url, unpadded).
	Sig string `json:"sig"`
}

// bindSessionDevice binds the session to the device whose signing key
// signed its challenge. A session bound to one device cannot be bound to
// another (409); binding it to the same device again is accepted.
func (s *Server) bindSessionDevice(w http.ResponseWriter, r *http.Request, c *call) error {
	var req bindDeviceReq
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	dk, err := keydir.ParseDevice(req.Device, "", "")
	if err != nil {
		return errorf(http.StatusBadRequest, `field "device": %v`, err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(req.Sig)
	if err != nil || len(sig) != 64 {
		return errorf(http.StatusBadRequest, `field "sig": 64 bytes, unpadded base64url`)
	}
	if !auth.VerifySessionDevice(c.token.Hash, dk.SignPub, sig) {
		return errorf(http.StatusUnauthorized, "the signature is not device %s's signature of this session's challenge", dk.ID)
	}
	if c.token.Device != "" && c.token.Device != dk.ID {
		return errorf(http.StatusConflict, "this session is bound to device %s already; sign in again to use another device", c.token.Device)
	}
	if c.token.Device == "" {
		t := c.token
		t.Device = dk.ID
		if err := s.st.PutToken(r.Context(), t); err != nil {
			return err
		}
		s.log.Info("session bound to a device", "account", c.account.ID, "device", dk.ID, "kind", t.Kind)
	}
	writeJSON(w, http.StatusOK, map[string]string{"device": dk.ID})
	return nil
}

// sessionDeviceKey is the context key of the device a request's session
// is bound to.
type sessionDeviceKey struct{}

func withSessionDevice(ctx context.Context, device string) context.Context {
	if device == "" {
		return ctx
	}
	return context.WithValue(ctx, sessionDeviceKey{}, device)
}

// sessionDevice returns the device the request's session is bound to, ""
// when none: the access records of the request name it.
func sessionDevice(ctx context.Context) string {
	d, _ := ctx.Value(sessionDeviceKey{}).(string)
	return d
}

type resetReq struct {
	Email string `json:"email"`
}

// resetStart mails a reset token to the address if it has an account. The
// answer is the same either way.
func (s *Server) resetStart(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(r.Context(), c); err != nil {
		return err
	}
	var req resetReq
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return err
	}
	const answer = "if an account has this address, a reset link is on its way; it restores sign-in (with your second factor), never access to footage"
	a, err := s.st.AccountByEmail(r.Context(), email)
	if errors.Is(err, store.ErrNotFound) {
		writeJSON(w, http.StatusAccepted, map[string]string{"status": answer})
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
	if err := s.st.PutToken(r.Context(), store.Token{Hash: hash, AccountID: a.ID, Kind: "reset", Created: now, Expires: now.Add(resetTTL)}); err != nil {
		return err
	}
	body := fmt.Sprintf("Someone asked to reset the password of your Vigil account.\n\n"+
		"Reset token: %s\nLink: %s/reset#%s\n\n"+
		"You will need your authenticator code too. Resetting restores sign-in only: "+
		"your footage stays sealed to your household's devices and recovery phrase.\n", secret, s.opt.PublicURL, secret)
	if err := s.opt.Mailer.Send(r.Context(), email, "Reset your Vigil password", body); err != nil {
		return err
	}
	s.log.Info("password reset mailed", "account", a.ID)
	writeJSON(w, http.StatusAccepted, map[string]string{"status": answer})
	return nil
}

type resetConfirmReq struct {
	Token       string `json:"token"`
	TOTP        string `json:"totp"`
	NewPassword string `json:"new_password"`
}

// resetConfirm sets a new password: it needs the mailed token AND the second
// factor, and signs every session and token of the account out.
func (s *Server) resetConfirm(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(r.Context(), c); err != nil {
		return err
	}
	var req resetConfirmReq
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	bad := errorf(http.StatusForbidden, "reset refused: the token is wrong or expired, or the authenticator code is wrong")
	if req.Token == "" || len(req.Token) > 256 {
		s.failed(r.Context(), s.ipLimit, c.ip)
		return bad
	}
	t, err := s.st.Token(r.Context(), auth.HashToken(req.Token))
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.Kind != "reset") {
		s.failed(r.Context(), s.ipLimit, c.ip)
		return bad
	}
	if err != nil {
		return err
	}
	a, err := s.st.Account(r.Context(), t.AccountID)
	if err != nil {
		return err
	}
	if err := s.limitAccount(r.Context(), a.Email, "too many failed attempts for this account; wait and try again"); err != nil {
		return err
	}
	if ok, err := s.useTOTP(r.Context(), a, req.TOTP); err != nil {
		return err
	} else if !ok {
		s.failed(r.Context(), s.acctLimit, a.Email)
		return bad
	}
	hash, err := auth.HashPassword(req.NewPassword, s.opt.Argon2)
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	a.PasswordHash = hash
	if err := s.st.UpdateAccount(r.Context(), a); err != nil {
		return err
	}
	if err := s.st.DeleteTokens(r.Context(), a.ID, ""); err != nil {
		return err
	}
	s.succeeded(r.Context(), s.acctLimit, a.Email)
	s.log.Info("password reset", "account", a.ID)
	writeJSON(w, http.StatusOK, map[string]string{"status": "password changed; every session was signed out. Footage access is unchanged: it needs an enrolled device or the recovery phrase"})
	return nil
}
