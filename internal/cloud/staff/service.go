package staff

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
)

// Store is the storage the staff domain needs: store.StaffStore, and the
// short-lived entries enrolment secrets are kept in.
type Store interface {
	CreateStaff(ctx context.Context, st store.Staff) error // store.ErrExists for a taken ID or name
	Staff(ctx context.Context, id string) (store.Staff, error)
	StaffList(ctx context.Context) ([]store.Staff, error)
	DisableStaff(ctx context.Context, id string, at time.Time) error

	PutStaffToken(ctx context.Context, t store.StaffToken) error
	StaffToken(ctx context.Context, hash [32]byte) (store.StaffToken, error)
	DeleteStaffToken(ctx context.Context, hash [32]byte) error

	InitSupportCode(ctx context.Context, householdID, code string) (string, error)
	SupportCode(ctx context.Context, householdID string) (string, error)
	HouseholdBySupportCode(ctx context.Context, code string) (string, error)

	CreateStaffRequest(ctx context.Context, r store.StaffRequest) error
	StaffRequest(ctx context.Context, hh, id string) (store.StaffRequest, error)
	StaffRequestByID(ctx context.Context, id string) (store.StaffRequest, error)
	StaffRequests(ctx context.Context, hh string) ([]store.StaffRequest, error)
	SetStaffRequestState(ctx context.Context, hh, id, from string, r store.StaffRequest) error
	StaffGrantsDue(ctx context.Context, now time.Time, limit int) ([]store.StaffRequest, error)

	CreateStaffTicket(ctx context.Context, t store.StaffTicket) error
	StaffTicket(ctx context.Context, id string) (store.StaffTicket, error)
	StaffTickets(ctx context.Context, q store.TicketQuery) ([]store.StaffTicket, error)
	SetStaffTicketState(ctx context.Context, id, from string, t store.StaffTicket) error
	AddStaffNote(ctx context.Context, n store.StaffNote) error
	StaffNotes(ctx context.Context, ticketID string) ([]store.StaffNote, error)
	StaffOpsCounts(ctx context.Context, since time.Time) (store.StaffOps, error)

	// The short-lived entries (store.EphemeralStore) enrolment secrets
	// are kept in, usable once.
	PutIfAbsent(ctx context.Context, key string, value []byte, now, expires time.Time) (bool, error)
	Take(ctx context.Context, key string, now time.Time) ([]byte, error)
}

const (
	// DefaultSessionTTL is how long a staff session lasts: one working
	// day, never renewed (staff sign in again).
	DefaultSessionTTL = 10 * time.Hour
	// DefaultEnrolTTL is how long an enrolment secret can be used.
	DefaultEnrolTTL = 24 * time.Hour
	// CSRFHeader is the header a staff session's changes carry its CSRF
	// token in.
	CSRFHeader = "X-Vigil-Staff-CSRF"
	// SessionPrefix and EnrolPrefix begin staff secrets (for people and
	// secret scanners; they add no security).
	SessionPrefix = "vigilstaff_"
	EnrolPrefix   = "vigilenrol_"

	// keyEnrol + the hex SHA-256 of an enrolment secret is the
	// short-lived entry holding the staff ID it enrols.
	keyEnrol = "staff-enrol/"
	// maxName bounds a staff member's name; maxSecret a presented secret.
	maxName   = 100
	maxSecret = 256
)

// Roles are the staff roles, in the order the CLI lists them.
var Roles = []string{store.StaffSupport, store.StaffOperator, store.StaffAdmin}

// Config configures a Service.
type Config struct {
	Store      Store
	SessionTTL time.Duration // 0: DefaultSessionTTL
	EnrolTTL   time.Duration // 0: DefaultEnrolTTL
	Logger     *slog.Logger
	Now        func() time.Time
}

// Service is the staff domain. It holds no state but its configuration, so
// replicas sharing a Store behave as one.
type Service struct {
	st         Store
	sessionTTL time.Duration
	enrolTTL   time.Duration
	log        *slog.Logger
	now        func() time.Time
}

