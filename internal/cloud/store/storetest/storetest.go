// Package storetest is the conformance suite of store.Store: every
// implementation passes Run. It checks each method's contract as store.go
// states it, the errors it returns, atomicity, races between writers, and
// that one household's rows never appear in another's results.
//
// Where store.go leaves a choice open, the suite accepts either answer:
// deleting a missing row may return nil or ErrNotFound; the order of
// Households, Devices and Cameras is not checked; a CreateHousehold whose
// admin account does not exist may be refused (then atomically) or not.
// Times used by the suite have microsecond precision, so a backend that
// keeps microseconds passes.
//
// It does pin down these readings of store.go: expired tokens and pairings
// behave exactly like missing ones (ErrNotFound from Token, Pairing and
// AppendPairingMsg; an expired pairing's ID can be created again, without
// its old messages); list methods answer an unknown household with an empty
// result and no error; Object.Seq keeps the full uint64 range; OldestObjects with n = 0 returns
// nothing; UpdateAccount never changes the e-mail; passkey IDs are unique
// across accounts, and deleting another account's passkey is ErrNotFound;
// ephemeral entries expire by the caller's clock, at their expiry exactly.
package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/cloud/store"
)

// Run runs the conformance suite. newStore returns a new, empty store for
// each subtest; Run closes it when the subtest ends. Subtests do not run in
// parallel.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Accounts", testAccounts},
		{"UpdateAccount", testUpdateAccount},
		{"Tokens", testTokens},
		{"TokenExpiry", testTokenExpiry},
		{"DeleteTokens", testDeleteTokens},
		{"CreateHousehold", testCreateHousehold},
		{"CreateHouseholdAtomic", testCreateHouseholdAtomic},
		{"Households", testHouseholds},
		{"Members", testMembers},
		{"AppendLink", testAppendLink},
		{"AppendLinkRace", testAppendLinkRace},
		{"Devices", testDevices},
		{"PutObject", testPutObject},
		{"PutObjectRace", testPutObjectRace},
		{"Objects", testObjects},
		{"CamerasUsageDelete", testCamerasUsageDelete},
		{"UploadedSince", testUploadedSince},
		{"OldestObjects", testOldestObjects},
		{"Pairing", testPairing},
		{"PairingRace", testPairingRace},
		{"PairingExpiry", testPairingExpiry},
		{"Isolation", testIsolation},
		{"Credentials", testCredentials},
		{"Shares", testShares},
		{"MemberList", testMemberList},
		{"Retention", testRetention},
		{"PushSubs", testPushSubs},
		{"PushVAPIDKey", testPushVAPIDKey},
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

// racers is how many goroutines race for the same write.
const racers = 16

// base is the suite's fixed clock for stored times (microsecond precision).
var base = time.Date(2031, 3, 14, 15, 9, 26, 535897000, time.UTC)

// elsewhere is a non-UTC zone: times given in it must come back in UTC.
var elsewhere = time.FixedZone("UTC+5", 5*3600)

func at(d time.Duration) time.Time { return base.Add(d) }

// now is the wall clock truncated to microseconds (no monotonic reading),
// for expiry, which implementations check against their own clock.
func now() time.Time { return time.Now().Truncate(time.Microsecond) }

func hash(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func sum(s string) []byte { h := hash(s); return h[:] }

// --- assertions ---

func ok(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func isErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", what, err, target)
	}
}

// deleted accepts either answer for deleting a missing row.
func deleted(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s of a missing row: got %v, want nil or ErrNotFound", what, err)
	}
}

// same compares got and want field by field. Times compare as instants and
// every non-zero time in got must be in UTC; nil and empty slices are equal.
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if g, w := show(got, true), show(want, false); g != w {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

var timeType = reflect.TypeFor[time.Time]()

func show(v any, strictZone bool) string {
	var b strings.Builder
	render(&b, reflect.ValueOf(v), strictZone)
	return b.String()
}

func render(b *strings.Builder, v reflect.Value, strictZone bool) {
	switch {
	case !v.IsValid():
		b.WriteString("<nil>")
	case v.Type() == timeType:
		tm := v.Interface().(time.Time)
		if tm.IsZero() {
			b.WriteString("0")
			return
		}
		b.WriteString(tm.UTC().Format(time.RFC3339Nano))
		if strictZone && tm.Location() != time.UTC {
			fmt.Fprintf(b, "(in %s, want UTC)", tm.Location())
		}
	case v.Kind() == reflect.Struct:
		b.WriteString("{")
		for i := range v.NumField() {
			if i > 0 {
				b.WriteString(" ")
			}
			b.WriteString(v.Type().Field(i).Name + ":")
			render(b, v.Field(i), strictZone)
		}
		b.WriteString("}")
	case (v.Kind() == reflect.Slice || v.Kind() == reflect.Array) && v.Type().Elem().Kind() == reflect.Uint8:
		bs := make([]byte, v.Len())
		reflect.Copy(reflect.ValueOf(bs), v)
		b.WriteString("0x" + hex.EncodeToString(bs))
	case v.Kind() == reflect.Slice || v.Kind() == reflect.Array:
		b.WriteString("[")
		for i := range v.Len() {
			if i > 0 {
				b.WriteString(", ")
			}
			render(b, v.Index(i), strictZone)
		}
		b.WriteString("]")
	case v.Kind() == reflect.String:
		fmt.Fprintf(b, "%q", v.String())
	default:
		fmt.Fprintf(b, "%v", v.Interface())
	}
}

// race runs fn in racers goroutines released at once.
func race(fn func(i int) error) []error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one error is nil and every other is
// ErrConflict, and returns the winner's index.
func oneWinner(t *testing.T, what string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("%s: racers %d and %d both won", what, winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("%s: racer %d: got %v, want ErrConflict", what, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no racer won", what)
	}
	return winner
}

// --- fixtures ---

func account(id string) store.Account {
	return store.Account{
		ID:           id,
		Email:        id + "@example.com",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$" + id,
		Created:      at(time.Minute),
	}
}

func mkAccount(t *testing.T, s store.Store, id string) store.Account {
	t.Helper()
	a := account(id)
	ok(t, s.CreateAccount(t.Context(), a), "CreateAccount "+id)
	return a
}

// mkHousehold creates household id with admin as its first admin (creating
// the account) and returns the household and its genesis link.
func mkHousehold(t *testing.T, s store.Store, id, admin string) (store.Household, store.Link) {
	t.Helper()
	if _, err := s.Account(t.Context(), admin); errors.Is(err, store.ErrNotFound) {
		mkAccount(t, s, admin)
	}
	h := store.Household{ID: id, Name: "Home of " + admin, GenesisHash: sum(id + "/0"), QuotaBytes: 10 << 30, Created: at(time.Hour)}
	m := store.Member{HouseholdID: id, AccountID: admin, Role: store.RoleAdmin, Created: at(time.Hour)}
	g := store.Link{HouseholdID: id, Seq: 0, Hash: sum(id + "/0"), Data: []byte("genesis of " + id), Created: at(time.Hour)}
	ok(t, s.CreateHousehold(t.Context(), h, m, g), "CreateHousehold "+id)
	return h, g
}

func link(hh string, seq int64, data string) store.Link {
	return store.Link{HouseholdID: hh, Seq: seq, Hash: sum(data), Data: []byte(data), Created: at(time.Duration(seq) * time.Minute)}
}

func object(hh, key, camera string, start, end time.Duration) store.Object {
	return store.Object{
		HouseholdID: hh,
		Key:         hh + "/" + key,
		Device:      "hub-" + hh,
		Camera:      camera,
		Kind:        "segment",
		Seq:         1<<40 + uint64(start/time.Second),
		Start:       at(start),
		End:         at(end),
		Size:        int64(1000 + len(key)),
		SHA256:      hash(hh + "/" + key),
		Created:     at(end + time.Second),
	}
}

func keys(objs []store.Object) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, strings.TrimPrefix(o.Key, o.HouseholdID+"/"))
	}
	return out
}

