// Package cloudapi holds the JSON shapes of the cloud's HTTP API
// (docs/API.md) that the server (internal/cloud) and its Go client
// (internal/client) share: request and answer bodies, written once so
// the two ends cannot drift apart.
//
// It holds types and nothing else: no handlers, no client, no validation,
// no behaviour. It imports no other vigil package and never net/http. A
// shape moves here when a Go client needs it; a shape only the server
// writes (and only the web app reads) stays next to its handler.
package cloudapi

import "time"

// Error is every error answer: {"error": "what is wrong and what to do"}.
type Error struct {
	Error string `json:"error"`
}

// Accounts and sessions.

// SignUp is the body of POST /v1/accounts.
type SignUp struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// SignUpResult is the answer to POST /v1/accounts: the second factor to
// enrol.
type SignUpResult struct {
	AccountID  string `json:"account_id"`
	TOTPSecret string `json:"totp_secret"`
	TOTPURI    string `json:"totp_uri"`
	Note       string `json:"note"`
}

// SignIn is the body of POST /v1/sessions.
type SignIn struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	TOTP     string `json:"totp"`
	// Type is "api" (a bearer token for the CLI and scripts) or "browser"
	// (a session cookie with a CSRF token).
	Type string `json:"type"`
	// Scopes limit an API token: "read" (GET routes) and/or "write"
	// (everything else). Empty means both.
	Scopes []string `json:"scopes,omitempty"`
}

// SignInResult is the answer to POST /v1/sessions (and to a passkey
// sign-in): an API token, or for a browser the CSRF token of the session
// cookie.
type SignInResult struct {
	AccountID string    `json:"account_id"`
	Token     string    `json:"token,omitempty"`
	CSRF      string    `json:"csrf,omitempty"`
	Expires   time.Time `json:"expires"`
}

// Households and their chains.

// CreateHousehold is the body of POST /v1/households.
type CreateHousehold struct {
	// Name is ignored: the household's name is the one in its genesis.
	Name    string `json:"name,omitempty"`
	Genesis []byte `json:"genesis"` // the genesis link, exactly as signed (base64 in JSON)
}

// Household is a household as the API shows it.
type Household struct {
	ID          string    `json:"household_id"`
	Name        string    `json:"name"`
	GenesisHash string    `json:"genesis_hash"` // hex
	Created     time.Time `json:"created"`
	UsageBytes  int64     `json:"usage_bytes"`
	// QuotaBytes and Role are in GET /v1/households/{hh} only.
	QuotaBytes int64  `json:"quota_bytes,omitempty"`
	Role       string `json:"role,omitempty"`
	// SupportCode is what a member reads out to Vigil support: the one
	// way staff find the household (GET /v1/households/{hh} only).
	SupportCode string `json:"support_code,omitempty"`
}

// Households is the answer to GET /v1/households.
type Households struct {
	Households []Household `json:"households"`
}

// Chain is the answer to GET /v1/households/{hh}/chain, GET /v1/hub/chain
// and GET /v1/workspaces/{ws}/chain (whose household_id is the
// workspace's ID).
type Chain struct {
	HouseholdID string   `json:"household_id"`
	GenesisHash string   `json:"genesis_hash"` // hex
	Links       [][]byte `json:"links"`        // from the requested seq, base64
	From        int64    `json:"from"`
	// LogIndex is where each link's head is in the transparency log
	// (-1 while it waits for the log): clients prove it is there.
	LogIndex []int64 `json:"log_index"`
}

// ChainLink is a chain link signed by an admin device: the body of
// POST /v1/households/{hh}/chain, and of
// POST /v1/households/{hh}/join-requests/{id}/approve (where it must add
// the requesting device).
type ChainLink struct {
	Link []byte `json:"link"`
}

// Settings are a household's retention settings as the cloud applies them:
// the answer to GET and PUT /v1/households/{hh}/settings.
type Settings struct {
	QuotaBytes           int64 `json:"quota_bytes"`     // 0: the service default
	MaxAgeSeconds        int64 `json:"max_age_seconds"` // 0: no age limit
	DefaultQuotaBytes    int64 `json:"default_quota_bytes"`
	DefaultMaxAgeSeconds int64 `json:"default_max_age_seconds"`
}

