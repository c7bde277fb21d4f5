// Package storetest is the conformance suite of what store.Store holds
// beyond the domains' storage interfaces, and the helpers that every suite
// of the cloud's store shares.
//
// The domains own the suites of their Store interfaces (each a subset of
// store.Store): accounts/accountstest, households/householdstest,
// objects/objectstest, events/eventstest, shares/sharestest,
// retention/retentiontest and passkeys/passkeystest. Run covers the rest:
// the methods no domain's interface declares (Devices, DeletePairing),
// CreateHousehold's atomicity, Households, Retention, the EphemeralStore
// that several domains share, and Isolation, which checks that one
// household's rows never appear in another's results, across the methods
// of every domain. A store passes all of these suites; internal/cloud/store
// runs each of them over SQLite and over PostgreSQL.
//
// Where store.go leaves a choice open, the suites accept either answer:
// deleting a missing row may return nil or ErrNotFound; the order of
// Households, Devices and Cameras is not checked; a CreateHousehold whose
// admin account does not exist may be refused (then atomically) or not.
// Times used by the suites have microsecond precision, so a backend that
// keeps microseconds passes.
//
// Run pins down these readings of store.go: list methods answer an unknown
// household with an empty result and no error; a deleted pairing's ID can
// be created again, without its old messages; ephemeral entries expire by
// the caller's clock, at their expiry exactly.
//
// OpenSQLite and OpenPostgres open a fresh store for a test; the other
// exported names are the suites' shared clocks, assertions and fixtures.
package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/cloud/store"
)

// Run runs the suite. newStore returns a new, empty store for each subtest;
// Run closes it when the subtest ends. Subtests do not run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"CreateHouseholdAtomic", testCreateHouseholdAtomic},
		{"Households", testHouseholds},
		{"Devices", testDevices},
		{"CamerasUsageDelete", testCamerasUsageDelete},
		{"Pairing", testPairing},
		{"Isolation", testIsolation},
		{"Retention", testRetention},
		{"Ephemeral", testEphemeral},
		{"EphemeralExpiry", testEphemeralExpiry},
		{"EphemeralUpdate", testEphemeralUpdate},
		{"EphemeralTakeRace", testEphemeralTakeRace},
		{"EphemeralPutRace", testEphemeralPutRace},
		{"EphemeralUpdateRace", testEphemeralUpdateRace},
		{"EphemeralLimiter", testEphemeralLimiter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// --- households ---

// testCreateHouseholdAtomic: a refused CreateHousehold stores nothing of
// the household. It is here, not in householdstest, because it looks for
// leftovers with Households, which households.Store does not declare.
func testCreateHouseholdAtomic(t *testing.T, s store.Store) {
	ctx := t.Context()
	h, g := MkHousehold(t, s, "hh-1", "ann")
	MkAccount(t, s, "bob")

	// A duplicate household ID: nothing of the second attempt is stored.
	other := store.Household{ID: h.ID, Name: "Impostor", GenesisHash: Sum("other"), Created: At(2 * time.Hour)}
	err := s.CreateHousehold(ctx, other,
		store.Member{HouseholdID: h.ID, AccountID: "bob", Role: store.RoleAdmin, Created: At(2 * time.Hour)},
		store.Link{HouseholdID: h.ID, Seq: 0, Hash: Sum("other"), Data: []byte("other genesis"), Created: At(2 * time.Hour)})
	IsErr(t, err, store.ErrExists, "CreateHousehold with a taken ID")
	gotH, err := s.Household(ctx, h.ID)
	OK(t, err, "Household")
	Same(t, "Household after refused duplicate", gotH, h)
	_, err = s.Member(ctx, h.ID, "bob")
	IsErr(t, err, store.ErrNotFound, "admin of the refused duplicate")
	links, err := s.Links(ctx, h.ID, 0)
	OK(t, err, "Links")
	Same(t, "Links after refused duplicate", links, []store.Link{g})
	hs, err := s.Households(ctx, "bob")
	OK(t, err, "Households")
	if len(hs) != 0 {
		t.Errorf("Households(bob) after refused duplicate = %v, want none", hs)
	}

	// A genesis link that is not Seq 0: refused, nothing stored.
	bad := store.Household{ID: "hh-2", Name: "Bad genesis", GenesisHash: Sum("bad"), Created: At(0)}
	err = s.CreateHousehold(ctx, bad,
		store.Member{HouseholdID: bad.ID, AccountID: "bob", Role: store.RoleAdmin, Created: At(0)},
		store.Link{HouseholdID: bad.ID, Seq: 1, Hash: Sum("bad"), Data: []byte("bad"), Created: At(0)})
	if err == nil {
		t.Fatal("CreateHousehold with a genesis link of Seq 1 succeeded")
	}
	_, err = s.Household(ctx, bad.ID)
	IsErr(t, err, store.ErrNotFound, "Household refused for its genesis")
	_, err = s.Member(ctx, bad.ID, "bob")
	IsErr(t, err, store.ErrNotFound, "admin of a household refused for its genesis")
	links, err = s.Links(ctx, bad.ID, 0)
	OK(t, err, "Links")
	if len(links) != 0 {
		t.Errorf("Links of a refused household = %d links, want none", len(links))
	}

	// An admin account that does not exist: a backend need not refuse it,
	// but if it does, it must refuse the whole household.
	orphan := store.Household{ID: "hh-3", Name: "No admin", GenesisHash: Sum("g3"), Created: At(0)}
	err = s.CreateHousehold(ctx, orphan,
		store.Member{HouseholdID: orphan.ID, AccountID: "nobody", Role: store.RoleAdmin, Created: At(0)},
		store.Link{HouseholdID: orphan.ID, Seq: 0, Hash: Sum("g3"), Data: []byte("g3"), Created: At(0)})
	if err != nil {
		_, err = s.Household(ctx, orphan.ID)
		IsErr(t, err, store.ErrNotFound, "Household whose admin account was refused")
		links, err = s.Links(ctx, orphan.ID, 0)
		OK(t, err, "Links")
		if len(links) != 0 {
			t.Errorf("Links of a household whose admin was refused = %d links, want none", len(links))
		}
	}
}

// testHouseholds: Households lists an account's households. The HTTP
// layer calls it on store.Store; no domain's Store declares it.
func testHouseholds(t *testing.T, s store.Store) {
	ctx := t.Context()
	h1, _ := MkHousehold(t, s, "hh-1", "ann")
	h2, _ := MkHousehold(t, s, "hh-2", "bob")
	h3, _ := MkHousehold(t, s, "hh-3", "bob")
	MkAccount(t, s, "carl")
	OK(t, s.PutMember(ctx, store.Member{HouseholdID: h2.ID, AccountID: "ann", Role: store.RoleMember, Created: At(0)}), "PutMember")

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
		OK(t, err, "Households "+c.account)
		slices.SortFunc(got, byID)
		Same(t, "Households("+c.account+")", got, c.want)
	}
}