func sameKeys(t *testing.T, what string, got []store.Object, err error, want ...string) {
	t.Helper()
	ok(t, err, what)
	if want == nil {
		want = []string{}
	}
	if k := keys(got); !slices.Equal(k, want) {
		t.Errorf("%s: got keys %q, want %q", what, k, want)
	}
}

// --- accounts and tokens ---

func testAccounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := account("ann")
	a.Created = a.Created.In(elsewhere)
	ok(t, s.CreateAccount(ctx, a), "CreateAccount")
	got, err := s.Account(ctx, a.ID)
	ok(t, err, "Account")
	same(t, "Account", got, a)
	if got.TOTPSecret != nil {
		t.Errorf("Account: TOTPSecret = %x, want nil until enrolled", got.TOTPSecret)
	}
	got, err = s.AccountByEmail(ctx, a.Email)
	ok(t, err, "AccountByEmail")
	same(t, "AccountByEmail", got, a)

	// Passkeys only, second factor enrolled.
	b := store.Account{ID: "bob", Email: "bob@example.com", TOTPSecret: []byte("12345678901234567890"), Created: at(0)}
	ok(t, s.CreateAccount(ctx, b), "CreateAccount without password")
	got, err = s.Account(ctx, b.ID)
	ok(t, err, "Account")
	same(t, "Account without password", got, b)

	dupEmail := account("carl")
	dupEmail.Email = a.Email
	isErr(t, s.CreateAccount(ctx, dupEmail), store.ErrExists, "CreateAccount with a taken e-mail")
	_, err = s.Account(ctx, dupEmail.ID)
	isErr(t, err, store.ErrNotFound, "Account refused for a taken e-mail")

	dupID := account("ann")
	dupID.Email = "someone-else@example.com"
	isErr(t, s.CreateAccount(ctx, dupID), store.ErrExists, "CreateAccount with a taken ID")
	_, err = s.AccountByEmail(ctx, dupID.Email)
	isErr(t, err, store.ErrNotFound, "AccountByEmail refused for a taken ID")
	got, err = s.Account(ctx, a.ID)
	ok(t, err, "Account")
	same(t, "Account after refused duplicate", got, a)

	_, err = s.Account(ctx, "nobody")
	isErr(t, err, store.ErrNotFound, "Account of a missing ID")
	_, err = s.AccountByEmail(ctx, "nobody@example.com")
	isErr(t, err, store.ErrNotFound, "AccountByEmail of a missing e-mail")
	// The caller normalises; the store compares exactly.
	_, err = s.AccountByEmail(ctx, strings.ToUpper(a.Email))
	isErr(t, err, store.ErrNotFound, "AccountByEmail in another case")
	_, err = s.AccountByEmail(ctx, " "+a.Email)
	isErr(t, err, store.ErrNotFound, "AccountByEmail with a space")
}

func testUpdateAccount(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkAccount(t, s, "ann")
	u := a
	u.PasswordHash = "$argon2id$v=19$m=65536,t=3,p=4$bmV3c2FsdA$bmV3aGFzaA"
	u.TOTPSecret = []byte("JBSWY3DPEHPK3PXP....")
	ok(t, s.UpdateAccount(ctx, u), "UpdateAccount")
	got, err := s.Account(ctx, a.ID)
	ok(t, err, "Account")
	same(t, "Account after update", got, u)

	u.TOTPSecret = nil
	ok(t, s.UpdateAccount(ctx, u), "UpdateAccount clearing TOTP")
	got, err = s.Account(ctx, a.ID)
	ok(t, err, "Account")
	if len(got.TOTPSecret) != 0 {
		t.Errorf("TOTPSecret after clearing = %x, want none", got.TOTPSecret)
	}

	// The e-mail is immutable here: whatever UpdateAccount answers, the
	// stored address stays.
	moved := u
	moved.Email = "elsewhere@example.com"
	_ = s.UpdateAccount(ctx, moved)
	got, err = s.Account(ctx, a.ID)
	ok(t, err, "Account")
	if got.Email != a.Email {
		t.Errorf("e-mail after UpdateAccount = %q, want %q kept", got.Email, a.Email)
	}
	_, err = s.AccountByEmail(ctx, moved.Email)
	isErr(t, err, store.ErrNotFound, "AccountByEmail of an address UpdateAccount must not set")

	missing := account("nobody")
	isErr(t, s.UpdateAccount(ctx, missing), store.ErrNotFound, "UpdateAccount of a missing account")
	_, err = s.Account(ctx, missing.ID)
	isErr(t, err, store.ErrNotFound, "Account after UpdateAccount of a missing account")
}

func testTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkAccount(t, s, "ann")
	n := now()
	api := store.Token{Hash: hash("api secret"), AccountID: a.ID, Kind: store.TokenAPI,
		Scopes: []string{"objects.read", "chain.read"}, Created: n.In(elsewhere), Expires: n.Add(time.Hour)}
	session := store.Token{Hash: hash("session secret"), AccountID: a.ID, Kind: store.TokenSession,
		CSRF: "csrf-token-bound-to-session", Created: n, Expires: n.Add(12 * time.Hour)}
	pending := store.Token{Hash: hash("pending secret"), AccountID: a.ID, Kind: store.TokenPending,
		Created: n, Expires: n.Add(5 * time.Minute)}
	for _, tok := range []store.Token{api, session, pending} {
		ok(t, s.PutToken(ctx, tok), "PutToken "+tok.Kind)
	}
	for _, want := range []store.Token{api, session, pending} {
		got, err := s.Token(ctx, want.Hash)
		ok(t, err, "Token "+want.Kind)
		same(t, "Token "+want.Kind, got, want)
	}
	_, err := s.Token(ctx, hash("never issued"))
	isErr(t, err, store.ErrNotFound, "Token of a missing hash")

	ok(t, s.DeleteToken(ctx, session.Hash), "DeleteToken")
	_, err = s.Token(ctx, session.Hash)
	isErr(t, err, store.ErrNotFound, "Token after DeleteToken")
	deleted(t, s.DeleteToken(ctx, session.Hash), "DeleteToken")
	if _, err := s.Token(ctx, api.Hash); err != nil {
		t.Errorf("DeleteToken removed another token: %v", err)
	}

	// A session bound to a device keeps it; putting the token again with
	// the device is how a session is bound.
	bound := store.Token{Hash: hash("bound secret"), AccountID: a.ID, Kind: store.TokenSession,
		CSRF: "csrf", Created: n, Expires: n.Add(time.Hour)}
	ok(t, s.PutToken(ctx, bound), "PutToken unbound")
	got, err := s.Token(ctx, bound.Hash)
	ok(t, err, "Token unbound")
	if got.Device != "" {
		t.Errorf("a new session names device %q", got.Device)
	}
	bound.Device = "dabcdefghijklmnopqrstuvwxyz"
	ok(t, s.PutToken(ctx, bound), "PutToken bound")
	got, err = s.Token(ctx, bound.Hash)
	ok(t, err, "Token bound")
	same(t, "Token bound", got, bound)
}

func testTokenExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkAccount(t, s, "ann")
	n := now()
	expired := store.Token{Hash: hash("old"), AccountID: a.ID, Kind: store.TokenSession, Created: n.Add(-2 * time.Hour), Expires: n.Add(-time.Second)}
	valid := store.Token{Hash: hash("new"), AccountID: a.ID, Kind: store.TokenSession, Created: n, Expires: n.Add(time.Hour)}
	ok(t, s.PutToken(ctx, expired), "PutToken expired")
	ok(t, s.PutToken(ctx, valid), "PutToken valid")
	_, err := s.Token(ctx, expired.Hash)
	isErr(t, err, store.ErrNotFound, "Token of an expired token")
	got, err := s.Token(ctx, valid.Hash)
	ok(t, err, "Token of a valid token")
	same(t, "Token", got, valid)
	// Expired tokens stay unusable after more writes (pruning or not).
	ok(t, s.PutToken(ctx, store.Token{Hash: hash("another"), AccountID: a.ID, Kind: store.TokenAPI, Created: n, Expires: n.Add(time.Hour)}), "PutToken")
	_, err = s.Token(ctx, expired.Hash)
	isErr(t, err, store.ErrNotFound, "Token of an expired token after another write")
}

func testDeleteTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkAccount(t, s, "ann")
	mkAccount(t, s, "bob")
	n := now()
	put := func(acct, kind string) [32]byte {
		tok := store.Token{Hash: hash(acct + "/" + kind), AccountID: acct, Kind: kind, Created: n, Expires: n.Add(time.Hour)}
		ok(t, s.PutToken(ctx, tok), "PutToken")
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

	ok(t, s.DeleteTokens(ctx, "ann", store.TokenSession), "DeleteTokens session")
	if alive(annSession) {
		t.Error("DeleteTokens(ann, session) kept ann's session")
	}
	if !alive(annAPI) || !alive(annPending) {
		t.Error("DeleteTokens(ann, session) removed ann's other kinds")
	}
	if !alive(bobSession) || !alive(bobAPI) {
		t.Error("DeleteTokens(ann, session) removed bob's tokens")
	}

	ok(t, s.DeleteTokens(ctx, "ann", ""), "DeleteTokens all kinds")
	if alive(annAPI) || alive(annPending) {
		t.Error(`DeleteTokens(ann, "") kept some of ann's tokens`)
	}
	if !alive(bobSession) || !alive(bobAPI) {
		t.Error(`DeleteTokens(ann, "") removed bob's tokens`)
	}
	ok(t, s.DeleteTokens(ctx, "nobody", ""), "DeleteTokens of an account without tokens")
}

// --- households, members, links ---

func testCreateHousehold(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkAccount(t, s, "ann")
	h := store.Household{ID: "hh-1", Name: "Home", GenesisHash: sum("genesis"), QuotaBytes: 10 << 30, Created: at(time.Hour).In(elsewhere)}
	m := store.Member{HouseholdID: h.ID, AccountID: a.ID, Role: store.RoleAdmin, Created: at(time.Hour)}
	g := store.Link{HouseholdID: h.ID, Seq: 0, Hash: sum("genesis"), Data: []byte("signed genesis"), Created: at(time.Hour)}
	ok(t, s.CreateHousehold(ctx, h, m, g), "CreateHousehold")

	gotH, err := s.Household(ctx, h.ID)
	ok(t, err, "Household")
	same(t, "Household", gotH, h)
	gotM, err := s.Member(ctx, h.ID, a.ID)
	ok(t, err, "Member")
	same(t, "first admin", gotM, m)
	links, err := s.Links(ctx, h.ID, 0)
	ok(t, err, "Links")
	same(t, "Links after CreateHousehold", links, []store.Link{g})

	// Quota 0 (the service default) round-trips.
	h0 := store.Household{ID: "hh-0", Name: "Default quota", GenesisHash: sum("g0"), Created: at(0)}
	ok(t, s.CreateHousehold(ctx, h0, store.Member{HouseholdID: h0.ID, AccountID: a.ID, Role: store.RoleAdmin, Created: at(0)},
		store.Link{HouseholdID: h0.ID, Hash: sum("g0"), Data: []byte("g0"), Created: at(0)}), "CreateHousehold")
	gotH, err = s.Household(ctx, h0.ID)
	ok(t, err, "Household")
	same(t, "Household with default quota", gotH, h0)

	_, err = s.Household(ctx, "hh-missing")
	isErr(t, err, store.ErrNotFound, "Household of a missing ID")
}

