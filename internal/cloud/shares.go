package cloud

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"vigil/internal/cloud/shares"
	"vigil/internal/cloud/store"
)

// Sharing (the HTTP side; the rules are internal/cloud/shares). A member
// shares a time range [from, to) of one camera with a guest account or as a
// link. The member's browser builds the share's manifest (docs/FORMAT.md,
// Share manifest): the file key of every object in the range wrapped again
// to the guest's device key, or to a key derived from a secret that lives
// only in the link's fragment, signed by the member's device. The cloud
// stores the manifest without being able to read a key in it, and decides
// only who may fetch it and which sealed objects: those of the share's
// camera overlapping its range, until it expires or is revoked. Every guest
// read is recorded in the household's access record with actor kind "guest"
// (an account) or "link".
//
// A link's bearer token is derived from the fragment secret in the browser
// and sent in the Vigil-Share-Token header (base64url); the cloud keeps its
// SHA-256 only. A wrong token, another account, and a share that does not
// exist all answer 404 alike; an expired or revoked share answers 410 to
// whoever holds a valid credential for it.
//
// A redacted share (docs/FORMAT.md, manifest version 2) is of one blurred
// clip the sharer's browser sealed: created with "redacted": true, then its
// creator PUTs the sealed clip to /v1/households/{hh}/shares/{id}/clip. The
// clip is the share's own object: never among the household's objects, and
// erased when the share is revoked or expires (SweepShareClips).

// shareTokenHeader carries a link share's bearer token.
const shareTokenHeader = "Vigil-Share-Token"

// newShares returns the sharing service on the Server's store, blobs and
// access record.
func newShares(s *Server) (*shares.Service, error) {
	return shares.New(shares.Config{Store: s.st, Blobs: s.blobs, Access: s.access,
		NormalizeEmail: NormalizeEmail, Logger: s.log, Now: s.now})
}

// shareErr maps the sharing service's refusals to answers; other errors
// pass as they are.
func shareErr(err error) error {
	var e *shares.Error
	switch {
	case errors.As(err, &e):
		status := http.StatusBadRequest
		switch e.Kind {
		case shares.ErrTooLarge:
			status = http.StatusRequestEntityTooLarge
		case shares.ErrNotFound:
			status = http.StatusNotFound
		case shares.ErrExists:
			status = http.StatusConflict
		case shares.ErrGone:
			status = http.StatusGone
		case shares.ErrForbidden:
			status = http.StatusForbidden
		}
		return errorf(status, "%s", e.Msg)
	case errors.Is(err, shares.ErrNotFound):
		return errNotFound
	}
	return err
}

func (s *Server) shareRoutes() []route {
	return []route{
		{method: "POST", pattern: "/v1/households/{hh}/shares", auth: authMember, action: "share.create", h: s.createShare},
		{method: "GET", pattern: "/v1/households/{hh}/shares", auth: authMember, action: "shares.list", h: s.listShares},
		{method: "DELETE", pattern: "/v1/households/{hh}/shares/{id}", auth: authMember, action: "share.revoke", h: s.revokeShare},
		{method: "PUT", pattern: "/v1/households/{hh}/shares/{id}/clip", auth: authMember, action: "share.clip", h: s.putShareClip},
		{method: "GET", pattern: "/v1/shares", auth: authAccount, h: s.sharesWithMe},
		{method: "GET", pattern: "/v1/shares/{id}", auth: authNone, h: s.getShare},
		{method: "GET", pattern: "/v1/shares/{id}/objects/{key...}", auth: authNone, h: s.readSharedObject},
	}
}

