package passkeys

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"vigil/internal/cloud/store"
)

// Store is the storage the passkeys domain needs: accounts (read only),
// their passkeys, and the short-lived entries ceremonies are kept in. The
// cloud's SQLite and PostgreSQL stores satisfy it.
type Store interface {
	Account(ctx context.Context, id string) (store.Account, error)           // store.ErrNotFound when missing
	AccountByEmail(ctx context.Context, email string) (store.Account, error) // store.ErrNotFound when missing

	PutCredential(ctx context.Context, c store.Credential) error // store.ErrExists for a taken ID
	Credentials(ctx context.Context, accountID string) ([]store.Credential, error)
	UpdateCredential(ctx context.Context, c store.Credential) error
	DeleteCredential(ctx context.Context, accountID string, id []byte) error // store.ErrNotFound when not the account's

	// PutIfAbsent and Take are those of store.EphemeralStore.
	PutIfAbsent(ctx context.Context, key string, value []byte, now, expires time.Time) (bool, error)
	Take(ctx context.Context, key string, now time.Time) ([]byte, error)
}

// CeremonyTTL bounds how long a begun ceremony can be finished.
const CeremonyTTL = 5 * time.Minute

// keyCeremony prefixes a ceremony's ID in the Store's short-lived entries.
const keyCeremony = "passkey/"

// maxCeremonyID bounds a ceremony ID a caller names (IDs made here have 24
// characters).
const maxCeremonyID = 64

// Config configures a Service.
type Config struct {
	Store Store
	// Staff keeps staff passkeys (staff.go); nil turns staff sign-in off.
	Staff StaffStore
	// PublicURL is the service's external URL: the default relying party.
	PublicURL string
	// RPID is the relying party ID passkeys are bound to: a domain name,
	// PublicURL's host or a parent domain of it. Empty means PublicURL's
	// host ("localhost" when that is a loopback address; any other IP
	// address turns passkeys off). Changing it orphans every registered
	// passkey.
	RPID string
	// RPOrigins are the web origins allowed to run ceremonies. Empty means
	// PublicURL's origin, plus the same port on localhost when PublicURL is
	// a loopback address.
	RPOrigins []string
	Logger    *slog.Logger
	Now       func() time.Time
}

// Service is the passkeys domain. It is safe for concurrent use; it holds
// no state but its configuration (ceremonies are in the Store), so
// replicas sharing a Store behave as one.
type Service struct {
	st    Store
	staff StaffStore         // nil: no staff passkeys (staff.go)
	rp    *webauthn.WebAuthn // nil when passkeys are off
	off   string             // why they are off (the client's message)
	log   *slog.Logger
	now   func() time.Time
}

