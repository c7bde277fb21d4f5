package history

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"vigil/internal/canonjson"
	"vigil/internal/keydir"
)

// Signed household actions (docs/FORMAT.md, "Signed household actions"):
// changes to a household that the chain does not sign itself — retention
// settings, invites, account membership — signed by an admin device of the
// household's current chain over the exact change.

// Action names.
const (
	ActionSettingsSet  = "settings.set"
	ActionInviteCreate = "invite.create"
	ActionInviteDelete = "invite.delete"
	ActionMemberAdd    = "member.add"
	ActionMemberRemove = "member.remove"
	// The lockbox: an admin approves, denies or revokes a staff member's
	// request for the household's metadata (internal/cloud/staff).
	ActionStaffApprove = "staff.approve"
	ActionStaffDeny    = "staff.deny"
	ActionStaffRevoke  = "staff.revoke"
)

const (
	// ActionVersion is the version of the action body this package writes
	// and reads.
	ActionVersion = 1
	// ActionSkew is how far an action's time may be from the verifier's
	// clock, either way.
	ActionSkew = 5 * time.Minute
	// MaxActionSize bounds an action's body.
	MaxActionSize = 4096
	// ActionNonceSize is the size of an action's nonce.
	ActionNonceSize = 16

	actionContext = "vigil/household/v1/action\x00"
	// maxSafeInt is the largest integer a JavaScript number holds exactly.
	maxSafeInt = 1<<53 - 1
)

// Errors of the signed actions; every error of this file wraps one of them.
var (
	// ErrActionMalformed: the bytes are not a valid signed action (JSON,
	// field rules, canonical form, an unknown action, bad parameters).
	ErrActionMalformed = errors.New("history: malformed household action")
	// ErrActionHousehold: the action was signed for another household than
	// the one it is used on.
	ErrActionHousehold = errors.New("history: household action for another household")
	// ErrActionSigner: the signing device is not an admin device of the
	// household's current chain (unknown, removed, a member or a hub).
	ErrActionSigner = errors.New("history: household action not signed by an admin device of the household")
	// ErrActionSignature: the signature does not verify with the signing
	// device's key (the body was altered, or signed by another key).
	ErrActionSignature = errors.New("history: household action signature does not verify")
	// ErrActionTime: the action's time is too far from the verifier's
	// clock (an old action replayed, or a device clock that is off).
	ErrActionTime = errors.New("history: household action outside the accepted time window")
)

// Action is a household action, the body an admin device signs.
type Action struct {
	V         int             // ActionVersion
	Household string          // the household ID ("h…")
	Action    string          // ActionSettingsSet, ...
	Time      time.Time       // when the device signed it (its clock), millisecond precision
	Nonce     []byte          // ActionNonceSize random bytes
	Params    json.RawMessage // the action's parameters, canonical JSON (see Params)
}

// Params are the parameters of one action: SettingsParams,
// InviteParams, InviteDeleteParams, MemberAddParams, MemberRemoveParams,
// StaffApproveParams, StaffDenyParams or StaffRevokeParams.
type Params interface {
	// ActionName is the action the parameters belong to.
	ActionName() string
	check() error
}

// SettingsParams are the parameters of settings.set: the household's
// retention.
type SettingsParams struct {
	QuotaBytes    int64 `json:"quota_bytes"`     // 0: the service default
	MaxAgeSeconds int64 `json:"max_age_seconds"` // 0: no age limit
}

// InviteParams are the parameters of invite.create.
type InviteParams struct {
	Invite  string    // the invite's ID: 26 lower-case base32 letters, chosen by the device
	Role    string    // "member" or "admin"
	Expires time.Time // when the invite expires (millisecond precision)
}

// InviteDeleteParams are the parameters of invite.delete.
type InviteDeleteParams struct {
	Invite string `json:"invite"`
}

// MemberAddParams are the parameters of member.add.
type MemberAddParams struct {
	Email string `json:"email"` // the account's e-mail address, trimmed and lower case
	Role  string `json:"role"`  // "member" or "admin"
}

