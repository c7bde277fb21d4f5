package e2e

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
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
// the cloud checks); the console then shows the household's hub with its
// last contact, its upload volume, and — the hub's uploads failing at a
// proxy before the cloud since the first segments — the hub's backlog and
// last error from its health report; the cloud's clock moves past the
// grant and the same view is refused (403, "expired"); the household's history, verified in the
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
	// The hub reaches the cloud through a reverse proxy, as at a site with
	// one; its upstream for uploads (PUT /v1/objects) goes away once the
	// first segments are up, and the proxy answers those 502 Bad Gateway
	// (httputil.ReverseProxy's own answer to an upstream that refuses
	// connections). Everything else still passes, health reports too.
	var uploadsDown atomic.Bool
	deadUpstream := deadAddress(t)
	down := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: deadUpstream})
	down.ErrorLog = log.New(io.Discard, "", 0)
	proxy := newProxy(t, c.url, func(w http.ResponseWriter, r *http.Request) bool {
		if uploadsDown.Load() && r.Method == http.MethodPut && r.URL.Path == "/v1/objects" {
			down.ServeHTTP(w, r)
			return true
		}
		return false
	}, nil)
	hh := newHousehold(t, c, householdOptions{HubCloud: proxy})
	hh.waitSegments(t, hh.Camera, 2, time.Minute)
	uploadsDown.Store(true)
	// The hub reports its growing backlog and the proxy's 502 promptly.
	ctx := context.Background()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		rs, err := c.st.HubReports(ctx, hh.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) == 1 && rs[0].Pending >= 2 && rs[0].ErrorStatus == http.StatusBadGateway {
			t.Logf("the hub reports: %+v", rs[0])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no health report of a backlog and a 502 from the hub: %+v", rs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	sess := hh.Owner.browserSession(t, c.url)

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
			Expires, Text        string
			Revoke, BannerHidden bool
		}
		Granted struct {
			State         string
			Hubs          []struct{ ID, Text, Contact string }
			UploadedBytes int64
			Uploads       string
			Backlog       int
			LastError     struct{ Kind, Status, Text string }
			Notes, Errors []string
		}
		AfterDirect struct {
			Status int
			Body   string
		}
		After struct {
			State, Health  string
			Hubs, Backlogs int
			LastErrors     int
		}
		Denied        struct{ State, Health string }
		RevokedBefore string
		RevokedDirect struct {
			Status int
			Body   string
		}
		RevokedAfter struct {
			State   string
			Cameras int
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
	if err != nil || exp.Sub(time.Now()) > time.Hour || exp.Sub(time.Now()) < 55*time.Minute || !res.Approved.Revoke || !res.Approved.BannerHidden {
		t.Errorf("the approved grant: %+v (%v)", res.Approved, err)
	}

	// Under the grant: the hub of the household's chain and its uploads,
	// with the hub's last contact, its backlog and its last error.
	if len(res.Granted.Hubs) != 1 || !strings.Contains(res.Granted.Hubs[0].Text, "garage hub") || res.Granted.UploadedBytes <= 0 || len(res.Granted.Errors) != 0 {
		t.Errorf("the console under the grant: %+v", res.Granted)
	}
	if len(res.Granted.Hubs) == 1 && (res.Granted.Hubs[0].Contact == "" || !strings.Contains(res.Granted.Hubs[0].Text, "Last contact") ||
		!strings.Contains(res.Granted.Hubs[0].Text, "1 of 1 cameras recording")) {
		t.Errorf("the hub's last contact is not shown: %+v", res.Granted.Hubs[0])
	}
	if res.Granted.Backlog < 2 || !strings.Contains(res.Granted.Uploads, "Backlog: ") || res.Granted.LastError.Kind != "server" ||
		res.Granted.LastError.Status != "502" || !strings.Contains(res.Granted.LastError.Text, "502 Bad Gateway") {
		t.Errorf("the console does not show the hub's backlog and last error: %+v", res.Granted)
	}
	for _, bad := range []string{"http", "127.0.0.1", "/v1/objects", hh.Camera} {
		if strings.Contains(res.Granted.Uploads, bad) {
			t.Errorf("the uploads view names %q: %q", bad, res.Granted.Uploads)
		}
	}
	t.Logf("granted view: %+v", res.Granted)

	// Past the grant: refused, and the console says so.
	if res.AfterDirect.Status != http.StatusForbidden || !strings.Contains(res.AfterDirect.Body, "expired") {
		t.Errorf("the uploads view past the grant: %d %s, want 403 naming the expiry", res.AfterDirect.Status, res.AfterDirect.Body)
	}
	if res.After.Hubs != 0 || res.After.Backlogs != 0 || res.After.LastErrors != 0 || !strings.Contains(res.After.State, "ended") {
		t.Errorf("the console past the grant: %+v", res.After)
	}
	if !strings.Contains(res.Ended, "Ended") {
		t.Errorf("the settings page lists the ended grant as %q", res.Ended)
	}

	// Denied, and approved then revoked: the console says so, and the
	// revoked grant's view is refused at once.
	if !strings.Contains(res.Denied.State, "Denied") || strings.Contains(res.Denied.Health, "Storage used") {
		t.Errorf("the console after a denial: %+v", res.Denied)
	}
	if res.RevokedBefore != "Cameras: 1." || res.RevokedDirect.Status != http.StatusForbidden || !strings.Contains(res.RevokedDirect.Body, "revoked") ||
		!strings.Contains(res.RevokedAfter.State, "Revoked") || res.RevokedAfter.Cameras != 0 {
		t.Errorf("approved then revoked: before %q; the view after %+v; the console %+v", res.RevokedBefore, res.RevokedDirect, res.RevokedAfter)
	}

	// The history, in words, with who and why.
	texts := map[string]int{}
	for _, r := range res.Rows {
		t.Logf("history: %+v", r)
		texts[r.Text] += r.Count
		switch r.Action {
		case "staff.expire":
			if r.ActorKind != "cloud" {
				t.Errorf("the expiry is not the service's: %+v", r)
			}
		case "staff.approve", "staff.deny", "staff.revoke":
			if r.Signed != res.Device || !strings.HasPrefix(r.Text, "owner phone ") {
				t.Errorf("a decision not signed by the phone %q: %+v", res.Device, r)
			}
		default:
			if r.ActorKind != "staff" || r.Actor != sam.ID || !strings.HasPrefix(r.Text, "Sam Support of Vigil staff ") {
				t.Errorf("a staff row does not name Sam: %+v", r)
			}
		}
	}
	// Counts, with coalesced records: three look-ups (one per request), and
	// the first grant's two scopes read twice (the console's view opened
	// after the approval and again before the expiry).
	const who = "Sam Support of Vigil staff"
	for want, n := range map[string]int{
		who + " looked this household up by its support code":                                    3,
		who + " asked to see your hubs and your uploads for 1 h: “uploads failing”":              1,
		"owner phone let " + who + " see your hubs and your uploads for 1 h: “uploads failing”":  1,
		who + " looked at your hubs, under the access given for “uploads failing”":               2,
		who + " looked at your uploads, under the access given for “uploads failing”":            2,
		who + "’s access to your hubs and your uploads ended: “uploads failing”":                 1,
		who + " asked to see your storage use for 15 min: “storage check”":                       1,
		"owner phone turned down " + who + "’s request to see your storage use: “storage check”": 1,
		who + " asked to see your camera count for 15 min: “camera count”":                       1,
		"owner phone let " + who + " see your camera count for 15 min: “camera count”":           1,
		who + " looked at your camera count, under the access given for “camera count”":          1,
		"owner phone took back " + who + "’s access to your camera count: “camera count”":        1,
	} {
		if texts[want] != n {
			t.Errorf("the history counts %d of %q, want %d", texts[want], want, n)
		}
	}
	for page, ps := range res.Problems {
		for _, p := range ps {
			t.Errorf("%s at 390x844: %s", page, p)
		}
	}
}

// deadAddress is a loopback address nothing listens on (it did a moment
// ago): connections to it are refused.
func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
