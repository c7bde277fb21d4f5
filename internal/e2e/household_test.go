package e2e

import (
	"context"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/cloud"
	"vigil/internal/cloud/store"
	"vigil/internal/history"
	"vigil/internal/hubd"
	"vigil/internal/keydir"
)

// signedRecorder stands in for the cloud's own recorder (which would
// record every access in the household's history, in the log) and keeps
// only the changes recorded with a signed household action.
type signedRecorder struct {
	mu sync.Mutex
	as []store.Access
}

func (r *signedRecorder) Record(ctx context.Context, a store.Access) error {
	if a.Signed != nil {
		r.mu.Lock()
		r.as = append(r.as, a)
		r.mu.Unlock()
	}
	return nil
}

// TestHouseholdPages: in Chromium on a phone (390x844, touch), sign up
// with password and TOTP, create a household (recovery phrase confirmed),
// and on its settings page pair a Go hub with its code, make an invite link
// (copied to the clipboard, shown as a QR code, naming the household and
// the inviting device in its fragment), enrol a second phone by approval
// (both show the same code), remove it (a new epoch), choose how long the
// cloud keeps recordings and make and delete invites — each signed by the
// browser's admin device key, recorded with that signature, which verifies
// in Go — and read sign-in errors. The same account in a browser that is
// no device of the household is told it cannot change anything. Every page
// of the flow fits 360, 390 and 430 px screens with 44 px controls and no
// serious accessibility problem; the settings page's first screen is in
// plain words. The cloud's stored chain is then checked with the Go
// verifier.
func TestHouseholdPages(t *testing.T) {
	rec := &signedRecorder{}
	c := startCloud(t, func(o *cloud.Options) { o.Access = rec })

	// A hub in pairing mode shows its code; the browser enters it.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	codes := make(chan string, 1)
	type pairResult struct {
		p   *hubd.Paired
		err error
	}
	paired := make(chan pairResult, 1)
	go func() {
		p, err := hubd.Pair(ctx, t.TempDir(), hubd.PairOptions{Cloud: c.url, Name: "garage hub", Poll: 100 * time.Millisecond,
			ShowCode: func(code string) { codes <- code }})
		paired <- pairResult{p, err}
	}()
	var code string
	select {
	case code = <-codes:
	case r := <-paired:
		t.Fatalf("the hub stopped before showing a code: %v", r.err)
	case <-ctx.Done():
		t.Fatal("the hub never showed a code")
	}

	type retention struct {
		QuotaBytes    int64 `json:"quota_bytes"`
		MaxAgeSeconds int64 `json:"max_age_seconds"`
	}
	var res struct {
		Layout, Axe                              []string
		Measured                                 map[string]int
		ListPath                                 string
		Listed                                   []struct{ Name, Href, Settings string }
		NavEmail, Household, SettingsPath, Title string
		H1                                       []string
		Epoch0, ThisDevice, ThisDeviceRole       string
		FirstScreen                              string
		PhraseGroups, PhraseShownAfter, Asked    int
		PhraseError                              string
		Hubs                                     []string
		InviteFragment                           struct {
			S        bool
			G, N, By string
		}
		GenesisShown, InviteValid          string
		InviteReadonly, ClipboardHoldsLink bool
		QR                                 struct {
			Role, Label string
			Modules     int
			Width       float64
		}
		JoinHousehold, JoinInviter, JoinRequest     string
		WaitingVisible                              bool
		CodeA, CodeB, BThisDevice, BThisDeviceRole  string
		BDeviceID, BobRow                           string
		DevicesBefore, DevicesAfter, ThisMarkers    []string
		EpochBefore, EpochAfter, BAfter, BAfterRole string
		HistorySummary, HistoryPlain                string
		RetentionWhere, RetentionUsage              string
		RetentionChoices                            []struct {
			Value   string
			InLabel bool
			Label   string
		}
		SettingsBefore, SettingsAfter            retention
		SettingsElsewhere                        retention
		CheckedAfterReload                       string
		SigninError, OnlyHouseholdPath, BackPath string
		InviteID, Invite2, RetentionSaved        string
		InvitesAfterDelete                       []string
		ElsewhereThisDevice                      string
		ElsewhereSettings, ElsewhereInvite       string
	}
	browsertest.Run(t, 5*time.Minute, "household.mjs", map[string]string{"BASE_URL": c.url, "PAIR_CODE": code}, &res)

	r := <-paired
	if r.err != nil {
		t.Fatalf("hub pairing: %v", r.err)
	}
	if r.p.HouseholdID != res.Household {
		t.Errorf("hub paired with %q, the browser made %q", r.p.HouseholdID, res.Household)
	}

	// Phone first: every page of the flow fits the screen, with 44 px
	// controls and no serious accessibility problem.
	for _, p := range res.Layout {
		t.Errorf("layout: %s", p)
	}
	for _, p := range res.Axe {
		t.Errorf("accessibility: %s", p)
	}
	// The measure saw the controls (a selector or visibility slip would
	// pass every page with nothing measured).
	for name, least := range map[string]int{"households (none yet)": 1, "create a household": 3, "recovery phrase": 1,
		"settings (invite made, a device waiting)": 15, "settings (not a device)": 8, "households (two)": 3} {
		if res.Measured[name] < least {
			t.Errorf("layout of %q: %d controls measured, want at least %d (%v)", name, res.Measured[name], least, res.Measured)
		}
	}

	if res.NavEmail != "alice@example.com" || res.Title != "Maple Street" {
		t.Errorf("nav e-mail %q, household name %q", res.NavEmail, res.Title)
	}
	if want := "/h/" + res.Household + "/settings"; res.SettingsPath != want || len(res.H1) != 1 {
		t.Errorf("settings page at %q (want %q) with headings %q (want one h1)", res.SettingsPath, want, res.H1)
	}
	if res.PhraseShownAfter != 0 || res.Asked != 3 || res.PhraseGroups < 4 {
		t.Errorf("recovery phrase: still shown %d, asked %d groups of %d", res.PhraseShownAfter, res.Asked, res.PhraseGroups)
	}
	if !strings.Contains(res.PhraseError, "does not match") {
		t.Errorf("a wrong group was not refused: %q", res.PhraseError)
	}
	if res.Epoch0 != "1" || res.ThisDeviceRole != "admin" || !strings.Contains(res.ThisDevice, "Alice phone") {
		t.Errorf("new household: epoch %q, this device %q (%s)", res.Epoch0, res.ThisDevice, res.ThisDeviceRole)
	}
	// The first screen of the settings page: no protocol words, no IDs.
	low := strings.ToLower(res.FirstScreen)
	for _, w := range []string{"ciphertext", "genesis", "chain", "epoch", "segment", strings.ToLower(res.Household)} {
		if strings.Contains(low, w) {
			t.Errorf("the settings page's first screen says %q: %s", w, res.FirstScreen)
		}
	}
	if len(res.Hubs) != 1 || !strings.Contains(res.Hubs[0], "garage hub") {
		t.Errorf("hubs on the page: %q", res.Hubs)
	}

	// The invite: its fragment carries the secret, the genesis hash, the
	// household's and the inviting device's names; copied, and a QR code.
	f := res.InviteFragment
	if !f.S || len(f.G) != 64 || f.G != strings.TrimSpace(res.GenesisShown) || f.N != "Maple Street" || f.By != "Alice phone" {
		t.Errorf("the invite link's fragment: %+v (genesis shown %q)", f, res.GenesisShown)
	}
	if !res.InviteReadonly || !res.ClipboardHoldsLink {
		t.Errorf("invite link: read-only %v; Copy put it on the clipboard: %v", res.InviteReadonly, res.ClipboardHoldsLink)
	}
	if res.QR.Role != "img" || res.QR.Label == "" || res.QR.Modules < 21 || res.QR.Width < 150 {
		t.Errorf("the invite's QR code: %+v", res.QR)
	}
	if !strings.HasPrefix(res.InviteValid, "Works once, until ") {
		t.Errorf("the invite says %q", res.InviteValid)
	}
	// The join page shows the household and the inviter from the fragment
	// (when it has the fields for them).
	if res.JoinHousehold != "" && !strings.Contains(res.JoinHousehold, "Maple Street") {
		t.Errorf("the join page names the household %q", res.JoinHousehold)
	}
	if res.JoinInviter != "" && !strings.Contains(res.JoinInviter, "Alice phone") {
		t.Errorf("the join page names the inviter %q", res.JoinInviter)
	}

	if len(res.CodeA) != 7 || res.CodeA != res.CodeB {
		t.Errorf("verification codes: admin %q, new browser %q", res.CodeA, res.CodeB)
	}
	if !res.WaitingVisible || !strings.Contains(res.JoinRequest, "Bob phone") || !strings.Contains(res.JoinRequest, "bob@example.com") ||
		!strings.Contains(res.JoinRequest, "Check that the new device shows the same code") {
		t.Errorf("the waiting device (shown %v): %q", res.WaitingVisible, res.JoinRequest)
	}
	if res.BThisDeviceRole != "member" || !strings.Contains(res.BThisDevice, "Bob phone") {
		t.Errorf("the approved browser says %q (%s)", res.BThisDevice, res.BThisDeviceRole)
	}
	if len(res.DevicesBefore) != 2 || len(res.DevicesAfter) != 1 || res.EpochBefore != "1" || res.EpochAfter != "2" {
		t.Errorf("removal: devices %q -> %q, epoch %q -> %q", res.DevicesBefore, res.DevicesAfter, res.EpochBefore, res.EpochAfter)
	}
	if !strings.Contains(res.BobRow, "Bob phone") || !strings.Contains(res.BobRow, "Phone") || !strings.Contains(res.BobRow, "Can watch") || strings.Contains(res.BobRow, res.BDeviceID) {
		t.Errorf("Bob's device row: %q", res.BobRow)
	}
	if len(res.ThisMarkers) != 1 || res.ThisMarkers[0] == res.BDeviceID {
		t.Errorf("devices marked as this device: %q", res.ThisMarkers)
	}
	if res.BAfterRole != "none" || !strings.Contains(res.BAfter, "not a device") {
		t.Errorf("the removed browser says %q (%s)", res.BAfter, res.BAfterRole)
	}
	if !strings.HasPrefix(res.HistorySummary, "verified: Verified up to record") || !strings.Contains(res.HistoryPlain, "in order") {
		t.Errorf("the settings page's history summary says %q (plainly: %q)", res.HistorySummary, res.HistoryPlain)
	}
	if !strings.Contains(res.SigninError, "password") && !strings.Contains(res.SigninError, "code") {
		t.Errorf("sign-in error %q does not say what failed", res.SigninError)
	}
	if want := "/h/" + res.Household; res.OnlyHouseholdPath != want || res.BackPath == "/" {
		t.Errorf("with one household / went to %q (want %q); Back went to %q", res.OnlyHouseholdPath, want, res.BackPath)
	}

	// Two households: / lists them, each with its home and its settings.
	listed := map[string]bool{}
	for _, l := range res.Listed {
		if !strings.HasPrefix(l.Href, "/h/") || l.Settings != l.Href+"/settings" {
			t.Errorf("households list entry %+v", l)
		}
		listed[l.Name] = true
	}
	if res.ListPath != "/" || len(res.Listed) != 2 || !listed["Maple Street"] || !listed["Cabin"] {
		t.Errorf("with two households / (at %q) lists %+v", res.ListPath, res.Listed)
	}

	// Retention: which copy it governs, what is used, presets as radios.
	if !strings.Contains(res.RetentionWhere, "cloud") || !strings.Contains(res.RetentionWhere, "hub") {
		t.Errorf("retention does not say which copy it applies to: %q", res.RetentionWhere)
	}
	if !strings.HasPrefix(res.RetentionUsage, "Space used in the cloud: ") || !strings.Contains(res.RetentionUsage, "B of ") {
		t.Errorf("retention usage: %q", res.RetentionUsage)
	}
	values := map[string]bool{}
	for _, ch := range res.RetentionChoices {
		values[ch.Value] = true
		if !ch.InLabel {
			t.Errorf("retention choice %q is not in a label.check", ch.Value)
		}
	}
	for _, v := range []string{"86400", "604800", "2592000", "7776000", "0"} {
		if !values[v] {
			t.Errorf("no retention preset %s s among %+v", v, res.RetentionChoices)
		}
	}
	if res.SettingsBefore != (retention{}) || res.SettingsAfter != (retention{QuotaBytes: 2e9, MaxAgeSeconds: 7 * 86400}) || res.CheckedAfterReload != "604800" {
		t.Errorf("retention: the cloud returned %+v, then %+v after choosing 7 days and 2 GB; checked after a reload: %q",
			res.SettingsBefore, res.SettingsAfter, res.CheckedAfterReload)
	}

	// The chain the cloud holds verifies in Go: the hub, Bob's device added
	// then removed, epoch 2.
	links, err := c.st.Links(context.Background(), res.Household, 0)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([][]byte, len(links))
	for i, l := range links {
		raw[i] = l.Data
	}
	st, err := keydir.Verify(raw, keydir.GenesisHash(raw[0]))
	if err != nil {
		t.Fatalf("the browser-built chain does not verify in Go: %v", err)
	}
	if st.Epoch != 2 || len(st.Hubs()) != 1 || st.Hubs()[0].Name != "garage hub" {
		t.Errorf("Go state: epoch %d, hubs %+v", st.Epoch, st.Hubs())
	}
	if got := hex.EncodeToString(st.GenesisHash); got != f.G {
		t.Errorf("the invite link's genesis %s, the chain's %s", f.G, got)
	}
	if _, ok := st.Devices[res.BDeviceID]; ok {
		t.Errorf("the removed device %s is still in the chain", res.BDeviceID)
	}
	if len(links) != 4 { // genesis, hub, Bob's device, removal
		t.Errorf("chain has %d links, want 4", len(links))
	}

	// The signed changes: recorded with the browser's signature, which Go
	// verifies against the chain; the settings took effect.
	if res.RetentionSaved != "Saved." {
		t.Errorf("retention save said %q", res.RetentionSaved)
	}
	if len(res.InvitesAfterDelete) != 1 || res.InvitesAfterDelete[0] != res.InviteID {
		t.Errorf("invites after deleting %s: %q, want only %s", res.Invite2, res.InvitesAfterDelete, res.InviteID)
	}
	rec.mu.Lock()
	changes := append([]store.Access(nil), rec.as...)
	rec.mu.Unlock()
	want := map[string]string{"settings.set": "", "invite.create": res.InviteID + " " + res.Invite2, "invite.delete": res.Invite2}
	got := map[string]string{}
	for _, a := range changes {
		s := history.Signed{Device: a.Signed.Device, Body: a.Signed.Body, Sig: a.Signed.Sig}
		act, err := history.VerifySigned(s, st, res.Household)
		if err != nil || act.Action != a.Action {
			t.Errorf("recorded %s: the browser's signed action does not verify in Go: %v", a.Action, err)
		}
		if d := st.Devices[s.Device]; d.Role != keydir.RoleAdmin {
			t.Errorf("recorded %s: signed by %s, not the admin browser", a.Action, s.Device)
		}
		got[a.Action] = strings.TrimSpace(got[a.Action] + " " + a.Object)
	}
	for action, objects := range want {
		if got[action] != objects {
			t.Errorf("recorded %s for %q, want %q", action, got[action], objects)
		}
	}
	ret, err := c.st.Retention(context.Background(), res.Household)
	if err != nil || ret.QuotaBytes != 2e9 || ret.MaxAge != 7*24*time.Hour || ret.Signed == nil {
		t.Errorf("retention after the browser's change: %+v %v", ret, err)
	}

	// Elsewhere, the admin account alone changes nothing.
	const notAdmin = "Only an admin device of this household can change this, and this browser is not one."
	if !strings.Contains(res.ElsewhereThisDevice, "not a device") || !strings.Contains(res.ElsewhereSettings, notAdmin) || !strings.Contains(res.ElsewhereInvite, notAdmin) {
		t.Errorf("a browser that is no device: %q; settings %q; invite %q", res.ElsewhereThisDevice, res.ElsewhereSettings, res.ElsewhereInvite)
	}
	if res.SettingsElsewhere != res.SettingsAfter {
		t.Errorf("the cloud's settings changed from elsewhere: %+v, were %+v", res.SettingsElsewhere, res.SettingsAfter)
	}
}
