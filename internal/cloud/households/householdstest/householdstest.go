package householdstest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"vigil/internal/cloud/households"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
)

// Store is what the suite needs: the households domain's Store, and beside
// it the writes that make its fixtures, which other domains own:
// CreateAccount for the accounts that are members, PutObject and
// DeleteObject for the objects UploadedSince sums.
type Store interface {
	households.Store
	CreateAccount(ctx context.Context, a store.Account) error
	PutObject(ctx context.Context, o store.Object) (created bool, err error)
	DeleteObject(ctx context.Context, householdID, key string) error
}

// Run runs the suite. newStore returns a new, empty store for each subtest and
// closes it when the subtest ends (t.Cleanup). Subtests do not run in
// parallel.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"CreateHousehold", testCreateHousehold},
		{"Members", testMembers},
		{"AppendLink", testAppendLink},
		{"AppendLinkRace", testAppendLinkRace},
		{"PairingRace", testPairingRace},
		{"PairingExpiry", testPairingExpiry},
		{"MemberList", testMemberList},
		{"UploadedSince", testUploadedSince},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func testCreateHousehold(t *testing.T, s Store) {
	ctx := t.Context()
	a := storetest.MkAccount(t, s, "ann")
	h := store.Household{ID: "hh-1", Name: "Home", GenesisHash: storetest.Sum("genesis"), QuotaBytes: 10 << 30, Created: storetest.At(time.Hour).In(storetest.Elsewhere)}
	m := store.Member{HouseholdID: h.ID, AccountID: a.ID, Role: store.RoleAdmin, Created: storetest.At(time.Hour)}
	g := store.Link{HouseholdID: h.ID, Seq: 0, Hash: storetest.Sum("genesis"), Data: []byte("signed genesis"), Created: storetest.At(time.Hour)}
	storetest.OK(t, s.CreateHousehold(ctx, h, m, g), "CreateHousehold")

	gotH, err := s.Household(ctx, h.ID)
	storetest.OK(t, err, "Household")
	storetest.Same(t, "Household", gotH, h)
	gotM, err := s.Member(ctx, h.ID, a.ID)
	storetest.OK(t, err, "Member")
	storetest.Same(t, "first admin", gotM, m)
	links, err := s.Links(ctx, h.ID, 0)
	storetest.OK(t, err, "Links")
	storetest.Same(t, "Links after CreateHousehold", links, []store.Link{g})

	// Quota 0 (the service default) round-trips.
	h0 := store.Household{ID: "hh-0", Name: "Default quota", GenesisHash: storetest.Sum("g0"), Created: storetest.At(0)}
	storetest.OK(t, s.CreateHousehold(ctx, h0, store.Member{HouseholdID: h0.ID, AccountID: a.ID, Role: store.RoleAdmin, Created: storetest.At(0)},
		store.Link{HouseholdID: h0.ID, Hash: storetest.Sum("g0"), Data: []byte("g0"), Created: storetest.At(0)}), "CreateHousehold")
	gotH, err = s.Household(ctx, h0.ID)
	storetest.OK(t, err, "Household")
	storetest.Same(t, "Household with default quota", gotH, h0)

	_, err = s.Household(ctx, "hh-missing")
	storetest.IsErr(t, err, store.ErrNotFound, "Household of a missing ID")
}

func testMembers(t *testing.T, s Store) {
	ctx := t.Context()
	h, _ := storetest.MkHousehold(t, s, "hh-1", "ann")
	storetest.MkHousehold(t, s, "hh-2", "carl")
	storetest.MkAccount(t, s, "bob")
	m := store.Member{HouseholdID: h.ID, AccountID: "bob", Role: store.RoleMember, Created: storetest.At(3 * time.Hour).In(storetest.Elsewhere)}
	storetest.OK(t, s.PutMember(ctx, m), "PutMember")
	got, err := s.Member(ctx, h.ID, "bob")
	storetest.OK(t, err, "Member")
	storetest.Same(t, "Member", got, m)

	m.Role = store.RoleAdmin
	storetest.OK(t, s.PutMember(ctx, m), "PutMember again")
	got, err = s.Member(ctx, h.ID, "bob")
	storetest.OK(t, err, "Member")
	if got.Role != store.RoleAdmin {
		t.Errorf("role after PutMember update = %q, want %q", got.Role, store.RoleAdmin)
	}
	m.Role = store.RoleMember
	storetest.OK(t, s.PutMember(ctx, m), "PutMember demote")
	got, err = s.Member(ctx, h.ID, "bob")
	storetest.OK(t, err, "Member")
	if got.Role != store.RoleMember {
		t.Errorf("role after demotion = %q, want %q", got.Role, store.RoleMember)
	}

	_, err = s.Member(ctx, h.ID, "carl")
	storetest.IsErr(t, err, store.ErrNotFound, "Member of an account in another household")
	_, err = s.Member(ctx, "hh-2", "bob")
	storetest.IsErr(t, err, store.ErrNotFound, "Member of a household the account is not in")
	_, err = s.Member(ctx, "hh-missing", "ann")
	storetest.IsErr(t, err, store.ErrNotFound, "Member of a missing household")
}

