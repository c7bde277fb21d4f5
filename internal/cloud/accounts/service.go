package accounts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"

	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
)

// Store is the storage the accounts domain needs: accounts, tokens and the
// short-lived state replicas share. The cloud's SQLite and PostgreSQL
// stores satisfy it.
type Store interface {
	CreateAccount(ctx context.Context, a store.Account) error // store.ErrExists for a taken e-mail or ID
	Account(ctx context.Context, id string) (store.Account, error)
	AccountByEmail(ctx context.Context, email string) (store.Account, error)
	UpdateAccount(ctx context.Context, a store.Account) error

	PutToken(ctx context.Context, t store.Token) error
	Token(ctx context.Context, hash [32]byte) (store.Token, error) // store.ErrNotFound when missing or expired
	DeleteToken(ctx context.Context, hash [32]byte) error
	DeleteTokens(ctx context.Context, accountID, kind string) error

	store.EphemeralStore
}

// Mailer sends the service's e-mail (password resets). The message holds a
// reset token: implementations must not log the body.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Token scopes.
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

// Token types a sign-in asks for.
const (
	TypeAPI     = "api"     // a bearer token for the CLI and scripts
	TypeBrowser = "browser" // a session cookie with its CSRF token
)

// Defaults of Config.
const (
	DefaultSessionTTL  = 12 * time.Hour
	DefaultAPITokenTTL = 90 * 24 * time.Hour
	DefaultResetTTL    = 30 * time.Minute
	// MaxSignInLinkTTL bounds how long a sign-in link stays valid.
	MaxSignInLinkTTL = time.Hour
	// hashingSlots bounds concurrent Argon2id work (64 MiB each by default).
	hashingSlots = 4
	// AccountFreeFailures is how many failed sign-ins an account's
	// untrusted clients (together), or one device cookie, may have before
	// each further one opens a backoff window (1 s, doubling up to 15 min)
	// in which that bucket's sign-ins are refused.
	AccountFreeFailures = 5
)

// Keys of the Store's short-lived entries (store.EphemeralStore): each
// feature keeps its entries under its own prefix.
const (
	keyLimitIP         = "limit/ip/"         // + client address: auth.Limiter bucket
	keyLimitAcct       = "limit/acct/"       // + normalised e-mail: auth.Limiter bucket of untrusted clients' sign-ins
	keyLimitDevice     = "limit/device/"     // + account ID "/" device cookie nonce: auth.Limiter bucket of one trusted client
	keyLimitReset      = "limit/reset/"      // + account ID: auth.Limiter bucket of reset confirmations
	keyTOTP            = "totp/"             // + account ID: the last TOTP step used (8 bytes)
	keyLink            = "signin-link/"      // + hex SHA-256 of the link token: account ID (signinlink.go)
	keyDeviceCookieKey = "device-cookie-key" // the HMAC key of device cookies (devicecookie.go)
)

// Config configures a Service.
type Config struct {
	Store  Store
	Mailer Mailer // nil sends nothing
	// PublicURL is the service's external URL, for links in e-mails.
	PublicURL string
	// Argon2 are the password hashing parameters; zero means
	// auth.DefaultArgon2.
	Argon2 auth.Argon2Params
	// SessionTTL, APITokenTTL and ResetTTL are how long a browser session,
	// an API token and a reset token last; 0 means the defaults.
	SessionTTL, APITokenTTL, ResetTTL time.Duration
	Logger                            *slog.Logger
	Now                               func() time.Time
}

// Service is the accounts domain. It is safe for concurrent use; it holds
// no state but its configuration and a bound on concurrent password
// hashing, so replicas sharing a Store behave as one.
type Service struct {
	st        Store
	mailer    Mailer
	publicURL string
	argon2    auth.Argon2Params
	sessTTL   time.Duration
	apiTTL    time.Duration
	resetTTL  time.Duration
	log       *slog.Logger
	now       func() time.Time

	ipLimit     *auth.Limiter // requests to sign-in, sign-up, reset, pairing per client address
	acctLimit   *auth.Limiter // failed sign-ins per account from untrusted clients: backoff
	deviceLimit *auth.Limiter // failed sign-ins per (account, device cookie): backoff
	resetLimit  *auth.Limiter // failed reset confirmations per account: backoff
	hashing     chan struct{} // Argon2id slots
}

