package cloud_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"vigil/internal/cloudapi"
)

func decodeAs[T any](t *testing.T, b string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(b), &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

// TestStaffTickets: a support staff member opens a ticket about a household
// found by its support code (with a first note), lists their open tickets
// and the household's, adds a note, closes it (a note on a closed ticket is
// refused), and another staff member reopens it. The household's history
// has the opening, closing and reopening with the subject, by the staff
// member, and none of the notes; another household's history has nothing
// of it and its code finds none of its tickets. Subjects and notes are
// bounded and printable.
func TestStaffTickets(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hh := st.HouseholdID
	code := supportCode(t, e, alice, hh)
	bob := e.signUp("bob@example.com")
	stB := e.household(bob, "Flat")
	codeB := supportCode(t, e, bob, stB.HouseholdID)
	ada := e.staffUser("Ada", "support")
	cy := e.staffUser("Cy", "operator")

	status, b := e.staffCall(t, ada, "POST", "/staff/v1/tickets", cloudapi.StaffTicketOpen{SupportCode: strings.ToLower(code), Subject: "uploads failing",
		Note: "customer says the garage camera stopped at noon"})
	if status != http.StatusCreated {
		t.Fatalf("open: %d %s", status, b)
	}
	tk := decodeAs[cloudapi.StaffTicket](t, b)
	if tk.HouseholdID != hh || tk.State != "open" || tk.OpenedBy != ada.id || tk.OpenedByName != "Ada" || len(tk.Notes) != 1 ||
		tk.Notes[0].Text != "customer says the garage camera stopped at noon" || tk.Notes[0].StaffName != "Ada" {
		t.Fatalf("opened: %+v", tk)
	}
	for _, bad := range []cloudapi.StaffTicketOpen{
		{SupportCode: code, Subject: ""},
		{SupportCode: code, Subject: strings.Repeat("x", 121)},
		{SupportCode: code, Subject: "bell\a"},
		{SupportCode: code, Subject: "ok", Note: strings.Repeat("x", 2001)},
	} {
		if status, b := e.staffCall(t, ada, "POST", "/staff/v1/tickets", bad); status != http.StatusBadRequest {
			t.Errorf("open %+.60v: %d %s, want 400", bad, status, b)
		}
	}
	if status, b := e.staffCall(t, ada, "POST", "/staff/v1/tickets", cloudapi.StaffTicketOpen{SupportCode: "AAAAA-AAAAA", Subject: "x"}); status == http.StatusCreated {
		t.Errorf("open with an unknown code: %d %s", status, b)
	}
	// Bob's household gets a ticket of its own, by Cy.
	status, b = e.staffCall(t, cy, "POST", "/staff/v1/tickets", cloudapi.StaffTicketOpen{SupportCode: codeB, Subject: "billing question"})
	if status != http.StatusCreated {
		t.Fatalf("open B: %d %s", status, b)
	}
	tkB := decodeAs[cloudapi.StaffTicket](t, b)

	list := func(u staffUser, method, path string, v any) []string {
		t.Helper()
		status, b := e.staffCall(t, u, method, path, v)
		if status != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, status, b)
		}
		var ids []string
		for _, x := range decodeAs[cloudapi.StaffTickets](t, b).Tickets {
			ids = append(ids, x.ID+" "+x.State)
		}
		return ids
	}
	if got := list(ada, "GET", "/staff/v1/tickets", nil); fmt.Sprint(got) != fmt.Sprint([]string{tk.ID + " open"}) {
		t.Errorf("Ada's open tickets: %v", got)
	}
	if got := list(cy, "POST", "/staff/v1/tickets/find", cloudapi.StaffLookUp{SupportCode: code}); fmt.Sprint(got) != fmt.Sprint([]string{tk.ID + " open"}) {
		t.Errorf("A's tickets as Cy: %v", got)
	}

	if status, b := e.staffCall(t, cy, "POST", "/staff/v1/tickets/"+tk.ID+"/notes", cloudapi.StaffNoteAdd{Text: "hub restarted\nuploads back"}); status != http.StatusCreated {
		t.Fatalf("note: %d %s", status, b)
	}
	if status, b := e.staffCall(t, cy, "POST", "/staff/v1/tickets/"+tk.ID+"/notes", cloudapi.StaffNoteAdd{Text: " "}); status != http.StatusBadRequest {
		t.Errorf("an empty note: %d %s", status, b)
	}
	status, b = e.staffCall(t, ada, "POST", "/staff/v1/tickets/"+tk.ID+"/close", nil)
	if status != http.StatusOK {
		t.Fatalf("close: %d %s", status, b)
	}
	if c := decodeAs[cloudapi.StaffTicket](t, b); c.State != "closed" || c.ClosedBy != ada.id || c.Closed.IsZero() || len(c.Notes) != 2 {
		t.Errorf("closed: %+v", c)
	}
	if status, b := e.staffCall(t, ada, "POST", "/staff/v1/tickets/"+tk.ID+"/close", nil); status != http.StatusConflict {
		t.Errorf("close again: %d %s", status, b)
	}
	if status, b := e.staffCall(t, ada, "POST", "/staff/v1/tickets/"+tk.ID+"/notes", cloudapi.StaffNoteAdd{Text: "late"}); status != http.StatusConflict {
		t.Errorf("a note on a closed ticket: %d %s", status, b)
	}
	if got := list(ada, "GET", "/staff/v1/tickets", nil); len(got) != 0 {
		t.Errorf("Ada's open tickets after the close: %v", got)
	}
	if got := list(ada, "POST", "/staff/v1/tickets/find", cloudapi.StaffLookUp{SupportCode: code}); fmt.Sprint(got) != fmt.Sprint([]string{tk.ID + " closed"}) {
		t.Errorf("A's tickets after the close: %v", got)
	}
	e.clock.Add(time.Minute)
	if status, b := e.staffCall(t, cy, "POST", "/staff/v1/tickets/"+tk.ID+"/reopen", nil); status != http.StatusOK {
		t.Fatalf("reopen: %d %s", status, b)
	}
	status, b = e.staffCall(t, cy, "GET", "/staff/v1/tickets/"+tk.ID, nil)
	if g := decodeAs[cloudapi.StaffTicket](t, b); status != 200 || g.State != "open" || g.ClosedBy != "" || len(g.Notes) != 2 || g.Notes[1].StaffName != "Cy" {
		t.Errorf("after the reopen: %d %+v", status, g)
	}
	if status, _ := e.staffCall(t, cy, "GET", "/staff/v1/tickets/t-nothing", nil); status != http.StatusNotFound {
		t.Errorf("an unknown ticket: %d", status)
	}

	// The household's history: opening, closing, reopening, with the
	// subject; the look-ups of its tickets; no note.
	var got []string
	for _, rec := range e.history(alice, st) {
		if strings.Contains(rec.Object, "garage") || strings.Contains(rec.Object, "restarted") {
			t.Errorf("a note is in the household's history: %+v", rec)
		}
		if strings.HasPrefix(rec.Action, "staff.ticket") {
			got = append(got, fmt.Sprintf("%s %s %s %s", rec.Actor.Kind, rec.Actor.ID, rec.Action, rec.Object))
		}
	}
	obj := "ticket " + tk.ID + ": uploads failing"
	want := []string{
		"staff " + ada.id + " staff.ticket-open " + obj,
		"staff " + cy.id + " staff.tickets support code " + code,
		"staff " + ada.id + " staff.ticket-close " + obj,
		"staff " + ada.id + " staff.tickets support code " + code,
		"staff " + cy.id + " staff.ticket-reopen " + obj,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the household's history:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, rec := range e.history(bob, stB) {
		if strings.Contains(rec.Object, tk.ID) {
			t.Errorf("B's history names A's ticket: %+v", rec)
		}
	}
	if got := list(ada, "POST", "/staff/v1/tickets/find", cloudapi.StaffLookUp{SupportCode: codeB}); fmt.Sprint(got) != fmt.Sprint([]string{tkB.ID + " open"}) {
		t.Errorf("B's tickets: %v", got)
	}
}

