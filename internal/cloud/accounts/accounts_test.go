package accounts_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/cloud/accounts"
	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
	"vigil/internal/keydir"
	"vigil/internal/pgtest"
	"vigil/internal/vigiltest"
)

// The accounts domain's contract with its Store, run over both real
// stores: every case opens a fresh store and two Services over it, two
// replicas sharing one database.

func TestSQLite(t *testing.T) {
	run(t, func(t *testing.T, now func() time.Time) accounts.Store {
		return storetest.OpenSQLite(t, now)
	})
}

func TestPostgres(t *testing.T) {
	db := pgtest.NewDB(t)
	run(t, func(t *testing.T, now func() time.Time) accounts.Store {
		return storetest.OpenPostgres(t, db, now)
	})
}

// newClock is a test's time, shared by the store and the services.
func newClock() *vigiltest.Clock {
	return vigiltest.NewClock(time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC))
}

// mailbox keeps the messages a Service sends.
type mailbox struct {
	mu   sync.Mutex
	msgs []string // "to\nsubject\nbody"
}

func (m *mailbox) Send(_ context.Context, to, subject, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, to+"\n"+subject+"\n"+body)
	return nil
}

func (m *mailbox) all() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.msgs...)
}

// env is one case: a store, two replicas over it, their clock, mail and
// logs, and the secrets the logs must never hold.
type env struct {
	t       *testing.T
	st      accounts.Store
	a, b    *accounts.Service
	clock   *vigiltest.Clock
	mail    *mailbox
	logs    *vigiltest.SyncBuffer // the services' log
	smu     sync.Mutex            // secrets, while requests race
	secrets []string
}

const password = "correct horse battery staple"

