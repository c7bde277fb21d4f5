package cloud

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"vigil/internal/cloud/passkeys"
	"vigil/internal/cloud/staff"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
	"vigil/internal/history"
	"vigil/internal/keydir"
)

// The staff side: routes under /staff/v1/, authenticated by a staff
// session (authStaff) and nothing else. A staff session is its own cookie
// and its own table (internal/cloud/staff): authorize never turns it into
// an account, so no household route — and no content route — ever serves
// it; a customer's session or API token is never a staff session either.
// What staff see of a household is metadata they name by its support code
// (docs/ARCHITECTURE.md, "The staff side").

const (
	// staffCookie holds a staff session. Its path keeps it off every
	// customer route.
	staffCookie     = "vigil_staff"
	staffCookiePath = "/staff/"
)

// staffRoutes are the staff side's routes. Every one is authStaff, under
// /staff/v1/, and names the staff roles that may use it (the others get
// 403); none returns or streams household content (the route-table test,
// staff_routes_test.go, holds all three).
func (s *Server) staffRoutes() []route {
	support, ops, admin := staff.SupportRoles, staff.OperatorRoles, staff.AdminRoles
	return []route{
		{method: "GET", pattern: "/staff/v1/me", auth: authStaff, staffRoles: support, h: s.staffMe},
		{method: "DELETE", pattern: "/staff/v1/sessions/current", auth: authStaff, staffRoles: support, h: s.staffSignOut},
		{method: "POST", pattern: "/staff/v1/lookup", auth: authStaff, staffRoles: support, h: s.staffLookUp},
		{method: "POST", pattern: "/staff/v1/requests", auth: authStaff, staffRoles: support, h: s.fileStaffRequest},
		{method: "GET", pattern: "/staff/v1/requests/{id}", auth: authStaff, staffRoles: support, h: s.getStaffRequest},
		{method: "GET", pattern: "/staff/v1/requests/{id}/health/{scope}", auth: authStaff, staffRoles: support, h: s.staffHealth},

		// staff_tickets.go: tickets and notes, the operations view, staff
		// management.
		{method: "GET", pattern: "/staff/v1/tickets", auth: authStaff, staffRoles: support, h: s.ownTickets},
		{method: "POST", pattern: "/staff/v1/tickets", auth: authStaff, staffRoles: support, h: s.openTicket},
		{method: "POST", pattern: "/staff/v1/tickets/find", auth: authStaff, staffRoles: support, h: s.findTickets},
		{method: "GET", pattern: "/staff/v1/tickets/{id}", auth: authStaff, staffRoles: support, h: s.getTicket},
		{method: "POST", pattern: "/staff/v1/tickets/{id}/notes", auth: authStaff, staffRoles: support, h: s.addTicketNote},
		{method: "POST", pattern: "/staff/v1/tickets/{id}/close", auth: authStaff, staffRoles: support, h: s.setTicketState(false)},
		{method: "POST", pattern: "/staff/v1/tickets/{id}/reopen", auth: authStaff, staffRoles: support, h: s.setTicketState(true)},
		{method: "GET", pattern: "/staff/v1/ops", auth: authStaff, staffRoles: ops, h: s.staffOps},
		{method: "GET", pattern: "/staff/v1/staff", auth: authStaff, staffRoles: admin, h: s.listStaff},
		{method: "POST", pattern: "/staff/v1/staff", auth: authStaff, staffRoles: admin, h: s.addStaff},
		{method: "POST", pattern: "/staff/v1/staff/{id}/disable", auth: authStaff, staffRoles: admin, h: s.disableStaff},
	}
}

// staffError maps the staff domain's refusals to answers.
func staffError(err error) *apiError {
	var de *staff.Error
	if !errors.As(err, &de) {
		return nil
	}
	if de.Kind == staff.NotFound {
		return errNotFound
	}
	status := map[staff.Kind]int{
		staff.Invalid:         http.StatusBadRequest,
		staff.Unauthenticated: http.StatusUnauthorized,
		staff.Forbidden:       http.StatusForbidden,
		staff.Conflict:        http.StatusConflict,
		staff.Missing:         http.StatusGone,
	}[de.Kind]
	if status == 0 {
		status = http.StatusInternalServerError
	}
	return &apiError{status: status, msg: de.Msg}
}

