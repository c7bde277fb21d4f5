// Package shares owns sharing: a member shares a time range [From, To) of
// one camera of a household with a guest account or as a link. It owns the
// rules of a share's life (what a new share must be, who may list and
// revoke it, when it expires or is revoked), which guest may open it, which
// sealed objects that guest may read (those of the share's camera
// overlapping its range, and no other), and the household's record of every
// guest read (through a Recorder). Its storage is Store, the subset of the
// cloud's metadata store it needs; every implementation passes
// sharestest.Run, its conformance suite.
//
// The share's manifest (docs/FORMAT.md, Share manifest) is built and signed
// by the sharer's browser: it holds the file key of every object in the
// range wrapped again to the guest's device key, or to a key derived from a
// secret that lives only in the link's fragment. The cloud stores it and
// hands it to the guest as opaque bytes.
//
// A redacted share is of one clip instead: the household's footage with
// faces and heads blurred by its hub, sealed and signed by the sharer's
// device and stored by its creator under the share's own key (ClipKey).
// It is the share's: never indexed with the household's objects (so never
// on its timeline, in its listings or counted by its retention), served
// only to the share's guest, and erased when the share is revoked or
// expires (SweepClips). A redacted share serves no other object.
//
// It must never: import net/http or the cloud's HTTP layer (the caller maps
// routes to Service and its errors to statuses); open a manifest, unwrap a
// key or unseal an object (it holds no key to do so; of sealed bytes it
// reads at most a clip's public header); serve an object outside a share's camera and
// range, or any object of an expired or revoked share; serve a redacted
// share anything but its own clip, or that clip to anyone but its guest;
// index a share's clip as a household object; tell a guest with
// the wrong credential apart from a share that does not exist (both are
// ErrNotFound); keep a link's token (only its SHA-256).
package shares

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"time"

	"vigil/internal/blob"
	"vigil/internal/cloud/objects"
	"vigil/internal/cloud/store"
	"vigil/internal/envelope"
)

const (
	// MaxManifest bounds a manifest (a day of 4-second segments is about
	// 5 MiB).
	MaxManifest = 16 << 20
	// MaxLife bounds how far ahead a share may expire.
	MaxLife = 366 * 24 * time.Hour
	// MaxClip bounds a redacted share's sealed clip (a hub blurs at most
	// 64 MiB at once; its output, sealed, is about as large).
	MaxClip = 96 << 20
	// SweepBatch is how many due clips one pass of SweepClips reads at once.
	SweepBatch = 100
)

// ClipKey is the blob key of redacted share id's clip (docs/FORMAT.md: the
// manifest's one object).
func ClipKey(id string) string { return "shares/" + id + "/clip" }

// Actions of the household's access records of guest reads.
const (
	ActionRead       = "share.read"        // the share's range and manifest
	ActionReadObject = "share.object.read" // a sealed object of the share
)

// idRE: 128 random bits as 26 lower-case base32 letters, chosen by the
// sharer's browser (the manifest signs it).
var idRE = regexp.MustCompile(`^[a-z2-7]{26}$`)

// cameraRE is the shape of a camera (stream) name, as uploads take it.
var cameraRE = regexp.MustCompile(objects.StreamPattern)

// Errors. A refusal the caller earned is an *Error whose Kind is one of
// these (test with errors.Is) and whose message says what to fix. A bare
// ErrNotFound is the one answer for a share or object that does not exist
// or is not the caller's: the caller answers it with the same bytes for
// every cause.
var (
	ErrInvalid  = errors.New("invalid share request")
	ErrTooLarge = errors.New("share manifest too large")
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("share exists")
	ErrGone     = errors.New("share expired or revoked")
	// ErrForbidden: a member other than the share's creator sends its clip.
	ErrForbidden = errors.New("not the share's creator")
)

// Error is a refusal with a message for the caller.
type Error struct {
	Kind error // ErrInvalid, ErrTooLarge, ErrNotFound, ErrExists, ErrGone or ErrForbidden
	Msg  string
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Kind }