// MemberRemoveParams are the parameters of member.remove.
type MemberRemoveParams struct {
	Account string `json:"account"` // the account ID
}

// StaffApproveParams are the parameters of staff.approve: the request, and
// the scopes and duration the admin saw and grants (they must be the
// request's).
type StaffApproveParams struct {
	Request string   `json:"request"` // the request's ID: 26 lower-case base32 letters
	Scopes  []string `json:"scopes"`  // lower-case names, ascending, no repeats
	Seconds int64    `json:"seconds"` // how long the grant lasts from approval
}

// StaffDenyParams are the parameters of staff.deny.
type StaffDenyParams struct {
	Request string `json:"request"`
}

// StaffRevokeParams are the parameters of staff.revoke.
type StaffRevokeParams struct {
	Request string `json:"request"`
}

func (StaffApproveParams) ActionName() string { return ActionStaffApprove }
func (StaffDenyParams) ActionName() string    { return ActionStaffDeny }
func (StaffRevokeParams) ActionName() string  { return ActionStaffRevoke }

var actScopeRE = regexp.MustCompile(`^[a-z]{1,16}$`)

func checkStaffRequest(id string) error { return checkID("request", id) }

func (p StaffApproveParams) check() error {
	if err := checkStaffRequest(p.Request); err != nil {
		return err
	}
	if len(p.Scopes) == 0 || len(p.Scopes) > 16 {
		return actMalformed("scopes: 1 to 16 names")
	}
	for i, sc := range p.Scopes {
		if !actScopeRE.MatchString(sc) || (i > 0 && sc <= p.Scopes[i-1]) {
			return actMalformed("scopes: lower-case names, ascending, no repeats")
		}
	}
	if p.Seconds < 1 || p.Seconds > maxSafeInt {
		return actMalformed("seconds %d: a positive number of seconds", p.Seconds)
	}
	return nil
}

func (p StaffDenyParams) check() error   { return checkStaffRequest(p.Request) }
func (p StaffRevokeParams) check() error { return checkStaffRequest(p.Request) }

func (SettingsParams) ActionName() string     { return ActionSettingsSet }
func (InviteParams) ActionName() string       { return ActionInviteCreate }
func (InviteDeleteParams) ActionName() string { return ActionInviteDelete }
func (MemberAddParams) ActionName() string    { return ActionMemberAdd }
func (MemberRemoveParams) ActionName() string { return ActionMemberRemove }

var (
	actHouseholdRE = regexp.MustCompile(`^h[a-z2-7]{26}$`)
	actIDRE        = regexp.MustCompile(`^[a-z2-7]{26}$`)
	actAccountRE   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

func actMalformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrActionMalformed, fmt.Sprintf(format, args...))
}

func (p SettingsParams) check() error {
	if p.QuotaBytes < 0 || p.QuotaBytes > maxSafeInt {
		return actMalformed("quota_bytes %d: 0 (the service default) or a positive number of bytes", p.QuotaBytes)
	}
	if p.MaxAgeSeconds < 0 || p.MaxAgeSeconds > maxSafeInt {
		return actMalformed("max_age_seconds %d: 0 (no age limit) or a positive number of seconds", p.MaxAgeSeconds)
	}
	return nil
}

func checkRole(role string) error {
	if role != keydir.RoleMember && role != keydir.RoleAdmin {
		return actMalformed(`role %q: "member" or "admin"`, role)
	}
	return nil
}

func checkInviteID(id string) error { return checkID("invite", id) }

// checkID checks the ID of what an action names (an invite, a staff
// request): 16 bytes in lower-case unpadded base32.
func checkID(what, id string) error {
	if !actIDRE.MatchString(id) {
		return actMalformed("%s %q: 26 lower-case base32 letters (a-z, 2-7)", what, id)
	}
	return nil
}

func (p InviteParams) check() error {
	if err := checkInviteID(p.Invite); err != nil {
		return err
	}
	if err := checkRole(p.Role); err != nil {
		return err
	}
	if _, err := actTime(p.Expires, "expires"); err != nil {
		return err
	}
	return nil
}

