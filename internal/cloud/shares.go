package cloud

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"time"

	"vigil/internal/blob"
	"vigil/internal/cloud/store"
)

// Sharing. A member shares a time range [from, to) of one camera with a
// guest account or as a link. The member's browser builds the share's
// manifest (docs/FORMAT.md, Share manifest): the file key of every object in
// the range wrapped again to the guest's device key, or to a key derived
// from a secret that lives only in the link's fragment, signed by the
// member's device. The cloud stores the manifest without being able to read
// a key in it, and decides only who may fetch it and which sealed objects:
// those of the share's camera overlapping its range, until it expires or is
// revoked. Every guest read is recorded in the household's access record
// with actor kind "guest" (an account) or "link".
//
// A link's bearer token is derived from the fragment secret in the browser
// and sent in the Vigil-Share-Token header (base64url); the cloud keeps its
// SHA-256 only. A wrong token, another account, and a share that does not
// exist all answer 404 alike; an expired or revoked share answers 410 to
// whoever holds a valid credential for it.

// shareTokenHeader carries a link share's bearer token.
const shareTokenHeader = "Vigil-Share-Token"

const (
	// maxShareManifest bounds a manifest (a day of 4-second segments is
	// about 5 MiB).
	maxShareManifest = 16 << 20
	// maxShareLife bounds how far ahead a share may expire.
	maxShareLife = 366 * 24 * time.Hour
)

// shareIDRE: 128 random bits as 26 lower-case base32 letters, chosen by the
// sharer's browser (the manifest signs it).
var shareIDRE = regexp.MustCompile(`^[a-z2-7]{26}$`)

