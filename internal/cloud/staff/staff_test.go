package staff_test

import (
	"errors"
	"fmt"
	"go/build"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/staff"
	"vigil/internal/cloud/staff/stafftest"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
	"vigil/internal/pgtest"
)

// The staff domain over both real stores: every case opens a fresh store
// and two Services over it (two replicas sharing one database).

func TestSQLite(t *testing.T) {
	run(t, func(t *testing.T, now func() time.Time) stafftest.Store { return storetest.OpenSQLite(t, now) })
}

func TestPostgres(t *testing.T) {
	db := pgtest.NewDB(t)
	run(t, func(t *testing.T, now func() time.Time) stafftest.Store { return storetest.OpenPostgres(t, db, now) })
}

type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

type env struct {
	st   stafftest.Store
	a, b *staff.Service
	clk  *clock
}

func run(t *testing.T, open func(t *testing.T, now func() time.Time) stafftest.Store) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, e env)
	}{
		{"Enrolment", testEnrolment},
		{"Sessions", testSessions},
		{"SupportCodes", testSupportCodes},
		{"Lockbox", testLockbox},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{}
			clk.ns.Store(storetest.At(time.Hour).UnixNano())
			st := open(t, clk.now)
			svc := func() *staff.Service {
				s, err := staff.New(staff.Config{Store: st, Now: clk.now})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			tc.fn(t, env{st: st, a: svc(), b: svc(), clk: clk})
		})
	}
}

