package cloud

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/keydir"
	"vigil/internal/member"
)

// Household management for the web app: the member list, retention
// settings, and devices joining by approval.
//
// Joining by approval. An admin device creates an invite (the cloud keeps
// its ID, role and expiry) and makes a link /join/{invite}#{secret}: the
// secret stays in the URL fragment and on the admin device, never here. A
// signed-in browser that opens the link posts its public device identity,
// a name and a proof (HMAC-SHA-256 keyed by the secret) as a join request.
// The admin device lists the pending requests, checks the proof and shows a
// short code derived from the secret and the requesting device's identity;
// the new browser shows the same code. When the two match the admin device
// signs a chain link adding the device and approves the request with it:
// the cloud makes the account a member if it is not one yet, appends the
// link (it must verify and add exactly the requesting device) and tells the
// requester. The cloud relays and checks; it cannot add a device itself,
// and it cannot forge a request that matches the code without the secret
// (G4). Invites and requests live in memory (one replica).

const (
	defaultInviteTTL = 24 * time.Hour
	maxInviteTTL     = 7 * 24 * time.Hour
	// maxInvites bounds the live invites of one household.
	maxInvites = 32
	// maxJoinRequests bounds the pending requests of one invite, and
	// maxJoinRequestsTotal all its requests (declined ones too), so that
	// declining does not make room for ever more.
	maxJoinRequests      = 8
	maxJoinRequestsTotal = 16
	// usedInviteGrace is how long a used invite stays for its requester to
	// see the approval (never past the invite's own expiry).
	usedInviteGrace = 10 * time.Minute
	// minMaxAge is the shortest retention a household may set.
	minMaxAge = time.Hour
)

func (s *Server) householdRoutes() []route {
	return []route{
		{method: "GET", pattern: "/v1/households/{hh}/members", auth: authMember, action: "members.list", h: s.listMembers},
		{method: "DELETE", pattern: "/v1/households/{hh}/members/{account}", auth: authAdmin, h: s.deleteMember},
		{method: "GET", pattern: "/v1/households/{hh}/settings", auth: authMember, action: "settings.read", h: s.getSettings},
		{method: "PUT", pattern: "/v1/households/{hh}/settings", auth: authAdmin, h: s.putSettings},

		{method: "POST", pattern: "/v1/households/{hh}/invites", auth: authAdmin, h: s.createInvite},
		{method: "GET", pattern: "/v1/households/{hh}/invites", auth: authAdmin, action: "invites.list", h: s.listInvites},
		{method: "DELETE", pattern: "/v1/households/{hh}/invites/{id}", auth: authAdmin, h: s.deleteInvite},
		{method: "GET", pattern: "/v1/households/{hh}/join-requests", auth: authAdmin, action: "join-requests.list", h: s.listJoinRequests},
		{method: "POST", pattern: "/v1/households/{hh}/join-requests/{id}/approve", auth: authAdmin, action: "join-requests.approve", h: s.approveJoinRequest},
		{method: "DELETE", pattern: "/v1/households/{hh}/join-requests/{id}", auth: authAdmin, h: s.declineJoinRequest},

		{method: "GET", pattern: "/v1/invites/{id}", auth: authAccount, h: s.getInvite},
		{method: "POST", pattern: "/v1/invites/{id}/requests", auth: authAccount, h: s.postJoinRequest},
		{method: "GET", pattern: "/v1/invites/{id}/requests/{rid}", auth: authAccount, h: s.getJoinRequest},
	}
}

// Members.

