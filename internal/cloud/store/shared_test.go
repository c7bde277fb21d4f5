package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"vigil/internal/cloud/store"
)

// Checks both SQLite and Postgres run where they behave alike beyond the
// Store interface (the conformance suites cover the interface itself).

// checkRefusedReferences: every write that refers to a missing account or
// household is ErrNotFound, and none of them leaves a row behind; count
// reads a table's row count from the database directly.
func checkRefusedReferences(t *testing.T, s store.Store, count func(table string) int) {
	t.Helper()
	ctx := t.Context()
	now := time.Now()
	if err := s.PutToken(ctx, store.Token{Hash: sha256.Sum256([]byte("x")), AccountID: "nobody", Kind: store.TokenAPI, Expires: now.Add(time.Hour)}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutToken for a missing account: %v, want ErrNotFound", err)
	}
	err := s.CreateHousehold(ctx, store.Household{ID: "hh-1"}, store.Member{AccountID: "nobody", Role: store.RoleAdmin}, store.Link{Data: []byte("g")})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateHousehold with a missing admin account: %v, want ErrNotFound", err)
	}
	if _, err := s.Household(ctx, "hh-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Household after a refused CreateHousehold: %v, want ErrNotFound", err)
	}
	if err := s.PutDevice(ctx, store.Device{ID: "d", HouseholdID: "hh-missing", Kind: "hub"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutDevice into a missing household: %v, want ErrNotFound", err)
	}
	if _, err := s.PutObject(ctx, store.Object{HouseholdID: "hh-missing", Key: "k"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutObject into a missing household: %v, want ErrNotFound", err)
	}
	if err := s.CreateAccount(ctx, store.Account{ID: "ann", Email: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCredential(ctx, store.Credential{ID: []byte("c"), AccountID: "nobody", Data: []byte("{}")}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutCredential for a missing account: %v, want ErrNotFound", err)
	}
	if err := s.PutMember(ctx, store.Member{HouseholdID: "hh-missing", AccountID: "ann", Role: store.RoleMember}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PutMember into a missing household: %v, want ErrNotFound", err)
	}
	if err := s.AppendLink(ctx, store.Link{HouseholdID: "hh-missing", Seq: 0}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AppendLink to a missing household: %v, want ErrNotFound", err)
	}
	for _, table := range []string{"households", "members", "links", "devices", "objects", "tokens", "credentials"} {
		if n := count(table); n != 0 {
			t.Errorf("%s holds %d rows after refused writes, want 0", table, n)
		}
	}
}

// checkTimes: zero round-trips as zero, others come back in UTC to the
// nanosecond, times beyond int64 nanoseconds are clamped, and a zero
// Expires is already expired.
func checkTimes(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	if err := s.CreateAccount(ctx, store.Account{ID: "zero", Email: "zero@example.com"}); err != nil {
		t.Fatal(err)
	}
	if a, err := s.Account(ctx, "zero"); err != nil || !a.Created.IsZero() {
		t.Errorf("zero Created came back as %v, %v", a.Created, err)
	}
	ns := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", -7*3600))
	if err := s.CreateAccount(ctx, store.Account{ID: "ns", Email: "ns@example.com", Created: ns}); err != nil {
		t.Fatal(err)
	}
	if a, err := s.Account(ctx, "ns"); err != nil || !a.Created.Equal(ns) || a.Created.Location() != time.UTC {
		t.Errorf("Created %v came back as %v, %v", ns, a.Created, err)
	}
	// A token "valid until the year 9999" stays valid.
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	h := sha256.Sum256([]byte("far"))
	if err := s.PutToken(ctx, store.Token{Hash: h, AccountID: "ns", Kind: store.TokenAPI, Expires: far}); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Token(ctx, h)
	if err != nil {
		t.Fatalf("Token expiring in 9999: %v", err)
	}
	if tok.Expires.Year() != 2262 {
		t.Errorf("Expires 9999 came back as %v, want clamped to 2262", tok.Expires)
	}
	// A token without expiry is already expired.
	h0 := sha256.Sum256([]byte("no expiry"))
	if err := s.PutToken(ctx, store.Token{Hash: h0, AccountID: "ns", Kind: store.TokenAPI}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx, h0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Token with a zero Expires: %v, want ErrNotFound", err)
	}
}

// checkLogNoSecrets: the log out of a store that held f and pruned it has
// a pruning record and none of f's secrets, hashes or message bytes.
func checkLogNoSecrets(t *testing.T, out string, f fixture) {
	t.Helper()
	if !strings.Contains(out, "pruned") {
		t.Errorf("log has no pruning record:\n%s", out)
	}
	for _, secret := range []string{
		hex.EncodeToString(f.token.Hash[:]), string(f.token.Hash[:]), f.token.CSRF,
		string(f.account.TOTPSecret), f.account.PasswordHash, string(f.pairing.Msgs[0]), f.pairing.ID,
		string(f.cred.ID), hex.EncodeToString(f.cred.ID), string(f.cred.Data),
	} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains a secret %q:\n%s", secret, out)
		}
	}
}
