// Package eventrec is the event record: what the hub tells its household
// about one detection event (camera, times, labels, zones, the best box and
// snapshot) or about its own health (a check that found a problem, and
// when the problem is resolved), sealed to the household like a segment so
// that the cloud stores and relays it without reading it (docs/FORMAT.md,
// "Event records v1").
//
// It owns the record's JSON, its strict validation, and the sealing
// conventions: an event is an [envelope.KindEvent] object on the fixed
// stream [StreamEvents], a snapshot an [envelope.KindSnapshot] object on
// [StreamSnapshots] holding one JPEG. The public envelope header therefore
// reveals neither the camera nor the labels; it must never be given a
// camera name. Sequence numbers are the caller's (the hub keeps one
// increasing counter per stream and persists it).
package eventrec

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"vigil/internal/envelope"
)

// Public stream names of sealed events and snapshots. They are constants
// so that the cloud learns nothing from them.
const (
	StreamEvents    = "events"
	StreamSnapshots = "snapshots"
)

// Limits of a record. A sealed record of MaxRecordBytes to a few recipients
// stays under the 3000 bytes the cloud forwards as a Web Push.
const (
	Version          = 1
	MaxRecordBytes   = 2048
	MaxLabels        = 16
	MaxZones         = 16
	MaxNameBytes     = 64  // a camera, label or zone name
	MaxKeyBytes      = 512 // the snapshot's object key
	MaxSnapshotBytes = 4 << 20
)

// States of an event record.
const (
	StateStart = "start" // the event began; End is zero
	StateEnd   = "end"   // the event ended; End is set
)

// Kinds of record. A detection event's record carries no kind on the wire.
const (
	KindEvent  = ""       // a detection event (or a doorbell's ring)
	KindHealth = "health" // a health alert: a check found a problem, or it ended
)

// States of a health record.
const (
	StateProblem  = "problem"  // the problem began at Start; End is zero
	StateResolved = "resolved" // the problem that began at Start ended at End
)

// Checks a health record names. Camera checks name their camera; the
// others are the hub's and name none.
const (
	CheckCameraFrames     = "camera.frames"     // no frames from the camera for a while
	CheckCameraReconnects = "camera.reconnects" // the camera keeps dropping its connection
	CheckCameraRate       = "camera.rate"       // frame rate far below the camera's own normal
	CheckStorageWrites    = "storage.writes"    // recording to disk fails
	CheckStorageSpace     = "storage.space"     // free space low, or shrinking towards it
	CheckStorageRetention = "storage.retention" // footage deleted younger than the configured age
	CheckUploadBacklog    = "upload.backlog"    // the upload backlog keeps growing
	CheckCloudContact     = "cloud.contact"     // no successful contact with the cloud for a while
)

// MaxMessageBytes bounds a health record's message.
const MaxMessageBytes = 256

// CameraChecks lists the camera checks (whose records name a camera).
func CameraChecks() []string {
	return []string{CheckCameraFrames, CheckCameraReconnects, CheckCameraRate}
}

// HubChecks lists the hub's own checks (whose records name no camera).
func HubChecks() []string {
	return []string{CheckStorageWrites, CheckStorageSpace, CheckStorageRetention, CheckUploadBacklog, CheckCloudContact}
}

// IsCameraCheck says whether check is one of the camera checks (whose
// records name a camera).
func IsCameraCheck(check string) bool { return slices.Contains(CameraChecks(), check) }

