package passkeystest

import (
	"context"
	"testing"
	"time"

	"vigil/internal/cloud/passkeys"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
)

// Store is what the suite needs: the passkeys domain's Store, and beside
// it CreateAccount, which the accounts domain owns, for the accounts that
// hold the passkeys.
type Store interface {
	passkeys.Store
	CreateAccount(ctx context.Context, a store.Account) error
}

// Run runs the suite. newStore returns a new, empty store for each subtest and
// closes it when the subtest ends (t.Cleanup). Subtests do not run in
// parallel.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"Credentials", testCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// testCredentials: passkeys are stored per account with IDs unique across
// accounts, listed oldest first, updated in place after a sign-in, and
// deleted only by their owner.
func testCredentials(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.MkAccount(t, s, "alice")
	storetest.MkAccount(t, s, "bob")
	creds := func(account string, want ...store.Credential) {
		t.Helper()
		got, err := s.Credentials(ctx, account)
		storetest.OK(t, err, "Credentials "+account)
		storetest.Same(t, "Credentials("+account+")", got, want)
	}

	c := store.Credential{ID: []byte{1, 2, 3}, AccountID: "alice", Data: []byte(`{"k":1}`),
		Created: storetest.At(time.Minute).In(storetest.Elsewhere), LastUsed: storetest.At(time.Minute)}
	storetest.OK(t, s.PutCredential(ctx, c), "PutCredential")
	creds("alice", c)
	creds("bob")
	creds("nobody")

	// A taken ID is refused, even for another account, and an unknown
	// account's passkey is refused; neither changes anything.
	storetest.IsErr(t, s.PutCredential(ctx, store.Credential{ID: c.ID, AccountID: "bob", Data: []byte("x"), Created: storetest.At(0), LastUsed: storetest.At(0)}),
		store.ErrExists, "PutCredential of a taken ID for another account")
	storetest.IsErr(t, s.PutCredential(ctx, store.Credential{ID: c.ID, AccountID: "alice", Data: []byte("x"), Created: storetest.At(0), LastUsed: storetest.At(0)}),
		store.ErrExists, "PutCredential of a taken ID for the same account")
	storetest.IsErr(t, s.PutCredential(ctx, store.Credential{ID: []byte{9}, AccountID: "nobody", Data: []byte("x"), Created: storetest.At(0), LastUsed: storetest.At(0)}),
		store.ErrNotFound, "PutCredential of an unknown account")
	creds("alice", c)
	creds("bob")
	creds("nobody")

	// Oldest first, whatever the order of registration and of the IDs.
	older := store.Credential{ID: []byte{9, 9}, AccountID: "alice", Data: []byte(`{"k":"older"}`), Created: storetest.At(0), LastUsed: storetest.At(0)}
	storetest.OK(t, s.PutCredential(ctx, older), "PutCredential older")
	creds("alice", older, c)

	// UpdateCredential takes what a sign-in changes (the record, the last
	// use) by ID, as the passkeys domain calls it, and keeps the rest.
	c.Data, c.LastUsed = []byte(`{"k":2}`), storetest.At(time.Hour)
	storetest.OK(t, s.UpdateCredential(ctx, store.Credential{ID: c.ID, Data: c.Data, LastUsed: c.LastUsed}), "UpdateCredential")
	creds("alice", older, c)
	storetest.IsErr(t, s.UpdateCredential(ctx, store.Credential{ID: []byte{7}, Data: []byte("x"), LastUsed: storetest.At(0)}),
		store.ErrNotFound, "UpdateCredential of a missing passkey")
	creds("alice", older, c)
	creds("bob")

	// Only the owner deletes a passkey; anyone else's attempt is not found
	// and changes nothing.
	storetest.IsErr(t, s.DeleteCredential(ctx, "bob", c.ID), store.ErrNotFound, "DeleteCredential of another account's passkey")
	creds("alice", older, c)
	storetest.OK(t, s.DeleteCredential(ctx, "alice", c.ID), "DeleteCredential")
	creds("alice", older)
	storetest.IsErr(t, s.DeleteCredential(ctx, "alice", c.ID), store.ErrNotFound, "DeleteCredential twice")
	storetest.IsErr(t, s.UpdateCredential(ctx, store.Credential{ID: c.ID, Data: []byte("late"), LastUsed: storetest.At(2 * time.Hour)}),
		store.ErrNotFound, "UpdateCredential of a deleted passkey")
	creds("alice", older)

	// The ID is free again, for any account.
	again := store.Credential{ID: c.ID, AccountID: "bob", Data: []byte(`{"k":"bob"}`), Created: storetest.At(3 * time.Hour), LastUsed: storetest.At(3 * time.Hour)}
	storetest.OK(t, s.PutCredential(ctx, again), "PutCredential of a deleted ID")
	creds("bob", again)
	creds("alice", older)
}
