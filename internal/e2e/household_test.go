package e2e

import (
	"context"
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

// TestHouseholdPages: in Chromium, sign up with password and TOTP, create a
// household (recovery phrase confirmed), pair a Go hub with its code, enrol
// a second browser by approval (both show the same code), remove it (a new
// epoch), change the retention settings and make and delete invites —
// each signed by the browser's admin device key, recorded with that
// signature, which verifies in Go — and read sign-in errors. The same
// account in a browser that is no device of the household is told it
// cannot change anything. The cloud's stored chain is then checked with
// the Go verifier.
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

	var res struct {
		NavEmail, Household, Title, Epoch0, ThisDevice string
		PhraseGroups, PhraseShownAfter, Asked          int
		PhraseError                                    string
		Hubs                                           []string
		InviteLinkHasFragment                          bool
		CodeA, CodeB, BThisDevice, BDeviceID           string
		DevicesBefore, DevicesAfter                    []string
		EpochBefore, EpochAfter, BAfter                string
		HistorySummary                                 string
		SigninError, SignedInAgain, SharesPath         string
		InviteID, Invite2, RetentionSaved              string
		InvitesAfterDelete                             []string
		ElsewhereThisDevice                            string
		ElsewhereSettings, ElsewhereInvite             string
	}
	browsertest.Run(t, 4*time.Minute, "household.mjs", map[string]string{"BASE_URL": c.url, "PAIR_CODE": code}, &res)

	r := <-paired
	if r.err != nil {
		t.Fatalf("hub pairing: %v", r.err)
	}
	if r.p.HouseholdID != res.Household {
		t.Errorf("hub paired with %q, the browser made %q", r.p.HouseholdID, res.Household)
	}
	if res.NavEmail != "alice@example.com" || res.Title != "Maple Street" {
		t.Errorf("nav e-mail %q, title %q", res.NavEmail, res.Title)
	}
	if res.PhraseShownAfter != 0 || res.Asked != 3 || res.PhraseGroups < 4 {
		t.Errorf("recovery phrase: still shown %d, asked %d groups of %d", res.PhraseShownAfter, res.Asked, res.PhraseGroups)
	}
	if !strings.Contains(res.PhraseError, "does not match") {
		t.Errorf("a wrong group was not refused: %q", res.PhraseError)
	}
	if res.Epoch0 != "1" || !strings.Contains(res.ThisDevice, "admin device") {
		t.Errorf("new household: epoch %q, this device %q", res.Epoch0, res.ThisDevice)
	}
	if len(res.Hubs) != 1 || !strings.Contains(res.Hubs[0], "garage hub") {
		t.Errorf("hubs on the page: %q", res.Hubs)
	}
	if !res.InviteLinkHasFragment {
		t.Errorf("the invite link does not carry the secret and genesis in its fragment")
	}
	if len(res.CodeA) != 7 || res.CodeA != res.CodeB {
		t.Errorf("verification codes: admin %q, new browser %q", res.CodeA, res.CodeB)
	}
	if !strings.Contains(res.BThisDevice, "member device") {
		t.Errorf("the approved browser says %q", res.BThisDevice)
	}
	if len(res.DevicesBefore) != 2 || len(res.DevicesAfter) != 1 || res.EpochBefore != "1" || res.EpochAfter != "2" {
		t.Errorf("removal: devices %q -> %q, epoch %q -> %q", res.DevicesBefore, res.DevicesAfter, res.EpochBefore, res.EpochAfter)
	}
	if !strings.Contains(res.BAfter, "not a device") {
		t.Errorf("the removed browser says %q", res.BAfter)
	}
	if !strings.HasPrefix(res.HistorySummary, "verified: Verified up to record") {
		t.Errorf("the household page's history summary says %q", res.HistorySummary)
	}
	if !strings.Contains(res.SigninError, "password") && !strings.Contains(res.SigninError, "code") {
		t.Errorf("sign-in error %q does not say what failed", res.SigninError)
	}
	if res.SignedInAgain != "Maple Street" {
		t.Errorf("signed in again: %q", res.SignedInAgain)
	}
	if want := "/h/" + res.Household + "/shares"; res.SharesPath != want {
		t.Errorf("the household page's shares link led to %q, want %q", res.SharesPath, want)
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
	const notAdmin = "only an admin device of this household can change this; this browser is not one"
	if !strings.Contains(res.ElsewhereThisDevice, "not a device") || !strings.Contains(res.ElsewhereSettings, notAdmin) || !strings.Contains(res.ElsewhereInvite, notAdmin) {
		t.Errorf("a browser that is no device: %q; settings %q; invite %q", res.ElsewhereThisDevice, res.ElsewhereSettings, res.ElsewhereInvite)
	}
}
