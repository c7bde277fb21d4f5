package householdstest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/cloud/households"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
	"vigil/internal/history"
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
		{"CreateHouseholdAtomic", testCreateHouseholdAtomic},
		{"Households", testHouseholds},
		{"Devices", testDevices},
		{"Pairing", testPairing},
		{"Retention", testRetention},
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

// testCreateHouseholdAtomic: a refused CreateHousehold stores nothing of
// the household, as Household, Member, Links and Households see it.
func testCreateHouseholdAtomic(t *testing.T, s Store) {
	ctx := t.Context()
	h, g := storetest.MkHousehold(t, s, "hh-1", "ann")
	storetest.MkAccount(t, s, "bob")

	// A duplicate household ID: nothing of the second attempt is stored.
	other := store.Household{ID: h.ID, Name: "Impostor", GenesisHash: storetest.Sum("other"), Created: storetest.At(2 * time.Hour)}
	err := s.CreateHousehold(ctx, other,
		store.Member{HouseholdID: h.ID, AccountID: "bob", Role: store.RoleAdmin, Created: storetest.At(2 * time.Hour)},
		store.Link{HouseholdID: h.ID, Seq: 0, Hash: storetest.Sum("other"), Data: []byte("other genesis"), Created: storetest.At(2 * time.Hour)})
	storetest.IsErr(t, err, store.ErrExists, "CreateHousehold with a taken ID")
	gotH, err := s.Household(ctx, h.ID)
	storetest.OK(t, err, "Household")
	storetest.Same(t, "Household after refused duplicate", gotH, h)
	_, err = s.Member(ctx, h.ID, "bob")
	storetest.IsErr(t, err, store.ErrNotFound, "admin of the refused duplicate")
	links, err := s.Links(ctx, h.ID, 0)
	storetest.OK(t, err, "Links")
	storetest.Same(t, "Links after refused duplicate", links, []store.Link{g})
	hs, err := s.Households(ctx, "bob")
	storetest.OK(t, err, "Households")
	if len(hs) != 0 {
		t.Errorf("Households(bob) after refused duplicate = %v, want none", hs)
	}

	// A genesis link that is not Seq 0: refused, nothing stored.
	bad := store.Household{ID: "hh-2", Name: "Bad genesis", GenesisHash: storetest.Sum("bad"), Created: storetest.At(0)}
	err = s.CreateHousehold(ctx, bad,
		store.Member{HouseholdID: bad.ID, AccountID: "bob", Role: store.RoleAdmin, Created: storetest.At(0)},
		store.Link{HouseholdID: bad.ID, Seq: 1, Hash: storetest.Sum("bad"), Data: []byte("bad"), Created: storetest.At(0)})
	if err == nil {
		t.Fatal("CreateHousehold with a genesis link of Seq 1 succeeded")
	}
	_, err = s.Household(ctx, bad.ID)
	storetest.IsErr(t, err, store.ErrNotFound, "Household refused for its genesis")
	_, err = s.Member(ctx, bad.ID, "bob")
	storetest.IsErr(t, err, store.ErrNotFound, "admin of a household refused for its genesis")
	links, err = s.Links(ctx, bad.ID, 0)
	storetest.OK(t, err, "Links")
	if len(links) != 0 {
		t.Errorf("Links of a refused household = %d links, want none", len(links))
	}

	// An admin account that does not exist: a backend need not refuse it,
	// but if it does, it must refuse the whole household.
	orphan := store.Household{ID: "hh-3", Name: "No admin", GenesisHash: storetest.Sum("g3"), Created: storetest.At(0)}
	err = s.CreateHousehold(ctx, orphan,
		store.Member{HouseholdID: orphan.ID, AccountID: "nobody", Role: store.RoleAdmin, Created: storetest.At(0)},
		store.Link{HouseholdID: orphan.ID, Seq: 0, Hash: storetest.Sum("g3"), Data: []byte("g3"), Created: storetest.At(0)})
	if err != nil {
		_, err = s.Household(ctx, orphan.ID)
		storetest.IsErr(t, err, store.ErrNotFound, "Household whose admin account was refused")
		links, err = s.Links(ctx, orphan.ID, 0)
		storetest.OK(t, err, "Links")
		if len(links) != 0 {
			t.Errorf("Links of a household whose admin was refused = %d links, want none", len(links))
		}
	}
}

