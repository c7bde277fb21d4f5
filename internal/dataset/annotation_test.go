package dataset

import (
	"errors"
	"math"
	"strings"
	"testing"

	"vigil/internal/detect"
)

// validPayload is a two-track annotation of a 100x80 clip of 50 frames.
const validPayload = `{
 "format": "vigil-annotation", "version": 1,
 "clip": "clip-1", "fps": 10, "width": 100, "height": 80, "frames": 50,
 "schema_version": 1,
 "tracks": [
  {"id": 1, "label": "person", "keyframes": [
   {"frame": 0, "box": [0, 0, 10, 20]},
   {"frame": 10, "box": [20, 10, 30, 40]},
   {"frame": 20, "outside": true},
   {"frame": 30, "box": [50, 20, 10, 10], "occluded": true}
  ]},
  {"id": 7, "label": "dog", "keyframes": [{"frame": 5, "box": [60, 60, 40, 20]}]}
 ],
 "annotator": "ann-1",
 "review": {"state": "accepted", "reviewer": "rev-2"}
}`

func TestParseAnnotation(t *testing.T) {
	a, err := ParseAnnotation([]byte(validPayload), DefaultSchema())
	if err != nil {
		t.Fatal(err)
	}
	if a.Clip != "clip-1" || a.Frames != 50 || len(a.Tracks) != 2 || a.Review.Reviewer != "rev-2" || a.Tracks[0].Keyframes[3].Occluded != true {
		t.Fatalf("parsed %+v", a)
	}
	// What Marshal writes parses back to the same.
	data, err := a.Marshal(DefaultSchema())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseAnnotation(data, DefaultSchema())
	if err != nil {
		t.Fatal(err)
	}
	if b.Tracks[1].Keyframes[0].Box[3] != 20 || b.Tracks[0].Keyframes[2].Outside != true {
		t.Fatalf("round trip %+v", b)
	}
}

// badPayloads are edits of validPayload that must be refused, with a word
// the error must contain.
var badPayloads = []struct {
	name, old, new, want string
}{
	{"format", `"vigil-annotation"`, `"other"`, "format"},
	{"version", `"version": 1`, `"version": 2`, "version 2"},
	{"unknown field", `"fps": 10`, `"fps": 10, "colour": 1`, "unknown field"},
	{"clip missing", `"clip": "clip-1"`, `"clip": ""`, "clip is missing"},
	{"clip path", `"clip": "clip-1"`, `"clip": "../x"`, "clip"},
	{"clip slash", `"clip": "clip-1"`, `"clip": "a/b"`, "only letters"},
	{"fps zero", `"fps": 10`, `"fps": 0`, "fps"},
	{"fps huge", `"fps": 10`, `"fps": 1000`, "fps"},
	{"width", `"width": 100`, `"width": 0`, "frame size"},
	{"height huge", `"height": 80`, `"height": 100000`, "frame size"},
	{"frames", `"frames": 50`, `"frames": 0`, "frames 0"},
	{"schema version", `"schema_version": 1`, `"schema_version": 2`, "schema_version 2"},
	{"label", `"label": "dog"`, `"label": "horse"`, `label "horse" is not in schema`},
	{"track id", `"id": 7`, `"id": 0`, "id 0"},
	{"track id past 2^53-1", `"id": 7`, `"id": 9007199254740992`, "at most 2^53-1"},
	{"track id twice", `"id": 7`, `"id": 1`, "used twice"},
	{"no keyframes", `"keyframes": [{"frame": 5, "box": [60, 60, 40, 20]}]`, `"keyframes": []`, "no keyframes"},
	{"keyframe order", `{"frame": 10, "box": [20, 10, 30, 40]}`, `{"frame": 0, "box": [20, 10, 30, 40]}`, "increasing frame order"},
	{"keyframe past the clip", `{"frame": 30, "box"`, `{"frame": 50, "box"`, "outside the clip"},
	{"keyframe negative", `{"frame": 0, "box": [0, 0, 10, 20]}`, `{"frame": -1, "box": [0, 0, 10, 20]}`, "outside the clip"},
	{"box past the right", `[60, 60, 40, 20]`, `[61, 60, 40, 20]`, "not inside"},
	{"box past the bottom", `[60, 60, 40, 20]`, `[60, 61, 40, 20]`, "not inside"},
	{"box negative", `[0, 0, 10, 20]`, `[-1, 0, 10, 20]`, "not inside"},
	{"box empty", `[0, 0, 10, 20]`, `[0, 0, 0, 20]`, "empty"},
	{"box three numbers", `[0, 0, 10, 20]`, `[0, 0, 10]`, "box"},
	{"box five numbers", `[0, 0, 10, 20]`, `[0, 0, 10, 20, 1]`, "box"},
	{"no box", `{"frame": 5, "box": [60, 60, 40, 20]}`, `{"frame": 5}`, "no box"},
	{"outside with box", `{"frame": 20, "outside": true}`, `{"frame": 20, "outside": true, "box": [0, 0, 1, 1]}`, "outside keyframe has no box"},
	{"starts outside", `{"frame": 5, "box": [60, 60, 40, 20]}`, `{"frame": 5, "outside": true}`, "first keyframe is outside"},
	{"annotator", `"annotator": "ann-1"`, `"annotator": ""`, "annotator is missing"},
	{"state", `"state": "accepted"`, `"state": "done"`, "review state"},
	{"accepted without reviewer", `"state": "accepted", "reviewer": "rev-2"`, `"state": "accepted"`, "reviewer is missing"},
	{"self review", `"reviewer": "rev-2"`, `"reviewer": "ann-1"`, "is the annotator"},
	{"trailing data", "}\n}", "}\n}{}", "data after"},
	{"trailing brace", "}\n}", "}\n}}", "data after"},
	{"trailing bracket", "}\n}", "}\n} ]", "data after"},
	{"not json", `{`, `[`, "invalid character"},
}