// --- devices ---

// testDevices: PutDevice inserts or replaces, Device and Devices read.
// Devices is in no domain's Store (households.Store has PutDevice and
// Device only).
func testDevices(t *testing.T, s store.Store) {
	ctx := t.Context()
	h, _ := MkHousehold(t, s, "hh-1", "ann")
	hub := store.Device{ID: "dev-hub", HouseholdID: h.ID, Kind: "hub", SignPub: Sum("hub key"), Created: At(0).In(Elsewhere)}
	phone := store.Device{ID: "dev-phone", HouseholdID: h.ID, Kind: "client", SignPub: Sum("phone key"), Created: At(time.Second)}
	OK(t, s.PutDevice(ctx, hub), "PutDevice hub")
	OK(t, s.PutDevice(ctx, phone), "PutDevice phone")
	got, err := s.Device(ctx, hub.ID)
	OK(t, err, "Device")
	Same(t, "Device", got, hub)

	hub.SignPub = Sum("rotated hub key")
	hub.Created = At(time.Hour)
	OK(t, s.PutDevice(ctx, hub), "PutDevice replace")
	got, err = s.Device(ctx, hub.ID)
	OK(t, err, "Device")
	Same(t, "Device after replace", got, hub)

	list, err := s.Devices(ctx, h.ID)
	OK(t, err, "Devices")
	slices.SortFunc(list, func(a, b store.Device) int { return strings.Compare(a.ID, b.ID) })
	Same(t, "Devices", list, []store.Device{hub, phone})

	_, err = s.Device(ctx, "dev-missing")
	IsErr(t, err, store.ErrNotFound, "Device of a missing ID")
	list, err = s.Devices(ctx, "hh-missing")
	OK(t, err, "Devices of a missing household")
	Same(t, "Devices of a missing household", list, []store.Device(nil))
}