type memberJSON struct {
	AccountID string    `json:"account_id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	Created   time.Time `json:"created"`
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, c *call) error {
	ms, err := s.st.Members(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	out := []memberJSON{}
	for _, m := range ms {
		email := ""
		if a, err := s.st.Account(r.Context(), m.AccountID); err == nil {
			email = a.Email
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		out = append(out, memberJSON{AccountID: m.AccountID, Email: email, Role: m.Role, Created: m.Created})
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
	return nil
}

// deleteMember takes an account out of the household (its devices stay in
// the chain until an admin device removes them). The last admin stays.
func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("account")
	ms, err := s.st.Members(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	found := false
	for _, m := range ms {
		if m.AccountID != id {
			continue
		}
		found = true
		if m.Role == store.RoleAdmin && !moreAdmins(ms, id) {
			return errorf(http.StatusConflict, "this is the household's only admin account; make another account admin first")
		}
	}
	if !found {
		return errNotFound
	}
	if err := s.st.DeleteMember(r.Context(), c.household.ID, id); errors.Is(err, store.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return err
	}
	s.log.Info("member removed", "household", c.household.ID, "account", id, "by", c.account.ID)
	writeJSON(w, http.StatusOK, map[string]string{"status": "removed"})
	return nil
}

func moreAdmins(ms []store.Member, except string) bool {
	for _, m := range ms {
		if m.AccountID != except && m.Role == store.RoleAdmin {
			return true
		}
	}
	return false
}

// Retention settings.

type settingsJSON struct {
	QuotaBytes    int64 `json:"quota_bytes"`     // 0: the service default
	MaxAgeSeconds int64 `json:"max_age_seconds"` // 0: no age limit
}

func (s *Server) settingsOut(ret store.Retention) map[string]any {
	return map[string]any{
		"quota_bytes": ret.QuotaBytes, "max_age_seconds": int64(ret.MaxAge / time.Second),
		"default_quota_bytes": s.opt.QuotaBytes, "default_max_age_seconds": int64(s.opt.MaxAge / time.Second),
	}
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	ret, err := s.st.Retention(r.Context(), c.household.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.settingsOut(ret))
	return nil
}

func (s *Server) putSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	var req settingsJSON
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.QuotaBytes < 0 || req.QuotaBytes > s.opt.QuotaBytes {
		return errorf(http.StatusBadRequest, "quota_bytes: 0 (the service default) up to %d", s.opt.QuotaBytes)
	}
	age := time.Duration(req.MaxAgeSeconds) * time.Second
	if req.MaxAgeSeconds < 0 || (age > 0 && age < minMaxAge) || req.MaxAgeSeconds > 100*365*24*3600 {
		return errorf(http.StatusBadRequest, "max_age_seconds: 0 (no age limit) or at least %d", int64(minMaxAge/time.Second))
	}
	ret := store.Retention{QuotaBytes: req.QuotaBytes, MaxAge: age}
	if err := s.st.SetRetention(r.Context(), c.household.ID, ret); errors.Is(err, store.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return err
	}
	s.usage.mu.Lock()
	delete(s.usage.checked, c.household.ID) // apply a shorter age at the next upload
	s.usage.mu.Unlock()
	s.log.Info("retention set", "household", c.household.ID, "quota_bytes", ret.QuotaBytes, "max_age", ret.MaxAge)
	writeJSON(w, http.StatusOK, s.settingsOut(ret))
	return nil
}

// maxAge is the age past which the household's objects are deleted: the
// shorter of its own setting and the service's (0: none).
func (s *Server) maxAge(ctx context.Context, h store.Household) (time.Duration, error) {
	ret, err := s.st.Retention(ctx, h.ID)
	if err != nil {
		return 0, err
	}
	age := s.opt.MaxAge
	if ret.MaxAge > 0 && (age == 0 || ret.MaxAge < age) {
		age = ret.MaxAge
	}
	return age, nil
}

// Invites and join requests.

// Join request states.
const (
	joinPending  = "pending"
	joinApproved = "approved"
	joinDeclined = "declined"
)

type invite struct {
	ID          string    `json:"invite_id"`
	HouseholdID string    `json:"household_id"`
	Role        string    `json:"role"`
	CreatedBy   string    `json:"created_by"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
	requests    []*joinRequest
	used        bool // a request was approved: no new ones
}

