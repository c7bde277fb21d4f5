package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/dataset"
)

// labelCase is a payload the browser reads; Go's dataset.ParseAnnotation
// decides whether it is valid.
type labelCase struct {
	Name string `json:"name"`
	JSON string `json:"json"`
}

// labelRead is what the browser made of a labelCase: whether it accepted
// it (and why not), its boxes at frames -1 to frames (each [track, x, y, w,
// h, keyframe, occluded]) and what its toJSON wrote.
type labelRead struct {
	Name  string        `json:"name"`
	OK    bool          `json:"ok"`
	Error string        `json:"error"`
	Boxes [][][]float64 `json:"boxes"`
	JSON  string        `json:"json"`
}

type labelFrame struct {
	Frame int    `json:"frame"`
	Shown int    `json:"shown"`
	Luma  []byte `json:"luma"`
}

// TestBrowserLabelEditor: the web app's annotation code (web/src/label)
// against internal/dataset, and its editor on a real clip in Chromium
// (web/test/label-editor.mjs).
//
// The browser reads the test vector, generated payloads and edits of a
// valid payload (Go's refused cases and the corners of Go's JSON reader:
// keys in another case, repeated keys, nulls, numbers that are not whole)
// and must accept exactly those dataset.ParseAnnotation accepts, give the
// same boxes as Annotation.Boxes at every frame, and write what Marshal
// writes. Then, on 40 frames of vtest.avi made into an H.264 MP4, an
// annotator draws a box with the mouse around a pedestrian at frame 0,
// steps to frame 20 with the keyboard and drags the box after them, marks
// the track leaving view at frame 30 and submits; Go reads the payload
// and finds the keyframes where the mouse put them, frame 10 halfway
// between. The frames the video showed after each seek are the frames
// asked for (by requestVideoFrameCallback's report and by their pixels
// against ffmpeg's). On the way it marks frame 10 occluded and deletes that
// keyframe again, draws a second track and deletes it; the arrow keys move
// the selected box; axe-core finds no serious problem. A reviewer can send
// the payload back, or accept it; the annotator cannot.
//
// With VIGIL_SCREENSHOTS=1 the editor's screenshot goes to
// docs/screenshots/desktop-annotator.png.
func TestBrowserLabelEditor(t *testing.T) {
	browsertest.Require(t)
	schema := dataset.DefaultSchema()
	cases := labelCases(t)

	dir := t.TempDir()
	const fps, frames, width, height = 10, 40, 768, 576
	clip := filepath.Join(dir, "clip.mp4")
	runFFmpeg(t, "-i", "/usr/share/doc/opencv-doc/examples/data/vtest.avi", "-frames:v", fmt.Sprint(frames), "-an",
		"-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-movflags", "+faststart", clip)

	shots := t.TempDir()
	if os.Getenv("VIGIL_SCREENSHOTS") == "1" {
		shots = filepath.Join(browsertest.WebDir(t), "..", "docs", "screenshots")
	}
	draw := [4]float64{640, 240, 46, 82} // the pedestrian on the right of frame 0
	move := [2]float64{-202, -8}         // where they are at frame 20
	in := map[string]any{
		"cases": cases, "clip": clip, "id": "clip-vtest", "fps": fps, "width": width, "height": height, "frames": frames,
		"annotator": "ann-7", "reviewer": "rev-9", "draw": draw, "move": move,
	}
	var res struct {
		Read               []labelRead  `json:"read"`
		Frames             []labelFrame `json:"frames"`
		LumaSize           [2]int       `json:"lumaSize"`
		At10               string       `json:"at10"`
		Submitted          string       `json:"submitted"`
		Changes            int          `json:"changes"`
		SelfReviewDisabled bool         `json:"selfReviewDisabled"`
		ReviewTools        bool         `json:"reviewTools"`
		Accepted           string       `json:"accepted"`
		Screenshot         string       `json:"screenshot"`
		Nudged             [4]float64   `json:"nudged"`
		Axe                []string     `json:"axe"`
		Occluded           struct {
			Keys    [][]dataset.Keyframe `json:"keys"`
			Pressed string               `json:"pressed"`
		} `json:"occluded"`
		AfterDelKey [][]dataset.Keyframe `json:"afterDelKey"`
		Second      dataset.Track        `json:"second"`
		SentBack    string               `json:"sentBack"`
	}
	browsertest.Run(t, 5*time.Minute, "label-editor.mjs", map[string]string{"INPUT": writeInput(t, in), "SCREENSHOTS": shots}, &res)

	// The payload code: the browser accepts and refuses as Go does.
	if len(res.Read) != len(cases) {
		t.Fatalf("the browser read %d payloads, want %d", len(res.Read), len(cases))
	}
	refused := 0
	for i, c := range cases {
		checkLabelRead(t, c, res.Read[i], schema)
		if !res.Read[i].OK {
			refused++
		}
	}
	t.Logf("%d payloads, %d refused by both", len(cases), refused)

	// The editor's frames: the frame shown is the frame asked for.
	ref := lumaFrames(t, clip, res.LumaSize[0], res.LumaSize[1], frames)
	for _, f := range res.Frames {
		if f.Shown != f.Frame {
			t.Errorf("frame %d: the video reports presenting frame %d", f.Frame, f.Shown)
		}
		best, dists := nearestFrame(f.Luma, ref)
		if best != f.Frame {
			t.Errorf("frame %d: the picture shown is closest to ffmpeg's frame %d (mean differences %v)", f.Frame, best, dists)
		}
	}
	if len(res.Frames) != 4 {
		t.Errorf("%d frames checked, want 0, 20, 10 and 30", len(res.Frames))
	}

	// The annotator's payload.
	a, err := dataset.ParseAnnotation([]byte(res.Submitted), schema)
	if err != nil {
		t.Fatalf("the submitted payload: %v\n%s", err, res.Submitted)
	}
	if a.Clip != "clip-vtest" || a.FPS != fps || a.Width != width || a.Height != height || a.Frames != frames || a.Annotator != "ann-7" || a.Review.State != dataset.InReview || a.Review.Reviewer != "" {
		t.Errorf("submitted %+v: want clip-vtest's geometry, annotator ann-7, in review", a)
	}
	if len(a.Tracks) != 1 || a.Tracks[0].Label != "person" || len(a.Tracks[0].Keyframes) != 3 {
		t.Fatalf("submitted tracks %+v: want one person track with 3 keyframes", a.Tracks)
	}
	ks := a.Tracks[0].Keyframes
	moved := [4]float64{draw[0] + move[0], draw[1] + move[1], draw[2], draw[3]}
	if ks[0].Frame != 0 || ks[0].Box == nil || !near(*ks[0].Box, draw, 3) {
		t.Errorf("keyframe 0: %+v %v, want frame 0 box near %v", ks[0], ks[0].Box, draw)
	}
	if ks[1].Frame != 20 || ks[1].Box == nil || !near(*ks[1].Box, moved, 3) {
		t.Errorf("keyframe 1: %+v %v, want frame 20 box near %v", ks[1], ks[1].Box, moved)
	}
	if ks[2].Frame != 30 || !ks[2].Outside {
		t.Errorf("keyframe 2: %+v, want frame 30 outside", ks[2])
	}
	half := [4]float64{draw[0] + move[0]/2, draw[1] + move[1]/2, draw[2], draw[3]}
	if want := [4]float64{ks[1].Box[0] + 9, ks[1].Box[1], ks[1].Box[2], ks[1].Box[3]}; res.Nudged != want {
		t.Errorf("after Shift+ArrowRight and ArrowLeft the box is %v, want %v (then back)", res.Nudged, want)
	}
	if len(res.Axe) > 0 {
		t.Errorf("axe finds serious problems in the editor: %q", res.Axe)
	}
	if b := a.Boxes(10); len(b) != 1 || b[0].Keyframe || !near([4]float64{b[0].X, b[0].Y, b[0].W, b[0].H}, half, 3) {
		t.Errorf("frame 10: %+v, want an interpolated box near %v", b, half)
	}
	if b := a.Boxes(30); len(b) != 0 {
		t.Errorf("frame 30: %+v, want no box (the track left view)", b)
	}
	if !strings.Contains(res.At10, "interpolated") {
		t.Errorf("the track list at frame 10 says %q, want interpolated", res.At10)
	}
	if k := res.Occluded.Keys; len(k) != 1 || len(k[0]) != 3 || k[0][1].Frame != 10 || !k[0][1].Occluded || k[0][1].Box == nil || !near(*k[0][1].Box, half, 3) || res.Occluded.Pressed != "true" {
		t.Errorf("after Occluded at frame 10: %+v, want a keyframe at 10, occluded, with the interpolated box", res.Occluded)
	}
	if k := res.AfterDelKey; len(k) != 1 || len(k[0]) != 2 || k[0][1].Frame != 20 {
		t.Errorf("after Delete keyframe at frame 10: %+v, want the keyframes at 0 and 20", k)
	}
	if tr := res.Second; tr.ID != 2 || tr.Label != "person" || len(tr.Keyframes) != 1 || tr.Keyframes[0].Frame != 30 || tr.Keyframes[0].Box == nil || !near(*tr.Keyframes[0].Box, [4]float64{40, 400, 80, 120}, 3) {
		t.Errorf("the second track drawn at frame 30: %+v, want track 2 with a box near [40 400 80 120]", tr)
	}
	if res.Changes < 3 {
		t.Errorf("%d change events, want one per edit (draw, move, leaves view)", res.Changes)
	}

	// The review.
	if !res.SelfReviewDisabled {
		t.Error("the annotator could accept their own annotation")
	}
	if !res.ReviewTools {
		t.Error("the reviewer sees the editing tools")
	}
	sb, err := dataset.ParseAnnotation([]byte(res.SentBack), schema)
	if err != nil {
		t.Fatalf("the payload sent back: %v\n%s", err, res.SentBack)
	}
	if sb.Review.State != dataset.Rejected || sb.Review.Reviewer != "rev-9" {
		t.Errorf("sent back: %+v, want rejected by rev-9", sb.Review)
	}
	r, err := dataset.ParseAnnotation([]byte(res.Accepted), schema)
	if err != nil {
		t.Fatalf("the reviewed payload: %v\n%s", err, res.Accepted)
	}
	if r.Review.State != dataset.Accepted || r.Review.Reviewer != "rev-9" || r.Annotator != "ann-7" {
		t.Errorf("reviewed: %+v, annotator %s: want accepted by rev-9", r.Review, r.Annotator)
	}
	if sj, _ := json.Marshal(a.Tracks); !bytes.Equal(mustJSON(r.Tracks), sj) {
		t.Errorf("the reviewer's payload changed the tracks:\n%s\n%s", mustJSON(r.Tracks), sj)
	}
	if fi, err := os.Stat(res.Screenshot); err != nil || fi.Size() == 0 {
		t.Errorf("screenshot %s: %v", res.Screenshot, err)
	}
}

