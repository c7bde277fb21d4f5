// Package groundtruth holds hand-checked person boxes for the test footage
// and scores a detector's output against them.
//
// # File format
//
// A ground truth is one JSON object:
//
//	{
//	  "video": "vtest.avi", "width": 768, "height": 576,
//	  "frames": {"<frame index>": [{"box": [x, y, w, h], "hidden": false}, ...]},
//	  "events": [{"label": "person", "from_frame": a, "to_frame": b}]
//	}
//
// Frame indices count from 0 in decode order (ffmpeg's
// select='eq(n\,K)' yields frame K). A box is in the frame's pixels, x, y
// its top-left corner, and wraps the whole visible person from head to
// feet. "hidden": true marks a person mostly hidden (by someone else, a
// sign, a vehicle), cut off by the frame's border or too far away to make
// out (under about 36 pixels tall): a detector is neither rewarded nor
// penalised for it. Only the frames listed are scored; a listed frame with an empty
// list says "nobody here". An event is an inclusive range of frames during
// which something of its label is in view.
//
// The files live in testdata/groundtruth at the repository's root:
// vtest.json (opencv-doc's vtest.avi: 28 frames spread over the clip, 3 to
// 9 people in most, and one person event over all 795 frames) and
// tree.json (tree.avi, a tree in wind: frames 0 to 50 with nobody in them,
// no event; a hand reaches in from frame 54, which is not scored). How they were made and
// checked is in that directory's README.md: candidate boxes came from a
// CenterNet model run outside the project (never from the hub's own default
// detector, so that the score stays independent of it), then every frame
// was drawn with its boxes, looked at, and corrected by hand.
//
// # Scoring
//
// [Score] matches, frame by frame, predictions labelled "person" to the
// ground truth greedily: highest score first, each to the unmatched visible
// box it overlaps most with IoU at least the threshold (0.4 is the usual
// choice). A match is a true positive; a prediction that matches no visible
// box but overlaps a hidden one by the threshold is ignored; any other
// prediction, including a second one on an already matched person, is a
// false positive; a visible box left unmatched is a false negative.
// [ScoreEvents] compares time ranges.
//
// [ReadBench] and [WriteBench] speak the bench's JSON format,
// {"<frame index>": [[x, y, w, h, score], ...]}; scripts/groundtruth/score
// prints a per-frame table for such a file.
//
// Every file read here is treated as hostile: sizes are bounded before
// reading, numbers are checked to be finite and inside the frame.
package groundtruth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"

	"vigil/internal/detect"
)

// Bounds on what a file may hold; anything larger is refused.
const (
	// MaxFileSize bounds a ground-truth or bench file.
	MaxFileSize = 32 << 20
	// MaxFrameIndex bounds a frame index (about 46 hours at 10 fps).
	MaxFrameIndex = 1 << 24
	// MaxPerFrame bounds the boxes (or predictions) in one frame.
	MaxPerFrame = 10000
	// MaxEvents bounds a ground truth's events.
	MaxEvents = 100000
)

// ErrFormat is returned (wrapped) for a file that is not a valid ground
// truth or bench file.
var ErrFormat = errors.New("groundtruth: bad format")

// Person is one ground-truth person in a frame.
type Person struct {
	// Box is [x, y, w, h] in the frame's pixels.
	Box [4]float64 `json:"box"`
	// Hidden marks a person mostly hidden or cut off by the border: not
	// scored either way.
	Hidden bool `json:"hidden"`
}

