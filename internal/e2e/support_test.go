package e2e

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/cloud"
	"vigil/internal/cloud/staff"
	"vigil/internal/cloud/store"
)

// TestSupportScenario: the support scenario end to end in Chromium, on
// phones. The customer's settings page shows the household's support code;
// a staff member looks it up in the support console (read out in lower
// case with a space), asks for "uploads failing" on the hubs and uploads
// scopes for an hour; the household admin approves it on their phone, an
// admin device of the household (a staff.approve signed by its key, which
// the cloud checks); the console then shows the household's hub and its
// upload volume; the cloud's clock moves past the grant and the same view
// is refused (403, "expired"); the household's history, verified in the
// customer's browser, reads the look-up, the request, the approval (signed
// by the phone), each read and the expiry, with the staff member's name
// and reason. The staff member is added over the cloud's store, as 'vigil
// cloud staff add' does, and registers a passkey with the enrolment secret
// in the console (Chromium's virtual authenticator, on a localhost origin:
// the relying party), signs out and signs in with the passkey alone.
func TestSupportScenario(t *testing.T) {
	var offset atomic.Int64 // how far the cloud's clock is ahead, ns
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	c := startCloud(t, func(o *cloud.Options) {
		o.Now = now
		o.PublicURL = strings.Replace(o.PublicURL, "127.0.0.1", "localhost", 1)
	})
	base := strings.Replace(c.url, "127.0.0.1", "localhost", 1)
	hh := newHousehold(t, c, householdOptions{})
	hh.waitSegments(t, hh.Camera, 2, time.Minute)
	sess := hh.Owner.browserSession(t, c.url)

	ctx := context.Background()
	sv, err := staff.New(staff.Config{Store: c.st, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	sam, enrol, err := sv.Add(ctx, "Sam Support", store.StaffSupport)
	if err != nil {
		t.Fatal(err)
	}

	mux := hh.controlMux()
	mux.HandleFunc("POST /advance", func(w http.ResponseWriter, r *http.Request) {
		s, _ := strconv.Atoi(r.URL.Query().Get("seconds"))
		offset.Add(int64(time.Duration(s) * time.Second))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /sync", func(w http.ResponseWriter, r *http.Request) {
		if err := c.srv.SyncLog(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})

	type row struct {
		Action    string `json:"action"`
		ActorKind string `json:"actorKind"`
		Actor     string `json:"actor"`
		Signed    string `json:"signed"`
		Count     int    `json:"count"`
		Text      string `json:"text"`
		Sub       string `json:"sub"`
	}
	var res struct {
		Device, Code, CodeText, StaffMe, Request, PendingHealth string
		StaffCredentials, SignedOutMe                           int
		Pending                                                 struct{ Name, Reason, Scopes string }
		Approved                                                struct {
			Expires, Text string
			Revoke        bool
		}
		Granted struct {
			State         string
			Hubs          []struct{ ID, Text string }
			UploadedBytes int64
			Uploads       string
			Notes, Errors []string
		}
		AfterDirect struct {
			Status int
			Body   string
		}
		After struct {
			State, Health string
			Hubs          int
		}
		History  historyStatus
		Rows     []row
		Ended    string
		Problems map[string][]string
	}
	browsertest.Run(t, 5*time.Minute, "support.mjs", map[string]string{
		"BASE_URL": base, "CONTROL_URL": serveControl(t, mux), "HOUSEHOLD": hh.ID, "SESSION": sess.Cookie, "CSRF": sess.CSRF,
		"STAFF_ENROL": enrol.Secret,
	}, &res)

	// The customer's support code is the household's.
	code, err := sv.SupportCode(ctx, hh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != code || !strings.Contains(res.CodeText, "gives them nothing by itself") {
		t.Errorf("the settings page shows the support code %q (%q), want %q and what it gives", res.Code, res.CodeText, code)
	}
	if res.StaffCredentials != 1 || res.SignedOutMe != http.StatusUnauthorized {
		t.Errorf("staff passkey: %d in the authenticator; /staff/v1/me after sign-out: %d", res.StaffCredentials, res.SignedOutMe)
	}
	if !strings.Contains(res.StaffMe, "Sam Support") || strings.Contains(res.PendingHealth, "garage hub") {
		t.Errorf("console: signed in as %q; before approval it shows %q", res.StaffMe, res.PendingHealth)
	}
	if !strings.Contains(res.Pending.Name, "Sam Support") || !strings.Contains(res.Pending.Reason, "uploads failing") ||
		!strings.Contains(res.Pending.Scopes, "your hubs") || !strings.Contains(res.Pending.Scopes, "1 h") {
		t.Errorf("the admin's view of the request: %+v", res.Pending)
	}
	exp, err := time.Parse(time.RFC3339Nano, res.Approved.Expires)
	if err != nil || exp.Sub(time.Now()) > time.Hour || exp.Sub(time.Now()) < 55*time.Minute || !res.Approved.Revoke {
		t.Errorf("the approved grant: %+v (%v)", res.Approved, err)
	}

	// Under the grant: the hub of the household's chain and its uploads.
	if len(res.Granted.Hubs) != 1 || !strings.Contains(res.Granted.Hubs[0].Text, "garage hub") || res.Granted.UploadedBytes <= 0 || len(res.Granted.Errors) != 0 {
		t.Errorf("the console under the grant: %+v", res.Granted)
	}
	t.Logf("granted view: %+v", res.Granted)

	// Past the grant: refused, and the console says so.
	if res.AfterDirect.Status != http.StatusForbidden || !strings.Contains(res.AfterDirect.Body, "expired") {
		t.Errorf("the uploads view past the grant: %d %s, want 403 naming the expiry", res.AfterDirect.Status, res.AfterDirect.Body)
	}
	if res.After.Hubs != 0 || !strings.Contains(res.After.State, "ended") {
		t.Errorf("the console past the grant: %+v", res.After)
	}
	if !strings.Contains(res.Ended, "Ended") {
		t.Errorf("the settings page lists the ended grant as %q", res.Ended)
	}

	// The history, in words, with who and why.
	got := map[string][]row{}
	for _, r := range res.Rows {
		t.Logf("history: %+v", r)
		got[r.Action] = append(got[r.Action], r)
		if r.Action != "staff.expire" && r.Action != "staff.approve" && (r.ActorKind != "staff" || r.Actor != sam.ID || !strings.HasPrefix(r.Text, "Sam Support of Vigil staff ")) {
			t.Errorf("a staff row does not name Sam: %+v", r)
		}
	}
	want := map[string]string{
		"staff.lookup":  "Sam Support of Vigil staff looked this household up by its support code",
		"staff.request": "Sam Support of Vigil staff asked to see your hubs and your uploads for 1 h: “uploads failing”",
		"staff.approve": "owner phone let Sam Support of Vigil staff see your hubs and your uploads for 1 h: “uploads failing”",
		"staff.expire":  "Sam Support of Vigil staff’s access to your hubs and your uploads ended: “uploads failing”",
	}
	for action, text := range want {
		if len(got[action]) != 1 || got[action][0].Text != text {
			t.Errorf("history %s: %+v, want one row %q", action, got[action], text)
		}
	}
	if a := got["staff.approve"]; len(a) == 1 && a[0].Signed != res.Device {
		t.Errorf("the approval is signed by %q, want the phone %q", a[0].Signed, res.Device)
	}
	reads := map[string]bool{}
	for _, r := range got["staff.read"] {
		reads[r.Text] = true
	}
	for _, scope := range []string{"your hubs", "your uploads"} {
		if !reads["Sam Support of Vigil staff looked at "+scope+", under the access given for “uploads failing”"] {
			t.Errorf("no history row of the read of %s: %v", scope, reads)
		}
	}
	for page, ps := range res.Problems {
		for _, p := range ps {
			t.Errorf("%s at 390x844: %s", page, p)
		}
	}
}
