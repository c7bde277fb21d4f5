package cloud_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/store"
	"vigil/internal/history"
	"vigil/internal/keydir"
	vmember "vigil/internal/member"
)

// action returns p on household hh signed by the device keys k, at the
// server's clock.
func (e *env) action(k *keydir.DeviceKeys, hh string, p history.Params) history.Signed {
	e.t.Helper()
	a, err := history.NewAction(hh, p, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := history.SignAction(k, a)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// body is a signed action as a request body.
func body(s history.Signed) []byte {
	b, _ := json.Marshal(s)
	return b
}

// testInvite is an open invite with the secret of its link and the key a
// joining device presents.
type testInvite struct {
	client.Invite
	Secret, Key []byte
}

// invite opens an invite on hh signed by m's device, named by the key of a
// fresh secret as an admin device names it.
func (e *env) invite(m *member, hh, role string, ttl time.Duration) testInvite {
	e.t.Helper()
	secret := make([]byte, 32)
	rand.Read(secret)
	inv, err := m.c.CreateInvite(context.Background(), hh, e.action(m.keys, hh, history.InviteParams{
		Invite: vmember.InviteID(secret), Role: role, Expires: e.clock.Now().Add(ttl).Truncate(time.Millisecond)}))
	if err != nil {
		e.t.Fatalf("invite: %v", err)
	}
	return testInvite{Invite: inv, Secret: secret, Key: vmember.InviteKey(secret)}
}

// openInvite is the body of POST /v1/invites/open.
func openInvite(key []byte) []byte {
	b, _ := json.Marshal(map[string][]byte{"key": key})
	return b
}

// addMember makes the account with email a member of hh, signed by m's
// device.
func (e *env) addMember(m *member, hh, email, role string) {
	e.t.Helper()
	if err := m.c.AddMember(context.Background(), hh, e.action(m.keys, hh, history.MemberAddParams{Email: email, Role: role})); err != nil {
		e.t.Fatalf("add member %s: %v", email, err)
	}
}

// signRaw signs body bytes as an action, whatever they hold.
func signRaw(k *keydir.DeviceKeys, b string) history.Signed {
	return history.Signed{Device: k.ID(), Body: []byte(b), Sig: ed25519.Sign(k.Sign, append([]byte("vigil/household/v1/action\x00"), b...))}
}

// recorder keeps what the server records (in place of the history); while
// err is set it records nothing and returns err.
type recorder struct {
	st  store.Store
	mu  sync.Mutex
	as  []store.Access
	err error
}

func (r *recorder) Record(ctx context.Context, a store.Access) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.as = append(r.as, a)
	return nil
}

// failWith makes the recorder fail with err (nil: record again).
func (r *recorder) failWith(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

func (r *recorder) changes() []store.Access {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []store.Access
	for _, a := range r.as {
		if a.Signed != nil {
			out = append(out, a)
		}
	}
	return out
}

func newRecordingEnv(t *testing.T) (*env, *recorder) {
	rec := &recorder{}
	e := newEnvWith(t, func(o *cloud.Options) { o.Access = rec })
	rec.st = e.st
	return e, rec
}

type settingsOut struct {
	Quota  int64 `json:"quota_bytes"`
	MaxAge int64 `json:"max_age_seconds"`
}

func settingsOf(t *testing.T, m *member, hh string) settingsOut {
	t.Helper()
	status, b := call(t, m.c, "GET", "/v1/households/"+hh+"/settings", nil)
	var s settingsOut
	if status != 200 || json.Unmarshal(b, &s) != nil {
		t.Fatalf("settings: %d %s", status, b)
	}
	return s
}

func countInvites(t *testing.T, m *member, hh string) int {
	t.Helper()
	status, b := call(t, m.c, "GET", "/v1/households/"+hh+"/invites", nil)
	var out struct{ Invites []json.RawMessage }
	if status != 200 || json.Unmarshal(b, &out) != nil {
		t.Fatalf("invites: %d %s", status, b)
	}
	return len(out.Invites)
}

func memberCount(t *testing.T, m *member, hh string) int {
	t.Helper()
	status, b := call(t, m.c, "GET", "/v1/households/"+hh+"/members", nil)
	var out struct{ Members []json.RawMessage }
	if status != 200 || json.Unmarshal(b, &out) != nil {
		t.Fatalf("members: %d %s", status, b)
	}
	return len(out.Members)
}

// TestTakenOverAccountChangesNothing: whoever holds an admin account with
// both factors, but no admin device's key of the household's current
// chain — a device that never was in it, or one that was removed, or a
// member device — cannot set a 1-byte quota (which would delete every
// sealed object at the next upload), open or delete invites, or change
// membership. Each attempt is refused with the reason and changes nothing.
func TestTakenOverAccountChangesNothing(t *testing.T) {
	e, rec := newRecordingEnv(t)
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	bob := e.signUp("bob@example.com")
	st := e.household(alice, "Home")
	hh := st.HouseholdID
	e.addMember(alice, hh, "bob@example.com", "member")
	inv := e.invite(alice, hh, "member", time.Hour)

	// Alice's second admin device, removed from the chain again; and Bob's
	// device, a member device, with Bob's account made an admin account.
	phone, _ := keydir.NewDeviceKeys()
	apply := func(l []byte, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if err := alice.c.AppendLink(ctx, hh, l); err != nil {
			t.Fatal(err)
		}
		if err := st.Apply(l); err != nil {
			t.Fatal(err)
		}
	}
	apply(st.AddDevice(alice.keys, phone.Public(keydir.RoleAdmin, "alice phone"), e.clock.Now()))
	apply(st.RemoveDevice(alice.keys, phone.ID(), e.clock.Now()))
	apply(st.AddDevice(alice.keys, bob.keys.Public(keydir.RoleMember, "bob laptop"), e.clock.Now()))
	e.addMember(alice, hh, "bob@example.com", "admin")
	stranger, _ := keydir.NewDeviceKeys()
	bobID := bob.accountID(t)
	before := len(rec.changes())

	attackers := []struct {
		name string
		c    *client.Client
		keys *keydir.DeviceKeys
		want string
	}{
		{"alice's account, a device never in the chain", alice.c, stranger, "not in the household's chain"},
		{"alice's account, her removed device", alice.c, phone, "not in the household's chain"},
		{"bob's admin account, his member device", bob.c, bob.keys, "member device, not an admin"},
	}
	for _, a := range attackers {
		tries := []struct {
			what, method, path string
			p                  history.Params
		}{
			{"1-byte quota", "PUT", "/settings", history.SettingsParams{QuotaBytes: 1}},
			{"invite", "POST", "/invites", history.InviteParams{Invite: newInviteID(), Role: "admin", Expires: e.clock.Now().Add(time.Hour).Truncate(time.Millisecond)}},
			{"invite delete", "DELETE", "/invites/" + inv.ID, history.InviteDeleteParams{Invite: inv.ID}},
			{"member add", "POST", "/members", history.MemberAddParams{Email: "alice@example.com", Role: "member"}},
			{"member remove", "DELETE", "/members/" + bobID, history.MemberRemoveParams{Account: bobID}},
		}
		for _, tr := range tries {
			status, b := call(t, a.c, tr.method, "/v1/households/"+hh+tr.path, body(e.action(a.keys, hh, tr.p)))
			if status != 403 || !strings.Contains(string(b), "only an admin device") || !strings.Contains(string(b), a.want) {
				t.Errorf("%s, %s: %d %s", a.name, tr.what, status, b)
			}
		}
		// Unsigned, as before: refused, naming what is missing.
		status, b := call(t, a.c, "PUT", "/v1/households/"+hh+"/settings", []byte(`{"quota_bytes":1,"max_age_seconds":0}`))
		if status != 400 || !strings.Contains(string(b), "signed by an admin device") {
			t.Errorf("%s, unsigned settings: %d %s", a.name, status, b)
		}
	}
	if s := settingsOf(t, alice, hh); s.Quota != 0 || s.MaxAge != 0 {
		t.Errorf("settings changed: %+v", s)
	}
	if n := countInvites(t, alice, hh); n != 1 {
		t.Errorf("%d invites, want the one alice made", n)
	}
	if n := memberCount(t, alice, hh); n != 2 {
		t.Errorf("%d members, want alice and bob", n)
	}
	if n := len(rec.changes()); n != before {
		t.Errorf("%d changes recorded for refused attempts", n-before)
	}
	// And the 1-byte quota deletes nothing: the hub's objects stay.
	_, hubKey := e.addHub(alice, st)
	hub, _ := e.addHubClient(hubKey)
	for i := range 2 {
		if _, _, err := hub.Upload(ctx, seal(t, hubKey, st, "front", uint64(i), e.clock.Now(), 2000)); err != nil {
			t.Fatal(err)
		}
	}
	if objs, err := alice.c.Objects(ctx, hh, "front", time.Time{}, time.Time{}); err != nil || len(objs) != 2 {
		t.Errorf("objects after the attempts: %d %v", len(objs), err)
	}
}

// TestSignedActionRefusals: a forged or altered body, another household's
// action, an old or future time, a replayed nonce, the wrong action for
// the route, a body that names another invite or account than the path —
// each refused with a status and message that name the problem.
func TestSignedActionRefusals(t *testing.T) {
	e, rec := newRecordingEnv(t)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	other := e.household(alice, "Cabin") // alice's device is admin of both
	hh := "/v1/households/" + st.HouseholdID
	settings := func(q int64) history.Params { return history.SettingsParams{QuotaBytes: q} }

	good := e.action(alice.keys, st.HouseholdID, settings(10<<30))
	altered := good
	altered.Body = bytes.Replace(good.Body, []byte(`"quota_bytes":10737418240`), []byte(`"quota_bytes":1`), 1)
	if bytes.Equal(altered.Body, good.Body) {
		t.Fatal("the body was not altered")
	}
	old := func() history.Signed {
		e.clock.Add(-6 * time.Minute)
		defer e.clock.Add(6 * time.Minute)
		return e.action(alice.keys, st.HouseholdID, settings(0))
	}()
	future := func() history.Signed {
		e.clock.Add(6 * time.Minute)
		defer e.clock.Add(-6 * time.Minute)
		return e.action(alice.keys, st.HouseholdID, settings(0))
	}()
	bad := e.action(alice.keys, st.HouseholdID, settings(0))
	bad.Body = []byte(strings.Replace(string(bad.Body), `"v":1`, `"v":1, "extra":1`, 1))
	bad = signRaw(alice.keys, string(bad.Body))
	bobAccount := e.signUp("bob@example.com")
	e.addMember(alice, st.HouseholdID, "bob@example.com", "member")

	cases := []struct {
		name, method, path string
		body               []byte
		status             int
		msg                string
	}{
		{"altered body", "PUT", "/settings", body(altered), 401, "signature does not verify"},
		{"another household's action", "PUT", "/settings", body(e.action(alice.keys, other.HouseholdID, settings(0))), 403, "signed for household " + other.HouseholdID},
		{"old", "PUT", "/settings", body(old), 401, "clock"},
		{"from the future", "PUT", "/settings", body(future), 401, "clock"},
		{"not canonical", "PUT", "/settings", body(bad), 400, "unknown field"},
		{"settings to the invites route", "POST", "/invites", body(e.action(alice.keys, st.HouseholdID, settings(0))), 400, "invite.create"},
		{"another invite than the path", "DELETE", "/invites/" + newInviteID(), body(e.action(alice.keys, st.HouseholdID, history.InviteDeleteParams{Invite: newInviteID()})), 400, "deletes invite"},
		{"another account than the path", "DELETE", "/members/" + bobAccount.accountID(t), body(e.action(alice.keys, st.HouseholdID, history.MemberRemoveParams{Account: "a00"})), 400, "removes account a00"},
		{"e-mail not normalised", "POST", "/members", body(signRaw(alice.keys, strings.Replace(string(e.action(alice.keys, st.HouseholdID, history.MemberAddParams{Email: "bob@example.com", Role: "member"}).Body), "bob@example.com", "bob@example.com ", 1))), 400, "email"},
		{"expiry past a week", "POST", "/invites", body(e.action(alice.keys, st.HouseholdID, history.InviteParams{Invite: newInviteID(), Role: "member", Expires: e.clock.Now().Add(8 * 24 * time.Hour).Truncate(time.Millisecond)})), 400, "expires"},
		{"expired", "POST", "/invites", body(e.action(alice.keys, st.HouseholdID, history.InviteParams{Invite: newInviteID(), Role: "member", Expires: e.clock.Now().Add(-time.Minute).Truncate(time.Millisecond)})), 400, "expires"},
		{"one-minute retention", "PUT", "/settings", body(e.action(alice.keys, st.HouseholdID, history.SettingsParams{MaxAgeSeconds: 60})), 400, "max_age_seconds"},
		{"quota over the service's", "PUT", "/settings", body(e.action(alice.keys, st.HouseholdID, settings(cloud.DefaultQuotaBytes+1))), 400, "quota_bytes"},
		{"not JSON", "PUT", "/settings", []byte(`quota=1`), 400, "signed by an admin device"},
		{"a short signature", "PUT", "/settings", bytes.Replace(body(good), []byte(`"sig":"`), []byte(`"sig":"AA`), 1), 400, "sig"},
	}
	for _, c := range cases {
		status, b := call(t, alice.c, c.method, hh+c.path, c.body)
		if status != c.status || !strings.Contains(string(b), c.msg) {
			t.Errorf("%s: %d %s, want %d naming %q", c.name, status, b, c.status, c.msg)
		}
	}
	if s := settingsOf(t, alice, st.HouseholdID); s.Quota != 0 {
		t.Errorf("a refused change took effect: %+v", s)
	}
	// The good one is accepted once; sent again it is a replay.
	if status, b := call(t, alice.c, "PUT", hh+"/settings", body(good)); status != 200 {
		t.Fatalf("valid change: %d %s", status, b)
	}
	if status, b := call(t, alice.c, "PUT", hh+"/settings", body(good)); status != 409 || !strings.Contains(string(b), "replayed") {
		t.Errorf("replay: %d %s", status, b)
	}
	if n := len(rec.changes()); n != 2 { // member.add of bob, and the settings
		t.Errorf("%d changes recorded, want 2", n)
	}
	// The nonce is forgotten once the action is too old anyway.
	e.clock.Add(history.ActionSkew + time.Second)
	if status, b := call(t, alice.c, "PUT", hh+"/settings", body(good)); status != 401 {
		t.Errorf("replay after the window: %d %s", status, b)
	}
}

// TestSignedChangesTakeEffect: each signed change takes effect, and its
// access record carries the signed action exactly as sent, which verifies
// against the household's chain.
func TestSignedChangesTakeEffect(t *testing.T) {
	e, rec := newRecordingEnv(t)
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	bob := e.signUp("bob@example.com")
	st := e.household(alice, "Home")
	hh := st.HouseholdID
	bobID := bob.accountID(t)

	sent := map[string]history.Signed{}
	sent["member.add"] = e.action(alice.keys, hh, history.MemberAddParams{Email: "bob@example.com", Role: "member"})
	if err := alice.c.AddMember(ctx, hh, sent["member.add"]); err != nil {
		t.Fatal(err)
	}
	sent["settings.set"] = e.action(alice.keys, hh, history.SettingsParams{QuotaBytes: 2 << 30, MaxAgeSeconds: 7 * 86400})
	got, err := alice.c.PutSettings(ctx, hh, sent["settings.set"])
	if err != nil || got.QuotaBytes != 2<<30 || got.MaxAgeSeconds != 7*86400 {
		t.Fatalf("settings: %+v %v", got, err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	id := vmember.InviteID(secret)
	exp := e.clock.Now().Add(2 * time.Hour).Truncate(time.Millisecond)
	sent["invite.create"] = e.action(alice.keys, hh, history.InviteParams{Invite: id, Role: "admin", Expires: exp})
	inv, err := alice.c.CreateInvite(ctx, hh, sent["invite.create"])
	if err != nil || inv.ID != id || inv.Role != "admin" || !inv.Expires.Equal(exp) {
		t.Fatalf("invite: %+v %v", inv, err)
	}
	// The device chose the ID: the same ID again is refused.
	if _, err := alice.c.CreateInvite(ctx, hh, e.action(alice.keys, hh, history.InviteParams{Invite: id, Role: "member", Expires: exp})); !client.IsStatus(err, 409) || !strings.Contains(err.Error(), "taken") {
		t.Errorf("taken invite ID: %v", err)
	}
	if status, b := call(t, bob.c, "POST", "/v1/invites/open", openInvite(vmember.InviteKey(secret))); status != 200 || !strings.Contains(string(b), `"role":"admin"`) {
		t.Errorf("the invite as a joining account sees it: %d %s", status, b)
	}
	sent["invite.delete"] = e.action(alice.keys, hh, history.InviteDeleteParams{Invite: id})
	if err := alice.c.DeleteInvite(ctx, hh, id, sent["invite.delete"]); err != nil {
		t.Fatal(err)
	}
	if n := countInvites(t, alice, hh); n != 0 {
		t.Errorf("%d invites after the delete", n)
	}
	sent["member.remove"] = e.action(alice.keys, hh, history.MemberRemoveParams{Account: bobID})
	if err := alice.c.RemoveMember(ctx, hh, bobID, sent["member.remove"]); err != nil {
		t.Fatal(err)
	}
	if status, _ := call(t, bob.c, "GET", "/v1/households/"+hh, nil); status != 404 {
		t.Errorf("removed account still reads the household: %d", status)
	}

	changes := rec.changes()
	if len(changes) != len(sent) {
		t.Fatalf("%d signed changes recorded, want %d", len(changes), len(sent))
	}
	objects := map[string]string{"member.add": bobID, "member.remove": bobID, "invite.create": id, "invite.delete": id, "settings.set": ""}
	for _, a := range changes {
		s, ok := sent[a.Action]
		if !ok {
			t.Errorf("unexpected record %s", a.Action)
			continue
		}
		if a.Signed.Device != s.Device || !bytes.Equal(a.Signed.Body, s.Body) || !bytes.Equal(a.Signed.Sig, s.Sig) {
			t.Errorf("%s: the record's signed action differs from what was sent", a.Action)
		}
		if a.Object != objects[a.Action] || a.Actor == "" || a.HouseholdID != hh {
			t.Errorf("%s: record %+v", a.Action, a)
		}
		got, err := history.VerifySigned(history.Signed{Device: a.Signed.Device, Body: a.Signed.Body, Sig: a.Signed.Sig}, st, hh)
		if err != nil || got.Action != a.Action {
			t.Errorf("%s: the recorded action does not verify: %v", a.Action, err)
		}
	}
	// The stored settings keep their signed action.
	ret, err := e.st.Retention(ctx, hh)
	if err != nil || ret.Signed == nil || !bytes.Equal(ret.Signed.Body, sent["settings.set"].Body) {
		t.Errorf("stored retention: %+v %v", ret, err)
	}
}

// TestQuotaFloor: a quota below what the household's hubs uploaded in the
// last 24 hours is refused, naming both numbers; at least that much, or the
// service default (0), is accepted; a day later the floor has moved.
func TestQuotaFloor(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hh := st.HouseholdID
	_, hubKey := e.addHub(alice, st)
	hub, _ := e.addHubClient(hubKey)
	var uploaded int64
	for i := range 3 {
		b := seal(t, hubKey, st, "front", uint64(i), e.clock.Now().Add(time.Duration(i)*4*time.Second), 50_000)
		if _, _, err := hub.Upload(ctx, b); err != nil {
			t.Fatal(err)
		}
		uploaded += int64(len(b))
	}
	set := func(q int64) (int, string) {
		status, b := call(t, alice.c, "PUT", "/v1/households/"+hh+"/settings", body(e.action(alice.keys, hh, history.SettingsParams{QuotaBytes: q})))
		return status, string(b)
	}
	for _, q := range []int64{1, uploaded - 1} {
		status, msg := set(q)
		if status != 409 || !strings.Contains(msg, fmt.Sprint(q)) || !strings.Contains(msg, fmt.Sprintf("at least %d bytes", uploaded)) || !strings.Contains(msg, "24 hours") {
			t.Errorf("quota %d: %d %s", q, status, msg)
		}
	}
	if objs, _ := alice.c.Objects(ctx, hh, "front", time.Time{}, time.Time{}); len(objs) != 3 {
		t.Errorf("%d objects after the refused quotas", len(objs))
	}
	if status, msg := set(uploaded); status != 200 {
		t.Errorf("quota at the floor: %d %s", status, msg)
	}
	if status, msg := set(0); status != 200 {
		t.Errorf("the service default: %d %s", status, msg)
	}
	// A day later those uploads no longer set the floor.
	e.clock.Add(quotaFloorWindow + time.Minute)
	if status, msg := set(uploaded / 2); status != 200 {
		t.Errorf("a day later: %d %s", status, msg)
	}
}

const quotaFloorWindow = 24 * time.Hour

// TestHubSettings: a hub gets its household's latest signed settings ({}
// before any) and can check them with its chain; another household's hub
// gets its own, and a device that is not a hub nothing.
func TestHubSettings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	bob := e.signUp("bob@example.com")
	st := e.household(alice, "Home")
	stB := e.household(bob, "Other")
	hub, _ := e.addHub(alice, st)
	hubB, _ := e.addHub(bob, stB)

	if s, err := hub.HubSettings(ctx); err != nil || s != nil {
		t.Fatalf("before any settings: %+v %v", s, err)
	}
	sent := e.action(alice.keys, st.HouseholdID, history.SettingsParams{QuotaBytes: 3 << 30, MaxAgeSeconds: 3600})
	if _, err := alice.c.PutSettings(ctx, st.HouseholdID, sent); err != nil {
		t.Fatal(err)
	}
	s, err := hub.HubSettings(ctx)
	if err != nil || s == nil {
		t.Fatalf("hub settings: %+v %v", s, err)
	}
	a, err := history.VerifySigned(*s, st, st.HouseholdID)
	if err != nil {
		t.Fatalf("the hub cannot verify its settings: %v", err)
	}
	if p, err := a.Settings(); err != nil || p.QuotaBytes != 3<<30 || p.MaxAgeSeconds != 3600 {
		t.Errorf("hub settings %+v %v", p, err)
	}
	// Checked against another household's chain, they are refused.
	if _, err := history.VerifySigned(*s, stB, stB.HouseholdID); !errors.Is(err, history.ErrActionHousehold) {
		t.Errorf("settings checked as another household's: %v", err)
	}
	if s, err := hubB.HubSettings(ctx); err != nil || s != nil {
		t.Errorf("the other household's hub got %+v %v", s, err)
	}
	dev := &client.Client{BaseURL: e.url, HTTP: hub.HTTP, DeviceID: alice.keys.ID(), DeviceKey: alice.keys.Sign}
	if _, err := dev.HubSettings(ctx); err == nil {
		t.Error("a device that is not a hub read the hub settings")
	}
}

// TestUnrecordedAccessDoesNotHappen: an access that cannot be recorded in
// the household's history is refused, and a change that cannot be recorded
// is not made (G5: nothing reaches a household's data without its record).
// While the recorder fails, a member's reads (the object's bytes among
// them), a hub's settings read and each signed change fail; with the
// recorder back, none of the changes had been made.
func TestUnrecordedAccessDoesNotHappen(t *testing.T) {
	e, rec := newRecordingEnv(t)
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	e.signUp("bob@example.com")
	st := e.household(alice, "Home")
	hh := st.HouseholdID
	hub, hubKey := e.addHub(alice, st)
	if _, _, err := hub.Upload(ctx, seal(t, hubKey, st, "front", 0, time.Unix(1_800_000_000, 0).UTC(), 5000)); err != nil {
		t.Fatal(err)
	}
	objs, err := alice.c.Objects(ctx, hh, "front", time.Time{}, time.Time{})
	if err != nil || len(objs) != 1 {
		t.Fatalf("objects: %v %v", objs, err)
	}
	reads := []string{"", "/chain", "/cameras", "/objects", "/objects/" + objs[0].Key, "/members", "/settings", "/history"}

	rec.failWith(errors.New("the history is unavailable"))
	for _, p := range reads {
		if status, b := call(t, alice.c, "GET", "/v1/households/"+hh+p, nil); status != 500 || string(b) != `{"error":"internal error"}`+"\n" {
			t.Errorf("GET %s without a record: %d %.80q", p, status, b)
		}
	}
	if s, err := hub.HubSettings(ctx); !client.IsStatus(err, 500) || s != nil {
		t.Errorf("hub settings without a record: %v %v", s, err)
	}
	if _, err := alice.c.PutSettings(ctx, hh, e.action(alice.keys, hh, history.SettingsParams{QuotaBytes: 1 << 30})); !client.IsStatus(err, 500) {
		t.Errorf("settings without a record: %v", err)
	}
	if err := alice.c.AddMember(ctx, hh, e.action(alice.keys, hh, history.MemberAddParams{Email: "bob@example.com", Role: "admin"})); !client.IsStatus(err, 500) {
		t.Errorf("member.add without a record: %v", err)
	}
	if _, err := alice.c.CreateInvite(ctx, hh, e.action(alice.keys, hh, history.InviteParams{
		Invite: newInviteID(), Role: "admin", Expires: e.clock.Now().Add(time.Hour).Truncate(time.Millisecond)})); !client.IsStatus(err, 500) {
		t.Errorf("invite.create without a record: %v", err)
	}

	rec.failWith(nil)
	for _, p := range reads {
		if status, b := call(t, alice.c, "GET", "/v1/households/"+hh+p, nil); status != 200 {
			t.Errorf("GET %s with the recorder back: %d %.80q", p, status, b)
		}
	}
	if s := settingsOf(t, alice, hh); s.Quota != 0 {
		t.Errorf("the unrecorded quota was set: %+v", s)
	}
	if n := memberCount(t, alice, hh); n != 1 {
		t.Errorf("%d members: the unrecorded member.add was made", n)
	}
	if n := countInvites(t, alice, hh); n != 0 {
		t.Errorf("%d invites: the unrecorded invite.create was made", n)
	}
	if n := len(rec.changes()); n != 0 {
		t.Errorf("%d signed changes recorded while the recorder failed", n)
	}
}

// newInviteID is an invite ID for a random key, which the test throws
// away: for the signed invite actions of tests that never join it.
func newInviteID() string {
	k := make([]byte, 32)
	rand.Read(k)
	return history.InviteIDForKey(k)
}