func (p InviteDeleteParams) check() error { return checkInviteID(p.Invite) }

func (p MemberAddParams) check() error {
	e := p.Email
	if len(e) < 3 || len(e) > 254 || !utf8.ValidString(e) || strings.Count(e, "@") != 1 || e[0] == '@' || e[len(e)-1] == '@' {
		return actMalformed("email %q: an e-mail address of at most 254 bytes", e)
	}
	for _, r := range e {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) || unicode.IsUpper(r) {
			return actMalformed("email %q: trimmed, lower case, no spaces or control characters", e)
		}
	}
	return checkRole(p.Role)
}

func (p MemberRemoveParams) check() error {
	if !actAccountRE.MatchString(p.Account) {
		return actMalformed("account %q: an account ID (1 to 64 letters, digits, '.', '_', '-')", p.Account)
	}
	return nil
}

// actTime returns t in the form an action writes it, checking that it has
// one (a year 0..9999, millisecond precision).
func actTime(t time.Time, field string) (string, error) {
	s, ok := canonjson.FormatTime(t)
	if !ok {
		return "", actMalformed("%s: a UTC time of the years 0 to 9999 with millisecond precision", field)
	}
	return s, nil
}

// parseActTime reads a time written by actTime, and nothing else.
func parseActTime(s, field string) (time.Time, error) {
	t, ok := canonjson.ParseTime(s)
	if !ok {
		return time.Time{}, actMalformed("%s %q: RFC 3339 in UTC with milliseconds, as 2026-12-03T18:00:00.123Z", field, s)
	}
	return t, nil
}

// The JSON forms, in the order of docs/FORMAT.md (which is the canonical
// order).
type actionWire struct {
	V         int             `json:"v"`
	Household string          `json:"household"`
	Action    string          `json:"action"`
	Time      string          `json:"time"`
	Nonce     string          `json:"nonce"`
	Params    json.RawMessage `json:"params"`
}

type inviteWire struct {
	Invite  string `json:"invite"`
	Role    string `json:"role"`
	Expires string `json:"expires"`
}

// encodeParams returns the canonical JSON of p after checking it.
func encodeParams(p Params) ([]byte, error) {
	if p == nil {
		return nil, actMalformed("no parameters")
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	var v any = p
	if ip, ok := p.(InviteParams); ok {
		exp, _ := actTime(ip.Expires, "expires")
		v = inviteWire{Invite: ip.Invite, Role: ip.Role, Expires: exp}
	}
	return canonjson.Marshal(v)
}

// decodeParams reads the parameters of action name from their canonical
// JSON.
func decodeParams(name string, raw []byte) (Params, error) {
	var p Params
	var err error
	switch name {
	case ActionSettingsSet:
		var v SettingsParams
		err = canonjson.Decode(raw, &v)
		p = v
	case ActionInviteCreate:
		var w inviteWire
		if err = canonjson.Decode(raw, &w); err == nil {
			exp, err := parseActTime(w.Expires, "expires")
			if err != nil {
				return nil, err
			}
			p = InviteParams{Invite: w.Invite, Role: w.Role, Expires: exp}
		}
	case ActionInviteDelete:
		var v InviteDeleteParams
		err = canonjson.Decode(raw, &v)
		p = v
	case ActionMemberAdd:
		var v MemberAddParams
		err = canonjson.Decode(raw, &v)
		p = v
	case ActionMemberRemove:
		var v MemberRemoveParams
		err = canonjson.Decode(raw, &v)
		p = v
	case ActionStaffApprove:
		var v StaffApproveParams
		err = canonjson.Decode(raw, &v)
		p = v
	case ActionStaffDeny:
		var v StaffDenyParams
		err = canonjson.Decode(raw, &v)
		p = v
	case ActionStaffRevoke:
		var v StaffRevokeParams
		err = canonjson.Decode(raw, &v)
		p = v
	default:
		return nil, actMalformed("unknown action %q", name)
	}
	if err != nil {
		return nil, actMalformed("%s params: %v", name, err)
	}
	canon, err := encodeParams(p)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, raw) {
		return nil, actMalformed("%s params are not in canonical form (fields %s, in that order, no spaces)", name, paramFields(name))
	}
	return p, nil
}

