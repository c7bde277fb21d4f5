package storetest

import (
	"testing"
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/history"
)

// testMemberList: Members lists one household's members oldest first, and
// DeleteMember removes exactly one membership.
func testMemberList(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkHousehold(t, s, "hh-1", "ann")
	mkHousehold(t, s, "hh-2", "carl")
	mkAccount(t, s, "bob")
	bob := store.Member{HouseholdID: "hh-1", AccountID: "bob", Role: store.RoleMember, Created: at(3 * time.Hour)}
	ok(t, s.PutMember(ctx, bob), "PutMember bob")
	ok(t, s.PutMember(ctx, store.Member{HouseholdID: "hh-2", AccountID: "bob", Role: store.RoleAdmin, Created: at(4 * time.Hour)}), "PutMember bob hh-2")

	ms, err := s.Members(ctx, "hh-1")
	ok(t, err, "Members")
	if len(ms) != 2 || ms[0].AccountID != "ann" || ms[0].Role != store.RoleAdmin || ms[1].AccountID != "bob" {
		t.Fatalf("Members(hh-1) = %+v, want ann (admin) then bob", ms)
	}
	same(t, "Members row", ms[1], bob)
	ms, err = s.Members(ctx, "hh-missing")
	ok(t, err, "Members of a missing household")
	if len(ms) != 0 {
		t.Errorf("Members(hh-missing) = %+v, want none", ms)
	}

	ok(t, s.DeleteMember(ctx, "hh-1", "bob"), "DeleteMember")
	_, err = s.Member(ctx, "hh-1", "bob")
	isErr(t, err, store.ErrNotFound, "Member after DeleteMember")
	if _, err := s.Member(ctx, "hh-2", "bob"); err != nil {
		t.Errorf("DeleteMember in hh-1 removed bob from hh-2: %v", err)
	}
	isErr(t, s.DeleteMember(ctx, "hh-1", "bob"), store.ErrNotFound, "DeleteMember again")
	isErr(t, s.DeleteMember(ctx, "hh-1", "carl"), store.ErrNotFound, "DeleteMember of another household's member")
}

// testRetention: SetRetention round-trips per household and refuses an
// unknown household.
func testRetention(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkHousehold(t, s, "hh-1", "ann")
	mkHousehold(t, s, "hh-2", "bob")
	want := store.Retention{QuotaBytes: 5 << 30, MaxAge: 30 * 24 * time.Hour}
	ok(t, s.SetRetention(ctx, "hh-1", want), "SetRetention")
	got, err := s.Retention(ctx, "hh-1")
	ok(t, err, "Retention")
	same(t, "Retention", got, want)
	h, err := s.Household(ctx, "hh-1")
	ok(t, err, "Household")
	if h.QuotaBytes != want.QuotaBytes {
		t.Errorf("Household.QuotaBytes = %d after SetRetention, want %d", h.QuotaBytes, want.QuotaBytes)
	}
	other, err := s.Retention(ctx, "hh-2")
	ok(t, err, "Retention hh-2")
	if other.MaxAge != 0 {
		t.Errorf("hh-2 max age = %v, want 0 (set only on hh-1)", other.MaxAge)
	}
	// The signed action the settings came from is kept with them, and
	// replaced (or dropped) by the next SetRetention.
	signed := store.Retention{QuotaBytes: 1 << 30, Signed: &history.Signed{Device: "dadmin", Body: []byte(`{"v":1}`), Sig: sum("sig")}}
	ok(t, s.SetRetention(ctx, "hh-1", signed), "SetRetention signed")
	got, err = s.Retention(ctx, "hh-1")
	ok(t, err, "Retention")
	same(t, "Retention with its signed action", got, signed)
	other, err = s.Retention(ctx, "hh-2")
	ok(t, err, "Retention hh-2")
	if other.Signed != nil {
		t.Errorf("hh-2 has the signed action of hh-1: %+v", other.Signed)
	}
	ok(t, s.SetRetention(ctx, "hh-1", store.Retention{}), "SetRetention back to defaults")
	got, err = s.Retention(ctx, "hh-1")
	ok(t, err, "Retention")
	same(t, "Retention after reset", got, store.Retention{})
	isErr(t, s.SetRetention(ctx, "hh-missing", want), store.ErrNotFound, "SetRetention of a missing household")
	_, err = s.Retention(ctx, "hh-missing")
	isErr(t, err, store.ErrNotFound, "Retention of a missing household")
}