func TestParseAnnotationRefuses(t *testing.T) {
	for _, c := range badPayloads {
		t.Run(c.name, func(t *testing.T) {
			in := strings.Replace(validPayload, c.old, c.new, 1)
			if in == validPayload {
				t.Fatalf("edit %q not applied", c.old)
			}
			_, err := ParseAnnotation([]byte(in), DefaultSchema())
			if !errors.Is(err, ErrAnnotation) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want ErrAnnotation containing %q", err, c.want)
			}
		})
	}
	big := make([]byte, MaxAnnotationSize+1)
	if _, err := ParseAnnotation(big, DefaultSchema()); !errors.Is(err, ErrAnnotation) {
		t.Fatalf("oversized payload: %v", err)
	}
	if _, err := ParseAnnotation([]byte(validPayload), Schema{Version: 1}); !errors.Is(err, ErrSchema) {
		t.Fatalf("empty schema: %v", err)
	}
}

func TestSchemaCheck(t *testing.T) {
	for _, s := range []Schema{
		{Version: 0, Labels: []string{"person"}},
		{Version: 1},
		{Version: 1, Labels: []string{"person", "person"}},
		{Version: 1, Labels: []string{" person"}},
		{Version: 1, Labels: []string{""}},
	} {
		if err := s.Check(); !errors.Is(err, ErrSchema) {
			t.Errorf("%+v: %v, want ErrSchema", s, err)
		}
	}
	s := DefaultSchema()
	if s.Check() != nil || s.Class("person") != 0 || s.Class("package") != 5 || s.Class("horse") != -1 {
		t.Fatalf("default schema %+v", s)
	}
}

func TestStateMoves(t *testing.T) {
	ok := map[[2]State]bool{
		{Annotating, InReview}: true, {InReview, Accepted}: true, {InReview, Rejected}: true,
		{InReview, Annotating}: true, {Rejected, Annotating}: true,
	}
	all := []State{Annotating, InReview, Accepted, Rejected, "other"}
	for _, from := range all {
		for _, to := range all {
			if got := from.CanMove(to); got != ok[[2]State{from, to}] {
				t.Errorf("%s -> %s: %v", from, to, got)
			}
		}
	}
}

