package cloud

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"vigil/internal/cloud/objects"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
	"vigil/internal/devauth"
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

// The sealed objects routes: uploads from hubs, and members' listings and
// reads. Their logic is the objects domain's (internal/cloud/objects); the
// handlers here take the authenticated body, parse queries, call it, map
// its refusals (objectsError) and write the answer.

// newObjects returns the objects domain over the Server's store and blobs:
// a device is a hub when the cached, chain-checked key lookup says so
// (hubkeys.go); a new object nudges retention, and a new event object goes
// to the events fan-out (events.go).
func newObjects(s *Server) (*objects.Service, error) {
	return objects.New(objects.Config{Store: s.st, Blobs: s.blobs, Now: s.now,
		Hub: func(ctx context.Context, device string) (objects.Hub, error) {
			h, dk, err := s.cachedHub(ctx, device)
			if err != nil {
				return objects.Hub{}, err
			}
			return objects.Hub{Household: h.ID, SignPub: dk.SignPub}, nil
		},
		Nudge: s.retention.Nudge,
		Event: s.eventUploaded,
	})
}

// objectsError maps an objects domain refusal to its answer, and returns
// any other error as it is.
func objectsError(err error) error {
	var oe *objects.Error
	if !errors.As(err, &oe) {
		return err
	}
	switch oe.Kind {
	case objects.NotFound:
		return errNotFound
	case objects.Invalid:
		return errorf(http.StatusBadRequest, "%s", oe.Msg)
	case objects.Forbidden:
		return errorf(http.StatusForbidden, "%s", oe.Msg)
	case objects.Conflict:
		return errorf(http.StatusConflict, "%s", oe.Msg)
	case objects.Refused:
		return errorf(http.StatusUnprocessableEntity, "%s", oe.Msg)
	}
	return err
}

// upload stores a sealed object from a hub. The cloud verifies what it can
// without keys — the hub's signature over every byte — and indexes the
// object by its signed header; it never sees inside. Retention runs apart
// (internal/cloud/retention); a new object only nudges it.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, c *call) error {
	defer s.releaseBody(c.body) // uploads.go: nothing keeps it past here
	// The bytes were hashed once, when the request's signature was checked
	// (routes.go): the producer's signature and the blob store use those sums.
	o, created, err := s.objects.Upload(r.Context(), c.device, c.body, c.digests)
	if err != nil {
		return objectsError(err)
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, cloudapi.UploadResult{Key: o.Key, Created: created})
	return nil
}

func (s *Server) listCameras(w http.ResponseWriter, r *http.Request, c *call) error {
	cams, err := s.objects.Cameras(r.Context(), c.household.ID)
	if err != nil {
		return err
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
	q := objects.Query{Camera: r.URL.Query().Get("camera")}
	var err error
	if q.From, err = parseTimeParam(r, "from"); err != nil {
		return err
	}
	if q.To, err = parseTimeParam(r, "to"); err != nil {
		return err
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		if q.Limit, err = strconv.Atoi(v); err != nil {
			return errorf(http.StatusBadRequest, "limit: a number >= 0")
		}
	}
	objs, err := s.objects.List(r.Context(), c.household.ID, q)
	if err != nil {
		return objectsError(err)
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
	o, obj, err := s.objects.Open(r.Context(), c.household.ID, r.PathValue("key"))
	if err != nil {
		return objectsError(err)
	}
	defer obj.Close()
	w.Header().Set("Content-Type", "application/vnd.vigil.sealed")
	w.Header().Set("ETag", `"`+hex.EncodeToString(o.SHA256[:])+`"`)
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	http.ServeContent(w, r, "", o.Created, obj)
	return nil
}
