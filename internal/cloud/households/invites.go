package households

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/history"
	"vigil/internal/keydir"
)

// Joining by approval. An admin device opens an invite with a signed
// invite.create action, naming it by history.InviteIDForKey of the
// invite's key (derived from its secret); a signed-in browser that has the
// invite's link presents the key (never the secret) to read the invite and
// asks to join with its public device identity, a name and a proof keyed
// by the invite's secret (which stays on the two devices). The Service
// keeps only the ID, a hash of the key, and finds an invite only from its
// key: an ID alone opens nothing; an admin device
// approves the request with a chain link adding exactly that device, and
// the account becomes a member if it was not one. Invites and requests are
// in the Store's ephemeral entries (one per household holding its open
// invites and their requests, and one per invite naming its household), so
// any Service over the store can take any of these calls. Approvals need no
// lock across Services: the approving link is signed over the head its
// admin device saw, so of two racing approvals the chain refuses one.

const (
	// MaxInviteTTL is the longest an invite may stay open.
	MaxInviteTTL = 7 * 24 * time.Hour
	// MaxInvites bounds the live invites of one household.
	MaxInvites = 32
	// MaxJoinRequests bounds the pending requests of one invite, and
	// MaxJoinRequestsTotal all its requests (declined ones too), so that
	// declining does not make room for ever more.
	MaxJoinRequests      = 8
	MaxJoinRequestsTotal = 16
	// UsedInviteGrace is how long a used invite stays for its requester to
	// see the approval (never past the invite's own expiry).
	UsedInviteGrace = 10 * time.Minute
)

// Join request states.
const (
	JoinPending  = "pending"
	JoinApproved = "approved"
	JoinDeclined = "declined"
)

// The ephemeral entries of invites.
const (
	keyInvites = "invites/" // + household ID: its open invites and their requests
	keyInvite  = "invite/"  // + invite ID: its household ID
)

