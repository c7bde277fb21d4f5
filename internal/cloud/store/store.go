// Package store is the cloud's metadata: accounts, sign-in tokens,
// households and their membership-chain links, devices, the index of sealed
// objects, pairing rendezvous, the history outbox (History: the entries
// waiting for the transparency log, and where each household's are in it)
// and the short-lived state the cloud's replicas share (EphemeralStore:
// rate limits, TOTP steps, passkey ceremonies, sign-in links, invites).
//
// It owns consistency of that metadata and nothing else. It never holds
// anything that could decrypt footage: no household private key, no device
// private key, no plaintext media (G2) — only what the cloud is allowed to
// see (times, sizes, public keys, ciphertext handles). Tokens are stored as
// SHA-256 hashes, passwords as Argon2id hashes. It never checks signatures
// or permissions either: the cloud's domain code does, in one place.
//
// Implementations: SQLite (WAL; the embedded default) and PostgreSQL
// (OpenPostgres, for several replicas). Both pass the conformance suites:
// each domain's suite of its own Store interface (accountstest,
// householdstest, objectstest, eventstest, sharestest, retentiontest,
// passkeystest, stafftest, hubhealthtest, labellingtest) and storetest.Run for what spans domains (the shared
// EphemeralStore, isolation between households).
package store

import (
	"context"
	"errors"
	"time"

	"vigil/internal/history"
)

// Errors every implementation returns (wrapped is fine; test with errors.Is).
var (
	ErrNotFound = errors.New("store: not found")
	// ErrExists: a unique key (e-mail, household ID, pairing ID, ...) is taken.
	ErrExists = errors.New("store: already exists")
	// ErrConflict: the write does not fit the current state (a chain link
	// whose seq is not head+1, an object key holding other bytes, a pairing
	// step out of order).
	ErrConflict = errors.New("store: conflict")
)

// Account is a person's sign-in identity. The e-mail address identifies the
// account; it is never enough to sign in (G3).
type Account struct {
	ID           string
	Email        string // normalised: trimmed, lower case
	PasswordHash string // Argon2id, PHC string format; "" when passkeys only
	TOTPSecret   []byte // nil until a second factor is enrolled
	Created      time.Time
}

// Token kinds.
const (
	TokenSession = "session" // browser session cookie
	TokenAPI     = "api"     // CLI or script bearer token
	TokenPending = "pending" // password checked, second factor not yet
)

// Token is a bearer credential, stored by the SHA-256 of its secret.
type Token struct {
	Hash      [32]byte
	AccountID string
	Kind      string
	Scopes    []string // API tokens: what they may do; empty means none
	CSRF      string   // session tokens: the CSRF token bound to the session
	// Device is the member device (keydir device ID) the session proved it
	// holds by signing the session's challenge; "" until it does. Records
	// of the session's accesses name it.
	Device  string
	Created time.Time
	Expires time.Time
}

// Credential is an account's passkey (WebAuthn): its ID and the record the
// WebAuthn library keeps (public key, sign count, flags) — never a private
// key, which stays in the authenticator.
type Credential struct {
	ID        []byte
	AccountID string
	Data      []byte // the library's credential record, JSON
	Created   time.Time
	LastUsed  time.Time
}

// Household is a group of people, devices and hubs that share footage.
type Household struct {
	ID          string
	Name        string
	GenesisHash []byte // hash of chain link 0, as its admins pinned it
	QuotaBytes  int64  // 0 means the service default
	Created     time.Time
}

// Member roles (account level; the chain has its own device roles).
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Member is an account's place in a household.
type Member struct {
	HouseholdID string
	AccountID   string
	Role        string
	Created     time.Time
}

// Link is one membership-chain link, stored exactly as signed.
type Link struct {
	HouseholdID string
	Seq         int64  // 0 is the genesis link
	Hash        []byte // hash of Data (the next link's prev)
	Data        []byte
	Created     time.Time
}