func near(a, b [4]float64, tol float64) bool {
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol {
			return false
		}
	}
	return true
}

func runFFmpeg(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("ffmpeg", append([]string{"-v", "error", "-nostdin", "-y"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg %q: %v\n%s", args, err, stderr.String())
	}
	return out
}

// lumaFrames decodes every frame of clip at w x h (area averaging, as the
// page averages) into grey levels computed from RGB as the page computes
// them.
func lumaFrames(t *testing.T, clip string, w, h, frames int) [][]byte {
	t.Helper()
	raw := runFFmpeg(t, "-i", clip, "-vf", fmt.Sprintf("scale=%d:%d:flags=area,format=rgb24", w, h), "-f", "rawvideo", "-")
	n := w * h * 3
	if len(raw) != n*frames {
		t.Fatalf("ffmpeg gave %d bytes, want %d frames of %d", len(raw), frames, n)
	}
	out := make([][]byte, frames)
	for f := range out {
		px := raw[f*n : (f+1)*n]
		out[f] = make([]byte, w*h)
		for i := range out[f] {
			out[f][i] = byte(math.Round(0.299*float64(px[3*i]) + 0.587*float64(px[3*i+1]) + 0.114*float64(px[3*i+2])))
		}
	}
	return out
}

// nearestFrame returns the reference frame whose grey levels are closest
// to got (mean absolute difference after removing each image's mean, so
// that a colour conversion's offset does not count), and the distances.
func nearestFrame(got []byte, ref [][]byte) (int, []float64) {
	centred := func(b []byte) []float64 {
		var sum float64
		for _, v := range b {
			sum += float64(v)
		}
		m := sum / float64(len(b))
		out := make([]float64, len(b))
		for i, v := range b {
			out[i] = float64(v) - m
		}
		return out
	}
	g := centred(got)
	best, dists := -1, make([]float64, len(ref))
	for f, r := range ref {
		if len(r) != len(got) {
			return -1, nil
		}
		c := centred(r)
		var d float64
		for i := range c {
			d += math.Abs(c[i] - g[i])
		}
		dists[f] = math.Round(d/float64(len(c))*100) / 100
		if best < 0 || dists[f] < dists[best] {
			best = f
		}
	}
	return best, dists
}

// checkLabelRead compares what the browser made of c with what Go makes of it.
func checkLabelRead(t *testing.T, c labelCase, got labelRead, s dataset.Schema) {
	t.Helper()
	a, err := dataset.ParseAnnotation([]byte(c.JSON), s)
	if (err == nil) != got.OK {
		t.Errorf("%s: Go: %v; the browser: ok=%v %s\n%s", c.Name, err, got.OK, got.Error, c.JSON)
		return
	}
	if err != nil {
		return
	}
	if len(got.Boxes) != a.Frames+2 {
		t.Errorf("%s: the browser gave boxes at %d frames, want %d", c.Name, len(got.Boxes), a.Frames+2)
		return
	}
	for i, bs := range got.Boxes {
		f := i - 1
		want := a.Boxes(f)
		if len(bs) != len(want) {
			t.Errorf("%s frame %d: the browser has %d boxes, Go %d", c.Name, f, len(bs), len(want))
			return
		}
		for j, w := range want {
			b := bs[j]
			flag := func(v bool) float64 {
				if v {
					return 1
				}
				return 0
			}
			// The same operations in the same order in float64: equal,
			// unless a compiler fuses a multiply and an add (Go may on
			// some architectures), hence the tolerance of 1e-9 pixel.
			if len(b) != 7 || int(b[0]) != w.Track || !closeTo(b[1], w.X) || !closeTo(b[2], w.Y) || !closeTo(b[3], w.W) || !closeTo(b[4], w.H) ||
				b[5] != flag(w.Keyframe) || b[6] != flag(w.Occluded) {
				t.Errorf("%s frame %d box %d: the browser has %v, Go %+v", c.Name, f, j, b, w)
				return
			}
		}
	}
	if a.Tracks == nil {
		a.Tracks = []dataset.Track{} // the browser writes no tracks as [], Go's nil as null
	}
	want, err := a.Marshal(s)
	if err != nil {
		t.Fatalf("%s: Marshal: %v", c.Name, err)
	}
	if got.JSON != string(want) {
		t.Errorf("%s: the browser writes\n%s\nGo writes\n%s", c.Name, got.JSON, want)
	}
}

func closeTo(a, b float64) bool { return math.Abs(a-b) <= 1e-9 }

// labelBase is a valid payload the edge cases edit.
const labelBase = `{"format":"vigil-annotation","version":1,"clip":"clip-1","fps":10,"width":100,"height":80,"frames":50,"schema_version":1,` +
	`"tracks":[{"id":1,"label":"person","keyframes":[{"frame":0,"box":[0,0,10,20]},{"frame":10,"box":[20.5,10.25,30,40]},{"frame":20,"outside":true},{"frame":30,"box":[50,20,10,10],"occluded":true}]},` +
	`{"id":7,"label":"dog","keyframes":[{"frame":5,"box":[60,60,40,20]}]}],` +
	`"annotator":"ann-1","review":{"state":"accepted","reviewer":"rev-2"}}`

// labelEdits are edits of labelBase (old -> new, the first occurrence):
// dataset's refused cases and the corners of Go's JSON reader, which the
// browser must read as Go does whichever way Go decides.
var labelEdits = []struct{ name, old, new string }{
	{"format", `"vigil-annotation"`, `"other"`},
	{"version 2", `"version":1`, `"version":2`},
	{"unknown field", `"fps":10`, `"fps":10,"colour":1`},
	{"clip path", `"clip":"clip-1"`, `"clip":"../x"`},
	{"clip with @", `"clip":"clip-1"`, `"clip":"a@b"`},
	{"fps zero", `"fps":10`, `"fps":0`},
	{"fps huge", `"fps":10`, `"fps":1000`},
	{"width zero", `"width":100`, `"width":0`},
	{"frames zero", `"frames":50`, `"frames":0`},
	{"schema version", `"schema_version":1`, `"schema_version":2`},
	{"label", `"label":"dog"`, `"label":"horse"`},
	{"id zero", `"id":7`, `"id":0`},
	{"id twice", `"id":7`, `"id":1`},
	{"no keyframes", `"keyframes":[{"frame":5,"box":[60,60,40,20]}]`, `"keyframes":[]`},
	{"keyframe order", `{"frame":10,"box"`, `{"frame":0,"box"`},
	{"keyframe past the clip", `{"frame":30,"box"`, `{"frame":50,"box"`},
	{"box past the right", `[60,60,40,20]`, `[61,60,40,20]`},
	{"box negative", `[0,0,10,20]`, `[-1,0,10,20]`},
	{"box empty", `[0,0,10,20]`, `[0,0,0,20]`},
	{"box three numbers", `[0,0,10,20]`, `[0,0,10]`},
	{"no box", `{"frame":5,"box":[60,60,40,20]}`, `{"frame":5}`},
	{"outside with box", `{"frame":20,"outside":true}`, `{"frame":20,"outside":true,"box":[0,0,1,1]}`},
	{"starts outside", `{"frame":5,"box":[60,60,40,20]}`, `{"frame":5,"outside":true}`},
	{"annotator missing", `"annotator":"ann-1"`, `"annotator":""`},
	{"state", `"state":"accepted"`, `"state":"done"`},
	{"accepted without reviewer", `"state":"accepted","reviewer":"rev-2"`, `"state":"accepted"`},
	{"self review", `"reviewer":"rev-2"`, `"reviewer":"ann-1"`},
	{"in review without reviewer", `"state":"accepted","reviewer":"rev-2"`, `"state":"in_review"`},
	{"trailing object", `"rev-2"}}`, `"rev-2"}}{}`},
	{"trailing brace", `"rev-2"}}`, `"rev-2"}}}`},
	{"trailing space", `"rev-2"}}`, "\"rev-2\"}} \n\t"},
	{"leading space", `{"format"`, " \r\n{\"format\""},
	{"not an object", `{"format"`, `[{"format"`},
	{"key in capitals", `"format":`, `"FORMAT":`},
	{"key with kelvin sign", `"keyframes":[{"frame":5`, `"\u212Aeyframes":[{"frame":5`},
	{"key with long s", `"state":`, `"\u017Ftate":`},
	{"key with other unicode", `"label":"dog"`, `"labél":"dog"`},
	{"escaped key and value", `"clip":"clip-1"`, `"\u0063lip":"\u0063lip-1"`},
	{"repeated key", `"clip":"clip-1"`, `"clip":"x","clip":"clip-2"`},
	{"repeated tracks merge", `"annotator":`, `"tracks":[{"label":"car"}],"annotator":`},
	{"repeated tracks shorter then longer", `"annotator":`, `"tracks":[{"id":3}],"tracks":[{"id":4},{"label":"cat"}],"annotator":`},
	{"repeated tracks emptied", `"annotator":`, `"tracks":[],"tracks":[{"id":4,"label":"cat","keyframes":[{"frame":1,"box":[1,1,1,1]}]}],"annotator":`},
	{"repeated review merges", `"review":{"state":"accepted","reviewer":"rev-2"}`, `"review":{"state":"accepted","reviewer":"rev-2"},"review":{"state":"rejected"}`},
	{"null review", `"review":{"state":"accepted","reviewer":"rev-2"}`, `"review":null`},
	{"null width", `"width":100`, `"width":null`},
	{"null tracks", `"annotator":`, `"tracks":null,"annotator":`},
	{"null track", `{"id":7,`, `null,{"id":7,`},
	{"null in a box", `[0,0,10,20]`, `[null,0,10,20]`},
	{"null box on outside", `{"frame":20,"outside":true}`, `{"frame":20,"outside":true,"box":null}`},
	{"null occluded", `"occluded":true`, `"occluded":null`},
	{"repeated frame key", `{"frame":5,`, `{"frame":3,"frame":5,`},
	{"frame 1.0", `{"frame":5,`, `{"frame":5.0,`},
	{"frame 5e0", `{"frame":5,`, `{"frame":5e0,`},
	{"frame as a string", `{"frame":5,`, `{"frame":"5",`},
	{"id beyond int64", `"id":7`, `"id":9223372036854775808`},
	{"id at int64", `"id":7`, `"id":9223372036854775807`},
	{"id 2^53-1", `"id":7`, `"id":9007199254740991`},
	{"id 2^53", `"id":7`, `"id":9007199254740992`},
	{"id minus zero", `"id":7`, `"id":-0`},
	{"fps 1e1", `"fps":10`, `"fps":1e1`},
	{"fps 1e400", `"fps":10`, `"fps":1e400`},
	{"fps long", `"fps":10`, `"fps":10.` + strings.Repeat("0", 2000) + `1`},
	{"box 1e-400", `[0,0,10,20]`, `[1e-400,0,10,20]`},
	{"box -0", `[0,0,10,20]`, `[0,-0.0,10,20]`},
	{"box huge", `[60,60,40,20]`, `[60,60,1e400,20]`},
	{"box a string", `[0,0,10,20]`, `"0,0,10,20"`},
	{"box an object", `[0,0,10,20]`, `{}`},
	{"outside 1", `"outside":true`, `"outside":1`},
	{"leading zero", `"fps":10`, `"fps":010`},
	{"plus sign", `"fps":10`, `"fps":+10`},
	{"point without digits", `"fps":10`, `"fps":10.`},
	{"control character in a string", `"annotator":"ann-1"`, "\"annotator\":\"ann\x01-1\""},
	{"bad escape", `"annotator":"ann-1"`, `"annotator":"ann\x-1"`},
	{"lone surrogate", `"annotator":"ann-1"`, `"annotator":"ann\ud800"`},
	{"byte order mark", `{"format"`, "\ufeff{\"format\""},
	{"deep nesting", `"fps":10`, `"fps":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000)},
	{"truncated", `"rev-2"}}`, `"rev-2"}`},
	{"label with a NUL", `"label":"dog"`, `"label":"dog\u0000"`},
}

// labelCases returns the test vector, generated valid payloads and the
// edits of labelBase.
func labelCases(t *testing.T) []labelCase {
	t.Helper()
	vec, err := os.ReadFile(filepath.Join("..", "dataset", "testdata", "annotation-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []labelCase{{"annotation-v1.json", string(vec)}, {"base", labelBase}, {"null", "null"}, {"empty", ""}}
	if _, err := dataset.ParseAnnotation(vec, dataset.DefaultSchema()); err != nil {
		t.Fatalf("the test vector: %v", err)
	}
	for _, e := range labelEdits {
		in := strings.Replace(labelBase, e.old, e.new, 1)
		if in == labelBase {
			t.Fatalf("edit %q: %q not found", e.name, e.old)
		}
		cases = append(cases, labelCase{e.name, in})
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range 40 {
		cases = append(cases, labelCase{fmt.Sprintf("generated %d", i), generatedPayload(t, rng)})
	}
	// Random edits of labelBase, a few bytes each (printable ASCII, so the
	// text reaches the browser as it is): Go decides.
	const alphabet = `{}[]:,"\ 0123456789.eE-+nulltruefalsexyz_`
	for i := range 300 {
		b := []byte(labelBase)
		for range 1 + rng.IntN(3) {
			p := rng.IntN(len(b))
			c := alphabet[rng.IntN(len(alphabet))]
			switch rng.IntN(3) {
			case 0:
				b[p] = c
			case 1:
				b = append(b[:p], b[p+1:]...)
			default:
				b = append(b[:p], append([]byte{c}, b[p:]...)...)
			}
		}
		cases = append(cases, labelCase{fmt.Sprintf("mutated %d", i), string(b)})
	}
	return cases
}