// ShareJSON is a share as the API shows it.
type ShareJSON struct {
	ID         string     `json:"id"`
	Household  string     `json:"household"`
	Camera     string     `json:"camera"`
	From       time.Time  `json:"from"`
	To         time.Time  `json:"to"`
	Expires    time.Time  `json:"expires"`
	Revoked    *time.Time `json:"revoked,omitempty"`
	Kind       string     `json:"kind"`
	Redacted   bool       `json:"redacted,omitempty"` // of one blurred clip (manifest version 2)
	State      string     `json:"state"`              // "active", "expired" or "revoked"
	Created    time.Time  `json:"created"`
	Creator    string     `json:"creator,omitempty"`     // the sharer's e-mail (members and account guests)
	GuestEmail string     `json:"guest_email,omitempty"` // account shares, for members
	Manifest   []byte     `json:"manifest,omitempty"`    // GET /v1/shares/{id} only
}

// shareJSON shows sh; emails adds the creator's and the guest's e-mail
// addresses.
func shareJSON(ctx context.Context, svc *shares.Service, sh store.Share, emails bool) ShareJSON {
	j := ShareJSON{ID: sh.ID, Household: sh.HouseholdID, Camera: sh.Camera, From: sh.From.UTC(), To: sh.To.UTC(),
		Expires: sh.Expires.UTC(), Kind: sh.Kind, Redacted: sh.Redacted, State: svc.State(sh), Created: sh.Created.UTC()}
	if !sh.Revoked.IsZero() {
		t := sh.Revoked.UTC()
		j.Revoked = &t
	}
	if emails {
		j.Creator, j.GuestEmail = svc.Emails(ctx, sh)
	}
	return j
}

type createShareReq struct {
	ID         string    `json:"id"`
	Camera     string    `json:"camera"`
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Expires    time.Time `json:"expires"`
	Kind       string    `json:"kind"`
	GuestEmail string    `json:"guest_email"` // account shares
	TokenHash  []byte    `json:"token_hash"`  // link shares: SHA-256 of the bearer token
	Manifest   []byte    `json:"manifest"`
	Redacted   bool      `json:"redacted"` // of one blurred clip, PUT next
}

func (s *Server) createShare(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := readBody(w, r, shares.MaxManifest*4/3+64<<10)
	if err != nil {
		return err
	}
	var req createShareReq
	if err := decodeJSONBytes(body, &req); err != nil {
		return err
	}
	sh, err := s.shares.Create(r.Context(), c.household.ID, c.account.ID, shares.Draft{ID: req.ID, Camera: req.Camera,
		From: req.From, To: req.To, Expires: req.Expires, Kind: req.Kind, GuestEmail: req.GuestEmail,
		TokenHash: req.TokenHash, Manifest: req.Manifest, Redacted: req.Redacted})
	if err != nil {
		return shareErr(err)
	}
	writeJSON(w, http.StatusCreated, shareJSON(r.Context(), s.shares, sh, true))
	return nil
}

func (s *Server) listShares(w http.ResponseWriter, r *http.Request, c *call) error {
	shs, err := s.shares.List(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	out := make([]ShareJSON, 0, len(shs))
	for _, sh := range shs {
		out = append(out, shareJSON(r.Context(), s.shares, sh, true))
	}
	writeJSON(w, http.StatusOK, map[string]any{"shares": out})
	return nil
}

func (s *Server) revokeShare(w http.ResponseWriter, r *http.Request, c *call) error {
	sh, err := s.shares.Revoke(r.Context(), c.household.ID, r.PathValue("id"))
	if err != nil {
		return shareErr(err)
	}
	writeJSON(w, http.StatusOK, shareJSON(r.Context(), s.shares, sh, true))
	return nil
}

// putShareClip stores a redacted share's sealed clip, sent by the member
// who made the share, with its Content-Length.
func (s *Server) putShareClip(w http.ResponseWriter, r *http.Request, c *call) error {
	if r.ContentLength > shares.MaxClip {
		return errorf(http.StatusRequestEntityTooLarge, "the sealed clip is over %d bytes (share a shorter time)", shares.MaxClip)
	}
	if r.ContentLength < 0 {
		return errorf(http.StatusLengthRequired, "send the sealed clip with its Content-Length")
	}
	body := &clientBody{r: http.MaxBytesReader(w, r.Body, shares.MaxClip), want: r.ContentLength}
	sh, err := s.shares.PutClip(r.Context(), c.household.ID, c.account.ID, r.PathValue("id"), body, r.ContentLength)
	if err != nil {
		if body.failed() && shareErr(err) == err {
			// The client's fault, not the store's.
			return errorf(http.StatusBadRequest, "reading the sealed clip: the body ended or failed before its Content-Length of %d bytes", r.ContentLength)
		}
		return shareErr(err)
	}
	writeJSON(w, http.StatusCreated, shareJSON(r.Context(), s.shares, sh, true))
	return nil
}

// ShareSweepInterval is how often the clips of revoked and expired
// redacted shares are erased (revoking erases at once; this catches expiry
// and a failed erase).
const ShareSweepInterval = 5 * time.Minute

// SweepShareClips erases the clips of revoked and expired redacted shares
// once: the cluster's scheduler runs it on one replica when
// Options.ClusterShareSweep is set. Close waits for a sweep in flight and
// cancels it.
func (s *Server) SweepShareClips(ctx context.Context) error {
	if !s.work.add() {
		return errClosed
	}
	defer s.work.wg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.work.ctx, cancel)()
	_, err := s.shares.SweepClips(ctx)
	return err
}

