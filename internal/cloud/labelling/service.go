package labelling

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"vigil/internal/blob"
	"vigil/internal/cloud/chaincache"
	"vigil/internal/cloud/store"
	"vigil/internal/consent"
	"vigil/internal/history"
	"vigil/internal/keydir"
)

const (
	// MaxClip bounds a donated clip's sealed object.
	MaxClip = 256 << 20
	// MaxAnnotation bounds a sealed annotation.
	MaxAnnotation = 8 << 20
	// MaxEvaluation bounds a sealed evaluation record.
	MaxEvaluation = 1 << 20
	// SweepBatch is how many due donations one pass of the expiry sweep
	// ends.
	SweepBatch = 100
)

// ActorWorkspace is the actor kind of a donor's history records made by a
// workspace's device (an annotator, a reviewer, a lead): its ID is the
// device's ID.
const ActorWorkspace = history.ActorWorkspace

// Actions of the donor household's history records.
const (
	ActionDonate         = "labelling.donate"
	ActionAssign         = "labelling.assign"
	ActionClipRead       = "labelling.clip.read"
	ActionAnnotate       = "labelling.annotate"
	ActionAnnotationRead = "labelling.annotation.read"
	ActionReview         = "labelling.review"
	ActionDataset        = "labelling.dataset"
	ActionEvaluate       = "labelling.evaluate"
	ActionRevoke         = "labelling.revoke"
	ActionExpire         = "labelling.expire"
	ActionMark           = "labelling.mark"
)

// Errors. A refusal is an *Error whose Kind is one of these (test with
// errors.Is) and whose message says what to fix. A bare ErrNotFound is the
// one answer for what does not exist or is not the caller's to see.
var (
	ErrInvalid   = errors.New("invalid labelling request")
	ErrConsent   = errors.New("consent refused")
	ErrForbidden = errors.New("not allowed in this workspace")
	ErrNotFound  = errors.New("not found")
	ErrConflict  = errors.New("conflict")
	ErrTooLarge  = errors.New("too large")
)

// Error is a refusal with a message for the caller.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }

