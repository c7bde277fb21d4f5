package households_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"vigil/internal/cloud/households"
	"vigil/internal/cloud/store"
	"vigil/internal/history"
	"vigil/internal/keydir"
)

// sign returns p on household hh signed by k at the test's clock, as a
// request body.
func (e *env) sign(k *keydir.DeviceKeys, hh string, p history.Params) []byte {
	e.t.Helper()
	a, err := history.NewAction(hh, p, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	s, err := history.SignAction(k, a)
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// signedActions is CheckAction's contract over one store shared by two
// Services: a nonce used on one is refused on the other.
func signedActions(t *testing.T, open func(*testing.T, func() time.Time) store.Store) {
	settings := history.SettingsParams{QuotaBytes: 1 << 30, MaxAgeSeconds: 7 * 24 * 3600}

	t.Run("ReplayedOnTheOtherReplica", func(t *testing.T) {
		e := newEnv(t, open)
		hh := e.household("home")
		ctx := t.Context()
		b := e.sign(hh.admin, hh.h.ID, settings)
		a, sa, err := e.a.CheckAction(ctx, hh.h, b, history.ActionSettingsSet)
		if err != nil {
			t.Fatalf("CheckAction: %v", err)
		}
		p, err := a.Settings()
		if err != nil || p != settings || sa.Device != hh.admin.ID() {
			t.Errorf("checked action = %+v (%v) by %s; want %+v by %s", p, err, sa.Device, settings, hh.admin.ID())
		}
		_, _, err = e.b.CheckAction(ctx, hh.h, b, history.ActionSettingsSet)
		wantKind(t, "replayed on the other replica", err, households.Conflict, "this signed action was used already (replayed nonce)")
		_, _, err = e.a.CheckAction(ctx, hh.h, b, history.ActionSettingsSet)
		wantKind(t, "replayed on the same replica", err, households.Conflict, "replayed nonce")
		// A fresh signature of the same change is a new action.
		if _, _, err := e.b.CheckAction(ctx, hh.h, e.sign(hh.admin, hh.h.ID, settings), history.ActionSettingsSet); err != nil {
			t.Errorf("a fresh action on the other replica: %v", err)
		}
	})

	t.Run("Refusals", func(t *testing.T) {
		e := newEnv(t, open)
		hh := e.household("home")
		other := e.household("away")
		ctx := t.Context()
		_, _, err := e.a.CheckAction(ctx, hh.h, []byte(`{"quota_bytes":1}`), history.ActionSettingsSet)
		wantKind(t, "an unsigned body", err, households.Invalid, "household action signed by an admin device")
		_, _, err = e.a.CheckAction(ctx, hh.h, e.sign(hh.admin, hh.h.ID, settings), history.ActionInviteCreate)
		wantKind(t, "another action", err, households.Invalid, `this request takes a signed "invite.create" action, not "settings.set"`)
		stranger, err := keydir.NewDeviceKeys()
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = e.b.CheckAction(ctx, hh.h, e.sign(stranger, hh.h.ID, settings), history.ActionSettingsSet)
		wantKind(t, "a device not in the chain", err, households.Forbidden, "only an admin device of this household can sign this change")
		_, _, err = e.b.CheckAction(ctx, hh.h, e.sign(other.admin, hh.h.ID, settings), history.ActionSettingsSet)
		wantKind(t, "another household's admin", err, households.Forbidden, "only an admin device of this household")
		_, _, err = e.b.CheckAction(ctx, hh.h, e.sign(hh.admin, other.h.ID, settings), history.ActionSettingsSet)
		wantKind(t, "an action for another household", err, households.Forbidden, "for another household")
		old := e.sign(hh.admin, hh.h.ID, settings)
		e.clock.Add(history.ActionSkew + time.Second)
		_, _, err = e.a.CheckAction(ctx, hh.h, old, history.ActionSettingsSet)
		wantKind(t, "an action older than the skew", err, households.Unauthenticated, "")
		sa, err := history.ParseSigned(e.sign(hh.admin, hh.h.ID, settings))
		if err != nil {
			t.Fatal(err)
		}
		sa.Sig[0] ^= 1
		tampered, err := json.Marshal(sa)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = e.a.CheckAction(ctx, hh.h, tampered, history.ActionSettingsSet)
		wantKind(t, "a tampered signature", err, households.Unauthenticated, "")
	})

	t.Run("NonceBound", func(t *testing.T) {
		e := newEnv(t, open)
		hh := e.household("home")
		ctx := t.Context()
		for i := range households.MaxActionNonces {
			svc := e.a
			if i%2 == 1 {
				svc = e.b
			}
			if _, _, err := svc.CheckAction(ctx, hh.h, e.sign(hh.admin, hh.h.ID, settings), history.ActionSettingsSet); err != nil {
				t.Fatalf("action %d: %v", i, err)
			}
		}
		_, _, err := e.b.CheckAction(ctx, hh.h, e.sign(hh.admin, hh.h.ID, settings), history.ActionSettingsSet)
		wantKind(t, "one past the bound", err, households.TooMany, "too many signed changes")
		var de *households.Error
		if errors.As(err, &de) && de.RetryAfter != history.ActionSkew {
			t.Errorf("RetryAfter = %v; want %v", de.RetryAfter, history.ActionSkew)
		}
		// Once the remembered actions have left the skew, changes go on.
		e.clock.Add(2*history.ActionSkew + time.Second)
		if _, _, err := e.a.CheckAction(ctx, hh.h, e.sign(hh.admin, hh.h.ID, settings), history.ActionSettingsSet); err != nil {
			t.Errorf("after the skew: %v", err)
		}
	})
}
