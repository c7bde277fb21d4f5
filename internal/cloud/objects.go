package cloud

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"vigil/internal/blob"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
	"vigil/internal/devauth"
	"vigil/internal/envelope"
)

// deviceKey is the devauth lookup: only hubs in their household's verified
// chain can sign requests (hubkeys.go caches them).
func (s *Server) deviceKey(ctx context.Context, id string) (ed25519.PublicKey, error) {
	if len(id) > 128 {
		return nil, devauth.ErrUnknownDevice
	}
	_, dk, err := s.cachedHub(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("device %s: %w", id, devauth.ErrUnknownDevice)
	}
	if err != nil {
		return nil, err
	}
	return dk.SignPub, nil
}

var streamRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// objectKey is where an object lives in the blob store; it is also its ID in
// the API.
func objectKey(household, device, camera string, seq uint64) string {
	return fmt.Sprintf("%s/%s/%s/%016x", household, device, camera, seq)
}

// upload stores a sealed object from a hub. The cloud verifies what it can
// without keys — the hub's signature over every byte — and indexes the
// object by its signed header; it never sees inside. Retention runs apart
// (internal/cloud/retention); a new object only nudges it.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, c *call) error {
	defer s.releaseBody(c.body) // uploads.go: nothing keeps it past here
	h, dk, err := s.cachedHub(r.Context(), c.device)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusForbidden, "device %s is not a hub of any household", c.device)
	}
	if err != nil {
		return err
	}
	hdr, foot, sum, err := envelope.VerifyPublicSum(c.body, envelope.TrustedKeys{dk.SignPub})
	if err != nil {
		return errorf(http.StatusUnprocessableEntity, "sealed object refused: %v", err)
	}
	if err := admitKind(hdr); err != nil { // events.go
		return err
	}
	if !streamRE.MatchString(hdr.Stream) {
		return errorf(http.StatusUnprocessableEntity, "stream name %q: 1 to 64 of A-Z a-z 0-9 . _ -", hdr.Stream)
	}
	key := objectKey(h.ID, c.device, hdr.Stream, hdr.Sequence)
	// The bytes were hashed while verifying: the blob store takes that sum.
	info, created, err := s.blobs.Put(r.Context(), key, blob.Hashed{R: bytes.NewReader(c.body), SHA256: sum}, int64(len(c.body)))
	if errors.Is(err, blob.ErrConflict) {
		return errorf(http.StatusConflict, "a different object is stored as %s %s #%d", c.device, hdr.Stream, hdr.Sequence)
	}
	if err != nil {
		return err
	}
	o := store.Object{HouseholdID: h.ID, Key: key, Device: c.device, Camera: hdr.Stream, Kind: hdr.Kind.String(),
		Seq: hdr.Sequence, Start: hdr.Start.UTC(), End: foot.End.UTC(), Size: info.Size, SHA256: info.SHA256, Created: s.now().UTC()}
	idxCreated, err := s.st.PutObject(r.Context(), o)
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, "a different object is indexed as %s %s #%d", c.device, hdr.Stream, hdr.Sequence)
	}
	if err != nil {
		return err
	}
	created = created || idxCreated
	if idxCreated {
		s.retention.Nudge(h.ID, key)
		if hdr.Kind == envelope.KindEvent {
			s.eventUploaded(o, c.body) // events.go: never blocks
		}
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, cloudapi.UploadResult{Key: key, Created: created})
	return nil
}

func (s *Server) listCameras(w http.ResponseWriter, r *http.Request, c *call) error {
	cams, err := s.st.Cameras(r.Context(), c.household.ID)
	if err != nil {
		return err
	}
	cams = slices.DeleteFunc(cams, isEventStream) // events.go: not cameras
	if cams == nil {
		cams = []string{}
	}
	writeJSON(w, http.StatusOK, cloudapi.Cameras{Cameras: cams})
	return nil
}

func parseTimeParam(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, errorf(http.StatusBadRequest, "%s: an RFC 3339 time like 2026-11-28T21:00:00Z", name)
	}
	return t, nil
}

func (s *Server) listObjects(w http.ResponseWriter, r *http.Request, c *call) error {
	f := store.ObjectFilter{HouseholdID: c.household.ID, Camera: r.URL.Query().Get("camera")}
	if f.Camera == "" {
		f.Kind = envelope.KindSegment.String() // events and snapshots have their own listing
	}
	var err error
	if f.From, err = parseTimeParam(r, "from"); err != nil {
		return err
	}
	if f.To, err = parseTimeParam(r, "to"); err != nil {
		return err
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 0 {
			return errorf(http.StatusBadRequest, "limit: a number >= 0")
		}
	}
	objs, err := s.st.Objects(r.Context(), f)
	if err != nil {
		return err
	}
	out := cloudapi.Objects{Objects: make([]cloudapi.Object, 0, len(objs))}
	for _, o := range objs {
		out.Objects = append(out.Objects, cloudapi.Object{Key: o.Key, Device: o.Device, Camera: o.Camera, Kind: o.Kind, Seq: o.Seq,
			Start: o.Start.UTC(), End: o.End.UTC(), Size: o.Size, SHA256: hex.EncodeToString(o.SHA256[:])})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// readObject serves a sealed object, with HTTP Range support.
func (s *Server) readObject(w http.ResponseWriter, r *http.Request, c *call) error {
	key := r.PathValue("key")
	if !blob.ValidKey(key) {
		return errNotFound
	}
	o, err := s.st.Object(r.Context(), c.household.ID, key)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
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
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	http.ServeContent(w, r, "", o.Created, obj)
	return nil
}