// Sealed objects.

// UploadResult is the answer to PUT /v1/objects. Created is false when the
// cloud already had these bytes.
type UploadResult struct {
	Key     string `json:"key"`
	Created bool   `json:"created"`
}

// Object is one sealed object in a listing.
type Object struct {
	Key    string    `json:"key"`
	Device string    `json:"device"`
	Camera string    `json:"camera"`
	Kind   string    `json:"kind"`
	Seq    uint64    `json:"seq"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"` // hex
}

// Objects is the answer to GET /v1/households/{hh}/objects.
type Objects struct {
	Objects []Object `json:"objects"`
}

// Cameras is the answer to GET /v1/households/{hh}/cameras.
type Cameras struct {
	Cameras []string `json:"cameras"`
}

// The pairing relay.

// CreatePairing is the body of POST /v1/pairings: the hub's first message.
type CreatePairing struct {
	ID  string `json:"id"`
	Msg []byte `json:"msg"`
}

// Pairing is a pairing rendezvous as the relay holds it: the answer to
// GET /v1/pairings/{id}.
type Pairing struct {
	HouseholdID string    `json:"household_id,omitempty"`
	Msgs        [][]byte  `json:"msgs"`
	Expires     time.Time `json:"expires"`
}

// PairingMessage is the body of POST /v1/pairings/{id}/messages: step 1
// (the member, with the household it offers) or step 2 (the hub).
type PairingMessage struct {
	Step        int    `json:"step"`
	Msg         []byte `json:"msg"`
	HouseholdID string `json:"household_id,omitempty"`
}

// Invites and join requests.