// authenticateStaff accepts the staff session cookie and nothing else (no
// bearer tokens: staff use the console in a browser).
func (s *Server) authenticateStaff(r *http.Request, c *call) error {
	ck, err := r.Cookie(staffCookie)
	if err != nil || ck.Value == "" {
		return staffError(staff.ErrSignInRequired)
	}
	st, t, err := s.staff.Authenticate(r.Context(), staff.Credential{Secret: ck.Value,
		Reading: r.Method == http.MethodGet || r.Method == http.MethodHead, CSRF: r.Header.Get(staff.CSRFHeader)})
	if err != nil {
		return err
	}
	c.staff, c.staffToken = st, t
	return nil
}

// recordStaff records what staff member c.staff did on household hh, with
// why: the household sees it in its history.
func (s *Server) recordStaff(r *http.Request, c *call, hh, action, object string) error {
	a := store.Access{Time: s.now().UTC(), HouseholdID: hh, Actor: c.staff.ID, ActorKind: "staff",
		Action: action, Object: object}
	if err := s.access.Record(r.Context(), a); err != nil {
		return fmt.Errorf("recording access: %w", err)
	}
	return nil
}

func (s *Server) staffMe(w http.ResponseWriter, r *http.Request, c *call) error {
	writeJSON(w, http.StatusOK, cloudapi.StaffMe{ID: c.staff.ID, Name: c.staff.Name, Role: c.staff.Role,
		Expires: c.staffToken.Expires})
	return nil
}

func (s *Server) staffSignOut(w http.ResponseWriter, r *http.Request, c *call) error {
	ck, _ := r.Cookie(staffCookie)
	if err := s.staff.SignOut(r.Context(), ck.Value); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: "", Path: staffCookiePath, MaxAge: -1, HttpOnly: true,
		Secure: s.opt.SecureCookies, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]string{"status": "signed out"})
	return nil
}

// lookUpByCode finds the household whose support code the request's body
// carries and records the look-up, as action, in the household's history.
func (s *Server) lookUpByCode(w http.ResponseWriter, r *http.Request, c *call, action string) (string, error) {
	var req cloudapi.StaffLookUp
	if err := decodeJSON(w, r, &req); err != nil {
		return "", err
	}
	hh, err := s.staff.LookUp(r.Context(), req.SupportCode)
	if err != nil {
		return "", err
	}
	code, _ := staff.ParseSupportCode(req.SupportCode) // LookUp parsed it
	return hh, s.recordStaff(r, c, hh, action, supportCodeObject(code))
}

// staffLookUp finds a household by the support code its member read out.
// The look-up is in the household's history.
func (s *Server) staffLookUp(w http.ResponseWriter, r *http.Request, c *call) error {
	hh, err := s.lookUpByCode(w, r, c, "staff.lookup")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cloudapi.StaffHousehold{HouseholdID: hh})
	return nil
}

// lockboxRoutes are the household admins' side of the lockbox: they list
// staff requests and decide them with a signed action.
func (s *Server) lockboxRoutes() []route {
	return []route{
		{method: "GET", pattern: "/v1/households/{hh}/staff-requests", auth: authAdmin, action: "staff-requests.list", h: s.listStaffRequests},
		{method: "POST", pattern: "/v1/households/{hh}/staff-requests/{id}/approve", auth: authAdmin, h: s.decideStaffRequest(history.ActionStaffApprove)},
		{method: "POST", pattern: "/v1/households/{hh}/staff-requests/{id}/deny", auth: authAdmin, h: s.decideStaffRequest(history.ActionStaffDeny)},
		{method: "POST", pattern: "/v1/households/{hh}/staff-requests/{id}/revoke", auth: authAdmin, h: s.decideStaffRequest(history.ActionStaffRevoke)},
	}
}

// requestObject is how a request is named in the household's history:
// its ID, who asked, for what, and why.
func requestObject(r store.StaffRequest) string {
	return fmt.Sprintf("request %s by staff %s (%s for %v): %s", r.ID, r.StaffID, strings.Join(r.Scopes, ","), r.Duration, r.Reason)
}