func refuse(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Recorder records a step in a donor household's history.
type Recorder interface {
	Record(ctx context.Context, a store.Access) error
}

// Config configures a Service. Store, Blobs, Access and Households are
// required.
type Config struct {
	Store Store
	Blobs blob.Store // the sealed clips and annotations
	// Access records every step in the donor household's history.
	Access Recorder
	// Households returns a household's current verified chain state (the
	// cloud's households domain).
	Households func(ctx context.Context, id string) (*keydir.State, error)
	// OnHead, when set, hears of each new head of a workspace's chain
	// (the cloud publishes it in the transparency log, as households'
	// heads are).
	OnHead func(ctx context.Context, ws string, genesis []byte, seq int64, head []byte)
	Logger *slog.Logger
	Now    func() time.Time
}

// Service carries out labelling. It is safe for concurrent use and starts
// no goroutines (the cloud's scheduler runs Sweep).
type Service struct {
	st     Store
	blobs  blob.Store
	access Recorder
	hh     func(ctx context.Context, id string) (*keydir.State, error)
	onHead func(ctx context.Context, ws string, genesis []byte, seq int64, head []byte)
	log    *slog.Logger
	now    func() time.Time
	chains *chaincache.Cache // workspace ID -> verified chain state
}

// New returns a Service.
func New(c Config) (*Service, error) {
	if c.Store == nil || c.Blobs == nil || c.Access == nil || c.Households == nil {
		return nil, errors.New("labelling: Store, Blobs, Access and Households are required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.OnHead == nil {
		c.OnHead = func(context.Context, string, []byte, int64, []byte) {}
	}
	s := &Service{st: c.Store, blobs: c.Blobs, access: c.Access, hh: c.Households, onHead: c.OnHead, log: c.Logger, now: c.Now}
	s.chains = chaincache.New("workspace", func(ctx context.Context, ws string, from int64) ([][]byte, error) {
		links, err := s.st.WorkspaceLinks(ctx, ws, from)
		return store.LinkData(links), err
	}, c.Now)
	return s, nil
}

var groupRE = regexp.MustCompile(`^h[a-z2-7]{26}$`)

// Workspaces.

// CreateWorkspace stores a new workspace whose chain starts with genesis,
// signed by its first admin device (a labelling lead's); staffID is the
// staff admin who decided it.
func (s *Service) CreateWorkspace(ctx context.Context, staffID string, genesis []byte) (store.Workspace, error) {
	st, err := keydir.Verify([][]byte{genesis}, keydir.GenesisHash(genesis))
	if err != nil {
		return store.Workspace{}, refuse(ErrInvalid, "genesis: not a valid chain genesis link: %v", err)
	}
	now := s.now().UTC()
	w := store.Workspace{ID: st.HouseholdID, Name: st.Name, GenesisHash: st.GenesisHash, CreatedBy: staffID, Created: now}
	err = s.st.CreateWorkspace(ctx, w, store.Link{HouseholdID: w.ID, Seq: 0, Hash: keydir.LinkHash(genesis), Data: genesis, Created: now})
	if errors.Is(err, store.ErrExists) {
		return store.Workspace{}, refuse(ErrConflict, "a workspace with this chain exists")
	}
	if err != nil {
		return store.Workspace{}, err
	}
	s.onHead(ctx, w.ID, st.GenesisHash, st.Seq, st.Head)
	s.log.Info("labelling workspace created", "workspace", w.ID, "staff", staffID)
	return w, nil
}

// Workspaces lists every workspace.
func (s *Service) Workspaces(ctx context.Context) ([]store.Workspace, error) {
	return s.st.Workspaces(ctx)
}

// Chain returns the workspace's chain links, in order.
func (s *Service) Chain(ctx context.Context, ws string) ([][]byte, error) {
	links, err := s.st.WorkspaceLinks(ctx, ws, 0)
	if err != nil {
		return nil, err
	}
	if len(links) == 0 {
		return nil, ErrNotFound
	}
	return store.LinkData(links), nil
}

// Links returns the workspace and its chain links from seq from on, as
// stored.
func (s *Service) Links(ctx context.Context, ws string, from int64) (store.Workspace, []store.Link, error) {
	w, err := s.st.Workspace(ctx, ws)
	if errors.Is(err, store.ErrNotFound) {
		return store.Workspace{}, nil, ErrNotFound
	}
	if err != nil {
		return store.Workspace{}, nil, err
	}
	links, err := s.st.WorkspaceLinks(ctx, ws, from)
	return w, links, err
}

// State returns the workspace's current state, its chain verified from the
// genesis it was created with (cached: only links after the cached head
// are verified, and the store is asked at most every chaincache.Recheck).
// The state is shared: do not change it.
func (s *Service) State(ctx context.Context, ws string) (*keydir.State, error) {
	return s.state(ctx, ws, false)
}

// state is State, asking the store at once when fresh is set.
func (s *Service) state(ctx context.Context, ws string, fresh bool) (*keydir.State, error) {
	if !groupRE.MatchString(ws) {
		return nil, ErrNotFound
	}
	if st, ok := s.chains.Cached(ws); ok {
		return s.chains.State(ctx, ws, st.GenesisHash, fresh)
	}
	w, err := s.st.Workspace(ctx, ws)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return s.chains.State(ctx, ws, w.GenesisHash, fresh)
}

// Device returns a device of the workspace's current chain (not a hub);
// ErrNotFound for any other. The cloud authenticates workspace requests
// with its key.
func (s *Service) Device(ctx context.Context, ws, id string) (keydir.DeviceKey, error) {
	st, err := s.State(ctx, ws)
	if err != nil {
		return keydir.DeviceKey{}, err
	}
	d, ok := st.Devices[id]
	if !ok || d.Role == keydir.RoleHub {
		return keydir.DeviceKey{}, ErrNotFound
	}
	return d, nil
}

// Caller is a device of a workspace, authenticated by its key.
type Caller struct {
	Workspace string
	Device    string
}

// caller returns the workspace's state and the caller's place in it.
func (s *Service) caller(ctx context.Context, c Caller) (*keydir.State, keydir.DeviceKey, error) {
	st, err := s.State(ctx, c.Workspace)
	if err != nil {
		return nil, keydir.DeviceKey{}, err
	}
	d, ok := st.Devices[c.Device]
	if !ok || d.Role == keydir.RoleHub {
		return nil, keydir.DeviceKey{}, ErrNotFound
	}
	return st, d, nil
}

func (s *Service) admin(ctx context.Context, c Caller) (*keydir.State, error) {
	st, d, err := s.caller(ctx, c)
	if err != nil {
		return nil, err
	}
	if d.Role != keydir.RoleAdmin {
		return nil, refuse(ErrForbidden, "only an admin device of the workspace (a lead or reviewer) can do this")
	}
	return st, nil
}

// AppendLink adds a link to the workspace's chain; the chain's own rules
// decide whether its signer may (an admin device of the current state).
func (s *Service) AppendLink(ctx context.Context, c Caller, link []byte) error {
	cur, err := s.state(ctx, c.Workspace, true)
	if err != nil {
		return err
	}
	if d, ok := cur.Devices[c.Device]; !ok || d.Role == keydir.RoleHub {
		return ErrNotFound
	}
	st := cur.Clone()
	if err := st.Apply(link); err != nil {
		return refuse(ErrInvalid, "chain link: %v", err)
	}
	err = s.st.AppendWorkspaceLink(ctx, store.Link{HouseholdID: c.Workspace, Seq: st.Seq, Hash: keydir.LinkHash(link), Data: link, Created: s.now().UTC()})
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) {
		s.chains.Drop(c.Workspace)
		return refuse(ErrConflict, "the chain changed meanwhile: fetch it and sign again")
	}
	if err != nil {
		return err
	}
	s.chains.Put(c.Workspace, st)
	s.onHead(ctx, c.Workspace, st.GenesisHash, st.Seq, st.Head)
	return nil
}

// Donations, the donor's side.

// Donor is a household member donating or revoking, as the cloud
// authenticated them.
type Donor struct {
	Household string
	Account   string
}

func clipKey(ws, id string) string { return "labelling/" + ws + "/" + id + "/clip" }
func annotationKey(ws, id string, v int) string {
	return "labelling/" + ws + "/" + id + "/annotation-" + strconv.Itoa(v)
}

// Donate stores a donated clip: size bytes of a sealed object read from
// body, given by the signed consent (its text form). The consent must
// verify against the donor household's current chain and name exactly the
// bytes read; otherwise nothing is kept.
func (s *Service) Donate(ctx context.Context, d Donor, signed string, body io.Reader, size int64) (store.Donation, error) {
	sc, err := consent.ParseSigned(signed)
	if err != nil {
		return store.Donation{}, refuse(ErrInvalid, "consent: %v", err)
	}
	c, err := consent.Parse(sc.Body)
	if err != nil {
		return store.Donation{}, refuse(ErrInvalid, "consent: %v", err)
	}
	if c.Household != d.Household {
		return store.Donation{}, refuse(ErrConsent, "the consent is for another household")
	}
	switch {
	case size <= 0:
		return store.Donation{}, refuse(ErrInvalid, "the sealed clip is empty (send it with its Content-Length)")
	case size > MaxClip:
		return store.Donation{}, refuse(ErrTooLarge, "the sealed clip is over %d bytes (donate a shorter clip)", MaxClip)
	}
	st, err := s.hh(ctx, d.Household)
	if err != nil {
		return store.Donation{}, err
	}
	now := s.now()
	// Everything but the digest, before any byte is stored.
	if _, err := consent.Verify(sc, st, now, c.Object); err != nil {
		return store.Donation{}, refuse(ErrConsent, "%v", err)
	}
	if _, err := s.st.Workspace(ctx, c.Workspace); errors.Is(err, store.ErrNotFound) {
		return store.Donation{}, refuse(ErrNotFound, "workspace %s does not exist", c.Workspace)
	} else if err != nil {
		return store.Donation{}, err
	}
	if _, err := s.st.Donation(ctx, c.ID); err == nil {
		return store.Donation{}, refuse(ErrConflict, "a donation with this consent ID exists (sign a new consent)")
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Donation{}, err
	}
	key := clipKey(c.Workspace, c.ID)
	info, created, err := s.blobs.Put(ctx, key, body, size)
	if errors.Is(err, blob.ErrConflict) {
		return store.Donation{}, refuse(ErrConflict, "a donation with this consent ID exists (sign a new consent)")
	}
	if err != nil {
		return store.Donation{}, err
	}
	if info.SHA256 != c.Object {
		s.deleteBlobs(ctx, key)
		return store.Donation{}, refuse(ErrConsent, "%v", consent.ErrDigest)
	}
	dn := store.Donation{ID: c.ID, WorkspaceID: c.Workspace, HouseholdID: d.Household, Device: c.Device, Consent: signed,
		ObjectKey: key, ObjectSize: info.Size, ObjectSHA256: info.SHA256, Purpose: c.Purpose, State: store.DonationOpen,
		Expires: c.Expires.UTC(), Created: now.UTC()}
	if err := s.st.CreateDonation(ctx, dn); err != nil {
		// The bytes are another request's if its Put made them (the
		// same consent sent twice at once), else this one's to remove.
		if created {
			s.deleteBlobs(ctx, key)
		}
		if errors.Is(err, store.ErrExists) {
			return store.Donation{}, refuse(ErrConflict, "a donation with this consent ID exists (sign a new consent)")
		}
		return store.Donation{}, err
	}
	if err := s.record(ctx, dn, "account", d.Account, ActionDonate, fmt.Sprintf("donation %s to workspace %s (%s, until %s)",
		dn.ID, dn.WorkspaceID, dn.Purpose, dn.Expires.Format(time.RFC3339))); err != nil {
		return store.Donation{}, err
	}
	s.log.Info("donation stored", "household", dn.HouseholdID, "donation", dn.ID, "workspace", dn.WorkspaceID, "bytes", dn.ObjectSize)
	return dn, nil
}

// Donations lists the household's donations, newest first.
func (s *Service) Donations(ctx context.Context, household string) ([]store.Donation, error) {
	return s.st.Donations(ctx, store.DonationFilter{HouseholdID: household})
}

// Revoke takes donation id back with a signed revocation (its text form)
// by the donor device or an admin device of the household: the clip and
// its annotations are deleted, and every dataset version and evaluation
// that held it marked. Revoking again answers the donation as it is.
func (s *Service) Revoke(ctx context.Context, d Donor, id, signed string) (store.Donation, error) {
	sr, err := consent.ParseSigned(signed)
	if err != nil {
		return store.Donation{}, refuse(ErrInvalid, "revocation: %v", err)
	}
	r, err := consent.ParseRevocation(sr.Body)
	if err != nil {
		return store.Donation{}, refuse(ErrInvalid, "revocation: %v", err)
	}
	if r.Consent != id {
		return store.Donation{}, refuse(ErrInvalid, "the revocation names donation %s, not %s", r.Consent, id)
	}
	dn, err := s.st.Donation(ctx, r.Consent)
	if errors.Is(err, store.ErrNotFound) || (err == nil && dn.HouseholdID != d.Household) {
		return store.Donation{}, ErrNotFound
	}
	if err != nil {
		return store.Donation{}, err
	}
	if store.DonationEnded(dn.State) {
		return dn, nil
	}
	sc, err := consent.ParseSigned(dn.Consent)
	if err != nil {
		return store.Donation{}, fmt.Errorf("labelling: stored consent of %s: %w", dn.ID, err)
	}
	c, err := consent.Parse(sc.Body)
	if err != nil {
		return store.Donation{}, fmt.Errorf("labelling: stored consent of %s: %w", dn.ID, err)
	}
	st, err := s.hh(ctx, d.Household)
	if err != nil {
		return store.Donation{}, err
	}
	if _, err := consent.VerifyRevocation(sr, c, st, s.now()); err != nil {
		return store.Donation{}, refuse(ErrConsent, "%v", err)
	}
	return s.end(ctx, dn, store.DonationRevoked, "account", d.Account)
}

// Sweep ends every donation whose consent has expired, as a revocation
// does: the cloud's scheduler runs it on one replica at a time. It returns
// how many it ended.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	n := 0
	for {
		due, err := s.st.DueDonations(ctx, s.now(), SweepBatch)
		if err != nil {
			return n, err
		}
		for _, dn := range due {
			if _, err := s.end(ctx, dn, store.DonationExpired, "cloud", "labelling"); err != nil {
				return n, err
			}
			n++
		}
		if len(due) < SweepBatch {
			return n, nil
		}
	}
}

