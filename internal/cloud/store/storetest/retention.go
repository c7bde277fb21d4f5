package storetest

import (
	"testing"
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/history"
)

// testRetention: SetRetention round-trips per household and refuses an
// unknown household. It spans two domains: households.Store writes the
// settings, retention's Index reads them.
func testRetention(t *testing.T, s store.Store) {
	ctx := t.Context()
	MkHousehold(t, s, "hh-1", "ann")
	MkHousehold(t, s, "hh-2", "bob")
	want := store.Retention{QuotaBytes: 5 << 30, MaxAge: 30 * 24 * time.Hour}
	OK(t, s.SetRetention(ctx, "hh-1", want), "SetRetention")
	got, err := s.Retention(ctx, "hh-1")
	OK(t, err, "Retention")
	Same(t, "Retention", got, want)
	h, err := s.Household(ctx, "hh-1")
	OK(t, err, "Household")
	if h.QuotaBytes != want.QuotaBytes {
		t.Errorf("Household.QuotaBytes = %d after SetRetention, want %d", h.QuotaBytes, want.QuotaBytes)
	}
	other, err := s.Retention(ctx, "hh-2")
	OK(t, err, "Retention hh-2")
	if other.MaxAge != 0 {
		t.Errorf("hh-2 max age = %v, want 0 (set only on hh-1)", other.MaxAge)
	}
	// The signed action the settings came from is kept with them, and
	// replaced (or dropped) by the next SetRetention.
	signed := store.Retention{QuotaBytes: 1 << 30, Signed: &history.Signed{Device: "dadmin", Body: []byte(`{"v":1}`), Sig: Sum("sig")}}
	OK(t, s.SetRetention(ctx, "hh-1", signed), "SetRetention signed")
	got, err = s.Retention(ctx, "hh-1")
	OK(t, err, "Retention")
	Same(t, "Retention with its signed action", got, signed)
	other, err = s.Retention(ctx, "hh-2")
	OK(t, err, "Retention hh-2")
	if other.Signed != nil {
		t.Errorf("hh-2 has the signed action of hh-1: %+v", other.Signed)
	}
	OK(t, s.SetRetention(ctx, "hh-1", store.Retention{}), "SetRetention back to defaults")
	got, err = s.Retention(ctx, "hh-1")
	OK(t, err, "Retention")
	Same(t, "Retention after reset", got, store.Retention{})
	IsErr(t, s.SetRetention(ctx, "hh-missing", want), store.ErrNotFound, "SetRetention of a missing household")
	_, err = s.Retention(ctx, "hh-missing")
	IsErr(t, err, store.ErrNotFound, "Retention of a missing household")
}
