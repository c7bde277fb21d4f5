package staff

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"vigil/internal/cloud/store"
)

// The lockbox: staff read a household's metadata only under a grant its
// admins gave. A staff member files a request (File) naming the household
// by its support code, the scopes (Scopes), a reason and a duration; the
// household's admins see it (Requests) and approve, deny or revoke it
// (Decide) with an admin device's signed action, which the HTTP layer
// checks (households.CheckAction) before calling Decide; a read (Grant)
// succeeds only while the grant is live and only for a granted scope.
// Every step is recorded by the HTTP layer in the household's history:
// File, Decide and Grant say what to record, and a grant that has run out
// is marked expired once, by whichever call sees it first, which says so.

// Scopes are the kinds of metadata a request can name, ascending.
var Scopes = []string{"cameras", "hubs", "storage", "uploads", "versions"}

const (
	// DefaultGrant is how long a grant lasts when the request names no
	// duration, and MaxGrant the longest it can.
	DefaultGrant = 8 * time.Hour
	MaxGrant     = 8 * time.Hour
	// maxReason bounds a request's reason (it goes into the household's
	// history with the request).
	maxReason = 200
)

// File stores staff member st's request for household hh's metadata:
// scopes (from Scopes), a reason, and how long a grant would last (0:
// DefaultGrant; at most MaxGrant, whole seconds). The caller found hh by
// its support code (LookUp) and records the request.
func (s *Service) File(ctx context.Context, st store.Staff, hh string, scopes []string, reason string, d time.Duration) (store.StaffRequest, error) {
	sc, err := checkScopes(scopes)
	if err != nil {
		return store.StaffRequest{}, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > maxReason || !utf8.ValidString(reason) || strings.ContainsFunc(reason, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return store.StaffRequest{}, errorf(Invalid, "reason: 1 to %d printable characters (the household reads it)", maxReason)
	}
	if d == 0 {
		d = DefaultGrant
	}
	if d < time.Second || d > MaxGrant || d%time.Second != 0 {
		return store.StaffRequest{}, errorf(Invalid, "duration: whole seconds, at most %v", MaxGrant)
	}
	r := store.StaffRequest{ID: randomID(), HouseholdID: hh, StaffID: st.ID, Scopes: sc, Reason: reason, Duration: d,
		Created: s.now().UTC(), State: store.StaffPending}
	if err := s.st.CreateStaffRequest(ctx, r); errors.Is(err, store.ErrNotFound) {
		return store.StaffRequest{}, errorf(NotFound, "not found")
	} else if err != nil {
		return store.StaffRequest{}, err
	}
	s.log.Info("staff request filed", "staff", st.ID, "household", hh, "request", r.ID, "scopes", strings.Join(sc, ","))
	return r, nil
}

// checkScopes returns scopes sorted, refusing unknown ones and repeats.
func checkScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, errorf(Invalid, "scopes: one or more of %s", strings.Join(Scopes, ", "))
	}
	sc := slices.Clone(scopes)
	slices.Sort(sc)
	for i, v := range sc {
		if !slices.Contains(Scopes, v) {
			return nil, errorf(Invalid, "scope %q: one of %s", v, strings.Join(Scopes, ", "))
		}
		if i > 0 && sc[i-1] == v {
			return nil, errorf(Invalid, "scope %q named twice", v)
		}
	}
	return sc, nil
}

// expire marks r expired if it is an approved grant whose time has run
// out; it reports whether this call did (the caller records the expiry).
func (s *Service) expire(ctx context.Context, r *store.StaffRequest) (bool, error) {
	now := s.now()
	if r.State != store.StaffApproved || now.Before(r.Expires) {
		return false, nil
	}
	next := *r
	next.State, next.Decided = store.StaffExpired, now.UTC()
	err := s.st.SetStaffRequestState(ctx, r.HouseholdID, r.ID, store.StaffApproved, next)
	if errors.Is(err, store.ErrConflict) {
		// Another call marked it (or an admin revoked it) first.
		cur, err := s.st.StaffRequest(ctx, r.HouseholdID, r.ID)
		if err != nil {
			return false, err
		}
		*r = cur
		return false, nil
	}
	if err != nil {
		return false, err
	}
	*r = next
	return true, nil
}

// Requests returns household hh's requests, newest first, and those of
// them this call found expired (the caller records each expiry).
func (s *Service) Requests(ctx context.Context, hh string) (all, expired []store.StaffRequest, err error) {
	rs, err := s.st.StaffRequests(ctx, hh)
	if err != nil {
		return nil, nil, err
	}
	for i := range rs {
		did, err := s.expire(ctx, &rs[i])
		if err != nil {
			return nil, nil, err
		}
		if did {
			expired = append(expired, rs[i])
		}
	}
	return rs, expired, nil
}

