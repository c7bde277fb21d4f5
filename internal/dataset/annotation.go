package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Format names and versions written into the JSON files.
const (
	// AnnotationFormat is the "format" of an annotation payload.
	AnnotationFormat = "vigil-annotation"
	// AnnotationVersion is the payload version this package writes and reads.
	AnnotationVersion = 1
)

// Bounds on a payload; anything larger is refused before it is used.
const (
	// MaxAnnotationSize bounds a payload's bytes.
	MaxAnnotationSize = 16 << 20
	// MaxFrames bounds a clip's frame count (about 15 hours at 30 fps).
	MaxFrames = 1 << 24
	// MaxSide bounds a clip's width and height.
	MaxSide = 8192
	// MaxFPS bounds a clip's frame rate.
	MaxFPS = 240
	// MaxTracks bounds the tracks of one payload.
	MaxTracks = 10000
	// MaxTrackID bounds a track's id: 2^53-1, the largest integer every
	// JSON reader holds exactly (a browser reads numbers as doubles).
	MaxTrackID = 1<<53 - 1
	// MaxKeyframes bounds the keyframes of one payload, all tracks together.
	MaxKeyframes = 1000000
	// MaxID bounds an identifier (clip, annotator, reviewer, donation,
	// consent, household), in bytes.
	MaxID = 128
)

// ErrAnnotation is returned (wrapped) for a payload that is not a valid
// annotation; the message says which field is wrong.
var ErrAnnotation = errors.New("dataset: bad annotation")

// State is an annotation's place in review.
type State string

// The review states: an annotation is drawn (annotating), submitted (in
// review), then accepted or rejected by a reviewer who is not its
// annotator. Only accepted annotations enter a dataset.
const (
	Annotating State = "annotating"
	InReview   State = "in_review"
	Accepted   State = "accepted"
	Rejected   State = "rejected"
)

// CanMove reports whether review may move an annotation from s to next:
// annotating -> in_review -> accepted or rejected; a rejected annotation,
// or one taken back from review, returns to annotating.
func (s State) CanMove(next State) bool {
	switch s {
	case Annotating:
		return next == InReview
	case InReview:
		return next == Accepted || next == Rejected || next == Annotating
	case Rejected:
		return next == Annotating
	}
	return false
}

func (s State) valid() bool {
	return s == Annotating || s == InReview || s == Accepted || s == Rejected
}

// Review is an annotation's review state. Reviewer is required once the
// state is accepted or rejected, and must differ from the annotator.
type Review struct {
	State    State  `json:"state"`
	Reviewer string `json:"reviewer,omitempty"`
}

// Keyframe is a track's state at one frame, as an annotator set it. Box is
// [x, y, w, h] in the clip's pixels, x, y the top-left corner; it is absent
// on an outside keyframe, where the track leaves view. Occluded marks an
// object mostly hidden or cut off: it stays in the data but is not scored
// (COCO iscrowd 1, left out of YOLO's labels).
type Keyframe struct {
	Frame    int   `json:"frame"`
	Box      *Rect `json:"box,omitempty"`
	Outside  bool  `json:"outside,omitempty"`
	Occluded bool  `json:"occluded,omitempty"`
}

// Rect is a box [x, y, w, h] in a frame's pixels, x, y its top-left
// corner. In JSON it is an array of exactly four numbers.
type Rect [4]float64

// UnmarshalJSON decodes exactly four numbers.
func (r *Rect) UnmarshalJSON(data []byte) error {
	var v []float64
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	if len(v) != 4 {
		return fmt.Errorf("box has %d numbers, want 4 (x, y, w, h)", len(v))
	}
	copy(r[:], v)
	return nil
}

// Track is one object followed through the clip: its label from the
// schema and its keyframes in strictly increasing frame order.
type Track struct {
	ID        int        `json:"id"`
	Label     string     `json:"label"`
	Keyframes []Keyframe `json:"keyframes"`
}

// Annotation is the payload for one donated clip (docs/FORMAT.md,
// "Annotation payload").
type Annotation struct {
	Format        string  `json:"format"`
	Version       int     `json:"version"`
	Clip          string  `json:"clip"`
	FPS           float64 `json:"fps"`
	Width         int     `json:"width"`
	Height        int     `json:"height"`
	Frames        int     `json:"frames"`
	SchemaVersion int     `json:"schema_version"`
	Tracks        []Track `json:"tracks"`
	Annotator     string  `json:"annotator"`
	Review        Review  `json:"review"`
}

// ParseAnnotation decodes a payload and checks it against s: the format
// and version, the clip's geometry, every track's label in s, keyframes in
// strictly increasing order inside the clip, every box finite, non-empty
// and inside the frame, the review state and its reviewer. Unknown fields
// are refused. Errors wrap ErrAnnotation and name the field.
func ParseAnnotation(data []byte, s Schema) (*Annotation, error) {
	if len(data) > MaxAnnotationSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrAnnotation, len(data), MaxAnnotationSize)
	}
	if err := s.Check(); err != nil {
		return nil, err
	}
	var a Annotation
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAnnotation, err)
	}
	// Only white space may follow the object (Decoder.More would let a
	// stray ']' or '}' through).
	if rest := data[dec.InputOffset():]; len(bytes.TrimLeft(rest, " \t\r\n")) > 0 {
		return nil, fmt.Errorf("%w: data after the object", ErrAnnotation)
	}
	if err := a.Check(s); err != nil {
		return nil, err
	}
	return &a, nil
}

// Marshal encodes a as ParseAnnotation reads it, after checking it.
func (a *Annotation) Marshal(s Schema) ([]byte, error) {
	if err := a.Check(s); err != nil {
		return nil, err
	}
	return json.Marshal(a)
}

