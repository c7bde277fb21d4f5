package cloud_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/cloud"
	"vigil/internal/cloud/staff"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
	"vigil/internal/history"
	"vigil/internal/keydir"
	"vigil/internal/pgtest"
	"vigil/internal/vigiltest"
)

// staffUser is a signed-in staff member.
type staffUser struct {
	id, secret, csrf string
}

func (e *env) staffUser(name, role string) staffUser {
	e.t.Helper()
	id, secret, csrf, err := cloud.StaffSession(e.srv, name, role)
	if err != nil {
		e.t.Fatal(err)
	}
	return staffUser{id, secret, csrf}
}

func (e *env) staffCall(t *testing.T, u staffUser, method, path string, v any) (int, string) {
	t.Helper()
	var b []byte
	if v != nil {
		b, _ = json.Marshal(v)
	}
	return staffDo(t, e.url, method, path, u.secret, u.csrf, b)
}

// fileRequest files a request as staff member u and returns it.
func (e *env) fileRequest(t *testing.T, u staffUser, code string, scopes []string, reason string, secs int64) cloudapi.StaffRequest {
	t.Helper()
	status, b := e.staffCall(t, u, "POST", "/staff/v1/requests", cloudapi.StaffRequestFile{SupportCode: code, Scopes: scopes, Reason: reason, DurationSeconds: secs})
	if status != http.StatusCreated {
		t.Fatalf("file request: %d %s", status, b)
	}
	var r cloudapi.StaffRequest
	if err := json.Unmarshal([]byte(b), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// decide posts an admin's signed decision on a request of household hh.
func decide(t *testing.T, m *member, hh, id, what string, s history.Signed) (int, string) {
	t.Helper()
	status, b, err := m.c.Raw(context.Background(), "POST", "/v1/households/"+hh+"/staff-requests/"+id+"/"+what, body(s))
	if err != nil {
		t.Fatal(err)
	}
	return status, string(b)
}

// TestLockbox: a support scenario over the API. The customer reads out the
// support code; staff request "uploads failing"; the household's admin
// sees the request and approves it with an admin device's signature
// (absent, forged and mismatched ones refused); staff read the granted
// scopes only, never another household's; the grant expires on the
// injected clock and the same read is refused; the household's history
// shows the request, the approval, each read and the expiry. Denials and
// revocations take effect at once.
func TestLockbox(t *testing.T) {
	e := newEnv(t)
	lockboxScenario(t, e)
}

// TestLockboxPostgres: the same over PostgreSQL. (One server: the replicas'
// test harness runs a history publisher per replica on one log, which is
// not how replicas publish — one leader sequences — and races when the
// test reads the history back; the staff domain's tests run two services
// over one PostgreSQL store.)
func TestLockboxPostgres(t *testing.T) {
	st, err := store.OpenPostgres(t.Context(), pgtest.NewSchema(t, pgtest.NewDB(t)), store.PostgresOptions{Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Now()}
	dir := t.TempDir()
	srv, err := cloud.New(cloud.Options{Store: st, Blobs: blobDir(t), Logger: vigiltest.Logger(t), Now: clk.Now,
		Mailer: cloud.OutboxMailer{Dir: filepath.Join(dir, "outbox")}, Argon2: testArgon, PublicURL: "http://vigil.test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	e := &env{t: t, srv: srv, url: hs.URL, dir: dir, st: st, clock: clk, outbox: filepath.Join(dir, "outbox")}
	lockboxScenario(t, e)
}

// lockboxScenario runs the scenario on e.
func lockboxScenario(t *testing.T, e *env) {
	s := e // the staff side's calls
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hh := st.HouseholdID
	hub, hubKey := e.addHub(alice, st)
	if _, _, err := hub.Upload(ctx, seal(t, hubKey, st, "front", 0, e.clock.Now().UTC(), 5000)); err != nil {
		t.Fatal(err)
	}
	bob := e.signUp("bob@example.com")
	stB := e.household(bob, "Other home")
	code := supportCode(t, e, alice, hh)
	codeB := supportCode(t, e, bob, stB.HouseholdID)
	ada := s.staffUser("Ada", "support")
	cy := s.staffUser("Cy", "operator")

	r := s.fileRequest(t, ada, code, []string{"uploads", "hubs"}, "uploads failing", 0)
	if r.HouseholdID != hh || r.State != "pending" || r.DurationSeconds != int64(staff.DefaultGrant/time.Second) {
		t.Fatalf("request: %+v", r)
	}
	health := func(u staffUser, id, scope string) (int, string) {
		return s.staffCall(t, u, "GET", "/staff/v1/requests/"+id+"/health/"+scope, nil)
	}
	if status, b := health(ada, r.ID, "hubs"); status != http.StatusForbidden {
		t.Fatalf("read before approval: %d %s", status, b)
	}
	// Refused requests: a mistyped code, unknown scopes, no reason, too long.
	for _, bad := range []cloudapi.StaffRequestFile{
		{SupportCode: code[:9] + string("0123456789ABCDEFGHJKMNPQRSTVWXYZ"[(strings.IndexByte("0123456789ABCDEFGHJKMNPQRSTVWXYZ", code[9])+1)%32]), Scopes: []string{"hubs"}, Reason: "x"},
		{SupportCode: code, Scopes: []string{"objects"}, Reason: "x"},
		{SupportCode: code, Scopes: []string{"hubs"}},
		{SupportCode: code, Scopes: []string{"hubs"}, Reason: "x", DurationSeconds: 8*3600 + 1},
	} {
		if status, b := s.staffCall(t, ada, "POST", "/staff/v1/requests", bad); status != http.StatusBadRequest {
			t.Errorf("request %+v: %d %s, want 400", bad, status, b)
		}
	}

	// The admin sees the request, with who asked.
	status, b, err := alice.c.Raw(ctx, "GET", "/v1/households/"+hh+"/staff-requests", nil)
	if err != nil || status != 200 || !strings.Contains(string(b), `"staff_name":"Ada"`) || !strings.Contains(string(b), r.ID) {
		t.Fatalf("list: %d %s %v", status, b, err)
	}

	approve := history.StaffApproveParams{Request: r.ID, Scopes: []string{"hubs", "uploads"}, Seconds: r.DurationSeconds}
	// No signature, a device not in the chain, an altered body, other
	// scopes, another request, the wrong action: refused, nothing granted.
	stranger, _ := keydir.NewDeviceKeys()
	altered := e.action(alice.keys, hh, approve)
	altered.Body = []byte(strings.Replace(string(altered.Body), `"hubs",`, `"cameras","hubs",`, 1))
	wider := approve
	wider.Scopes = []string{"hubs", "storage", "uploads"}
	other := approve
	other.Request = newInviteID()
	for name, tc := range map[string]struct {
		body   []byte
		status int
	}{
		"absent":         {[]byte("{}"), 400},
		"empty":          {nil, 400},
		"stranger":       {body(e.action(stranger, hh, approve)), 403},
		"altered":        {body(altered), 401},
		"other scopes":   {body(e.action(alice.keys, hh, wider)), 400},
		"other request":  {body(e.action(alice.keys, hh, other)), 400},
		"another action": {body(e.action(alice.keys, hh, history.StaffDenyParams{Request: r.ID})), 400},
	} {
		status, b, err := alice.c.Raw(ctx, "POST", "/v1/households/"+hh+"/staff-requests/"+r.ID+"/approve", tc.body)
		if err != nil || status != tc.status {
			t.Errorf("approve with %s signature: %d %s, want %d", name, status, b, tc.status)
		}
	}
	if status, b := health(ada, r.ID, "hubs"); status != http.StatusForbidden {
		t.Fatalf("read after refused approvals: %d %s", status, b)
	}
	// Another household's admin cannot approve it, even signing for their own.
	if status, b := decide(t, bob, stB.HouseholdID, r.ID, "approve", e.action(bob.keys, stB.HouseholdID, approve)); status != 404 {
		t.Fatalf("approve by another household: %d %s", status, b)
	}
	if status, b := decide(t, alice, hh, r.ID, "approve", e.action(alice.keys, hh, approve)); status != 200 || !strings.Contains(b, `"state":"approved"`) {
		t.Fatalf("approve: %d %s", status, b)
	}

	// Reads under the grant: the granted scopes, by the staff member who asked.
	status, hb := health(ada, r.ID, "hubs")
	var hv cloudapi.StaffHealth
	json.Unmarshal([]byte(hb), &hv)
	if status != 200 || len(hv.Hubs) != 1 || hv.HouseholdID != hh {
		t.Fatalf("read hubs: %d %s", status, hb)
	}
	status, ub := health(ada, r.ID, "uploads")
	json.Unmarshal([]byte(ub), &hv)
	if status != 200 || hv.UploadedBytes == nil || *hv.UploadedBytes == 0 {
		t.Fatalf("read uploads: %d %s", status, ub)
	}
	for _, tc := range []struct {
		u      staffUser
		id     string
		scope  string
		status int
	}{
		{ada, r.ID, "storage", 403},    // not granted
		{ada, r.ID, "objects", 400},    // no such scope
		{cy, r.ID, "hubs", 404},        // another staff member
		{ada, "x" + r.ID, "hubs", 404}, // no such request
	} {
		if status, b := health(tc.u, tc.id, tc.scope); status != tc.status {
			t.Errorf("read %s of %s: %d %s, want %d", tc.scope, tc.id, status, b, tc.status)
		}
	}
	// A request for household B is B's to decide: A's grant reads nothing of B.
	rB := s.fileRequest(t, ada, codeB, []string{"hubs"}, "hub offline", 3600)
	if status, b := health(ada, rB.ID, "hubs"); status != 403 {
		t.Fatalf("read B without B's approval: %d %s", status, b)
	}
	if status, b := decide(t, alice, hh, rB.ID, "approve", e.action(alice.keys, hh, history.StaffApproveParams{Request: rB.ID, Scopes: []string{"hubs"}, Seconds: 3600})); status != 404 {
		t.Fatalf("A's admin approves B's request: %d %s", status, b)
	}

	// The clock passes the expiry: the same read is refused.
	e.clock.Add(staff.DefaultGrant)
	if status, b := health(ada, r.ID, "hubs"); status != http.StatusForbidden || !strings.Contains(b, "expired") {
		t.Fatalf("read after expiry: %d %s", status, b)
	}

	// Deny, and revoke at once.
	r2 := s.fileRequest(t, cy, code, []string{"storage"}, "quota question", 3600)
	if status, b := decide(t, alice, hh, r2.ID, "deny", e.action(alice.keys, hh, history.StaffDenyParams{Request: r2.ID})); status != 200 {
		t.Fatalf("deny: %d %s", status, b)
	}
	if status, b := health(cy, r2.ID, "storage"); status != 403 {
		t.Fatalf("read denied: %d %s", status, b)
	}
	r3 := s.fileRequest(t, cy, code, []string{"cameras"}, "camera missing", 3600)
	if status, b := decide(t, alice, hh, r3.ID, "approve", e.action(alice.keys, hh, history.StaffApproveParams{Request: r3.ID, Scopes: []string{"cameras"}, Seconds: 3600})); status != 200 {
		t.Fatalf("approve r3: %d %s", status, b)
	}
	if status, b := health(cy, r3.ID, "cameras"); status != 200 || !strings.Contains(b, `"cameras":1`) {
		t.Fatalf("read cameras: %d %s", status, b)
	}
	if status, b := decide(t, alice, hh, r3.ID, "revoke", e.action(alice.keys, hh, history.StaffRevokeParams{Request: r3.ID})); status != 200 {
		t.Fatalf("revoke: %d %s", status, b)
	}
	if status, b := health(cy, r3.ID, "cameras"); status != 403 {
		t.Fatalf("read revoked: %d %s", status, b)
	}

	// A grant that runs out unread: the sweep records its expiry, once.
	r4 := s.fileRequest(t, cy, code, []string{"versions"}, "app version", 60)
	if status, b := decide(t, alice, hh, r4.ID, "approve", e.action(alice.keys, hh, history.StaffApproveParams{Request: r4.ID, Scopes: []string{"versions"}, Seconds: 60})); status != 200 {
		t.Fatalf("approve r4: %d %s", status, b)
	}
	if err := e.srv.SweepStaffGrants(ctx); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	for range 2 {
		if err := e.srv.SweepStaffGrants(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if status, b := health(cy, r4.ID, "versions"); status != 403 {
		t.Fatalf("read after the sweep: %d %s", status, b)
	}

	// The household's history, as alice's device verifies it.
	var got []string
	for _, rec := range e.history(alice, st) {
		if strings.HasPrefix(rec.Action, "staff.") {
			got = append(got, fmt.Sprintf("%s %s %s", rec.Actor.Kind, rec.Action, rec.Object))
		}
	}
	want := []string{
		"staff staff.request request " + r.ID + " by staff " + ada.id + " (hubs,uploads for 8h0m0s): uploads failing",
		"account staff.approve request " + r.ID,
		"staff staff.read hubs under request " + r.ID,
		"staff staff.read uploads under request " + r.ID,
		"cloud staff.expire request " + r.ID,
		"staff staff.request request " + r2.ID,
		"account staff.deny request " + r2.ID,
		"staff staff.request request " + r3.ID,
		"account staff.approve request " + r3.ID,
		"staff staff.read cameras under request " + r3.ID,
		"account staff.revoke request " + r3.ID,
		"staff staff.request request " + r4.ID,
		"account staff.approve request " + r4.ID,
		"cloud staff.expire request " + r4.ID,
	}
	if len(got) != len(want) {
		t.Fatalf("history: got %d staff records, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("history record %d: %q, want it to begin %q", i, got[i], want[i])
		}
	}
	// B's history has B's request, and nothing of A's.
	for _, rec := range e.history(bob, stB) {
		if strings.Contains(rec.Object, r.ID) {
			t.Errorf("B's history names A's request: %+v", rec)
		}
	}
}