func newEnv(t *testing.T, open func(*testing.T, func() time.Time) accounts.Store) *env {
	e := &env{t: t, clock: newClock(), mail: &mailbox{}, logs: &vigiltest.SyncBuffer{}}
	e.st = open(t, e.clock.Now)
	svc := func() *accounts.Service {
		s, err := accounts.New(accounts.Config{Store: e.st, Mailer: e.mail, PublicURL: "https://vigil.test",
			Argon2: auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}, Now: e.clock.Now,
			Logger: e.logs.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	e.a, e.b = svc(), svc()
	e.secrets = append(e.secrets, password)
	t.Cleanup(func() {
		logs := e.logs.String()
		if !strings.Contains(logs, "account created") {
			t.Errorf("the services logged nothing (want at least %q): is the log wired?", "account created")
		}
		for _, s := range e.secrets {
			if s != "" && strings.Contains(logs, s) {
				t.Errorf("the log holds a secret (%.6s…):\n%s", s, logs)
			}
		}
	})
	return e
}

// code is the TOTP code of secret now.
func (e *env) code(secret []byte) string { return auth.TOTPCode(secret, e.clock.Now()) }

// signUp creates an account and returns its ID and TOTP secret.
func (e *env) signUp(email string) (string, []byte) {
	e.t.Helper()
	u, err := e.a.SignUp(e.t.Context(), email, password)
	if err != nil {
		e.t.Fatalf("SignUp %s: %v", email, err)
	}
	a, err := e.st.Account(e.t.Context(), u.AccountID)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth.Base32Secret(a.TOTPSecret) != u.TOTPSecret || !strings.Contains(u.TOTPURI, u.TOTPSecret) {
		e.t.Fatalf("SignUp answered a second factor (%q, %q) that is not the stored one", u.TOTPSecret, u.TOTPURI)
	}
	e.secrets = append(e.secrets, u.TOTPSecret)
	return u.AccountID, a.TOTPSecret
}

// signIn signs in as a browser with svc, the password and the current code.
func (e *env) signIn(svc *accounts.Service, email string, secret []byte) (accounts.Session, error) {
	code := e.code(secret)
	e.secrets = append(e.secrets, code)
	s, err := svc.SignIn(e.t.Context(), accounts.SignIn{IP: "192.0.2.1", Email: email, Password: password, TOTP: code, Type: accounts.TypeBrowser})
	e.secrets = append(e.secrets, s.Secret, s.CSRF, s.Device.Value)
	return s, err
}

// kind is the Kind of a refusal, 0 for nil or another error.
func kind(err error) accounts.Kind {
	var de *accounts.Error
	if errors.As(err, &de) {
		return de.Kind
	}
	return 0
}

func run(t *testing.T, open func(*testing.T, func() time.Time) accounts.Store) {
	t.Run("SignUp", func(t *testing.T) {
		e := newEnv(t, open)
		ctx := t.Context()
		e.signUp("alice@example.com")
		for _, c := range []struct {
			email, pw string
			want      accounts.Kind
		}{
			{" Alice@Example.COM ", password, accounts.Conflict}, // the same address, normalised
			{"not an address", password, accounts.Invalid},
			{strings.Repeat("a", 250) + "@x.io", password, accounts.Invalid},
			{"bob@example.com", "short", accounts.Invalid},
		} {
			if _, err := e.b.SignUp(ctx, c.email, c.pw); kind(err) != c.want {
				t.Errorf("SignUp(%q): %v, want kind %d", c.email, err, c.want)
			}
		}
		if _, err := e.st.AccountByEmail(ctx, "bob@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refused sign-up left an account: %v", err)
		}
	})

	t.Run("SessionsAndTokens", func(t *testing.T) {
		e := newEnv(t, open)
		ctx := t.Context()
		id, secret := e.signUp("alice@example.com")
		sess, err := e.signIn(e.a, "ALICE@example.com", secret)
		if err != nil || sess.AccountID != id || sess.Type != accounts.TypeBrowser || !strings.HasPrefix(sess.Secret, "vgs_") ||
			sess.CSRF == "" || !sess.Expires.Equal(e.clock.Now().Add(accounts.DefaultSessionTTL)) {
			t.Fatalf("browser sign-in: %+v, %v", sess, err)
		}
		// The session works on the other replica: reads without CSRF, writes
		// only with it.
		authn := func(svc *accounts.Service, c accounts.Credential) (string, accounts.Kind) {
			a, _, err := svc.Authenticate(ctx, c)
			if err != nil && kind(err) == 0 {
				t.Fatalf("Authenticate: %v", err)
			}
			return a.ID, kind(err)
		}
		if got, k := authn(e.b, accounts.Credential{Secret: sess.Secret, Kind: store.TokenSession, Reading: true}); got != id || k != 0 {
			t.Errorf("session read: %q, kind %d", got, k)
		}
		if _, k := authn(e.b, accounts.Credential{Secret: sess.Secret, Kind: store.TokenSession}); k != accounts.Forbidden {
			t.Errorf("session write without CSRF: kind %d, want Forbidden", k)
		}
		if got, k := authn(e.b, accounts.Credential{Secret: sess.Secret, Kind: store.TokenSession, CSRF: sess.CSRF}); got != id || k != 0 {
			t.Errorf("session write with CSRF: %q, kind %d", got, k)
		}
		// A session secret is not an API token, and the reverse.
		if _, k := authn(e.b, accounts.Credential{Secret: sess.Secret, Kind: store.TokenAPI, Reading: true}); k != accounts.Unauthorized {
			t.Errorf("a session secret as a bearer token: kind %d, want Unauthorized", k)
		}

		// A read-only API token reads and does not write.
		e.clock.Add(step)
		code := e.code(secret)
		ro, err := e.b.SignIn(ctx, accounts.SignIn{IP: "192.0.2.1", Email: "alice@example.com", Password: password, TOTP: code,
			Type: accounts.TypeAPI, Scopes: []string{accounts.ScopeRead}})
		e.secrets = append(e.secrets, code, ro.Secret)
		if err != nil || !strings.HasPrefix(ro.Secret, "vga_") || ro.CSRF != "" {
			t.Fatalf("API sign-in: %+v, %v", ro, err)
		}
		if got, k := authn(e.a, accounts.Credential{Secret: ro.Secret, Kind: store.TokenAPI, Reading: true}); got != id || k != 0 {
			t.Errorf("read-only token read: %q, kind %d", got, k)
		}
		if _, k := authn(e.a, accounts.Credential{Secret: ro.Secret, Kind: store.TokenAPI}); k != accounts.Forbidden {
			t.Errorf("read-only token write: kind %d, want Forbidden", k)
		}
		for _, c := range []accounts.Credential{
			{Secret: "", Kind: store.TokenAPI}, {Secret: "vga_nope", Kind: store.TokenAPI, Reading: true},
			{Secret: strings.Repeat("x", 300), Kind: store.TokenSession, Reading: true},
		} {
			if _, k := authn(e.a, c); k != accounts.Unauthorized {
				t.Errorf("credential %.10q: kind %d, want Unauthorized", c.Secret, k)
			}
		}

		// Signing out on one replica ends the session on both; the token
		// stays.
		if err := e.b.SignOut(ctx, authHash(sess.Secret)); err != nil {
			t.Fatal(err)
		}
		if _, k := authn(e.a, accounts.Credential{Secret: sess.Secret, Kind: store.TokenSession, Reading: true}); k != accounts.Unauthorized {
			t.Errorf("signed-out session: kind %d, want Unauthorized", k)
		}
		if _, k := authn(e.a, accounts.Credential{Secret: ro.Secret, Kind: store.TokenAPI, Reading: true}); k != 0 {
			t.Errorf("another token after sign-out: kind %d", k)
		}
		// An expired session is gone.
		e.clock.Add(accounts.DefaultSessionTTL)
		s2, err := e.signIn(e.a, "alice@example.com", secret)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Add(accounts.DefaultSessionTTL + time.Second)
		if _, k := authn(e.b, accounts.Credential{Secret: s2.Secret, Kind: store.TokenSession, Reading: true}); k != accounts.Unauthorized {
			t.Errorf("expired session: kind %d, want Unauthorized", k)
		}
		// Bad requests name the field.
		for _, r := range []accounts.SignIn{{Type: "cookie"}, {Type: "api", Scopes: []string{"admin"}}, {Type: "browser", Scopes: []string{"read"}}} {
			r.Email, r.Password = "alice@example.com", password
			if _, err := e.a.SignIn(ctx, r); kind(err) != accounts.Invalid || !strings.Contains(err.Error(), "field") {
				t.Errorf("SignIn %+v: %v, want Invalid naming the field", r, err)
			}
		}
	})

	t.Run("TOTPOnceAcrossReplicas", func(t *testing.T) {
		e := newEnv(t, open)
		_, secret := e.signUp("alice@example.com")
		code := e.code(secret)
		e.secrets = append(e.secrets, code)
		// Sign-ins race with one code on two replicas: one succeeds. (Five,
		// so that the four failures stay within the account's free
		// failures.)
		var ok, failed atomic.Int32
		var wg sync.WaitGroup
		for i := range 5 {
			svc := []*accounts.Service{e.a, e.b}[i%2]
			wg.Go(func() {
				s, err := svc.SignIn(t.Context(), accounts.SignIn{IP: "192.0.2.9", Email: "alice@example.com", Password: password,
					TOTP: code, Type: accounts.TypeAPI})
				switch {
				case err == nil:
					ok.Add(1)
					e.mu(func() { e.secrets = append(e.secrets, s.Secret) })
				case errors.Is(err, accounts.ErrSignInFailed):
					failed.Add(1)
				default:
					t.Errorf("racing sign-in: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || failed.Load() != 4 {
			t.Errorf("one code, 5 racing sign-ins: %d succeeded, %d failed; want 1 and 4", ok.Load(), failed.Load())
		}
		// The next step's code is accepted; the previous step's is not,
		// though VerifyTOTP alone would accept it (30 s of drift).
		e.clock.Add(step)
		if _, err := e.signIn(e.b, "alice@example.com", secret); err != nil {
			t.Errorf("next step's code: %v", err)
		}
		prev := auth.TOTPCode(secret, e.clock.Now().Add(-step))
		if _, err := e.a.SignIn(t.Context(), accounts.SignIn{IP: "192.0.2.9", Email: "alice@example.com", Password: password,
			TOTP: prev, Type: accounts.TypeAPI}); !errors.Is(err, accounts.ErrSignInFailed) {
			t.Errorf("an older step's code after a newer was used: %v, want ErrSignInFailed", err)
		}
	})

	t.Run("FailuresBackOff", func(t *testing.T) {
		e := newEnv(t, open)
		ctx := t.Context()
		_, secret := e.signUp("alice@example.com")
		// A wrong password, a wrong code and an unknown address are the
		// same answer.
		for _, r := range []accounts.SignIn{
			{Email: "alice@example.com", Password: "wrong password!", TOTP: e.code(secret)},
			{Email: "alice@example.com", Password: password, TOTP: "000000"},
			{Email: "nobody@example.com", Password: password, TOTP: "123456"},
		} {
			r.IP, r.Type = "192.0.2.7", accounts.TypeAPI
			if _, err := e.a.SignIn(ctx, r); err != accounts.ErrSignInFailed {
				t.Errorf("SignIn %s/%.5s…: %v, want ErrSignInFailed", r.Email, r.Password, err)
			}
		}
		// Failures on either replica count; the account backs off on both,
		// even for the right password and code.
		var limited error
		for i := 0; i < 20 && limited == nil; i++ {
			_, err := []*accounts.Service{e.a, e.b}[i%2].SignIn(ctx, accounts.SignIn{IP: "192.0.2.7", Email: "alice@example.com",
				Password: "wrong password!", TOTP: "000000", Type: accounts.TypeAPI})
			if kind(err) == accounts.Limited {
				limited = err
			} else if err != accounts.ErrSignInFailed {
				t.Fatalf("failing sign-in %d: %v", i, err)
			}
		}
		var de *accounts.Error
		if !errors.As(limited, &de) || de.RetryAfter <= 0 || !strings.Contains(de.Msg, "too many failed sign-ins") {
			t.Fatalf("20 failed sign-ins: last %v, want Limited with a RetryAfter", limited)
		}
		if _, err := e.signIn(e.b, "alice@example.com", secret); kind(err) != accounts.Limited {
			t.Errorf("right credentials during the backoff: %v, want Limited", err)
		}
		e.clock.Add(de.RetryAfter + time.Second)
		if _, err := e.signIn(e.a, "alice@example.com", secret); err != nil {
			t.Errorf("right credentials after the backoff: %v", err)
		}
		// An address's failures, whatever the accounts, back it off past its
		// free failures, on both replicas; another address is not limited.
		limited = nil
		for i := 0; i < 20 && limited == nil; i++ {
			svc := []*accounts.Service{e.a, e.b}[i%2]
			if err := svc.LimitIP(ctx, "192.0.2.66"); err != nil {
				limited = err
				break
			}
			if _, err := svc.SignIn(ctx, accounts.SignIn{IP: "192.0.2.66", Email: fmt.Sprintf("nobody%d@example.com", i),
				Password: password, TOTP: "123456", Type: accounts.TypeAPI}); err != accounts.ErrSignInFailed {
				t.Fatalf("sign-in %d to no account: %v", i, err)
			}
		}
		if kind(limited) != accounts.Limited || !errors.As(limited, &de) || de.RetryAfter <= 0 {
			t.Errorf("20 failures from one address: %v, want Limited with a RetryAfter", limited)
		}
		if err := e.b.LimitIP(ctx, "192.0.2.67"); err != nil {
			t.Errorf("LimitIP of another address: %v", err)
		}
	})

	t.Run("DeviceCookiesKeepOwnerIn", func(t *testing.T) { deviceCookiesKeepOwnerIn(t, newEnv(t, open)) })

	t.Run("Reset", func(t *testing.T) {
		e := newEnv(t, open)
		ctx := t.Context()
		id, secret := e.signUp("alice@example.com")
		old, err := e.signIn(e.a, "alice@example.com", secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.a.StartReset(ctx, "nobody@example.com"); err != nil || len(e.mail.all()) != 0 {
			t.Fatalf("reset of an address without an account: %v, %d messages", err, len(e.mail.all()))
		}
		if err := e.a.StartReset(ctx, "not an address"); kind(err) != accounts.Invalid {
			t.Errorf("reset of a malformed address: %v", err)
		}
		if err := e.a.StartReset(ctx, "Alice@example.com"); err != nil {
			t.Fatal(err)
		}
		msgs := e.mail.all()
		if len(msgs) != 1 || !strings.HasPrefix(msgs[0], "alice@example.com\n") {
			t.Fatalf("reset mail: %q", msgs)
		}
		token := regexp.MustCompile(`Reset token: (vgr_\S+)`).FindStringSubmatch(msgs[0])
		if token == nil || !strings.Contains(msgs[0], "https://vigil.test/reset#"+token[1]) {
			t.Fatalf("reset mail without a token and its link: %q", msgs[0])
		}
		e.secrets = append(e.secrets, token[1])
		const newPassword = "a new and long password"
		e.secrets = append(e.secrets, newPassword)
		e.clock.Add(step)
		// The token alone, or a wrong token, is refused.
		for _, c := range []struct{ token, code string }{{token[1], "000000"}, {"vgr_wrong", e.code(secret)}, {"", ""}, {old.Secret, e.code(secret)}} {
			if err := e.b.ConfirmReset(ctx, "192.0.2.3", c.token, c.code, newPassword); kind(err) != accounts.Forbidden {
				t.Errorf("ConfirmReset(%.8q, %q): %v, want Forbidden", c.token, c.code, err)
			}
		}
		code := e.code(secret)
		e.secrets = append(e.secrets, code)
		if err := e.b.ConfirmReset(ctx, "192.0.2.3", token[1], code, "short"); kind(err) != accounts.Invalid {
			t.Errorf("a weak new password: %v, want Invalid", err)
		}
		e.clock.Add(step)
		code = e.code(secret)
		e.secrets = append(e.secrets, code)
		if err := e.b.ConfirmReset(ctx, "192.0.2.3", token[1], code, newPassword); err != nil {
			t.Fatalf("ConfirmReset: %v", err)
		}
		// Every session is signed out, the token is used, the new password
		// signs in.
		if _, _, err := e.a.Authenticate(ctx, accounts.Credential{Secret: old.Secret, Kind: store.TokenSession, Reading: true}); kind(err) != accounts.Unauthorized {
			t.Errorf("a session from before the reset: %v", err)
		}
		e.clock.Add(step)
		if err := e.b.ConfirmReset(ctx, "192.0.2.3", token[1], e.code(secret), "yet another password"); kind(err) != accounts.Forbidden {
			t.Errorf("a used reset token: %v, want Forbidden", err)
		}
		e.clock.Add(step)
		if _, err := e.signIn(e.a, "alice@example.com", secret); err != accounts.ErrSignInFailed {
			t.Errorf("the old password after a reset: %v", err)
		}
		e.clock.Add(step)
		code = e.code(secret)
		s, err := e.a.SignIn(ctx, accounts.SignIn{IP: "192.0.2.3", Email: "alice@example.com", Password: newPassword, TOTP: code, Type: accounts.TypeAPI})
		e.secrets = append(e.secrets, code, s.Secret)
		if err != nil || s.AccountID != id {
			t.Errorf("the new password: %+v, %v", s, err)
		}
		// An expired reset token is refused.
		if err := e.a.StartReset(ctx, "alice@example.com"); err != nil {
			t.Fatal(err)
		}
		late := regexp.MustCompile(`Reset token: (vgr_\S+)`).FindStringSubmatch(e.mail.all()[1])
		e.secrets = append(e.secrets, late[1])
		e.clock.Add(accounts.DefaultResetTTL + time.Second)
		if err := e.b.ConfirmReset(ctx, "192.0.2.3", late[1], e.code(secret), "yet another password"); kind(err) != accounts.Forbidden {
			t.Errorf("an expired reset token: %v, want Forbidden", err)
		}
	})

	t.Run("SignInLinkOnce", func(t *testing.T) {
		e := newEnv(t, open)
		ctx := t.Context()
		id, _ := e.signUp("alice@example.com")
		link, err := e.a.SignInLink(ctx, id, 5*time.Minute)
		if err != nil || !strings.HasPrefix(link, "vgl_") {
			t.Fatalf("SignInLink: %q, %v", link, err)
		}
		e.secrets = append(e.secrets, link)
		var ok, refused atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			svc := []*accounts.Service{e.a, e.b}[i%2]
			wg.Go(func() {
				s, err := svc.SignInWithLink(ctx, "192.0.2.4", link)
				switch {
				case err == nil && s.AccountID == id && s.Type == accounts.TypeBrowser && s.CSRF != "":
					ok.Add(1)
					e.mu(func() { e.secrets = append(e.secrets, s.Secret, s.CSRF) })
				case kind(err) == accounts.Unauthorized:
					refused.Add(1)
				default:
					t.Errorf("racing link sign-in: %+v, %v", s, err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || refused.Load() != 7 {
			t.Errorf("one link, 8 racing uses: %d signed in, %d refused; want 1 and 7", ok.Load(), refused.Load())
		}
		late, err := e.b.SignInLink(ctx, id, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		e.secrets = append(e.secrets, late)
		e.clock.Add(time.Minute + time.Second)
		if _, err := e.a.SignInWithLink(ctx, "192.0.2.4", late); kind(err) != accounts.Unauthorized {
			t.Errorf("an expired link: %v", err)
		}
		if _, err := e.a.SignInLink(ctx, "a-nobody", time.Minute); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a link for no account: %v, want store.ErrNotFound", err)
		}
	})

	t.Run("BindDevice", func(t *testing.T) {
		e := newEnv(t, open)
		ctx := t.Context()
		_, secret := e.signUp("alice@example.com")
		sess, err := e.signIn(e.a, "alice@example.com", secret)
		if err != nil {
			t.Fatal(err)
		}
		tok := func() store.Token {
			_, tk, err := e.b.Authenticate(ctx, accounts.Credential{Secret: sess.Secret, Kind: store.TokenSession, Reading: true})
			if err != nil {
				t.Fatal(err)
			}
			return tk
		}
		mine, _ := keydir.NewDeviceKeys()
		other, _ := keydir.NewDeviceKeys()
		sign := func(k *keydir.DeviceKeys, tk store.Token) string {
			c, _ := base64.RawURLEncoding.DecodeString(accounts.DeviceChallenge(tk))
			return base64.RawURLEncoding.EncodeToString(ed25519.Sign(k.Sign, auth.SessionDeviceMessage(c)))
		}
		myID := keydir.DeviceID(mine.Sign.Public().(ed25519.PublicKey))
		if _, err := e.a.BindDevice(ctx, tok(), keydir.EncodeDevice(mine), sign(other, tok())); kind(err) != accounts.Unauthorized {
			t.Errorf("another key's signature: %v, want Unauthorized", err)
		}
		if _, err := e.a.BindDevice(ctx, tok(), "vigdev1:junk", sign(mine, tok())); kind(err) != accounts.Invalid {
			t.Errorf("a malformed device: %v, want Invalid", err)
		}
		if got, err := e.a.BindDevice(ctx, tok(), keydir.EncodeDevice(mine), sign(mine, tok())); err != nil || got != myID {
			t.Fatalf("BindDevice: %q, %v", got, err)
		}
		if tok().Device != myID {
			t.Errorf("the session's device on the other replica: %q, want %q", tok().Device, myID)
		}
		if got, err := e.b.BindDevice(ctx, tok(), keydir.EncodeDevice(mine), sign(mine, tok())); err != nil || got != myID {
			t.Errorf("binding the same device again: %q, %v", got, err)
		}
		if _, err := e.b.BindDevice(ctx, tok(), keydir.EncodeDevice(other), sign(other, tok())); kind(err) != accounts.Conflict {
			t.Errorf("binding another device: %v, want Conflict", err)
		}
	})
}

// step is one TOTP step: a code of the next step is one not used yet.
const step = auth.TOTPPeriod

func (e *env) mu(f func()) {
	e.smu.Lock()
	defer e.smu.Unlock()
	f()
}

func authHash(secret string) [32]byte { return auth.HashToken(secret) }

// The lock-out attack: an outsider who knows the owner's e-mail address
// fails on purpose, from another address, far past the point where the
// account's untrusted clients back off. The outsider is then refused; the
// owner's browser, holding the device cookie of an earlier sign-in, signs
// in with the password and code on the other replica; a forged or another
// account's cookie gets the outsider nothing; and the outsider's further
// attempts stay limited to the backoff's few.
func deviceCookiesKeepOwnerIn(t *testing.T, e *env) {
	ctx := t.Context()
	aliceID, secret := e.signUp("alice@example.com")
	_, bobSecret := e.signUp("bob@example.com")
	owner, err := e.signIn(e.a, "alice@example.com", secret)
	if err != nil {
		t.Fatal(err)
	}
	if owner.Device.Name != accounts.DeviceCookieName(aliceID) || !accounts.IsDeviceCookieName(owner.Device.Name) ||
		owner.Device.Value == "" || !owner.Device.Expires.After(e.clock.Now().Add(30*24*time.Hour)) {
		t.Fatalf("sign-in issued the device cookie %q (expires %v)", owner.Device.Name, owner.Device.Expires)
	}
	e.clock.Add(step)
	bob, err := e.signIn(e.a, "bob@example.com", bobSecret)
	if err != nil {
		t.Fatal(err)
	}
	if bob.Device.Name == owner.Device.Name {
		t.Errorf("two accounts' device cookies share the name %q", bob.Device.Name)
	}

	attack := func(svc *accounts.Service, cookies ...accounts.DeviceCookie) error {
		_, err := svc.SignIn(ctx, accounts.SignIn{IP: "203.0.113.66", Email: "alice@example.com", Password: "a guess at the password",
			TOTP: "123456", Type: accounts.TypeAPI, DeviceCookies: cookies})
		if err != accounts.ErrSignInFailed && kind(err) != accounts.Limited {
			t.Fatalf("attacker's sign-in: %v", err)
		}
		return err
	}
	// Far more failures than the old threshold (9), one a second.
	const n = 30
	failed, limited := 0, 0
	for i := range n {
		if err := attack([]*accounts.Service{e.a, e.b}[i%2]); kind(err) == accounts.Limited {
			limited++
		} else {
			failed++
		}
		e.clock.Add(time.Second)
	}
	t.Logf("%d attempts: %d reached the password check, %d refused", n, failed, limited)
	if failed > accounts.AccountFreeFailures+5 || limited < n-accounts.AccountFreeFailures-5 {
		t.Errorf("%d attempts in %d s: %d reached the password check, want at most %d", n, n, failed, accounts.AccountFreeFailures+5)
	}
	var de *accounts.Error
	if err := attack(e.a); !errors.As(err, &de) || de.Kind != accounts.Limited || de.RetryAfter <= 0 {
		t.Fatalf("attacker after %d failures: %v, want Limited with a RetryAfter", n, err)
	}
	// An untrusted client with the right credentials is refused too: that
	// is what the outsider can still do.
	if _, err := e.signIn(e.b, "alice@example.com", secret); kind(err) != accounts.Limited {
		t.Errorf("the owner from a new browser while untrusted clients are locked out: %v, want Limited", err)
	}
	// A forged cookie, a changed one, and another account's are the same as
	// none.
	forged := "v1." + strings.Repeat("A", 22) + "." + fmt.Sprint(e.clock.Now().Add(time.Hour).Unix()) + "." + strings.Repeat("A", 43)
	changed := []byte(owner.Device.Value)
	changed[5] ^= 1
	as := func(v string) accounts.DeviceCookie { return accounts.DeviceCookie{Name: owner.Device.Name, Value: v} }
	for name, c := range map[string]accounts.DeviceCookie{"forged": as(forged), "changed": as(string(changed)),
		"bob's": bob.Device, "bob's, under alice's name": as(bob.Device.Value), "garbage": as("v1....")} {
		if err := attack(e.b, c); kind(err) != accounts.Limited {
			t.Errorf("attacker with a %s device cookie: %v, want Limited (untrusted)", name, err)
		}
	}
	// The owner's browser signs in, on the other replica, with its cookie.
	e.clock.Add(step)
	code := e.code(secret)
	e.secrets = append(e.secrets, code)
	again, err := e.b.SignIn(ctx, accounts.SignIn{IP: "192.0.2.1", Email: "alice@example.com", Password: password, TOTP: code,
		Type: accounts.TypeBrowser, DeviceCookies: []accounts.DeviceCookie{bob.Device, as(bob.Device.Value), owner.Device}})
	e.secrets = append(e.secrets, again.Secret, again.CSRF, again.Device.Value)
	if err != nil || again.AccountID != aliceID {
		t.Fatalf("the owner with the device cookie during the attack: %+v, %v", again.AccountID, err)
	}
	if again.Device.Value == owner.Device.Value {
		t.Error("a sign-in renewed the device cookie to the same value")
	}
	// The owner's success did not reopen guessing for the outsider, whose
	// further attempts stay limited: one every 5 s for 15 min reaches the
	// password check only when a backoff window has ended (windows of 8 s,
	// 16 s, ... 512 s: a handful).
	failed, limited = 0, 0
	for range 180 {
		if err := attack(e.a); kind(err) == accounts.Limited {
			limited++
		} else {
			failed++
		}
		e.clock.Add(5 * time.Second)
	}
	t.Logf("180 more attempts over 15 min: %d reached the password check, %d refused", failed, limited)
	if failed > 8 || limited < 172 {
		t.Errorf("180 attempts over 15 min: %d reached the password check, want at most 8", failed)
	}
	// A device cookie that fails too often is locked out itself; another
	// browser's cookie for the account is not.
	e.clock.Add(step)
	second, err := e.b.SignIn(ctx, accounts.SignIn{IP: "192.0.2.2", Email: "alice@example.com", Password: password, TOTP: e.code(secret),
		Type: accounts.TypeBrowser, DeviceCookies: []accounts.DeviceCookie{again.Device}})
	e.secrets = append(e.secrets, second.Secret, second.CSRF, second.Device.Value)
	if err != nil {
		t.Fatalf("a second trusted sign-in: %v", err)
	}
	var cookieLimited error
	for i := 0; i < 3*accounts.AccountFreeFailures && cookieLimited == nil; i++ {
		if err := attack(e.a, second.Device); kind(err) == accounts.Limited {
			cookieLimited = err
		} else if i < accounts.AccountFreeFailures && err != accounts.ErrSignInFailed {
			t.Fatalf("failure %d with a valid device cookie: %v", i, err)
		}
	}
	if cookieLimited == nil || !strings.Contains(cookieLimited.Error(), "this browser") {
		t.Fatalf("%d failures with one device cookie: %v, want it locked out", 3*accounts.AccountFreeFailures, cookieLimited)
	}
	e.clock.Add(step)
	code = e.code(secret)
	e.secrets = append(e.secrets, code)
	third, err := e.a.SignIn(ctx, accounts.SignIn{IP: "192.0.2.1", Email: "alice@example.com", Password: password, TOTP: code,
		Type: accounts.TypeBrowser, DeviceCookies: []accounts.DeviceCookie{again.Device}})
	e.secrets = append(e.secrets, third.Secret, third.CSRF, third.Device.Value)
	if err != nil {
		t.Errorf("another trusted browser while one device cookie is locked out: %v", err)
	}
	// A device cookie past its expiry is untrusted: while the untrusted
	// clients are locked out again, it is refused with the right
	// credentials.
	e.clock.Add(accounts.DeviceCookieTTL + time.Second)
	for range 3 * accounts.AccountFreeFailures {
		attack(e.a) // at one instant: the last ones are refused
	}
	if _, err := e.a.SignIn(ctx, accounts.SignIn{IP: "192.0.2.1", Email: "alice@example.com", Password: password, TOTP: e.code(secret),
		Type: accounts.TypeAPI, DeviceCookies: []accounts.DeviceCookie{third.Device}}); kind(err) != accounts.Limited {
		t.Errorf("an expired device cookie while untrusted clients are locked out: %v, want Limited", err)
	}
	// Failed sign-ins do not block a reset (it needs the mailed token, and
	// has a bucket of its own).
	if err := e.a.StartReset(ctx, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	msgs := e.mail.all()
	token := regexp.MustCompile(`Reset token: (vgr_\S+)`).FindStringSubmatch(msgs[len(msgs)-1])
	if token == nil {
		t.Fatal("no reset token mailed")
	}
	code = e.code(secret)
	e.secrets = append(e.secrets, token[1], code)
	if err := e.b.ConfirmReset(ctx, "192.0.2.1", token[1], code, "a new and long password"); err != nil {
		t.Errorf("a reset while untrusted sign-ins are locked out: %v", err)
	}
	key, err := e.st.Get(ctx, "device-cookie-key", e.clock.Now())
	if err != nil || len(key) != 32 {
		t.Fatalf("the device-cookie key in the store: %d bytes, %v", len(key), err)
	}
	e.secrets = append(e.secrets, fmt.Sprintf("%x", key), base64.RawURLEncoding.EncodeToString(key), base64.StdEncoding.EncodeToString(key))
}
