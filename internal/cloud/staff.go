package cloud

import (
	"errors"
	"fmt"
	"net/http"

	"vigil/internal/cloud/staff"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
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

// staffRoutes are the staff side's routes. Every one is authStaff and
// under /staff/v1/; none returns or streams household content (the
// route-table test, staff_routes_test.go, holds both).
func (s *Server) staffRoutes() []route {
	return []route{
		{method: "GET", pattern: "/staff/v1/me", auth: authStaff, h: s.staffMe},
		{method: "DELETE", pattern: "/staff/v1/sessions/current", auth: authStaff, h: s.staffSignOut},
		{method: "POST", pattern: "/staff/v1/lookup", auth: authStaff, h: s.staffLookUp},
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

// staffLookUp finds a household by the support code its member read out.
// The look-up is in the household's history.
func (s *Server) staffLookUp(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.StaffLookUp
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	hh, err := s.staff.LookUp(r.Context(), req.SupportCode)
	if err != nil {
		return err
	}
	code, _ := staff.ParseSupportCode(req.SupportCode) // LookUp parsed it
	if err := s.recordStaff(r, c, hh, "staff.lookup", "support code "+staff.FormatSupportCode(code)); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cloudapi.StaffHousehold{HouseholdID: hh})
	return nil
}