func testCreateHouseholdAtomic(t *testing.T, s store.Store) {
	ctx := t.Context()
	h, g := mkHousehold(t, s, "hh-1", "ann")
	mkAccount(t, s, "bob")

	// A duplicate household ID: nothing of the second attempt is stored.
	other := store.Household{ID: h.ID, Name: "Impostor", GenesisHash: sum("other"), Created: at(2 * time.Hour)}
	err := s.CreateHousehold(ctx, other,
		store.Member{HouseholdID: h.ID, AccountID: "bob", Role: store.RoleAdmin, Created: at(2 * time.Hour)},
		store.Link{HouseholdID: h.ID, Seq: 0, Hash: sum("other"), Data: []byte("other genesis"), Created: at(2 * time.Hour)})
	isErr(t, err, store.ErrExists, "CreateHousehold with a taken ID")
	gotH, err := s.Household(ctx, h.ID)
	ok(t, err, "Household")
	same(t, "Household after refused duplicate", gotH, h)
	_, err = s.Member(ctx, h.ID, "bob")
	isErr(t, err, store.ErrNotFound, "admin of the refused duplicate")
	links, err := s.Links(ctx, h.ID, 0)
	ok(t, err, "Links")
	same(t, "Links after refused duplicate", links, []store.Link{g})
	hs, err := s.Households(ctx, "bob")
	ok(t, err, "Households")
	if len(hs) != 0 {
		t.Errorf("Households(bob) after refused duplicate = %v, want none", hs)
	}

	// A genesis link that is not Seq 0: refused, nothing stored.
	bad := store.Household{ID: "hh-2", Name: "Bad genesis", GenesisHash: sum("bad"), Created: at(0)}
	err = s.CreateHousehold(ctx, bad,
		store.Member{HouseholdID: bad.ID, AccountID: "bob", Role: store.RoleAdmin, Created: at(0)},
		store.Link{HouseholdID: bad.ID, Seq: 1, Hash: sum("bad"), Data: []byte("bad"), Created: at(0)})
	if err == nil {
		t.Fatal("CreateHousehold with a genesis link of Seq 1 succeeded")
	}
	_, err = s.Household(ctx, bad.ID)
	isErr(t, err, store.ErrNotFound, "Household refused for its genesis")
	_, err = s.Member(ctx, bad.ID, "bob")
	isErr(t, err, store.ErrNotFound, "admin of a household refused for its genesis")
	links, err = s.Links(ctx, bad.ID, 0)
	ok(t, err, "Links")
	if len(links) != 0 {
		t.Errorf("Links of a refused household = %d links, want none", len(links))
	}

	// An admin account that does not exist: a backend need not refuse it,
	// but if it does, it must refuse the whole household.
	orphan := store.Household{ID: "hh-3", Name: "No admin", GenesisHash: sum("g3"), Created: at(0)}
	err = s.CreateHousehold(ctx, orphan,
		store.Member{HouseholdID: orphan.ID, AccountID: "nobody", Role: store.RoleAdmin, Created: at(0)},
		store.Link{HouseholdID: orphan.ID, Seq: 0, Hash: sum("g3"), Data: []byte("g3"), Created: at(0)})
	if err != nil {
		_, err = s.Household(ctx, orphan.ID)
		isErr(t, err, store.ErrNotFound, "Household whose admin account was refused")
		links, err = s.Links(ctx, orphan.ID, 0)
		ok(t, err, "Links")
		if len(links) != 0 {
			t.Errorf("Links of a household whose admin was refused = %d links, want none", len(links))
		}
	}
}

func testHouseholds(t *testing.T, s store.Store) {
	ctx := t.Context()
	h1, _ := mkHousehold(t, s, "hh-1", "ann")
	h2, _ := mkHousehold(t, s, "hh-2", "bob")
	h3, _ := mkHousehold(t, s, "hh-3", "bob")
	mkAccount(t, s, "carl")
	ok(t, s.PutMember(ctx, store.Member{HouseholdID: h2.ID, AccountID: "ann", Role: store.RoleMember, Created: at(0)}), "PutMember")

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
		ok(t, err, "Households "+c.account)
		slices.SortFunc(got, byID)
		same(t, "Households("+c.account+")", got, c.want)
	}
}

func testMembers(t *testing.T, s store.Store) {
	ctx := t.Context()
	h, _ := mkHousehold(t, s, "hh-1", "ann")
	mkHousehold(t, s, "hh-2", "carl")
	mkAccount(t, s, "bob")
	m := store.Member{HouseholdID: h.ID, AccountID: "bob", Role: store.RoleMember, Created: at(3 * time.Hour).In(elsewhere)}
	ok(t, s.PutMember(ctx, m), "PutMember")
	got, err := s.Member(ctx, h.ID, "bob")
	ok(t, err, "Member")
	same(t, "Member", got, m)

	m.Role = store.RoleAdmin
	ok(t, s.PutMember(ctx, m), "PutMember again")
	got, err = s.Member(ctx, h.ID, "bob")
	ok(t, err, "Member")
	if got.Role != store.RoleAdmin {
		t.Errorf("role after PutMember update = %q, want %q", got.Role, store.RoleAdmin)
	}
	m.Role = store.RoleMember
	ok(t, s.PutMember(ctx, m), "PutMember demote")
	got, err = s.Member(ctx, h.ID, "bob")
	ok(t, err, "Member")
	if got.Role != store.RoleMember {
		t.Errorf("role after demotion = %q, want %q", got.Role, store.RoleMember)
	}

	_, err = s.Member(ctx, h.ID, "carl")
	isErr(t, err, store.ErrNotFound, "Member of an account in another household")
	_, err = s.Member(ctx, "hh-2", "bob")
	isErr(t, err, store.ErrNotFound, "Member of a household the account is not in")
	_, err = s.Member(ctx, "hh-missing", "ann")
	isErr(t, err, store.ErrNotFound, "Member of a missing household")
}

func testAppendLink(t *testing.T, s store.Store) {
	ctx := t.Context()
	h, g := mkHousehold(t, s, "hh-1", "ann")
	l1, l2, l3 := link(h.ID, 1, "one"), link(h.ID, 2, "two"), link(h.ID, 3, "three")
	l1.Created = l1.Created.In(elsewhere)
	ok(t, s.AppendLink(ctx, l1), "AppendLink 1")
	ok(t, s.AppendLink(ctx, l2), "AppendLink 2")
	isErr(t, s.AppendLink(ctx, link(h.ID, 4, "gap")), store.ErrConflict, "AppendLink with a gap")
	isErr(t, s.AppendLink(ctx, link(h.ID, 2, "dup")), store.ErrConflict, "AppendLink of a taken seq")
	isErr(t, s.AppendLink(ctx, link(h.ID, 0, "genesis again")), store.ErrConflict, "AppendLink of seq 0")
	isErr(t, s.AppendLink(ctx, link(h.ID, -1, "negative")), store.ErrConflict, "AppendLink of seq -1")
	ok(t, s.AppendLink(ctx, l3), "AppendLink 3")

	got, err := s.Links(ctx, h.ID, 0)
	ok(t, err, "Links")
	same(t, "Links from 0", got, []store.Link{g, l1, l2, l3})
	got, err = s.Links(ctx, h.ID, 2)
	ok(t, err, "Links")
	same(t, "Links from 2", got, []store.Link{l2, l3})
	got, err = s.Links(ctx, h.ID, 4)
	ok(t, err, "Links")
	same(t, "Links from past the head", got, []store.Link(nil))
	got, err = s.Links(ctx, "hh-missing", 0)
	ok(t, err, "Links of a missing household")
	same(t, "Links of a missing household", got, []store.Link(nil))

	err = s.AppendLink(ctx, link("hh-missing", 1, "orphan"))
	if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
		t.Errorf("AppendLink to a missing household: got %v, want ErrNotFound or ErrConflict", err)
	}
}

func testAppendLinkRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	h, g := mkHousehold(t, s, "hh-1", "ann")
	want := []store.Link{g}
	for seq := int64(1); seq <= 3; seq++ {
		errs := race(func(i int) error {
			return s.AppendLink(ctx, link(h.ID, seq, fmt.Sprintf("admin %d at %d", i, seq)))
		})
		w := oneWinner(t, fmt.Sprintf("AppendLink seq %d", seq), errs)
		want = append(want, link(h.ID, seq, fmt.Sprintf("admin %d at %d", w, seq)))
	}
	got, err := s.Links(ctx, h.ID, 0)
	ok(t, err, "Links")
	same(t, "Links after races", got, want)
}

// --- devices ---

func testDevices(t *testing.T, s store.Store) {
	ctx := t.Context()
	h, _ := mkHousehold(t, s, "hh-1", "ann")
	hub := store.Device{ID: "dev-hub", HouseholdID: h.ID, Kind: "hub", SignPub: sum("hub key"), Created: at(0).In(elsewhere)}
	phone := store.Device{ID: "dev-phone", HouseholdID: h.ID, Kind: "client", SignPub: sum("phone key"), Created: at(time.Second)}
	ok(t, s.PutDevice(ctx, hub), "PutDevice hub")
	ok(t, s.PutDevice(ctx, phone), "PutDevice phone")
	got, err := s.Device(ctx, hub.ID)
	ok(t, err, "Device")
	same(t, "Device", got, hub)

	hub.SignPub = sum("rotated hub key")
	hub.Created = at(time.Hour)
	ok(t, s.PutDevice(ctx, hub), "PutDevice replace")
	got, err = s.Device(ctx, hub.ID)
	ok(t, err, "Device")
	same(t, "Device after replace", got, hub)

	list, err := s.Devices(ctx, h.ID)
	ok(t, err, "Devices")
	slices.SortFunc(list, func(a, b store.Device) int { return strings.Compare(a.ID, b.ID) })
	same(t, "Devices", list, []store.Device{hub, phone})

	_, err = s.Device(ctx, "dev-missing")
	isErr(t, err, store.ErrNotFound, "Device of a missing ID")
	list, err = s.Devices(ctx, "hh-missing")
	ok(t, err, "Devices of a missing household")
	same(t, "Devices of a missing household", list, []store.Device(nil))
}

// --- objects ---

func testPutObject(t *testing.T, s store.Store) {
	ctx := t.Context()
	h, _ := mkHousehold(t, s, "hh-1", "ann")
	o := object(h.ID, "front/1", "front", 0, 4*time.Second)
	o.Seq = 1<<63 + 7 // the full uint64 range round-trips
	o.Start = o.Start.In(elsewhere)
	created, err := s.PutObject(ctx, o)
	ok(t, err, "PutObject")
	if !created {
		t.Error("PutObject of a new key: created = false")
	}
	got, err := s.Object(ctx, h.ID, o.Key)
	ok(t, err, "Object")
	same(t, "Object", got, o)

	created, err = s.PutObject(ctx, o)
	ok(t, err, "PutObject again with the same SHA256")
	if created {
		t.Error("PutObject of the same object again: created = true")
	}
	other := o
	other.SHA256 = hash("other bytes")
	created, err = s.PutObject(ctx, other)
	isErr(t, err, store.ErrConflict, "PutObject of another SHA256 under a taken key")
	if created {
		t.Error("PutObject conflict: created = true")
	}
	got, err = s.Object(ctx, h.ID, o.Key)
	ok(t, err, "Object")
	same(t, "Object after a conflicting put", got, o)

	_, err = s.Object(ctx, h.ID, "hh-1/missing")
	isErr(t, err, store.ErrNotFound, "Object of a missing key")
	_, err = s.Object(ctx, "hh-missing", o.Key)
	isErr(t, err, store.ErrNotFound, "Object under another household ID")
}

func testPutObjectRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	h, _ := mkHousehold(t, s, "hh-1", "ann")
	o := object(h.ID, "front/1", "front", 0, 4*time.Second)
	var mu sync.Mutex
	createdBy := []int{}
	errs := race(func(i int) error {
		created, err := s.PutObject(ctx, o)
		if created {
			mu.Lock()
			createdBy = append(createdBy, i)
			mu.Unlock()
		}
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("racer %d: PutObject of the same object: %v", i, err)
		}
	}
	if len(createdBy) != 1 {
		t.Errorf("racing PutObject of one object: created = true for racers %v, want exactly one", createdBy)
	}
	objs, err := s.Objects(ctx, store.ObjectFilter{HouseholdID: h.ID})
	sameKeys(t, "Objects after race", objs, err, "front/1")
}