// LinkData returns the links' signed bytes, in order (what a chain
// verifier reads).
func LinkData(links []Link) [][]byte {
	raw := make([][]byte, len(links))
	for i, l := range links {
		raw[i] = l.Data
	}
	return raw
}

// Device is a device key the cloud knows (hubs upload with it). It is
// derived from the household's chain; the chain is the authority.
type Device struct {
	ID          string // keydir device ID
	HouseholdID string
	Kind        string // "hub" or "client"
	SignPub     []byte // Ed25519 public key
	Created     time.Time
}

// Object indexes one sealed object held in the blob store.
type Object struct {
	HouseholdID string
	Key         string // blob key
	Device      string // uploading hub's device ID
	Camera      string // the sealed header's stream name
	Kind        string // "segment", ...
	Seq         uint64
	Start, End  time.Time
	Size        int64
	SHA256      [32]byte
	Created     time.Time
}

// ObjectFilter selects objects of one household overlapping [From, To)
// (zero times are open-ended), optionally of one camera and one kind.
type ObjectFilter struct {
	HouseholdID string
	Camera      string
	Kind        string // "" means any kind
	From, To    time.Time
	Limit       int // 0 means no limit
}

// Pairing is a hub-pairing rendezvous. Messages are appended in order:
// Msgs[0] by the hub at creation, then alternately by member and hub. The
// cloud only relays them; the pairing package authenticates them.
type Pairing struct {
	ID          string // derived from the pairing code; never the code
	HouseholdID string // set with the member's first message
	Msgs        [][]byte
	Created     time.Time
	Expires     time.Time
}

// Access is one read of, or change to, a household's data or metadata: who,
// what, when, why. The cloud records each in the household's history
// (internal/history), not in this store.
type Access struct {
	Time        time.Time
	HouseholdID string
	Actor       string // account or device ID
	ActorKind   string // "account", "hub", "staff", "guest" (a share's guest account), "link" (a share link)
	Action      string // e.g. "objects.list", "object.read", "chain.read"
	Object      string // what was read (object key, camera, ...), "" for lists
	Reason      string // why (the route, or a support ticket)
	// Signed is the admin device's signature that authorised a change
	// (docs/FORMAT.md, "Signed household actions"); nil for reads.
	Signed *history.Signed
}