// end revokes or expires dn: its blobs are deleted before and after the
// store forgets them (an annotation stored meanwhile is caught by the
// second pass), then the donor's history records the end and every mark.
func (s *Service) end(ctx context.Context, dn store.Donation, state, actorKind, actor string) (store.Donation, error) {
	keys := []string{dn.ObjectKey}
	if as, err := s.st.Annotations(ctx, dn.ID); err == nil {
		for _, a := range as {
			keys = append(keys, a.Key)
		}
	}
	if err := s.deleteBlobs(ctx, keys...); err != nil {
		return store.Donation{}, err
	}
	at := s.now().UTC()
	ended, keys, err := s.st.EndDonation(ctx, dn.ID, state, at)
	if err != nil {
		return store.Donation{}, err
	}
	if err := s.deleteBlobs(ctx, keys...); err != nil {
		return store.Donation{}, err
	}
	action := ActionRevoke
	if state == store.DonationExpired {
		action = ActionExpire
	}
	if err := s.record(ctx, ended, actorKind, actor, action, fmt.Sprintf("donation %s: clip and annotations deleted from workspace %s", dn.ID, dn.WorkspaceID)); err != nil {
		return store.Donation{}, err
	}
	versions, err := s.st.DatasetVersions(ctx, dn.WorkspaceID)
	if err != nil {
		return store.Donation{}, err
	}
	for _, v := range versions {
		if marked(v.Marks, dn.ID) {
			if err := s.record(ctx, ended, "cloud", "labelling", ActionMark, fmt.Sprintf("dataset version %d of workspace %s marked: donation %s %s", v.Version, dn.WorkspaceID, dn.ID, state)); err != nil {
				return store.Donation{}, err
			}
		}
	}
	evs, err := s.st.Evaluations(ctx, dn.WorkspaceID)
	if err != nil {
		return store.Donation{}, err
	}
	for _, e := range evs {
		if marked(e.Marks, dn.ID) {
			if err := s.record(ctx, ended, "cloud", "labelling", ActionMark, fmt.Sprintf("evaluation %s of workspace %s marked: donation %s %s", e.ID, dn.WorkspaceID, dn.ID, state)); err != nil {
				return store.Donation{}, err
			}
		}
	}
	s.log.Info("donation ended", "household", dn.HouseholdID, "donation", dn.ID, "state", state)
	return ended, nil
}

