package cloud

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
)

// One-time sign-in links. An operator process that runs next to the
// service (vigil demo) creates a link for an account; the first browser that
// presents it gets a browser session, and nobody else ever can: the token is
// stored only as its hash, used once and short-lived. The token travels in a
// URL fragment, so it never reaches a server log.
//
// Device requests go with it: a signed-in browser posts its public device
// identity with a proof (an HMAC whose key only the link's creator and the
// browser hold), and an admin device of the household — polling with its
// API token — verifies the proof and adds the device to the chain. The
// cloud relays and forgets; it cannot add a device itself (G4).

const (
	// tokenSignInLink is the store kind of one-time sign-in link tokens.
	tokenSignInLink = "signin-link"
	// maxSignInLinkTTL bounds how long a link may stay valid.
	maxSignInLinkTTL = time.Hour
	// deviceRequestTTL is how long a device request waits for an admin.
	deviceRequestTTL = 10 * time.Minute
	// maxDeviceRequests bounds the pending requests of one household.
	maxDeviceRequests = 16
)

// linkUse serialises the use of sign-in links, so two requests racing with
// the same token cannot both sign in.
var linkUse sync.Mutex

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
		{method: "POST", pattern: "/v1/households/{hh}/device-requests", auth: authMember, h: s.postDeviceRequest},
		{method: "GET", pattern: "/v1/households/{hh}/device-requests", auth: authAdmin, action: "device-requests.list", h: s.listDeviceRequests},
		{method: "DELETE", pattern: "/v1/households/{hh}/device-requests/{id}", auth: authAdmin, h: s.deleteDeviceRequest},
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
	linkUse.Lock()
	t, err := s.st.Token(r.Context(), hash)
	if err == nil && t.Kind == tokenSignInLink {
		err = s.st.DeleteToken(r.Context(), hash)
	}
	linkUse.Unlock()
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

// DeviceRequest is a browser asking an admin device to add it to a
// household's chain.
type DeviceRequest struct {
	ID        string    `json:"id"`
	AccountID string    `json:"account_id"`
	Device    string    `json:"device"` // "vigdev1:..." public identity
	Name      string    `json:"name"`
	Proof     []byte    `json:"proof"` // checked by the admin device, not here
	Created   time.Time `json:"created"`
}

type deviceRequests struct {
	mu sync.Mutex
	m  map[*Server]map[string][]DeviceRequest // server -> household -> pending
}

var pendingDevices = deviceRequests{m: map[*Server]map[string][]DeviceRequest{}}

// pending returns the live requests of a household, dropping expired ones.
// Call with mu held.
func (d *deviceRequests) pending(s *Server, hh string) []DeviceRequest {
	byHH := d.m[s]
	if byHH == nil {
		byHH = map[string][]DeviceRequest{}
		d.m[s] = byHH
	}
	cut := s.now().Add(-deviceRequestTTL)
	live := byHH[hh][:0]
	for _, q := range byHH[hh] {
		if q.Created.After(cut) {
			live = append(live, q)
		}
	}
	byHH[hh] = live
	return live
}

type deviceReqIn struct {
	Device string `json:"device"`
	Name   string `json:"name"`
	Proof  []byte `json:"proof"`
}

func (s *Server) postDeviceRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	var req deviceReqIn
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Device) < 10 || len(req.Device) > 200 || len(req.Name) > 100 || len(req.Proof) == 0 || len(req.Proof) > 64 {
		return errorf(http.StatusBadRequest, "a device request needs device (a vigdev1: identity), name (at most 100 bytes) and proof")
	}
	q := DeviceRequest{ID: newID("r"), AccountID: c.account.ID, Device: req.Device, Name: req.Name, Proof: req.Proof, Created: s.now().UTC()}
	pendingDevices.mu.Lock()
	live := pendingDevices.pending(s, c.household.ID)
	if len(live) >= maxDeviceRequests {
		pendingDevices.mu.Unlock()
		return errorf(http.StatusTooManyRequests, "too many devices are waiting to join this household; try again in a few minutes")
	}
	pendingDevices.m[s][c.household.ID] = append(live, q)
	pendingDevices.mu.Unlock()
	s.log.Info("device request", "household", c.household.ID, "account", c.account.ID, "request", q.ID)
	writeJSON(w, http.StatusAccepted, map[string]string{"id": q.ID, "status": "waiting for an admin device to add this device to the household"})
	return nil
}

func (s *Server) listDeviceRequests(w http.ResponseWriter, r *http.Request, c *call) error {
	pendingDevices.mu.Lock()
	out := append([]DeviceRequest{}, pendingDevices.pending(s, c.household.ID)...)
	pendingDevices.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"requests": out})
	return nil
}

func (s *Server) deleteDeviceRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	pendingDevices.mu.Lock()
	live := pendingDevices.pending(s, c.household.ID)
	found := false
	keep := live[:0]
	for _, q := range live {
		if q.ID == id {
			found = true
			continue
		}
		keep = append(keep, q)
	}
	pendingDevices.m[s][c.household.ID] = keep
	pendingDevices.mu.Unlock()
	if !found {
		return errNotFound
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "removed"})
	return nil
}