// sharesWithMe lists the account shares whose guest is the caller.
func (s *Server) sharesWithMe(w http.ResponseWriter, r *http.Request, c *call) error {
	shs, err := s.shares.With(r.Context(), c.account.ID)
	if err != nil {
		return err
	}
	out := make([]ShareJSON, 0, len(shs))
	for _, sh := range shs {
		j := shareJSON(r.Context(), s.shares, sh, true)
		j.GuestEmail = ""
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"shares": out})
	return nil
}

// shareGuest is the credential of a guest's request: the link token in
// Vigil-Share-Token, or else the session of the account the share is for
// (signed in first: 401 without one).
func (s *Server) shareGuest(r *http.Request) (shares.Guest, error) {
	if tok := r.Header.Get(shareTokenHeader); tok != "" {
		return shares.Guest{Token: tok}, nil
	}
	var c call
	if err := s.authenticate(r, &c); err != nil {
		return shares.Guest{}, errorf(http.StatusUnauthorized, "this share is for a signed-in guest (open a share link with its #k=… part, or sign in as the account it was shared with)")
	}
	return shares.Guest{Account: c.account.ID}, nil
}

// getShare answers the share's range and manifest to its guest.
func (s *Server) getShare(w http.ResponseWriter, r *http.Request, _ *call) error {
	g, err := s.shareGuest(r)
	if err != nil {
		return err
	}
	sh, err := s.shares.Open(r.Context(), r.PathValue("id"), g, r.Method+" "+r.URL.Path)
	if err != nil {
		return shareErr(err)
	}
	j := shareJSON(r.Context(), s.shares, sh, sh.Kind == store.ShareAccount)
	j.GuestEmail = ""
	j.Manifest = sh.Manifest
	writeJSON(w, http.StatusOK, j)
	return nil
}

// readSharedObject serves a sealed object of the share: one of its camera
// overlapping its range. Anything else is not found, whatever its key.
func (s *Server) readSharedObject(w http.ResponseWriter, r *http.Request, _ *call) error {
	g, err := s.shareGuest(r)
	if err != nil {
		return err
	}
	o, err := s.shares.ReadObject(r.Context(), r.PathValue("id"), g, r.PathValue("key"), r.Method+" "+r.URL.Path)
	if err != nil {
		return shareErr(err)
	}
	defer o.Body.Close()
	w.Header().Set("Content-Type", "application/vnd.vigil.sealed")
	w.Header().Set("ETag", `"`+hex.EncodeToString(o.Meta.SHA256[:])+`"`)
	// Not cached: a revoked share must stop serving.
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", o.Meta.Created, o.Body)
	return nil
}