func testAppendLink(t *testing.T, s Store) {
	ctx := t.Context()
	h, g := storetest.MkHousehold(t, s, "hh-1", "ann")
	l1, l2, l3 := storetest.Link(h.ID, 1, "one"), storetest.Link(h.ID, 2, "two"), storetest.Link(h.ID, 3, "three")
	l1.Created = l1.Created.In(storetest.Elsewhere)
	storetest.OK(t, s.AppendLink(ctx, l1), "AppendLink 1")
	storetest.OK(t, s.AppendLink(ctx, l2), "AppendLink 2")
	storetest.IsErr(t, s.AppendLink(ctx, storetest.Link(h.ID, 4, "gap")), store.ErrConflict, "AppendLink with a gap")
	storetest.IsErr(t, s.AppendLink(ctx, storetest.Link(h.ID, 2, "dup")), store.ErrConflict, "AppendLink of a taken seq")
	storetest.IsErr(t, s.AppendLink(ctx, storetest.Link(h.ID, 0, "genesis again")), store.ErrConflict, "AppendLink of seq 0")
	storetest.IsErr(t, s.AppendLink(ctx, storetest.Link(h.ID, -1, "negative")), store.ErrConflict, "AppendLink of seq -1")
	storetest.OK(t, s.AppendLink(ctx, l3), "AppendLink 3")

	got, err := s.Links(ctx, h.ID, 0)
	storetest.OK(t, err, "Links")
	storetest.Same(t, "Links from 0", got, []store.Link{g, l1, l2, l3})
	got, err = s.Links(ctx, h.ID, 2)
	storetest.OK(t, err, "Links")
	storetest.Same(t, "Links from 2", got, []store.Link{l2, l3})
	got, err = s.Links(ctx, h.ID, 4)
	storetest.OK(t, err, "Links")
	storetest.Same(t, "Links from past the head", got, []store.Link(nil))
	got, err = s.Links(ctx, "hh-missing", 0)
	storetest.OK(t, err, "Links of a missing household")
	storetest.Same(t, "Links of a missing household", got, []store.Link(nil))

	err = s.AppendLink(ctx, storetest.Link("hh-missing", 1, "orphan"))
	if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
		t.Errorf("AppendLink to a missing household: got %v, want ErrNotFound or ErrConflict", err)
	}
}

func testAppendLinkRace(t *testing.T, s Store) {
	ctx := t.Context()
	h, g := storetest.MkHousehold(t, s, "hh-1", "ann")
	want := []store.Link{g}
	for seq := int64(1); seq <= 3; seq++ {
		errs := storetest.Race(func(i int) error {
			return s.AppendLink(ctx, storetest.Link(h.ID, seq, fmt.Sprintf("admin %d at %d", i, seq)))
		})
		w := storetest.OneWinner(t, fmt.Sprintf("AppendLink seq %d", seq), errs)
		want = append(want, storetest.Link(h.ID, seq, fmt.Sprintf("admin %d at %d", w, seq)))
	}
	got, err := s.Links(ctx, h.ID, 0)
	storetest.OK(t, err, "Links")
	storetest.Same(t, "Links after races", got, want)
}

func testPairingRace(t *testing.T, s Store) {
	ctx := t.Context()
	n := storetest.Now()
	p := store.Pairing{ID: "pair-1", Msgs: [][]byte{[]byte("hub hello")}, Created: n, Expires: n.Add(10 * time.Minute)}
	storetest.OK(t, s.CreatePairing(ctx, p), "CreatePairing")
	for step := 1; step <= 2; step++ {
		errs := storetest.Race(func(i int) error {
			return s.AppendPairingMsg(ctx, p.ID, step, fmt.Appendf(nil, "racer %d step %d", i, step), fmt.Sprintf("hh-%d", i))
		})
		w := storetest.OneWinner(t, fmt.Sprintf("AppendPairingMsg step %d", step), errs)
		p.Msgs = append(p.Msgs, fmt.Appendf(nil, "racer %d step %d", w, step))
		p.HouseholdID = fmt.Sprintf("hh-%d", w)
	}
	got, err := s.Pairing(ctx, p.ID)
	storetest.OK(t, err, "Pairing")
	storetest.Same(t, "Pairing after races", got, p)
}

