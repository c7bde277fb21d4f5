package cloud

import (
	"context"
	"errors"
	"net/http"

	"vigil/internal/cloud/accounts"
	"vigil/internal/cloudapi"
)

// The accounts routes: sign-up, sign-in, sign-out, resets, the account and
// its session's device. Their logic is the accounts domain's
// (internal/cloud/accounts); the handlers here parse the request, call it
// and write the answer, and set or clear the session cookie.

// NormalizeEmail trims and lower-cases an address and checks its shape
// (accounts.NormalizeEmail).
func NormalizeEmail(s string) (string, error) { return accounts.NormalizeEmail(s) }

// Token scopes.
const (
	ScopeRead  = accounts.ScopeRead
	ScopeWrite = accounts.ScopeWrite
)

// accountsError is the answer to an accounts domain refusal, nil for any
// other error.
func accountsError(err error) *apiError {
	var de *accounts.Error
	if !errors.As(err, &de) {
		return nil
	}
	status := map[accounts.Kind]int{
		accounts.Invalid:      http.StatusBadRequest,
		accounts.Unauthorized: http.StatusUnauthorized,
		accounts.Forbidden:    http.StatusForbidden,
		accounts.Conflict:     http.StatusConflict,
		accounts.Limited:      http.StatusTooManyRequests,
		accounts.Busy:         http.StatusServiceUnavailable,
	}[de.Kind]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	ae := &apiError{status: status, msg: de.Msg}
	if de.Kind == accounts.Limited {
		ae.retryAfter = retrySeconds(de.RetryAfter)
	}
	return ae
}

// limitIP applies the per-address limit to unauthenticated entry points.
func (s *Server) limitIP(ctx context.Context, c *call) error {
	return s.accounts.LimitIP(ctx, c.ip)
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
	a, err := s.accounts.SignUp(r.Context(), req.Email, req.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, cloudapi.SignUpResult{
		AccountID: a.AccountID, TOTPSecret: a.TOTPSecret, TOTPURI: a.TOTPURI,
		Note: "add the secret to an authenticator app: every sign-in needs its 6-digit code",
	})
	return nil
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(r.Context(), c); err != nil {
		return err
	}
	var req cloudapi.SignIn
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	var devices []accounts.DeviceCookie
	for _, ck := range r.Cookies() {
		if accounts.IsDeviceCookieName(ck.Name) {
			devices = append(devices, accounts.DeviceCookie{Name: ck.Name, Value: ck.Value})
		}
	}
	sess, err := s.accounts.SignIn(r.Context(), accounts.SignIn{IP: c.ip, Email: req.Email, Password: req.Password,
		TOTP: req.TOTP, Type: req.Type, Scopes: req.Scopes, DeviceCookies: devices})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.sessionAnswer(w, sess))
	return nil
}

// sessionAnswer is the answer to a sign-in that issued sess; a browser
// session's secret goes in its cookie, an API token's in the answer. Every
// sign-in also sets the account's device cookie (accounts package doc),
// sent back only to the password sign-in route, which is the one that
// counts failures per device cookie.
func (s *Server) sessionAnswer(w http.ResponseWriter, sess accounts.Session) cloudapi.SignInResult {
	resp := cloudapi.SignInResult{AccountID: sess.AccountID, CSRF: sess.CSRF, Expires: sess.Expires}
	if d := sess.Device; d.Value != "" {
		http.SetCookie(w, &http.Cookie{Name: d.Name, Value: d.Value, Path: deviceCookiePath, Expires: d.Expires,
			HttpOnly: true, Secure: s.opt.SecureCookies, SameSite: http.SameSiteStrictMode})
	}
	if sess.Type == accounts.TypeAPI {
		resp.Token = sess.Secret
	} else {
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sess.Secret, Path: "/", Expires: sess.Expires,
			HttpOnly: true, Secure: s.opt.SecureCookies, SameSite: http.SameSiteStrictMode})
	}
	return resp
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.accounts.SignOut(r.Context(), c.token.Hash); err != nil {
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

type sessionDeviceResp struct {
	// Challenge is what the device signs (base64url, unpadded).
	Challenge string `json:"challenge"`
	// Device is the device ID the session is bound to, "" when none.
	Device string `json:"device"`
}

// getSessionDevice answers the session's challenge and its device
// (accounts.BindDevice says what binding a session to a device means).
func (s *Server) getSessionDevice(w http.ResponseWriter, r *http.Request, c *call) error {
	writeJSON(w, http.StatusOK, sessionDeviceResp{Challenge: accounts.DeviceChallenge(c.token), Device: c.token.Device})
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
// signed its challenge.
func (s *Server) bindSessionDevice(w http.ResponseWriter, r *http.Request, c *call) error {
	var req bindDeviceReq
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	id, err := s.accounts.BindDevice(r.Context(), c.token, req.Device, req.Sig)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"device": id})
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
	if err := s.accounts.StartReset(r.Context(), req.Email); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": accounts.ResetStarted})
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
	if err := s.accounts.ConfirmReset(r.Context(), c.ip, req.Token, req.TOTP, req.NewPassword); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": accounts.ResetDone})
	return nil
}
