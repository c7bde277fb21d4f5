package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Staff roles: what a staff identity's job is. None of them reaches a
// household's content (internal/cloud/staff).
const (
	StaffSupport  = "support"
	StaffOperator = "operator"
	StaffAdmin    = "admin"
)

// Staff is a staff identity: a person on the service's side (support,
// operations). It is not an account: it has no e-mail address, no
// password, and no household membership.
type Staff struct {
	ID       string
	Name     string // unique among staff
	Role     string // StaffSupport, StaffOperator or StaffAdmin
	Created  time.Time
	Disabled time.Time // zero while the identity may sign in
}

// StaffToken is a staff session, stored by the SHA-256 of its secret in a
// table of its own: a staff session is never an account's token, and an
// account's token is never a staff session.
type StaffToken struct {
	Hash    [32]byte
	StaffID string
	CSRF    string // the CSRF token bound to the session
	Created time.Time
	Expires time.Time
}

// StaffCredential is a staff member's passkey, in a table of its own
// (never an account's Credential): its ID and the WebAuthn library's
// record (public key, sign count), never a private key.
type StaffCredential struct {
	ID       []byte
	StaffID  string
	Data     []byte
	Created  time.Time
	LastUsed time.Time
}

// staffCredCols are the columns scanStaffCredential reads.
const staffCredCols = `id, staff_id, data, created_ns, last_used_ns`

// scanStaffCredential scans staffCredCols.
func scanStaffCredential(row rowScanner) (StaffCredential, error) {
	var c StaffCredential
	var created, used int64
	err := row.Scan(&c.ID, &c.StaffID, &c.Data, &created, &used)
	c.Created, c.LastUsed = decTime(created), decTime(used)
	return c, err
}

// StaffStore keeps staff identities, their sessions and the households'
// support codes.
type StaffStore interface {
	// CreateStaff stores a new identity: ErrExists for a taken ID or name.
	CreateStaff(ctx context.Context, st Staff) error
	// Staff returns the identity with the ID.
	Staff(ctx context.Context, id string) (Staff, error)
	// StaffList returns every identity, oldest first.
	StaffList(ctx context.Context) ([]Staff, error)
	// DisableStaff marks the identity disabled at the time given (keeping
	// the first time when it is disabled already) and removes its
	// sessions; ErrNotFound for an unknown ID.
	DisableStaff(ctx context.Context, id string, at time.Time) error

	// PutStaffToken stores a session: ErrNotFound for an unknown identity,
	// ErrExists for a taken hash.
	PutStaffToken(ctx context.Context, t StaffToken) error
	// StaffToken returns the session with the hash, expired or not (the
	// staff domain decides); ErrNotFound when missing.
	StaffToken(ctx context.Context, hash [32]byte) (StaffToken, error)
	// DeleteStaffToken removes the session; ErrNotFound when missing.
	DeleteStaffToken(ctx context.Context, hash [32]byte) error

	// PutStaffCredential stores a staff member's passkey: ErrExists for a
	// taken ID (unique among staff passkeys), ErrNotFound for an unknown
	// identity.
	PutStaffCredential(ctx context.Context, c StaffCredential) error
	// StaffCredentials returns the identity's passkeys, oldest first.
	StaffCredentials(ctx context.Context, staffID string) ([]StaffCredential, error)
	// UpdateStaffCredential replaces Data and LastUsed of the staff
	// passkey with c.ID; ErrNotFound when missing.
	UpdateStaffCredential(ctx context.Context, c StaffCredential) error

	// InitSupportCode stores code as the household's support code unless it
	// has one, and returns the household's code (the stored one, whichever
	// caller came first). ErrExists when code is another household's;
	// ErrNotFound for an unknown household.
	InitSupportCode(ctx context.Context, householdID, code string) (string, error)
	// SupportCode returns the household's support code; ErrNotFound before
	// one is stored.
	SupportCode(ctx context.Context, householdID string) (string, error)
	// HouseholdBySupportCode returns the ID of the household with the code;
	// ErrNotFound when no household has it.
	HouseholdBySupportCode(ctx context.Context, code string) (string, error)
}

// staffCols are the columns scanStaff reads.
const staffCols = `id, name, role, created_ns, disabled_ns`

