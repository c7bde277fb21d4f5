package passkeys_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"vigil/internal/cloud/passkeys"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
	"vigil/internal/pgtest"
	"vigil/internal/vigiltest"
	"vigil/internal/webauthntest"
)

// The passkeys domain's contract with its Store, run over both real
// stores: every case opens a fresh store and two Services over it, two
// replicas sharing one database, and begins ceremonies on one and finishes
// them on the other.

// testStore is a passkeys Store the test can also create accounts in.
type testStore interface {
	passkeys.Store
	CreateAccount(ctx context.Context, a store.Account) error
}

func TestSQLite(t *testing.T) {
	run(t, func(t *testing.T, now func() time.Time) testStore { return storetest.OpenSQLite(t, now) })
}

func TestPostgres(t *testing.T) {
	db := pgtest.NewDB(t)
	run(t, func(t *testing.T, now func() time.Time) testStore { return storetest.OpenPostgres(t, db, now) })
}

var b64 = base64.RawURLEncoding

const (
	rpID   = "vigil.test"
	origin = "https://vigil.test"
)

// newClock is a test's time, shared by the store and the services.
func newClock() *vigiltest.Clock {
	return vigiltest.NewClock(time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC))
}

// env is one case: a store, two replicas over it, their clock and logs,
// and the browser answers the logs must never hold.
type env struct {
	t       *testing.T
	st      testStore
	a, b    *passkeys.Service
	clock   *vigiltest.Clock
	logs    *vigiltest.SyncBuffer // the services' log
	answers [][]byte
}