// --- objects ---

// testCamerasUsageDelete spans two domains: Cameras (the objects domain's)
// follows DeleteObject and Usage (retention's Index).
func testCamerasUsageDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	h, _ := MkHousehold(t, s, "hh-1", "ann")
	MkHousehold(t, s, "hh-empty", "ann")
	objs := []store.Object{
		Object(h.ID, "f1", "front", 0, time.Second),
		Object(h.ID, "f2", "front", time.Second, 2*time.Second),
		Object(h.ID, "b1", "back", 0, time.Second),
		Object(h.ID, "g1", "garage door", 0, time.Second),
	}
	objs[3].Size = 1 << 40 // sums are 64-bit
	var total int64
	for _, o := range objs {
		_, err := s.PutObject(ctx, o)
		OK(t, err, "PutObject")
		total += o.Size
	}
	cameras := func(hh string, want ...string) {
		t.Helper()
		got, err := s.Cameras(ctx, hh)
		OK(t, err, "Cameras")
		slices.Sort(got)
		if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
			t.Errorf("Cameras(%s) = %q, want %q", hh, got, want)
		}
	}
	usage := func(hh string, want int64) {
		t.Helper()
		got, err := s.Usage(ctx, hh)
		OK(t, err, "Usage")
		if got != want {
			t.Errorf("Usage(%s) = %d, want %d", hh, got, want)
		}
	}
	cameras(h.ID, "back", "front", "garage door")
	usage(h.ID, total)
	cameras("hh-empty")
	usage("hh-empty", 0)
	usage("hh-missing", 0)

	OK(t, s.DeleteObject(ctx, h.ID, objs[0].Key), "DeleteObject")
	_, err := s.Object(ctx, h.ID, objs[0].Key)
	IsErr(t, err, store.ErrNotFound, "Object after DeleteObject")
	usage(h.ID, total-objs[0].Size)
	cameras(h.ID, "back", "front", "garage door")
	Deleted(t, s.DeleteObject(ctx, h.ID, objs[0].Key), "DeleteObject")
	usage(h.ID, total-objs[0].Size)

	OK(t, s.DeleteObject(ctx, h.ID, objs[1].Key), "DeleteObject")
	cameras(h.ID, "back", "garage door")
	got, err := s.Objects(ctx, store.ObjectFilter{HouseholdID: h.ID})
	SameKeys(t, "Objects after deletes", got, err, "b1", "g1")

	// A deleted key can be indexed again, even with other bytes.
	again := objs[0]
	again.SHA256 = Hash("re-uploaded")
	created, err := s.PutObject(ctx, again)
	OK(t, err, "PutObject after DeleteObject")
	if !created {
		t.Error("PutObject after DeleteObject: created = false")
	}
}

// --- pairings ---