func testObjects(t *testing.T, s store.Store) {
	ctx := t.Context()
	h, _ := mkHousehold(t, s, "hh-1", "ann")
	sec := time.Second
	// Key order differs from start order, so the order is checked, and
	// f-b and f-d share a start, so the key breaks the tie.
	objs := []store.Object{
		object(h.ID, "f-a", "front", 30*sec, 40*sec),
		object(h.ID, "f-d", "front", 10*sec, 15*sec),
		object(h.ID, "b-y", "back", 10*sec, 20*sec),
		object(h.ID, "f-c", "front", 0, 10*sec),
		object(h.ID, "f-b", "front", 10*sec, 20*sec),
		object(h.ID, "b-z", "back", 0, 10*sec),
	}
	for _, o := range objs {
		_, err := s.PutObject(ctx, o)
		ok(t, err, "PutObject "+o.Key)
	}
	f := func(camera string, from, to time.Duration, limit int) store.ObjectFilter {
		of := store.ObjectFilter{HouseholdID: h.ID, Camera: camera, Limit: limit}
		if from >= 0 {
			of.From = at(from)
		}
		if to >= 0 {
			of.To = at(to).In(elsewhere)
		}
		return of
	}
	const open = -1
	all := []string{"b-z", "b-y", "f-c", "f-b", "f-d", "f-a"}
	for _, c := range []struct {
		name string
		f    store.ObjectFilter
		want []string
	}{
		{"all, ordered by camera, start, key", f("", open, open, 0), all},
		{"one camera", f("front", open, open, 0), []string{"f-c", "f-b", "f-d", "f-a"}},
		{"missing camera", f("side", open, open, 0), nil},
		{"from an end: that object excluded", f("", 10*sec, open, 0), []string{"b-y", "f-b", "f-d", "f-a"}},
		{"to a start: that object excluded", f("", open, 10*sec, 0), []string{"b-z", "f-c"}},
		{"inside", f("", 12*sec, 31*sec, 0), []string{"b-y", "f-b", "f-d", "f-a"}},
		{"in a hole", f("", 20*sec, 30*sec, 0), nil},
		{"camera and range", f("front", 5*sec, 12*sec, 0), []string{"f-c", "f-b", "f-d"}},
		{"before everything", f("", open, 0, 0), nil},
		{"after everything", f("", 40*sec, open, 0), nil},
		{"limit", f("", open, open, 2), []string{"b-z", "b-y"}},
		{"limit with camera and range", f("front", 5*sec, open, 3), []string{"f-c", "f-b", "f-d"}},
		{"limit above count", f("", open, open, 100), all},
	} {
		got, err := s.Objects(ctx, c.f)
		sameKeys(t, "Objects "+c.name, got, err, c.want...)
	}
	// The timezone of From does not matter, only the instant.
	got, err := s.Objects(ctx, store.ObjectFilter{HouseholdID: h.ID, From: at(35 * sec).In(elsewhere)})
	sameKeys(t, "Objects from a non-UTC time", got, err, "f-a")

	got, err = s.Objects(ctx, store.ObjectFilter{HouseholdID: h.ID, Camera: "back"})
	ok(t, err, "Objects")
	same(t, "Objects full rows", got, []store.Object{objs[5], objs[2]})
	got, err = s.Objects(ctx, store.ObjectFilter{HouseholdID: "hh-missing"})
	sameKeys(t, "Objects of a missing household", got, err)

	ev := object(h.ID, "e-a", "events", 12*sec, 13*sec)
	ev.Kind = "event"
	_, err = s.PutObject(ctx, ev)
	ok(t, err, "PutObject event")
	got, err = s.Objects(ctx, store.ObjectFilter{HouseholdID: h.ID, Kind: "segment"})
	sameKeys(t, "Objects of one kind", got, err, all...)
	got, err = s.Objects(ctx, store.ObjectFilter{HouseholdID: h.ID, Kind: "event", From: at(5 * sec), Limit: 5})
	sameKeys(t, "Objects of another kind in a range", got, err, "e-a")
}

func testCamerasUsageDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	h, _ := mkHousehold(t, s, "hh-1", "ann")
	mkHousehold(t, s, "hh-empty", "ann")
	objs := []store.Object{
		object(h.ID, "f1", "front", 0, time.Second),
		object(h.ID, "f2", "front", time.Second, 2*time.Second),
		object(h.ID, "b1", "back", 0, time.Second),
		object(h.ID, "g1", "garage door", 0, time.Second),
	}
	objs[3].Size = 1 << 40 // sums are 64-bit
	var total int64
	for _, o := range objs {
		_, err := s.PutObject(ctx, o)
		ok(t, err, "PutObject")
		total += o.Size
	}
	cameras := func(hh string, want ...string) {
		t.Helper()
		got, err := s.Cameras(ctx, hh)
		ok(t, err, "Cameras")
		slices.Sort(got)
		if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
			t.Errorf("Cameras(%s) = %q, want %q", hh, got, want)
		}
	}
	usage := func(hh string, want int64) {
		t.Helper()
		got, err := s.Usage(ctx, hh)
		ok(t, err, "Usage")
		if got != want {
			t.Errorf("Usage(%s) = %d, want %d", hh, got, want)
		}
	}
	cameras(h.ID, "back", "front", "garage door")
	usage(h.ID, total)
	cameras("hh-empty")
	usage("hh-empty", 0)
	usage("hh-missing", 0)

	ok(t, s.DeleteObject(ctx, h.ID, objs[0].Key), "DeleteObject")
	_, err := s.Object(ctx, h.ID, objs[0].Key)
	isErr(t, err, store.ErrNotFound, "Object after DeleteObject")
	usage(h.ID, total-objs[0].Size)
	cameras(h.ID, "back", "front", "garage door")
	deleted(t, s.DeleteObject(ctx, h.ID, objs[0].Key), "DeleteObject")
	usage(h.ID, total-objs[0].Size)

	ok(t, s.DeleteObject(ctx, h.ID, objs[1].Key), "DeleteObject")
	cameras(h.ID, "back", "garage door")
	got, err := s.Objects(ctx, store.ObjectFilter{HouseholdID: h.ID})
	sameKeys(t, "Objects after deletes", got, err, "b1", "g1")

	// A deleted key can be indexed again, even with other bytes.
	again := objs[0]
	again.SHA256 = hash("re-uploaded")
	created, err := s.PutObject(ctx, again)
	ok(t, err, "PutObject after DeleteObject")
	if !created {
		t.Error("PutObject after DeleteObject: created = false")
	}
}

func testOldestObjects(t *testing.T, s store.Store) {
	ctx := t.Context()
	h, _ := mkHousehold(t, s, "hh-1", "ann")
	sec := time.Second
	for _, o := range []store.Object{
		object(h.ID, "k1", "front", 40*sec, 50*sec),
		object(h.ID, "k2", "back", 0, 10*sec),
		object(h.ID, "k3", "front", 5*sec, 30*sec), // starts early, ends late
		object(h.ID, "k4", "side", 15*sec, 20*sec),
	} {
		_, err := s.PutObject(ctx, o)
		ok(t, err, "PutObject")
	}
	got, err := s.OldestObjects(ctx, h.ID, 2)
	sameKeys(t, "OldestObjects(2)", got, err, "k2", "k4")
	got, err = s.OldestObjects(ctx, h.ID, 10)
	sameKeys(t, "OldestObjects(10)", got, err, "k2", "k4", "k3", "k1")
	if len(got) == 4 {
		same(t, "OldestObjects full row", got[0], object(h.ID, "k2", "back", 0, 10*sec))
	}
	got, err = s.OldestObjects(ctx, h.ID, 0)
	sameKeys(t, "OldestObjects(0)", got, err)
	got, err = s.OldestObjects(ctx, "hh-missing", 10)
	sameKeys(t, "OldestObjects of a missing household", got, err)
}

// --- pairings ---