// New returns a Service over c.Store.
func New(c Config) (*Service, error) {
	if c.Store == nil {
		return nil, errors.New("accounts: a store is required")
	}
	if c.Argon2 == (auth.Argon2Params{}) {
		c.Argon2 = auth.DefaultArgon2
	}
	if err := c.Argon2.Validate(); err != nil {
		return nil, fmt.Errorf("accounts: argon2 parameters: %w", err)
	}
	if c.Mailer == nil {
		c.Mailer = discardMailer{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	s := &Service{
		st: c.Store, mailer: c.Mailer, publicURL: c.PublicURL, argon2: c.Argon2,
		sessTTL: or(c.SessionTTL, DefaultSessionTTL), apiTTL: or(c.APITokenTTL, DefaultAPITokenTTL),
		resetTTL: or(c.ResetTTL, DefaultResetTTL),
		log:      c.Logger, now: c.Now,
		hashing: make(chan struct{}, hashingSlots),
	}
	s.ipLimit = auth.NewLimiter(auth.LimiterConfig{
		Rate: 5, Burst: 30, FreeFailures: 10, BaseBackoff: time.Second, MaxBackoff: 5 * time.Minute, Now: c.Now,
	}, c.Store, keyLimitIP)
	// The per-account buckets: one for the clients without a valid device
	// cookie, one per device cookie, one for resets (package doc).
	acct := auth.LimiterConfig{
		Rate: 2, Burst: 10, FreeFailures: AccountFreeFailures, BaseBackoff: time.Second, MaxBackoff: 15 * time.Minute, Now: c.Now,
	}
	s.acctLimit = auth.NewLimiter(acct, c.Store, keyLimitAcct)
	s.deviceLimit = auth.NewLimiter(acct, c.Store, keyLimitDevice)
	s.resetLimit = auth.NewLimiter(acct, c.Store, keyLimitReset)
	return s, nil
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

type discardMailer struct{}

func (discardMailer) Send(context.Context, string, string, string) error { return nil }

// NormalizeEmail trims and lower-cases an address and checks its shape.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 254 {
		return "", errorf(Invalid, "e-mail address is too long")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s, "@") {
		return "", errorf(Invalid, "%q is not an e-mail address", s)
	}
	return s, nil
}

// CheckTokenType checks the type and scopes a sign-in asks for and returns
// the scopes, both when none are named.
func CheckTokenType(typ string, scopes []string) ([]string, error) {
	if typ != TypeAPI && typ != TypeBrowser {
		return nil, errorf(Invalid, `field "type": "api" or "browser"`)
	}
	if len(scopes) == 0 {
		scopes = []string{ScopeRead, ScopeWrite}
	}
	for _, sc := range scopes {
		if sc != ScopeRead && sc != ScopeWrite {
			return nil, errorf(Invalid, `field "scopes": %q is not "read" or "write"`, sc)
		}
	}
	if typ == TypeBrowser && len(scopes) != 2 {
		return nil, errorf(Invalid, `field "scopes": only for "api" tokens`)
	}
	return scopes, nil
}

func newID(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return prefix + fmt.Sprintf("%x", b)
}

// acquireHashing waits for a password-hashing slot; release it with
// <-s.hashing.
func (s *Service) acquireHashing(ctx context.Context) error {
	select {
	case s.hashing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return errorf(Busy, "request cancelled")
	}
}

// SignedUp is a new account and the second factor to enrol in an
// authenticator app.
type SignedUp struct {
	AccountID  string
	TOTPSecret string // base32, as authenticator apps take it
	TOTPURI    string // otpauth:// URI (QR code)
}

// SignUp creates an account with a password and enrols its second factor
// at once: the account cannot sign in with the password alone.
func (s *Service) SignUp(ctx context.Context, email, password string) (SignedUp, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return SignedUp{}, err
	}
	if err := s.acquireHashing(ctx); err != nil {
		return SignedUp{}, err
	}
	hash, err := auth.HashPassword(password, s.argon2)
	<-s.hashing
	if err != nil {
		return SignedUp{}, errorf(Invalid, "%v", err)
	}
	secret, err := auth.NewTOTPSecret()
	if err != nil {
		return SignedUp{}, err
	}
	a := store.Account{ID: newID("a"), Email: email, PasswordHash: hash, TOTPSecret: secret, Created: s.now().UTC()}
	if err := s.st.CreateAccount(ctx, a); errors.Is(err, store.ErrExists) {
		// Saying "taken" tells an outsider the address has an account; the
		// address owner learns it anyway by e-mail in a full deployment.
		return SignedUp{}, errorf(Conflict, "an account with this e-mail address exists; sign in or reset it")
	} else if err != nil {
		return SignedUp{}, err
	}
	s.log.Info("account created", "account", a.ID)
	return SignedUp{AccountID: a.ID, TOTPSecret: auth.Base32Secret(secret), TOTPURI: auth.TOTPURI(secret, email, "Vigil")}, nil
}