// TestBoxes checks interpolation against boxes worked out by hand from
// validPayload.
func TestBoxes(t *testing.T) {
	a, err := ParseAnnotation([]byte(validPayload), DefaultSchema())
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		track    int
		box      detect.Box
		key, occ bool
	}
	cases := []struct {
		frame int
		want  []want
	}{
		{0, []want{{1, detect.Box{X: 0, Y: 0, W: 10, H: 20}, true, false}}},
		// 0.3 of the way from [0 0 10 20] to [20 10 30 40].
		{3, []want{{1, detect.Box{X: 6, Y: 3, W: 16, H: 26}, false, false}}},
		// Track 7 starts at frame 5.
		{5, []want{{1, detect.Box{X: 10, Y: 5, W: 20, H: 30}, false, false}, {7, detect.Box{X: 60, Y: 60, W: 40, H: 20}, true, false}}},
		{10, []want{{1, detect.Box{X: 20, Y: 10, W: 30, H: 40}, true, false}, {7, detect.Box{X: 60, Y: 60, W: 40, H: 20}, false, false}}},
		// Held (not moved towards the outside keyframe) until frame 20.
		{19, []want{{1, detect.Box{X: 20, Y: 10, W: 30, H: 40}, false, false}, {7, detect.Box{X: 60, Y: 60, W: 40, H: 20}, false, false}}},
		// Outside from 20 until the keyframe at 30.
		{20, []want{{7, detect.Box{X: 60, Y: 60, W: 40, H: 20}, false, false}}},
		{29, []want{{7, detect.Box{X: 60, Y: 60, W: 40, H: 20}, false, false}}},
		{30, []want{{1, detect.Box{X: 50, Y: 20, W: 10, H: 10}, true, true}, {7, detect.Box{X: 60, Y: 60, W: 40, H: 20}, false, false}}},
		// After the last keyframe, held to the end of the clip.
		{49, []want{{1, detect.Box{X: 50, Y: 20, W: 10, H: 10}, false, true}, {7, detect.Box{X: 60, Y: 60, W: 40, H: 20}, false, false}}},
		{50, nil},
		{-1, nil},
	}
	for _, c := range cases {
		got := a.Boxes(c.frame)
		if len(got) != len(c.want) {
			t.Fatalf("frame %d: %d boxes %+v, want %d", c.frame, len(got), got, len(c.want))
		}
		for i, w := range c.want {
			g := got[i]
			close := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
			if g.Track != w.track || !close(g.X, w.box.X) || !close(g.Y, w.box.Y) || !close(g.W, w.box.W) || !close(g.H, w.box.H) ||
				g.Keyframe != w.key || g.Occluded != w.occ {
				t.Errorf("frame %d box %d: %+v, want %+v", c.frame, i, g, w)
			}
		}
	}
	if got := a.Boxes(5); got[0].Label != "person" || got[1].Label != "dog" {
		t.Fatalf("labels %+v", got)
	}
	if got := a.keyframeFrames(); len(got) != 4 || got[0] != 0 || got[1] != 5 || got[2] != 10 || got[3] != 30 {
		t.Fatalf("keyframe frames %v, want [0 5 10 30]", got)
	}
}

func FuzzParseAnnotation(f *testing.F) {
	f.Add([]byte(validPayload))
	for _, c := range badPayloads {
		f.Add([]byte(strings.Replace(validPayload, c.old, c.new, 1)))
	}
	s := DefaultSchema()
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := ParseAnnotation(data, s)
		if err != nil {
			if !errors.Is(err, ErrAnnotation) {
				t.Fatalf("error not ErrAnnotation: %v", err)
			}
			return
		}
		// Every box of an accepted payload lies inside the frame, at any
		// frame (interpolation between inside boxes stays inside).
		for _, fr := range []int{0, 1, a.Frames / 2, a.Frames - 1} {
			for _, b := range a.Boxes(fr) {
				if !(b.W > 0 && b.H > 0 && b.X >= 0 && b.Y >= 0 && b.X+b.W <= float64(a.Width)+1e-6 && b.Y+b.H <= float64(a.Height)+1e-6) {
					t.Fatalf("frame %d: box %+v outside %dx%d", fr, b, a.Width, a.Height)
				}
			}
		}
		out, err := a.Marshal(s)
		if err != nil {
			t.Fatalf("marshal of a parsed payload: %v", err)
		}
		if _, err := ParseAnnotation(out, s); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
	})
}