// testHouseholds: Households lists the households an account is a member
// of, whatever its role, and nothing for an account in none or no account.
func testHouseholds(t *testing.T, s Store) {
	ctx := t.Context()
	h1, _ := storetest.MkHousehold(t, s, "hh-1", "ann")
	h2, _ := storetest.MkHousehold(t, s, "hh-2", "bob")
	h3, _ := storetest.MkHousehold(t, s, "hh-3", "bob")
	storetest.MkAccount(t, s, "carl")
	storetest.OK(t, s.PutMember(ctx, store.Member{HouseholdID: h2.ID, AccountID: "ann", Role: store.RoleMember, Created: storetest.At(0)}), "PutMember")

	byID := func(a, b store.Household) int { return strings.Compare(a.ID, b.ID) }
	for _, c := range []struct {
		account string
		want    []store.Household
	}{
		{"ann", []store.Household{h1, h2}},
		{"bob", []store.Household{h2, h3}},
		{"carl", nil},
		{"nobody", nil},
	} {
		got, err := s.Households(ctx, c.account)
		storetest.OK(t, err, "Households "+c.account)
		slices.SortFunc(got, byID)
		storetest.Same(t, "Households("+c.account+")", got, c.want)
	}
}

// testDevices: PutDevice inserts or replaces by ID, Device reads one
// device.
func testDevices(t *testing.T, s Store) {
	ctx := t.Context()
	h, _ := storetest.MkHousehold(t, s, "hh-1", "ann")
	hub := store.Device{ID: "dev-hub", HouseholdID: h.ID, Kind: "hub", SignPub: storetest.Sum("hub key"), Created: storetest.At(0).In(storetest.Elsewhere)}
	phone := store.Device{ID: "dev-phone", HouseholdID: h.ID, Kind: "client", SignPub: storetest.Sum("phone key"), Created: storetest.At(time.Second)}
	storetest.OK(t, s.PutDevice(ctx, hub), "PutDevice hub")
	storetest.OK(t, s.PutDevice(ctx, phone), "PutDevice phone")
	got, err := s.Device(ctx, hub.ID)
	storetest.OK(t, err, "Device")
	storetest.Same(t, "Device", got, hub)

	hub.SignPub = storetest.Sum("rotated hub key")
	hub.Created = storetest.At(time.Hour)
	storetest.OK(t, s.PutDevice(ctx, hub), "PutDevice replace")
	got, err = s.Device(ctx, hub.ID)
	storetest.OK(t, err, "Device")
	storetest.Same(t, "Device after replace", got, hub)
	got, err = s.Device(ctx, phone.ID)
	storetest.OK(t, err, "Device")
	storetest.Same(t, "Device beside a replaced one", got, phone)

	_, err = s.Device(ctx, "dev-missing")
	storetest.IsErr(t, err, store.ErrNotFound, "Device of a missing ID")
}