func testPairing(t *testing.T, s store.Store) {
	ctx := t.Context()
	n := now()
	p := store.Pairing{ID: "pair-1", Msgs: [][]byte{[]byte("hub hello")}, Created: n.In(elsewhere), Expires: n.Add(10 * time.Minute)}
	ok(t, s.CreatePairing(ctx, p), "CreatePairing")
	got, err := s.Pairing(ctx, p.ID)
	ok(t, err, "Pairing")
	same(t, "Pairing", got, p)
	isErr(t, s.CreatePairing(ctx, store.Pairing{ID: p.ID, Msgs: [][]byte{[]byte("second hub")}, Created: n, Expires: n.Add(time.Minute)}),
		store.ErrExists, "CreatePairing with a taken ID")
	got, err = s.Pairing(ctx, p.ID)
	ok(t, err, "Pairing")
	same(t, "Pairing after refused duplicate", got, p)

	isErr(t, s.AppendPairingMsg(ctx, p.ID, 0, []byte("again"), ""), store.ErrConflict, "AppendPairingMsg of a taken step")
	isErr(t, s.AppendPairingMsg(ctx, p.ID, 2, []byte("early"), ""), store.ErrConflict, "AppendPairingMsg ahead of its turn")
	ok(t, s.AppendPairingMsg(ctx, p.ID, 1, []byte("member reply"), "hh-1"), "AppendPairingMsg 1")
	p.Msgs = append(p.Msgs, []byte("member reply"))
	p.HouseholdID = "hh-1"
	got, err = s.Pairing(ctx, p.ID)
	ok(t, err, "Pairing")
	same(t, "Pairing after step 1", got, p)

	// An empty household ID keeps the recorded one.
	ok(t, s.AppendPairingMsg(ctx, p.ID, 2, []byte("hub confirm"), ""), "AppendPairingMsg 2")
	p.Msgs = append(p.Msgs, []byte("hub confirm"))
	isErr(t, s.AppendPairingMsg(ctx, p.ID, 2, []byte("replay"), ""), store.ErrConflict, "AppendPairingMsg replayed")
	got, err = s.Pairing(ctx, p.ID)
	ok(t, err, "Pairing")
	same(t, "Pairing after step 2", got, p)

	_, err = s.Pairing(ctx, "pair-missing")
	isErr(t, err, store.ErrNotFound, "Pairing of a missing ID")
	isErr(t, s.AppendPairingMsg(ctx, "pair-missing", 1, []byte("x"), ""), store.ErrNotFound, "AppendPairingMsg to a missing pairing")

	ok(t, s.DeletePairing(ctx, p.ID), "DeletePairing")
	_, err = s.Pairing(ctx, p.ID)
	isErr(t, err, store.ErrNotFound, "Pairing after DeletePairing")
	isErr(t, s.AppendPairingMsg(ctx, p.ID, 3, []byte("late"), ""), store.ErrNotFound, "AppendPairingMsg after DeletePairing")
	deleted(t, s.DeletePairing(ctx, p.ID), "DeletePairing")

	// A new pairing under a deleted ID starts from its own messages.
	fresh := store.Pairing{ID: p.ID, HouseholdID: "hh-2", Msgs: [][]byte{[]byte("new hub")}, Created: n, Expires: n.Add(time.Minute)}
	ok(t, s.CreatePairing(ctx, fresh), "CreatePairing after DeletePairing")
	got, err = s.Pairing(ctx, p.ID)
	ok(t, err, "Pairing")
	same(t, "recreated Pairing", got, fresh)
}

func testPairingRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	n := now()
	p := store.Pairing{ID: "pair-1", Msgs: [][]byte{[]byte("hub hello")}, Created: n, Expires: n.Add(10 * time.Minute)}
	ok(t, s.CreatePairing(ctx, p), "CreatePairing")
	for step := 1; step <= 2; step++ {
		errs := race(func(i int) error {
			return s.AppendPairingMsg(ctx, p.ID, step, fmt.Appendf(nil, "racer %d step %d", i, step), fmt.Sprintf("hh-%d", i))
		})
		w := oneWinner(t, fmt.Sprintf("AppendPairingMsg step %d", step), errs)
		p.Msgs = append(p.Msgs, fmt.Appendf(nil, "racer %d step %d", w, step))
		p.HouseholdID = fmt.Sprintf("hh-%d", w)
	}
	got, err := s.Pairing(ctx, p.ID)
	ok(t, err, "Pairing")
	same(t, "Pairing after races", got, p)
}

func testPairingExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	n := now()
	old := store.Pairing{ID: "pair-1", Msgs: [][]byte{[]byte("old hub"), []byte("old member")}, HouseholdID: "hh-old",
		Created: n.Add(-time.Hour), Expires: n.Add(-time.Second)}
	ok(t, s.CreatePairing(ctx, old), "CreatePairing already expired")
	_, err := s.Pairing(ctx, old.ID)
	isErr(t, err, store.ErrNotFound, "Pairing of an expired pairing")
	isErr(t, s.AppendPairingMsg(ctx, old.ID, 2, []byte("late"), ""), store.ErrNotFound, "AppendPairingMsg to an expired pairing")

	// The ID of an expired pairing is free again, and nothing of the old
	// rendezvous shows through.
	fresh := store.Pairing{ID: old.ID, Msgs: [][]byte{[]byte("new hub")}, Created: n, Expires: n.Add(10 * time.Minute)}
	ok(t, s.CreatePairing(ctx, fresh), "CreatePairing over an expired pairing")
	got, err := s.Pairing(ctx, fresh.ID)
	ok(t, err, "Pairing")
	same(t, "Pairing created over an expired one", got, fresh)
	ok(t, s.AppendPairingMsg(ctx, fresh.ID, 1, []byte("member"), "hh-new"), "AppendPairingMsg step 1")
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
		hh.h, g = mkHousehold(t, s, id, admin)
		hh.links = []store.Link{g, link(id, 1, id+" link 1")}
		ok(t, s.AppendLink(ctx, hh.links[1]), "AppendLink")
		for _, kind := range []string{"hub", "client"} {
			d := store.Device{ID: id + "-" + kind, HouseholdID: id, Kind: kind, SignPub: sum(id + kind), Created: at(0)}
			ok(t, s.PutDevice(ctx, d), "PutDevice")
			hh.devices = append(hh.devices, d)
		}
		for i, cam := range []string{"front", "front", extraCamera} {
			o := object(id, fmt.Sprintf("seg-%d", i), cam, time.Duration(i)*time.Second, time.Duration(i+1)*time.Second)
			_, err := s.PutObject(ctx, o)
			ok(t, err, "PutObject")
			hh.objects = append(hh.objects, o)
		}
		return hh
	}
	a := fill("hh-a", "ann", "porch")
	b := fill("hh-b", "bob", "yard")
	// The same blob key in both households is two distinct objects.
	shared := object("hh-a", "shared", "front", 0, time.Second)
	shared.Key = "shared-key"
	_, err := s.PutObject(ctx, shared)
	ok(t, err, "PutObject shared key in A")
	sharedB := shared
	sharedB.HouseholdID, sharedB.SHA256, sharedB.Camera = "hh-b", hash("b's bytes"), "yard"
	created, err := s.PutObject(ctx, sharedB)
	ok(t, err, "PutObject shared key in B (another household, other bytes)")
	if !created {
		t.Error("PutObject of B's object under A's key: created = false")
	}
	a.objects = append(a.objects, shared)
	b.objects = append(b.objects, sharedB)

	byKey := func(x, y store.Object) int { return strings.Compare(x.Key, y.Key) }
	for _, c := range []struct{ me, other *household }{{a, b}, {b, a}} {
		id := c.me.h.ID
		hs, err := s.Households(ctx, c.me.admin)
		ok(t, err, "Households")
		same(t, "Households of "+id+"'s admin", hs, []store.Household{c.me.h})
		_, err = s.Member(ctx, id, c.other.admin)
		isErr(t, err, store.ErrNotFound, "Member of "+id+" for the other household's admin")

		links, err := s.Links(ctx, id, 0)
		ok(t, err, "Links")
		same(t, "Links of "+id, links, c.me.links)

		devs, err := s.Devices(ctx, id)
		ok(t, err, "Devices")
		slices.SortFunc(devs, func(x, y store.Device) int { return strings.Compare(x.ID, y.ID) })
		wantDevs := slices.Clone(c.me.devices)
		slices.SortFunc(wantDevs, func(x, y store.Device) int { return strings.Compare(x.ID, y.ID) })
		same(t, "Devices of "+id, devs, wantDevs)

		objs, err := s.Objects(ctx, store.ObjectFilter{HouseholdID: id})
		ok(t, err, "Objects")
		slices.SortFunc(objs, byKey)
		wantObjs := slices.Clone(c.me.objects)
		slices.SortFunc(wantObjs, byKey)
		same(t, "Objects of "+id, objs, wantObjs)

		oldest, err := s.OldestObjects(ctx, id, 100)
		ok(t, err, "OldestObjects")
		slices.SortFunc(oldest, byKey)
		same(t, "OldestObjects of "+id, oldest, wantObjs)

		cams, err := s.Cameras(ctx, id)
		ok(t, err, "Cameras")
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
			isErr(t, err, store.ErrNotFound, "Object of "+id+" with the other household's key")
		}
		got, err := s.Object(ctx, id, shared.Key)
		ok(t, err, "Object shared key")
		same(t, "Object shared key in "+id, got, c.me.objects[len(c.me.objects)-1])
	}

	// Writes through A leave B alone.
	ok(t, s.DeleteObject(ctx, "hh-a", shared.Key), "DeleteObject shared key in A")
	got, err := s.Object(ctx, "hh-b", shared.Key)
	ok(t, err, "Object shared key in B after A's delete")
	same(t, "B's object after A deleted its own", got, sharedB)
	deleted(t, s.DeleteObject(ctx, "hh-a", b.objects[0].Key), "DeleteObject of B's key through A")
	if _, err := s.Object(ctx, "hh-b", b.objects[0].Key); err != nil {
		t.Errorf("B's object after a delete through A: %v", err)
	}
	ok(t, s.AppendLink(ctx, link("hh-a", 2, "a2")), "AppendLink to A")
	links, err := s.Links(ctx, "hh-b", 0)
	ok(t, err, "Links")
	same(t, "B's links after A's append", links, b.links)
}

func testCredentials(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkAccount(t, s, "alice")
	mkAccount(t, s, "bob")
	c := store.Credential{ID: []byte{1, 2, 3}, AccountID: "alice", Data: []byte(`{"k":1}`), Created: at(time.Minute), LastUsed: at(time.Minute)}
	ok(t, s.PutCredential(ctx, c), "PutCredential")
	if err := s.PutCredential(ctx, store.Credential{ID: []byte{1, 2, 3}, AccountID: "bob", Data: []byte("x"), Created: at(0), LastUsed: at(0)}); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate credential ID: %v, want ErrExists", err)
	}
	if err := s.PutCredential(ctx, store.Credential{ID: []byte{9}, AccountID: "nobody", Data: []byte("x"), Created: at(0), LastUsed: at(0)}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("credential of an unknown account: %v, want ErrNotFound", err)
	}
	got, err := s.CredentialByID(ctx, []byte{1, 2, 3})
	if err != nil || got.AccountID != "alice" || string(got.Data) != `{"k":1}` || !got.Created.Equal(c.Created) {
		t.Errorf("CredentialByID: %+v, %v", got, err)
	}
	if _, err := s.CredentialByID(ctx, []byte{7}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing credential: %v", err)
	}
	c.Data, c.LastUsed = []byte(`{"k":2}`), at(time.Hour)
	ok(t, s.UpdateCredential(ctx, c), "UpdateCredential")
	if got, _ := s.CredentialByID(ctx, c.ID); string(got.Data) != `{"k":2}` || !got.LastUsed.Equal(at(time.Hour)) {
		t.Errorf("after update: %+v", got)
	}
	if err := s.UpdateCredential(ctx, store.Credential{ID: []byte{7}, Data: []byte("x")}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update of a missing credential: %v", err)
	}
	if cs, err := s.Credentials(ctx, "bob"); err != nil || len(cs) != 0 {
		t.Errorf("bob's credentials: %v %v (alice's must not show)", cs, err)
	}
	if cs, err := s.Credentials(ctx, "alice"); err != nil || len(cs) != 1 {
		t.Errorf("alice's credentials: %v %v", cs, err)
	}

	// Only the owner deletes a passkey; anyone else's attempt is not found
	// and changes nothing.
	if err := s.DeleteCredential(ctx, "bob", c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bob deleting alice's credential: %v, want ErrNotFound", err)
	}
	if _, err := s.CredentialByID(ctx, c.ID); err != nil {
		t.Errorf("alice's credential after bob's delete: %v", err)
	}
	ok(t, s.DeleteCredential(ctx, "alice", c.ID), "DeleteCredential")
	if _, err := s.CredentialByID(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted credential: %v, want ErrNotFound", err)
	}
	if err := s.DeleteCredential(ctx, "alice", c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting twice: %v, want ErrNotFound", err)
	}
	// The ID is free again.
	c.AccountID = "bob"
	ok(t, s.PutCredential(ctx, c), "PutCredential of a deleted ID")
	if cs, err := s.Credentials(ctx, "bob"); err != nil || len(cs) != 1 || string(cs[0].ID) != string(c.ID) {
		t.Errorf("bob's credentials: %v %v", cs, err)
	}
}