// scanStaff scans staffCols.
func scanStaff(row rowScanner) (Staff, error) {
	var st Staff
	var created, disabled int64
	err := row.Scan(&st.ID, &st.Name, &st.Role, &created, &disabled)
	st.Created, st.Disabled = decTime(created), decTime(disabled)
	return st, err
}

// staffTokenCols are the columns scanStaffToken reads.
const staffTokenCols = `hash, staff_id, csrf, created_ns, expires_ns`

// scanStaffToken scans staffTokenCols.
func scanStaffToken(row rowScanner) (StaffToken, error) {
	var t StaffToken
	var h []byte
	var created, expires int64
	if err := row.Scan(&h, &t.StaffID, &t.CSRF, &created, &expires); err != nil {
		return StaffToken{}, err
	}
	if len(h) != len(t.Hash) {
		return StaffToken{}, fmt.Errorf("stored hash has %d bytes", len(h))
	}
	copy(t.Hash[:], h)
	t.Created, t.Expires = decTime(created), decTime(expires)
	return t, nil
}

// Lockbox request states.
const (
	StaffPending  = "pending"  // filed, not decided
	StaffApproved = "approved" // granted until Expires
	StaffDenied   = "denied"
	StaffRevoked  = "revoked" // approved, then revoked before it expired
	StaffExpired  = "expired" // approved, and past Expires (recorded once)
)

// StaffRequest is a staff member's request to read some of a household's
// metadata, and what the household's admins decided.
type StaffRequest struct {
	ID          string
	HouseholdID string
	StaffID     string
	Scopes      []string // ascending
	Reason      string
	Duration    time.Duration // how long a grant lasts from approval
	Created     time.Time
	State       string    // StaffPending, ...
	Decided     time.Time // when State last changed (zero while pending)
	DecidedBy   string    // the admin device that signed the decision ("" otherwise)
	Expires     time.Time // approved: when the grant ends (zero otherwise)
}

// StaffRequestStore keeps lockbox requests.
type StaffRequestStore interface {
	// CreateStaffRequest stores a new request: ErrExists for a taken ID,
	// ErrNotFound for an unknown household or staff identity.
	CreateStaffRequest(ctx context.Context, r StaffRequest) error
	// StaffRequest returns household hh's request with the ID (ErrNotFound
	// for another household's).
	StaffRequest(ctx context.Context, hh, id string) (StaffRequest, error)
	// StaffRequestByID returns the request with the ID, whichever household's.
	StaffRequestByID(ctx context.Context, id string) (StaffRequest, error)
	// StaffRequests returns household hh's requests, newest first.
	StaffRequests(ctx context.Context, hh string) ([]StaffRequest, error)
	// StaffGrantsDue returns up to limit approved requests, of any
	// household, whose grant ended at or before now (soonest first): the
	// expiries no read has recorded yet.
	StaffGrantsDue(ctx context.Context, now time.Time, limit int) ([]StaffRequest, error)
	// SetStaffRequestState moves household hh's request from state from to
	// r's State, Decided, DecidedBy and Expires: ErrConflict when it is not
	// in state from (another decision came first), ErrNotFound when there
	// is no such request.
	SetStaffRequestState(ctx context.Context, hh, id, from string, r StaffRequest) error
}

// staffRequestCols are the columns scanStaffRequest reads.
const staffRequestCols = `id, household_id, staff_id, scopes, reason, duration_ns, created_ns, state, decided_ns, decided_by, expires_ns`

// scanStaffRequest scans staffRequestCols.
func scanStaffRequest(row rowScanner) (StaffRequest, error) {
	var r StaffRequest
	var scopes string
	var dur, created, decided, expires int64
	if err := row.Scan(&r.ID, &r.HouseholdID, &r.StaffID, &scopes, &r.Reason, &dur, &created, &r.State, &decided, &r.DecidedBy, &expires); err != nil {
		return StaffRequest{}, err
	}
	if scopes != "" {
		r.Scopes = strings.Split(scopes, ",")
	}
	r.Duration = time.Duration(dur)
	r.Created, r.Decided, r.Expires = decTime(created), decTime(decided), decTime(expires)
	return r, nil
}