// New returns a Service over c.Store.
func New(c Config) (*Service, error) {
	if c.Store == nil {
		return nil, errors.New("staff: a store is required")
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.EnrolTTL == 0 {
		c.EnrolTTL = DefaultEnrolTTL
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Service{st: c.Store, sessionTTL: c.SessionTTL, enrolTTL: c.EnrolTTL, log: c.Logger, now: c.Now}, nil
}

// Enrolment is the one-time secret that lets a new staff member register
// their passkey.
type Enrolment struct {
	Secret  string
	Expires time.Time
}

// Add creates a staff identity with a name (unique among staff) and a role
// (Roles), and returns it with its enrolment secret.
func (s *Service) Add(ctx context.Context, name, role string) (store.Staff, Enrolment, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > maxName || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return store.Staff{}, Enrolment{}, errorf(Invalid, "name: 1 to %d printable characters", maxName)
	}
	if !validRole(role) {
		return store.Staff{}, Enrolment{}, errorf(Invalid, "role %q: one of %s", role, strings.Join(Roles, ", "))
	}
	now := s.now().UTC()
	st := store.Staff{ID: "s" + randomID(), Name: name, Role: role, Created: now}
	if err := s.st.CreateStaff(ctx, st); errors.Is(err, store.ErrExists) {
		return store.Staff{}, Enrolment{}, errorf(Conflict, "a staff member is named %q already", name)
	} else if err != nil {
		return store.Staff{}, Enrolment{}, err
	}
	secret, hash, err := auth.NewToken(EnrolPrefix)
	if err != nil {
		return store.Staff{}, Enrolment{}, err
	}
	exp := now.Add(s.enrolTTL)
	if _, err := s.st.PutIfAbsent(ctx, keyEnrol+hex.EncodeToString(hash[:]), []byte(st.ID), now, exp); err != nil {
		return store.Staff{}, Enrolment{}, err
	}
	s.log.Info("staff member added", "staff", st.ID, "role", role)
	return st, Enrolment{Secret: secret, Expires: exp}, nil
}

func validRole(r string) bool {
	for _, v := range Roles {
		if r == v {
			return true
		}
	}
	return false
}

// Enrol takes an enrolment secret (once: a second use is Missing) and
// returns the staff identity it enrols, which must not be disabled.
func (s *Service) Enrol(ctx context.Context, secret string) (store.Staff, error) {
	if !strings.HasPrefix(secret, EnrolPrefix) || len(secret) > maxSecret {
		return store.Staff{}, errorf(Invalid, "not a staff enrolment secret (it begins %q)", EnrolPrefix)
	}
	h := auth.HashToken(secret)
	v, err := s.st.Take(ctx, keyEnrol+hex.EncodeToString(h[:]), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Staff{}, errorf(Missing, "this enrolment secret is unknown, used or expired (hint: a staff admin adds you again, in the support console or with 'vigil cloud staff add')")
	}
	if err != nil {
		return store.Staff{}, err
	}
	st, err := s.live(ctx, string(v))
	if err != nil {
		return store.Staff{}, errorf(Missing, "this enrolment secret's staff identity is disabled")
	}
	return st, nil
}

// live returns the identity unless it is unknown or disabled
// (ErrSignInRequired).
func (s *Service) live(ctx context.Context, id string) (store.Staff, error) {
	st, err := s.st.Staff(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Staff{}, ErrSignInRequired
	}
	if err != nil {
		return store.Staff{}, err
	}
	if !st.Disabled.IsZero() {
		return store.Staff{}, ErrSignInRequired
	}
	return st, nil
}

// List returns every staff identity, oldest first.
func (s *Service) List(ctx context.Context) ([]store.Staff, error) { return s.st.StaffList(ctx) }

// Disable disables the identity and ends its sessions at once.
func (s *Service) Disable(ctx context.Context, id string) error {
	if err := s.st.DisableStaff(ctx, id, s.now().UTC()); errors.Is(err, store.ErrNotFound) {
		return errorf(NotFound, "no staff member %q", id)
	} else if err != nil {
		return err
	}
	s.log.Info("staff member disabled", "staff", id)
	return nil
}

// Session is a new staff session's secrets, given to the browser once.
type Session struct {
	Secret  string // the session cookie's value
	CSRF    string // the CSRF token its changes carry (CSRFHeader)
	Expires time.Time
}

// NewSession issues a session for staff identity id, which must be live.
// The caller has proved the identity (a staff passkey sign-in).
func (s *Service) NewSession(ctx context.Context, id string) (Session, error) {
	if _, err := s.live(ctx, id); err != nil {
		return Session{}, err
	}
	secret, hash, err := auth.NewToken(SessionPrefix)
	if err != nil {
		return Session{}, err
	}
	csrf, err := auth.NewCSRFToken()
	if err != nil {
		return Session{}, err
	}
	now := s.now().UTC()
	t := store.StaffToken{Hash: hash, StaffID: id, CSRF: csrf, Created: now, Expires: now.Add(s.sessionTTL)}
	if err := s.st.PutStaffToken(ctx, t); err != nil {
		return Session{}, err
	}
	s.log.Info("staff session issued", "staff", id)
	return Session{Secret: secret, CSRF: csrf, Expires: t.Expires}, nil
}

// Credential is what a request presents as a staff session.
type Credential struct {
	Secret  string // the staff session cookie's value
	Reading bool   // GET or HEAD: no CSRF token needed
	CSRF    string // CSRFHeader's value
}

// Authenticate returns the staff identity and session c presents:
// ErrSignInRequired for anything but a live session of a live identity
// (a customer's token is never one: staff sessions are a table of their
// own), Forbidden for a change without the session's CSRF token.
func (s *Service) Authenticate(ctx context.Context, c Credential) (store.Staff, store.StaffToken, error) {
	if !strings.HasPrefix(c.Secret, SessionPrefix) || len(c.Secret) > maxSecret {
		return store.Staff{}, store.StaffToken{}, ErrSignInRequired
	}
	t, err := s.st.StaffToken(ctx, auth.HashToken(c.Secret))
	if errors.Is(err, store.ErrNotFound) {
		return store.Staff{}, store.StaffToken{}, ErrSignInRequired
	}
	if err != nil {
		return store.Staff{}, store.StaffToken{}, err
	}
	if !s.now().Before(t.Expires) {
		return store.Staff{}, store.StaffToken{}, ErrSignInRequired
	}
	if !c.Reading && !auth.EqualTokens(c.CSRF, t.CSRF) {
		return store.Staff{}, store.StaffToken{}, errorf(Forbidden, "missing or wrong %s header (cross-site request refused)", CSRFHeader)
	}
	st, err := s.live(ctx, t.StaffID)
	if err != nil {
		return store.Staff{}, store.StaffToken{}, err
	}
	return st, t, nil
}

// SignOut ends the session with the secret (a session already gone is
// not an error).
func (s *Service) SignOut(ctx context.Context, secret string) error {
	err := s.st.DeleteStaffToken(ctx, auth.HashToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// randomID returns 16 random bytes in lower-case unpadded base32.
func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// Identity returns the staff identity with the ID (NotFound when there is
// none), for the records and pages that name who asked.
func (s *Service) Identity(ctx context.Context, id string) (store.Staff, error) {
	st, err := s.st.Staff(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Staff{}, errorf(NotFound, "not found")
	}
	return st, err
}