// recordExpiry records that a grant ran out: the service's doing.
func (s *Server) recordExpiry(r *http.Request, req store.StaffRequest) error {
	return s.recordExpiryCtx(r.Context(), req)
}

func (s *Server) recordExpiryCtx(ctx context.Context, req store.StaffRequest) error {
	a := store.Access{Time: s.now().UTC(), HouseholdID: req.HouseholdID, Actor: "lockbox", ActorKind: "cloud",
		Action: "staff.expire", Object: requestObject(req)}
	if err := s.access.Record(ctx, a); err != nil {
		return fmt.Errorf("recording an expiry: %w", err)
	}
	return nil
}

func staffRequestJSON(r store.StaffRequest) cloudapi.StaffRequest {
	return cloudapi.StaffRequest{ID: r.ID, HouseholdID: r.HouseholdID, StaffID: r.StaffID, Scopes: r.Scopes, Reason: r.Reason,
		DurationSeconds: int64(r.Duration / time.Second), Created: r.Created, State: r.State, Decided: r.Decided, Expires: r.Expires}
}

// fileStaffRequest: a staff member asks a household, named by its support
// code, for some of its metadata. The request is in the household's
// history at once.
func (s *Server) fileStaffRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.StaffRequestFile
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.DurationSeconds < 0 || req.DurationSeconds > int64(staff.MaxGrant/time.Second) {
		return errorf(http.StatusBadRequest, "duration_seconds: at most %d", int64(staff.MaxGrant/time.Second))
	}
	hh, err := s.staff.LookUp(r.Context(), req.SupportCode)
	if err != nil {
		return err
	}
	fr, err := s.staff.File(r.Context(), c.staff, hh, req.Scopes, req.Reason, time.Duration(req.DurationSeconds)*time.Second)
	if err != nil {
		return err
	}
	if err := s.recordStaff(r, c, hh, "staff.request", requestObject(fr)); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, staffRequestJSON(fr))
	return nil
}

// getStaffRequest: a staff member's own request, as decided so far.
func (s *Server) getStaffRequest(w http.ResponseWriter, r *http.Request, c *call) error {
	req, expired, err := s.staff.Request(r.Context(), c.staff, r.PathValue("id"))
	if err != nil {
		return err
	}
	if expired {
		if err := s.recordExpiry(r, req); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, staffRequestJSON(req))
	return nil
}