func paramFields(name string) string {
	switch name {
	case ActionSettingsSet:
		return "quota_bytes, max_age_seconds"
	case ActionInviteCreate:
		return "invite, role, expires"
	case ActionInviteDelete:
		return "invite"
	case ActionMemberAdd:
		return "email, role"
	case ActionStaffApprove:
		return "request, scopes, seconds"
	case ActionStaffDeny, ActionStaffRevoke:
		return "request"
	}
	return "account"
}

// InviteKeySize is the size of an invite's key (docs/API.md, "Joining by
// approval").
const InviteKeySize = 32

// InviteIDForKey returns the ID of the invite whose key is key: the first
// 16 bytes of SHA-256("vigil invite id v1\n" || key) in lower-case
// unpadded base32 (26 letters). The key derives from the invite's secret
// (member.InviteKey) and is what a joining device presents; the ID is a
// hash of it, so the cloud, its logs and the household's history hold the
// ID and never what opens the invite.
func InviteIDForKey(key []byte) string {
	h := sha256.New()
	h.Write([]byte("vigil invite id v1\n"))
	h.Write(key)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h.Sum(nil)[:16]))
}

// NewAction returns a fresh action on household with parameters p: a new
// random nonce, and now (truncated to milliseconds) as its time.
func NewAction(household string, p Params, now time.Time) (Action, error) {
	raw, err := encodeParams(p)
	if err != nil {
		return Action{}, err
	}
	nonce := make([]byte, ActionNonceSize)
	rand.Read(nonce)
	a := Action{V: ActionVersion, Household: household, Action: p.ActionName(), Time: now.UTC().Truncate(time.Millisecond), Nonce: nonce, Params: raw}
	if _, err := a.Encode(); err != nil {
		return Action{}, err
	}
	return a, nil
}

// Encode returns the action's body: its canonical JSON, after checking
// every rule of docs/FORMAT.md.
func (a Action) Encode() ([]byte, error) {
	if a.V != ActionVersion {
		return nil, actMalformed("version %d (this is version %d)", a.V, ActionVersion)
	}
	if !actHouseholdRE.MatchString(a.Household) {
		return nil, actMalformed("household %q is not a household ID", a.Household)
	}
	ts, err := actTime(a.Time, "time")
	if err != nil {
		return nil, err
	}
	if len(a.Nonce) != ActionNonceSize {
		return nil, actMalformed("nonce of %d bytes (want %d)", len(a.Nonce), ActionNonceSize)
	}
	if _, err := decodeParams(a.Action, a.Params); err != nil {
		return nil, err
	}
	b, err := canonjson.Marshal(actionWire{V: a.V, Household: a.Household, Action: a.Action, Time: ts,
		Nonce: base64.RawURLEncoding.EncodeToString(a.Nonce), Params: a.Params})
	if err != nil {
		return nil, actMalformed("%v", err)
	}
	if len(b) > MaxActionSize {
		return nil, actMalformed("body of %d bytes is over %d", len(b), MaxActionSize)
	}
	return b, nil
}