type joinRequest struct {
	ID          string    `json:"request_id"`
	InviteID    string    `json:"invite_id"`
	HouseholdID string    `json:"household_id"`
	AccountID   string    `json:"account_id"`
	Email       string    `json:"email"`
	Device      string    `json:"device"`
	DeviceID    string    `json:"device_id"`
	Name        string    `json:"name"`
	Proof       []byte    `json:"proof"`
	Role        string    `json:"role"`
	Status      string    `json:"status"`
	Created     time.Time `json:"created"`
}

// joins holds each server's invites by ID.
type joins struct {
	mu sync.Mutex
	m  map[*Server]map[string]*invite
}

var pendingJoins = joins{m: map[*Server]map[string]*invite{}}

// invitesLocked returns the server's live invites, dropping expired ones.
func (s *Server) invitesLocked() map[string]*invite {
	m := pendingJoins.m[s]
	if m == nil {
		m = map[string]*invite{}
		pendingJoins.m[s] = m
	}
	now := s.now()
	for id, in := range m {
		if !now.Before(in.Expires) {
			delete(m, id)
		}
	}
	return m
}

// requestLocked finds a join request of household hh by ID.
func (s *Server) requestLocked(hh, id string) (*invite, *joinRequest) {
	for _, in := range s.invitesLocked() {
		if in.HouseholdID != hh {
			continue
		}
		for _, q := range in.requests {
			if q.ID == id {
				return in, q
			}
		}
	}
	return nil, nil
}

type inviteReq struct {
	Role       string `json:"role"`
	TTLSeconds int64  `json:"ttl_seconds"`
}

func (s *Server) createInvite(w http.ResponseWriter, r *http.Request, c *call) error {
	var req inviteReq
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = store.RoleMember
	}
	if req.Role != store.RoleMember && req.Role != store.RoleAdmin {
		return errorf(http.StatusBadRequest, `role: "member" or "admin"`)
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	if req.TTLSeconds == 0 {
		ttl = defaultInviteTTL
	}
	if req.TTLSeconds < 0 || ttl > maxInviteTTL {
		return errorf(http.StatusBadRequest, "ttl_seconds: 1 to %d (0: a day)", int64(maxInviteTTL/time.Second))
	}
	now := s.now().UTC()
	in := &invite{ID: newID("i"), HouseholdID: c.household.ID, Role: req.Role, CreatedBy: c.account.ID, Created: now, Expires: now.Add(ttl)}
	pendingJoins.mu.Lock()
	m := s.invitesLocked()
	n := 0
	for _, x := range m {
		if x.HouseholdID == in.HouseholdID {
			n++
		}
	}
	if n >= maxInvites {
		pendingJoins.mu.Unlock()
		return errorf(http.StatusTooManyRequests, "this household has %d open invites; delete some first", n)
	}
	m[in.ID] = in
	pendingJoins.mu.Unlock()
	s.log.Info("invite created", "household", in.HouseholdID, "invite", in.ID, "role", in.Role, "expires", in.Expires)
	writeJSON(w, http.StatusCreated, in)
	return nil
}

func (s *Server) listInvites(w http.ResponseWriter, r *http.Request, c *call) error {
	pendingJoins.mu.Lock()
	out := []invite{}
	for _, in := range s.invitesLocked() {
		if in.HouseholdID == c.household.ID {
			out = append(out, *in)
		}
	}
	pendingJoins.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"invites": out})
	return nil
}

func (s *Server) deleteInvite(w http.ResponseWriter, r *http.Request, c *call) error {
	pendingJoins.mu.Lock()
	m := s.invitesLocked()
	in, ok := m[r.PathValue("id")]
	if ok && in.HouseholdID == c.household.ID {
		delete(m, in.ID)
	}
	pendingJoins.mu.Unlock()
	if !ok || in.HouseholdID != c.household.ID {
		return errNotFound
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "deleted"})
	return nil
}