// staffHealth: one scope of a household's health metadata, under the
// staff member's live grant only. Each read is in the household's history
// with the grant's reason.
func (s *Server) staffHealth(w http.ResponseWriter, r *http.Request, c *call) error {
	scope := r.PathValue("scope")
	req, expired, err := s.staff.Grant(r.Context(), c.staff, r.PathValue("id"), scope)
	if expired {
		if err := s.recordExpiry(r, req); err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	h, err := s.households.Household(r.Context(), req.HouseholdID)
	if err != nil {
		return err
	}
	out := cloudapi.StaffHealth{Scope: scope, HouseholdID: h.ID}
	// The hubs of the household's chain now, and their latest health
	// reports (hubhealth_web.go); a removed hub's old report is not shown.
	var hubs []keydir.DeviceKey
	var reports map[string]store.HubReport
	if scope == "hubs" || scope == "uploads" || scope == "versions" {
		st, err := s.households.State(r.Context(), h)
		if err != nil {
			return err
		}
		hubs = st.Hubs()
		if reports, err = s.hubHealth.Reports(r.Context(), h.ID); err != nil {
			return err
		}
	}
	silent := 0
	for _, d := range hubs {
		if _, ok := reports[d.ID]; !ok {
			silent++
		}
	}
	if silent > 0 {
		out.Note = fmt.Sprintf("%d of %d hubs never sent a health report (older hub software, or not online since)", silent, len(hubs))
	}
	switch scope {
	case "hubs":
		out.Hubs = []cloudapi.StaffHub{}
		for _, d := range hubs {
			rep, ok := reports[d.ID]
			out.Hubs = append(out.Hubs, staffHub(d, rep, ok))
		}
	case "uploads":
		n, err := s.households.Uploaded(r.Context(), h.ID, s.now().Add(-24*time.Hour))
		if err != nil {
			return err
		}
		out.UploadedBytes = &n
		out.Uploads = []cloudapi.StaffHubUploads{}
		for _, d := range hubs {
			rep, ok := reports[d.ID]
			out.Uploads = append(out.Uploads, staffUploads(d, rep, ok))
		}
	case "storage":
		u, err := s.retention.Usage(r.Context(), h.ID)
		if err != nil {
			return err
		}
		q := s.quota(h)
		out.UsageBytes, out.QuotaBytes = &u, &q
	case "cameras":
		cams, err := s.objects.Cameras(r.Context(), h.ID)
		if err != nil {
			return err
		}
		n := len(cams)
		out.Cameras = &n
	case "versions":
		v := &cloudapi.StaffVersions{Hubs: []cloudapi.StaffHub{}, Cloud: cloudBuild(), WebApp: s.webApp.get(s.opt.App)}
		for _, d := range hubs {
			rep, ok := reports[d.ID]
			v.Hubs = append(v.Hubs, staffHub(d, rep, ok))
		}
		out.Versions = v
	}
	if err := s.recordStaff(r, c, h.ID, "staff.read", fmt.Sprintf("%s under %s", scope, requestObject(req))); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listStaffRequests: the household's admins see every staff request, with
// who asked.
func (s *Server) listStaffRequests(w http.ResponseWriter, r *http.Request, c *call) error {
	all, expired, err := s.staff.Requests(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	for _, req := range expired {
		if err := s.recordExpiry(r, req); err != nil {
			return err
		}
	}
	out := cloudapi.StaffRequests{Requests: []cloudapi.StaffRequest{}}
	for _, req := range all {
		j := staffRequestJSON(req)
		if st, err := s.staff.Identity(r.Context(), req.StaffID); err == nil {
			j.StaffName, j.StaffRole = st.Name, st.Role
		} else if staffError(err) == nil {
			return err
		}
		out.Requests = append(out.Requests, j)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// decideStaffRequest: an admin approves, denies or revokes a staff
// request with an admin device's signed action (a household change like
// any other); the decision is in the household's history, with the
// signature, before it takes effect.
func (s *Server) decideStaffRequest(action string) func(w http.ResponseWriter, r *http.Request, c *call) error {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		a, sa, err := s.signedAction(w, r, c, action)
		if err != nil {
			return err
		}
		id := r.PathValue("id")
		d := staff.Decision{Device: sa.Device}
		var signedFor string
		switch action {
		case history.ActionStaffApprove:
			p, err := a.StaffApprove()
			if err != nil {
				return errorf(http.StatusBadRequest, "%v", err)
			}
			d.State, d.Scopes, d.Seconds, signedFor = store.StaffApproved, p.Scopes, p.Seconds, p.Request
		case history.ActionStaffDeny:
			p, err := a.StaffDeny()
			if err != nil {
				return errorf(http.StatusBadRequest, "%v", err)
			}
			d.State, signedFor = store.StaffDenied, p.Request
		case history.ActionStaffRevoke:
			p, err := a.StaffRevoke()
			if err != nil {
				return errorf(http.StatusBadRequest, "%v", err)
			}
			d.State, signedFor = store.StaffRevoked, p.Request
		}
		if signedFor != id {
			return errorf(http.StatusBadRequest, "the signed action is for request %s, not %s", signedFor, id)
		}
		req, err := s.staff.Decide(r.Context(), c.household.ID, id, d, func(req store.StaffRequest) error {
			return s.recordSigned(r, c, action, requestObject(req), sa)
		})
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, staffRequestJSON(req))
		return nil
	}
}

// staffSignInRoutes are how staff get a session: passkeys only, no
// password path. Enrolment takes the one-time secret 'vigil cloud staff
// add' printed and registers the staff member's passkey; sign-in is a
// discoverable passkey ceremony marked as a staff one. Both are limited
// per address like every other sign-in.
func (s *Server) staffSignInRoutes() []route {
	return []route{
		{method: "POST", pattern: "/staff/v1/enrol/begin", auth: authNone, h: s.staffEnrolBegin},
		{method: "POST", pattern: "/staff/v1/enrol/finish", auth: authNone, h: s.staffEnrolFinish},
		{method: "POST", pattern: "/staff/v1/login/begin", auth: authNone, h: s.staffLoginBegin},
		{method: "POST", pattern: "/staff/v1/login/finish", auth: authNone, h: s.staffLoginFinish},
	}
}

func (s *Server) staffEnrolBegin(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(r.Context(), c); err != nil {
		return err
	}
	var req cloudapi.StaffEnrol
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	st, err := s.staff.Enrol(r.Context(), req.Secret)
	if err != nil {
		if staffError(err) != nil {
			s.accounts.FailedIP(r.Context(), c.ip)
		}
		return err
	}
	b, err := s.passkeys.BeginStaffRegistration(r.Context(), st)
	if err != nil {
		return passkeysError(err)
	}
	writeJSON(w, http.StatusOK, ceremonyResp{Ceremony: b.Ceremony, Options: b.Options})
	return nil
}

func (s *Server) staffEnrolFinish(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(r.Context(), c); err != nil {
		return err
	}
	body, err := readBody(w, r, maxJSONBytes)
	if err != nil {
		return err
	}
	id, err := s.passkeys.FinishStaffRegistration(r.Context(), r.URL.Query().Get("ceremony"), body)
	if err != nil {
		return passkeysError(err)
	}
	return s.startStaffSession(w, r, id)
}

func (s *Server) staffLoginBegin(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(r.Context(), c); err != nil {
		return err
	}
	b, err := s.passkeys.BeginStaffLogin(r.Context())
	if err != nil {
		return passkeysError(err)
	}
	writeJSON(w, http.StatusOK, ceremonyResp{Ceremony: b.Ceremony, Options: b.Options})
	return nil
}

func (s *Server) staffLoginFinish(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := s.limitIP(r.Context(), c); err != nil {
		return err
	}
	body, err := readBody(w, r, maxJSONBytes)
	if err != nil {
		return err
	}
	id, err := s.passkeys.FinishStaffLogin(r.Context(), r.URL.Query().Get("ceremony"), body)
	if err != nil {
		var pe *passkeys.Error
		if errors.As(err, &pe) && pe.Kind == passkeys.Unauthorized {
			s.accounts.FailedIP(r.Context(), c.ip)
		}
		return passkeysError(err)
	}
	return s.startStaffSession(w, r, id)
}

// startStaffSession issues a staff session for identity id (refused for a
// disabled one) and sets its cookie.
func (s *Server) startStaffSession(w http.ResponseWriter, r *http.Request, id string) error {
	ss, err := s.staff.NewSession(r.Context(), id)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: ss.Secret, Path: staffCookiePath, Expires: ss.Expires,
		HttpOnly: true, Secure: s.opt.SecureCookies, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, cloudapi.StaffSession{StaffID: id, CSRF: ss.CSRF, Expires: ss.Expires})
	return nil
}

// StaffSweepInterval is how often the staff grants that ran out unread
// are recorded: by the Server itself (one process), or by the cluster's
// scheduler (Options.ClusterStaffSweep).
const StaffSweepInterval = time.Minute

// errClosed is what a sweep asked of a closed Server returns.
var errClosed = errors.New("cloud: the server is closed")

// SweepStaffGrants marks expired, and records in each household's history,
// the staff grants that have run out and that no read or listing has
// marked yet. A Server runs it every StaffSweepInterval itself, unless
// Options.ClusterStaffSweep leaves it to the cluster's scheduler, which
// runs it on one replica at a time (the "staff-grants" job). Close waits
// for a sweep in flight and cancels it; after Close it does nothing and
// returns an error. Two sweeps at once (a hand-over) still record each
// expiry once: ExpireDue marks each grant for one of them only.
func (s *Server) SweepStaffGrants(ctx context.Context) error {
	if !s.work.add() {
		return errClosed
	}
	defer s.work.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.work.ctx, cancel)()
	return s.sweepStaffGrants(ctx)
}

func (s *Server) sweepStaffGrants(ctx context.Context) error {
	due, err := s.staff.ExpireDue(ctx)
	for _, req := range due {
		if rerr := s.recordExpiryCtx(ctx, req); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	return err
}