// Store is the cloud's metadata store. Implementations are safe for
// concurrent use.
type Store interface {
	CreateAccount(ctx context.Context, a Account) error // ErrExists for a taken e-mail or ID
	Account(ctx context.Context, id string) (Account, error)
	AccountByEmail(ctx context.Context, email string) (Account, error)
	UpdateAccount(ctx context.Context, a Account) error // by ID; e-mail is immutable here

	// PutCredential stores a new passkey: ErrExists for a taken ID (IDs are
	// unique across accounts), ErrNotFound for an unknown account.
	PutCredential(ctx context.Context, c Credential) error
	// Credentials returns the account's passkeys, oldest first (empty, not
	// an error, when it has none).
	Credentials(ctx context.Context, accountID string) ([]Credential, error)
	// UpdateCredential replaces Data and LastUsed of the passkey with c.ID
	// (after a sign-in: the new sign count); ErrNotFound when missing.
	UpdateCredential(ctx context.Context, c Credential) error
	// DeleteCredential removes the account's passkey; ErrNotFound when the
	// account has no passkey with that ID (another account's is not found).
	DeleteCredential(ctx context.Context, accountID string, id []byte) error

	PutToken(ctx context.Context, t Token) error
	Token(ctx context.Context, hash [32]byte) (Token, error) // ErrNotFound when missing or expired
	DeleteToken(ctx context.Context, hash [32]byte) error
	// DeleteTokens removes every token of the account ("" kind: all kinds).
	DeleteTokens(ctx context.Context, accountID, kind string) error

	// CreateHousehold stores the household, its first admin and its genesis
	// link (Seq 0) atomically.
	CreateHousehold(ctx context.Context, h Household, admin Member, genesis Link) error
	Household(ctx context.Context, id string) (Household, error)
	Households(ctx context.Context, accountID string) ([]Household, error)
	PutMember(ctx context.Context, m Member) error // insert or update role
	Member(ctx context.Context, householdID, accountID string) (Member, error)

	// AppendLink adds l if l.Seq is exactly one more than the household's
	// last link; otherwise ErrConflict (two admins racing: one wins).
	AppendLink(ctx context.Context, l Link) error
	// Links returns the household's links with Seq >= fromSeq, in order.
	Links(ctx context.Context, householdID string, fromSeq int64) ([]Link, error)

	PutDevice(ctx context.Context, d Device) error // insert or replace by ID
	Device(ctx context.Context, id string) (Device, error)

	// PutObject indexes o. The same (HouseholdID, Key) with the same SHA256
	// returns created=false; with another SHA256, ErrConflict.
	PutObject(ctx context.Context, o Object) (created bool, err error)
	Object(ctx context.Context, householdID, key string) (Object, error)
	// Objects returns matching objects ordered by camera, start, key.
	Objects(ctx context.Context, f ObjectFilter) ([]Object, error)
	Cameras(ctx context.Context, householdID string) ([]string, error)
	DeleteObject(ctx context.Context, householdID, key string) error
	// Usage returns the bytes of the household's objects.
	Usage(ctx context.Context, householdID string) (int64, error)
	// UploadedSince returns the bytes of the household's objects created
	// (uploaded) at or after since, among those still held (0 for an
	// unknown household).
	UploadedSince(ctx context.Context, householdID string, since time.Time) (int64, error)
	// OldestObjects returns up to n of the household's objects, oldest end
	// first (for quota and retention).
	OldestObjects(ctx context.Context, householdID string, n int) ([]Object, error)

	CreatePairing(ctx context.Context, p Pairing) error // ErrExists for a taken ID
	// Pairing returns the rendezvous; ErrNotFound when missing or expired.
	Pairing(ctx context.Context, id string) (Pairing, error)
	// AppendPairingMsg appends msg if the pairing holds exactly step
	// messages (so msg becomes Msgs[step]); otherwise ErrConflict. A
	// non-empty householdID is recorded with the message.
	AppendPairingMsg(ctx context.Context, id string, step int, msg []byte, householdID string) error

	ShareStore
	MemberStore
	PushStore
	StaffStore
	StaffRequestStore
	StaffTicketStore
	HubReportStore
	LabellingStore
	EphemeralStore

	Close() error
}

// Share kinds.
const (
	ShareAccount = "account" // for a guest account (Share.Guest)
	ShareLink    = "link"    // for whoever holds the link (Share.TokenHash)
)

// Share is a time range of one camera that a member shared with a guest
// account or as a link. Manifest is opaque to the cloud: the sharer's
// browser built and signed it, and only the guest can open the file keys in
// it (docs/FORMAT.md, Share manifest).
type Share struct {
	ID          string
	HouseholdID string
	Creator     string // account ID of the member who shared
	Camera      string
	From, To    time.Time // the shared range [From, To)
	Expires     time.Time
	Revoked     time.Time // zero until revoked
	Kind        string    // ShareAccount or ShareLink
	Guest       string    // ShareAccount: the guest's account ID
	TokenHash   [32]byte  // ShareLink: SHA-256 of the link's bearer token
	Manifest    []byte
	Created     time.Time
	// Redacted: the share is of one blurred clip the sharer's device
	// sealed, kept under the share's own blob key, not of the household's
	// objects.
	Redacted bool
	// Clip is when a redacted share's clip was stored; zero when none is
	// (not yet, or erased since).
	Clip time.Time
}