func marked(ms []store.Mark, id string) bool {
	for _, m := range ms {
		if m.DonationID == id {
			return true
		}
	}
	return false
}

// deleteBlobs erases the keys where the blob store can (blob.Eraser: no
// byte left in its files), else deletes them.
func (s *Service) deleteBlobs(ctx context.Context, keys ...string) error {
	del := s.blobs.Delete
	if e, ok := s.blobs.(blob.Eraser); ok {
		del = e.Erase
	}
	for _, k := range keys {
		if err := del(ctx, k); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return fmt.Errorf("labelling: deleting %s: %w", k, err)
		}
	}
	return nil
}

// record appends a step to the donor household's history.
func (s *Service) record(ctx context.Context, dn store.Donation, kind, actor, action, object string) error {
	a := store.Access{Time: s.now().UTC(), HouseholdID: dn.HouseholdID, Actor: actor, ActorKind: kind, Action: action,
		Object: object, Reason: "labelling workspace " + dn.WorkspaceID}
	if err := s.access.Record(ctx, a); err != nil {
		return fmt.Errorf("recording access: %w", err)
	}
	return nil
}

// The workspace's side.

// donation returns the workspace's donation id, not ended; ErrNotFound for
// any other.
func (s *Service) donation(ctx context.Context, ws, id string) (store.Donation, error) {
	if !consent.ValidID(id) {
		return store.Donation{}, ErrNotFound
	}
	dn, err := s.st.Donation(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (dn.WorkspaceID != ws || store.DonationEnded(dn.State))) {
		return store.Donation{}, ErrNotFound
	}
	return dn, err
}

