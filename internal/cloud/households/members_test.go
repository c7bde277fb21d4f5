package households_test

import (
	"slices"
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
	ret, err := set(history.SettingsParams{QuotaBytes: 1 << 30, MaxAgeSeconds: 7 * 24 * 3600})
	if err != nil || ret.QuotaBytes != 1<<30 || ret.MaxAge != 7*24*time.Hour {
		t.Fatalf("SetRetention = %+v, %v; want 1 GiB for a week", ret, err)
	}
	got, err := e.st.Retention(ctx, hh.h.ID)
	if err != nil || got.QuotaBytes != 1<<30 || got.Signed == nil || got.Signed.Device != hh.admin.ID() {
		t.Errorf("stored retention = %+v, %v; want the settings with the admin device's signed action", got, err)
	}
	e.mu.Lock()
	sets := slices.Clone(e.sets[e.a])
	e.mu.Unlock()
	if !slices.Equal(sets, []string{hh.h.ID}) {
		t.Errorf("OnSettings was told %v; want %s once", sets, hh.h.ID)
	}
}