// generatedPayload makes a random valid payload: several tracks whose
// keyframes have boxes with fractional coordinates, outside and occluded
// keyframes, and a random review state.
func generatedPayload(t *testing.T, rng *rand.Rand) string {
	t.Helper()
	s := dataset.DefaultSchema()
	for {
		a := &dataset.Annotation{
			Format: dataset.AnnotationFormat, Version: dataset.AnnotationVersion, Clip: "gen-" + fmt.Sprint(rng.IntN(1000)),
			FPS: []float64{10, 15, 25, 29.97, 30}[rng.IntN(5)], Width: 16 + rng.IntN(1904), Height: 16 + rng.IntN(1064),
			Frames: 1 + rng.IntN(200), SchemaVersion: s.Version, Annotator: "ann-" + fmt.Sprint(rng.IntN(9)),
		}
		for id := 1; id <= 1+rng.IntN(5); id++ {
			tr := dataset.Track{ID: id*3 + rng.IntN(3), Label: s.Labels[rng.IntN(len(s.Labels))]}
			f := rng.IntN(a.Frames)
			for f < a.Frames {
				k := dataset.Keyframe{Frame: f}
				if len(tr.Keyframes) > 0 && rng.IntN(5) == 0 {
					k.Outside = true
				} else {
					x := rng.Float64() * float64(a.Width-2)
					y := rng.Float64() * float64(a.Height-2)
					w := (float64(a.Width) - x) * (0.05 + 0.9*rng.Float64())
					h := (float64(a.Height) - y) * (0.05 + 0.9*rng.Float64())
					if rng.IntN(3) == 0 { // whole pixels too
						x, y, w, h = math.Floor(x), math.Floor(y), math.Max(1, math.Floor(w)), math.Max(1, math.Floor(h))
					}
					k.Box = &dataset.Rect{x, y, w, h}
					k.Occluded = rng.IntN(4) == 0
				}
				tr.Keyframes = append(tr.Keyframes, k)
				f += 1 + rng.IntN(40)
			}
			a.Tracks = append(a.Tracks, tr)
		}
		switch rng.IntN(4) {
		case 0:
			a.Review = dataset.Review{State: dataset.Annotating}
		case 1:
			a.Review = dataset.Review{State: dataset.InReview}
		case 2:
			a.Review = dataset.Review{State: dataset.Accepted, Reviewer: "rev-x"}
		default:
			a.Review = dataset.Review{State: dataset.Rejected, Reviewer: "rev:y@z"}
		}
		b, err := a.Marshal(s)
		if err != nil {
			continue // a box rounded past the frame's edge, or ids that met: draw again
		}
		return string(b)
	}
}