// ParseAction reads an action's body strictly: at most MaxActionSize bytes
// of UTF-8 JSON with exactly the fields of docs/FORMAT.md, a known action
// with valid parameters, and in canonical form (it must re-encode to
// exactly its own bytes), so that every reader — the cloud, hubs, the web
// app — sees the same change.
func ParseAction(body []byte) (Action, error) {
	if len(body) > MaxActionSize {
		return Action{}, actMalformed("body of %d bytes is over %d", len(body), MaxActionSize)
	}
	if !utf8.Valid(body) {
		return Action{}, actMalformed("body is not UTF-8")
	}
	var w actionWire
	if err := canonjson.Decode(body, &w); err != nil {
		return Action{}, actMalformed("body: %v", err)
	}
	if w.V != ActionVersion {
		return Action{}, actMalformed("version %d (this is version %d)", w.V, ActionVersion)
	}
	t, err := parseActTime(w.Time, "time")
	if err != nil {
		return Action{}, err
	}
	nonce, err := base64.RawURLEncoding.Strict().DecodeString(w.Nonce)
	if err != nil || len(nonce) != ActionNonceSize {
		return Action{}, actMalformed("nonce: %d random bytes, unpadded base64url", ActionNonceSize)
	}
	a := Action{V: w.V, Household: w.Household, Action: w.Action, Time: t, Nonce: nonce, Params: w.Params}
	canon, err := a.Encode()
	if err != nil {
		return Action{}, err
	}
	if !bytes.Equal(canon, body) {
		return Action{}, actMalformed("body is not in canonical form (fields v, household, action, time, nonce, params, in that order, no spaces)")
	}
	return a, nil
}

// paramsAs decodes a's parameters as those of P's action.
func paramsAs[P Params](a Action) (P, error) {
	var zero P
	if a.Action != zero.ActionName() {
		return zero, actMalformed("action is %q, not %q", a.Action, zero.ActionName())
	}
	p, err := decodeParams(a.Action, a.Params)
	if err != nil {
		return zero, err
	}
	return p.(P), nil
}

// Settings returns the parameters of a settings.set action.
func (a Action) Settings() (SettingsParams, error) { return paramsAs[SettingsParams](a) }

// Invite returns the parameters of an invite.create action.
func (a Action) Invite() (InviteParams, error) { return paramsAs[InviteParams](a) }

// InviteDelete returns the parameters of an invite.delete action.
func (a Action) InviteDelete() (InviteDeleteParams, error) { return paramsAs[InviteDeleteParams](a) }

// MemberAdd returns the parameters of a member.add action.
func (a Action) MemberAdd() (MemberAddParams, error) { return paramsAs[MemberAddParams](a) }

// MemberRemove returns the parameters of a member.remove action.
func (a Action) MemberRemove() (MemberRemoveParams, error) { return paramsAs[MemberRemoveParams](a) }

// StaffApprove returns the parameters of a staff.approve action.
func (a Action) StaffApprove() (StaffApproveParams, error) { return paramsAs[StaffApproveParams](a) }

// StaffDeny returns the parameters of a staff.deny action.
func (a Action) StaffDeny() (StaffDenyParams, error) { return paramsAs[StaffDenyParams](a) }

// StaffRevoke returns the parameters of a staff.revoke action.
func (a Action) StaffRevoke() (StaffRevokeParams, error) { return paramsAs[StaffRevokeParams](a) }

// Signed is a signed action as a device sends it and as history records
// keep it. Its JSON is {"device","body","sig"} with body and sig in
// unpadded base64url.
type Signed struct {
	Device string // the signing device's ID
	Body   []byte // the action's body, exactly as signed
	Sig    []byte // Ed25519 signature (64 bytes)
}

type signedWire struct {
	Device string `json:"device"`
	Body   string `json:"body"`
	Sig    string `json:"sig"`
}

// actionMessage is what the signature covers.
func actionMessage(body []byte) []byte {
	return append([]byte(actionContext), body...)
}

// SignAction signs a with the device keys k. It refuses an action that
// breaks a rule of docs/FORMAT.md (it would be refused anyway).
func SignAction(k *keydir.DeviceKeys, a Action) (Signed, error) {
	if k == nil || len(k.Sign) != ed25519.PrivateKeySize {
		return Signed{}, errors.New("history: signing an action needs a device's signing key")
	}
	body, err := a.Encode()
	if err != nil {
		return Signed{}, err
	}
	return Signed{Device: k.ID(), Body: body, Sig: ed25519.Sign(k.Sign, actionMessage(body))}, nil
}

// MarshalJSON returns {"device","body","sig"}.
func (s Signed) MarshalJSON() ([]byte, error) {
	return canonjson.Marshal(signedWire{Device: s.Device, Body: base64.RawURLEncoding.EncodeToString(s.Body),
		Sig: base64.RawURLEncoding.EncodeToString(s.Sig)})
}