// testPairing: the pairing relay's rendezvous, step by step, and its
// deletion. DeletePairing is in no domain's Store (households.Store lets
// pairings expire), so the test is here; householdstest has the race and
// the expiry.
func testPairing(t *testing.T, s store.Store) {
	ctx := t.Context()
	n := Now()
	p := store.Pairing{ID: "pair-1", Msgs: [][]byte{[]byte("hub hello")}, Created: n.In(Elsewhere), Expires: n.Add(10 * time.Minute)}
	OK(t, s.CreatePairing(ctx, p), "CreatePairing")
	got, err := s.Pairing(ctx, p.ID)
	OK(t, err, "Pairing")
	Same(t, "Pairing", got, p)
	IsErr(t, s.CreatePairing(ctx, store.Pairing{ID: p.ID, Msgs: [][]byte{[]byte("second hub")}, Created: n, Expires: n.Add(time.Minute)}),
		store.ErrExists, "CreatePairing with a taken ID")
	got, err = s.Pairing(ctx, p.ID)
	OK(t, err, "Pairing")
	Same(t, "Pairing after refused duplicate", got, p)

	IsErr(t, s.AppendPairingMsg(ctx, p.ID, 0, []byte("again"), ""), store.ErrConflict, "AppendPairingMsg of a taken step")
	IsErr(t, s.AppendPairingMsg(ctx, p.ID, 2, []byte("early"), ""), store.ErrConflict, "AppendPairingMsg ahead of its turn")
	OK(t, s.AppendPairingMsg(ctx, p.ID, 1, []byte("member reply"), "hh-1"), "AppendPairingMsg 1")
	p.Msgs = append(p.Msgs, []byte("member reply"))
	p.HouseholdID = "hh-1"
	got, err = s.Pairing(ctx, p.ID)
	OK(t, err, "Pairing")
	Same(t, "Pairing after step 1", got, p)

	// An empty household ID keeps the recorded one.
	OK(t, s.AppendPairingMsg(ctx, p.ID, 2, []byte("hub confirm"), ""), "AppendPairingMsg 2")
	p.Msgs = append(p.Msgs, []byte("hub confirm"))
	IsErr(t, s.AppendPairingMsg(ctx, p.ID, 2, []byte("replay"), ""), store.ErrConflict, "AppendPairingMsg replayed")
	got, err = s.Pairing(ctx, p.ID)
	OK(t, err, "Pairing")
	Same(t, "Pairing after step 2", got, p)

	_, err = s.Pairing(ctx, "pair-missing")
	IsErr(t, err, store.ErrNotFound, "Pairing of a missing ID")
	IsErr(t, s.AppendPairingMsg(ctx, "pair-missing", 1, []byte("x"), ""), store.ErrNotFound, "AppendPairingMsg to a missing pairing")

	OK(t, s.DeletePairing(ctx, p.ID), "DeletePairing")
	_, err = s.Pairing(ctx, p.ID)
	IsErr(t, err, store.ErrNotFound, "Pairing after DeletePairing")
	IsErr(t, s.AppendPairingMsg(ctx, p.ID, 3, []byte("late"), ""), store.ErrNotFound, "AppendPairingMsg after DeletePairing")
	Deleted(t, s.DeletePairing(ctx, p.ID), "DeletePairing")

	// A new pairing under a deleted ID starts from its own messages.
	fresh := store.Pairing{ID: p.ID, HouseholdID: "hh-2", Msgs: [][]byte{[]byte("new hub")}, Created: n, Expires: n.Add(time.Minute)}
	OK(t, s.CreatePairing(ctx, fresh), "CreatePairing after DeletePairing")
	got, err = s.Pairing(ctx, p.ID)
	OK(t, err, "Pairing")
	Same(t, "recreated Pairing", got, fresh)
}

// --- isolation ---