// Invite is an open invitation to join a household. Its secret is not
// here: it lives in the invite link's fragment and on the admin device.
type Invite struct {
	ID          string    `json:"invite_id"`
	HouseholdID string    `json:"household_id"`
	Role        string    `json:"role"`
	CreatedBy   string    `json:"created_by"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
}

// JoinRequest is a device asking to join through an invite.
type JoinRequest struct {
	ID          string    `json:"request_id"`
	InviteID    string    `json:"invite_id"`
	HouseholdID string    `json:"household_id"`
	AccountID   string    `json:"account_id"`
	Email       string    `json:"email"`
	Device      string    `json:"device"` // "vigdev1:..."
	DeviceID    string    `json:"device_id"`
	Name        string    `json:"name"`
	Proof       []byte    `json:"proof"`
	Role        string    `json:"role"`
	Status      string    `json:"status"` // "pending", "approved" or "declined"
	Created     time.Time `json:"created"`
}

// JoinRequests is the answer to GET /v1/households/{hh}/join-requests.
type JoinRequests struct {
	Requests []JoinRequest `json:"requests"`
}

// RequestJoin is the body of POST /v1/invites/join: the device
// asking to join, its name and the proof that it holds the invite link
// (HMAC-SHA-256 keyed by the invite's secret).
type RequestJoin struct {
	Key    []byte `json:"key"` // the invite's key (member.InviteKey)
	Device string `json:"device"`
	Name   string `json:"name"`
	Proof  []byte `json:"proof"`
}

// OpenInvite is the body of POST /v1/invites/open: the key of the invite
// to read (member.InviteKey), never in a path or query.
type OpenInvite struct {
	Key []byte `json:"key"`
}

// InviteInfo is the answer to POST /v1/invites/open.
type InviteInfo struct {
	ID            string    `json:"invite_id"`
	HouseholdID   string    `json:"household_id"`
	HouseholdName string    `json:"household_name"`
	Role          string    `json:"role"`
	Expires       time.Time `json:"expires"`
}

// JoinStatusQuery is the body of POST /v1/invites/status: the invite's key
// and the request to follow.
type JoinStatusQuery struct {
	Key       []byte `json:"key"`
	RequestID string `json:"request_id"`
}

// JoinStatus is the answer to POST /v1/invites/join and
// POST /v1/invites/status.
type JoinStatus struct {
	ID          string `json:"request_id"`
	HouseholdID string `json:"household_id"`
	Status      string `json:"status"`
}

// StaffMe is the answer to GET /staff/v1/me: the signed-in staff member.
type StaffMe struct {
	ID      string    `json:"staff_id"`
	Name    string    `json:"name"`
	Role    string    `json:"role"` // "support", "operator" or "admin"
	Expires time.Time `json:"expires"`
}

// StaffLookUp is the body of POST /staff/v1/lookup: the support code a
// household member read out ("7KQ2M-9XHT4"; case, dash and spaces are
// free).
type StaffLookUp struct {
	SupportCode string `json:"support_code"`
}

// StaffHousehold is the answer to POST /staff/v1/lookup.
type StaffHousehold struct {
	HouseholdID string `json:"household_id"`
}

// StaffRequestFile is the body of POST /staff/v1/requests: a lockbox
// request for a household's metadata, named by its support code.
type StaffRequestFile struct {
	SupportCode     string   `json:"support_code"`
	Scopes          []string `json:"scopes"` // of "cameras", "hubs", "storage", "uploads", "versions"
	Reason          string   `json:"reason"`
	DurationSeconds int64    `json:"duration_seconds,omitempty"` // 0: 8 h, the most
}

// StaffRequest is a lockbox request as staff and the household's admins
// see it.
type StaffRequest struct {
	ID              string    `json:"request_id"`
	HouseholdID     string    `json:"household_id"`
	StaffID         string    `json:"staff_id"`
	StaffName       string    `json:"staff_name,omitempty"` // for the household's admins
	StaffRole       string    `json:"staff_role,omitempty"`
	Scopes          []string  `json:"scopes"`
	Reason          string    `json:"reason"`
	DurationSeconds int64     `json:"duration_seconds"`
	Created         time.Time `json:"created"`
	State           string    `json:"state"` // "pending", "approved", "denied", "revoked", "expired"
	Decided         time.Time `json:"decided,omitzero"`
	Expires         time.Time `json:"expires,omitzero"` // approved: when the grant ends
}

// StaffRequests is the answer to GET /v1/households/{hh}/staff-requests.
type StaffRequests struct {
	Requests []StaffRequest `json:"requests"`
}

// StaffHealth is the answer to GET /staff/v1/requests/{id}/health/{scope}:
// one scope of a household's health metadata, under a live grant.
type StaffHealth struct {
	Scope         string     `json:"scope"`
	HouseholdID   string     `json:"household_id"`
	Hubs          []StaffHub `json:"hubs,omitempty"`           // hubs
	UploadedBytes *int64     `json:"uploaded_bytes,omitempty"` // uploads: in the last 24 hours
	UsageBytes    *int64     `json:"usage_bytes,omitempty"`    // storage
	QuotaBytes    *int64     `json:"quota_bytes,omitempty"`    // storage
	Cameras       *int       `json:"cameras,omitempty"`        // cameras: how many
	// Uploads (scope "uploads"): each hub's backlog and failures, as its
	// latest health report said.
	Uploads []StaffHubUploads `json:"uploads,omitempty"`
	// Versions (scope "versions"): each hub's software version, and the
	// cloud's and its web app's builds.
	Versions *StaffVersions `json:"versions,omitempty"`
	Note     string         `json:"note,omitempty"` // what the cloud does not know
}

// StaffHub is a hub as staff see it. LastContact is when the cloud last
// received the hub's health report (the cloud's clock), zero if never;
// the rest is from that report.
type StaffHub struct {
	ID          string    `json:"device_id"`
	Name        string    `json:"name"`
	LastContact time.Time `json:"last_contact,omitzero"`
	Version     string    `json:"version,omitempty"`
	Started     time.Time `json:"started,omitzero"`
	Cameras     int       `json:"cameras"`
	Recording   int       `json:"recording"`
}

// StaffHubUploads is one hub's upload state as staff see it: Reported is
// false when the hub never sent a health report (the rest is then zero).
type StaffHubUploads struct {
	ID          string    `json:"device_id"`
	Name        string    `json:"name"`
	Reported    bool      `json:"reported"`
	LastContact time.Time `json:"last_contact,omitzero"`
	HubUploads
}

// StaffVersions are the versions of the household's hubs and of the
// cloud serving the console.
type StaffVersions struct {
	Hubs  []StaffHub `json:"hubs"`
	Cloud string     `json:"cloud"`
	// WebApp names the web app's build (a digest of its index page), ""
	// when the cloud serves none.
	WebApp string `json:"web_app,omitempty"`
}

// Hub health.

// HubHealthPath is where a hub sends its health report (POST, signed with
// its device key).
const HubHealthPath = "/v1/hub/health"

// HubHealth is the body of POST /v1/hub/health: a hub's health report,
// metadata only. The cloud keeps the latest one per hub, with the time it
// received it (the hub's last contact). It names no camera, path, address
// or URL: counts, times, a version and one short error text whose kind is
// one of the HubError* kinds.
type HubHealth struct {
	Version   string     `json:"version"`   // the hub software's build: 1 to 64 printable ASCII characters
	Started   time.Time  `json:"started"`   // when the hub process started
	Sent      time.Time  `json:"sent"`      // the hub's clock when it made the report
	Cameras   int        `json:"cameras"`   // cameras configured
	Recording int        `json:"recording"` // cameras recording now
	Uploads   HubUploads `json:"uploads"`
}

// HubUploads is a hub's upload queue as its health report gives it.
type HubUploads struct {
	Pending       int64     `json:"pending"`                 // segments queued, not yet in the cloud
	OldestPending time.Time `json:"oldest_pending,omitzero"` // start of the oldest pending segment
	Failures      int64     `json:"failures"`                // failed attempts since the hub started
	Rejected      int64     `json:"rejected"`                // segments refused for good since then
	Evicted       int64     `json:"evicted"`                 // segments deleted before upload since then
	CloudAway     bool      `json:"cloud_away"`              // the cloud is unreachable or refusing the hub
	LastError     *HubError `json:"last_error,omitempty"`    // the latest failure; nil if none
}

// HubsHealthPath is where a member reads the household's hubs' health
// (GET; %s is the household ID).
const HubsHealthPath = "/v1/households/%s/hubs/health"

// HubsHealth is the answer to GET /v1/households/{hh}/hubs/health: each
// hub of the household's chain now, with its latest health report.
type HubsHealth struct {
	Hubs []MemberHub `json:"hubs"`
	// QuietAfter is how long without a report makes the cloud tell the
	// household a hub went quiet, in seconds.
	QuietAfter int64 `json:"quiet_after_seconds"`
}

// MemberHub is one hub as its household's members see it: Reported is
// false when it never sent a health report (the rest is then zero).
// LastContact is the cloud's clock when the latest report arrived; Quiet
// is set when the cloud has told the household the hub went quiet and
// it has not reported since.
type MemberHub struct {
	ID          string     `json:"device_id"`
	Name        string     `json:"name"`
	Reported    bool       `json:"reported"`
	LastContact time.Time  `json:"last_contact,omitzero"`
	Quiet       bool       `json:"quiet"`
	Version     string     `json:"version,omitempty"`
	Started     time.Time  `json:"started,omitzero"`
	Cameras     int        `json:"cameras"`
	Recording   int        `json:"recording"`
	Uploads     HubUploads `json:"uploads"`
}

// HubPush is the Web Push payload that tells a household's members one of
// its hubs went quiet ({"type":"hub-quiet"}: no health report for the
// cloud's quiet time since LastContact) or is back ({"type":"hub-back"},
// Back the time of its first report since). It carries the hub's ID and
// the cloud's times, nothing else (the app names the hub from the
// household's chain); like a JoinPush it starts with '{'.
type HubPush struct {
	Type        string    `json:"type"` // HubPushQuiet or HubPushBack
	Household   string    `json:"household"`
	Hub         string    `json:"hub"`
	LastContact time.Time `json:"last_contact"`
	Back        time.Time `json:"back,omitzero"`
}

// The types of HubPush.
const (
	HubPushQuiet = "hub-quiet"
	HubPushBack  = "hub-back"
)

// HubError is a hub's latest upload failure: a kind, the HTTP status when
// there was an answer, and a short message the hub scrubbed (no URL, path,
// address or camera name); the cloud refuses a message that looks like it
// names one.
type HubError struct {
	Kind    string    `json:"kind"`
	Status  int       `json:"status,omitempty"`
	Message string    `json:"message"`
	At      time.Time `json:"at"` // when the hub first saw it
}

// The kinds of HubError.
const (
	HubErrorNetwork  = "network"  // the cloud could not be reached
	HubErrorRefused  = "refused"  // the cloud refuses the hub (401, 403, 404)
	HubErrorServer   = "server"   // the cloud (or a proxy before it) answered busy or failing (429, 5xx, other)
	HubErrorRejected = "rejected" // a segment was refused for good
	HubErrorLocal    = "local"    // the hub could not read a segment or its queue
)

// StaffEnrol is the body of POST /staff/v1/enrol/begin: the one-time
// enrolment secret 'vigil cloud staff add' printed.
type StaffEnrol struct {
	Secret string `json:"secret"`
}

// StaffSession is the answer to a staff enrolment's or sign-in's finish:
// the session is in the vigil_staff cookie; changes carry CSRF in
// X-Vigil-Staff-CSRF.
type StaffSession struct {
	StaffID string    `json:"staff_id"`
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

// StaffTicketOpen is the body of POST /staff/v1/tickets: a ticket about
// the household with the support code, with a subject (the household
// reads it in its history) and an optional first note (staff only).
type StaffTicketOpen struct {
	SupportCode string `json:"support_code"`
	Subject     string `json:"subject"`
	Note        string `json:"note,omitempty"`
}

// StaffTicket is a support ticket as staff see it: staff metadata, never
// the household's content.
type StaffTicket struct {
	ID           string      `json:"ticket_id"`
	HouseholdID  string      `json:"household_id"`
	Subject      string      `json:"subject"`
	State        string      `json:"state"` // "open" or "closed"
	OpenedBy     string      `json:"opened_by"`
	OpenedByName string      `json:"opened_by_name,omitempty"`
	Opened       time.Time   `json:"opened"`
	ClosedBy     string      `json:"closed_by,omitempty"`
	ClosedByName string      `json:"closed_by_name,omitempty"`
	Closed       time.Time   `json:"closed,omitzero"`
	Notes        []StaffNote `json:"notes,omitempty"` // GET /staff/v1/tickets/{id} only
}

// StaffNote is a staff member's note on a ticket.
type StaffNote struct {
	ID        string    `json:"note_id"`
	StaffID   string    `json:"staff_id"`
	StaffName string    `json:"staff_name,omitempty"`
	Created   time.Time `json:"created"`
	Text      string    `json:"text"`
}

// StaffNoteAdd is the body of POST /staff/v1/tickets/{id}/notes.
type StaffNoteAdd struct {
	Text string `json:"text"`
}

// StaffTickets is the answer to GET /staff/v1/tickets (the caller's open
// tickets) and POST /staff/v1/tickets/find (a household's, by its support
// code).
type StaffTickets struct {
	Tickets []StaffTicket `json:"tickets"`
}

// StaffOps is the answer to GET /staff/v1/ops, for operators and staff
// admins: counts across every household, never one household's.
type StaffOps struct {
	Households    int64     `json:"households"`
	Hubs          int64     `json:"hubs"`
	Since         time.Time `json:"since"`          // uploads are counted from here (an hour ago)
	Uploads       int64     `json:"uploads"`        // objects uploaded since Since
	UploadedBytes int64     `json:"uploaded_bytes"` // their bytes
	OpenTickets   int64     `json:"open_tickets"`
	Staff         int64     `json:"staff"` // staff identities not disabled
	Database      string    `json:"database"`
	Cluster       bool      `json:"cluster"` // cluster-wide jobs run under PostgreSQL locks on one replica
	Note          string    `json:"note,omitempty"`
}

// StaffMember is a staff identity as staff admins see it.
type StaffMember struct {
	ID       string    `json:"staff_id"`
	Name     string    `json:"name"`
	Role     string    `json:"role"`
	Created  time.Time `json:"created"`
	Disabled time.Time `json:"disabled,omitzero"`
}

// StaffMembers is the answer to GET /staff/v1/staff.
type StaffMembers struct {
	Staff []StaffMember `json:"staff"`
}

// StaffAdd is the body of POST /staff/v1/staff.
type StaffAdd struct {
	Name string `json:"name"`
	Role string `json:"role"` // "support", "operator" or "admin"
}

// StaffAdded is the answer to POST /staff/v1/staff: the new identity and
// its one-time enrolment secret, shown once.
type StaffAdded struct {
	Staff        StaffMember `json:"staff"`
	EnrolSecret  string      `json:"enrol_secret"`
	EnrolExpires time.Time   `json:"enrol_expires"`
}

// Labelling workspaces (docs/API.md, "Labelling").

// WorkspaceCreate is the body of POST /staff/v1/workspaces: the genesis
// link of the workspace's chain, signed by its first lead's device.
type WorkspaceCreate struct {
	Genesis []byte `json:"genesis"`
}

// Workspace is a labelling workspace.
type Workspace struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	GenesisHash []byte    `json:"genesis_hash"`
	CreatedBy   string    `json:"created_by"`
	Created     time.Time `json:"created"`
}

// LabellingWorkspace is a workspace as a donor's browser sees it (GET
// /v1/labelling/workspaces): what it needs to verify the workspace's chain
// from its genesis and to offer the purposes a consent may name.
type LabellingWorkspace struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	GenesisHash []byte   `json:"genesis_hash"`
	Purposes    []string `json:"purposes"`
}

// WorkspaceLink is a chain link to append (POST
// /v1/workspaces/{ws}/chain).
type WorkspaceLink struct {
	Link []byte `json:"link"`
}

// Donation is a donated clip as its household and the workspace see it:
// metadata, never the clip.
type Donation struct {
	ID        string `json:"id"`
	Workspace string `json:"workspace"`
	Household string `json:"household"`
	Device    string `json:"device"`
	Consent   string `json:"consent,omitempty"` // the signed consent, BODY.SIG; "" once ended
	// DeviceKey is the donor device's Ed25519 public key, from the donor
	// household's chain as the cloud verified it, for a workspace device
	// to check the consent with (consent.VerifyWithKey); absent once the
	// device has left the household.
	DeviceKey  []byte    `json:"device_key,omitempty"`
	Purpose    string    `json:"purpose"`
	State      string    `json:"state"`
	Size       int64     `json:"size"`
	Assignee   string    `json:"assignee,omitempty"`
	Annotation int       `json:"annotation"`
	Accepted   int       `json:"accepted"`
	Reviewer   string    `json:"reviewer,omitempty"`
	Expires    time.Time `json:"expires"`
	Created    time.Time `json:"created"`
	Ended      time.Time `json:"ended,omitzero"`
}

// DonationRevoke is the body of POST
// /v1/households/{hh}/donations/{id}/revoke: the signed revocation.
type DonationRevoke struct {
	Revocation string `json:"revocation"` // BODY.SIG
}

// DonationAssign is the body of POST
// /v1/workspaces/{ws}/donations/{id}/assign.
type DonationAssign struct {
	Device string `json:"device"`
}

// DonationReview is the body of POST
// /v1/workspaces/{ws}/donations/{id}/review.
type DonationReview struct {
	Version int  `json:"version"`
	Accept  bool `json:"accept"`
}

// DatasetVersion is a workspace's dataset version.
type DatasetVersion struct {
	Version int           `json:"version"`
	Creator string        `json:"creator"`
	Created time.Time     `json:"created"`
	Items   []DatasetItem `json:"items"`
	Marks   []DatasetMark `json:"marks"`
}

// DatasetItem is a donation in a dataset version, with its lineage (the
// consent's ID is the donation's).
type DatasetItem struct {
	Donation   string `json:"donation"`
	Annotation int    `json:"annotation"`
	Annotator  string `json:"annotator"`
	Reviewer   string `json:"reviewer"`
}

// DatasetMark says a donation of a dataset version or evaluation was
// revoked or expired.
type DatasetMark struct {
	Donation string    `json:"donation"`
	Reason   string    `json:"reason"`
	Time     time.Time `json:"time"`
}

// EvaluationCreate is the body of POST /v1/workspaces/{ws}/evaluations.
type EvaluationCreate struct {
	Name    string `json:"name"`
	Dataset int    `json:"dataset"`
	Sealed  []byte `json:"sealed"`
}

// Evaluation is a named, sealed score record of a dataset version.
type Evaluation struct {
	ID      string        `json:"id"`
	Name    string        `json:"name"`
	Dataset int           `json:"dataset"`
	Device  string        `json:"device"`
	Sealed  []byte        `json:"sealed"`
	Created time.Time     `json:"created"`
	Marks   []DatasetMark `json:"marks"`
}
