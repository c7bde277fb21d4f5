package cloud_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"vigil/internal/client"
	"vigil/internal/cloudapi"
	"vigil/internal/devauth"
	"vigil/internal/history"
	"vigil/internal/keydir"
)

// goodReport is a report a hub with a backlog sends, made at now.
func goodReport(now time.Time) cloudapi.HubHealth {
	return cloudapi.HubHealth{Version: "v1.4.0-test", Started: now.Add(-time.Hour), Sent: now, Cameras: 2, Recording: 1,
		Uploads: cloudapi.HubUploads{Pending: 12, OldestPending: now.Add(-3 * time.Minute), Failures: 30, Rejected: 1, Evicted: 2,
			CloudAway: true, LastError: &cloudapi.HubError{Kind: cloudapi.HubErrorServer, Status: 502, Message: "502 Bad Gateway",
				At: now.Add(-3 * time.Minute)}}}
}

// postHealth sends body as hub c's health report, raw.
func postHealth(t *testing.T, c *client.Client, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "POST", c.BaseURL+cloudapi.HubHealthPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := devauth.Sign(req, body, c.DeviceID, c.DeviceKey, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// staffHealthOf reads one health scope under request id.
func (e *env) staffHealthOf(t *testing.T, u staffUser, id, scope string) (int, cloudapi.StaffHealth, string) {
	t.Helper()
	status, b := e.staffCall(t, u, "GET", "/staff/v1/requests/"+id+"/health/"+scope, nil)
	var out cloudapi.StaffHealth
	if status == http.StatusOK {
		if err := json.Unmarshal([]byte(b), &out); err != nil {
			t.Fatal(err)
		}
	}
	return status, out, b
}

// grant files a request for scopes on household hh as u and has admin m
// approve it.
func (e *env) grant(t *testing.T, u staffUser, m *member, hh, code string, scopes []string) cloudapi.StaffRequest {
	t.Helper()
	req := e.fileRequest(t, u, code, scopes, "uploads failing", 3600)
	if status, b := decide(t, m, hh, req.ID, "approve", e.action(m.keys, hh, history.StaffApproveParams{
		Request: req.ID, Scopes: scopes, Seconds: req.DurationSeconds})); status != 200 {
		t.Fatalf("approve: %d %s", status, b)
	}
	return req
}

// TestHubHealth: a hub reports its health for itself; staff under a grant
// see its last contact (the cloud's clock), version, backlog and last
// error; a hub that never reported is shown as such; the versions scope
// names the cloud's and the web app's builds too.
func TestHubHealth(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hh := st.HouseholdID
	hub, _ := e.addHub(alice, st)
	quiet, _ := e.addHub(alice, st)
	now := time.Now().UTC()
	got, err := hub.ReportHealth(t.Context(), goodReport(now))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(e.clock.Now().UTC().Truncate(time.Microsecond)) {
		t.Errorf("received at %v, want the cloud's clock %v", got, e.clock.Now())
	}
	// The latest report replaces the one before.
	e.clock.Add(30 * time.Second)
	r2 := goodReport(now)
	r2.Uploads.Pending = 14
	if _, err := hub.ReportHealth(t.Context(), r2); err != nil {
		t.Fatal(err)
	}
	contact := e.clock.Now().UTC().Truncate(time.Microsecond)

	sam := e.staffUser("Sam", "support")
	req := e.grant(t, sam, alice, hh, supportCode(t, e, alice, hh), []string{"hubs", "uploads", "versions"})

	status, hubs, b := e.staffHealthOf(t, sam, req.ID, "hubs")
	if status != 200 || len(hubs.Hubs) != 2 {
		t.Fatalf("hubs: %d %s", status, b)
	}
	for _, h := range hubs.Hubs {
		switch h.ID {
		case hub.DeviceID:
			if !h.LastContact.Equal(contact) || h.Version != "v1.4.0-test" || h.Cameras != 2 || h.Recording != 1 || !h.Started.Equal(now.Add(-time.Hour).Truncate(time.Microsecond)) {
				t.Errorf("the reporting hub: %+v (last contact want %v)", h, contact)
			}
		case quiet.DeviceID:
			if !h.LastContact.IsZero() || h.Version != "" {
				t.Errorf("the hub that never reported: %+v", h)
			}
		default:
			t.Errorf("a hub not in the chain: %+v", h)
		}
	}
	if !strings.Contains(hubs.Note, "1 of 2 hubs never sent a health report") {
		t.Errorf("hubs note: %q", hubs.Note)
	}

	status, up, b := e.staffHealthOf(t, sam, req.ID, "uploads")
	if status != 200 || len(up.Uploads) != 2 || up.UploadedBytes == nil {
		t.Fatalf("uploads: %d %s", status, b)
	}
	for _, u := range up.Uploads {
		if u.ID != hub.DeviceID {
			if u.Reported || u.Pending != 0 || u.LastError != nil {
				t.Errorf("the quiet hub's uploads: %+v", u)
			}
			continue
		}
		if !u.Reported || u.Pending != 14 || !u.OldestPending.Equal(now.Add(-3*time.Minute).Truncate(time.Microsecond)) || u.Failures != 30 ||
			u.Rejected != 1 || u.Evicted != 2 || !u.CloudAway || u.LastError == nil || u.LastError.Kind != "server" ||
			u.LastError.Status != 502 || u.LastError.Message != "502 Bad Gateway" || !u.LastContact.Equal(contact) {
			t.Errorf("the reporting hub's uploads: %+v %+v", u, u.LastError)
		}
	}

	status, vs, b := e.staffHealthOf(t, sam, req.ID, "versions")
	if status != 200 || vs.Versions == nil || len(vs.Versions.Hubs) != 2 || vs.Versions.Cloud == "" {
		t.Fatalf("versions: %d %s", status, b)
	}
	for _, h := range vs.Versions.Hubs {
		if h.ID == hub.DeviceID && h.Version != "v1.4.0-test" {
			t.Errorf("versions: %+v", h)
		}
	}
}

// TestHubHealthRefused: hostile or broken reports are refused with a
// message naming what is wrong, and nothing of them is kept.
func TestHubHealthRefused(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hub, _ := e.addHub(alice, st)
	now := time.Now().UTC()
	mod := func(f func(h *cloudapi.HubHealth)) []byte {
		h := goodReport(now)
		f(&h)
		b, _ := json.Marshal(h)
		return b
	}
	for _, tc := range []struct {
		name   string
		body   []byte
		status int
		want   string
	}{
		{"empty", nil, 400, "empty body"},
		{"not JSON", []byte("{"), 400, "malformed JSON"},
		{"unknown field", []byte(`{"version":"v1","camera_names":["front"]}`), 400, "unknown field"},
		{"trailing", append(mod(func(*cloudapi.HubHealth) {}), []byte(`{}`)...), 400, "trailing data"},
		{"too large", append([]byte(`{"version":"`+strings.Repeat("v", 5000)), `"}`...), 413, "at most"},
		{"no version", mod(func(h *cloudapi.HubHealth) { h.Version = "" }), 400, "version"},
		{"long version", mod(func(h *cloudapi.HubHealth) { h.Version = strings.Repeat("v", 65) }), 400, "version"},
		{"version with a space", mod(func(h *cloudapi.HubHealth) { h.Version = "v1 beta" }), 400, "printable"},
		{"version a URL", mod(func(h *cloudapi.HubHealth) { h.Version = "https://evil.example" }), 400, "URL"},
		{"sent far off", mod(func(h *cloudapi.HubHealth) { h.Sent = now.Add(-time.Hour) }), 400, "sent"},
		{"started later", mod(func(h *cloudapi.HubHealth) { h.Started = now.Add(time.Hour) }), 400, "started"},
		{"started long ago", mod(func(h *cloudapi.HubHealth) { h.Started = time.Unix(0, 0) }), 400, "started"},
		{"negative cameras", mod(func(h *cloudapi.HubHealth) { h.Cameras = -1 }), 400, "cameras"},
		{"many cameras", mod(func(h *cloudapi.HubHealth) { h.Cameras = 100000 }), 400, "cameras"},
		{"recording more than configured", mod(func(h *cloudapi.HubHealth) { h.Recording = 3 }), 400, "recording"},
		{"negative pending", mod(func(h *cloudapi.HubHealth) { h.Uploads.Pending = -1 }), 400, "pending"},
		{"huge failures", mod(func(h *cloudapi.HubHealth) { h.Uploads.Failures = 1 << 62 }), 400, "failures"},
		{"oldest without pending", mod(func(h *cloudapi.HubHealth) { h.Uploads.Pending = 0 }), 400, "oldest_pending"},
		{"oldest in the future", mod(func(h *cloudapi.HubHealth) { h.Uploads.OldestPending = now.Add(time.Hour) }), 400, "oldest_pending"},
		{"unknown error kind", mod(func(h *cloudapi.HubHealth) { h.Uploads.LastError.Kind = "disk" }), 400, "kind"},
		{"error without kind", mod(func(h *cloudapi.HubHealth) { h.Uploads.LastError.Kind = "" }), 400, "kind"},
		{"status on a network error", mod(func(h *cloudapi.HubHealth) { h.Uploads.LastError.Kind = "network" }), 400, "status"},
		{"bad status", mod(func(h *cloudapi.HubHealth) { h.Uploads.LastError.Status = 999 }), 400, "status"},
		{"empty message", mod(func(h *cloudapi.HubHealth) { h.Uploads.LastError.Message = "" }), 400, "message"},
		{"long message", mod(func(h *cloudapi.HubHealth) { h.Uploads.LastError.Message = strings.Repeat("x", 201) }), 400, "message"},
		{"message with a URL", mod(func(h *cloudapi.HubHealth) {
			h.Uploads.LastError.Message = `Put "https://cloud.example/v1/objects": EOF`
		}), 400, "URL"},
		{"message with a path", mod(func(h *cloudapi.HubHealth) {
			h.Uploads.LastError.Message = "open segments\\front\\000001.seg: no such file"
		}), 400, "path"},
		{"message with an address", mod(func(h *cloudapi.HubHealth) { h.Uploads.LastError.Message = "dial tcp 10.0.0.7 refused" }), 400, "address"},
		{"message with host and port", mod(func(h *cloudapi.HubHealth) { h.Uploads.LastError.Message = "dial [fe80::1]:443 refused" }), 400, "address"},
		{"message with an e-mail", mod(func(h *cloudapi.HubHealth) { h.Uploads.LastError.Message = "owner@example.com" }), 400, "address"},
		{"message with a control character", mod(func(h *cloudapi.HubHealth) { h.Uploads.LastError.Message = "bad\x1b[31m" }), 400, "control"},
		{"message with a bidi override", mod(func(h *cloudapi.HubHealth) { h.Uploads.LastError.Message = "bad \u202e gnirts" }), 400, "control"},
		{"message not UTF-8", []byte(strings.Replace(string(mod(func(*cloudapi.HubHealth) {})), "502 Bad Gateway", "502 \xff", 1)), 400, "UTF-8"},
		{"error time missing", mod(func(h *cloudapi.HubHealth) { h.Uploads.LastError.At = time.Time{} }), 400, "last_error.at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, b := postHealth(t, hub, tc.body)
			if status != tc.status || !strings.Contains(b, tc.want) {
				t.Errorf("%d %s, want %d naming %q", status, b, tc.status, tc.want)
			}
		})
	}
	// Nothing was kept: staff see a hub that never reported.
	sam := e.staffUser("Sam", "support")
	req := e.grant(t, sam, alice, st.HouseholdID, supportCode(t, e, alice, st.HouseholdID), []string{"hubs"})
	if status, h, b := e.staffHealthOf(t, sam, req.ID, "hubs"); status != 200 || len(h.Hubs) != 1 || !h.Hubs[0].LastContact.IsZero() {
		t.Errorf("after refused reports: %d %s", status, b)
	}
}

// TestHubHealthIdentity: a hub reports for itself only — its report shows
// under its own household and never another's, whatever the body says; a
// member's device, a device no chain knows and a hub removed from its
// chain cannot report; staff without a grant for the scope read nothing.
func TestHubHealthIdentity(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	stA := e.household(alice, "Home A")
	bob := e.signUp("bob@example.com")
	stB := e.household(bob, "Home B")
	hubA, _ := e.addHub(alice, stA)
	hubB, _ := e.addHub(bob, stB)
	now := time.Now().UTC()

	// The body names no household: a field that tries is refused.
	b, _ := json.Marshal(goodReport(now))
	forged := strings.Replace(string(b), `{"version"`, `{"household_id":"`+stB.HouseholdID+`","version"`, 1)
	if status, body := postHealth(t, hubA, []byte(forged)); status != 400 || !strings.Contains(body, "household_id") {
		t.Errorf("a report naming a household: %d %s", status, body)
	}
	if _, err := hubA.ReportHealth(ctx, goodReport(now)); err != nil {
		t.Fatal(err)
	}

	sam := e.staffUser("Sam", "support")
	reqB := e.grant(t, sam, bob, stB.HouseholdID, supportCode(t, e, bob, stB.HouseholdID), []string{"hubs", "uploads"})
	_, hb, _ := e.staffHealthOf(t, sam, reqB.ID, "uploads")
	if len(hb.Uploads) != 1 || hb.Uploads[0].ID != hubB.DeviceID || hb.Uploads[0].Reported {
		t.Errorf("household B's uploads show %+v; want only its own hub, which never reported", hb.Uploads)
	}

	// A member's device (alice's admin phone) is not a hub.
	phone := &client.Client{BaseURL: e.url, HTTP: http.DefaultClient, DeviceID: keydir.DeviceID(alice.keys.Sign.Public().(ed25519.PublicKey)), DeviceKey: alice.keys.Sign}
	if _, err := phone.ReportHealth(ctx, goodReport(now)); !client.IsStatus(err, http.StatusNotFound) && !client.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("a member's device reports: %v, want 404 or 401", err)
	}
	// A hub removed from its chain cannot report any more.
	link, err := stA.RemoveDevice(alice.keys, hubA.DeviceID, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.c.AppendLink(ctx, stA.HouseholdID, link); err != nil {
		t.Fatal(err)
	}
	if _, err := hubA.ReportHealth(ctx, goodReport(now)); !client.IsStatus(err, http.StatusNotFound) && !client.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("a removed hub reports: %v, want 404 or 401", err)
	}

	// Staff: a grant for another scope opens none of these; no grant, nothing.
	codeA := supportCode(t, e, alice, stA.HouseholdID)
	camOnly := e.grant(t, sam, alice, stA.HouseholdID, codeA, []string{"cameras"})
	for _, scope := range []string{"hubs", "uploads", "versions"} {
		if status, _, body := e.staffHealthOf(t, sam, camOnly.ID, scope); status != http.StatusForbidden {
			t.Errorf("%s under a cameras grant: %d %s, want 403", scope, status, body)
		}
	}
	pending := e.fileRequest(t, sam, codeA, []string{"uploads"}, "not yet", 600)
	if status, _, body := e.staffHealthOf(t, sam, pending.ID, "uploads"); status == http.StatusOK {
		t.Errorf("uploads under a pending request: %d %s", status, body)
	}
	other := e.staffUser("Olga", "support")
	if status, _, body := e.staffHealthOf(t, other, reqB.ID, "uploads"); status == http.StatusOK {
		t.Errorf("another staff member's grant read: %d %s", status, body)
	}
}