// New returns a Service over c.Store. Relying-party settings given
// explicitly (RPID, RPOrigins) must be valid; ones derived from PublicURL
// that cannot work turn passkeys off (Off says why) instead of failing.
func New(c Config) (*Service, error) {
	if c.Store == nil {
		return nil, errors.New("passkeys: a store is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	s := &Service{st: c.Store, staff: c.Staff, log: c.Logger, now: c.Now}
	var err error
	if s.rp, s.off, err = relyingParty(c); err != nil {
		return nil, err
	}
	return s, nil
}

// relyingParty configures the relying party, or says why there is none.
func relyingParty(c Config) (*webauthn.WebAuthn, string, error) {
	rpID, origins := c.RPID, c.RPOrigins
	var u *url.URL
	if c.PublicURL != "" {
		var err error
		if u, err = url.Parse(c.PublicURL); err != nil || u.Host == "" {
			u = nil
		}
	}
	if rpID == "" && u != nil {
		rpID = u.Hostname()
		if ip := net.ParseIP(rpID); ip != nil {
			if !ip.IsLoopback() {
				return nil, fmt.Sprintf("passkeys need a domain name, and the service's public URL has the address %s (hint: set public_url to a https://name)", rpID), nil
			}
			// Browsers take "localhost" as a relying party, never an address.
			rpID = "localhost"
		}
	}
	if len(origins) == 0 && u != nil {
		origins = []string{u.Scheme + "://" + u.Host}
		if rpID == "localhost" && u.Hostname() != "localhost" {
			origins = append(origins, u.Scheme+"://"+net.JoinHostPort("localhost", u.Port()))
			if u.Port() == "" {
				origins[1] = u.Scheme + "://localhost"
			}
		}
	}
	explicit := c.RPID != "" || len(c.RPOrigins) != 0
	if rpID == "" || len(origins) == 0 {
		if explicit {
			return nil, "", errors.New("passkeys: RPID and RPOrigins need each other, or a PublicURL to derive the other from")
		}
		return nil, "passkeys are off: the service has no public URL (hint: set public_url)", nil
	}
	rp, err := webauthn.New(&webauthn.Config{RPID: rpID, RPDisplayName: "Vigil", RPOrigins: origins})
	if err != nil {
		if explicit {
			return nil, "", fmt.Errorf("passkeys: %w", err)
		}
		return nil, fmt.Sprintf("passkeys are off: the public URL does not make a WebAuthn relying party (%v)", err), nil
	}
	return rp, "", nil
}

// Off returns why passkeys are off in this deployment, "" when they are on.
func (s *Service) Off() string { return s.off }

// relyingParty returns the relying party, or the refusal saying why
// passkeys are off.
func (s *Service) relyingParty() (*webauthn.WebAuthn, error) {
	if s.rp == nil {
		return nil, errorf(Off, "%s", s.off)
	}
	return s.rp, nil
}

// Begun is a ceremony begun: its ID, which the browser's answer names, and
// the options for the browser's navigator.credentials call (JSON, with the
// challenge; no secret).
type Begun struct {
	Ceremony string
	Options  json.RawMessage
}

// Grant is what a sign-in asks for (a token type and scopes), carried
// through the ceremony unread: the accounts package checks it before
// BeginLogin and issues it after FinishLogin.
type Grant struct {
	Type   string   `json:"token_type,omitempty"`
	Scopes []string `json:"scopes,omitempty"`
}

// ceremony is a begun registration or sign-in, usable once, as stored
// (JSON) under keyCeremony and its ID. The session data holds the
// challenge; it is no secret (the browser gets it), and the ceremony's ID
// is random.
type ceremony struct {
	Session  webauthn.SessionData `json:"session"`
	Register bool                 `json:"register,omitempty"`
	// AccountID is, for a registration, the signed-in account; for a
	// sign-in with Bound set, the only account that may finish it ("" for
	// an e-mail address without an account: nobody).
	AccountID string `json:"account_id,omitempty"`
	Bound     bool   `json:"bound,omitempty"`
	// Staff marks a staff ceremony (staff.go): AccountID then holds the
	// staff ID of a registration, and StaffName its name.
	Staff     bool   `json:"staff,omitempty"`
	StaffName string `json:"staff_name,omitempty"`
	Grant
}

// put stores cer for CeremonyTTL and returns it begun with options.
func (s *Service) put(ctx context.Context, cer *ceremony, options any) (Begun, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return Begun{}, err
	}
	v, err := json.Marshal(cer)
	if err != nil {
		return Begun{}, err
	}
	b := make([]byte, 18)
	rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	now := s.now()
	stored, err := s.st.PutIfAbsent(ctx, keyCeremony+id, v, now, now.Add(CeremonyTTL))
	if err != nil {
		return Begun{}, err
	}
	if !stored { // two random 18-byte IDs alike: never
		return Begun{}, errors.New("passkeys: ceremony ID collision")
	}
	return Begun{Ceremony: id, Options: opts}, nil
}

// take returns and forgets a ceremony (nil when there is none, or it
// expired): a challenge is answered once, right or wrong, on whichever
// replica.
func (s *Service) take(ctx context.Context, id string) (*ceremony, error) {
	if id == "" || len(id) > maxCeremonyID {
		return nil, nil
	}
	v, err := s.st.Take(ctx, keyCeremony+id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cer := &ceremony{}
	if err := json.Unmarshal(v, cer); err != nil {
		return nil, fmt.Errorf("passkeys: a stored ceremony: %w", err)
	}
	return cer, nil
}

// user is an account as the WebAuthn library sees it. Its user handle is
// the account ID (random; no e-mail address).
type user struct {
	a     store.Account
	creds []webauthn.Credential
}

func (u user) WebAuthnID() []byte                         { return []byte(u.a.ID) }
func (u user) WebAuthnName() string                       { return u.a.Email }
func (u user) WebAuthnDisplayName() string                { return u.a.Email }
func (u user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func (s *Service) user(ctx context.Context, a store.Account) (user, error) {
	stored, err := s.st.Credentials(ctx, a.ID)
	if err != nil {
		return user{}, err
	}
	u := user{a: a}
	for _, c := range stored {
		var wc webauthn.Credential
		if err := json.Unmarshal(c.Data, &wc); err != nil {
			return user{}, fmt.Errorf("passkeys: a stored passkey of %s: %w", a.ID, err)
		}
		u.creds = append(u.creds, wc)
	}
	return u, nil
}

// Passkey is a registered passkey as its account sees it.
type Passkey struct {
	ID       []byte // WebAuthn's credential ID
	Created  time.Time
	LastUsed time.Time
}

// BeginRegistration begins adding a passkey to the signed-in account a:
// a discoverable credential with user verification, other than the
// account's passkeys.
func (s *Service) BeginRegistration(ctx context.Context, a store.Account) (Begun, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return Begun{}, err
	}
	u, err := s.user(ctx, a)
	if err != nil {
		return Begun{}, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, cr := range u.creds {
		exclude = append(exclude, cr.Descriptor())
	}
	creation, session, err := rp.BeginRegistration(u,
		webauthn.WithExclusions(exclude),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, UserVerification: protocol.VerificationRequired}))
	if err != nil {
		return Begun{}, err
	}
	return s.put(ctx, &ceremony{Session: *session, Register: true, AccountID: a.ID}, creation)
}

// FinishRegistration checks the browser's answer (response, the
// PublicKeyCredential as JSON) to the registration ceremonyID that a began,
// and stores the new passkey. The ceremony is used up either way.
func (s *Service) FinishRegistration(ctx context.Context, a store.Account, ceremonyID string, response []byte) (Passkey, error) {
	cer, err := s.take(ctx, ceremonyID)
	if err != nil {
		return Passkey{}, err
	}
	if cer == nil || !cer.Register || cer.Staff || cer.AccountID != a.ID {
		return Passkey{}, errorf(Invalid, "no such passkey registration in progress (expired, already used, or begun by another account); begin again")
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Passkey{}, errorf(Invalid, "passkey registration refused: %s", reason(err))
	}
	rp, err := s.relyingParty()
	if err != nil {
		return Passkey{}, err
	}
	u, err := s.user(ctx, a)
	if err != nil {
		return Passkey{}, err
	}
	cred, err := rp.CreateCredential(u, cer.Session, parsed)
	if err != nil {
		return Passkey{}, errorf(Invalid, "passkey registration refused: %s", reason(err))
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return Passkey{}, err
	}
	now := s.now().UTC()
	if err := s.st.PutCredential(ctx, store.Credential{ID: cred.ID, AccountID: a.ID, Data: data, Created: now, LastUsed: now}); errors.Is(err, store.ErrExists) {
		return Passkey{}, errorf(Conflict, "this passkey is already registered")
	} else if err != nil {
		return Passkey{}, err
	}
	s.log.Info("passkey added", "account", a.ID)
	return Passkey{ID: cred.ID, Created: now, LastUsed: now}, nil
}

// List returns the account's passkeys, oldest first.
func (s *Service) List(ctx context.Context, accountID string) ([]Passkey, error) {
	creds, err := s.st.Credentials(ctx, accountID)
	if err != nil {
		return nil, err
	}
	out := []Passkey{}
	for _, c := range creds {
		out = append(out, Passkey{ID: c.ID, Created: c.Created, LastUsed: c.LastUsed})
	}
	return out, nil
}

// Delete removes one of the account's passkeys (a lost or cloned
// authenticator): it no longer signs in. Another account's passkey is
// NotFound, as is one that does not exist.
func (s *Service) Delete(ctx context.Context, accountID string, id []byte) error {
	if len(id) == 0 || len(id) > 1023 {
		return errorf(NotFound, "no such passkey")
	}
	if err := s.st.DeleteCredential(ctx, accountID, id); errors.Is(err, store.ErrNotFound) {
		return errorf(NotFound, "no such passkey")
	} else if err != nil {
		return err
	}
	s.log.Info("passkey removed", "account", accountID)
	return nil
}

// BeginLogin begins a sign-in with a passkey, for g (checked by the
// caller). email, normalised by the caller, restricts it to that account's
// passkeys; "" allows any account's. The options never list credentials,
// so the answer does not tell whether email has an account.
func (s *Service) BeginLogin(ctx context.Context, email string, g Grant) (Begun, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return Begun{}, err
	}
	cer := &ceremony{Grant: g}
	if email != "" {
		cer.Bound = true
		// An address without an account binds the ceremony to nobody; the
		// answer does not change.
		a, err := s.st.AccountByEmail(ctx, email)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return Begun{}, err
		}
		cer.AccountID = a.ID
	}
	assertion, session, err := rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return Begun{}, err
	}
	cer.Session = *session
	return s.put(ctx, cer, assertion)
}