// getInvite tells a signed-in account which household an invite is for.
func (s *Server) getInvite(w http.ResponseWriter, r *http.Request, c *call) error {
	pendingJoins.mu.Lock()
	in, ok := s.invitesLocked()[r.PathValue("id")]
	var cp invite
	if ok {
		cp = *in
	}
	pendingJoins.mu.Unlock()
	if !ok {
		return errorf(http.StatusNotFound, "this invite is unknown or has expired; ask an admin of the household for a new one")
	}
	h, err := s.st.Household(r.Context(), cp.HouseholdID)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return err
	}
	if err := s.access.Record(r.Context(), store.Access{Time: s.now().UTC(), HouseholdID: h.ID, Actor: c.account.ID,
		ActorKind: "account", Action: "invite.read", Object: cp.ID, Reason: r.Method + " /v1/invites/{id}"}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"invite_id": cp.ID, "household_id": h.ID, "household_name": h.Name,
		"role": cp.Role, "expires": cp.Expires})
	return nil
}

type joinReqIn struct {
	Device string `json:"device"`
	Name   string `json:"name"`
	Proof  []byte `json:"proof"`
}

// postJoinRequest is a signed-in browser asking to join with its device.
func (s *Server) postJoinRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	var req joinReqIn
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 64 {
		return errorf(http.StatusBadRequest, "name: this device's name, 1 to 64 bytes")
	}
	if len(req.Proof) != 32 {
		return errorf(http.StatusBadRequest, "proof: the 32-byte HMAC-SHA-256 keyed by the invite's secret")
	}
	dk, err := member.ParseDevice(req.Device, keydir.RoleMember, req.Name)
	if err != nil {
		return errorf(http.StatusBadRequest, "device: %v", err)
	}
	pendingJoins.mu.Lock()
	defer pendingJoins.mu.Unlock()
	in, ok := s.invitesLocked()[r.PathValue("id")]
	if !ok {
		return errorf(http.StatusNotFound, "this invite is unknown or has expired; ask an admin of the household for a new one")
	}
	if in.used {
		return errorf(http.StatusGone, "this invite has been used; ask an admin of the household for a new one")
	}
	if len(in.requests) >= maxJoinRequestsTotal {
		return errorf(http.StatusTooManyRequests, "this invite has had %d requests; ask for a new one", len(in.requests))
	}
	live := 0
	for _, q := range in.requests {
		if q.Status == joinPending {
			live++
		}
	}
	if live >= maxJoinRequests {
		return errorf(http.StatusTooManyRequests, "too many devices are waiting on this invite; ask for a new one")
	}
	q := &joinRequest{ID: newID("j"), InviteID: in.ID, HouseholdID: in.HouseholdID, AccountID: c.account.ID, Email: c.account.Email,
		Device: req.Device, DeviceID: dk.ID, Name: req.Name, Proof: req.Proof, Role: in.Role, Status: joinPending, Created: s.now().UTC()}
	in.requests = append(in.requests, q)
	s.log.Info("join request", "household", in.HouseholdID, "invite", in.ID, "account", c.account.ID, "request", q.ID, "device", dk.ID)
	writeJSON(w, http.StatusAccepted, map[string]string{"request_id": q.ID, "household_id": in.HouseholdID, "status": q.Status})
	return nil
}

// getJoinRequest lets the requesting account follow its request.
func (s *Server) getJoinRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	pendingJoins.mu.Lock()
	var out map[string]string
	if in, ok := s.invitesLocked()[r.PathValue("id")]; ok {
		for _, q := range in.requests {
			if q.ID == r.PathValue("rid") && q.AccountID == c.account.ID {
				out = map[string]string{"request_id": q.ID, "household_id": q.HouseholdID, "status": q.Status}
			}
		}
	}
	pendingJoins.mu.Unlock()
	if out == nil {
		return errNotFound
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listJoinRequests(w http.ResponseWriter, r *http.Request, c *call) error {
	pendingJoins.mu.Lock()
	out := []joinRequest{}
	for _, in := range s.invitesLocked() {
		if in.HouseholdID != c.household.ID {
			continue
		}
		for _, q := range in.requests {
			if q.Status == joinPending {
				out = append(out, *q)
			}
		}
	}
	pendingJoins.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"requests": out})
	return nil
}