// Session is a credential just issued: an API token or a browser session.
// Secret is shown to its holder once and stored nowhere.
type Session struct {
	AccountID string
	Type      string // TypeAPI or TypeBrowser
	Secret    string // the bearer token, or the session cookie's value
	CSRF      string // TypeBrowser: the CSRF token the session's writes carry
	Expires   time.Time
	// Device is the device cookie that makes the client trusted at its
	// next sign-ins to the account (package doc).
	Device DeviceCookie
}

// ErrSignInFailed is the one answer for a wrong e-mail, password or code,
// so the answer does not say which accounts exist or which factor was
// wrong.
var ErrSignInFailed = errorf(Unauthorized, "sign-in failed: wrong e-mail, password or code")

// SignIn is a sign-in with a password and an authenticator code.
type SignIn struct {
	IP       string // the client's address, whose failures are counted
	Email    string
	Password string
	TOTP     string
	Type     string   // TypeAPI or TypeBrowser
	Scopes   []string // TypeAPI: empty means read and write
	// DeviceCookies are the device cookies the client sent (Name and
	// Value of every cookie IsDeviceCookieName names): one valid for the
	// account makes the client trusted (package doc).
	DeviceCookies []DeviceCookie
}

// SignIn checks a password and an authenticator code and issues a session
// or an API token. The caller applies LimitIP first.
func (s *Service) SignIn(ctx context.Context, req SignIn) (Session, error) {
	scopes, err := CheckTokenType(req.Type, req.Scopes)
	if err != nil {
		return Session{}, err
	}
	email, err := NormalizeEmail(req.Email)
	if err != nil {
		return Session{}, err
	}
	a, err := s.st.AccountByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		a, err = store.Account{}, nil // fails below, as a wrong password does
	} else if err != nil {
		return Session{}, err
	}
	// Which bucket the attempt is counted in: its device cookie's when it
	// presents a valid one for the account, the untrusted clients'
	// otherwise.
	nonce, err := s.trustedDevice(ctx, a.ID, req.DeviceCookies)
	if err != nil {
		return Session{}, err
	}
	lim, key, msg := s.acctLimit, email, "too many failed sign-ins for this account from browsers and apps it has not signed in on; "+
		"wait and try again, or sign in where you signed in before"
	if nonce != "" {
		lim, key, msg = s.deviceLimit, a.ID+"/"+nonce, "too many failed sign-ins from this browser; wait and try again"
	}
	if err := s.limit(ctx, lim, key, msg); err != nil {
		return Session{}, err
	}
	fail := func() error {
		s.failed(ctx, lim, key)
		s.failed(ctx, s.ipLimit, req.IP)
		return ErrSignInFailed
	}
	if err := s.acquireHashing(ctx); err != nil {
		return Session{}, err
	}
	var ok bool
	if a.PasswordHash == "" {
		// No such account (or no password): spend the same time as a check.
		auth.CheckDummyWith(req.Password, s.argon2)
	} else {
		ok, err = auth.CheckPassword(a.PasswordHash, req.Password)
	}
	<-s.hashing
	if err != nil {
		return Session{}, err
	}
	if !ok {
		return Session{}, fail()
	}
	// The password alone never signs in (G3).
	if len(a.TOTPSecret) == 0 {
		return Session{}, errorf(Forbidden, "this account has no second factor; it cannot sign in")
	}
	if ok, err := s.useTOTP(ctx, a, req.TOTP); err != nil {
		return Session{}, err
	} else if !ok {
		return Session{}, fail()
	}
	// A trusted client's success ends its own backoff only: the untrusted
	// clients' stays, or the owner signing in would reopen guessing for
	// whoever is locked out.
	s.succeeded(ctx, lim, key)
	sess, err := s.Issue(ctx, a.ID, req.Type, scopes)
	if err != nil {
		return Session{}, err
	}
	s.log.Info("signed in", "account", a.ID, "type", req.Type, "with", "password+totp", "trusted_client", nonce != "")
	return sess, nil
}

