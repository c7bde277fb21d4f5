package cloud_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"vigil/internal/client"
	"vigil/internal/history"
	"vigil/internal/keydir"
	vmember "vigil/internal/member"
)

// joinRequest is a new device of an account, asking to join through an
// invite.
func joinRequest(t *testing.T, m *member, inv testInvite) (string, *keydir.DeviceKeys, string) {
	t.Helper()
	k, err := keydir.NewDeviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	dev := keydir.EncodeDevice(k)
	id, err := m.c.RequestJoin(context.Background(), inv.Key, dev, "phone", vmember.JoinProof(inv.Secret, inv.ID, dev))
	if err != nil {
		t.Fatalf("join request: %v", err)
	}
	return id, k, dev
}

// TestJoinByApproval: an admin's invite, a request from another account's
// new device, the admin checks proof and code and approves with the chain
// link; the account becomes a member and the device is in the chain.
func TestJoinByApproval(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	bob := e.signUp("bob@example.com")
	carol := e.signUp("carol@example.com")
	st := e.household(alice, "Home")
	hh := st.HouseholdID

	// Only an admin opens invites.
	if _, err := bob.c.CreateInvite(ctx, hh, e.action(bob.keys, hh, history.InviteParams{Invite: newInviteID(), Role: "member",
		Expires: e.clock.Now().Add(time.Hour).Truncate(time.Millisecond)})); !client.IsStatus(err, 404) {
		t.Fatalf("non-member opened an invite: %v", err)
	}
	inv := e.invite(alice, hh, "member", time.Hour)
	secret := inv.Secret

	// Bob sees which household the invite is for, and asks to join.
	status, b, _ := bob.c.Raw(ctx, "POST", "/v1/invites/open", openInvite(inv.Key))
	if status != 200 || !strings.Contains(string(b), `"household_name":"Home"`) {
		t.Fatalf("GET invite: %d %s", status, b)
	}
	rid, bobKeys, dev := joinRequest(t, bob, inv)
	if s, err := bob.c.JoinStatus(ctx, inv.Key, rid); err != nil || s != "pending" {
		t.Fatalf("status before approval: %q %v", s, err)
	}
	// Another account cannot follow bob's request.
	if _, err := carol.c.JoinStatus(ctx, inv.Key, rid); !client.IsStatus(err, 404) {
		t.Errorf("carol read bob's request: %v", err)
	}
	// Bob is not a member yet: he cannot list the household's requests.
	if _, err := bob.c.JoinRequests(ctx, hh); !client.IsStatus(err, 404) {
		t.Errorf("requester listed join requests: %v", err)
	}

	reqs, err := alice.c.JoinRequests(ctx, hh)
	if err != nil || len(reqs) != 1 {
		t.Fatalf("join requests: %+v %v", reqs, err)
	}
	q := reqs[0]
	if q.ID != rid || q.Device != dev || q.Email != "bob@example.com" || q.DeviceID != keydir.DeviceID(bobKeys.Sign.Public().(ed25519.PublicKey)) {
		t.Fatalf("request = %+v", q)
	}
	if string(q.Proof) != string(vmember.JoinProof(secret, inv.ID, dev)) {
		t.Errorf("proof not relayed as sent")
	}
	// Both sides derive the same code from the secret and the device.
	if vmember.JoinCode(secret, q.Device) != vmember.JoinCode(secret, dev) {
		t.Errorf("codes differ")
	}

	// A link that does not add bob's device is refused.
	other, _ := keydir.NewDeviceKeys()
	odk, _ := keydir.ParseDevice(keydir.EncodeDevice(other), keydir.RoleMember, "x")
	wrong, err := st.AddDevice(alice.keys, odk, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.c.ApproveJoinRequest(ctx, hh, rid, wrong); !client.IsStatus(err, 422) {
		t.Errorf("approval with a link for another device: %v", err)
	}

	dk, err := keydir.ParseDevice(q.Device, keydir.RoleMember, q.Name)
	if err != nil {
		t.Fatal(err)
	}
	link, err := st.AddDevice(alice.keys, dk, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.c.ApproveJoinRequest(ctx, hh, rid, link); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if s, err := bob.c.JoinStatus(ctx, inv.Key, rid); err != nil || s != "approved" {
		t.Errorf("status after approval: %q %v", s, err)
	}
	// Bob is a member now and his device is in the chain he can read.
	links, _, err := bob.c.ChainIndexed(ctx, hh, 0)
	if err != nil {
		t.Fatalf("bob reads the chain: %v", err)
	}
	got, err := keydir.Verify(links, keydir.GenesisHash(links[0]))
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := got.Devices[dk.ID]; !ok || d.Name != "phone" {
		t.Errorf("bob's device not in the chain: %+v", got.Devices)
	}
	// Approved once: not again, and the request list is empty.
	if err := alice.c.ApproveJoinRequest(ctx, hh, rid, link); !client.IsStatus(err, 404) {
		t.Errorf("second approval: %v", err)
	}
	if reqs, _ := alice.c.JoinRequests(ctx, hh); len(reqs) != 0 {
		t.Errorf("requests after approval: %+v", reqs)
	}
	var ms struct {
		Members []struct{ Email, Role string }
	}
	status, b, _ = bob.c.Raw(ctx, "GET", "/v1/households/"+hh+"/members", nil)
	roles := map[string]string{}
	if status == 200 && json.Unmarshal(b, &ms) == nil {
		for _, m := range ms.Members {
			roles[m.Email] = m.Role
		}
	}
	if len(roles) != 2 || roles["bob@example.com"] != "member" || roles["alice@example.com"] != "admin" {
		t.Errorf("members: %d %s", status, b)
	}
	// A member (not admin) cannot approve or list.
	if _, err := bob.c.JoinRequests(ctx, hh); !client.IsStatus(err, 403) {
		t.Errorf("member listed join requests: %v", err)
	}
}

// TestJoinRequestsIsolation: an admin of one household cannot see, approve
// or decline another household's requests — the same 404 as a missing one.
func TestJoinRequestsIsolation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	mallory := e.signUp("mallory@example.com")
	bob := e.signUp("bob@example.com")
	st := e.household(alice, "Home")
	mst := e.household(mallory, "Other")
	inv := e.invite(alice, st.HouseholdID, "member", 24*time.Hour)
	rid, _, _ := joinRequest(t, bob, inv)

	if reqs, err := mallory.c.JoinRequests(ctx, mst.HouseholdID); err != nil || len(reqs) != 0 {
		t.Errorf("mallory's own list shows %+v %v", reqs, err)
	}
	_, missing, _ := mallory.c.Raw(ctx, "POST", "/v1/households/"+mst.HouseholdID+"/join-requests/jnope/approve", []byte(`{"link":"AA=="}`))
	status, b, _ := mallory.c.Raw(ctx, "POST", "/v1/households/"+mst.HouseholdID+"/join-requests/"+rid+"/approve", []byte(`{"link":"AA=="}`))
	if status != 404 || string(b) != string(missing) {
		t.Errorf("approving another household's request through one's own: %d %s (missing: %s)", status, b, missing)
	}
	status, b, _ = mallory.c.Raw(ctx, "GET", "/v1/households/"+st.HouseholdID+"/join-requests", nil)
	if status != 404 || string(b) != string(missing) {
		t.Errorf("listing another household's requests: %d %s", status, b)
	}
	status, _, _ = mallory.c.Raw(ctx, "DELETE", "/v1/households/"+mst.HouseholdID+"/join-requests/"+rid, nil)
	if status != 404 {
		t.Errorf("declining another household's request: %d", status)
	}
	err := mallory.c.DeleteInvite(ctx, mst.HouseholdID, inv.ID, e.action(mallory.keys, mst.HouseholdID, history.InviteDeleteParams{Invite: inv.ID}))
	if !client.IsStatus(err, 404) {
		t.Errorf("deleting another household's invite: %v", err)
	}
	if reqs, err := alice.c.JoinRequests(ctx, st.HouseholdID); err != nil || len(reqs) != 1 {
		t.Errorf("alice's request after mallory's tries: %+v %v", reqs, err)
	}
	// Declined by its admin: gone, and the requester sees it.
	if status, b, _ := alice.c.Raw(ctx, "DELETE", "/v1/households/"+st.HouseholdID+"/join-requests/"+rid, nil); status != 200 {
		t.Fatalf("decline: %d %s", status, b)
	}
	if s, err := bob.c.JoinStatus(ctx, inv.Key, rid); err != nil || s != "declined" {
		t.Errorf("status after decline: %q %v", s, err)
	}
}

// TestInviteExpires: an invite and its requests are gone after its TTL.
func TestInviteExpires(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	bob := e.signUp("bob@example.com")
	st := e.household(alice, "Home")
	inv := e.invite(alice, st.HouseholdID, "admin", 10*time.Minute)
	joinRequest(t, bob, inv)
	e.clock.Add(11 * time.Minute)
	if status, b, _ := bob.c.Raw(ctx, "POST", "/v1/invites/open", openInvite(inv.Key)); status != 404 || !strings.Contains(string(b), "expired") {
		t.Errorf("expired invite: %d %s", status, b)
	}
	k, _ := keydir.NewDeviceKeys()
	dev := keydir.EncodeDevice(k)
	if _, err := bob.c.RequestJoin(ctx, inv.Key, dev, "phone", vmember.JoinProof(inv.Secret, inv.ID, dev)); !client.IsStatus(err, 404) {
		t.Errorf("request on an expired invite: %v", err)
	}
	if reqs, err := alice.c.JoinRequests(ctx, st.HouseholdID); err != nil || len(reqs) != 0 {
		t.Errorf("requests of an expired invite still listed: %+v %v", reqs, err)
	}
	// Bad expiries and roles are refused with the reason.
	owner := strings.Replace(string(e.action(alice.keys, st.HouseholdID, history.InviteParams{Invite: newInviteID(), Role: "member",
		Expires: e.clock.Now().Add(time.Hour).Truncate(time.Millisecond)}).Body), `"role":"member"`, `"role":"owner"`, 1)
	if status, b, _ := alice.c.Raw(ctx, "POST", "/v1/households/"+st.HouseholdID+"/invites", body(signRaw(alice.keys, owner))); status != 400 || !strings.Contains(string(b), "role") {
		t.Errorf("bad role: %d %s", status, b)
	}
	long := e.action(alice.keys, st.HouseholdID, history.InviteParams{Invite: newInviteID(), Role: "member",
		Expires: e.clock.Now().Add(1000 * 24 * time.Hour).Truncate(time.Millisecond)})
	if status, b, _ := alice.c.Raw(ctx, "POST", "/v1/households/"+st.HouseholdID+"/invites", body(long)); status != 400 || !strings.Contains(string(b), "expires") {
		t.Errorf("long expiry: %d %s", status, b)
	}
}

// TestMembersAndSettings: members list, removal (not the last admin), and
// retention settings (admins set them, signed by an admin device; members
// read them).
func TestMembersAndSettings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	alice := e.signUp("alice@example.com")
	bob := e.signUp("bob@example.com")
	st := e.household(alice, "Home")
	hh := "/v1/households/" + st.HouseholdID
	e.addMember(alice, st.HouseholdID, "bob@example.com", "member")
	settings := func(m *member, quota, age int64) []byte {
		return body(e.action(m.keys, st.HouseholdID, history.SettingsParams{QuotaBytes: quota, MaxAgeSeconds: age}))
	}
	if status, b, _ := bob.c.Raw(ctx, "PUT", hh+"/settings", settings(bob, 0, 86400)); status != 403 {
		t.Errorf("member set retention: %d %s", status, b)
	}
	if status, b, _ := alice.c.Raw(ctx, "PUT", hh+"/settings", settings(alice, 1000000000, 60)); status != 400 || !strings.Contains(string(b), "max_age_seconds") {
		t.Errorf("one-minute retention: %d %s", status, b)
	}
	if status, b, _ := alice.c.Raw(ctx, "PUT", hh+"/settings", settings(alice, 1000000000, 604800)); status != 200 {
		t.Fatalf("set retention: %d %s", status, b)
	}
	var set struct {
		Quota  int64 `json:"quota_bytes"`
		MaxAge int64 `json:"max_age_seconds"`
	}
	status, b, _ := bob.c.Raw(ctx, "GET", hh+"/settings", nil)
	if status != 200 || json.Unmarshal(b, &set) != nil || set.Quota != 1e9 || set.MaxAge != 604800 {
		t.Errorf("settings: %d %s", status, b)
	}
	status, b, _ = bob.c.Raw(ctx, "GET", hh, nil)
	if status != 200 || !strings.Contains(string(b), `"quota_bytes":1000000000`) {
		t.Errorf("household after quota: %d %s", status, b)
	}

	var who struct {
		AccountID string `json:"account_id"`
	}
	remove := func(m *member, account string) []byte {
		return body(e.action(m.keys, st.HouseholdID, history.MemberRemoveParams{Account: account}))
	}
	_, b, _ = alice.c.Raw(ctx, "GET", "/v1/account", nil)
	json.Unmarshal(b, &who)
	if status, b, _ := alice.c.Raw(ctx, "DELETE", hh+"/members/"+who.AccountID, remove(alice, who.AccountID)); status != 409 {
		t.Errorf("removing the only admin: %d %s", status, b)
	}
	_, b, _ = bob.c.Raw(ctx, "GET", "/v1/account", nil)
	json.Unmarshal(b, &who)
	if status, b, _ := bob.c.Raw(ctx, "DELETE", hh+"/members/"+who.AccountID, remove(bob, who.AccountID)); status != 403 {
		t.Errorf("member removed a member: %d %s", status, b)
	}
	if status, b, _ := alice.c.Raw(ctx, "DELETE", hh+"/members/"+who.AccountID, remove(alice, who.AccountID)); status != 200 {
		t.Fatalf("remove bob: %d %s", status, b)
	}
	if status, _, _ := bob.c.Raw(ctx, "GET", hh+"/chain", nil); status != 404 {
		t.Errorf("removed member reads the chain: %d", status)
	}
}
