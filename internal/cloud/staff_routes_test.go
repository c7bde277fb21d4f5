package cloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/cloud"
	"vigil/internal/cloud/staff"
	"vigil/internal/history"
)

// staffAllowed are the staff routes, each with what it returns. A new staff
// route fails TestStaffRouteTable until it is added here: whoever adds it
// says, in review, why it reaches no household content.
var staffAllowed = map[string]string{
	"GET /staff/v1/me":                  "the signed-in staff member",
	"DELETE /staff/v1/sessions/current": "signs out",
	"POST /staff/v1/lookup":             "a household ID for a support code",
	"POST /staff/v1/requests":           "files a lockbox request (support code, scopes, reason, duration)",
	"GET /staff/v1/requests/{id}":       "the staff member's own request and its state",
	"POST /staff/v1/enrol/begin":        "a passkey registration ceremony, for the one-time enrolment secret",
	"POST /staff/v1/enrol/finish":       "registers the passkey; a staff session",
	"POST /staff/v1/login/begin":        "a staff passkey sign-in ceremony",
	"POST /staff/v1/login/finish":       "a staff session for a staff passkey",
	"GET /staff/v1/requests/{id}/health/{scope}": "one scope of health metadata (hub names and IDs, byte counts, " +
		"camera count; hubs' last contact, versions, upload backlog counts and scrubbed last error from their health " +
		"reports) under a live grant: no object, event, share, key or sealed payload",
	"GET /staff/v1/tickets":              "the staff member's open tickets: subjects and who opened them",
	"POST /staff/v1/tickets":             "opens a ticket about the household with a support code (subject, a staff note)",
	"POST /staff/v1/tickets/find":        "the tickets about the household with a support code",
	"GET /staff/v1/tickets/{id}":         "one ticket and its staff notes",
	"POST /staff/v1/tickets/{id}/notes":  "adds a staff note to a ticket",
	"POST /staff/v1/tickets/{id}/close":  "closes a ticket",
	"POST /staff/v1/tickets/{id}/reopen": "reopens a ticket",
	"GET /staff/v1/ops":                  "counts across every household (households, hubs, uploads in the last hour), none of one household",
	"GET /staff/v1/staff":                "the staff identities (names, roles)",
	"POST /staff/v1/staff":               "adds a staff identity; its one-time enrolment secret",
	"POST /staff/v1/staff/{id}/disable":  "disables a staff identity",
	"POST /staff/v1/workspaces":          "creates a labelling workspace from the genesis a lead's device signed: no key, no clip",
	"GET /staff/v1/workspaces":           "the labelling workspaces (IDs, names, genesis hashes)",
}

// staffRolesWant is which staff roles may use each staff route, written
// out here rather than read from the routes: support staff look up, file
// lockbox requests, read under grants and keep tickets; operators also see
// the operations view; staff admins also manage staff.
var staffRolesWant = func() map[string][]string {
	all := []string{"support", "operator", "admin"}
	m := map[string][]string{
		"GET /staff/v1/ops":                 {"operator", "admin"},
		"GET /staff/v1/staff":               {"admin"},
		"POST /staff/v1/staff":              {"admin"},
		"POST /staff/v1/staff/{id}/disable": {"admin"},
		"POST /staff/v1/workspaces":         {"admin"},
		"GET /staff/v1/workspaces":          {"admin"},
	}
	for name := range staffAllowed {
		if _, ok := m[name]; !ok && !staffOpen[name] {
			m[name] = all
		}
	}
	return m
}()

// staffOpen are the staff routes without a staff session: the passkey
// enrolment (with the one-time secret) and sign-in that issue one.
var staffOpen = map[string]bool{
	"POST /staff/v1/enrol/begin": true, "POST /staff/v1/enrol/finish": true,
	"POST /staff/v1/login/begin": true, "POST /staff/v1/login/finish": true,
}

// contentWords name what staff must never reach: a staff route with one
// of them (or its plural) as a path segment is refused by the test
// whatever the allowlist says.
var contentWords = []string{"object", "share", "live", "event", "snapshot", "history", "chain", "export",
	"log", "sealed", "push", "segment", "clip", "recording", "frame", "key", "manifest"}

