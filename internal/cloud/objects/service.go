package objects

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"vigil/internal/blob"
	"vigil/internal/cloud/store"
	"vigil/internal/envelope"
	"vigil/internal/eventrec"
	"vigil/internal/history"
)

// Store is the index the objects domain needs. The cloud's SQLite and
// PostgreSQL stores satisfy it.
type Store interface {
	// PutObject indexes o: created=false for the same key and SHA-256
	// again, store.ErrConflict for another SHA-256.
	PutObject(ctx context.Context, o store.Object) (created bool, err error)
	Object(ctx context.Context, householdID, key string) (store.Object, error) // store.ErrNotFound
	Objects(ctx context.Context, f store.ObjectFilter) ([]store.Object, error)
	Cameras(ctx context.Context, householdID string) ([]string, error)
}

// Hub is a device that is a hub of its household now: the household's ID
// and the hub's signing key, as its household's verified chain holds them.
type Hub struct {
	Household string
	SignPub   ed25519.PublicKey
}

// HubFunc returns the device's household and key when the device is a hub
// in its household's verified chain now, and an error wrapping
// store.ErrNotFound when it is not (or is unknown). It is called once per
// upload, so it should be cheap (the cloud's caches hub keys per verified
// chain state).
type HubFunc func(ctx context.Context, device string) (Hub, error)

// StreamPattern is what a stream (camera) name may be: the pattern the
// upload checks a sealed header's stream against.
const StreamPattern = `^[A-Za-z0-9._-]{1,64}$`

// Config configures a Service.
type Config struct {
	Store Store
	Blobs blob.Store
	// Hub says whether a device is a hub of its household now.
	Hub HubFunc
	// Nudge is called with the household and key of each newly indexed
	// object (retention's Nudge); nil calls nothing. It must not block.
	Nudge func(household, key string)
	// Event is called once with each newly indexed event object and its
	// sealed bytes, which are valid only during the call (a copy must be
	// taken to keep them); nil calls nothing. It must not block.
	Event func(o store.Object, sealed []byte)
	Now   func() time.Time
}

// Service is the sealed objects domain. It is safe for concurrent use and
// holds no state but its configuration, so services sharing a Store and a
// blob store (replicas) behave as one.
type Service struct {
	st     Store
	blobs  blob.Store
	hub    HubFunc
	nudge  func(household, key string)
	event  func(o store.Object, sealed []byte)
	now    func() time.Time
	stream *regexp.Regexp
}