// ShareStore keeps shares. Expired and revoked shares are kept (and
// returned) until their household is deleted: the cloud decides what they
// still allow, and members see what was shared.
type ShareStore interface {
	// CreateShare stores sh: ErrExists for a taken ID, ErrNotFound when its
	// household, creator or guest account does not exist.
	CreateShare(ctx context.Context, sh Share) error
	// Share returns the share with the ID, with its manifest.
	Share(ctx context.Context, id string) (Share, error)
	// Shares returns the household's shares, newest first, without
	// manifests.
	Shares(ctx context.Context, householdID string) ([]Share, error)
	// SharesWith returns the account shares whose guest is accountID, newest
	// first, without manifests.
	SharesWith(ctx context.Context, accountID string) ([]Share, error)
	// RevokeShare marks the household's share revoked at the given time
	// (ErrNotFound when the household has no such share); revoking again
	// keeps the first time.
	RevokeShare(ctx context.Context, householdID, id string, at time.Time) error
	// SetShareClip records when the clip of redacted share id was stored
	// (at), or, with the zero time, that it is erased: ErrNotFound when
	// there is no such redacted share.
	SetShareClip(ctx context.Context, id string, at time.Time) error
	// DueShareClips returns up to limit shares whose clip is stored
	// (Clip set) but which are revoked, or expired at now, without
	// manifests: the clips to erase.
	DueShareClips(ctx context.Context, now time.Time, limit int) ([]Share, error)
}

// MemberStore lists and removes a household's members and keeps its
// retention settings.
type MemberStore interface {
	// Members returns the household's members, oldest first (empty for an
	// unknown household).
	Members(ctx context.Context, householdID string) ([]Member, error)
	// DeleteMember removes the account from the household; ErrNotFound when
	// it is not a member.
	DeleteMember(ctx context.Context, householdID, accountID string) error
	// SetRetention stores the household's quota (0: the service default)
	// and maximum age of objects (0: kept until the quota needs the room),
	// and the signed action they came from (nil: none);
	// ErrNotFound for an unknown household.
	SetRetention(ctx context.Context, householdID string, r Retention) error
	// Retention returns what SetRetention stored (zeros before).
	Retention(ctx context.Context, householdID string) (Retention, error)
}

// Retention is how long a household's objects are kept.
type Retention struct {
	QuotaBytes int64         // 0: the service default (Household.QuotaBytes)
	MaxAge     time.Duration // 0: no age limit
	// Signed is the admin device's signed settings.set action these
	// settings came from, kept so that hubs can check them; nil before any.
	Signed *history.Signed
}

// PushSub is a browser's Web Push subscription for one household's events,
// made by one account. The cloud sends it sealed event records only.
type PushSub struct {
	HouseholdID string
	AccountID   string
	Endpoint    string // the push service URL (a capability: never logged)
	P256dh      string // base64url, the browser's P-256 public key
	Auth        string // base64url, the browser's 16-byte auth secret
	Created     time.Time
}

// PushStore keeps push subscriptions and the service's VAPID key.
type PushStore interface {
	// PutPushSub stores sub, replacing the household's subscription with the
	// same endpoint. ErrConflict when the account already has max other
	// subscriptions (max <= 0: no limit); ErrNotFound for an unknown
	// household or account.
	PutPushSub(ctx context.Context, sub PushSub, max int) error
	// PushSubs returns the household's subscriptions, oldest first.
	PushSubs(ctx context.Context, householdID string) ([]PushSub, error)
	// DeletePushSub removes the household's subscription with endpoint,
	// only if it is accountID's ("" matches any account); ErrNotFound when
	// there is none.
	DeletePushSub(ctx context.Context, householdID, accountID, endpoint string) error
	// PushVAPIDKey returns the stored VAPID private key; ErrNotFound before
	// one is stored.
	PushVAPIDKey(ctx context.Context) (string, error)
	// InitPushVAPIDKey stores key unless a key is stored already, and
	// returns the stored key (of whichever caller came first).
	InitPushVAPIDKey(ctx context.Context, key string) (string, error)
}
