package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/cli"
	"vigil/internal/client"
	"vigil/internal/cloud/auth"
	"vigil/internal/history"
	"vigil/internal/keydir"
	"vigil/internal/member"
	"vigil/internal/vigiltest"
)

// demoAdmin is the demo's admin device as the CLI profile in its data
// directory holds it: its keys, a client signed in as the demo account, and
// the household's genesis hash (from a sign-in link's fragment).
type demoAdmin struct {
	keys    *keydir.DeviceKeys
	c       *client.Client
	genesis []byte
}

func loadDemoAdmin(t *testing.T, dir string, d *cli.Demo) demoAdmin {
	t.Helper()
	k, _, err := keydir.LoadOrCreateDeviceKeys(filepath.Join(dir, "admin", "device.key"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "admin", "session.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Token == "" {
		t.Fatalf("the demo's session.json: %v", err)
	}
	c := client.New(d.CloudURL)
	c.Token = s.Token
	link, err := d.SignInURL(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	frag, _ := url.ParseQuery(strings.SplitN(link, "#", 2)[1])
	g, err := hex.DecodeString(frag.Get("g"))
	if err != nil || len(g) != 32 {
		t.Fatalf("genesis %q in the demo link", frag.Get("g"))
	}
	return demoAdmin{keys: k, c: c, genesis: g}
}

// demoAccount signs up and in a fresh account on the cloud.
func demoAccount(t *testing.T, cloudURL, email string) *client.Client {
	t.Helper()
	ctx := context.Background()
	c := client.New(cloudURL)
	res, err := c.SignUp(ctx, email, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(res.TOTPSecret, "="))
	if err != nil {
		t.Fatal(err)
	}
	if c.Token, err = c.SignIn(ctx, email, "correct horse battery staple", auth.TOTPCode(secret, time.Now())); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDemoLeavesInvitesToAdmin: 'vigil demo' adds only the browsers that
// open its own sign-in links. A request on an invite an admin device made
// stays pending while the demo declines a forged request on its own
// invite (so the demo went over both), until the admin device approves it.
func TestDemoLeavesInvitesToAdmin(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	d, err := cli.StartDemo(ctx, cli.DemoOptions{Data: dir, Listen: "127.0.0.1:0", Argon2: testArgon, NoDetect: true,
		Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	admin := loadDemoAdmin(t, dir, d)
	hh := d.HouseholdID

	// The admin device's own invite, as the settings page makes one.
	now := time.Now()
	secret := make([]byte, 32)
	rand.Read(secret)
	a, err := history.NewAction(hh, history.InviteParams{Invite: member.InviteID(secret), Role: keydir.RoleMember,
		Expires: now.Add(time.Hour).Truncate(time.Millisecond)}, now)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := history.SignAction(admin.keys, a)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := admin.c.CreateInvite(ctx, hh, signed)
	if err != nil {
		t.Fatal(err)
	}
	key := member.InviteKey(secret)

	sam := demoAccount(t, d.CloudURL, "sam@example.com")
	phone, err := keydir.NewDeviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	dev := keydir.EncodeDevice(phone)
	rid, err := sam.RequestJoin(ctx, key, dev, "Sam's phone", member.JoinProof(secret, inv.ID, dev))
	if err != nil {
		t.Fatal(err)
	}

	// A request on the demo's own invite with its key (which the cloud
	// sees) but without a proof of its secret: declined.
	link, err := d.SignInURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	frag, _ := url.ParseQuery(strings.SplitN(link, "#", 2)[1])
	demoSecret, err := base64.RawURLEncoding.DecodeString(frag.Get("k"))
	if err != nil || len(demoSecret) != 32 {
		t.Fatalf("the demo link's secret: %v", err)
	}
	demoKey := member.InviteKey(demoSecret)
	other, _ := keydir.NewDeviceKeys()
	forged := make([]byte, 32)
	rand.Read(forged)
	bad, err := sam.RequestJoin(ctx, demoKey, keydir.EncodeDevice(other), "Intruder", forged)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := sam.JoinStatus(ctx, demoKey, bad)
		if err != nil {
			t.Fatal(err)
		}
		if s == "declined" {
			break
		}
		if s != "pending" || time.Now().After(deadline) {
			t.Fatalf("a request on the demo's invite without its secret is %q, want declined", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The demo has gone over the admin's invite's request as well: pending.
	if s, err := sam.JoinStatus(ctx, key, rid); err != nil || s != "pending" {
		t.Fatalf("the request on the admin's invite is %q (%v), want pending: the demo must leave it to an admin device", s, err)
	}
	reqs, err := admin.c.JoinRequests(ctx, hh)
	if err != nil || len(reqs) != 1 || reqs[0].ID != rid {
		t.Fatalf("the admin sees %+v (%v), want the one pending request %s", reqs, err, rid)
	}

	// The admin device approves it.
	st, err := member.VerifiedChain(ctx, admin.c, hh, admin.genesis)
	if err != nil {
		t.Fatal(err)
	}
	dk, err := keydir.ParseDevice(dev, keydir.RoleMember, "Sam's phone")
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.AddDevice(admin.keys, dk, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.c.ApproveJoinRequest(ctx, hh, rid, l); err != nil {
		t.Fatal(err)
	}
	if s, err := sam.JoinStatus(ctx, key, rid); err != nil || s != "approved" {
		t.Fatalf("after the admin's approval the request is %q (%v)", s, err)
	}
	st, err = member.VerifiedChain(ctx, admin.c, hh, admin.genesis)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := st.Devices[phone.ID()]; !ok || got.Name != "Sam's phone" {
		t.Errorf("Sam's phone is not in the chain after the approval: %+v", got)
	}
}

// TestDemoJoin: 'vigil demo' join flow in two phone-sized browsers. A opens
// the demo link (an admin device) and makes an invite in the household's
// settings; B opens the invite, sees the household and who invited it,
// signs up in place (QR code, key one tap away, TOTP), asks to join and
// shows a code; A sees the waiting banner on home and the same code in
// settings, and approves; B lands on the household's home with the camera,
// a device of the chain. The request stays pending until A approves (the
// demo declines nothing of it).
func TestDemoJoin(t *testing.T) {
	dir := t.TempDir()
	d, link := startDemo(t, cli.DemoOptions{Data: dir, NoDetect: true})
	var res struct {
		Household     string            `json:"household"`
		InviteLink    string            `json:"inviteLink"`
		ShownHH       string            `json:"shownHousehold"`
		ShownBy       string            `json:"shownInviter"`
		InviterDevice string            `json:"inviterDevice"`
		QRModules     int               `json:"qrModules"`
		Code          string            `json:"code"`
		AdminCode     string            `json:"adminCode"`
		Banner        string            `json:"banner"`
		PendingChecks int               `json:"pendingChecks"`
		StateAtReview string            `json:"stateAtReview"`
		Landed        string            `json:"landed"`
		Camera        bool              `json:"camera"`
		InHousehold   []string          `json:"inHousehold"`
		Overflow      map[string]int    `json:"overflow"`
		Small         map[string]string `json:"small"`
		Axe           map[string]string `json:"axe"`
	}
	browsertest.Run(t, 4*time.Minute, "demo-join.mjs", map[string]string{"DEMO_URL": link}, &res)
	if res.Household != d.HouseholdID {
		t.Fatalf("the admin browser opened %q, the demo household is %q", res.Household, d.HouseholdID)
	}
	if u, err := url.Parse(res.InviteLink); err != nil || !strings.HasPrefix(u.Path, "/join/") || !strings.Contains(u.Fragment, "s=") {
		t.Errorf("invite link %q", res.InviteLink)
	}
	if res.ShownHH != "Demo home" || res.ShownBy == "" || res.ShownBy != res.InviterDevice {
		t.Errorf("the invite page says %q invited to %q; want the admin browser %q and \"Demo home\"", res.ShownBy, res.ShownHH, res.InviterDevice)
	}
	if res.QRModules < 21 {
		t.Errorf("sign-up showed no authenticator QR code (%d modules)", res.QRModules)
	}
	if len(res.Code) != 7 || res.Code != res.AdminCode {
		t.Errorf("the new phone shows %q, the admin's settings %q", res.Code, res.AdminCode)
	}
	if !strings.Contains(res.Banner, "Sam") {
		t.Errorf("home's waiting banner says %q, want the waiting device's name", res.Banner)
	}
	if res.StateAtReview != "waiting" || res.PendingChecks < 1 {
		t.Errorf("while the admin reviewed, the new phone was %q after %d checks: the request must stay pending until approved", res.StateAtReview, res.PendingChecks)
	}
	if res.Landed != "/h/"+d.HouseholdID || !res.Camera {
		t.Errorf("after the approval the new phone is on %q (camera shown: %v)", res.Landed, res.Camera)
	}
	if len(res.InHousehold) != 1 || res.InHousehold[0] != "Demo home" {
		t.Errorf("the new phone's device page lists households %q, want Demo home", res.InHousehold)
	}
	for page, w := range res.Overflow {
		if w > 0 {
			t.Errorf("%s is %d px wider than the 390 px screen", page, w)
		}
	}
	for page, v := range res.Small {
		if v != "" {
			t.Errorf("%s has controls under 44x44 px: %s", page, v)
		}
	}
	for page, v := range res.Axe {
		if v != "" {
			t.Errorf("axe on %s: %s", page, v)
		}
	}

	// The chain the admin device verifies has the new phone.
	admin := loadDemoAdmin(t, dir, d)
	st, err := member.VerifiedChain(context.Background(), admin.c, d.HouseholdID, admin.genesis)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, dev := range st.Devices {
		found = found || dev.Name == "Sam's phone"
	}
	if !found {
		t.Error("the household's chain has no \"Sam's phone\"")
	}
}