func newEnv(t *testing.T, open func(*testing.T, func() time.Time) testStore) *env {
	e := &env{t: t, clock: newClock(), logs: &vigiltest.SyncBuffer{}}
	e.st = open(t, e.clock.Now)
	svc := func() *passkeys.Service {
		s, err := passkeys.New(passkeys.Config{Store: e.st, PublicURL: origin, Now: e.clock.Now,
			Logger: e.logs.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		if off := s.Off(); off != "" {
			t.Fatalf("passkeys off for %s: %s", origin, off)
		}
		return s
	}
	e.a, e.b = svc(), svc()
	t.Cleanup(func() {
		logs := e.logs.String()
		if !strings.Contains(logs, "passkey added") {
			t.Errorf("the services logged nothing (want at least %q): is the log wired?", "passkey added")
		}
		for _, ans := range e.answers {
			var m struct {
				Response map[string]string `json:"response"`
			}
			json.Unmarshal(ans, &m)
			for k, v := range m.Response {
				if len(v) > 16 && strings.Contains(logs, v) {
					t.Errorf("the log holds a browser answer's %s:\n%s", k, logs)
				}
			}
		}
	})
	return e
}

// account creates an account in the store.
func (e *env) account(id, email string) store.Account {
	e.t.Helper()
	a := store.Account{ID: id, Email: email, PasswordHash: "x", TOTPSecret: []byte("0123456789abcdef0123"), Created: e.clock.Now()}
	if err := e.st.CreateAccount(e.t.Context(), a); err != nil {
		e.t.Fatal(err)
	}
	return a
}

// kind is the Kind of a refusal, 0 for nil or another error.
func kind(err error) passkeys.Kind {
	var pe *passkeys.Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return 0
}

// refused checks that err is a refusal of kind k whose message contains
// each of want.
func refused(t *testing.T, what string, err error, k passkeys.Kind, want ...string) {
	t.Helper()
	if kind(err) != k {
		t.Errorf("%s: %v (kind %d), want kind %d", what, err, kind(err), k)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %q, want it to say %q", what, err, w)
		}
	}
}

// authenticator answers ceremonies as a browser's platform authenticator
// does (webauthntest).
type authenticator = webauthntest.Authenticator

func newAuthenticator(t *testing.T) *authenticator {
	a, err := webauthntest.New(rpID, origin)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// options is what the tests read of a ceremony's options.
type options struct {
	PublicKey struct {
		Challenge        string `json:"challenge"`
		AllowCredentials []any  `json:"allowCredentials"`
		User             struct {
			ID string `json:"id"`
		} `json:"user"`
		ExcludeCredentials []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
	} `json:"publicKey"`
}

func parse(t *testing.T, b passkeys.Begun) options {
	t.Helper()
	var o options
	if err := json.Unmarshal(b.Options, &o); err != nil || b.Ceremony == "" || o.PublicKey.Challenge == "" {
		t.Fatalf("begun ceremony %q: %v %s", b.Ceremony, err, b.Options)
	}
	return o
}

// create answers a registration ceremony.
func (e *env) create(a *authenticator, b passkeys.Begun) []byte {
	t := e.t
	t.Helper()
	o := parse(t, b)
	out, err := a.Create(o.PublicKey.User.ID, o.PublicKey.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	e.answers = append(e.answers, out)
	return out
}

// get answers a sign-in ceremony: the signature covers
// authenticatorData || SHA-256(clientDataJSON).
func (e *env) get(a *authenticator, b passkeys.Begun) []byte {
	t := e.t
	t.Helper()
	o := parse(t, b)
	if len(o.PublicKey.AllowCredentials) != 0 {
		t.Errorf("sign-in options list credentials: %s", b.Options)
	}
	out, err := a.Get(o.PublicKey.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	e.answers = append(e.answers, out)
	return out
}

// register adds key to account acct: begun on one replica, finished on
// the other.
func (e *env) register(acct store.Account, key *authenticator) passkeys.Passkey {
	e.t.Helper()
	b, err := e.a.BeginRegistration(e.t.Context(), acct)
	if err != nil {
		e.t.Fatal(err)
	}
	pk, err := e.b.FinishRegistration(e.t.Context(), acct, b.Ceremony, e.create(key, b))
	if err != nil {
		e.t.Fatalf("FinishRegistration: %v", err)
	}
	return pk
}

var apiGrant = passkeys.Grant{Type: "api", Scopes: []string{"read"}}

// login signs in with key: begun on one replica, finished on the other.
func (e *env) login(email string, key *authenticator) (passkeys.SignedIn, error) {
	e.t.Helper()
	b, err := e.b.BeginLogin(e.t.Context(), email, apiGrant)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.a.FinishLogin(e.t.Context(), b.Ceremony, e.get(key, b))
}

func run(t *testing.T, open func(*testing.T, func() time.Time) testStore) {
	t.Run("AcrossReplicas", func(t *testing.T) {
		e := newEnv(t, open)
		ctx := t.Context()
		alice := e.account("a-alice", "alice@example.com")
		key := newAuthenticator(t)
		pk := e.register(alice, key)
		if !bytes.Equal(pk.ID, key.CredID) || !pk.Created.Equal(e.clock.Now()) {
			t.Errorf("registered %x at %v, want %x at %v", pk.ID, pk.Created, key.CredID, e.clock.Now())
		}
		if string(key.UserHandle) != alice.ID {
			t.Errorf("user handle %q, want the account ID %q (never the e-mail address)", key.UserHandle, alice.ID)
		}
		e.clock.Add(time.Minute)
		in, err := e.login("", key)
		if err != nil {
			t.Fatalf("sign-in with the passkey: %v", err)
		}
		if in.AccountID != alice.ID || in.Grant.Type != apiGrant.Type || strings.Join(in.Grant.Scopes, ",") != "read" {
			t.Errorf("signed in %+v, want %s with %+v", in, alice.ID, apiGrant)
		}
		list, err := e.b.List(ctx, alice.ID)
		if err != nil || len(list) != 1 || !list[0].LastUsed.Equal(e.clock.Now()) || !list[0].Created.Equal(pk.Created) {
			t.Errorf("List after a sign-in: %+v %v, want last used %v", list, err, e.clock.Now())
		}

		// A ceremony is answered once, on whichever replica.
		b, err := e.a.BeginLogin(ctx, "", apiGrant)
		if err != nil {
			t.Fatal(err)
		}
		resp := e.get(key, b)
		if _, err := e.b.FinishLogin(ctx, b.Ceremony, resp); err != nil {
			t.Fatalf("FinishLogin: %v", err)
		}
		_, err = e.a.FinishLogin(ctx, b.Ceremony, resp)
		refused(t, "the same answer again, on the other replica", err, passkeys.Invalid, "already used")
		b2, err := e.b.BeginLogin(ctx, "", apiGrant)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.a.FinishLogin(ctx, b2.Ceremony, resp)
		refused(t, "an old answer to a new challenge", err, passkeys.Unauthorized, "passkey sign-in failed", "challenge")
		// A wrong answer uses the ceremony up too.
		b3, _ := e.a.BeginLogin(ctx, "", apiGrant)
		good := e.get(key, b3)
		if _, err := e.b.FinishLogin(ctx, b3.Ceremony, []byte(`{}`)); kind(err) != passkeys.Unauthorized {
			t.Errorf("a malformed answer: %v, want Unauthorized", err)
		}
		_, err = e.a.FinishLogin(ctx, b3.Ceremony, good)
		refused(t, "the right answer after a wrong one", err, passkeys.Invalid, "begin again")
		// A registration ceremony does not sign in, nor a sign-in register.
		br, _ := e.a.BeginRegistration(ctx, alice)
		_, err = e.b.FinishLogin(ctx, br.Ceremony, e.get(key, br))
		refused(t, "a registration ceremony finished as a sign-in", err, passkeys.Invalid)
		bl, _ := e.a.BeginLogin(ctx, "", apiGrant)
		_, err = e.b.FinishRegistration(ctx, alice, bl.Ceremony, e.create(newAuthenticator(t), bl))
		refused(t, "a sign-in ceremony finished as a registration", err, passkeys.Invalid)
	})

	t.Run("Expiry", func(t *testing.T) {
		e := newEnv(t, open)
		ctx := t.Context()
		alice := e.account("a-alice", "alice@example.com")
		key := newAuthenticator(t)
		e.register(alice, key)
		b, _ := e.a.BeginLogin(ctx, "", apiGrant)
		e.clock.Add(passkeys.CeremonyTTL + time.Second)
		_, err := e.b.FinishLogin(ctx, b.Ceremony, e.get(key, b))
		refused(t, "a sign-in finished after CeremonyTTL", err, passkeys.Invalid, "expired")
		br, _ := e.a.BeginRegistration(ctx, alice)
		e.clock.Add(passkeys.CeremonyTTL + time.Second)
		_, err = e.b.FinishRegistration(ctx, alice, br.Ceremony, e.create(newAuthenticator(t), br))
		refused(t, "a registration finished after CeremonyTTL", err, passkeys.Invalid, "expired")
		for _, id := range []string{"", "nope", strings.Repeat("x", 65)} {
			_, err := e.a.FinishLogin(ctx, id, []byte(`{}`))
			refused(t, "ceremony "+id, err, passkeys.Invalid)
		}
	})

	t.Run("Registration", func(t *testing.T) {
		e := newEnv(t, open)
		ctx := t.Context()
		alice := e.account("a-alice", "alice@example.com")
		bob := e.account("a-bob", "bob@example.com")
		key := newAuthenticator(t)
		// Begun by Alice, finished by Bob: refused, and used up.
		b, _ := e.a.BeginRegistration(ctx, alice)
		resp := e.create(key, b)
		_, err := e.b.FinishRegistration(ctx, bob, b.Ceremony, resp)
		refused(t, "a registration finished by another account", err, passkeys.Invalid, "another account")
		_, err = e.b.FinishRegistration(ctx, alice, b.Ceremony, resp)
		refused(t, "the registration after another account tried it", err, passkeys.Invalid)
		e.register(alice, key)
		// The options exclude the account's passkeys, so a browser does not
		// register one twice; the store refuses it anyway.
		b, _ = e.b.BeginRegistration(ctx, alice)
		o := parse(t, b)
		if len(o.PublicKey.ExcludeCredentials) != 1 || o.PublicKey.ExcludeCredentials[0].ID != b64.EncodeToString(key.CredID) {
			t.Errorf("excluded credentials %+v, want alice's passkey", o.PublicKey.ExcludeCredentials)
		}
		_, err = e.a.FinishRegistration(ctx, alice, b.Ceremony, e.create(key, b))
		refused(t, "a passkey registered twice", err, passkeys.Conflict, "already registered")
		b, _ = e.a.BeginRegistration(ctx, bob)
		if o := parse(t, b); len(o.PublicKey.ExcludeCredentials) != 0 {
			t.Errorf("bob's options exclude %+v, want none (alice's passkeys are not his)", o.PublicKey.ExcludeCredentials)
		}
		_, err = e.b.FinishRegistration(ctx, bob, b.Ceremony, e.create(key, b))
		refused(t, "alice's passkey registered by bob", err, passkeys.Conflict)
		// Another site's answer.
		phish := newAuthenticator(t)
		phish.Origin = "https://vigil-login.example"
		b, _ = e.a.BeginRegistration(ctx, alice)
		_, err = e.b.FinishRegistration(ctx, alice, b.Ceremony, e.create(phish, b))
		refused(t, "a registration from another origin", err, passkeys.Invalid, "registration refused", "origin")
		if list, err := e.a.List(ctx, alice.ID); err != nil || len(list) != 1 {
			t.Errorf("alice's passkeys after the refusals: %+v %v, want the one", list, err)
		}
		if list, err := e.a.List(ctx, bob.ID); err != nil || list == nil || len(list) != 0 {
			t.Errorf("bob's passkeys: %#v %v, want an empty list", list, err)
		}
	})

	t.Run("BoundToEmail", func(t *testing.T) {
		e := newEnv(t, open)
		alice := e.account("a-alice", "alice@example.com")
		bob := e.account("a-bob", "bob@example.com")
		aliceKey, bobKey := newAuthenticator(t), newAuthenticator(t)
		e.register(alice, aliceKey)
		e.register(bob, bobKey)
		if in, err := e.login("alice@example.com", aliceKey); err != nil || in.AccountID != alice.ID {
			t.Errorf("alice's passkey for alice's address: %+v %v", in, err)
		}
		_, err := e.login("alice@example.com", bobKey)
		refused(t, "bob's passkey for alice's address", err, passkeys.Unauthorized, "does not belong")
		_, errNobody := e.login("nobody@example.com", bobKey)
		refused(t, "a passkey for an address without an account", errNobody, passkeys.Unauthorized)
		if err != nil && errNobody != nil && err.Error() != errNobody.Error() {
			t.Errorf("an address without an account answers %q, one with %q: they must not differ", errNobody, err)
		}
		if in, err := e.login("", bobKey); err != nil || in.AccountID != bob.ID {
			t.Errorf("bob's passkey with no address: %+v %v", in, err)
		}
	})

	t.Run("Refusals", func(t *testing.T) {
		e := newEnv(t, open)
		ctx := t.Context()
		alice := e.account("a-alice", "alice@example.com")
		bob := e.account("a-bob", "bob@example.com")
		key := newAuthenticator(t)
		e.register(alice, key)
		phish := *key
		phish.Origin = "https://vigil-login.example"
		_, err := e.login("", &phish)
		refused(t, "another origin", err, passkeys.Unauthorized, "origin")
		key.Count = phish.Count
		// Alice's passkey under Bob's user handle.
		swapped := *key
		swapped.UserHandle = []byte(bob.ID)
		_, err = e.login("", &swapped)
		refused(t, "a passkey under another account's user handle", err, passkeys.Unauthorized, "passkey sign-in failed")
		key.Count = swapped.Count
		if _, err := e.login("", key); err != nil {
			t.Fatalf("the genuine passkey: %v", err)
		}
		// A cloned authenticator: its counter is behind the one last seen.
		clone := *key
		clone.Count = 0
		_, err = e.login("", &clone)
		refused(t, "a counter going backwards", err, passkeys.Unauthorized, "counter went backwards")
		if !strings.Contains(e.logs.String(), "counter went backwards") {
			t.Errorf("a cloned authenticator was not logged:\n%s", e.logs)
		}
		if _, err := e.login("", key); err != nil {
			t.Errorf("the genuine passkey after the clone: %v", err)
		}
		// Deleted, it no longer signs in; only its own account deletes it.
		err = e.b.Delete(ctx, bob.ID, key.CredID)
		refused(t, "bob deleting alice's passkey", err, passkeys.NotFound)
		if _, err := e.login("", key); err != nil {
			t.Errorf("the passkey after another account failed to delete it: %v", err)
		}
		if err := e.a.Delete(ctx, alice.ID, key.CredID); err != nil {
			t.Fatal(err)
		}
		refused(t, "deleting it again", e.b.Delete(ctx, alice.ID, key.CredID), passkeys.NotFound)
		refused(t, "deleting an empty ID", e.b.Delete(ctx, alice.ID, nil), passkeys.NotFound)
		_, err = e.login("", key)
		refused(t, "a deleted passkey", err, passkeys.Unauthorized, "passkey sign-in failed")
	})

	t.Run("RelyingParty", func(t *testing.T) {
		st := open(t, nil)
		for _, c := range []struct {
			url, off string
		}{
			{"https://192.0.2.7", "domain name"},
			{"", "no public URL"},
		} {
			s, err := passkeys.New(passkeys.Config{Store: st, PublicURL: c.url})
			if err != nil {
				t.Fatalf("New with public URL %q: %v, want passkeys off", c.url, err)
			}
			if !strings.Contains(s.Off(), c.off) || !strings.Contains(s.Off(), "hint") {
				t.Errorf("public URL %q: off %q, want it to say %q and give a hint", c.url, s.Off(), c.off)
			}
			_, err = s.BeginLogin(t.Context(), "", apiGrant)
			refused(t, "BeginLogin with passkeys off", err, passkeys.Off, c.off)
			_, err = s.BeginRegistration(t.Context(), store.Account{ID: "a"})
			refused(t, "BeginRegistration with passkeys off", err, passkeys.Off, c.off)
		}
		s, err := passkeys.New(passkeys.Config{Store: st, PublicURL: "http://127.0.0.1:8080"})
		if err != nil || s.Off() != "" {
			t.Errorf("a loopback public URL: %v, off %q; want passkeys on for localhost", err, s.Off())
		}
		if _, err := passkeys.New(passkeys.Config{Store: st, RPID: "127.0.0.1", RPOrigins: []string{"http://127.0.0.1"}}); err == nil || !strings.Contains(err.Error(), "RPID") {
			t.Errorf("an IP address as RPID: %v, want an error naming RPID", err)
		}
		if _, err := passkeys.New(passkeys.Config{Store: st, RPID: "vigil.example"}); err == nil {
			t.Error("an RPID without origins or a public URL: no error")
		}
	})
}