// Assignments lists what the caller may see: for an annotator device, the
// donations assigned to it and nothing else; for an admin device, every
// donation of the workspace not ended.
func (s *Service) Assignments(ctx context.Context, c Caller) ([]store.Donation, error) {
	_, d, err := s.caller(ctx, c)
	if err != nil {
		return nil, err
	}
	f := store.DonationFilter{WorkspaceID: c.Workspace, Assignee: c.Device}
	if d.Role == keydir.RoleAdmin {
		f.Assignee = ""
	}
	all, err := s.st.Donations(ctx, f)
	if err != nil {
		return nil, err
	}
	out := []store.Donation{}
	for _, dn := range all {
		if !store.DonationEnded(dn.State) {
			out = append(out, dn)
		}
	}
	return out, nil
}

// DonorKey returns the public key of the donation's donor device in its
// household's current chain, for a workspace device to check the consent
// with; nil when the device is no longer in the chain.
func (s *Service) DonorKey(ctx context.Context, dn store.Donation) []byte {
	st, err := s.hh(ctx, dn.HouseholdID)
	if err != nil {
		return nil
	}
	d, ok := st.Devices[dn.Device]
	if !ok {
		return nil
	}
	return d.SignPub
}

// Assign gives a donation to an annotator device of the workspace; only an
// admin device may.
func (s *Service) Assign(ctx context.Context, c Caller, id, annotator string) (store.Donation, error) {
	st, err := s.admin(ctx, c)
	if err != nil {
		return store.Donation{}, err
	}
	if d, ok := st.Devices[annotator]; !ok || d.Role == keydir.RoleHub {
		return store.Donation{}, refuse(ErrInvalid, "annotator %q is not a device of the workspace's chain", annotator)
	}
	dn, err := s.donation(ctx, c.Workspace, id)
	if err != nil {
		return store.Donation{}, err
	}
	prev := dn
	dn, err = s.st.AssignDonation(ctx, dn.ID, annotator, s.now().UTC())
	if errors.Is(err, store.ErrConflict) {
		return store.Donation{}, refuse(ErrConflict, "donation %s is %s: it cannot be assigned", id, prev.State)
	}
	if err != nil {
		return store.Donation{}, err
	}
	return dn, s.record(ctx, dn, ActorWorkspace, c.Device, ActionAssign, fmt.Sprintf("donation %s assigned to device %s", dn.ID, annotator))
}

