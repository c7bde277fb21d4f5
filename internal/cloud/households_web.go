package cloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"vigil/internal/cloud/households"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
	"vigil/internal/history"
	"vigil/internal/keydir"
)

// Household management for the web app and the CLI: the member list,
// retention settings, and devices joining by approval.
//
// Signed changes. Retention settings, invites and account membership are
// changed only by a household action signed by an admin device of the
// household's current chain (docs/FORMAT.md, "Signed household actions"):
// the request is {"device","body","sig"} and nothing else, every parameter
// comes from the signed body, and the account must be an admin account as
// well. A taken-over account — both factors — without an admin device's
// key changes nothing (G3, G4). Each accepted change is recorded with the
// signed action before it takes effect, so every member can check who
// authorised it; hubs fetch the signed settings (GET /v1/hub/settings) and
// check them the same way.
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
// (G4). Invites and requests are in the store (EphemeralStore: one entry
// per household holding its open invites and their requests, and one per
// invite naming its household), so any replica can take any of these
// requests. Approvals need no lock across replicas: the chain link that
// approves is signed over the head its admin device saw, so of two racing
// approvals one is refused by the chain (409, the chain moved on). A new
// request sends the admin accounts' push subscriptions a Web Push that says
// only which household has a device waiting (events.go, JoinPush).

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
	// quotaFloorWindow: a quota may not be set below what the household's
	// hubs uploaded in this window (it would delete the last day's footage
	// at the next upload).
	quotaFloorWindow = 24 * time.Hour
	// maxSignedBytes bounds a signed action's request body.
	maxSignedBytes = 16 << 10
)

