package accountstest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"vigil/internal/cloud/accounts"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
)

// Run runs the suite. newStore returns a new, empty store for each subtest and
// closes it when the subtest ends (t.Cleanup). Subtests do not run in
// parallel.
func Run(t *testing.T, newStore func(t *testing.T) accounts.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s accounts.Store)
	}{
		{"Accounts", testAccounts},
		{"UpdateAccount", testUpdateAccount},
		{"Tokens", testTokens},
		{"TokenExpiry", testTokenExpiry},
		{"DeleteTokens", testDeleteTokens},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func testAccounts(t *testing.T, s accounts.Store) {
	ctx := t.Context()
	a := storetest.NewAccount("ann")
	a.Created = a.Created.In(storetest.Elsewhere)
	storetest.OK(t, s.CreateAccount(ctx, a), "CreateAccount")
	got, err := s.Account(ctx, a.ID)
	storetest.OK(t, err, "Account")
	storetest.Same(t, "Account", got, a)
	if got.TOTPSecret != nil {
		t.Errorf("Account: TOTPSecret = %x, want nil until enrolled", got.TOTPSecret)
	}
	got, err = s.AccountByEmail(ctx, a.Email)
	storetest.OK(t, err, "AccountByEmail")
	storetest.Same(t, "AccountByEmail", got, a)

	// Passkeys only, second factor enrolled.
	b := store.Account{ID: "bob", Email: "bob@example.com", TOTPSecret: []byte("12345678901234567890"), Created: storetest.At(0)}
	storetest.OK(t, s.CreateAccount(ctx, b), "CreateAccount without password")
	got, err = s.Account(ctx, b.ID)
	storetest.OK(t, err, "Account")
	storetest.Same(t, "Account without password", got, b)

	dupEmail := storetest.NewAccount("carl")
	dupEmail.Email = a.Email
	storetest.IsErr(t, s.CreateAccount(ctx, dupEmail), store.ErrExists, "CreateAccount with a taken e-mail")
	_, err = s.Account(ctx, dupEmail.ID)
	storetest.IsErr(t, err, store.ErrNotFound, "Account refused for a taken e-mail")

	dupID := storetest.NewAccount("ann")
	dupID.Email = "someone-else@example.com"
	storetest.IsErr(t, s.CreateAccount(ctx, dupID), store.ErrExists, "CreateAccount with a taken ID")
	_, err = s.AccountByEmail(ctx, dupID.Email)
	storetest.IsErr(t, err, store.ErrNotFound, "AccountByEmail refused for a taken ID")
	got, err = s.Account(ctx, a.ID)
	storetest.OK(t, err, "Account")
	storetest.Same(t, "Account after refused duplicate", got, a)

	_, err = s.Account(ctx, "nobody")
	storetest.IsErr(t, err, store.ErrNotFound, "Account of a missing ID")
	_, err = s.AccountByEmail(ctx, "nobody@example.com")
	storetest.IsErr(t, err, store.ErrNotFound, "AccountByEmail of a missing e-mail")
	// The caller normalises; the store compares exactly.
	_, err = s.AccountByEmail(ctx, strings.ToUpper(a.Email))
	storetest.IsErr(t, err, store.ErrNotFound, "AccountByEmail in another case")
	_, err = s.AccountByEmail(ctx, " "+a.Email)
	storetest.IsErr(t, err, store.ErrNotFound, "AccountByEmail with a space")
}

func testUpdateAccount(t *testing.T, s accounts.Store) {
	ctx := t.Context()
	a := storetest.MkAccount(t, s, "ann")
	u := a
	u.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$bmV3c2FsdA$bmV3aGFzaA"
	u.TOTPSecret = []byte("JBSWY3DPEHPK3PXP....")
	storetest.OK(t, s.UpdateAccount(ctx, u), "UpdateAccount")
	got, err := s.Account(ctx, a.ID)
	storetest.OK(t, err, "Account")
	storetest.Same(t, "Account after update", got, u)

	u.TOTPSecret = nil
	storetest.OK(t, s.UpdateAccount(ctx, u), "UpdateAccount clearing TOTP")
	got, err = s.Account(ctx, a.ID)
	storetest.OK(t, err, "Account")
	if len(got.TOTPSecret) != 0 {
		t.Errorf("TOTPSecret after clearing = %x, want none", got.TOTPSecret)
	}

	// The e-mail is immutable here: whatever UpdateAccount answers, the
	// stored address stays.
	moved := u
	moved.Email = "elsewhere@example.com"
	_ = s.UpdateAccount(ctx, moved)
	got, err = s.Account(ctx, a.ID)
	storetest.OK(t, err, "Account")
	if got.Email != a.Email {
		t.Errorf("e-mail after UpdateAccount = %q, want %q kept", got.Email, a.Email)
	}
	_, err = s.AccountByEmail(ctx, moved.Email)
	storetest.IsErr(t, err, store.ErrNotFound, "AccountByEmail of an address UpdateAccount must not set")

	missing := storetest.NewAccount("nobody")
	storetest.IsErr(t, s.UpdateAccount(ctx, missing), store.ErrNotFound, "UpdateAccount of a missing account")
	_, err = s.Account(ctx, missing.ID)
	storetest.IsErr(t, err, store.ErrNotFound, "Account after UpdateAccount of a missing account")
}

func testTokens(t *testing.T, s accounts.Store) {
	ctx := t.Context()
	a := storetest.MkAccount(t, s, "ann")
	n := storetest.Now()
	api := store.Token{Hash: storetest.Hash("api secret"), AccountID: a.ID, Kind: store.TokenAPI,
		Scopes: []string{"objects.read", "chain.read"}, Created: n.In(storetest.Elsewhere), Expires: n.Add(time.Hour)}
	session := store.Token{Hash: storetest.Hash("session secret"), AccountID: a.ID, Kind: store.TokenSession,
		CSRF: "csrf-token-bound-to-session", Created: n, Expires: n.Add(12 * time.Hour)}
	pending := store.Token{Hash: storetest.Hash("pending secret"), AccountID: a.ID, Kind: store.TokenPending,
		Created: n, Expires: n.Add(5 * time.Minute)}
	for _, tok := range []store.Token{api, session, pending} {
		storetest.OK(t, s.PutToken(ctx, tok), "PutToken "+tok.Kind)
	}
	for _, want := range []store.Token{api, session, pending} {
		got, err := s.Token(ctx, want.Hash)
		storetest.OK(t, err, "Token "+want.Kind)
		storetest.Same(t, "Token "+want.Kind, got, want)
	}
	_, err := s.Token(ctx, storetest.Hash("never issued"))
	storetest.IsErr(t, err, store.ErrNotFound, "Token of a missing hash")

	storetest.OK(t, s.DeleteToken(ctx, session.Hash), "DeleteToken")
	_, err = s.Token(ctx, session.Hash)
	storetest.IsErr(t, err, store.ErrNotFound, "Token after DeleteToken")
	storetest.Deleted(t, s.DeleteToken(ctx, session.Hash), "DeleteToken")
	if _, err := s.Token(ctx, api.Hash); err != nil {
		t.Errorf("DeleteToken removed another token: %v", err)
	}

	// A session bound to a device keeps it; putting the token again with
	// the device is how a session is bound.
	bound := store.Token{Hash: storetest.Hash("bound secret"), AccountID: a.ID, Kind: store.TokenSession,
		CSRF: "csrf", Created: n, Expires: n.Add(time.Hour)}
	storetest.OK(t, s.PutToken(ctx, bound), "PutToken unbound")
	got, err := s.Token(ctx, bound.Hash)
	storetest.OK(t, err, "Token unbound")
	if got.Device != "" {
		t.Errorf("a new session names device %q", got.Device)
	}
	bound.Device = "dabcdefghijklmnopqrstuvwxyz"
	storetest.OK(t, s.PutToken(ctx, bound), "PutToken bound")
	got, err = s.Token(ctx, bound.Hash)
	storetest.OK(t, err, "Token bound")
	storetest.Same(t, "Token bound", got, bound)
}

func testTokenExpiry(t *testing.T, s accounts.Store) {
	ctx := t.Context()
	a := storetest.MkAccount(t, s, "ann")
	n := storetest.Now()
	expired := store.Token{Hash: storetest.Hash("old"), AccountID: a.ID, Kind: store.TokenSession, Created: n.Add(-2 * time.Hour), Expires: n.Add(-time.Second)}
	valid := store.Token{Hash: storetest.Hash("new"), AccountID: a.ID, Kind: store.TokenSession, Created: n, Expires: n.Add(time.Hour)}
	storetest.OK(t, s.PutToken(ctx, expired), "PutToken expired")
	storetest.OK(t, s.PutToken(ctx, valid), "PutToken valid")
	_, err := s.Token(ctx, expired.Hash)
	storetest.IsErr(t, err, store.ErrNotFound, "Token of an expired token")
	got, err := s.Token(ctx, valid.Hash)
	storetest.OK(t, err, "Token of a valid token")
	storetest.Same(t, "Token", got, valid)
	// Expired tokens stay unusable after more writes (pruning or not).
	storetest.OK(t, s.PutToken(ctx, store.Token{Hash: storetest.Hash("another"), AccountID: a.ID, Kind: store.TokenAPI, Created: n, Expires: n.Add(time.Hour)}), "PutToken")
	_, err = s.Token(ctx, expired.Hash)
	storetest.IsErr(t, err, store.ErrNotFound, "Token of an expired token after another write")
}

func testDeleteTokens(t *testing.T, s accounts.Store) {
	ctx := t.Context()
	storetest.MkAccount(t, s, "ann")
	storetest.MkAccount(t, s, "bob")
	n := storetest.Now()
	put := func(acct, kind string) [32]byte {
		tok := store.Token{Hash: storetest.Hash(acct + "/" + kind), AccountID: acct, Kind: kind, Created: n, Expires: n.Add(time.Hour)}
		storetest.OK(t, s.PutToken(ctx, tok), "PutToken")
		return tok.Hash
	}
	alive := func(h [32]byte) bool {
		_, err := s.Token(ctx, h)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Token: %v", err)
		}
		return err == nil
	}
	annSession, annAPI, annPending := put("ann", store.TokenSession), put("ann", store.TokenAPI), put("ann", store.TokenPending)
	bobSession, bobAPI := put("bob", store.TokenSession), put("bob", store.TokenAPI)

	storetest.OK(t, s.DeleteTokens(ctx, "ann", store.TokenSession), "DeleteTokens session")
	if alive(annSession) {
		t.Error("DeleteTokens(ann, session) kept ann's session")
	}
	if !alive(annAPI) || !alive(annPending) {
		t.Error("DeleteTokens(ann, session) removed ann's other kinds")
	}
	if !alive(bobSession) || !alive(bobAPI) {
		t.Error("DeleteTokens(ann, session) removed bob's tokens")
	}

	storetest.OK(t, s.DeleteTokens(ctx, "ann", ""), "DeleteTokens all kinds")
	if alive(annAPI) || alive(annPending) {
		t.Error(`DeleteTokens(ann, "") kept some of ann's tokens`)
	}
	if !alive(bobSession) || !alive(bobAPI) {
		t.Error(`DeleteTokens(ann, "") removed bob's tokens`)
	}
	storetest.OK(t, s.DeleteTokens(ctx, "nobody", ""), "DeleteTokens of an account without tokens")
}
