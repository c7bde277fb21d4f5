package cloud

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"vigil/internal/cloud/households"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
	"vigil/internal/history"
)

// Household management for the web app and the CLI: the member list,
// retention settings, and devices joining by approval. Their logic is the
// households domain's (internal/cloud/households: actions.go, members.go,
// settings.go, invites.go); the handlers here read the request, record
// each signed change in the access log (the domain calls back before the
// change takes effect), call the domain and write the answer.
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
// secret stays in the URL fragment and on the admin device, never here.
// The invite's ID is a hash of its key, itself derived from the secret
// (member.InviteKey, history.InviteIDForKey): a signed-in browser that
// opens the link presents the key in request bodies (never a path or a
// query) to read the invite, and posts its public device identity, a name
// and a proof (HMAC-SHA-256 keyed by the secret) as a join request. An
// account that knows only the ID (from a log, or the history) reads
// nothing.
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

		// The invite's key is in the body of each, never in a path or a
		// query (which request logs, proxies and browser histories keep).
		{method: "POST", pattern: "/v1/invites/open", auth: authAccount, h: s.getInvite},
		{method: "POST", pattern: "/v1/invites/join", auth: authAccount, h: s.postJoinRequest},
		{method: "POST", pattern: "/v1/invites/status", auth: authAccount, h: s.getJoinRequest},
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
	ms, err := s.households.Members(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	out := make([]memberJSON, len(ms))
	for i, m := range ms {
		out[i] = memberJSON{AccountID: m.AccountID, Email: m.Email, Role: m.Role, Created: m.Created}
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
	return nil
}

// addMember lets another account see the household's objects and chain,
// as a signed member.add action says (households.Service.AddMember).
func (s *Server) addMember(w http.ResponseWriter, r *http.Request, c *call) error {
	a, sa, err := s.signedAction(w, r, c, history.ActionMemberAdd)
	if err != nil {
		return err
	}
	m, err := s.households.AddMember(r.Context(), c.household, a, sa, func(id string) error {
		return s.recordSigned(r, c, history.ActionMemberAdd, id, sa)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"account_id": m.AccountID, "role": m.Role})
	return nil
}

// deleteMember takes an account out of the household, as a signed
// member.remove action says (households.Service.RemoveMember).
func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request, c *call) error {
	a, sa, err := s.signedAction(w, r, c, history.ActionMemberRemove)
	if err != nil {
		return err
	}
	err = s.households.RemoveMember(r.Context(), c.household, r.PathValue("account"), c.account.ID, a, sa, func(id string) error {
		return s.recordSigned(r, c, history.ActionMemberRemove, id, sa)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "removed"})
	return nil
}

// Retention settings.

func (s *Server) settingsOut(ret store.Retention) cloudapi.Settings {
	return cloudapi.Settings{
		QuotaBytes: ret.QuotaBytes, MaxAgeSeconds: int64(ret.MaxAge / time.Second),
		DefaultQuotaBytes: s.opt.QuotaBytes, DefaultMaxAgeSeconds: int64(s.opt.MaxAge / time.Second),
	}
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	ret, err := s.households.Settings(r.Context(), c.household)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.settingsOut(ret))
	return nil
}

// putSettings sets the retention a signed settings.set action says
// (households.Service.SetRetention).
func (s *Server) putSettings(w http.ResponseWriter, r *http.Request, c *call) error {
	a, sa, err := s.signedAction(w, r, c, history.ActionSettingsSet)
	if err != nil {
		return err
	}
	ret, err := s.households.SetRetention(r.Context(), c.household, s.opt.QuotaBytes, a, sa, func() error {
		return s.recordSigned(r, c, history.ActionSettingsSet, "", sa)
	})
	if err != nil {
		return err
	}
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
	ret, err := s.households.Settings(r.Context(), h)
	if err != nil {
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

// Invites and join requests: households.Service's (invites.go there).

// createInvite opens the invite a signed invite.create action describes:
// its ID (chosen by the admin device), role and expiry.
func (s *Server) createInvite(w http.ResponseWriter, r *http.Request, c *call) error {
	a, sa, err := s.signedAction(w, r, c, history.ActionInviteCreate)
	if err != nil {
		return err
	}
	in, err := s.households.CreateInvite(r.Context(), c.household, c.account.ID, a, sa, func(id string) error {
		return s.recordSigned(r, c, history.ActionInviteCreate, id, sa)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, cloudapi.Invite(in))
	return nil
}

func (s *Server) listInvites(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := s.households.Invites(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	out := make([]cloudapi.Invite, len(v))
	for i, in := range v {
		out[i] = cloudapi.Invite(in)
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
	err = s.households.DeleteInvite(r.Context(), c.household, r.PathValue("id"), a, func(id string) error {
		return s.recordSigned(r, c, history.ActionInviteDelete, id, sa)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "deleted"})
	return nil
}

// getInvite tells a signed-in account that presents an invite's key which
// household the invite is for.
func (s *Server) getInvite(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.OpenInvite
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	cp, h, err := s.households.InviteFor(r.Context(), req.Key)
	if err != nil {
		return err
	}
	if err := s.access.Record(r.Context(), store.Access{Time: s.now().UTC(), HouseholdID: h.ID, Actor: c.account.ID,
		ActorKind: "account", Action: "invite.read", Object: cp.ID, Reason: r.Method + " " + routePath(r)}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cloudapi.InviteInfo{ID: cp.ID, HouseholdID: h.ID, HouseholdName: h.Name,
		Role: cp.Role, Expires: cp.Expires})
	return nil
}

// postJoinRequest is a signed-in browser asking to join with its device.
func (s *Server) postJoinRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.RequestJoin
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	q, err := s.households.RequestJoin(r.Context(), req.Key, households.Join{AccountID: c.account.ID, Email: c.account.Email,
		Device: req.Device, Name: req.Name, Proof: req.Proof})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, cloudapi.JoinStatus{ID: q.ID, HouseholdID: q.HouseholdID, Status: q.Status})
	return nil
}

// getJoinRequest lets the requesting account follow its request.
func (s *Server) getJoinRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.JoinStatusQuery
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	q, err := s.households.JoinRequestOf(r.Context(), req.Key, req.RequestID, c.account.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, &cloudapi.JoinStatus{ID: q.ID, HouseholdID: q.HouseholdID, Status: q.Status})
	return nil
}

func (s *Server) listJoinRequests(w http.ResponseWriter, r *http.Request, c *call) error {
	v, err := s.households.JoinRequests(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	out := cloudapi.JoinRequests{Requests: make([]cloudapi.JoinRequest, len(v))}
	for i, q := range v {
		out.Requests[i] = cloudapi.JoinRequest(q)
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
	ap, err := s.households.ApproveJoin(r.Context(), c.household, r.PathValue("id"), req.Link)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"request_id": ap.Request.ID, "status": households.JoinApproved,
		"account_id": ap.Request.AccountID, "role": ap.Role, "seq": ap.Seq})
	return nil
}

func (s *Server) declineJoinRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.households.DeclineJoin(r.Context(), c.household.ID, r.PathValue("id")); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": households.JoinDeclined})
	return nil
}