// UnmarshalJSON decodes a person, refusing a box that is not exactly four
// numbers and unknown fields.
func (p *Person) UnmarshalJSON(data []byte) error {
	var raw struct {
		Box    []float64 `json:"box"`
		Hidden bool      `json:"hidden"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	if len(raw.Box) != 4 {
		return fmt.Errorf("box has %d numbers, want 4", len(raw.Box))
	}
	copy(p.Box[:], raw.Box)
	p.Hidden = raw.Hidden
	return nil
}

// Rect returns the person's box as a detect.Box.
func (p Person) Rect() detect.Box {
	return detect.Box{X: p.Box[0], Y: p.Box[1], W: p.Box[2], H: p.Box[3]}
}

// Event is an inclusive range of frames during which something of Label is
// in view.
type Event struct {
	Label     string `json:"label"`
	FromFrame int    `json:"from_frame"`
	ToFrame   int    `json:"to_frame"`
}

// Overlaps reports whether e and o share a label and at least one frame.
func (e Event) Overlaps(o Event) bool {
	return e.Label == o.Label && e.FromFrame <= o.ToFrame && o.FromFrame <= e.ToFrame
}

// Truth is a clip's ground truth.
type Truth struct {
	Video  string           `json:"video"`
	Width  int              `json:"width"`
	Height int              `json:"height"`
	Frames map[int][]Person `json:"frames"`
	Events []Event          `json:"events"`
}

// FrameIndices returns the scored frames in ascending order.
func (t *Truth) FrameIndices() []int {
	ks := make([]int, 0, len(t.Frames))
	for k := range t.Frames {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// Load reads and validates the ground truth at path.
func Load(path string) (*Truth, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := readBounded(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse decodes and validates a ground truth: a known frame size, frame
// indices in range, every box finite, non-empty and inside the frame,
// events with a label and from <= to. Unknown fields (a misspelt
// "hidden") are refused.
func Parse(data []byte) (*Truth, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFormat, MaxFileSize)
	}
	var t Truth
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the object", ErrFormat)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return &t, nil
}

// Validate checks t as Parse does.
func (t *Truth) Validate() error {
	if t.Width <= 0 || t.Height <= 0 || t.Width > 1<<15 || t.Height > 1<<15 {
		return fmt.Errorf("%w: frame size %dx%d", ErrFormat, t.Width, t.Height)
	}
	if len(t.Events) > MaxEvents {
		return fmt.Errorf("%w: %d events", ErrFormat, len(t.Events))
	}
	for k, ps := range t.Frames {
		if k < 0 || k > MaxFrameIndex {
			return fmt.Errorf("%w: frame index %d", ErrFormat, k)
		}
		if len(ps) > MaxPerFrame {
			return fmt.Errorf("%w: frame %d: %d boxes", ErrFormat, k, len(ps))
		}
		for i, p := range ps {
			b := p.Box
			if !finite(b[:]...) || b[2] <= 0 || b[3] <= 0 || b[0] < 0 || b[1] < 0 ||
				b[0]+b[2] > float64(t.Width) || b[1]+b[3] > float64(t.Height) {
				return fmt.Errorf("%w: frame %d box %d %v outside the %dx%d frame", ErrFormat, k, i, b, t.Width, t.Height)
			}
		}
	}
	for i, e := range t.Events {
		if e.Label == "" || e.FromFrame < 0 || e.ToFrame < e.FromFrame || e.ToFrame > MaxFrameIndex {
			return fmt.Errorf("%w: event %d %+v", ErrFormat, i, e)
		}
	}
	return nil
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func readBounded(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFormat, MaxFileSize)
	}
	return data, nil
}

// ReadBench reads the bench's format, {"<frame index>": [[x, y, w, h,
// score], ...]}, as person detections.
func ReadBench(r io.Reader) (map[int][]detect.Detection, error) {
	data, err := readBounded(r)
	if err != nil {
		return nil, err
	}
	var raw map[string][][]float64
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	out := make(map[int][]detect.Detection, len(raw))
	for key, rows := range raw {
		k, err := strconv.Atoi(key)
		if err != nil || k < 0 || k > MaxFrameIndex {
			return nil, fmt.Errorf("%w: frame index %q", ErrFormat, key)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("%w: frame %d twice", ErrFormat, k)
		}
		if len(rows) > MaxPerFrame {
			return nil, fmt.Errorf("%w: frame %d: %d detections", ErrFormat, k, len(rows))
		}
		ds := make([]detect.Detection, 0, len(rows))
		for i, row := range rows {
			if len(row) != 5 || !finite(row...) || row[2] < 0 || row[3] < 0 {
				return nil, fmt.Errorf("%w: frame %d detection %d %v", ErrFormat, k, i, row)
			}
			ds = append(ds, detect.Detection{
				Label: "person",
				Score: row[4],
				Box:   detect.Box{X: row[0], Y: row[1], W: row[2], H: row[3]},
			})
		}
		out[k] = ds
	}
	return out, nil
}

// WriteBench writes the person detections of preds in the bench's format;
// other labels are left out.
func WriteBench(w io.Writer, preds map[int][]detect.Detection) error {
	raw := make(map[string][][5]float64, len(preds))
	for k, ds := range preds {
		rows := make([][5]float64, 0, len(ds))
		for _, d := range ds {
			if d.Label != "person" {
				continue
			}
			if !finite(d.Box.X, d.Box.Y, d.Box.W, d.Box.H, d.Score) {
				return fmt.Errorf("groundtruth: frame %d: detection not finite", k)
			}
			rows = append(rows, [5]float64{d.Box.X, d.Box.Y, d.Box.W, d.Box.H, d.Score})
		}
		raw[strconv.Itoa(k)] = rows
	}
	enc := json.NewEncoder(w)
	return enc.Encode(raw)
}