// New returns a Service.
func New(c Config) (*Service, error) {
	if c.Store == nil || c.Blobs == nil || c.Hub == nil {
		return nil, errors.New("objects: a store, a blob store and a HubFunc are required")
	}
	if c.Nudge == nil {
		c.Nudge = func(string, string) {}
	}
	if c.Event == nil {
		c.Event = func(store.Object, []byte) {}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Service{st: c.Store, blobs: c.Blobs, hub: c.Hub, nudge: c.Nudge, event: c.Event, now: c.Now,
		stream: regexp.MustCompile(StreamPattern)}, nil
}

// Key is where an object lives in the blob store and the index; it is also
// its ID in the API.
func Key(household, device, stream string, seq uint64) string {
	return fmt.Sprintf("%s/%s/%s/%016x", household, device, stream, seq)
}

// Upload accepts a sealed object from device, whose request signature the
// caller checked over sealed, d being sealed's sums from that one pass
// (envelope.Digest). It returns the object as indexed, and created when
// the blob store or the index did not hold it yet. Upload does not keep
// sealed past its return.
func (s *Service) Upload(ctx context.Context, device string, sealed []byte, d envelope.Digests) (store.Object, bool, error) {
	hub, err := s.hub(ctx, device)
	if errors.Is(err, store.ErrNotFound) {
		return store.Object{}, false, errorf(Forbidden, "device %s is not a hub of any household", device)
	}
	if err != nil {
		return store.Object{}, false, err
	}
	hdr, foot, err := envelope.VerifyPublicDigests(sealed, envelope.TrustedKeys{hub.SignPub}, d)
	if err != nil {
		return store.Object{}, false, errorf(Refused, "sealed object refused: %v", err)
	}
	if err := admitKind(hdr); err != nil {
		return store.Object{}, false, err
	}
	if !s.stream.MatchString(hdr.Stream) {
		return store.Object{}, false, errorf(Refused, "stream name %q: 1 to 64 of A-Z a-z 0-9 . _ -", hdr.Stream)
	}
	key := Key(hub.Household, device, hdr.Stream, hdr.Sequence)
	info, created, err := s.blobs.Put(ctx, key, blob.Hashed{R: bytes.NewReader(sealed), SHA256: d.Whole}, int64(len(sealed)))
	if errors.Is(err, blob.ErrConflict) {
		return store.Object{}, false, errorf(Conflict, "a different object is stored as %s %s #%d", device, hdr.Stream, hdr.Sequence)
	}
	if err != nil {
		return store.Object{}, false, err
	}
	o := store.Object{HouseholdID: hub.Household, Key: key, Device: device, Camera: hdr.Stream, Kind: hdr.Kind.String(),
		Seq: hdr.Sequence, Start: hdr.Start.UTC(), End: foot.End.UTC(), Size: info.Size, SHA256: info.SHA256, Created: s.now().UTC()}
	indexed, err := s.st.PutObject(ctx, o)
	if errors.Is(err, store.ErrConflict) {
		return store.Object{}, false, errorf(Conflict, "a different object is indexed as %s %s #%d", device, hdr.Stream, hdr.Sequence)
	}
	if err != nil {
		return store.Object{}, false, err
	}
	if indexed {
		s.nudge(hub.Household, key)
		if hdr.Kind == envelope.KindEvent {
			s.event(o, sealed)
		}
	}
	return o, created || indexed, nil
}

// admitKind says which sealed objects the cloud stores: segments on a
// camera's stream, event records only on eventrec.StreamEvents, snapshots
// only on eventrec.StreamSnapshots (so that the public header names no
// camera), hub state records only on history.StateStream, and nothing else.
func admitKind(h envelope.Header) error {
	switch h.Kind {
	case envelope.KindSegment:
		if IsEventStream(h.Stream) {
			return errorf(Refused, "stream %q is reserved for %s objects; a camera needs another name", h.Stream, strings.TrimSuffix(h.Stream, "s"))
		}
	case envelope.KindState:
		if h.Stream != history.StateStream {
			return errorf(Refused, "a hub state record's stream must be %q, not %q", history.StateStream, h.Stream)
		}
	case envelope.KindEvent:
		if h.Stream != eventrec.StreamEvents {
			return errorf(Refused, "an event object's stream must be %q (the camera goes inside the sealed record), not %q", eventrec.StreamEvents, h.Stream)
		}
	case envelope.KindSnapshot:
		if h.Stream != eventrec.StreamSnapshots {
			return errorf(Refused, "a snapshot object's stream must be %q (the camera goes inside the sealed record), not %q", eventrec.StreamSnapshots, h.Stream)
		}
	default:
		return errorf(Refused, "object kind %v is not accepted yet", h.Kind)
	}
	return nil
}

// IsEventStream reports the streams that are not cameras: event records,
// snapshots and hub state records.
func IsEventStream(stream string) bool {
	return stream == eventrec.StreamEvents || stream == eventrec.StreamSnapshots || stream == history.StateStream
}

// Cameras lists the household's cameras: the streams of its objects that
// are not event streams, sorted, never nil.
func (s *Service) Cameras(ctx context.Context, household string) ([]string, error) {
	cams, err := s.st.Cameras(ctx, household)
	if err != nil {
		return nil, err
	}
	cams = slices.DeleteFunc(cams, IsEventStream)
	if cams == nil {
		cams = []string{}
	}
	return cams, nil
}

// Query selects objects of a household.
type Query struct {
	// Camera is the stream to list; empty lists every camera's segments
	// (events, snapshots and state records have their own listings).
	Camera string
	// From and To bound the objects' time; zero is unbounded.
	From, To time.Time
	// Limit is the most objects returned; 0 is no limit.
	Limit int
}

// List returns the household's objects q selects, ordered by camera,
// start and key.
func (s *Service) List(ctx context.Context, household string, q Query) ([]store.Object, error) {
	if q.Limit < 0 {
		return nil, errorf(Invalid, "limit: a number >= 0")
	}
	f := store.ObjectFilter{HouseholdID: household, Camera: q.Camera, From: q.From, To: q.To, Limit: q.Limit}
	if f.Camera == "" {
		f.Kind = envelope.KindSegment.String()
	}
	return s.st.Objects(ctx, f)
}

// Open returns the household's object under key, as indexed, and its
// sealed bytes for reading at any offset; the caller closes it. A key that
// is not the household's is NotFound, like one that does not exist.
func (s *Service) Open(ctx context.Context, household, key string) (store.Object, blob.Object, error) {
	if !blob.ValidKey(key) {
		return store.Object{}, nil, notFound()
	}
	o, err := s.st.Object(ctx, household, key)
	if errors.Is(err, store.ErrNotFound) {
		return store.Object{}, nil, notFound()
	}
	if err != nil {
		return store.Object{}, nil, err
	}
	obj, err := s.blobs.Open(ctx, o.Key)
	if errors.Is(err, blob.ErrNotFound) {
		return store.Object{}, nil, notFound()
	}
	if err != nil {
		return store.Object{}, nil, err
	}
	return o, obj, nil
}