// Issue creates an API token or a browser session (with its CSRF token),
// and a device cookie, for an account that proved who it is; typ and
// scopes are as CheckTokenType returns them.
func (s *Service) Issue(ctx context.Context, accountID, typ string, scopes []string) (Session, error) {
	prefix := map[string]string{TypeAPI: "vga_", TypeBrowser: "vgs_"}[typ]
	if prefix == "" {
		return Session{}, fmt.Errorf("accounts: issue: token type %q is not %q or %q", typ, TypeAPI, TypeBrowser)
	}
	secret, hash, err := auth.NewToken(prefix)
	if err != nil {
		return Session{}, err
	}
	t := store.Token{Hash: hash, AccountID: accountID, Created: s.now().UTC(), Scopes: scopes}
	sess := Session{AccountID: accountID, Type: typ, Secret: secret}
	if typ == TypeAPI {
		t.Kind, t.Expires = store.TokenAPI, t.Created.Add(s.apiTTL)
	} else {
		csrf, err := auth.NewCSRFToken()
		if err != nil {
			return Session{}, err
		}
		t.Kind, t.CSRF, t.Expires = store.TokenSession, csrf, t.Created.Add(s.sessTTL)
		sess.CSRF = csrf
	}
	sess.Expires = t.Expires
	if sess.Device, err = s.newDeviceCookie(ctx, accountID); err != nil {
		return Session{}, err
	}
	if err := s.st.PutToken(ctx, t); err != nil {
		return Session{}, err
	}
	return sess, nil
}

// SignOut ends the session or API token whose hash is tokenHash.
func (s *Service) SignOut(ctx context.Context, tokenHash [32]byte) error {
	return s.st.DeleteToken(ctx, tokenHash)
}

// ErrSignInRequired answers a request without a valid credential.
var ErrSignInRequired = errorf(Unauthorized, "sign-in required (hint: 'vigil login', or send the session cookie and X-CSRF-Token)")

// Credential is what a request presents to be authenticated.
type Credential struct {
	// Secret is the bearer token or the session cookie's value.
	Secret string
	// Kind is store.TokenAPI (a bearer token) or store.TokenSession (a
	// cookie).
	Kind string
	// Reading is true for a request that changes nothing (GET, HEAD): a
	// session needs no CSRF token for it, an API token the read scope.
	Reading bool
	// CSRF is the CSRF token the request carries.
	CSRF string
}

// CSRFHeader is the header a session's writes carry its CSRF token in.
const CSRFHeader = "X-CSRF-Token"

// Authenticate returns the account and token of a credential: a session
// must carry its CSRF token to change anything, an API token the scope of
// what it does.
func (s *Service) Authenticate(ctx context.Context, c Credential) (store.Account, store.Token, error) {
	if c.Secret == "" || len(c.Secret) > 256 || (c.Kind != store.TokenAPI && c.Kind != store.TokenSession) {
		return store.Account{}, store.Token{}, ErrSignInRequired
	}
	t, err := s.st.Token(ctx, auth.HashToken(c.Secret))
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.Kind != c.Kind) {
		return store.Account{}, store.Token{}, ErrSignInRequired
	}
	if err != nil {
		return store.Account{}, store.Token{}, err
	}
	if c.Kind == store.TokenSession && !c.Reading {
		if !auth.EqualTokens(c.CSRF, t.CSRF) {
			return store.Account{}, store.Token{}, errorf(Forbidden, "missing or wrong %s header (cross-site request refused)", CSRFHeader)
		}
	}
	if c.Kind == store.TokenAPI {
		need := ScopeWrite
		if c.Reading {
			need = ScopeRead
		}
		if !slices.Contains(t.Scopes, need) {
			return store.Account{}, store.Token{}, errorf(Forbidden, "this API token lacks the %q scope", need)
		}
	}
	a, err := s.st.Account(ctx, t.AccountID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, store.Token{}, ErrSignInRequired
	}
	if err != nil {
		return store.Account{}, store.Token{}, err
	}
	return a, t, nil
}
