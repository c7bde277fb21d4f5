// Package storetest is the conformance suite of what store.Store holds
// beyond any one domain's storage interface, and the helpers that every
// suite of the cloud's store shares.
//
// The domains own the suites of their Store interfaces (each a subset of
// store.Store): accounts/accountstest, households/householdstest,
// objects/objectstest, events/eventstest, shares/sharestest,
// retention/retentiontest and passkeys/passkeystest. Every method of
// store.Store is in some domain's interface; Run covers what spans them:
// the EphemeralStore that several domains share, Cameras and Usage after
// DeleteObject (the objects domain's and retention's), and Isolation,
// which checks that one household's rows never appear in another's
// results, across the methods of every domain. A store passes all of these
// suites; internal/cloud/store runs each of them over SQLite and over
// PostgreSQL.
//
// Where store.go leaves a choice open, the suites accept either answer:
// deleting a missing row may return nil or ErrNotFound; the order of
// Cameras is not checked. Times used by the suites have microsecond
// precision, so a backend that keeps microseconds passes.
//
// Run pins down these readings of store.go: list methods answer an unknown
// household with an empty result and no error; ephemeral entries expire by
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
		{"CamerasUsageDelete", testCamerasUsageDelete},
		{"Isolation", testIsolation},
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

		// Device IDs are global; each reads back with its own household.
		for _, d := range c.me.devices {
			got, err := s.Device(ctx, d.ID)
			OK(t, err, "Device")
			Same(t, "Device "+d.ID+" of "+id, got, d)
		}

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