func (s *Server) householdRoutes() []route {
	return []route{
		{method: "GET", pattern: "/v1/households/{hh}/members", auth: authMember, action: "members.list", h: s.listMembers},
		{method: "POST", pattern: "/v1/households/{hh}/members", auth: authAdmin, h: s.addMember},
		{method: "DELETE", pattern: "/v1/households/{hh}/members/{account}", auth: authAdmin, h: s.deleteMember},
		{method: "GET", pattern: "/v1/households/{hh}/settings", auth: authMember, action: "settings.read", h: s.getSettings},
		{method: "PUT", pattern: "/v1/households/{hh}/settings", auth: authAdmin, h: s.putSettings},
		{method: "GET", pattern: "/v1/hub/settings", auth: authDevice, h: s.hubSettings},

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

// Signed household actions.

// signedAction reads the request's signed action and checks it for the
// call's household (households.Service.CheckAction).
func (s *Server) signedAction(w http.ResponseWriter, r *http.Request, c *call, want string) (history.Action, history.Signed, error) {
	b, err := readBody(w, r, maxSignedBytes)
	if err != nil {
		return history.Action{}, history.Signed{}, err
	}
	return s.households.CheckAction(r.Context(), c.household, b, want)
}

// actionMessage is a history error as the API says it.
func actionMessage(err error) string { return households.ActionMessage(err) }

// recordSigned records an accepted change with the signed action that
// authorised it. It runs before the change takes effect: a change that
// cannot be recorded does not happen.
func (s *Server) recordSigned(r *http.Request, c *call, action, object string, sa history.Signed) error {
	err := s.access.Record(r.Context(), store.Access{Time: s.now().UTC(), HouseholdID: c.household.ID, Actor: c.account.ID,
		ActorKind: "account", Action: action, Object: object, Reason: r.Method + " " + routePath(r),
		Signed: &sa})
	if err != nil {
		return fmt.Errorf("recording a signed change: %w", err)
	}
	return nil
}

// routePath is the route's pattern without its method ("/v1/households/{hh}/settings").
func routePath(r *http.Request) string {
	if _, p, ok := strings.Cut(r.Pattern, " "); ok {
		return p
	}
	return r.URL.Path
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

// addMember lets another account see the household's objects and chain,
// as a signed member.add action says. Account membership is access to
// ciphertext only: opening footage needs a device the chain's admins added
// ('vigil household add-device', or an invite).
func (s *Server) addMember(w http.ResponseWriter, r *http.Request, c *call) error {
	a, sa, err := s.signedAction(w, r, c, history.ActionMemberAdd)
	if err != nil {
		return err
	}
	p, err := a.MemberAdd()
	if err != nil {
		return errorf(http.StatusBadRequest, "%s", actionMessage(err))
	}
	email, err := NormalizeEmail(p.Email)
	if err != nil {
		return err
	}
	if email != p.Email {
		return errorf(http.StatusBadRequest, "email: sign the address as %q (trimmed, lower case)", email)
	}
	acct, err := s.st.AccountByEmail(r.Context(), email)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "no account has this e-mail address (hint: they sign up first with 'vigil signup')")
	}
	if err != nil {
		return err
	}
	if err := s.recordSigned(r, c, history.ActionMemberAdd, acct.ID, sa); err != nil {
		return err
	}
	if err := s.st.PutMember(r.Context(), store.Member{HouseholdID: c.household.ID, AccountID: acct.ID, Role: p.Role, Created: s.now().UTC()}); err != nil {
		return err
	}
	s.log.Info("member added", "household", c.household.ID, "account", acct.ID, "role", p.Role, "device", sa.Device)
	writeJSON(w, http.StatusCreated, map[string]string{"account_id": acct.ID, "role": p.Role})
	return nil
}

// deleteMember takes an account out of the household, as a signed
// member.remove action says (its devices stay in the chain until an admin
// device removes them). The last admin stays.
func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request, c *call) error {
	a, sa, err := s.signedAction(w, r, c, history.ActionMemberRemove)
	if err != nil {
		return err
	}
	p, err := a.MemberRemove()
	if err != nil {
		return errorf(http.StatusBadRequest, "%s", actionMessage(err))
	}
	id := r.PathValue("account")
	if p.Account != id {
		return errorf(http.StatusBadRequest, "the signed action removes account %s, not %s", p.Account, id)
	}
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
	if err := s.recordSigned(r, c, history.ActionMemberRemove, id, sa); err != nil {
		return err
	}
	if err := s.st.DeleteMember(r.Context(), c.household.ID, id); errors.Is(err, store.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return err
	}
	s.log.Info("member removed", "household", c.household.ID, "account", id, "by", c.account.ID, "device", sa.Device)
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

func (s *Server) settingsOut(ret store.Retention) cloudapi.Settings {
	return cloudapi.Settings{
		QuotaBytes: ret.QuotaBytes, MaxAgeSeconds: int64(ret.MaxAge / time.Second),
		DefaultQuotaBytes: s.opt.QuotaBytes, DefaultMaxAgeSeconds: int64(s.opt.MaxAge / time.Second),
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

// putSettings sets the retention a signed settings.set action says. A
// quota below what the household's hubs uploaded in the last day is
// refused: it would delete that footage at the next upload.
func (s *Server) putSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	a, sa, err := s.signedAction(w, r, c, history.ActionSettingsSet)
	if err != nil {
		return err
	}
	req, err := a.Settings()
	if err != nil {
		return errorf(http.StatusBadRequest, "%s", actionMessage(err))
	}
	if req.QuotaBytes < 0 || req.QuotaBytes > s.opt.QuotaBytes {
		return errorf(http.StatusBadRequest, "quota_bytes: 0 (the service default) up to %d", s.opt.QuotaBytes)
	}
	age := time.Duration(req.MaxAgeSeconds) * time.Second
	if req.MaxAgeSeconds < 0 || (age > 0 && age < minMaxAge) || req.MaxAgeSeconds > 100*365*24*3600 {
		return errorf(http.StatusBadRequest, "max_age_seconds: 0 (no age limit) or at least %d", int64(minMaxAge/time.Second))
	}
	if req.QuotaBytes > 0 {
		floor, err := s.st.UploadedSince(r.Context(), c.household.ID, s.now().Add(-quotaFloorWindow))
		if err != nil {
			return err
		}
		if req.QuotaBytes < floor {
			return errorf(http.StatusConflict, "quota_bytes %d is below the %d bytes this household's hubs uploaded in the last 24 hours, "+
				"which it would delete (hint: choose at least %d bytes, or 0 for the service default)", req.QuotaBytes, floor, floor)
		}
	}
	if err := s.recordSigned(r, c, history.ActionSettingsSet, "", sa); err != nil {
		return err
	}
	ret := store.Retention{QuotaBytes: req.QuotaBytes, MaxAge: age, Signed: &sa}
	if err := s.st.SetRetention(r.Context(), c.household.ID, ret); errors.Is(err, store.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return err
	}
	s.retention.Nudge(c.household.ID, "") // apply a shorter age or quota soon
	s.log.Info("retention set", "household", c.household.ID, "quota_bytes", ret.QuotaBytes, "max_age", ret.MaxAge, "device", sa.Device)
	writeJSON(w, http.StatusOK, s.settingsOut(ret))
	return nil
}

// hubSettings serves a hub its household's latest signed settings.set
// action ({} when there is none), for the hub to check with the chain it
// verified (history.VerifySigned).
func (s *Server) hubSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	h, _, err := s.hubDevice(r.Context(), c.device)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	ret, err := s.st.Retention(r.Context(), h.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	} else if err != nil {
		return err
	}
	if err := s.access.Record(r.Context(), store.Access{Time: s.now().UTC(), HouseholdID: h.ID, Actor: c.device,
		ActorKind: "hub", Action: "settings.read", Reason: "GET /v1/hub/settings"}); err != nil {
		return err
	}
	if ret.Signed == nil {
		writeJSON(w, http.StatusOK, struct{}{})
		return nil
	}
	writeJSON(w, http.StatusOK, ret.Signed)
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

// invite is an open invite (as the API shows it) and its requests.
type invite struct {
	cloudapi.Invite
	Requests []*cloudapi.JoinRequest `json:"requests,omitempty"`
	Used     bool                    `json:"used,omitempty"` // a request was approved: no new ones
}

// invites are a household's open invites, stored under keyInvites.
type invites struct {
	List []*invite `json:"invites"`
}

// find returns the invite with the ID, or nil.
func (v *invites) find(id string) *invite {
	for _, in := range v.List {
		if in.ID == id {
			return in
		}
	}
	return nil
}

// request finds a join request by ID.
func (v *invites) request(id string) (*invite, *cloudapi.JoinRequest) {
	for _, in := range v.List {
		for _, q := range in.Requests {
			if q.ID == id {
				return in, q
			}
		}
	}
	return nil, nil
}

// decodeInvites returns the invites in cur (none for nil) that are live at
// now.
func decodeInvites(cur []byte, now time.Time) (*invites, error) {
	v := &invites{}
	if cur != nil {
		if err := json.Unmarshal(cur, v); err != nil {
			return nil, fmt.Errorf("stored invites: %w", err)
		}
	}
	live := v.List[:0]
	for _, in := range v.List {
		if now.Before(in.Expires) {
			live = append(live, in)
		}
	}
	v.List = live
	return v, nil
}

// householdInvites returns household hh's live invites.
func (s *Server) householdInvites(ctx context.Context, hh string) (*invites, error) {
	now := s.now()
	cur, err := s.st.Get(ctx, keyInvites+hh, now)
	if errors.Is(err, store.ErrNotFound) {
		cur, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeInvites(cur, now)
}

// updateInvites changes household hh's live invites with fn, atomically
// (on every replica). fn may run more than once; an error from it changes
// nothing and is returned.
func (s *Server) updateInvites(ctx context.Context, hh string, fn func(v *invites) error) error {
	now := s.now()
	return s.st.Update(ctx, keyInvites+hh, now, func(cur []byte) ([]byte, time.Time, error) {
		v, err := decodeInvites(cur, now)
		if err != nil {
			return nil, time.Time{}, err
		}
		if err := fn(v); err != nil {
			return nil, time.Time{}, err
		}
		if len(v.List) == 0 {
			return nil, time.Time{}, nil
		}
		var last time.Time
		for _, in := range v.List {
			if in.Expires.After(last) {
				last = in.Expires
			}
		}
		b, err := json.Marshal(v)
		return b, last, err
	})
}

// inviteHousehold returns the household of the invite with the ID;
// ErrNotFound when there is no such invite.
func (s *Server) inviteHousehold(ctx context.Context, id string) (string, error) {
	hh, err := s.st.Get(ctx, keyInvite+id, s.now())
	return string(hh), err
}

// errNoInvite answers an invite that is unknown or expired.
var errNoInvite = &apiError{status: http.StatusNotFound, msg: "this invite is unknown or has expired; ask an admin of the household for a new one"}

// openInvite returns the live invite with the ID and its household's
// invites; errNoInvite when there is none.
func (s *Server) openInvite(ctx context.Context, id string) (*invite, error) {
	hh, err := s.inviteHousehold(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoInvite
	} else if err != nil {
		return nil, err
	}
	v, err := s.householdInvites(ctx, hh)
	if err != nil {
		return nil, err
	}
	in := v.find(id)
	if in == nil {
		return nil, errNoInvite
	}
	return in, nil
}

// createInvite opens the invite a signed invite.create action describes:
// its ID (chosen by the admin device), role and expiry.
func (s *Server) createInvite(w http.ResponseWriter, r *http.Request, c *call) error {
	a, sa, err := s.signedAction(w, r, c, history.ActionInviteCreate)
	if err != nil {
		return err
	}
	p, err := a.Invite()
	if err != nil {
		return errorf(http.StatusBadRequest, "%s", actionMessage(err))
	}
	now := s.now().UTC()
	// The device's clock may be ahead of the service's by the skew.
	if !p.Expires.After(now) || p.Expires.Sub(now) > maxInviteTTL+history.ActionSkew {
		return errorf(http.StatusBadRequest, "expires: after now and at most %s from now", maxInviteTTL)
	}
	in := &invite{Invite: cloudapi.Invite{ID: p.Invite, HouseholdID: c.household.ID, Role: p.Role, CreatedBy: c.account.ID,
		Created: now, Expires: p.Expires.UTC()}}
	taken := errorf(http.StatusConflict, "invite ID %s is taken; make a new invite", in.ID)
	check := func(v *invites) error {
		if n := len(v.List); n >= maxInvites {
			return errorf(http.StatusTooManyRequests, "this household has %d open invites; delete some first", n)
		}
		return nil
	}
	if _, err := s.inviteHousehold(r.Context(), in.ID); err == nil {
		return taken
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	v, err := s.householdInvites(r.Context(), in.HouseholdID)
	if err != nil {
		return err
	}
	if err := check(v); err != nil {
		return err
	}
	if err := s.recordSigned(r, c, history.ActionInviteCreate, in.ID, sa); err != nil {
		return err
	}
	// Claim the ID on every replica, then add the invite to its household.
	stored, err := s.st.PutIfAbsent(r.Context(), keyInvite+in.ID, []byte(in.HouseholdID), now, in.Expires)
	if err != nil {
		return err
	}
	if !stored {
		return taken
	}
	err = s.updateInvites(r.Context(), in.HouseholdID, func(v *invites) error {
		if err := check(v); err != nil {
			return err
		}
		v.List = append(v.List, in)
		return nil
	})
	if err != nil {
		if derr := s.st.Delete(context.WithoutCancel(r.Context()), keyInvite+in.ID); derr != nil {
			s.log.Warn("an invite ID not created stays claimed until it expires", "invite", in.ID, "err", derr)
		}
		return err
	}
	s.log.Info("invite created", "household", in.HouseholdID, "invite", in.ID, "role", in.Role, "expires", in.Expires, "device", sa.Device)
	writeJSON(w, http.StatusCreated, in.Invite)
	return nil
}

func (s *Server) listInvites(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := s.householdInvites(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	out := []cloudapi.Invite{}
	for _, in := range v.List {
		out = append(out, in.Invite)
	}
	writeJSON(w, http.StatusOK, map[string]any{"invites": out})
	return nil
}

// deleteInvite closes an invite, as a signed invite.delete action says.
func (s *Server) deleteInvite(w http.ResponseWriter, r *http.Request, c *call) error {
	a, sa, err := s.signedAction(w, r, c, history.ActionInviteDelete)
	if err != nil {
		return err
	}
	p, err := a.InviteDelete()
	if err != nil {
		return errorf(http.StatusBadRequest, "%s", actionMessage(err))
	}
	id := r.PathValue("id")
	if p.Invite != id {
		return errorf(http.StatusBadRequest, "the signed action deletes invite %s, not %s", p.Invite, id)
	}
	v, err := s.householdInvites(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	if v.find(id) == nil {
		return errNotFound
	}
	if err := s.recordSigned(r, c, history.ActionInviteDelete, id, sa); err != nil {
		return err
	}
	err = s.updateInvites(r.Context(), c.household.ID, func(v *invites) error {
		v.List = slices.DeleteFunc(v.List, func(in *invite) bool { return in.ID == id })
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.st.Delete(r.Context(), keyInvite+id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "deleted"})
	return nil
}

// getInvite tells a signed-in account which household an invite is for.
func (s *Server) getInvite(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := s.openInvite(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	cp := in.Invite
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

// postJoinRequest is a signed-in browser asking to join with its device.
func (s *Server) postJoinRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.RequestJoin
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
	dk, err := keydir.ParseDevice(req.Device, keydir.RoleMember, req.Name)
	if err != nil {
		return errorf(http.StatusBadRequest, "device: %v", err)
	}
	id := r.PathValue("id")
	hh, err := s.inviteHousehold(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errNoInvite
	} else if err != nil {
		return err
	}
	var q *cloudapi.JoinRequest
	err = s.updateInvites(r.Context(), hh, func(v *invites) error {
		in := v.find(id)
		if in == nil {
			return errNoInvite
		}
		if in.Used {
			return errorf(http.StatusGone, "this invite has been used; ask an admin of the household for a new one")
		}
		if len(in.Requests) >= maxJoinRequestsTotal {
			return errorf(http.StatusTooManyRequests, "this invite has had %d requests; ask for a new one", len(in.Requests))
		}
		live := 0
		for _, q := range in.Requests {
			if q.Status == joinPending {
				live++
			}
		}
		if live >= maxJoinRequests {
			return errorf(http.StatusTooManyRequests, "too many devices are waiting on this invite; ask for a new one")
		}
		q = &cloudapi.JoinRequest{ID: newID("j"), InviteID: in.ID, HouseholdID: in.HouseholdID, AccountID: c.account.ID, Email: c.account.Email,
			Device: req.Device, DeviceID: dk.ID, Name: req.Name, Proof: req.Proof, Role: in.Role, Status: joinPending, Created: s.now().UTC()}
		in.Requests = append(in.Requests, q)
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Info("join request", "household", hh, "invite", id, "account", c.account.ID, "request", q.ID, "device", dk.ID)
	s.joinRequested(hh) // events.go: a push to the admins, never blocks
	writeJSON(w, http.StatusAccepted, cloudapi.JoinStatus{ID: q.ID, HouseholdID: hh, Status: q.Status})
	return nil
}

// getJoinRequest lets the requesting account follow its request.
func (s *Server) getJoinRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	in, err := s.openInvite(r.Context(), r.PathValue("id"))
	if errors.Is(err, errNoInvite) {
		return errNotFound
	} else if err != nil {
		return err
	}
	for _, q := range in.Requests {
		if q.ID == r.PathValue("rid") && q.AccountID == c.account.ID {
			writeJSON(w, http.StatusOK, &cloudapi.JoinStatus{ID: q.ID, HouseholdID: q.HouseholdID, Status: q.Status})
			return nil
		}
	}
	return errNotFound
}

func (s *Server) listJoinRequests(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := s.householdInvites(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	out := cloudapi.JoinRequests{Requests: []cloudapi.JoinRequest{}}
	for _, in := range v.List {
		for _, q := range in.Requests {
			if q.Status == joinPending {
				out.Requests = append(out.Requests, *q)
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// approveJoinRequest enrols the requesting device: membership for its
// account (the invite's role) and the admin device's chain link.
func (s *Server) approveJoinRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.ChainLink // the chain link adding the request's device
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if len(req.Link) == 0 {
		return errorf(http.StatusBadRequest, "link: the chain link, signed by an admin device, that adds the requesting device")
	}
	rid := r.PathValue("id")
	v, err := s.householdInvites(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	in, q := v.request(rid)
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
	// The device is in the chain: the request is approved (whatever
	// happened to it since it was read) and the invite is used, its other
	// requests declined.
	err = s.updateInvites(r.Context(), c.household.ID, func(v *invites) error {
		in, q := v.request(rid)
		if q == nil {
			return nil // the invite expired or was deleted meanwhile
		}
		for _, o := range in.Requests {
			if o.Status == joinPending {
				o.Status = joinDeclined
			}
		}
		q.Status = joinApproved
		in.Used = true
		if grace := s.now().Add(usedInviteGrace); grace.Before(in.Expires) {
			in.Expires = grace // long enough for the requester to see it
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Info("join request approved", "household", c.household.ID, "request", q.ID, "account", q.AccountID, "device", q.DeviceID, "seq", seq)
	writeJSON(w, http.StatusOK, map[string]any{"request_id": q.ID, "status": joinApproved, "account_id": q.AccountID, "role": role, "seq": seq})
	return nil
}

func (s *Server) declineJoinRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	err := s.updateInvites(r.Context(), c.household.ID, func(v *invites) error {
		_, q := v.request(r.PathValue("id"))
		if q == nil || q.Status != joinPending {
			return errNotFound
		}
		q.Status = joinDeclined
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": joinDeclined})
	return nil
}

// appendLinkAdding appends link to the household's chain (as appendChain)
// if it verifies and the device deviceID is in the chain after it and was
// not before (households.Service.AppendAdding).
func (s *Server) appendLinkAdding(ctx context.Context, h store.Household, link []byte, deviceID string) (int64, error) {
	next, err := s.households.AppendAdding(ctx, h, link, deviceID)
	if err != nil {
		return 0, err
	}
	return next.Seq, nil
}