func (s *Server) shareRoutes() []route {
	return []route{
		{method: "POST", pattern: "/v1/households/{hh}/shares", auth: authMember, action: "share.create", h: s.createShare},
		{method: "GET", pattern: "/v1/households/{hh}/shares", auth: authMember, action: "shares.list", h: s.listShares},
		{method: "DELETE", pattern: "/v1/households/{hh}/shares/{id}", auth: authMember, action: "share.revoke", h: s.revokeShare},
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
	State      string     `json:"state"` // "active", "expired" or "revoked"
	Created    time.Time  `json:"created"`
	Creator    string     `json:"creator,omitempty"`     // the sharer's e-mail (members and account guests)
	GuestEmail string     `json:"guest_email,omitempty"` // account shares, for members
	Manifest   []byte     `json:"manifest,omitempty"`    // GET /v1/shares/{id} only
}

func (s *Server) shareState(sh store.Share) string {
	switch {
	case !sh.Revoked.IsZero():
		return "revoked"
	case !s.now().Before(sh.Expires):
		return "expired"
	}
	return "active"
}

func (s *Server) shareJSON(r *http.Request, sh store.Share, emails bool) ShareJSON {
	j := ShareJSON{ID: sh.ID, Household: sh.HouseholdID, Camera: sh.Camera, From: sh.From.UTC(), To: sh.To.UTC(),
		Expires: sh.Expires.UTC(), Kind: sh.Kind, State: s.shareState(sh), Created: sh.Created.UTC()}
	if !sh.Revoked.IsZero() {
		t := sh.Revoked.UTC()
		j.Revoked = &t
	}
	if emails {
		if a, err := s.st.Account(r.Context(), sh.Creator); err == nil {
			j.Creator = a.Email
		}
		if sh.Guest != "" {
			if a, err := s.st.Account(r.Context(), sh.Guest); err == nil {
				j.GuestEmail = a.Email
			}
		}
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
}

func (s *Server) createShare(w http.ResponseWriter, r *http.Request, c *call) error {
	body, err := readBody(w, r, maxShareManifest*4/3+64<<10)
	if err != nil {
		return err
	}
	var req createShareReq
	if err := decodeJSONBytes(body, &req); err != nil {
		return err
	}
	now := s.now().UTC()
	switch {
	case !shareIDRE.MatchString(req.ID):
		return errorf(http.StatusBadRequest, "id: 26 letters of lower-case base32 (128 random bits)")
	case !streamRE.MatchString(req.Camera):
		return errorf(http.StatusBadRequest, "camera: 1 to 64 of A-Z a-z 0-9 . _ -")
	case req.From.IsZero() || req.To.IsZero() || !req.From.Before(req.To):
		return errorf(http.StatusBadRequest, "from and to: a range of RFC 3339 times with from before to")
	case !req.Expires.After(now):
		return errorf(http.StatusBadRequest, "expires: a time in the future")
	case req.Expires.Sub(now) > maxShareLife:
		return errorf(http.StatusBadRequest, "expires: at most %d days ahead", maxShareLife/(24*time.Hour))
	case len(req.Manifest) == 0:
		return errorf(http.StatusBadRequest, "manifest: the signed share manifest is required")
	case len(req.Manifest) > maxShareManifest:
		return errorf(http.StatusRequestEntityTooLarge, "manifest: over %d bytes (share a shorter range)", maxShareManifest)
	}
	sh := store.Share{ID: req.ID, HouseholdID: c.household.ID, Creator: c.account.ID, Camera: req.Camera,
		From: req.From.UTC(), To: req.To.UTC(), Expires: req.Expires.UTC(), Kind: req.Kind, Manifest: req.Manifest, Created: now}
	switch req.Kind {
	case store.ShareLink:
		if len(req.TokenHash) != 32 || req.GuestEmail != "" {
			return errorf(http.StatusBadRequest, "a link share needs token_hash (32 bytes, the SHA-256 of the link's token) and no guest_email")
		}
		copy(sh.TokenHash[:], req.TokenHash)
	case store.ShareAccount:
		if len(req.TokenHash) != 0 {
			return errorf(http.StatusBadRequest, "an account share has no token_hash")
		}
		email, err := NormalizeEmail(req.GuestEmail)
		if err != nil {
			return err
		}
		a, err := s.st.AccountByEmail(r.Context(), email)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, "no account has this e-mail address (hint: the guest signs up first)")
		}
		if err != nil {
			return err
		}
		sh.Guest = a.ID
	default:
		return errorf(http.StatusBadRequest, `kind: "link" or "account"`)
	}
	cams, err := s.st.Cameras(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	if !slices.Contains(cams, req.Camera) {
		return errorf(http.StatusNotFound, "camera %q has no recordings in this household", req.Camera)
	}
	err = s.st.CreateShare(r.Context(), sh)
	if errors.Is(err, store.ErrExists) {
		return errorf(http.StatusConflict, "a share with this id exists (make a new random id)")
	}
	if err != nil {
		return err
	}
	s.log.Info("share created", "household", sh.HouseholdID, "share", sh.ID, "kind", sh.Kind, "camera", sh.Camera)
	writeJSON(w, http.StatusCreated, s.shareJSON(r, sh, true))
	return nil
}

func (s *Server) listShares(w http.ResponseWriter, r *http.Request, c *call) error {
	shs, err := s.st.Shares(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	out := make([]ShareJSON, 0, len(shs))
	for _, sh := range shs {
		out = append(out, s.shareJSON(r, sh, true))
	}
	writeJSON(w, http.StatusOK, map[string]any{"shares": out})
	return nil
}

func (s *Server) revokeShare(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	if !shareIDRE.MatchString(id) {
		return errNotFound
	}
	err := s.st.RevokeShare(r.Context(), c.household.ID, id, s.now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	sh, err := s.st.Share(r.Context(), id)
	if err != nil {
		return err
	}
	s.log.Info("share revoked", "household", sh.HouseholdID, "share", sh.ID)
	writeJSON(w, http.StatusOK, s.shareJSON(r, sh, true))
	return nil
}

// sharesWithMe lists the account shares whose guest is the caller.
func (s *Server) sharesWithMe(w http.ResponseWriter, r *http.Request, c *call) error {
	shs, err := s.st.SharesWith(r.Context(), c.account.ID)
	if err != nil {
		return err
	}
	out := make([]ShareJSON, 0, len(shs))
	for _, sh := range shs {
		j := s.shareJSON(r, sh, true)
		j.GuestEmail = ""
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"shares": out})
	return nil
}

// guest authorises a read of share {id}: by the link token in
// Vigil-Share-Token, or by the session of the account it was shared with.
// It refuses an expired or revoked share with 410, and records the read.
func (s *Server) guest(r *http.Request, action, object string) (store.Share, error) {
	id := r.PathValue("id")
	tok := r.Header.Get(shareTokenHeader)
	var c call
	if tok == "" {
		// An account share: the guest signs in first.
		if err := s.authenticate(r, &c); err != nil {
			return store.Share{}, errorf(http.StatusUnauthorized, "this share is for a signed-in guest (open a share link with its #k=… part, or sign in as the account it was shared with)")
		}
	}
	if !shareIDRE.MatchString(id) {
		return store.Share{}, errNotFound
	}
	sh, err := s.st.Share(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Share{}, errNotFound
	}
	if err != nil {
		return store.Share{}, err
	}
	actor, kind := "", ""
	if tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		h := sha256.Sum256(raw)
		if err != nil || len(raw) != 32 || sh.Kind != store.ShareLink || subtle.ConstantTimeCompare(h[:], sh.TokenHash[:]) != 1 {
			return store.Share{}, errNotFound
		}
		actor, kind = "share:"+sh.ID, "link"
	} else {
		if sh.Kind != store.ShareAccount || sh.Guest != c.account.ID {
			return store.Share{}, errNotFound
		}
		actor, kind = c.account.ID, "guest"
	}
	switch s.shareState(sh) {
	case "revoked":
		return store.Share{}, errorf(http.StatusGone, "this share was revoked by the household on %s", sh.Revoked.UTC().Format(time.RFC1123))
	case "expired":
		return store.Share{}, errorf(http.StatusGone, "this share expired on %s", sh.Expires.UTC().Format(time.RFC1123))
	}
	a := store.Access{Time: s.now().UTC(), HouseholdID: sh.HouseholdID, Actor: actor, ActorKind: kind, Action: action,
		Object: object, Reason: fmt.Sprintf("share %s: %s %s", sh.ID, r.Method, r.URL.Path)}
	if err := s.access.Record(r.Context(), a); err != nil {
		return store.Share{}, fmt.Errorf("recording access: %w", err)
	}
	return sh, nil
}

// getShare answers the share's range and manifest to its guest.
func (s *Server) getShare(w http.ResponseWriter, r *http.Request, _ *call) error {
	sh, err := s.guest(r, "share.read", "share:"+r.PathValue("id"))
	if err != nil {
		return err
	}
	j := s.shareJSON(r, sh, sh.Kind == store.ShareAccount)
	j.GuestEmail = ""
	j.Manifest = sh.Manifest
	writeJSON(w, http.StatusOK, j)
	return nil
}

// readSharedObject serves a sealed object of the share: one of its camera
// overlapping its range. Anything else is not found, whatever its key.
func (s *Server) readSharedObject(w http.ResponseWriter, r *http.Request, _ *call) error {
	key := r.PathValue("key")
	sh, err := s.guest(r, "share.object.read", key)
	if err != nil {
		return err
	}
	if !blob.ValidKey(key) {
		return errNotFound
	}
	o, err := s.st.Object(r.Context(), sh.HouseholdID, key)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	if o.Camera != sh.Camera || !o.Start.Before(sh.To) || !o.End.After(sh.From) {
		return errNotFound
	}
	obj, err := s.blobs.Open(r.Context(), o.Key)
	if errors.Is(err, blob.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	defer obj.Close()
	w.Header().Set("Content-Type", "application/vnd.vigil.sealed")
	w.Header().Set("ETag", `"`+hex.EncodeToString(o.SHA256[:])+`"`)
	// Not cached: a revoked share must stop serving.
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", o.Created, obj)
	return nil
}