// IsCheck says whether check is one this format knows.
func IsCheck(check string) bool {
	return IsCameraCheck(check) || slices.Contains(HubChecks(), check)
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("eventrec: invalid record")

// Record is one event record: a detection event's (Kind KindEvent) or a
// health record (Kind KindHealth), which uses ID, Camera (empty for the
// hub's own checks), State (StateProblem or StateResolved), Start, End,
// Check, Message and Flaps, and leaves the detection fields zero.
type Record struct {
	Kind     string     // KindEvent or KindHealth
	ID       string     // 32 lower-case hex digits, the same for an event's start and end records
	Camera   string     // the camera's name in the hub's config
	State    string     // StateStart or StateEnd; for health, StateProblem or StateResolved
	Start    time.Time  // the event's start
	End      time.Time  // zero for StateStart and StateProblem
	Labels   []string   // detected labels, e.g. "person"
	Zones    []string   // zones the event entered
	Alert    bool       // whether the event is an alert (the household's rules matched)
	Score    float64    // best detection score, 0..1
	Box      [4]float64 // best box: x, y, w, h normalised to the frame (0..1)
	Snapshot string     // object key of the sealed snapshot, or ""

	Check   string // health: one of the Check constants
	Message string // health: what happened, in plain words, 1 to MaxMessageBytes printable bytes
	Flaps   int    // health, resolved: how many times the problem came and went without an alert of its own
}

// wire is the JSON form.
type wire struct {
	V        int       `json:"v"`
	ID       string    `json:"id"`
	Camera   string    `json:"camera"`
	State    string    `json:"state"`
	Start    string    `json:"start"`
	End      string    `json:"end,omitempty"`
	Labels   []string  `json:"labels"`
	Zones    []string  `json:"zones"`
	Alert    bool      `json:"alert"`
	Score    float64   `json:"score"`
	Box      []float64 `json:"box"`
	Snapshot string    `json:"snapshot"`
}

// healthWire is the JSON form of a health record.
type healthWire struct {
	V       int    `json:"v"`
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Check   string `json:"check"`
	Camera  string `json:"camera,omitempty"`
	State   string `json:"state"`
	Start   string `json:"start"`
	End     string `json:"end,omitempty"`
	Message string `json:"message"`
	Flaps   int    `json:"flaps"`
}

// MaxFlaps bounds a health record's flap count.
const MaxFlaps = 1 << 20

var (
	idRE       = regexp.MustCompile(`^[0-9a-f]{32}$`)
	keyRE      = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)
	dotSegment = regexp.MustCompile(`(^|/)\.\.?(/|$)`)
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func validName(what, s string) error {
	if s == "" || len(s) > MaxNameBytes || !utf8.ValidString(s) {
		return invalid("%s: 1 to %d bytes of UTF-8", what, MaxNameBytes)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return invalid("%s: non-printable character %U", what, r)
		}
	}
	return nil
}

func validNames(what string, names []string, most int) error {
	if len(names) > most {
		return invalid("%s: %d names, at most %d", what, len(names), most)
	}
	for i, n := range names {
		if err := validName(fmt.Sprintf("%s[%d]", what, i), n); err != nil {
			return err
		}
	}
	return nil
}

func validTimes(r Record, open, closed string) error {
	if r.Start.IsZero() || r.Start.Year() < 1678 || r.Start.Year() > 2261 {
		return invalid("start: a time between 1678 and 2261")
	}
	switch r.State {
	case open:
		if !r.End.IsZero() {
			return invalid("end: a %s record has no end", open)
		}
	case closed:
		if r.End.IsZero() || r.End.Before(r.Start) || r.End.Year() > 2261 {
			return invalid("end: a %s record needs an end at or after its start", closed)
		}
	default:
		return invalid("state: %q or %q", open, closed)
	}
	return nil
}

// validateHealth checks a health record.
func (r Record) validateHealth() error {
	if !idRE.MatchString(r.ID) {
		return invalid("id: 32 lower-case hex digits")
	}
	if !IsCheck(r.Check) {
		return invalid("check: not a check this format knows")
	}
	if IsCameraCheck(r.Check) {
		if err := validName("camera", r.Camera); err != nil {
			return err
		}
	} else if r.Camera != "" {
		return invalid("camera: the hub's check %s names no camera", r.Check)
	}
	if err := validTimes(r, StateProblem, StateResolved); err != nil {
		return err
	}
	if r.Message == "" || len(r.Message) > MaxMessageBytes || !utf8.ValidString(r.Message) {
		return invalid("message: 1 to %d bytes of UTF-8", MaxMessageBytes)
	}
	for _, c := range r.Message {
		if !unicode.IsPrint(c) {
			return invalid("message: non-printable character %U", c)
		}
	}
	if r.Flaps < 0 || r.Flaps > MaxFlaps || (r.Flaps != 0 && r.State != StateResolved) {
		return invalid("flaps: 0 to %d, and 0 in a problem record", MaxFlaps)
	}
	if len(r.Labels) != 0 || len(r.Zones) != 0 || r.Alert || r.Score != 0 || r.Box != [4]float64{} || r.Snapshot != "" {
		return invalid("a health record has no labels, zones, alert, score, box or snapshot")
	}
	return nil
}

// Validate checks r against the format's rules.
func (r Record) Validate() error {
	switch r.Kind {
	case KindEvent:
	case KindHealth:
		return r.validateHealth()
	default:
		return invalid("kind: %q or %q", KindEvent, KindHealth)
	}
	if r.Check != "" || r.Message != "" || r.Flaps != 0 {
		return invalid("an event record has no check, message or flaps")
	}
	if !idRE.MatchString(r.ID) {
		return invalid("id: 32 lower-case hex digits")
	}
	if err := validName("camera", r.Camera); err != nil {
		return err
	}
	if err := validTimes(r, StateStart, StateEnd); err != nil {
		return err
	}
	if err := validNames("labels", r.Labels, MaxLabels); err != nil {
		return err
	}
	if err := validNames("zones", r.Zones, MaxZones); err != nil {
		return err
	}
	if math.IsNaN(r.Score) || r.Score < 0 || r.Score > 1 {
		return invalid("score: between 0 and 1")
	}
	for i, v := range r.Box {
		if math.IsNaN(v) || v < 0 || v > 1 {
			return invalid("box[%d]: between 0 and 1 (a fraction of the frame)", i)
		}
	}
	const slack = 1e-6
	if r.Box[0]+r.Box[2] > 1+slack || r.Box[1]+r.Box[3] > 1+slack {
		return invalid("box: extends past the frame")
	}
	if r.Snapshot != "" && (len(r.Snapshot) > MaxKeyBytes || !keyRE.MatchString(r.Snapshot) || dotSegment.MatchString(r.Snapshot)) {
		return invalid("snapshot: an object key of at most %d bytes of A-Z a-z 0-9 . _ - /", MaxKeyBytes)
	}
	return nil
}