// testPairing: the pairing relay's rendezvous, step by step: a taken ID
// and a message out of turn are refused and change nothing.
func testPairing(t *testing.T, s Store) {
	ctx := t.Context()
	n := storetest.Now()
	p := store.Pairing{ID: "pair-1", Msgs: [][]byte{[]byte("hub hello")}, Created: n.In(storetest.Elsewhere), Expires: n.Add(10 * time.Minute)}
	storetest.OK(t, s.CreatePairing(ctx, p), "CreatePairing")
	got, err := s.Pairing(ctx, p.ID)
	storetest.OK(t, err, "Pairing")
	storetest.Same(t, "Pairing", got, p)
	storetest.IsErr(t, s.CreatePairing(ctx, store.Pairing{ID: p.ID, Msgs: [][]byte{[]byte("second hub")}, Created: n, Expires: n.Add(time.Minute)}),
		store.ErrExists, "CreatePairing with a taken ID")
	got, err = s.Pairing(ctx, p.ID)
	storetest.OK(t, err, "Pairing")
	storetest.Same(t, "Pairing after refused duplicate", got, p)

	storetest.IsErr(t, s.AppendPairingMsg(ctx, p.ID, 0, []byte("again"), ""), store.ErrConflict, "AppendPairingMsg of a taken step")
	storetest.IsErr(t, s.AppendPairingMsg(ctx, p.ID, 2, []byte("early"), ""), store.ErrConflict, "AppendPairingMsg ahead of its turn")
	storetest.OK(t, s.AppendPairingMsg(ctx, p.ID, 1, []byte("member reply"), "hh-1"), "AppendPairingMsg 1")
	p.Msgs = append(p.Msgs, []byte("member reply"))
	p.HouseholdID = "hh-1"
	got, err = s.Pairing(ctx, p.ID)
	storetest.OK(t, err, "Pairing")
	storetest.Same(t, "Pairing after step 1", got, p)

	// An empty household ID keeps the recorded one.
	storetest.OK(t, s.AppendPairingMsg(ctx, p.ID, 2, []byte("hub confirm"), ""), "AppendPairingMsg 2")
	p.Msgs = append(p.Msgs, []byte("hub confirm"))
	storetest.IsErr(t, s.AppendPairingMsg(ctx, p.ID, 2, []byte("replay"), ""), store.ErrConflict, "AppendPairingMsg replayed")
	got, err = s.Pairing(ctx, p.ID)
	storetest.OK(t, err, "Pairing")
	storetest.Same(t, "Pairing after step 2", got, p)

	_, err = s.Pairing(ctx, "pair-missing")
	storetest.IsErr(t, err, store.ErrNotFound, "Pairing of a missing ID")
	storetest.IsErr(t, s.AppendPairingMsg(ctx, "pair-missing", 1, []byte("x"), ""), store.ErrNotFound, "AppendPairingMsg to a missing pairing")
}

// testRetention: SetRetention round-trips per household, sets the
// household's quota, and refuses an unknown household. retention's Index
// reads the same settings with Retention.
func testRetention(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.MkHousehold(t, s, "hh-1", "ann")
	storetest.MkHousehold(t, s, "hh-2", "bob")
	want := store.Retention{QuotaBytes: 5 << 30, MaxAge: 30 * 24 * time.Hour}
	storetest.OK(t, s.SetRetention(ctx, "hh-1", want), "SetRetention")
	got, err := s.Retention(ctx, "hh-1")
	storetest.OK(t, err, "Retention")
	storetest.Same(t, "Retention", got, want)
	h, err := s.Household(ctx, "hh-1")
	storetest.OK(t, err, "Household")
	if h.QuotaBytes != want.QuotaBytes {
		t.Errorf("Household.QuotaBytes = %d after SetRetention, want %d", h.QuotaBytes, want.QuotaBytes)
	}
	other, err := s.Retention(ctx, "hh-2")
	storetest.OK(t, err, "Retention hh-2")
	if other.MaxAge != 0 {
		t.Errorf("hh-2 max age = %v, want 0 (set only on hh-1)", other.MaxAge)
	}
	// The signed action the settings came from is kept with them, and
	// replaced (or dropped) by the next SetRetention.
	signed := store.Retention{QuotaBytes: 1 << 30, Signed: &history.Signed{Device: "dadmin", Body: []byte(`{"v":1}`), Sig: storetest.Sum("sig")}}
	storetest.OK(t, s.SetRetention(ctx, "hh-1", signed), "SetRetention signed")
	got, err = s.Retention(ctx, "hh-1")
	storetest.OK(t, err, "Retention")
	storetest.Same(t, "Retention with its signed action", got, signed)
	other, err = s.Retention(ctx, "hh-2")
	storetest.OK(t, err, "Retention hh-2")
	if other.Signed != nil {
		t.Errorf("hh-2 has the signed action of hh-1: %+v", other.Signed)
	}
	storetest.OK(t, s.SetRetention(ctx, "hh-1", store.Retention{}), "SetRetention back to defaults")
	got, err = s.Retention(ctx, "hh-1")
	storetest.OK(t, err, "Retention")
	storetest.Same(t, "Retention after reset", got, store.Retention{})
	storetest.IsErr(t, s.SetRetention(ctx, "hh-missing", want), store.ErrNotFound, "SetRetention of a missing household")
	_, err = s.Retention(ctx, "hh-missing")
	storetest.IsErr(t, err, store.ErrNotFound, "Retention of a missing household")
}