// TestStaffOpsAndAdmin: the operations view counts across households for
// operators and staff admins (support staff are refused); staff admins
// list, add (getting the one-time enrolment secret, which enrols) and
// disable staff over the API (ending their sessions at once), but not
// themselves, and nobody else can.
func TestStaffOpsAndAdmin(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hub, hubKey := e.addHub(alice, st)
	if _, _, err := hub.Upload(context.Background(), seal(t, hubKey, st, "front", 0, e.clock.Now().UTC(), 1000)); err != nil {
		t.Fatal(err)
	}
	bob := e.signUp("bob@example.com")
	e.household(bob, "Flat")
	sup := e.staffUser("Sam", "support")
	op := e.staffUser("Olu", "operator")
	adm := e.staffUser("Ann", "admin")

	if status, b := e.staffCall(t, sup, "GET", "/staff/v1/ops", nil); status != http.StatusForbidden || !strings.Contains(b, "needs the role operator or admin") {
		t.Errorf("ops as support: %d %s", status, b)
	}
	for _, u := range []staffUser{op, adm} {
		status, b := e.staffCall(t, u, "GET", "/staff/v1/ops", nil)
		o := decodeAs[cloudapi.StaffOps](t, b)
		if status != 200 || o.Households != 2 || o.Hubs != 1 || o.Uploads != 1 || o.UploadedBytes <= 1000 || o.Staff != 3 || o.Database != "sqlite" {
			t.Errorf("ops: %d %s", status, b)
		}
		if strings.Contains(b, st.HouseholdID) {
			t.Errorf("ops names a household: %s", b)
		}
	}

	for _, u := range []staffUser{sup, op} {
		if status, b := e.staffCall(t, u, "POST", "/staff/v1/staff", cloudapi.StaffAdd{Name: "Eve", Role: "admin"}); status != http.StatusForbidden {
			t.Errorf("add staff as a non-admin: %d %s", status, b)
		}
	}
	status, b := e.staffCall(t, adm, "POST", "/staff/v1/staff", cloudapi.StaffAdd{Name: "Dee", Role: "support"})
	added := decodeAs[cloudapi.StaffAdded](t, b)
	if status != http.StatusCreated || added.Staff.Name != "Dee" || added.Staff.Role != "support" || !strings.HasPrefix(added.EnrolSecret, "vigilenrol_") {
		t.Fatalf("add staff: %d %s", status, b)
	}
	if status, b := e.staffCall(t, adm, "POST", "/staff/v1/staff", cloudapi.StaffAdd{Name: "Dee", Role: "support"}); status != http.StatusConflict {
		t.Errorf("add a taken name: %d %s", status, b)
	}
	if status, b := e.staffCall(t, adm, "POST", "/staff/v1/staff", cloudapi.StaffAdd{Name: "Fay", Role: "root"}); status != http.StatusBadRequest {
		t.Errorf("add with an unknown role: %d %s", status, b)
	}
	// The secret enrols (the passkey ceremony begins), once.
	if status, b := staffDo(t, e.url, "POST", "/staff/v1/enrol/begin", "", "", []byte(`{"secret":"`+added.EnrolSecret+`"}`)); status != 200 {
		t.Errorf("enrol with the secret: %d %s", status, b)
	}
	status, b = e.staffCall(t, adm, "GET", "/staff/v1/staff", nil)
	var names []string
	for _, m := range decodeAs[cloudapi.StaffMembers](t, b).Staff {
		names = append(names, m.Name+" "+m.Role)
	}
	if status != 200 || strings.Join(sorted(names), ",") != "Ann admin,Dee support,Olu operator,Sam support" {
		t.Errorf("list staff: %d %v", status, names)
	}
	if status, b := e.staffCall(t, adm, "POST", "/staff/v1/staff/"+adm.id+"/disable", nil); status != http.StatusConflict {
		t.Errorf("disable yourself: %d %s", status, b)
	}
	if status, b := e.staffCall(t, op, "POST", "/staff/v1/staff/"+sup.id+"/disable", nil); status != http.StatusForbidden {
		t.Errorf("disable as an operator: %d %s", status, b)
	}
	status, b = e.staffCall(t, adm, "POST", "/staff/v1/staff/"+sup.id+"/disable", nil)
	if m := decodeAs[cloudapi.StaffMember](t, b); status != 200 || m.Disabled.IsZero() {
		t.Errorf("disable: %d %s", status, b)
	}
	if status, b := e.staffCall(t, sup, "GET", "/staff/v1/me", nil); status != http.StatusUnauthorized {
		t.Errorf("a disabled staff member's session: %d %s", status, b)
	}
	if status, b := e.staffCall(t, adm, "POST", "/staff/v1/staff/nobody/disable", nil); status != http.StatusNotFound {
		t.Errorf("disable an unknown ID: %d %s", status, b)
	}
}
