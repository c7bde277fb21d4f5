package households_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/cloud/households"
	"vigil/internal/cloud/store"
	"vigil/internal/history"
)

// members is members' management and retention settings by checked signed
// actions, over one store shared by two Services.
func members(t *testing.T, open func(*testing.T, func() time.Time) store.Store) {
	e := newEnv(t, open)
	hh := e.household("home")
	ctx := t.Context()
	check := func(svc *households.Service, p history.Params) (history.Action, history.Signed) {
		t.Helper()
		a, sa, err := svc.CheckAction(ctx, hh.h, e.sign(hh.admin, hh.h.ID, p), p.ActionName())
		if err != nil {
			t.Fatalf("CheckAction %s: %v", p.ActionName(), err)
		}
		return a, sa
	}
	var recorded []string
	record := func(object string) error { recorded = append(recorded, object); return nil }

	if err := e.st.CreateAccount(ctx, store.Account{ID: "a-bob", Email: "bob@example.test", Created: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	a, sa := check(e.a, history.MemberAddParams{Email: "nobody@example.test", Role: store.RoleMember})
	_, err := e.a.AddMember(ctx, hh.h, a, sa, record)
	wantKind(t, "an unknown address", err, households.Missing, "no account has this e-mail address")
	a, sa = check(e.a, history.MemberAddParams{Email: "bob@example.test", Role: store.RoleMember})
	m, err := e.a.AddMember(ctx, hh.h, a, sa, record)
	if err != nil || m.AccountID != "a-bob" || m.Role != store.RoleMember {
		t.Fatalf("AddMember = %+v, %v; want a-bob as a member", m, err)
	}
	// The other replica sees the new member at once: membership is what
	// every household route is decided by.
	if h, m, err := e.b.Membership(ctx, hh.h.ID, "a-bob"); err != nil || h.ID != hh.h.ID || m.Role != store.RoleMember {
		t.Errorf("Membership of a-bob on the other replica = %s, %+v, %v; want a member of %s", h.ID, m, err, hh.h.ID)
	}
	if _, m, err := e.b.Membership(ctx, hh.h.ID, "a-home"); err != nil || m.Role != store.RoleAdmin {
		t.Errorf("Membership of the admin = %+v, %v; want an admin", m, err)
	}
	if hs, err := e.b.ForAccount(ctx, "a-bob"); err != nil || len(hs) != 1 || hs[0].ID != hh.h.ID {
		t.Errorf("ForAccount(a-bob) = %+v, %v; want %s", hs, err, hh.h.ID)
	}
	_, _, errOutsider := e.a.Membership(ctx, hh.h.ID, "a-nobody")
	wantKind(t, "the membership of an account outside", errOutsider, households.NotFound, "not found")
	for _, id := range []string{"no-such-household", "", strings.Repeat("h", 129)} {
		_, _, err := e.a.Membership(ctx, id, "a-home")
		wantKind(t, "membership of household "+id, err, households.NotFound, "not found")
		if err != nil && errOutsider != nil && err.Error() != errOutsider.Error() {
			t.Errorf("no household answers %q, a household one is not in %q: they must not differ", err, errOutsider)
		}
	}
	ms, err := e.b.Members(ctx, hh.h.ID)
	if err != nil || len(ms) != 2 {
		t.Fatalf("Members on the other replica = %+v, %v; want two", ms, err)
	}
	for _, m := range ms {
		if want := map[string]string{"a-home": "home@example.test", "a-bob": "bob@example.test"}[m.AccountID]; m.Email != want {
			t.Errorf("member %s has e-mail %q; want %q", m.AccountID, m.Email, want)
		}
	}

	// The only admin stays; the signed account must be the one named.
	a, sa = check(e.b, history.MemberRemoveParams{Account: "a-home"})
	wantKind(t, "removing the only admin", e.b.RemoveMember(ctx, hh.h, "a-home", "a-home", a, sa, record),
		households.Conflict, "this is the household's only admin account")
	a, sa = check(e.b, history.MemberRemoveParams{Account: "a-bob"})
	wantKind(t, "a removal signed for another account", e.b.RemoveMember(ctx, hh.h, "a-home", "a-home", a, sa, record),
		households.Invalid, "the signed action removes account a-bob, not a-home")
	a, sa = check(e.b, history.MemberRemoveParams{Account: "a-bob"})
	if err := e.b.RemoveMember(ctx, hh.h, "a-bob", "a-home", a, sa, record); err != nil {
		t.Fatalf("RemoveMember: %v", err)
	}
	a, sa = check(e.a, history.MemberRemoveParams{Account: "a-bob"})
	wantKind(t, "removing a removed member", e.a.RemoveMember(ctx, hh.h, "a-bob", "a-home", a, sa, record), households.NotFound, "not found")
	_, _, err = e.b.Membership(ctx, hh.h.ID, "a-bob")
	wantKind(t, "the membership of a removed member", err, households.NotFound, "not found")
	if hs, err := e.a.ForAccount(ctx, "a-bob"); err != nil || len(hs) != 0 {
		t.Errorf("ForAccount(a-bob) after the removal = %+v, %v; want none", hs, err)
	}
	if want := []string{"a-bob", "a-bob"}; !slices.Equal(recorded, want) {
		t.Errorf("recorded %v; want %v (each change once, nothing refused)", recorded, want)
	}

	// Retention settings.
	const maxQuota = 1 << 40
	set := func(p history.SettingsParams) (store.Retention, error) {
		a, sa := check(e.a, p)
		return e.a.SetRetention(ctx, hh.h, maxQuota, a, sa, func() error { return nil })
	}
	_, err = set(history.SettingsParams{QuotaBytes: maxQuota + 1})
	wantKind(t, "a quota over the service's", err, households.Invalid, "quota_bytes: 0 (the service default) up to")
	_, err = set(history.SettingsParams{MaxAgeSeconds: 60})
	wantKind(t, "an age under the minimum", err, households.Invalid, "max_age_seconds: 0 (no age limit) or at least 3600")
	e.mu.Lock()
	told := len(e.sets[e.a])
	e.mu.Unlock()
	if told != 0 {
		t.Errorf("OnSettings told %d times of refused settings", told)
	}
	if ret, err := e.b.Settings(ctx, hh.h); err != nil || ret.QuotaBytes != 0 || ret.MaxAge != 0 || ret.Signed != nil {
		t.Errorf("Settings before any were set = %+v, %v; want the defaults, unsigned", ret, err)
	}
	_, err = e.b.Settings(ctx, store.Household{ID: "no-such-household"})
	wantKind(t, "the settings of no household", err, households.NotFound, "not found")
	ret, err := set(history.SettingsParams{QuotaBytes: 1 << 30, MaxAgeSeconds: 7 * 24 * 3600})
	if err != nil || ret.QuotaBytes != 1<<30 || ret.MaxAge != 7*24*time.Hour {
		t.Fatalf("SetRetention = %+v, %v; want 1 GiB for a week", ret, err)
	}
	got, err := e.b.Settings(ctx, hh.h)
	if err != nil || got.QuotaBytes != 1<<30 || got.MaxAge != 7*24*time.Hour || got.Signed == nil || got.Signed.Device != hh.admin.ID() {
		t.Errorf("Settings on the other replica = %+v, %v; want the settings with the admin device's signed action", got, err)
	}
	e.mu.Lock()
	sets := slices.Clone(e.sets[e.a])
	e.mu.Unlock()
	if !slices.Equal(sets, []string{hh.h.ID}) {
		t.Errorf("OnSettings was told %v; want %s once", sets, hh.h.ID)
	}
}
