package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/cloud/staff"
	"vigil/internal/cloud/store"
)

// TestSupportTickets: support tickets in Chromium, on a phone. An operator
// in the support console looks a household up by its support code (read
// out in lower case with a space), opens a ticket about it with a first
// note, adds a note and closes it; their open tickets no longer list it,
// the household's list shows it closed, and the operations view shows the
// counts across households (no staff-management section: that is for
// staff admins). The household's history, verified in the customer's
// browser, reads the opening and the closing in words with the subject,
// and none of the notes. The staff session is made over the cloud's store,
// as a staff passkey sign-in does (TestSupportScenario goes through the
// passkey).
func TestSupportTickets(t *testing.T) {
	c := startCloud(t, nil)
	hh := newHousehold(t, c, householdOptions{NoHub: true})
	sess := hh.Owner.browserSession(t, c.url)
	ctx := context.Background()
	sv, err := staff.New(staff.Config{Store: c.st})
	if err != nil {
		t.Fatal(err)
	}
	code, err := sv.SupportCode(ctx, hh.ID)
	if err != nil {
		t.Fatal(err)
	}
	op, _, err := sv.Add(ctx, "Olu Operator", store.StaffOperator)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := sv.NewSession(ctx, op.ID)
	if err != nil {
		t.Fatal(err)
	}
	mux := hh.controlMux()
	mux.HandleFunc("POST /sync", func(w http.ResponseWriter, r *http.Request) {
		if err := c.srv.SyncLog(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})

	var res struct {
		Ops                map[string]string
		AdminCard          int
		Ticket             string
		Notes              []string
		ClosedState        string
		NoteFormAfterClose int
		OwnAfter           int
		HouseholdList      []struct{ ID, State string }
		Rows               []struct{ Action, ActorKind, Actor, Text string }
		Problems           map[string][]string
	}
	browsertest.Run(t, 3*time.Minute, "tickets.mjs", map[string]string{
		"BASE_URL": c.url, "CONTROL_URL": serveControl(t, mux), "HOUSEHOLD": hh.ID, "SESSION": sess.Cookie, "CSRF": sess.CSRF,
		"CODE": code, "STAFF_SESSION": ss.Secret, "STAFF_CSRF": ss.CSRF,
	}, &res)

	if res.Ops["households"] != "1" || res.Ops["hubs"] != "0" || res.AdminCard != 0 {
		t.Errorf("the operator's console: ops %v, staff-management forms %d", res.Ops, res.AdminCard)
	}
	if strings.Join(res.Notes, "|") != "customer restarted the router|hub firmware updated; uploads resumed" {
		t.Errorf("the ticket's notes: %q", res.Notes)
	}
	if !strings.Contains(res.ClosedState, "Closed") || !strings.Contains(res.ClosedState, "Olu Operator") || res.NoteFormAfterClose != 0 {
		t.Errorf("after the close: %q, note forms %d", res.ClosedState, res.NoteFormAfterClose)
	}
	if res.OwnAfter != 0 || len(res.HouseholdList) != 1 || res.HouseholdList[0].ID != res.Ticket || res.HouseholdList[0].State != "closed" {
		t.Errorf("the lists after the close: own %d, the household's %+v", res.OwnAfter, res.HouseholdList)
	}
	tks, err := c.st.StaffTickets(ctx, store.TicketQuery{HouseholdID: hh.ID})
	if err != nil || len(tks) != 1 || tks[0].ID != res.Ticket || tks[0].State != store.TicketClosed || tks[0].ClosedBy != op.ID {
		t.Errorf("the stored tickets: %+v %v", tks, err)
	}

	texts := map[string]bool{}
	for _, r := range res.Rows {
		t.Logf("history: %+v", r)
		if r.ActorKind != "staff" || r.Actor != op.ID {
			t.Errorf("a staff row not by the operator: %+v", r)
		}
		if strings.Contains(r.Text, "router") || strings.Contains(r.Text, "firmware") {
			t.Errorf("a note is in the household's history: %+v", r)
		}
		texts[r.Action] = texts[r.Action] || strings.HasSuffix(r.Text, "support ticket about this household: “uploads failing since noon”")
	}
	for _, a := range []string{"staff.ticket-open", "staff.ticket-close"} {
		if !texts[a] {
			t.Errorf("the history has no %s row naming the subject", a)
		}
	}
	for page, ps := range res.Problems {
		for _, p := range ps {
			t.Errorf("%s at 390x844: %s", page, p)
		}
	}
}