// staffRequest sends method path with every staff credential in every
// place a customer route might look for a credential: the staff cookie,
// the customer session cookie, a bearer token and both CSRF headers.
func staffRequest(t *testing.T, base, method, path, secret, csrf string) (int, string) {
	t.Helper()
	var body *bytes.Reader
	if method == "POST" || method == "PUT" {
		body = bytes.NewReader([]byte("{}"))
	} else {
		body = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: cloud.StaffCookie, Value: secret})
	req.AddCookie(&http.Cookie{Name: "vigil_session", Value: secret})
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set(staff.CSRFHeader, csrf)
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// fill puts real values in a pattern's wildcards: the household the staff
// member looked up (and, once the lockbox grants, holds a grant for), a
// real object key of it, and IDs that exist where the test has them.
func fill(pattern string, vals map[string]string) string {
	out := pattern
	for k, v := range vals {
		out = strings.ReplaceAll(out, "{"+k+"}", url.PathEscape(v))
		out = strings.ReplaceAll(out, "{"+k+"...}", v)
	}
	for strings.Contains(out, "{") {
		i, j := strings.IndexByte(out, '{'), strings.IndexByte(out, '}')
		out = out[:i] + "x" + out[j+1:]
	}
	return out
}

// TestStaffRouteTable: over every route the server registers, no staff
// role reaches a customer route — content or not — with its staff session
// presented every way a credential can be, not even for a household the
// staff member found by its support code; staff routes are the allowlisted
// ones, none of them names content, and a customer's credentials do not
// open them.
func TestStaffRouteTable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hh := st.HouseholdID
	hub, hubKey := e.addHub(alice, st)
	key, _, err := hub.Upload(ctx, seal(t, hubKey, st, "front", 0, time.Unix(1_800_000_000, 0).UTC(), 1000))
	if err != nil {
		t.Fatal(err)
	}
	code := supportCode(t, e, alice, hh)
	vals := map[string]string{"hh": hh, "key": key}

	routes := cloud.RouteTable(e.srv)
	seen := map[string]bool{}
	for _, r := range routes {
		name := r.Method + " " + r.Pattern
		isStaffPath := strings.HasPrefix(r.Pattern, "/staff/")
		if isStaffPath != (r.Auth == "staff" || staffOpen[name]) {
			t.Errorf("%s: auth %s; staff routes (and only they) are under /staff/ with staff auth (but the sign-in ones)", name, r.Auth)
		}
		if !isStaffPath {
			continue
		}
		seen[name] = true
		if _, ok := staffAllowed[name]; !ok {
			t.Errorf("%s: a staff route not in staffAllowed: add it there with what it returns, and show it reaches no household content", name)
		}
		for _, seg := range strings.FieldsFunc(strings.ToLower(r.Pattern), func(c rune) bool { return c == '/' || c == '-' || c == '{' || c == '}' || c == '.' }) {
			for _, w := range contentWords {
				if seg == w || seg == w+"s" {
					t.Errorf("%s: a staff route names household content (%q)", name, w)
				}
			}
		}
	}
	for name := range staffAllowed {
		if !seen[name] {
			t.Errorf("staffAllowed lists %s, which the server does not register", name)
		}
	}
	for _, r := range routes {
		if r.Auth == "staff" && !slices.Equal(sorted(r.StaffRoles), sorted(staffRolesWant[r.Method+" "+r.Pattern])) {
			t.Errorf("%s admits staff roles %v, want %v", r.Method+" "+r.Pattern, r.StaffRoles, staffRolesWant[r.Method+" "+r.Pattern])
		}
	}

	for _, role := range staff.Roles {
		t.Run(role, func(t *testing.T) {
			_, secret, csrf, err := cloud.StaffSession(e.srv, "staff "+role, role)
			if err != nil {
				t.Fatal(err)
			}
			// The staff member finds the household by its code.
			b, _ := json.Marshal(map[string]string{"support_code": code})
			if status, body := staffDo(t, e.url, "POST", "/staff/v1/lookup", secret, csrf, b); status != 200 || !strings.Contains(body, hh) {
				t.Fatalf("look-up: %d %s", status, body)
			}
			// The household grants them every scope: the customer routes
			// below must still refuse them, for this very household.
			req := e.fileRequest(t, staffUser{secret: secret, csrf: csrf}, code, staff.Scopes, "route table", 0)
			if status, b := decide(t, alice, hh, req.ID, "approve", e.action(alice.keys, hh, history.StaffApproveParams{
				Request: req.ID, Scopes: staff.Scopes, Seconds: req.DurationSeconds})); status != 200 {
				t.Fatalf("approve: %d %s", status, b)
			}
			if status, b := staffDo(t, e.url, "GET", "/staff/v1/requests/"+req.ID+"/health/hubs", secret, csrf, nil); status != 200 {
				t.Fatalf("the grant is not live: %d %s", status, b)
			}
			vals["id"] = req.ID
			for _, r := range routes {
				if strings.HasPrefix(r.Pattern, "/staff/") {
					continue
				}
				path := fill(r.Pattern, vals)
				status, body := staffRequest(t, e.url, r.Method, path, secret, csrf)
				if r.Auth == "none" {
					// Open routes answer anyone alike; with a staff
					// session they must still give nothing of a
					// household's: no success except the public ones.
					if status < 400 && !publicRoutes[r.Method+" "+r.Pattern] {
						t.Errorf("%s %s as %s staff: %d %.200s", r.Method, path, role, status, body)
					}
					continue
				}
				if status != http.StatusUnauthorized && status != http.StatusNotFound {
					t.Errorf("%s %s (auth %s) as %s staff: %d %.200s, want 401 or 404", r.Method, path, r.Auth, role, status, body)
				}
			}
		})
	}

	// A customer's credentials never open a staff route.
	for _, r := range routes {
		if r.Auth != "staff" {
			continue
		}
		var body []byte
		if r.Method == "POST" {
			body, _ = json.Marshal(map[string]string{"support_code": code})
		}
		status, b, err := alice.c.Raw(ctx, r.Method, r.Pattern, body)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusUnauthorized {
			t.Errorf("%s as a customer: %d %s, want 401", r.Method+" "+r.Pattern, status, b)
		}
	}
}