func testPairingExpiry(t *testing.T, s Store) {
	ctx := t.Context()
	n := storetest.Now()
	old := store.Pairing{ID: "pair-1", Msgs: [][]byte{[]byte("old hub"), []byte("old member")}, HouseholdID: "hh-old",
		Created: n.Add(-time.Hour), Expires: n.Add(-time.Second)}
	storetest.OK(t, s.CreatePairing(ctx, old), "CreatePairing already expired")
	_, err := s.Pairing(ctx, old.ID)
	storetest.IsErr(t, err, store.ErrNotFound, "Pairing of an expired pairing")
	storetest.IsErr(t, s.AppendPairingMsg(ctx, old.ID, 2, []byte("late"), ""), store.ErrNotFound, "AppendPairingMsg to an expired pairing")

	// The ID of an expired pairing is free again, and nothing of the old
	// rendezvous shows through.
	fresh := store.Pairing{ID: old.ID, Msgs: [][]byte{[]byte("new hub")}, Created: n, Expires: n.Add(10 * time.Minute)}
	storetest.OK(t, s.CreatePairing(ctx, fresh), "CreatePairing over an expired pairing")
	got, err := s.Pairing(ctx, fresh.ID)
	storetest.OK(t, err, "Pairing")
	storetest.Same(t, "Pairing created over an expired one", got, fresh)
	storetest.OK(t, s.AppendPairingMsg(ctx, fresh.ID, 1, []byte("member"), "hh-new"), "AppendPairingMsg step 1")
}

// testMemberList: Members lists one household's members oldest first, and
// DeleteMember removes exactly one membership.
func testMemberList(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.MkHousehold(t, s, "hh-1", "ann")
	storetest.MkHousehold(t, s, "hh-2", "carl")
	storetest.MkAccount(t, s, "bob")
	bob := store.Member{HouseholdID: "hh-1", AccountID: "bob", Role: store.RoleMember, Created: storetest.At(3 * time.Hour)}
	storetest.OK(t, s.PutMember(ctx, bob), "PutMember bob")
	storetest.OK(t, s.PutMember(ctx, store.Member{HouseholdID: "hh-2", AccountID: "bob", Role: store.RoleAdmin, Created: storetest.At(4 * time.Hour)}), "PutMember bob hh-2")

	ms, err := s.Members(ctx, "hh-1")
	storetest.OK(t, err, "Members")
	if len(ms) != 2 || ms[0].AccountID != "ann" || ms[0].Role != store.RoleAdmin || ms[1].AccountID != "bob" {
		t.Fatalf("Members(hh-1) = %+v, want ann (admin) then bob", ms)
	}
	storetest.Same(t, "Members row", ms[1], bob)
	ms, err = s.Members(ctx, "hh-missing")
	storetest.OK(t, err, "Members of a missing household")
	if len(ms) != 0 {
		t.Errorf("Members(hh-missing) = %+v, want none", ms)
	}

	storetest.OK(t, s.DeleteMember(ctx, "hh-1", "bob"), "DeleteMember")
	_, err = s.Member(ctx, "hh-1", "bob")
	storetest.IsErr(t, err, store.ErrNotFound, "Member after DeleteMember")
	if _, err := s.Member(ctx, "hh-2", "bob"); err != nil {
		t.Errorf("DeleteMember in hh-1 removed bob from hh-2: %v", err)
	}
	storetest.IsErr(t, s.DeleteMember(ctx, "hh-1", "bob"), store.ErrNotFound, "DeleteMember again")
	storetest.IsErr(t, s.DeleteMember(ctx, "hh-1", "carl"), store.ErrNotFound, "DeleteMember of another household's member")
}

// testUploadedSince: UploadedSince sums the sizes of one household's
// objects created at or after the time (the boundary included), forgets
// deleted objects, and answers 0 for an empty or unknown household.
func testUploadedSince(t *testing.T, s Store) {
	ctx := t.Context()
	h, _ := storetest.MkHousehold(t, s, "hh-1", "ann")
	o, _ := storetest.MkHousehold(t, s, "hh-2", "bob")
	objs := []store.Object{
		storetest.Object(h.ID, "old", "front", 0, time.Second),                 // created at(2s)
		storetest.Object(h.ID, "edge", "front", 9*time.Second, 10*time.Second), // created at(11s)
		storetest.Object(h.ID, "new", "back", 20*time.Second, 21*time.Second),  // created at(22s)
		storetest.Object(o.ID, "other", "front", 20*time.Second, 21*time.Second),
	}
	objs[2].Size = 1 << 40 // sums are 64-bit
	for _, x := range objs {
		_, err := s.PutObject(ctx, x)
		storetest.OK(t, err, "PutObject")
	}
	since := func(hh string, from time.Time, want int64) {
		t.Helper()
		got, err := s.UploadedSince(ctx, hh, from)
		storetest.OK(t, err, "UploadedSince")
		if got != want {
			t.Errorf("UploadedSince(%s, %s) = %d, want %d", hh, from.Sub(storetest.Base), got, want)
		}
	}
	since(h.ID, time.Time{}, objs[0].Size+objs[1].Size+objs[2].Size)
	since(h.ID, storetest.At(11*time.Second), objs[1].Size+objs[2].Size)
	since(h.ID, storetest.At(11*time.Second+time.Microsecond), objs[2].Size)
	since(h.ID, storetest.At(time.Minute), 0)
	since(o.ID, storetest.At(11*time.Second), objs[3].Size)
	since("hh-missing", time.Time{}, 0)
	storetest.OK(t, s.DeleteObject(ctx, h.ID, objs[2].Key), "DeleteObject")
	since(h.ID, storetest.At(11*time.Second), objs[1].Size)
}