type approveReq struct {
	Link []byte `json:"link"` // the chain link adding the request's device
}

// approveJoinRequest enrols the requesting device: membership for its
// account (the invite's role) and the admin device's chain link.
func (s *Server) approveJoinRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	var req approveReq
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Link) == 0 {
		return errorf(http.StatusBadRequest, "link: the chain link, signed by an admin device, that adds the requesting device")
	}
	pendingJoins.mu.Lock()
	defer pendingJoins.mu.Unlock()
	in, q := s.requestLocked(c.household.ID, r.PathValue("id"))
	if q == nil || q.Status != joinPending {
		return errNotFound
	}
	seq, err := s.appendLinkAdding(r.Context(), c.household, req.Link, q.DeviceID)
	if err != nil {
		return err
	}
	role := in.Role
	if m, err := s.st.Member(r.Context(), c.household.ID, q.AccountID); err == nil {
		role = m.Role // already a member: keep the role
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	} else if err := s.st.PutMember(r.Context(), store.Member{HouseholdID: c.household.ID, AccountID: q.AccountID, Role: role, Created: s.now().UTC()}); err != nil {
		return err
	}
	// The invite is used: its other requests are declined.
	for _, o := range in.requests {
		if o.Status == joinPending {
			o.Status = joinDeclined
		}
	}
	q.Status = joinApproved
	in.used = true
	if grace := s.now().Add(usedInviteGrace); grace.Before(in.Expires) {
		in.Expires = grace // long enough for the requester to see it
	}
	s.log.Info("join request approved", "household", c.household.ID, "request", q.ID, "account", q.AccountID, "device", q.DeviceID, "seq", seq)
	writeJSON(w, http.StatusOK, map[string]any{"request_id": q.ID, "status": q.Status, "account_id": q.AccountID, "role": role, "seq": seq})
	return nil
}

func (s *Server) declineJoinRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	pendingJoins.mu.Lock()
	_, q := s.requestLocked(c.household.ID, r.PathValue("id"))
	found := q != nil && q.Status == joinPending
	if found {
		q.Status = joinDeclined
	}
	pendingJoins.mu.Unlock()
	if !found {
		return errNotFound
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": joinDeclined})
	return nil
}

// appendLinkAdding appends link to the household's chain (as appendChain)
// if it verifies and the device deviceID is in the chain after it and was
// not before.
func (s *Server) appendLinkAdding(ctx context.Context, h store.Household, link []byte, deviceID string) (int64, error) {
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	st, err := s.stateLocked(ctx, h)
	if err != nil {
		return 0, err
	}
	if _, ok := st.Devices[deviceID]; ok {
		return 0, errorf(http.StatusConflict, "device %s is in the chain already", deviceID)
	}
	next := st.Clone()
	if err := next.Apply(link); err != nil {
		return 0, errorf(http.StatusUnprocessableEntity, "link refused: %v", err)
	}
	if _, ok := next.Devices[deviceID]; !ok {
		return 0, errorf(http.StatusUnprocessableEntity, "link refused: it does not add the requesting device %s", deviceID)
	}
	l := store.Link{HouseholdID: h.ID, Seq: next.Seq, Hash: next.Head, Data: link, Created: s.now().UTC()}
	if err := s.st.AppendLink(ctx, l); errors.Is(err, store.ErrConflict) {
		delete(s.states, h.ID)
		return 0, errorf(http.StatusConflict, "the chain moved on (link %d exists); fetch it and sign again", next.Seq)
	} else if err != nil {
		return 0, err
	}
	s.states[h.ID] = next
	if err := s.syncDevices(ctx, next); err != nil {
		return 0, err
	}
	return next.Seq, nil
}