// Clip is a donation's sealed clip, open for reading.
type Clip struct {
	Donation store.Donation
	Body     blob.Object // the caller closes it
}

// OpenClip lets the caller read a donation's sealed clip: its annotator
// device, or an admin device of the workspace (a reviewer's opening puts
// an annotated donation in review). Each opening is in the donor's
// history; anyone else gets ErrNotFound.
func (s *Service) OpenClip(ctx context.Context, c Caller, id string) (Clip, error) {
	dn, err := s.readable(ctx, c, id)
	if err != nil {
		return Clip{}, err
	}
	if c.Device != dn.Assignee && dn.State == store.DonationAnnotated {
		if err := s.st.SetDonationState(ctx, dn.ID, store.DonationAnnotated, store.DonationInReview); err == nil {
			dn.State = store.DonationInReview
		}
	}
	if err := s.record(ctx, dn, ActorWorkspace, c.Device, ActionClipRead, "donation "+dn.ID+": sealed clip opened"); err != nil {
		return Clip{}, err
	}
	b, err := s.blobs.Open(ctx, dn.ObjectKey)
	if errors.Is(err, blob.ErrNotFound) {
		return Clip{}, ErrNotFound
	}
	if err != nil {
		return Clip{}, err
	}
	return Clip{Donation: dn, Body: b}, nil
}

// readable returns the donation if the caller may read it: its assignee,
// or an admin device.
func (s *Service) readable(ctx context.Context, c Caller, id string) (store.Donation, error) {
	_, d, err := s.caller(ctx, c)
	if err != nil {
		return store.Donation{}, err
	}
	dn, err := s.donation(ctx, c.Workspace, id)
	if err != nil {
		return store.Donation{}, err
	}
	if d.Role != keydir.RoleAdmin && (dn.Assignee != c.Device || dn.State == store.DonationAccepted) {
		return store.Donation{}, ErrNotFound
	}
	return dn, nil
}