// Check validates a as ParseAnnotation does.
func (a *Annotation) Check(s Schema) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrAnnotation}, args...)...)
	}
	if a.Format != AnnotationFormat {
		return bad("format %q, want %q", a.Format, AnnotationFormat)
	}
	if a.Version != AnnotationVersion {
		return bad("version %d, this build reads %d", a.Version, AnnotationVersion)
	}
	if err := checkID("clip", a.Clip); err != nil {
		return bad("%v", err)
	}
	if strings.ContainsAny(a.Clip, ":@") {
		return bad("clip %q: a clip ID names files, so only letters, digits and - _ . are allowed", a.Clip)
	}
	if !(a.FPS > 0 && a.FPS <= MaxFPS) {
		return bad("fps %v: want more than 0, at most %d", a.FPS, MaxFPS)
	}
	if a.Width <= 0 || a.Height <= 0 || a.Width > MaxSide || a.Height > MaxSide {
		return bad("frame size %dx%d: want 1 to %d pixels a side", a.Width, a.Height, MaxSide)
	}
	if a.Frames <= 0 || a.Frames > MaxFrames {
		return bad("frames %d: want 1 to %d", a.Frames, MaxFrames)
	}
	if a.SchemaVersion != s.Version {
		return bad("schema_version %d, the schema given is version %d", a.SchemaVersion, s.Version)
	}
	if err := checkID("annotator", a.Annotator); err != nil {
		return bad("%v", err)
	}
	if !a.Review.State.valid() {
		return bad("review state %q: want annotating, in_review, accepted or rejected", a.Review.State)
	}
	switch a.Review.State {
	case Accepted, Rejected:
		if err := checkID("reviewer", a.Review.Reviewer); err != nil {
			return bad("review %s: %v", a.Review.State, err)
		}
	default:
		if a.Review.Reviewer != "" {
			if err := checkID("reviewer", a.Review.Reviewer); err != nil {
				return bad("%v", err)
			}
		}
	}
	if a.Review.Reviewer != "" && a.Review.Reviewer == a.Annotator {
		return bad("reviewer %q is the annotator: an annotation is reviewed by someone else", a.Review.Reviewer)
	}
	if len(a.Tracks) > MaxTracks {
		return bad("%d tracks, more than %d", len(a.Tracks), MaxTracks)
	}
	ids := make(map[int]bool, len(a.Tracks))
	total := 0
	for i, t := range a.Tracks {
		if t.ID <= 0 || t.ID > MaxTrackID {
			return bad("track %d: id %d: want a positive number, at most 2^53-1", i, t.ID)
		}
		if ids[t.ID] {
			return bad("track %d: id %d used twice", i, t.ID)
		}
		ids[t.ID] = true
		if !s.Has(t.Label) {
			return bad("track %d: label %q is not in schema version %d (%v)", t.ID, t.Label, s.Version, s.Labels)
		}
		if len(t.Keyframes) == 0 {
			return bad("track %d: no keyframes", t.ID)
		}
		total += len(t.Keyframes)
		if total > MaxKeyframes {
			return bad("more than %d keyframes", MaxKeyframes)
		}
		for j, k := range t.Keyframes {
			if k.Frame < 0 || k.Frame >= a.Frames {
				return bad("track %d keyframe %d: frame %d outside the clip's %d frames", t.ID, j, k.Frame, a.Frames)
			}
			if j > 0 && k.Frame <= t.Keyframes[j-1].Frame {
				return bad("track %d keyframe %d: frame %d after frame %d: keyframes must be in increasing frame order", t.ID, j, k.Frame, t.Keyframes[j-1].Frame)
			}
			if k.Outside {
				if j == 0 {
					return bad("track %d: the first keyframe is outside: a track starts with a box", t.ID)
				}
				if k.Box != nil || k.Occluded {
					return bad("track %d frame %d: an outside keyframe has no box and is not occluded", t.ID, k.Frame)
				}
				continue
			}
			if k.Box == nil {
				return bad("track %d frame %d: no box (a keyframe has a box unless it is outside)", t.ID, k.Frame)
			}
			if err := checkBox(*k.Box, a.Width, a.Height); err != nil {
				return bad("track %d frame %d: %v", t.ID, k.Frame, err)
			}
		}
	}
	return nil
}

// checkBox checks that b = [x, y, w, h] is finite, non-empty and inside a
// w x h frame.
func checkBox(b [4]float64, w, h int) error {
	for _, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("box %v is not finite", b)
		}
	}
	if b[2] <= 0 || b[3] <= 0 {
		return fmt.Errorf("box %v is empty", b)
	}
	if b[0] < 0 || b[1] < 0 || b[0]+b[2] > float64(w) || b[1]+b[3] > float64(h) {
		return fmt.Errorf("box %v is not inside the %dx%d frame", b, w, h)
	}
	return nil
}

// checkID checks an identifier: 1 to MaxID bytes of ASCII letters, digits,
// '-', '_', '.', ':' and '@', not starting with '.' (identifiers name files
// in a dataset, so they can never be a path).
func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("%s is missing", what)
	}
	if len(id) > MaxID {
		return fmt.Errorf("%s is %d bytes, more than %d", what, len(id), MaxID)
	}
	if id[0] == '.' {
		return fmt.Errorf("%s %q starts with '.'", what, id)
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || slices.Contains([]byte("-_.:@"), c)
		if !ok {
			return fmt.Errorf("%s %q: only letters, digits and - _ . : @ are allowed", what, id)
		}
	}
	return nil
}