func sorted(v []string) []string {
	v = slices.Clone(v)
	slices.Sort(v)
	return v
}

// TestStaffRoleMatrix: every staff route for every staff role: a role the
// route does not admit gets 403 saying which role it needs, before the
// request is looked at; a role it admits gets past that check. Each cell
// has its own staff member and session (a route signs out or disables).
func TestStaffRoleMatrix(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	code := supportCode(t, e, alice, st.HouseholdID)
	n := 0
	for _, r := range cloud.RouteTable(e.srv) {
		if r.Auth != "staff" {
			continue
		}
		name := r.Method + " " + r.Pattern
		for _, role := range staff.Roles {
			n++
			u := e.staffUser(fmt.Sprintf("matrix %d", n), role)
			var b []byte
			if r.Method == "POST" {
				b, _ = json.Marshal(map[string]string{"support_code": code})
			}
			status, body := staffDo(t, e.url, r.Method, fill(r.Pattern, map[string]string{}), u.secret, u.csrf, b)
			refused := strings.Contains(body, "staff role "+role+" may not do this")
			if slices.Contains(staffRolesWant[name], role) {
				if status == http.StatusForbidden || refused {
					t.Errorf("%s as %s: %d %s, want it admitted", name, role, status, body)
				}
			} else if status != http.StatusForbidden || !refused || !strings.Contains(body, "needs the role") {
				t.Errorf("%s as %s: %d %s, want 403 naming the role it needs", name, role, status, body)
			}
		}
	}
	if n < 3*len(staffRolesWant) {
		t.Errorf("the matrix has %d cells, want %d", n, 3*len(staffRolesWant))
	}
}

// publicRoutes are the open routes that answer anyone with success: none
// returns household content.
var publicRoutes = map[string]bool{
	"GET /v1/log": true, // the log's origin, key and witnesses
}

// staffDo sends a staff request with the staff cookie and CSRF header only.
func staffDo(t *testing.T, base, method, path, secret, csrf string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: cloud.StaffCookie, Value: secret})
	req.Header.Set(staff.CSRFHeader, csrf)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// supportCode is the household's support code as member m sees it.
func supportCode(t *testing.T, e *env, m *member, hh string) string {
	t.Helper()
	status, b, err := m.c.Raw(context.Background(), "GET", "/v1/households/"+hh, nil)
	if err != nil || status != 200 {
		t.Fatalf("GET household: %d %s %v", status, b, err)
	}
	var h struct {
		SupportCode string `json:"support_code"`
	}
	if err := json.Unmarshal(b, &h); err != nil || len(h.SupportCode) != staff.CodeLen+1 {
		t.Fatalf("support code in %s: %v", b, err)
	}
	return h.SupportCode
}