// SignedIn is the account a passkey proved and the grant its sign-in asked
// for, for accounts.Service.Issue.
type SignedIn struct {
	AccountID string
	Grant     Grant
}

// FinishLogin checks the browser's answer (response, the
// PublicKeyCredential as JSON) to the sign-in ceremonyID and records the
// passkey's use. A wrong answer is Unauthorized (the caller counts it as a
// failed attempt); the ceremony is used up either way.
func (s *Service) FinishLogin(ctx context.Context, ceremonyID string, response []byte) (SignedIn, error) {
	cer, err := s.take(ctx, ceremonyID)
	if err != nil {
		return SignedIn{}, err
	}
	if cer == nil || cer.Register || cer.Staff {
		return SignedIn{}, errorf(Invalid, "no such passkey sign-in in progress (expired or already used); begin again")
	}
	refuse := func(reason string) error {
		return errorf(Unauthorized, "passkey sign-in failed: %s", reason)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return SignedIn{}, refuse(reason(err))
	}
	// Checked before anything else about the passkey, so that an address
	// with an account and one without fail alike.
	if cer.Bound && (cer.AccountID == "" || string(parsed.Response.UserHandle) != cer.AccountID) {
		return SignedIn{}, refuse("this passkey does not belong to the account named at login/begin")
	}
	rp, err := s.relyingParty()
	if err != nil {
		return SignedIn{}, err
	}
	var (
		u         user
		lookupErr error // the server's fault, not the client's
	)
	lookup := func(rawID, userHandle []byte) (webauthn.User, error) {
		if len(userHandle) > 64 {
			return nil, errors.New("no account has this passkey")
		}
		a, err := s.st.Account(ctx, string(userHandle))
		if errors.Is(err, store.ErrNotFound) {
			return nil, errors.New("no account has this passkey")
		}
		if err == nil {
			u, err = s.user(ctx, a)
		}
		if err != nil {
			lookupErr = err
			return nil, errors.New("internal error")
		}
		return u, nil
	}
	cred, err := rp.ValidateDiscoverableLogin(lookup, cer.Session, parsed)
	if lookupErr != nil {
		return SignedIn{}, lookupErr
	}
	if err != nil {
		return SignedIn{}, refuse(reason(err))
	}
	if cred.Authenticator.CloneWarning {
		s.log.Warn("passkey signature counter went backwards (a cloned authenticator?); sign-in refused", "account", u.a.ID)
		return SignedIn{}, refuse("the authenticator's signature counter went backwards, so this passkey may have been copied; " +
			"sign in with your password and code, and remove it (DELETE /v1/passkeys/{id})")
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return SignedIn{}, err
	}
	if err := s.st.UpdateCredential(ctx, store.Credential{ID: cred.ID, Data: data, LastUsed: s.now().UTC()}); err != nil {
		return SignedIn{}, err
	}
	return SignedIn{AccountID: u.a.ID, Grant: cer.Grant}, nil
}

// reason is the client-facing reason of a WebAuthn error: the library's
// details name the failed check (origin, challenge, signature, credential)
// and hold no secrets; the checks of the authenticator data, which it
// reports only in its developer information, are named here.
func reason(err error) string {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		return "the response does not verify"
	}
	switch {
	case strings.HasPrefix(pe.DevInfo, "RP Hash mismatch"):
		return "the passkey is for another site (RP ID hash mismatch)"
	case strings.HasPrefix(pe.DevInfo, "User verification required"):
		return "the authenticator did not verify the user (PIN or biometrics are required)"
	case strings.HasPrefix(pe.DevInfo, "User presence required"):
		return "the authenticator did not report the user present"
	case strings.HasPrefix(pe.Details, "Error validating the assertion signature"):
		return "the signature does not verify"
	case pe.Details != "":
		return pe.Details
	}
	return "the response does not verify"
}