// PutAnnotation stores the next version of a donation's sealed annotation,
// by its annotator device only.
func (s *Service) PutAnnotation(ctx context.Context, c Caller, id string, version int, sealed []byte) (store.Annotation, error) {
	dn, err := s.readable(ctx, c, id)
	if err != nil {
		return store.Annotation{}, err
	}
	if dn.Assignee != c.Device {
		return store.Annotation{}, refuse(ErrForbidden, "only the device the donation is assigned to annotates it")
	}
	switch {
	case len(sealed) == 0:
		return store.Annotation{}, refuse(ErrInvalid, "the sealed annotation is empty")
	case len(sealed) > MaxAnnotation:
		return store.Annotation{}, refuse(ErrTooLarge, "the sealed annotation is over %d bytes", MaxAnnotation)
	case version != dn.Annotation+1:
		return store.Annotation{}, refuse(ErrConflict, "version %d: the next version is %d", version, dn.Annotation+1)
	}
	key := annotationKey(c.Workspace, dn.ID, version)
	info, _, err := s.blobs.Put(ctx, key, strings.NewReader(string(sealed)), int64(len(sealed)))
	if err != nil {
		if errors.Is(err, blob.ErrConflict) {
			return store.Annotation{}, refuse(ErrConflict, "version %d exists", version)
		}
		return store.Annotation{}, err
	}
	a := store.Annotation{DonationID: dn.ID, Version: version, Device: c.Device, Key: key, Size: info.Size, Created: s.now().UTC()}
	if err := s.st.PutAnnotation(ctx, a); err != nil {
		s.deleteBlobs(ctx, key)
		if errors.Is(err, store.ErrConflict) {
			return store.Annotation{}, refuse(ErrConflict, "the donation changed meanwhile (fetch the assignments again)")
		}
		return store.Annotation{}, err
	}
	return a, s.record(ctx, dn, ActorWorkspace, c.Device, ActionAnnotate, fmt.Sprintf("donation %s: annotation version %d", dn.ID, version))
}

// Annotation is a sealed annotation, open for reading.
type Annotation struct {
	Meta store.Annotation
	Body blob.Object // the caller closes it
}

// OpenAnnotation lets the caller read the latest annotation of a donation
// (as OpenClip decides who may).
func (s *Service) OpenAnnotation(ctx context.Context, c Caller, id string) (Annotation, error) {
	dn, err := s.readable(ctx, c, id)
	if err != nil {
		return Annotation{}, err
	}
	as, err := s.st.Annotations(ctx, dn.ID)
	if err != nil {
		return Annotation{}, err
	}
	if len(as) == 0 {
		return Annotation{}, ErrNotFound
	}
	a := as[len(as)-1]
	if err := s.record(ctx, dn, ActorWorkspace, c.Device, ActionAnnotationRead, fmt.Sprintf("donation %s: annotation version %d opened", dn.ID, a.Version)); err != nil {
		return Annotation{}, err
	}
	b, err := s.blobs.Open(ctx, a.Key)
	if errors.Is(err, blob.ErrNotFound) {
		return Annotation{}, ErrNotFound
	}
	if err != nil {
		return Annotation{}, err
	}
	return Annotation{Meta: a, Body: b}, nil
}

// Review accepts or rejects a donation's annotation version: an admin
// device of the workspace that did not make it.
func (s *Service) Review(ctx context.Context, c Caller, id string, version int, accept bool) (store.Donation, error) {
	if _, err := s.admin(ctx, c); err != nil {
		return store.Donation{}, err
	}
	dn, err := s.donation(ctx, c.Workspace, id)
	if err != nil {
		return store.Donation{}, err
	}
	as, err := s.st.Annotations(ctx, dn.ID)
	if err != nil {
		return store.Donation{}, err
	}
	if len(as) == 0 || as[len(as)-1].Version != version {
		return store.Donation{}, refuse(ErrConflict, "version %d is not the donation's latest annotation", version)
	}
	if as[len(as)-1].Device == c.Device {
		return store.Donation{}, refuse(ErrForbidden, "a device does not review its own annotation")
	}
	dn, err = s.st.ReviewDonation(ctx, dn.ID, version, c.Device, accept)
	if errors.Is(err, store.ErrConflict) {
		return store.Donation{}, refuse(ErrConflict, "the donation is not waiting for review")
	}
	if err != nil {
		return store.Donation{}, err
	}
	verdict := "rejected"
	if accept {
		verdict = "accepted"
	}
	return dn, s.record(ctx, dn, ActorWorkspace, c.Device, ActionReview, fmt.Sprintf("donation %s: annotation version %d %s", dn.ID, version, verdict))
}