// Marshal validates r and returns its JSON (at most MaxRecordBytes).
func Marshal(r Record) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	if r.Kind == KindHealth {
		w := healthWire{V: Version, Kind: KindHealth, ID: r.ID, Check: r.Check, Camera: r.Camera, State: r.State,
			Start: r.Start.UTC().Format(time.RFC3339Nano), Message: r.Message, Flaps: r.Flaps}
		if !r.End.IsZero() {
			w.End = r.End.UTC().Format(time.RFC3339Nano)
		}
		return marshalCapped(w)
	}
	w := wire{V: Version, ID: r.ID, Camera: r.Camera, State: r.State, Start: r.Start.UTC().Format(time.RFC3339Nano),
		Labels: r.Labels, Zones: r.Zones, Alert: r.Alert, Score: r.Score, Box: r.Box[:], Snapshot: r.Snapshot}
	if w.Labels == nil {
		w.Labels = []string{}
	}
	if w.Zones == nil {
		w.Zones = []string{}
	}
	if !r.End.IsZero() {
		w.End = r.End.UTC().Format(time.RFC3339Nano)
	}
	return marshalCapped(w)
}

func marshalCapped(w any) ([]byte, error) {
	b, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxRecordBytes {
		return nil, invalid("%d bytes of JSON, at most %d (too many or too long names)", len(b), MaxRecordBytes)
	}
	return b, nil
}