// testIsolation fills two households with look-alike rows (same cameras,
// same object key suffixes, same times) and checks that no method answering
// for household A ever returns or changes a row of household B.
func testIsolation(t *testing.T, s store.Store) {
	ctx := t.Context()
	type household struct {
		h       store.Household
		admin   string
		links   []store.Link
		devices []store.Device
		objects []store.Object
	}
	fill := func(id, admin string, extraCamera string) *household {
		hh := &household{admin: admin}
		var g store.Link
		hh.h, g = MkHousehold(t, s, id, admin)
		hh.links = []store.Link{g, Link(id, 1, id+" link 1")}
		OK(t, s.AppendLink(ctx, hh.links[1]), "AppendLink")
		for _, kind := range []string{"hub", "client"} {
			d := store.Device{ID: id + "-" + kind, HouseholdID: id, Kind: kind, SignPub: Sum(id + kind), Created: At(0)}
			OK(t, s.PutDevice(ctx, d), "PutDevice")
			hh.devices = append(hh.devices, d)
		}
		for i, cam := range []string{"front", "front", extraCamera} {
			o := Object(id, fmt.Sprintf("seg-%d", i), cam, time.Duration(i)*time.Second, time.Duration(i+1)*time.Second)
			_, err := s.PutObject(ctx, o)
			OK(t, err, "PutObject")
			hh.objects = append(hh.objects, o)
		}
		return hh
	}
	a := fill("hh-a", "ann", "porch")
	b := fill("hh-b", "bob", "yard")
	// The same blob key in both households is two distinct objects.
	shared := Object("hh-a", "shared", "front", 0, time.Second)
	shared.Key = "shared-key"
	_, err := s.PutObject(ctx, shared)
	OK(t, err, "PutObject shared key in A")
	sharedB := shared
	sharedB.HouseholdID, sharedB.SHA256, sharedB.Camera = "hh-b", Hash("b's bytes"), "yard"
	created, err := s.PutObject(ctx, sharedB)
	OK(t, err, "PutObject shared key in B (another household, other bytes)")
	if !created {
		t.Error("PutObject of B's object under A's key: created = false")
	}
	a.objects = append(a.objects, shared)
	b.objects = append(b.objects, sharedB)

	byKey := func(x, y store.Object) int { return strings.Compare(x.Key, y.Key) }
	for _, c := range []struct{ me, other *household }{{a, b}, {b, a}} {
		id := c.me.h.ID
		hs, err := s.Households(ctx, c.me.admin)
		OK(t, err, "Households")
		Same(t, "Households of "+id+"'s admin", hs, []store.Household{c.me.h})
		_, err = s.Member(ctx, id, c.other.admin)
		IsErr(t, err, store.ErrNotFound, "Member of "+id+" for the other household's admin")

		links, err := s.Links(ctx, id, 0)
		OK(t, err, "Links")
		Same(t, "Links of "+id, links, c.me.links)

		devs, err := s.Devices(ctx, id)
		OK(t, err, "Devices")
		slices.SortFunc(devs, func(x, y store.Device) int { return strings.Compare(x.ID, y.ID) })
		wantDevs := slices.Clone(c.me.devices)
		slices.SortFunc(wantDevs, func(x, y store.Device) int { return strings.Compare(x.ID, y.ID) })
		Same(t, "Devices of "+id, devs, wantDevs)

		objs, err := s.Objects(ctx, store.ObjectFilter{HouseholdID: id})
		OK(t, err, "Objects")
		slices.SortFunc(objs, byKey)
		wantObjs := slices.Clone(c.me.objects)
		slices.SortFunc(wantObjs, byKey)
		Same(t, "Objects of "+id, objs, wantObjs)

		oldest, err := s.OldestObjects(ctx, id, 100)
		OK(t, err, "OldestObjects")
		slices.SortFunc(oldest, byKey)
		Same(t, "OldestObjects of "+id, oldest, wantObjs)

		cams, err := s.Cameras(ctx, id)
		OK(t, err, "Cameras")
		slices.Sort(cams)
		wantCams := []string{}
		for _, o := range c.me.objects {
			wantCams = append(wantCams, o.Camera)
		}
		slices.Sort(wantCams)
		wantCams = slices.Compact(wantCams)
		if !slices.Equal(cams, wantCams) {
			t.Errorf("Cameras of %s = %q, want %q", id, cams, wantCams)
		}

		var total int64
		for _, o := range c.me.objects {
			total += o.Size
		}
		if u, err := s.Usage(ctx, id); err != nil || u != total {
			t.Errorf("Usage of %s = %d, %v; want %d", id, u, err, total)
		}

		// Keys of the other household are not found through this one.
		for _, o := range c.other.objects {
			if o.Key == shared.Key {
				continue
			}
			_, err := s.Object(ctx, id, o.Key)
			IsErr(t, err, store.ErrNotFound, "Object of "+id+" with the other household's key")
		}
		got, err := s.Object(ctx, id, shared.Key)
		OK(t, err, "Object shared key")
		Same(t, "Object shared key in "+id, got, c.me.objects[len(c.me.objects)-1])
	}

	// Writes through A leave B alone.
	OK(t, s.DeleteObject(ctx, "hh-a", shared.Key), "DeleteObject shared key in A")
	got, err := s.Object(ctx, "hh-b", shared.Key)
	OK(t, err, "Object shared key in B after A's delete")
	Same(t, "B's object after A deleted its own", got, sharedB)
	Deleted(t, s.DeleteObject(ctx, "hh-a", b.objects[0].Key), "DeleteObject of B's key through A")
	if _, err := s.Object(ctx, "hh-b", b.objects[0].Key); err != nil {
		t.Errorf("B's object after a delete through A: %v", err)
	}
	OK(t, s.AppendLink(ctx, Link("hh-a", 2, "a2")), "AppendLink to A")
	links, err := s.Links(ctx, "hh-b", 0)
	OK(t, err, "Links")
	Same(t, "B's links after A's append", links, b.links)
}