func refuse(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Store is what shares keep and read of the cloud's metadata.
// store.SQLite and store.Postgres satisfy it. The contract of its share
// methods is store.ShareStore's, checked on both by the store's conformance
// suite (sharestest), beside the SQL it constrains.
type Store interface {
	store.ShareStore
	// Cameras lists the cameras with recordings in the household (a share
	// is only of one of them).
	Cameras(ctx context.Context, householdID string) ([]string, error)
	// Object is the sealed object's index entry (its camera and times
	// decide whether a share covers it).
	Object(ctx context.Context, householdID, key string) (store.Object, error)
	// Account and AccountByEmail find sharers and guests.
	Account(ctx context.Context, id string) (store.Account, error)
	AccountByEmail(ctx context.Context, email string) (store.Account, error)
}

// Recorder records a guest's read in the household's history.
type Recorder interface {
	Record(ctx context.Context, a store.Access) error
}

// Config configures a Service. Store, Blobs, Access and NormalizeEmail are
// required.
type Config struct {
	Store Store
	// Blobs holds the sealed objects a guest reads.
	Blobs  blob.Store
	Access Recorder
	// NormalizeEmail is the accounts' rule for an e-mail address (an
	// account share names its guest by one); its error is returned as it
	// is.
	NormalizeEmail func(string) (string, error)
	Logger         *slog.Logger     // nil discards
	Now            func() time.Time // nil is time.Now
}

// Service carries out sharing. It is safe for concurrent use and starts no
// goroutines.
type Service struct {
	st     Store
	blobs  blob.Store
	access Recorder
	email  func(string) (string, error)
	log    *slog.Logger
	now    func() time.Time
}

// New returns a Service.
func New(c Config) (*Service, error) {
	if c.Store == nil || c.Blobs == nil || c.Access == nil || c.NormalizeEmail == nil {
		return nil, errors.New("shares: Store, Blobs, Access and NormalizeEmail are required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Service{st: c.Store, blobs: c.Blobs, access: c.Access, email: c.NormalizeEmail, log: c.Logger, now: c.Now}, nil
}

// States of a share.
const (
	Active  = "active"
	Expired = "expired"
	Revoked = "revoked"
)

// State is the share's state now: Active, Expired or Revoked.
func (s *Service) State(sh store.Share) string {
	switch {
	case !sh.Revoked.IsZero():
		return Revoked
	case !s.now().Before(sh.Expires):
		return Expired
	}
	return Active
}

// Emails returns the e-mail addresses of the share's creator and guest
// account, "" for one that is not found (an account deleted since).
func (s *Service) Emails(ctx context.Context, sh store.Share) (creator, guest string) {
	if a, err := s.st.Account(ctx, sh.Creator); err == nil {
		creator = a.Email
	}
	if sh.Guest != "" {
		if a, err := s.st.Account(ctx, sh.Guest); err == nil {
			guest = a.Email
		}
	}
	return creator, guest
}

// Draft is a new share as the sharer's browser asks for it.
type Draft struct {
	ID       string
	Camera   string
	From, To time.Time
	Expires  time.Time
	Kind     string // store.ShareLink or store.ShareAccount
	// GuestEmail names the guest of an account share.
	GuestEmail string
	// TokenHash is the SHA-256 of a link share's bearer token.
	TokenHash []byte
	Manifest  []byte
	// Redacted: the share is of one blurred clip its creator stores next
	// (PutClip), and of nothing else.
	Redacted bool
}

// Create stores a new share of household by its member creator (account
// ID) and returns it.
func (s *Service) Create(ctx context.Context, household, creator string, d Draft) (store.Share, error) {
	now := s.now().UTC()
	switch {
	case !idRE.MatchString(d.ID):
		return store.Share{}, refuse(ErrInvalid, "id: 26 letters of lower-case base32 (128 random bits)")
	case !cameraRE.MatchString(d.Camera):
		return store.Share{}, refuse(ErrInvalid, "camera: 1 to 64 of A-Z a-z 0-9 . _ -")
	case d.From.IsZero() || d.To.IsZero() || !d.From.Before(d.To):
		return store.Share{}, refuse(ErrInvalid, "from and to: a range of RFC 3339 times with from before to")
	case !d.Expires.After(now):
		return store.Share{}, refuse(ErrInvalid, "expires: a time in the future")
	case d.Expires.Sub(now) > MaxLife:
		return store.Share{}, refuse(ErrInvalid, "expires: at most %d days ahead", MaxLife/(24*time.Hour))
	case len(d.Manifest) == 0:
		return store.Share{}, refuse(ErrInvalid, "manifest: the signed share manifest is required")
	case len(d.Manifest) > MaxManifest:
		return store.Share{}, refuse(ErrTooLarge, "manifest: over %d bytes (share a shorter range)", MaxManifest)
	}
	sh := store.Share{ID: d.ID, HouseholdID: household, Creator: creator, Camera: d.Camera,
		From: d.From.UTC(), To: d.To.UTC(), Expires: d.Expires.UTC(), Kind: d.Kind, Manifest: d.Manifest, Created: now, Redacted: d.Redacted}
	switch d.Kind {
	case store.ShareLink:
		if len(d.TokenHash) != 32 || d.GuestEmail != "" {
			return store.Share{}, refuse(ErrInvalid, "a link share needs token_hash (32 bytes, the SHA-256 of the link's token) and no guest_email")
		}
		copy(sh.TokenHash[:], d.TokenHash)
	case store.ShareAccount:
		if len(d.TokenHash) != 0 {
			return store.Share{}, refuse(ErrInvalid, "an account share has no token_hash")
		}
		email, err := s.email(d.GuestEmail)
		if err != nil {
			return store.Share{}, err
		}
		a, err := s.st.AccountByEmail(ctx, email)
		if errors.Is(err, store.ErrNotFound) {
			return store.Share{}, refuse(ErrNotFound, "no account has this e-mail address (hint: the guest signs up first)")
		}
		if err != nil {
			return store.Share{}, err
		}
		sh.Guest = a.ID
	default:
		return store.Share{}, refuse(ErrInvalid, `kind: "link" or "account"`)
	}
	cams, err := s.st.Cameras(ctx, household)
	if err != nil {
		return store.Share{}, err
	}
	if !slices.Contains(cams, d.Camera) {
		return store.Share{}, refuse(ErrNotFound, "camera %q has no recordings in this household", d.Camera)
	}
	err = s.st.CreateShare(ctx, sh)
	if errors.Is(err, store.ErrExists) {
		return store.Share{}, refuse(ErrExists, "a share with this id exists (make a new random id)")
	}
	if err != nil {
		return store.Share{}, err
	}
	s.log.Info("share created", "household", sh.HouseholdID, "share", sh.ID, "kind", sh.Kind, "camera", sh.Camera, "redacted", sh.Redacted)
	return sh, nil
}

// List returns the household's shares, newest first, without manifests
// (expired and revoked ones too: members see what was shared).
func (s *Service) List(ctx context.Context, household string) ([]store.Share, error) {
	return s.st.Shares(ctx, household)
}

// With returns the account shares whose guest is account, newest first,
// without manifests.
func (s *Service) With(ctx context.Context, account string) ([]store.Share, error) {
	return s.st.SharesWith(ctx, account)
}

// Revoke revokes the household's share id (again: it keeps its first
// revocation) and returns it; ErrNotFound when the household has no such
// share.
func (s *Service) Revoke(ctx context.Context, household, id string) (store.Share, error) {
	if !idRE.MatchString(id) {
		return store.Share{}, ErrNotFound
	}
	err := s.st.RevokeShare(ctx, household, id, s.now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return store.Share{}, ErrNotFound
	}
	if err != nil {
		return store.Share{}, err
	}
	sh, err := s.st.Share(ctx, id)
	if err != nil {
		return store.Share{}, err
	}
	s.log.Info("share revoked", "household", sh.HouseholdID, "share", sh.ID)
	if sh.Redacted {
		// The clip goes with the share; what fails here, SweepClips retries.
		if err := s.eraseClip(ctx, sh.ID); err != nil {
			s.log.Warn("erasing a revoked share's clip", "share", sh.ID, "err", err)
		} else {
			sh.Clip = time.Time{}
		}
	}
	return sh, nil
}

// PutClip stores the sealed clip of redacted share id of household, sent by
// account: only the share's creator may, once (the same bytes again are
// accepted), while the share is active. The bytes must be a sealed clip
// (envelope.KindClip) of the share's camera by their header; the cloud
// cannot check more (the guest verifies the signature against the sharer
// device its manifest names).
func (s *Service) PutClip(ctx context.Context, household, account, id string, body io.Reader, size int64) (store.Share, error) {
	if !idRE.MatchString(id) {
		return store.Share{}, ErrNotFound
	}
	sh, err := s.st.Share(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sh.HouseholdID != household) {
		return store.Share{}, ErrNotFound
	}
	if err != nil {
		return store.Share{}, err
	}
	switch {
	case sh.Creator != account:
		return store.Share{}, refuse(ErrForbidden, "only the member who made this share can store its clip")
	case !sh.Redacted:
		return store.Share{}, refuse(ErrInvalid, "this share is not redacted: it has no clip of its own")
	case s.State(sh) != Active:
		return store.Share{}, refuse(ErrGone, "this share is %s", s.State(sh))
	case size <= 0:
		return store.Share{}, refuse(ErrInvalid, "the sealed clip is empty (send it with its Content-Length)")
	case size > MaxClip:
		return store.Share{}, refuse(ErrTooLarge, "the sealed clip is over %d bytes (share a shorter time)", MaxClip)
	}
	var head bytes.Buffer
	h, err := envelope.Inspect(io.TeeReader(io.LimitReader(body, size), &head))
	if err != nil {
		return store.Share{}, refuse(ErrInvalid, "the clip is not a sealed object: %v", err)
	}
	if h.Kind != envelope.KindClip || h.Stream != sh.Camera {
		return store.Share{}, refuse(ErrInvalid, "the sealed object is a %v of %q, not a clip of camera %s", h.Kind, h.Stream, sh.Camera)
	}
	key := ClipKey(id)
	_, created, err := s.blobs.Put(ctx, key, io.MultiReader(&head, body), size)
	if errors.Is(err, blob.ErrConflict) {
		return store.Share{}, refuse(ErrExists, "this share's clip is stored already")
	}
	if err != nil {
		return store.Share{}, err
	}
	if err := s.st.SetShareClip(ctx, id, s.now().UTC()); err != nil {
		if created {
			s.deleteBlob(ctx, key)
		}
		return store.Share{}, err
	}
	// Revoked meanwhile: the clip goes now (or with the next sweep).
	if sh, err = s.st.Share(ctx, id); err == nil && s.State(sh) != Active {
		if err := s.eraseClip(ctx, id); err != nil {
			s.log.Warn("erasing a revoked share's clip", "share", id, "err", err)
		}
		return store.Share{}, refuse(ErrGone, "this share is %s", s.State(sh))
	}
	if err != nil {
		return store.Share{}, err
	}
	s.log.Info("share clip stored", "household", sh.HouseholdID, "share", sh.ID, "bytes", size)
	return sh, nil
}

// SweepClips erases the clip of every revoked or expired redacted share
// and returns how many. The cloud's scheduler runs it.
func (s *Service) SweepClips(ctx context.Context) (int, error) {
	n := 0
	for {
		due, err := s.st.DueShareClips(ctx, s.now(), SweepBatch)
		if err != nil {
			return n, err
		}
		for _, sh := range due {
			if err := s.eraseClip(ctx, sh.ID); err != nil {
				return n, err
			}
			n++
		}
		if len(due) < SweepBatch {
			return n, nil
		}
	}
}

// eraseClip erases share id's clip and records that it is gone.
func (s *Service) eraseClip(ctx context.Context, id string) error {
	if err := s.deleteBlob(ctx, ClipKey(id)); err != nil {
		return err
	}
	if err := s.st.SetShareClip(ctx, id, time.Time{}); err != nil {
		return err
	}
	s.log.Info("share clip erased", "share", id)
	return nil
}

// deleteBlob erases key where the blob store can (blob.Eraser: no byte
// left in its files), else deletes it.
func (s *Service) deleteBlob(ctx context.Context, key string) error {
	del := s.blobs.Delete
	if e, ok := s.blobs.(blob.Eraser); ok {
		del = e.Erase
	}
	if err := del(ctx, key); err != nil && !errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("shares: deleting %s: %w", key, err)
	}
	return nil
}

// Guest is the credential a guest presents for a share: a link's bearer
// token, or else the signed-in account an account share is for.
type Guest struct {
	// Token is a link share's bearer token, base64url without padding, as
	// the browser derives it from the link's fragment secret.
	Token string
	// Account is the guest's account ID when Token is "" (the caller has
	// authenticated it).
	Account string
}

// Open lets guest open share id: its range and manifest. via says how the
// guest asked (the route), for the record of the read.
func (s *Service) Open(ctx context.Context, id string, g Guest, via string) (store.Share, error) {
	return s.open(ctx, id, g, ActionRead, "share:"+id, via)
}

// Object is a sealed object of a share, open for reading.
type Object struct {
	Meta store.Object
	Body blob.Object // the sealed bytes; the caller closes it
}

// ReadObject lets guest read the sealed object key of share id: one of the
// share's camera overlapping its range. Any other key is ErrNotFound,
// whatever it holds.
func (s *Service) ReadObject(ctx context.Context, id string, g Guest, key, via string) (Object, error) {
	sh, err := s.open(ctx, id, g, ActionReadObject, key, via)
	if err != nil {
		return Object{}, err
	}
	if !blob.ValidKey(key) {
		return Object{}, ErrNotFound
	}
	if sh.Redacted {
		return s.readClip(ctx, sh, key)
	}
	o, err := s.st.Object(ctx, sh.HouseholdID, key)
	if errors.Is(err, store.ErrNotFound) {
		return Object{}, ErrNotFound
	}
	if err != nil {
		return Object{}, err
	}
	if !Covers(sh, o) {
		return Object{}, ErrNotFound
	}
	b, err := s.blobs.Open(ctx, o.Key)
	if errors.Is(err, blob.ErrNotFound) {
		return Object{}, ErrNotFound
	}
	if err != nil {
		return Object{}, err
	}
	return Object{Meta: o, Body: b}, nil
}

// readClip serves a redacted share's clip, its only object.
func (s *Service) readClip(ctx context.Context, sh store.Share, key string) (Object, error) {
	if key != ClipKey(sh.ID) || sh.Clip.IsZero() {
		return Object{}, ErrNotFound
	}
	b, err := s.blobs.Open(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return Object{}, ErrNotFound
	}
	if err != nil {
		return Object{}, err
	}
	info, err := s.blobs.Stat(ctx, key)
	if err != nil {
		b.Close()
		return Object{}, err
	}
	return Object{Meta: store.Object{Key: key, HouseholdID: sh.HouseholdID, Camera: sh.Camera, Kind: "clip", Size: info.Size,
		SHA256: info.SHA256, Created: sh.Clip}, Body: b}, nil
}

// Covers reports whether the share covers the object: of its camera, and
// overlapping its range [From, To).
func Covers(sh store.Share, o store.Object) bool {
	return o.Camera == sh.Camera && o.Start.Before(sh.To) && o.End.After(sh.From)
}

// open authorises guest g to read share id: by the link token, or as the
// account it was shared with. It refuses an expired or revoked share with
// ErrGone, and records the read (action on object).
func (s *Service) open(ctx context.Context, id string, g Guest, action, object, via string) (store.Share, error) {
	if !idRE.MatchString(id) {
		return store.Share{}, ErrNotFound
	}
	sh, err := s.st.Share(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Share{}, ErrNotFound
	}
	if err != nil {
		return store.Share{}, err
	}
	actor, kind := "", ""
	if g.Token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(g.Token)
		h := sha256.Sum256(raw)
		if err != nil || len(raw) != 32 || sh.Kind != store.ShareLink || subtle.ConstantTimeCompare(h[:], sh.TokenHash[:]) != 1 {
			return store.Share{}, ErrNotFound
		}
		actor, kind = "share:"+sh.ID, "link"
	} else {
		if g.Account == "" || sh.Kind != store.ShareAccount || sh.Guest != g.Account {
			return store.Share{}, ErrNotFound
		}
		actor, kind = g.Account, "guest"
	}
	switch s.State(sh) {
	case Revoked:
		return store.Share{}, refuse(ErrGone, "this share was revoked by the household on %s", sh.Revoked.UTC().Format(time.RFC1123))
	case Expired:
		return store.Share{}, refuse(ErrGone, "this share expired on %s", sh.Expires.UTC().Format(time.RFC1123))
	}
	a := store.Access{Time: s.now().UTC(), HouseholdID: sh.HouseholdID, Actor: actor, ActorKind: kind, Action: action,
		Object: object, Reason: fmt.Sprintf("share %s: %s", sh.ID, via)}
	if err := s.access.Record(ctx, a); err != nil {
		return store.Share{}, fmt.Errorf("recording access: %w", err)
	}
	return sh, nil
}