func kind(err error) staff.Kind {
	var e *staff.Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func wantKind(t *testing.T, what string, err error, k staff.Kind) {
	t.Helper()
	if kind(err) != k {
		t.Fatalf("%s: got %v (kind %d), want kind %d", what, err, kind(err), k)
	}
}

// testEnrolment: an identity is added with a valid name and role, and its
// enrolment secret works once, on any replica, until it expires.
func testEnrolment(t *testing.T, e env) {
	ctx := t.Context()
	_, _, err := e.a.Add(ctx, "Ada", "root")
	wantKind(t, "Add with an unknown role", err, staff.Invalid)
	_, _, err = e.a.Add(ctx, " \n", store.StaffSupport)
	wantKind(t, "Add without a name", err, staff.Invalid)
	ada, en, err := e.a.Add(ctx, "Ada", store.StaffSupport)
	if err != nil {
		t.Fatal(err)
	}
	if ada.Role != store.StaffSupport || !strings.HasPrefix(en.Secret, staff.EnrolPrefix) || !en.Expires.Equal(e.clk.now().Add(staff.DefaultEnrolTTL)) {
		t.Fatalf("Add: %+v %v", ada, en.Expires)
	}
	_, _, err = e.b.Add(ctx, "Ada", store.StaffAdmin)
	wantKind(t, "Add with a taken name", err, staff.Conflict)

	got, err := e.b.Enrol(ctx, en.Secret)
	if err != nil || got.ID != ada.ID {
		t.Fatalf("Enrol: %+v, %v", got, err)
	}
	_, err = e.a.Enrol(ctx, en.Secret)
	wantKind(t, "Enrol again", err, staff.Missing)
	_, err = e.a.Enrol(ctx, "vgs_"+en.Secret)
	wantKind(t, "Enrol with another kind of secret", err, staff.Invalid)

	e.clk.advance(time.Second)
	bo, en2, err := e.a.Add(ctx, "Bo", store.StaffOperator)
	if err != nil {
		t.Fatal(err)
	}
	e.clk.advance(staff.DefaultEnrolTTL + time.Second)
	_, err = e.b.Enrol(ctx, en2.Secret)
	wantKind(t, "Enrol expired", err, staff.Missing)

	_, en3, err := e.a.Add(ctx, "Cy", store.StaffAdmin)
	if err != nil {
		t.Fatal(err)
	}
	list, err := e.b.List(ctx)
	if err != nil || len(list) != 3 || list[0].ID != ada.ID || list[1].ID != bo.ID {
		t.Fatalf("List: %+v, %v", list, err)
	}
	if err := e.b.Disable(ctx, list[2].ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.a.Enrol(ctx, en3.Secret)
	wantKind(t, "Enrol a disabled identity", err, staff.Missing)
	wantKind(t, "Disable unknown", e.a.Disable(ctx, "nobody"), staff.NotFound)
}

// testSessions: a session issued on one replica authenticates on the
// other, changes need its CSRF token, and it ends at its expiry, at sign
// out and when its identity is disabled. Nothing else is a staff session.
func testSessions(t *testing.T, e env) {
	ctx := t.Context()
	ada, _, err := e.a.Add(ctx, "Ada", store.StaffSupport)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := e.a.NewSession(ctx, ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, tok, err := e.b.Authenticate(ctx, staff.Credential{Secret: ss.Secret, Reading: true})
	if err != nil || got.ID != ada.ID || tok.StaffID != ada.ID {
		t.Fatalf("Authenticate: %+v, %v", got, err)
	}
	_, _, err = e.b.Authenticate(ctx, staff.Credential{Secret: ss.Secret})
	wantKind(t, "a change without the CSRF token", err, staff.Forbidden)
	_, _, err = e.b.Authenticate(ctx, staff.Credential{Secret: ss.Secret, CSRF: "x" + ss.CSRF})
	wantKind(t, "a change with a wrong CSRF token", err, staff.Forbidden)
	if _, _, err := e.b.Authenticate(ctx, staff.Credential{Secret: ss.Secret, CSRF: ss.CSRF}); err != nil {
		t.Fatalf("a change with the CSRF token: %v", err)
	}
	// Secrets that are not a staff session: a customer-shaped token, one
	// with the staff prefix never issued, and nothing.
	cust, _, _ := auth.NewToken("vgs_")
	for _, s := range []string{cust, staff.SessionPrefix + "x", ""} {
		_, _, err = e.a.Authenticate(ctx, staff.Credential{Secret: s, Reading: true})
		if err != staff.ErrSignInRequired {
			t.Errorf("Authenticate(%.12q): %v, want sign-in required", s, err)
		}
	}

	e.clk.advance(staff.DefaultSessionTTL - time.Second)
	if _, _, err := e.a.Authenticate(ctx, staff.Credential{Secret: ss.Secret, Reading: true}); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	e.clk.advance(time.Second)
	_, _, err = e.a.Authenticate(ctx, staff.Credential{Secret: ss.Secret, Reading: true})
	wantKind(t, "at expiry", err, staff.Unauthenticated)

	s2, _ := e.a.NewSession(ctx, ada.ID)
	if err := e.b.SignOut(ctx, s2.Secret); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.a.Authenticate(ctx, staff.Credential{Secret: s2.Secret, Reading: true})
	wantKind(t, "after sign out", err, staff.Unauthenticated)

	s3, _ := e.a.NewSession(ctx, ada.ID)
	if err := e.b.Disable(ctx, ada.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.a.Authenticate(ctx, staff.Credential{Secret: s3.Secret, Reading: true})
	wantKind(t, "after disable", err, staff.Unauthenticated)
	_, err = e.a.NewSession(ctx, ada.ID)
	wantKind(t, "NewSession for a disabled identity", err, staff.Unauthenticated)
}

// testSupportCodes: each household gets one random code, the same on
// every replica; LookUp finds it as people type it, tells a typing error
// from an unknown code, and finds nothing by anything else.
func testSupportCodes(t *testing.T, e env) {
	ctx := t.Context()
	storetest.MkHousehold(t, e.st, "house-one", "a1")
	storetest.MkHousehold(t, e.st, "house-two", "a2")
	c1, err := e.a.SupportCode(ctx, "house-one")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := e.b.SupportCode(ctx, "house-one")
	c2, _ := e.b.SupportCode(ctx, "house-two")
	if again != c1 || c2 == c1 || len(c1) != staff.CodeLen+1 || c1[5] != '-' {
		t.Fatalf("codes: %q %q %q", c1, again, c2)
	}
	if strings.Contains(strings.ToLower(c1), "house-one") {
		t.Errorf("code %q shows the household ID", c1)
	}
	_, err = e.a.SupportCode(ctx, "house-nine")
	wantKind(t, "SupportCode of an unknown household", err, staff.NotFound)

	for _, typed := range []string{c1, strings.ToLower(c1), strings.ReplaceAll(c1, "-", " "), strings.ReplaceAll(c1, "-", "")} {
		hh, err := e.b.LookUp(ctx, typed)
		if err != nil || hh != "house-one" {
			t.Errorf("LookUp(%q): %q, %v", typed, hh, err)
		}
	}
	canon := strings.ReplaceAll(c1, "-", "")
	// Every single-character change is caught by the check character.
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	for i := range canon {
		for _, r := range alphabet {
			if byte(r) == canon[i] {
				continue
			}
			typo := canon[:i] + string(r) + canon[i+1:]
			_, err := e.a.LookUp(ctx, typo)
			wantKind(t, "LookUp with a typo "+typo, err, staff.Invalid)
		}
	}
	for _, bad := range []string{"", "house-one", "a1@example.com", canon[:9], canon + "0", "UUUUUUUUUU"} {
		_, err := e.a.LookUp(ctx, bad)
		wantKind(t, "LookUp "+bad, err, staff.Invalid)
	}
	// A well-formed code no household has.
	for {
		c := staff.NewSupportCode()
		if c == canon || c == strings.ReplaceAll(c2, "-", "") {
			continue
		}
		_, err := e.a.LookUp(ctx, c)
		wantKind(t, "LookUp of a free code", err, staff.NotFound)
		break
	}
}

// TestOwnImports: the package's own imports never name what opens or
// carries household content. (internal/deptest checks every edge, direct or
// not; the store links envelope and keydir for history's signed actions, so
// this test checks the package's direct imports of them.)
func TestOwnImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		for _, bad := range []string{"net/http", "vigil/internal/envelope", "vigil/internal/keydir", "vigil/internal/blob", "vigil/internal/history"} {
			if imp == bad || strings.HasPrefix(imp, bad+"/") {
				t.Errorf("staff imports %s", imp)
			}
		}
	}
	if len(pkg.Imports) == 0 {
		t.Fatal("no imports read")
	}
}

// testLockbox: a request is decided by the household it names, on any
// replica; a grant is read only while live and only for its scopes, and
// runs out at its expiry (marked once) or at a revocation.
func testLockbox(t *testing.T, e env) {
	ctx := t.Context()
	storetest.MkHousehold(t, e.st, "h1", "a1")
	storetest.MkHousehold(t, e.st, "h2", "a2")
	ada, _, err := e.a.Add(ctx, "Ada", store.StaffSupport)
	if err != nil {
		t.Fatal(err)
	}
	bo, _, err := e.a.Add(ctx, "Bo", store.StaffSupport)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		scopes []string
		reason string
		d      time.Duration
	}{
		{nil, "x", 0}, {[]string{"objects"}, "x", 0}, {[]string{"hubs", "hubs"}, "x", 0}, {[]string{"hubs"}, "", 0},
		{[]string{"hubs"}, "a\nb", 0}, {[]string{"hubs"}, strings.Repeat("x", 201), 0}, {[]string{"hubs"}, "x", staff.MaxGrant + time.Second},
		{[]string{"hubs"}, "x", time.Millisecond}, {[]string{"hubs"}, "x", -time.Hour},
	} {
		_, err := e.a.File(ctx, ada, "h1", bad.scopes, bad.reason, bad.d)
		wantKind(t, fmt.Sprintf("File(%v, %q, %v)", bad.scopes, bad.reason, bad.d), err, staff.Invalid)
	}
	_, err = e.a.File(ctx, ada, "h9", []string{"hubs"}, "x", 0)
	wantKind(t, "File for an unknown household", err, staff.NotFound)

	r, err := e.a.File(ctx, ada, "h1", []string{"uploads", "hubs"}, "uploads failing", 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != store.StaffPending || r.Duration != staff.DefaultGrant || !slices.Equal(r.Scopes, []string{"hubs", "uploads"}) {
		t.Fatalf("File: %+v", r)
	}
	_, _, err = e.b.Grant(ctx, ada, r.ID, "hubs")
	wantKind(t, "Grant while pending", err, staff.Forbidden)

	noRecord := func(store.StaffRequest) error { return nil }
	approve := staff.Decision{State: store.StaffApproved, Scopes: r.Scopes, Seconds: int64(r.Duration / time.Second), Device: "dadmin"}
	// Another household's admins cannot decide it.
	_, err = e.b.Decide(ctx, "h2", r.ID, approve, noRecord)
	wantKind(t, "Decide by another household", err, staff.NotFound)
	// An approval must sign exactly the request's scopes and duration.
	wider := approve
	wider.Scopes = []string{"hubs", "storage", "uploads"}
	_, err = e.b.Decide(ctx, "h1", r.ID, wider, noRecord)
	wantKind(t, "Decide with other scopes", err, staff.Invalid)
	longer := approve
	longer.Seconds++
	_, err = e.b.Decide(ctx, "h1", r.ID, longer, noRecord)
	wantKind(t, "Decide with another duration", err, staff.Invalid)
	// A record that fails changes nothing.
	_, err = e.b.Decide(ctx, "h1", r.ID, approve, func(store.StaffRequest) error { return errors.New("log down") })
	if err == nil {
		t.Fatal("Decide went ahead without its record")
	}
	var recorded store.StaffRequest
	got, err := e.b.Decide(ctx, "h1", r.ID, approve, func(x store.StaffRequest) error { recorded = x; return nil })
	if err != nil || got.State != store.StaffApproved || !got.Expires.Equal(e.clk.now().Add(staff.DefaultGrant)) || recorded.ID != r.ID {
		t.Fatalf("Decide approve: %+v, %v (recorded %+v)", got, err, recorded)
	}
	_, err = e.a.Decide(ctx, "h1", r.ID, approve, noRecord)
	wantKind(t, "approve twice", err, staff.Conflict)

	// Reads: the owner, a granted scope, while live.
	if g, exp, err := e.a.Grant(ctx, ada, r.ID, "hubs"); err != nil || exp || g.HouseholdID != "h1" {
		t.Fatalf("Grant hubs: %+v %v %v", g, exp, err)
	}
	_, _, err = e.a.Grant(ctx, ada, r.ID, "storage")
	wantKind(t, "Grant of a scope not granted", err, staff.Forbidden)
	_, _, err = e.a.Grant(ctx, ada, r.ID, "objects")
	wantKind(t, "Grant of no scope", err, staff.Invalid)
	_, _, err = e.a.Grant(ctx, bo, r.ID, "hubs")
	wantKind(t, "Grant by another staff member", err, staff.NotFound)

	// The clock passes the expiry: refused, and marked expired once.
	e.clk.advance(staff.DefaultGrant)
	_, exp, err := e.b.Grant(ctx, ada, r.ID, "hubs")
	wantKind(t, "Grant at expiry", err, staff.Forbidden)
	if !exp {
		t.Error("the first call past the expiry did not report it")
	}
	_, exp, err = e.a.Grant(ctx, ada, r.ID, "hubs")
	wantKind(t, "Grant after expiry", err, staff.Forbidden)
	if exp {
		t.Error("the expiry was reported twice")
	}
	all, expired, err := e.a.Requests(ctx, "h1")
	if err != nil || len(all) != 1 || all[0].State != store.StaffExpired || len(expired) != 0 {
		t.Fatalf("Requests: %+v %+v %v", all, expired, err)
	}

	// Deny.
	r2, _ := e.a.File(ctx, ada, "h1", []string{"storage"}, "quota question", time.Hour)
	if _, err := e.b.Decide(ctx, "h1", r2.ID, staff.Decision{State: store.StaffDenied, Device: "dadmin"}, noRecord); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.a.Grant(ctx, ada, r2.ID, "storage")
	wantKind(t, "Grant denied", err, staff.Forbidden)
	_, err = e.b.Decide(ctx, "h1", r2.ID, staff.Decision{State: store.StaffRevoked, Device: "dadmin"}, noRecord)
	wantKind(t, "revoke a denied request", err, staff.Conflict)

	// Revoke: at once, on the other replica.
	r3, _ := e.a.File(ctx, ada, "h1", []string{"cameras"}, "camera count", time.Hour)
	if _, err := e.b.Decide(ctx, "h1", r3.ID, staff.Decision{State: store.StaffApproved, Scopes: r3.Scopes, Seconds: 3600, Device: "dadmin"}, noRecord); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.a.Grant(ctx, ada, r3.ID, "cameras"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.Decide(ctx, "h1", r3.ID, staff.Decision{State: store.StaffRevoked, Device: "dadmin"}, noRecord); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.a.Grant(ctx, ada, r3.ID, "cameras")
	wantKind(t, "Grant revoked", err, staff.Forbidden)

	// A grant that runs out is found by the admins' listing too.
	r4, _ := e.a.File(ctx, ada, "h2", []string{"hubs"}, "hub offline", time.Minute)
	if _, err := e.b.Decide(ctx, "h2", r4.ID, staff.Decision{State: store.StaffApproved, Scopes: r4.Scopes, Seconds: 60, Device: "dadmin"}, noRecord); err != nil {
		t.Fatal(err)
	}
	e.clk.advance(time.Minute)
	_, expired, err = e.b.Requests(ctx, "h2")
	if err != nil || len(expired) != 1 || expired[0].ID != r4.ID {
		t.Fatalf("Requests h2 past expiry: %+v %v", expired, err)
	}

	// A grant nobody reads after it runs out: ExpireDue marks it, once,
	// whichever replica runs it.
	r5, _ := e.a.File(ctx, bo, "h2", []string{"storage"}, "disk full", time.Minute)
	if _, err := e.b.Decide(ctx, "h2", r5.ID, staff.Decision{State: store.StaffApproved, Scopes: r5.Scopes, Seconds: 60, Device: "dadmin"}, noRecord); err != nil {
		t.Fatal(err)
	}
	if due, err := e.a.ExpireDue(ctx); err != nil || len(due) != 0 {
		t.Fatalf("ExpireDue before the end: %+v %v", due, err)
	}
	e.clk.advance(time.Minute)
	due, err := e.a.ExpireDue(ctx)
	if err != nil || len(due) != 1 || due[0].ID != r5.ID || due[0].State != store.StaffExpired {
		t.Fatalf("ExpireDue: %+v %v", due, err)
	}
	if again, err := e.b.ExpireDue(ctx); err != nil || len(again) != 0 {
		t.Fatalf("ExpireDue again, on the other replica: %+v %v", again, err)
	}
	_, exp, err = e.b.Grant(ctx, bo, r5.ID, "storage")
	wantKind(t, "Grant after the sweep", err, staff.Forbidden)
	if exp {
		t.Error("a read reported an expiry the sweep had marked")
	}
}

// TestPermit: each role set admits exactly its roles, each wider set
// includes the narrower one, and a refusal is Forbidden naming the role it
// needs; no roles admit nobody.
func TestPermit(t *testing.T) {
	for _, c := range []struct {
		roles []string
		want  []string
	}{
		{staff.SupportRoles, []string{store.StaffSupport, store.StaffOperator, store.StaffAdmin}},
		{staff.OperatorRoles, []string{store.StaffOperator, store.StaffAdmin}},
		{staff.AdminRoles, []string{store.StaffAdmin}},
		{nil, nil},
	} {
		for _, role := range staff.Roles {
			err := staff.Permit(store.Staff{ID: "s1", Role: role}, c.roles)
			if slices.Contains(c.want, role) != (err == nil) {
				t.Errorf("Permit(%s, %v) = %v", role, c.roles, err)
			}
			var se *staff.Error
			if err != nil && (!errors.As(err, &se) || se.Kind != staff.Forbidden) {
				t.Errorf("Permit(%s, %v) = %#v, want Forbidden", role, c.roles, err)
			}
		}
	}
	err := staff.Permit(store.Staff{Role: store.StaffSupport}, staff.OperatorRoles)
	if err == nil || !strings.Contains(err.Error(), "operator or admin") {
		t.Errorf("the refusal says %v", err)
	}
}