// Decision is a household admin's decision on a request, from a signed
// action the caller checked.
type Decision struct {
	State   string   // store.StaffApproved, store.StaffDenied or store.StaffRevoked
	Scopes  []string // approvals: the scopes the admin signed (the request's)
	Seconds int64    // approvals: the duration the admin signed (the request's)
	Device  string   // the admin device that signed
}

// Decide applies an admin's decision to household hh's request id: an
// approval or a denial of a pending request, a revocation of an approved
// one (at once). An approval must sign exactly the request's scopes and
// duration. record is called with the request before the decision takes
// effect: an error from it changes nothing.
func (s *Service) Decide(ctx context.Context, hh, id string, d Decision, record func(r store.StaffRequest) error) (store.StaffRequest, error) {
	r, err := s.st.StaffRequest(ctx, hh, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.StaffRequest{}, errorf(NotFound, "not found")
	}
	if err != nil {
		return store.StaffRequest{}, err
	}
	if _, err := s.expire(ctx, &r); err != nil {
		return store.StaffRequest{}, err
	}
	from := store.StaffPending
	switch d.State {
	case store.StaffApproved:
		if !slices.Equal(d.Scopes, r.Scopes) || d.Seconds != int64(r.Duration/time.Second) {
			return store.StaffRequest{}, errorf(Invalid, "the signed approval must grant exactly the request's scopes (%s) for its duration (%d s)",
				strings.Join(r.Scopes, ","), int64(r.Duration/time.Second))
		}
	case store.StaffDenied:
	case store.StaffRevoked:
		from = store.StaffApproved
	default:
		return store.StaffRequest{}, errorf(Invalid, "unknown decision %q", d.State)
	}
	if r.State != from {
		return store.StaffRequest{}, errorf(Conflict, "this request is %s: it cannot be %s", r.State, d.State)
	}
	now := s.now().UTC()
	next := r
	next.State, next.Decided, next.DecidedBy = d.State, now, d.Device
	if d.State == store.StaffApproved {
		next.Expires = now.Add(r.Duration)
	}
	if err := record(next); err != nil {
		return store.StaffRequest{}, err
	}
	if err := s.st.SetStaffRequestState(ctx, hh, id, from, next); errors.Is(err, store.ErrConflict) {
		return store.StaffRequest{}, errorf(Conflict, "this request was decided meanwhile; reload it")
	} else if err != nil {
		return store.StaffRequest{}, err
	}
	s.log.Info("staff request decided", "household", hh, "request", id, "state", d.State, "device", d.Device)
	return next, nil
}

// Request returns staff member st's own request id (NotFound for anyone
// else's), marking it expired if its grant has run out (expired: the
// caller records it).
func (s *Service) Request(ctx context.Context, st store.Staff, id string) (r store.StaffRequest, expired bool, err error) {
	if len(id) > 64 {
		return store.StaffRequest{}, false, errorf(NotFound, "not found")
	}
	r, err = s.st.StaffRequestByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && r.StaffID != st.ID) {
		return store.StaffRequest{}, false, errorf(NotFound, "not found")
	}
	if err != nil {
		return store.StaffRequest{}, false, err
	}
	expired, err = s.expire(ctx, &r)
	return r, expired, err
}

// Grant checks that staff member st may read scope of a household now,
// under their request id: an approved grant, not expired nor revoked,
// that names scope. It returns the request (its household is the one to
// read) and whether this call found it expired (the caller records that,
// even when the read is refused).
func (s *Service) Grant(ctx context.Context, st store.Staff, id, scope string) (store.StaffRequest, bool, error) {
	if !slices.Contains(Scopes, scope) {
		return store.StaffRequest{}, false, errorf(Invalid, "scope %q: one of %s", scope, strings.Join(Scopes, ", "))
	}
	r, expired, err := s.Request(ctx, st, id)
	if err != nil {
		return store.StaffRequest{}, false, err
	}
	if r.State != store.StaffApproved {
		return r, expired, errorf(Forbidden, "no live grant: this request is %s", r.State)
	}
	if !slices.Contains(r.Scopes, scope) {
		return r, expired, errorf(Forbidden, "the grant does not cover %q (it covers %s)", scope, strings.Join(r.Scopes, ", "))
	}
	return r, expired, nil
}

// maxDue bounds the grants one ExpireDue marks (the next call takes the
// rest).
const maxDue = 500

// ExpireDue marks expired the approved grants that have run out and that
// no read or listing has marked yet, and returns those this call marked
// (the caller records each). Replicas may run it at once: each grant is
// marked, and returned, once.
func (s *Service) ExpireDue(ctx context.Context) ([]store.StaffRequest, error) {
	due, err := s.st.StaffGrantsDue(ctx, s.now(), maxDue)
	if err != nil {
		return nil, err
	}
	var out []store.StaffRequest
	for i := range due {
		did, err := s.expire(ctx, &due[i])
		if err != nil {
			return out, err
		}
		if did {
			out = append(out, due[i])
		}
	}
	return out, nil
}