// CreateDataset makes the workspace's next dataset version, of every
// accepted donation; each donor household's history records the
// inclusion.
func (s *Service) CreateDataset(ctx context.Context, c Caller) (store.DatasetVersion, error) {
	if _, err := s.admin(ctx, c); err != nil {
		return store.DatasetVersion{}, err
	}
	v, err := s.st.CreateDatasetVersion(ctx, c.Workspace, c.Device, s.now().UTC())
	if err != nil {
		return store.DatasetVersion{}, err
	}
	for _, it := range v.Items {
		dn, err := s.st.Donation(ctx, it.DonationID)
		if err != nil {
			return store.DatasetVersion{}, err
		}
		if err := s.record(ctx, dn, ActorWorkspace, c.Device, ActionDataset, fmt.Sprintf("donation %s included in dataset version %d", dn.ID, v.Version)); err != nil {
			return store.DatasetVersion{}, err
		}
	}
	return v, nil
}

// Datasets lists the workspace's dataset versions, to any of its devices.
func (s *Service) Datasets(ctx context.Context, c Caller) ([]store.DatasetVersion, error) {
	if _, _, err := s.caller(ctx, c); err != nil {
		return nil, err
	}
	return s.st.DatasetVersions(ctx, c.Workspace)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._ -]{1,64}$`)

// Evaluate stores a named, sealed score record of a dataset version; only
// an admin device may. Each household with a donation in the version has
// it in its history.
func (s *Service) Evaluate(ctx context.Context, c Caller, name string, dataset int, sealed []byte) (store.Evaluation, error) {
	if _, err := s.admin(ctx, c); err != nil {
		return store.Evaluation{}, err
	}
	switch {
	case !nameRE.MatchString(name):
		return store.Evaluation{}, refuse(ErrInvalid, "name: 1 to 64 of A-Z a-z 0-9 . _ - and space")
	case len(sealed) == 0 || len(sealed) > MaxEvaluation:
		return store.Evaluation{}, refuse(ErrInvalid, "the sealed evaluation: 1 to %d bytes", MaxEvaluation)
	}
	v, err := s.st.DatasetVersion(ctx, c.Workspace, dataset)
	if errors.Is(err, store.ErrNotFound) {
		return store.Evaluation{}, refuse(ErrNotFound, "dataset version %d does not exist", dataset)
	}
	if err != nil {
		return store.Evaluation{}, err
	}
	b := make([]byte, 16)
	rand.Read(b)
	e := store.Evaluation{WorkspaceID: c.Workspace, ID: strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)),
		Name: name, Dataset: dataset, Device: c.Device, Sealed: sealed, Created: s.now().UTC()}
	if err := s.st.PutEvaluation(ctx, e); err != nil {
		return store.Evaluation{}, err
	}
	for _, it := range v.Items {
		dn, err := s.st.Donation(ctx, it.DonationID)
		if err != nil || store.DonationEnded(dn.State) {
			continue
		}
		if err := s.record(ctx, dn, ActorWorkspace, c.Device, ActionEvaluate, fmt.Sprintf("evaluation %s (%s) of dataset version %d, which holds donation %s", e.ID, name, dataset, dn.ID)); err != nil {
			return store.Evaluation{}, err
		}
	}
	return e, nil
}

// Evaluations lists the workspace's evaluations with their marks.
func (s *Service) Evaluations(ctx context.Context, c Caller) ([]store.Evaluation, error) {
	if _, _, err := s.caller(ctx, c); err != nil {
		return nil, err
	}
	return s.st.Evaluations(ctx, c.Workspace)
}