// UnmarshalJSON reads {"device","body","sig"} strictly (ParseSigned).
func (s *Signed) UnmarshalJSON(b []byte) error {
	v, err := ParseSigned(b)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSigned reads {"device","body","sig"} and nothing else: a device
// ID, a body of at most MaxActionSize bytes and a 64-byte signature, each
// in unpadded base64url. It does not look into the body (VerifyAction
// does).
func ParseSigned(b []byte) (Signed, error) {
	if len(b) > 2*MaxActionSize {
		return Signed{}, actMalformed("signed action of %d bytes is too long", len(b))
	}
	var w signedWire
	if err := canonjson.Decode(b, &w); err != nil {
		return Signed{}, actMalformed("expected {\"device\",\"body\",\"sig\"}: %v", err)
	}
	if !deviceIDRE.MatchString(w.Device) {
		return Signed{}, actMalformed("device %q is not a device ID", w.Device)
	}
	body, err := base64.RawURLEncoding.Strict().DecodeString(w.Body)
	if err != nil || len(body) == 0 || len(body) > MaxActionSize {
		return Signed{}, actMalformed("body: the action's JSON (1 to %d bytes), unpadded base64url", MaxActionSize)
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(w.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Signed{}, actMalformed("sig: the %d-byte Ed25519 signature, unpadded base64url", ed25519.SignatureSize)
	}
	return Signed{Device: w.Device, Body: body, Sig: sig}, nil
}

// VerifySigned checks everything VerifyAction does except the time: that
// the body is a valid action on household, that its signer is an admin
// device of st (the household's verified chain) and that the signature
// verifies with that device's key. It is for actions read back later —
// the settings a hub is served, the signed actions in history records —
// whose freshness the cloud checked when it accepted them.
func VerifySigned(s Signed, st *keydir.State, household string) (Action, error) {
	if len(s.Sig) != ed25519.SignatureSize {
		return Action{}, actMalformed("signature of %d bytes (want %d)", len(s.Sig), ed25519.SignatureSize)
	}
	a, err := ParseAction(s.Body)
	if err != nil {
		return Action{}, err
	}
	if a.Household != household {
		return Action{}, fmt.Errorf("%w: it was signed for household %s, not %s", ErrActionHousehold, a.Household, household)
	}
	if st == nil || st.HouseholdID != household {
		return Action{}, fmt.Errorf("%w: no verified chain of household %s to check it with", ErrActionSigner, household)
	}
	d, ok := st.Devices[s.Device]
	switch {
	case !ok:
		return Action{}, fmt.Errorf("%w: device %s is not in the household's chain (never added, or removed)", ErrActionSigner, s.Device)
	case d.Role != keydir.RoleAdmin:
		return Action{}, fmt.Errorf("%w: device %s (%q) is a %s device, not an admin", ErrActionSigner, s.Device, d.Name, d.Role)
	}
	if !ed25519.Verify(d.SignPub, actionMessage(s.Body), s.Sig) {
		return Action{}, fmt.Errorf("%w: not the signature of device %s over this body", ErrActionSignature, s.Device)
	}
	return a, nil
}

// VerifyAction checks a signed action as the cloud does before it makes
// the change: VerifySigned, and the action's time within skew of now (the
// caller also checks that the nonce is new). It returns the action.
func VerifyAction(s Signed, st *keydir.State, household string, now time.Time, skew time.Duration) (Action, error) {
	a, err := VerifySigned(s, st, household)
	if err != nil {
		return Action{}, err
	}
	if d := a.Time.Sub(now); d > skew || d < -skew {
		return Action{}, fmt.Errorf("%w: signed at %s, %s from this clock's %s (more than %s): a replay, or a device whose clock is off (hint: check the device's clock and sign again)",
			ErrActionTime, a.Time.Format(canonjson.TimeLayout), d.Abs().Round(time.Second), now.UTC().Format(canonjson.TimeLayout), skew)
	}
	return a, nil
}