// Invite is an open invite. Its fields are cloudapi.Invite's, so the HTTP
// layer converts it.
type Invite struct {
	ID          string    `json:"invite_id"`
	HouseholdID string    `json:"household_id"`
	Role        string    `json:"role"`
	CreatedBy   string    `json:"created_by"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
}

// JoinRequest is a device asking to join through an invite. Its fields are
// cloudapi.JoinRequest's.
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
	Status      string    `json:"status"` // JoinPending, JoinApproved or JoinDeclined
	Created     time.Time `json:"created"`
}

// invite is an open invite as stored, and its requests.
type invite struct {
	Invite
	Requests []*JoinRequest `json:"requests,omitempty"`
	Used     bool           `json:"used,omitempty"` // a request was approved: no new ones
}

// invites are a household's open invites, stored under keyInvites.
type invites struct {
	List []*invite `json:"invites"`
}

// find returns the invite with the ID, or nil.
func (v *invites) find(id string) *invite {
	for _, in := range v.List {
		if in.ID == id {
			return in
		}
	}
	return nil
}

// request finds a join request by ID.
func (v *invites) request(id string) (*invite, *JoinRequest) {
	for _, in := range v.List {
		for _, q := range in.Requests {
			if q.ID == id {
				return in, q
			}
		}
	}
	return nil, nil
}

// decodeInvites returns the invites in cur (none for nil) that are live at
// now.
func decodeInvites(cur []byte, now time.Time) (*invites, error) {
	v := &invites{}
	if cur != nil {
		if err := json.Unmarshal(cur, v); err != nil {
			return nil, fmt.Errorf("stored invites: %w", err)
		}
	}
	live := v.List[:0]
	for _, in := range v.List {
		if now.Before(in.Expires) {
			live = append(live, in)
		}
	}
	v.List = live
	return v, nil
}

// householdInvites returns household hh's live invites.
func (s *Service) householdInvites(ctx context.Context, hh string) (*invites, error) {
	now := s.now()
	cur, err := s.st.Get(ctx, keyInvites+hh, now)
	if errors.Is(err, store.ErrNotFound) {
		cur, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeInvites(cur, now)
}

// updateInvites changes household hh's live invites with fn, atomically
// (on every replica). fn may run more than once; an error from it changes
// nothing and is returned.
func (s *Service) updateInvites(ctx context.Context, hh string, fn func(v *invites) error) error {
	now := s.now()
	return s.st.Update(ctx, keyInvites+hh, now, func(cur []byte) ([]byte, time.Time, error) {
		v, err := decodeInvites(cur, now)
		if err != nil {
			return nil, time.Time{}, err
		}
		if err := fn(v); err != nil {
			return nil, time.Time{}, err
		}
		if len(v.List) == 0 {
			return nil, time.Time{}, nil
		}
		var last time.Time
		for _, in := range v.List {
			if in.Expires.After(last) {
				last = in.Expires
			}
		}
		b, err := json.Marshal(v)
		return b, last, err
	})
}

// inviteHousehold returns the household of the invite with the ID;
// store.ErrNotFound when there is no such invite.
func (s *Service) inviteHousehold(ctx context.Context, id string) (string, error) {
	hh, err := s.st.Get(ctx, keyInvite+id, s.now())
	return string(hh), err
}

// errNoInvite answers an invite that is unknown or expired.
var errNoInvite = &Error{Kind: Missing, Msg: "this invite is unknown or has expired; ask an admin of the household for a new one"}

// openInvite returns the live invite with the ID; errNoInvite when there
// is none.
func (s *Service) openInvite(ctx context.Context, id string) (*invite, error) {
	hh, err := s.inviteHousehold(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoInvite
	} else if err != nil {
		return nil, err
	}
	v, err := s.householdInvites(ctx, hh)
	if err != nil {
		return nil, err
	}
	in := v.find(id)
	if in == nil {
		return nil, errNoInvite
	}
	return in, nil
}

// CreateInvite opens the invite a checked invite.create action a
// (CheckAction) describes on household h: its ID (chosen by the admin
// device), role and expiry; accountID is the admin account asking. record
// is called with the invite's ID once the invite is known to fit, before
// it is stored: an error from it stores nothing.
func (s *Service) CreateInvite(ctx context.Context, h store.Household, accountID string, a history.Action, sa history.Signed, record func(object string) error) (Invite, error) {
	p, err := a.Invite()
	if err != nil {
		return Invite{}, errorf(Invalid, "%s", actionMessage(err))
	}
	now := s.now().UTC()
	// The device's clock may be ahead of the service's by the skew.
	if !p.Expires.After(now) || p.Expires.Sub(now) > MaxInviteTTL+history.ActionSkew {
		return Invite{}, errorf(Invalid, "expires: after now and at most %s from now", MaxInviteTTL)
	}
	in := &invite{Invite: Invite{ID: p.Invite, HouseholdID: h.ID, Role: p.Role, CreatedBy: accountID,
		Created: now, Expires: p.Expires.UTC()}}
	taken := errorf(Conflict, "invite ID %s is taken; make a new invite", in.ID)
	check := func(v *invites) error {
		if n := len(v.List); n >= MaxInvites {
			return errorf(TooMany, "this household has %d open invites; delete some first", n)
		}
		return nil
	}
	if _, err := s.inviteHousehold(ctx, in.ID); err == nil {
		return Invite{}, taken
	} else if !errors.Is(err, store.ErrNotFound) {
		return Invite{}, err
	}
	v, err := s.householdInvites(ctx, in.HouseholdID)
	if err != nil {
		return Invite{}, err
	}
	if err := check(v); err != nil {
		return Invite{}, err
	}
	if err := record(in.ID); err != nil {
		return Invite{}, err
	}
	// Claim the ID on every replica, then add the invite to its household.
	stored, err := s.st.PutIfAbsent(ctx, keyInvite+in.ID, []byte(in.HouseholdID), now, in.Expires)
	if err != nil {
		return Invite{}, err
	}
	if !stored {
		return Invite{}, taken
	}
	err = s.updateInvites(ctx, in.HouseholdID, func(v *invites) error {
		if err := check(v); err != nil {
			return err
		}
		v.List = append(v.List, in)
		return nil
	})
	if err != nil {
		if derr := s.st.Delete(context.WithoutCancel(ctx), keyInvite+in.ID); derr != nil {
			s.log.Warn("an invite ID not created stays claimed until it expires", "invite", in.ID, "err", derr)
		}
		return Invite{}, err
	}
	s.log.Info("invite created", "household", in.HouseholdID, "invite", in.ID, "role", in.Role, "expires", in.Expires, "device", sa.Device)
	return in.Invite, nil
}

// Invites returns household hh's live invites.
func (s *Service) Invites(ctx context.Context, hh string) ([]Invite, error) {
	v, err := s.householdInvites(ctx, hh)
	if err != nil {
		return nil, err
	}
	out := []Invite{}
	for _, in := range v.List {
		out = append(out, in.Invite)
	}
	return out, nil
}

// DeleteInvite closes invite id of household h, as a checked invite.delete
// action a says. record is called with the ID before the invite is closed:
// an error from it closes nothing.
func (s *Service) DeleteInvite(ctx context.Context, h store.Household, id string, a history.Action, record func(object string) error) error {
	p, err := a.InviteDelete()
	if err != nil {
		return errorf(Invalid, "%s", actionMessage(err))
	}
	if p.Invite != id {
		return errorf(Invalid, "the signed action deletes invite %s, not %s", p.Invite, id)
	}
	v, err := s.householdInvites(ctx, h.ID)
	if err != nil {
		return err
	}
	if v.find(id) == nil {
		return errorf(NotFound, "not found")
	}
	if err := record(id); err != nil {
		return err
	}
	err = s.updateInvites(ctx, h.ID, func(v *invites) error {
		v.List = slices.DeleteFunc(v.List, func(in *invite) bool { return in.ID == id })
		return nil
	})
	if err != nil {
		return err
	}
	return s.st.Delete(ctx, keyInvite+id)
}

// inviteID returns the ID of the invite key opens (history.InviteIDForKey);
// Invalid for a key of the wrong size.
func inviteID(key []byte) (string, error) {
	if len(key) != history.InviteKeySize {
		return "", errorf(Invalid, "key: the invite's %d-byte key, derived from the secret in its link", history.InviteKeySize)
	}
	return history.InviteIDForKey(key), nil
}

// keyOpens reports, in constant time, whether key is the key of invite in:
// the ID stored is a hash of the key, so the key itself is never stored.
func keyOpens(in *invite, key []byte) bool {
	return subtle.ConstantTimeCompare([]byte(in.ID), []byte(history.InviteIDForKey(key))) == 1
}

// InviteFor returns the live invite that key (member.InviteKey of its
// secret) opens, and its household, for a signed-in account that has its
// link. Without the key an invite cannot be read: knowing its ID is not
// enough.
func (s *Service) InviteFor(ctx context.Context, key []byte) (Invite, store.Household, error) {
	id, err := inviteID(key)
	if err != nil {
		return Invite{}, store.Household{}, err
	}
	in, err := s.openInvite(ctx, id)
	if err == nil && !keyOpens(in, key) {
		err = errNoInvite
	}
	if err != nil {
		return Invite{}, store.Household{}, err
	}
	h, err := s.st.Household(ctx, in.HouseholdID)
	if errors.Is(err, store.ErrNotFound) {
		return Invite{}, store.Household{}, errorf(NotFound, "not found")
	} else if err != nil {
		return Invite{}, store.Household{}, err
	}
	return in.Invite, h, nil
}

// Join is a device's request to join through an invite.
type Join struct {
	AccountID, Email string // the signed-in account asking
	Device           string // its public device identity ("vigdev1:...")
	Name             string // the device's name
	Proof            []byte // HMAC-SHA-256 keyed by the invite's secret
}

// RequestJoin adds a pending request to join through the invite key
// opens, and tells OnJoinRequest of its household.
func (s *Service) RequestJoin(ctx context.Context, key []byte, j Join) (JoinRequest, error) {
	id, err := inviteID(key)
	if err != nil {
		return JoinRequest{}, err
	}
	j.Name = strings.TrimSpace(j.Name)
	if j.Name == "" || len(j.Name) > 64 {
		return JoinRequest{}, errorf(Invalid, "name: this device's name, 1 to 64 bytes")
	}
	if len(j.Proof) != 32 {
		return JoinRequest{}, errorf(Invalid, "proof: the 32-byte HMAC-SHA-256 keyed by the invite's secret")
	}
	dk, err := keydir.ParseDevice(j.Device, keydir.RoleMember, j.Name)
	if err != nil {
		return JoinRequest{}, errorf(Invalid, "device: %v", err)
	}
	hh, err := s.inviteHousehold(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return JoinRequest{}, errNoInvite
	} else if err != nil {
		return JoinRequest{}, err
	}
	var q *JoinRequest
	err = s.updateInvites(ctx, hh, func(v *invites) error {
		in := v.find(id)
		if in == nil || !keyOpens(in, key) {
			return errNoInvite
		}
		if in.Used {
			return errorf(Used, "this invite has been used; ask an admin of the household for a new one")
		}
		if len(in.Requests) >= MaxJoinRequestsTotal {
			return errorf(TooMany, "this invite has had %d requests; ask for a new one", len(in.Requests))
		}
		live := 0
		for _, q := range in.Requests {
			if q.Status == JoinPending {
				live++
			}
		}
		if live >= MaxJoinRequests {
			return errorf(TooMany, "too many devices are waiting on this invite; ask for a new one")
		}
		q = &JoinRequest{ID: newID("j"), InviteID: in.ID, HouseholdID: in.HouseholdID, AccountID: j.AccountID, Email: j.Email,
			Device: j.Device, DeviceID: dk.ID, Name: j.Name, Proof: j.Proof, Role: in.Role, Status: JoinPending, Created: s.now().UTC()}
		in.Requests = append(in.Requests, q)
		return nil
	})
	if err != nil {
		return JoinRequest{}, err
	}
	s.log.Info("join request", "household", hh, "invite", id, "account", j.AccountID, "request", q.ID, "device", dk.ID)
	s.onJoinRequest(hh)
	return *q, nil
}

// JoinRequestOf returns request rid of the invite key opens if the account
// accountID made it; NotFound otherwise, and for an invite unknown or
// expired.
func (s *Service) JoinRequestOf(ctx context.Context, key []byte, rid, accountID string) (JoinRequest, error) {
	id, err := inviteID(key)
	if err != nil {
		return JoinRequest{}, err
	}
	in, err := s.openInvite(ctx, id)
	if err == nil && !keyOpens(in, key) {
		err = errNoInvite
	}
	if errors.Is(err, errNoInvite) {
		return JoinRequest{}, errorf(NotFound, "not found")
	} else if err != nil {
		return JoinRequest{}, err
	}
	for _, q := range in.Requests {
		if q.ID == rid && q.AccountID == accountID {
			return *q, nil
		}
	}
	return JoinRequest{}, errorf(NotFound, "not found")
}

// JoinRequests returns household hh's pending join requests.
func (s *Service) JoinRequests(ctx context.Context, hh string) ([]JoinRequest, error) {
	v, err := s.householdInvites(ctx, hh)
	if err != nil {
		return nil, err
	}
	out := []JoinRequest{}
	for _, in := range v.List {
		for _, q := range in.Requests {
			if q.Status == JoinPending {
				out = append(out, *q)
			}
		}
	}
	return out, nil
}

// Approval is an approved join request: the request, the role its account
// has in the household and the chain's seq after the link adding its
// device.
type Approval struct {
	Request JoinRequest
	Role    string
	Seq     int64
}

// ApproveJoin enrols the device of household h's pending request rid: link
// (signed by an admin device) must add exactly that device to the chain
// (AppendAdding); the request's account becomes a member with the
// invite's role if it is not one yet, the request is approved and its
// invite used, its other requests declined.
func (s *Service) ApproveJoin(ctx context.Context, h store.Household, rid string, link []byte) (Approval, error) {
	v, err := s.householdInvites(ctx, h.ID)
	if err != nil {
		return Approval{}, err
	}
	in, q := v.request(rid)
	if q == nil || q.Status != JoinPending {
		return Approval{}, errorf(NotFound, "not found")
	}
	next, err := s.AppendAdding(ctx, h, link, q.DeviceID)
	if err != nil {
		return Approval{}, err
	}
	role := in.Role
	if m, err := s.st.Member(ctx, h.ID, q.AccountID); err == nil {
		role = m.Role // already a member: keep the role
	} else if !errors.Is(err, store.ErrNotFound) {
		return Approval{}, err
	} else if err := s.st.PutMember(ctx, store.Member{HouseholdID: h.ID, AccountID: q.AccountID, Role: role, Created: s.now().UTC()}); err != nil {
		return Approval{}, err
	}
	// The device is in the chain: the request is approved (whatever
	// happened to it since it was read) and the invite is used, its other
	// requests declined.
	err = s.updateInvites(ctx, h.ID, func(v *invites) error {
		in, q := v.request(rid)
		if q == nil {
			return nil // the invite expired or was deleted meanwhile
		}
		for _, o := range in.Requests {
			if o.Status == JoinPending {
				o.Status = JoinDeclined
			}
		}
		q.Status = JoinApproved
		in.Used = true
		if grace := s.now().Add(UsedInviteGrace); grace.Before(in.Expires) {
			in.Expires = grace // long enough for the requester to see it
		}
		return nil
	})
	if err != nil {
		return Approval{}, err
	}
	s.log.Info("join request approved", "household", h.ID, "request", q.ID, "account", q.AccountID, "device", q.DeviceID, "seq", next.Seq)
	q.Status = JoinApproved
	return Approval{Request: *q, Role: role, Seq: next.Seq}, nil
}

// DeclineJoin declines household hh's pending request rid.
func (s *Service) DeclineJoin(ctx context.Context, hh, rid string) error {
	return s.updateInvites(ctx, hh, func(v *invites) error {
		_, q := v.request(rid)
		if q == nil || q.Status != JoinPending {
			return errorf(NotFound, "not found")
		}
		q.Status = JoinDeclined
		return nil
	})
}

// newID returns a random ID with the prefix.
func newID(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return prefix + fmt.Sprintf("%x", b)
}
