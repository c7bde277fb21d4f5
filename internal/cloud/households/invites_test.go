package households_test

import (
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"vigil/internal/cloud/households"
	"vigil/internal/cloud/store"
	"vigil/internal/history"
	"vigil/internal/keydir"
)

// newKey returns a fresh invite key.
func newKey() []byte {
	k := make([]byte, history.InviteKeySize)
	rand.Read(k)
	return k
}

// invites is joining by approval over one store shared by two Services:
// an invite made on one is joined, followed and approved through either.
func invites(t *testing.T, open func(*testing.T, func() time.Time) store.Store) {
	t.Run("JoinedThroughTheOtherReplica", func(t *testing.T) {
		e := newEnv(t, open)
		hh := e.household("home")
		ctx := t.Context()
		key := newKey()
		id := history.InviteIDForKey(key)
		params := history.InviteParams{Invite: id, Role: store.RoleMember, Expires: e.clock.Now().Add(time.Hour).Truncate(time.Millisecond)}
		a, sa, err := e.a.CheckAction(ctx, hh.h, e.sign(hh.admin, hh.h.ID, params), history.ActionInviteCreate)
		if err != nil {
			t.Fatalf("CheckAction: %v", err)
		}
		var recorded []string
		record := func(object string) error { recorded = append(recorded, object); return nil }
		in, err := e.a.CreateInvite(ctx, hh.h, "a-home", a, sa, record)
		if err != nil {
			t.Fatalf("CreateInvite: %v", err)
		}
		if in.ID != id || in.HouseholdID != hh.h.ID || in.Role != store.RoleMember || in.CreatedBy != "a-home" || !in.Expires.Equal(params.Expires) {
			t.Errorf("CreateInvite = %+v; want invite %s of %s for a member, by a-home, expiring %v", in, id, hh.h.ID, params.Expires)
		}
		if !slices.Equal(recorded, []string{id}) {
			t.Errorf("recorded %v; want the invite's ID once", recorded)
		}
		// The other replica sees it, and refuses its ID again.
		list, err := e.b.Invites(ctx, hh.h.ID)
		if err != nil || len(list) != 1 || list[0] != in {
			t.Errorf("Invites on the other replica = %+v, %v; want the invite", list, err)
		}
		got, h, err := e.b.InviteFor(ctx, key)
		if err != nil || got != in || h.ID != hh.h.ID || h.Name != "home" {
			t.Errorf("InviteFor on the other replica = %+v, %+v, %v; want the invite and its household", got, h, err)
		}
		a2, sa2, err := e.b.CheckAction(ctx, hh.h, e.sign(hh.admin, hh.h.ID, params), history.ActionInviteCreate)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.b.CreateInvite(ctx, hh.h, "a-home", a2, sa2, record)
		wantKind(t, "the same invite ID on the other replica", err, households.Conflict, "invite ID "+id+" is taken")

		// A device joins through the other replica.
		dev, err := keydir.NewDeviceKeys()
		if err != nil {
			t.Fatal(err)
		}
		if err := e.st.CreateAccount(ctx, store.Account{ID: "a-bob", Email: "bob@example.test", Created: e.clock.Now()}); err != nil {
			t.Fatal(err)
		}
		join := households.Join{AccountID: "a-bob", Email: "bob@example.test", Device: keydir.EncodeDevice(dev), Name: " phone ", Proof: make([]byte, 32)}
		_, err = e.b.RequestJoin(ctx, key, households.Join{AccountID: "a-bob", Device: join.Device, Name: " ", Proof: join.Proof})
		wantKind(t, "a blank name", err, households.Invalid, "name: this device's name")
		_, err = e.b.RequestJoin(ctx, newKey(), join)
		wantKind(t, "an unknown invite", err, households.Missing, "this invite is unknown or has expired")
		// The ID alone, or any key but the invite's, opens nothing: the
		// Service keeps the ID, a hash of the key, and finds invites only
		// from keys.
		for _, k := range [][]byte{[]byte(id), key[:31], newKey()} {
			if _, _, err := e.b.InviteFor(ctx, k); kind(err) != households.Invalid && kind(err) != households.Missing {
				t.Errorf("InviteFor(%x): %v; want the invite refused", k, err)
			}
			if _, err := e.b.RequestJoin(ctx, k, join); kind(err) != households.Invalid && kind(err) != households.Missing {
				t.Errorf("RequestJoin(%x): %v; want the invite refused", k, err)
			}
		}
		q, err := e.b.RequestJoin(ctx, key, join)
		if err != nil {
			t.Fatalf("RequestJoin: %v", err)
		}
		if q.Status != households.JoinPending || q.HouseholdID != hh.h.ID || q.DeviceID != dev.ID() || q.Name != "phone" || q.Role != store.RoleMember {
			t.Errorf("RequestJoin = %+v; want a pending request of %s for device %s named phone", q, hh.h.ID, dev.ID())
		}
		e.mu.Lock()
		told := slices.Clone(e.joins[e.b])
		e.mu.Unlock()
		if !slices.Equal(told, []string{hh.h.ID}) {
			t.Errorf("OnJoinRequest was told %v; want %s once", told, hh.h.ID)
		}
		pending, err := e.a.JoinRequests(ctx, hh.h.ID)
		if err != nil || len(pending) != 1 || pending[0].ID != q.ID {
			t.Fatalf("JoinRequests on the first replica = %+v, %v; want the request", pending, err)
		}
		if _, err := e.a.JoinRequestOf(ctx, key, q.ID, "a-home"); kind(err) != households.NotFound {
			t.Errorf("another account following the request: %v; want NotFound", err)
		}

		// A link adding another device does not approve it.
		other, err := keydir.NewDeviceKeys()
		if err != nil {
			t.Fatal(err)
		}
		wrong, err := hh.st.AddDevice(hh.admin, other.Public(keydir.RoleMember, "other"), e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.a.ApproveJoin(ctx, hh.h, q.ID, wrong)
		wantKind(t, "a link adding another device", err, households.Refused, "does not add the requesting device")
		link, err := hh.st.AddDevice(hh.admin, dev.Public(keydir.RoleMember, "phone"), e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		ap, err := e.a.ApproveJoin(ctx, hh.h, q.ID, link)
		if err != nil {
			t.Fatalf("ApproveJoin: %v", err)
		}
		if ap.Request.ID != q.ID || ap.Role != store.RoleMember || ap.Seq != 1 {
			t.Errorf("ApproveJoin = %+v; want request %s approved as a member at seq 1", ap, q.ID)
		}
		if m, err := e.st.Member(ctx, hh.h.ID, "a-bob"); err != nil || m.Role != store.RoleMember {
			t.Errorf("bob's membership = %+v, %v; want a member", m, err)
		}
		if st, err := e.b.FreshState(ctx, hh.h); err != nil || st.Devices[dev.ID()].ID != dev.ID() {
			t.Errorf("the other replica's chain lacks the device: %v", err)
		}
		got2, err := e.b.JoinRequestOf(ctx, key, q.ID, "a-bob")
		if err != nil || got2.Status != households.JoinApproved {
			t.Errorf("JoinRequestOf on the other replica = %+v, %v; want approved", got2, err)
		}
		_, err = e.b.ApproveJoin(ctx, hh.h, q.ID, link)
		wantKind(t, "approved twice", err, households.NotFound, "not found")
		_, err = e.b.RequestJoin(ctx, key, join)
		wantKind(t, "a used invite", err, households.Used, "this invite has been used")
		// The used invite stays only for the grace period.
		e.clock.Add(households.UsedInviteGrace)
		_, _, err = e.a.InviteFor(ctx, key)
		wantKind(t, "a used invite past its grace", err, households.Missing, "unknown or has expired")
	})

	t.Run("DeclineAndDelete", func(t *testing.T) {
		e := newEnv(t, open)
		hh := e.household("home")
		ctx := t.Context()
		key := newKey()
		id := history.InviteIDForKey(key)
		a, sa, err := e.a.CheckAction(ctx, hh.h, e.sign(hh.admin, hh.h.ID, history.InviteParams{Invite: id, Role: store.RoleAdmin,
			Expires: e.clock.Now().Add(time.Hour).Truncate(time.Millisecond)}), history.ActionInviteCreate)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.a.CreateInvite(ctx, hh.h, "a-home", a, sa, func(string) error { return nil }); err != nil {
			t.Fatal(err)
		}
		dev, err := keydir.NewDeviceKeys()
		if err != nil {
			t.Fatal(err)
		}
		q, err := e.a.RequestJoin(ctx, key, households.Join{AccountID: "a-home", Device: keydir.EncodeDevice(dev), Name: "tablet", Proof: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.b.DeclineJoin(ctx, hh.h.ID, q.ID); err != nil {
			t.Fatalf("DeclineJoin on the other replica: %v", err)
		}
		wantKind(t, "declined twice", e.a.DeclineJoin(ctx, hh.h.ID, q.ID), households.NotFound, "not found")
		if pending, err := e.a.JoinRequests(ctx, hh.h.ID); err != nil || len(pending) != 0 {
			t.Errorf("JoinRequests after declining = %+v, %v; want none", pending, err)
		}
		del := func(svc *households.Service, signed, path string) error {
			a, _, err := svc.CheckAction(ctx, hh.h, e.sign(hh.admin, hh.h.ID, history.InviteDeleteParams{Invite: signed}), history.ActionInviteDelete)
			if err != nil {
				t.Fatal(err)
			}
			return svc.DeleteInvite(ctx, hh.h, path, a, func(string) error { return nil })
		}
		otherKey := make([]byte, 32)
		rand.Read(otherKey)
		other := history.InviteIDForKey(otherKey) // an invite nobody made
		wantKind(t, "a delete signed for another invite", del(e.b, other, id), households.Invalid, "the signed action deletes invite "+other+", not "+id)
		wantKind(t, "deleting an unknown invite", del(e.b, other, other), households.NotFound, "not found")
		if err := del(e.b, id, id); err != nil {
			t.Fatalf("DeleteInvite on the other replica: %v", err)
		}
		_, _, err = e.a.InviteFor(ctx, key)
		wantKind(t, "a deleted invite", err, households.Missing, "unknown or has expired")
		if list, err := e.a.Invites(ctx, hh.h.ID); err != nil || len(list) != 0 {
			t.Errorf("Invites after deleting = %+v, %v; want none", list, err)
		}
	})
}