// Unmarshal parses and validates a record's JSON. It refuses input over
// MaxRecordBytes, invalid UTF-8, unknown fields, trailing data, another
// version and anything Validate refuses.
func Unmarshal(b []byte) (Record, error) {
	if len(b) > MaxRecordBytes {
		return Record{}, invalid("%d bytes, at most %d", len(b), MaxRecordBytes)
	}
	if !utf8.Valid(b) {
		return Record{}, invalid("not UTF-8")
	}
	// The kind decides which fields a record may hold; the strict decoder
	// below refuses the other kind's fields.
	var peek struct {
		Kind *string `json:"kind"`
	}
	if err := json.Unmarshal(b, &peek); err != nil {
		return Record{}, invalid("%v", err)
	}
	if peek.Kind != nil {
		if *peek.Kind != KindHealth {
			return Record{}, invalid("kind: omitted for an event, or %q", KindHealth)
		}
		return unmarshalHealth(b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w wire
	if err := dec.Decode(&w); err != nil {
		return Record{}, invalid("%v", err)
	}
	if dec.More() {
		return Record{}, invalid("trailing data")
	}
	if w.V != Version {
		return Record{}, invalid("version %d, this program reads %d", w.V, Version)
	}
	if len(w.Box) != 4 {
		return Record{}, invalid("box: [x, y, w, h]")
	}
	r := Record{ID: w.ID, Camera: w.Camera, State: w.State, Labels: w.Labels, Zones: w.Zones,
		Alert: w.Alert, Score: w.Score, Box: [4]float64(w.Box), Snapshot: w.Snapshot}
	var err error
	if r.Start, err = time.Parse(time.RFC3339Nano, w.Start); err != nil {
		return Record{}, invalid("start: an RFC 3339 time")
	}
	if w.End != "" {
		if r.End, err = time.Parse(time.RFC3339Nano, w.End); err != nil {
			return Record{}, invalid("end: an RFC 3339 time")
		}
	}
	if r.Labels == nil {
		r.Labels = []string{}
	}
	if r.Zones == nil {
		r.Zones = []string{}
	}
	r.Start, r.End = r.Start.UTC(), r.End.UTC()
	if w.End == "" {
		r.End = time.Time{}
	}
	if err := r.Validate(); err != nil {
		return Record{}, err
	}
	return r, nil
}

func unmarshalHealth(b []byte) (Record, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w healthWire
	if err := dec.Decode(&w); err != nil {
		return Record{}, invalid("%v", err)
	}
	if dec.More() {
		return Record{}, invalid("trailing data")
	}
	if w.V != Version {
		return Record{}, invalid("version %d, this program reads %d", w.V, Version)
	}
	if w.Kind != KindHealth {
		return Record{}, invalid("kind: %q", KindHealth)
	}
	r := Record{Kind: KindHealth, ID: w.ID, Check: w.Check, Camera: w.Camera, State: w.State, Message: w.Message, Flaps: w.Flaps}
	var err error
	if r.Start, err = time.Parse(time.RFC3339Nano, w.Start); err != nil {
		return Record{}, invalid("start: an RFC 3339 time")
	}
	r.Start = r.Start.UTC()
	if w.End != "" {
		if r.End, err = time.Parse(time.RFC3339Nano, w.End); err != nil {
			return Record{}, invalid("end: an RFC 3339 time")
		}
		r.End = r.End.UTC()
	}
	if err := r.Validate(); err != nil {
		return Record{}, err
	}
	return r, nil
}

// Seal seals r as the hub does: an envelope.KindEvent object on
// StreamEvents with sequence seq, the event's start as the header's start
// and its end (its start while open) as the footer's end, signed by the
// hub's key and sealed to the household's recipients of epoch.
func Seal(r Record, seq uint64, epoch uint32, signer ed25519.PrivateKey, recipients ...envelope.Recipient) ([]byte, error) {
	body, err := Marshal(r)
	if err != nil {
		return nil, err
	}
	end := r.End
	if end.IsZero() {
		end = r.Start
	}
	h := envelope.Header{Kind: envelope.KindEvent, Stream: StreamEvents, Sequence: seq, Start: r.Start, Epoch: epoch}
	return envelope.Seal(h, end, signer, body, recipients...)
}

var jpegMagic = []byte{0xFF, 0xD8, 0xFF}

// SealSnapshot seals one JPEG taken at at: an envelope.KindSnapshot object
// on StreamSnapshots with sequence seq.
func SealSnapshot(jpeg []byte, at time.Time, seq uint64, epoch uint32, signer ed25519.PrivateKey, recipients ...envelope.Recipient) ([]byte, error) {
	if len(jpeg) > MaxSnapshotBytes || !bytes.HasPrefix(jpeg, jpegMagic) {
		return nil, fmt.Errorf("eventrec: a snapshot is a JPEG of at most %d bytes", MaxSnapshotBytes)
	}
	h := envelope.Header{Kind: envelope.KindSnapshot, Stream: StreamSnapshots, Sequence: seq, Start: at, Epoch: epoch}
	return envelope.Seal(h, at, signer, jpeg, recipients...)
}

// Open opens a sealed event record with the household's identities,
// accepting only producers v trusts, and checks that the record agrees
// with its signed header and footer.
func Open(sealed []byte, v envelope.Verifier, ids ...envelope.Identity) (Record, envelope.Header, error) {
	h, f, body, err := envelope.Open(sealed, v, ids...)
	if err != nil {
		return Record{}, envelope.Header{}, err
	}
	if h.Kind != envelope.KindEvent || h.Stream != StreamEvents {
		return Record{}, envelope.Header{}, fmt.Errorf("eventrec: a %s on stream %q is not an event record", h.Kind, h.Stream)
	}
	r, err := Unmarshal(body)
	if err != nil {
		return Record{}, envelope.Header{}, err
	}
	end := r.End
	if end.IsZero() {
		end = r.Start
	}
	if !h.Start.Equal(r.Start) || !f.End.Equal(end) {
		return Record{}, envelope.Header{}, fmt.Errorf("eventrec: record times disagree with the signed header and footer")
	}
	return r, h, nil
}

// OpenSnapshot opens a sealed snapshot and returns its JPEG and time.
func OpenSnapshot(sealed []byte, v envelope.Verifier, ids ...envelope.Identity) ([]byte, time.Time, error) {
	h, _, body, err := envelope.Open(sealed, v, ids...)
	if err != nil {
		return nil, time.Time{}, err
	}
	if h.Kind != envelope.KindSnapshot || h.Stream != StreamSnapshots {
		return nil, time.Time{}, fmt.Errorf("eventrec: a %s on stream %q is not a snapshot", h.Kind, h.Stream)
	}
	if len(body) > MaxSnapshotBytes || !bytes.HasPrefix(body, jpegMagic) {
		return nil, time.Time{}, errors.New("eventrec: the snapshot is not a JPEG")
	}
	return body, h.Start, nil
}

// ObjectKey is the key the cloud gives an object that hub device uploads
// for household on stream with sequence seq (docs/API.md): a hub names its
// snapshot in the event record with ObjectKey(household, device,
// StreamSnapshots, seq).
func ObjectKey(household, device, stream string, seq uint64) string {
	return household + "/" + device + "/" + stream + "/" + fmt.Sprintf("%016x", seq)
}
