package redact

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/detect"
	"vigil/internal/detect/detecttest"
	"vigil/internal/detect/faces"
	"vigil/internal/detect/frames"
	"vigil/internal/detect/nanodet"
)

var (
	modelOnce sync.Once
	model     *nanodet.Model
	modelErr  error
)

// persons is the hub's person detector at the threshold vigil redact uses.
func persons(t testing.TB) *nanodet.Model {
	t.Helper()
	modelOnce.Do(func() {
		model, modelErr = nanodet.LoadOptions(nanodet.DefaultDir(), nanodet.Options{MinScore: PersonScore})
	})
	if modelErr != nil {
		t.Fatalf("%v (hint: make models)", modelErr)
	}
	return model
}

// ffmpeg runs ffmpeg with args and fails the test on error.
func ffmpeg(t testing.TB, args ...string) {
	t.Helper()
	var errb bytes.Buffer
	cmd := exec.Command("ffmpeg", append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, args...)...)
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg %v: %v: %s", args, err, errb.String())
	}
}

// streams lists the codec types and names of a file's streams, e.g.
// "video:h264:yuv420p audio:aac:".
func streams(t testing.TB, path string) string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,pix_fmt",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var s []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(l, ",")
		s = append(s, strings.Join(f, ":"))
	}
	return strings.Join(s, " ")
}

// shortClip is the first seconds of a sample video with a tone as sound,
// as an MP4.
func shortClip(t testing.TB, video string, seconds string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), strings.TrimSuffix(video, filepath.Ext(video))+".mp4")
	ffmpeg(t, "-i", filepath.Join(detecttest.Footage, video), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-map", "0:v:0", "-map", "1:a:0", "-t", seconds, "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-shortest", p)
	return p
}

// eachFrame calls fn with every frame of a video at its own size.
func eachFrame(t testing.TB, path string, fn func(i int, img *detect.RGB)) int {
	t.Helper()
	r, err := frames.File(path, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := r.Run(context.Background(), func(f *frames.Frame) error {
		fn(int(f.Index), f.Img)
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// pigoFaces counts the frames of a video in which pigo, at its own
// customary threshold, finds a face.
func pigoFaces(t testing.TB, path string) (withFace, total int) {
	t.Helper()
	d, err := faces.New(faces.Options{})
	if err != nil {
		t.Fatal(err)
	}
	total = eachFrame(t, path, func(i int, img *detect.RGB) {
		ds, err := d.Detect(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) > 0 {
			withFace++
		}
	})
	return withFace, total
}

func TestClipBlursFacesDropsAudio(t *testing.T) {
	in := shortClip(t, "Megamind.avi", "2")
	if got := streams(t, in); !strings.Contains(got, "audio") {
		t.Fatalf("the input has no sound: %s", got)
	}
	before, n := pigoFaces(t, in)
	t.Logf("original: a face in %d of %d frames (pigo)", before, n)
	if before*2 < n {
		t.Fatalf("pigo finds a face in only %d of %d frames of the original", before, n)
	}

	out := filepath.Join(t.TempDir(), "redacted.mp4")
	var progress []Progress
	rep, err := Clip(context.Background(), in, out, Options{Persons: persons(t), Progress: func(p Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %+v", rep)
	if rep.Frames != n || rep.Width != 720 || rep.Height != 528 || rep.Audio {
		t.Errorf("report %+v: want %d frames of 720x528, no audio", rep, n)
	}
	if rep.FaceFrames < before/2 || rep.FaceBoxes < rep.FaceFrames || rep.BlurredFrames < rep.FaceFrames {
		t.Errorf("report %+v: want faces found in most frames, each of them blurred", rep)
	}
	if len(progress) != rep.Frames || progress[len(progress)-1].Frames != rep.Frames || progress[0].Total != n {
		t.Errorf("progress: %d calls, first %+v, want one per frame counting to %d of %d", len(progress), progress[0], rep.Frames, n)
	}
	if got := streams(t, out); got != "h264:video:yuv420p" && got != "video:h264:yuv420p" {
		t.Errorf("output streams %q, want one H.264 yuv420p video and no sound", got)
	}
	after, m := pigoFaces(t, out)
	t.Logf("redacted: a face in %d of %d frames (pigo)", after, m)
	if m != n || after != 0 {
		t.Errorf("redacted: a face in %d of %d frames, want none of %d", after, m, n)
	}
	// faststart: the moov box comes before the media data.
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if moov, mdat := bytes.Index(b, []byte("moov")), bytes.Index(b, []byte("mdat")); moov < 0 || mdat < 0 || moov > mdat {
		t.Errorf("moov at %d, mdat at %d: want faststart", moov, mdat)
	}
	// Nothing left behind next to the output.
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
		t.Errorf("output directory holds %d files, want only the clip", len(ents))
	}
}

func TestClipKeepsAudio(t *testing.T) {
	in := shortClip(t, "Megamind.avi", "1")
	out := filepath.Join(t.TempDir(), "with-sound.mp4")
	rep, err := Clip(context.Background(), in, out, Options{Persons: persons(t), KeepAudio: true, Hold: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Audio {
		t.Errorf("report %+v: want audio", rep)
	}
	got := streams(t, out)
	if !strings.Contains(got, "audio") || !strings.Contains(got, "aac") || !strings.Contains(got, "h264") {
		t.Errorf("streams %q: want H.264 video and AAC sound", got)
	}
}

// TestHeadsBlurredWithoutFaces: in vtest.avi the people are too small for
// a face detector; their heads are blurred from their person boxes.
func TestHeadsBlurredWithoutFaces(t *testing.T) {
	in := shortClip(t, "vtest.avi", "0.5")
	out := filepath.Join(t.TempDir(), "heads.mp4")
	rep, err := Clip(context.Background(), in, out, Options{Persons: persons(t), Plates: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report: %+v", rep)
	if rep.HeadBoxes < rep.Frames || rep.BlurredFrames != rep.Frames {
		t.Errorf("report %+v: want several heads in every frame, every frame blurred", rep)
	}
	// The head region of each person the detector finds in the original's
	// first frame has lost its detail in the output's.
	var orig, red *detect.RGB
	eachFrame(t, in, func(i int, img *detect.RGB) {
		if i == 0 {
			orig = &detect.RGB{W: img.W, H: img.H, Pix: bytes.Clone(img.Pix)}
		}
	})
	eachFrame(t, out, func(i int, img *detect.RGB) {
		if i == 0 {
			red = &detect.RGB{W: img.W, H: img.H, Pix: bytes.Clone(img.Pix)}
		}
	})
	ps, err := persons(t).Detect(context.Background(), orig)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range ps {
		if p.Label != "person" {
			continue
		}
		h := headRegion(p.Box)
		if h.W < 12 || h.H < 12 {
			continue
		}
		a, b := detail(orig, h), detail(red, h)
		if a < 20 {
			continue // too flat to tell
		}
		checked++
		t.Logf("a head region: detail %.0f -> %.1f", a, b)
		if b > a/3 {
			t.Errorf("head of %v: detail %.0f -> %.0f, want a third or less", p.Box, a, b)
		}
	}
	if checked < 2 {
		t.Errorf("only %d people checked", checked)
	}
}

// detail is the mean squared difference between neighbouring 3x3-pixel
// blocks in b (all channels): the structure of a face, with the
// redaction's pixel grain averaged away.
func detail(img *detect.RGB, b detect.Box) float64 {
	const k = 3
	r := b.Rect()
	x0, y0 := max(r.Min.X, 0), max(r.Min.Y, 0)
	bw, bh := (min(r.Max.X, img.W)-x0)/k, (min(r.Max.Y, img.H)-y0)/k
	if bw < 2 || bh < 2 {
		return 0
	}
	blocks := make([][3]float64, bw*bh)
	for by := range bh {
		for bx := range bw {
			for y := y0 + by*k; y < y0+(by+1)*k; y++ {
				for x := x0 + bx*k; x < x0+(bx+1)*k; x++ {
					for c := range 3 {
						blocks[by*bw+bx][c] += float64(img.Pix[(y*img.W+x)*3+c]) / (k * k)
					}
				}
			}
		}
	}
	var s, n float64
	for by := range bh - 1 {
		for bx := range bw - 1 {
			p := blocks[by*bw+bx]
			for c := range 3 {
				dx, dy := p[c]-blocks[by*bw+bx+1][c], p[c]-blocks[(by+1)*bw+bx][c]
				s += dx*dx + dy*dy
				n++
			}
		}
	}
	return s / n
}

// TestClipRotated: a phone's clip, stored sideways with a rotation,
// comes out upright at its turned size.
func TestClipRotated(t *testing.T) {
	dir := t.TempDir()
	flat, in := filepath.Join(dir, "flat.mp4"), filepath.Join(dir, "rotated.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "0.5", "-c:v", "libx264", "-pix_fmt", "yuv420p", flat)
	ffmpeg(t, "-i", flat, "-c", "copy", "-metadata:s:v:0", "rotate=90", in)
	out := filepath.Join(dir, "out.mp4")
	rep, err := Clip(context.Background(), in, out, Options{Persons: persons(t)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Width != 120 || rep.Height != 160 || rep.Frames != 5 {
		t.Errorf("report %+v: want 5 frames of 120x160", rep)
	}
	n := eachFrame(t, out, func(i int, img *detect.RGB) {
		if img.W != 120 || img.H != 160 {
			t.Fatalf("frame %d is %dx%d, want 120x160", i, img.W, img.H)
		}
	})
	if n != 5 {
		t.Errorf("%d frames, want 5", n)
	}
}

func TestClipRefuses(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	p := persons(t)
	corrupt := filepath.Join(dir, "corrupt.mp4")
	junk := bytes.Repeat([]byte("not a video at all "), 1000)
	if err := os.WriteFile(corrupt, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.mp4")
	if _, err := Clip(ctx, corrupt, out, Options{Persons: p}); !errors.Is(err, ErrNotVideo) || !strings.Contains(err.Error(), "corrupt.mp4") {
		t.Errorf("corrupt input: %v, want ErrNotVideo naming the file", err)
	}
	// A real header cut short: ffprobe reads it, the frames do not follow.
	good := shortClip(t, "Megamind.avi", "1")
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.mp4")
	if err := os.WriteFile(cut, append(bytes.Clone(b[:len(b)/3]), junk...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Clip(ctx, cut, out, Options{Persons: p}); err == nil {
		t.Errorf("a truncated clip was redacted")
	}
	if _, err := Clip(ctx, filepath.Join(dir, "missing.mp4"), out, Options{Persons: p}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing input: %v", err)
	}
	if _, err := Clip(ctx, good, out, Options{}); !errors.Is(err, ErrNoPersons) {
		t.Errorf("no person detector: %v", err)
	}
	if _, err := Clip(ctx, good, good, Options{Persons: p, Overwrite: true}); err == nil {
		t.Errorf("the input was overwritten by its own redaction")
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed run left an output: %v", err)
	}
	if err := os.WriteFile(out, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Clip(ctx, good, out, Options{Persons: p}); !errors.Is(err, ErrExists) {
		t.Errorf("existing output: %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep me" {
		t.Errorf("existing output changed")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Clip(cctx, good, filepath.Join(dir, "cancelled.mp4"), Options{Persons: p}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want the two inputs and the kept output", names)
	}
}

// BenchmarkRedact redacts the whole of Megamind.avi (720x528, 270 frames)
// and reports frames per second.
func BenchmarkRedact(b *testing.B) {
	in := filepath.Join(detecttest.Footage, "Megamind.avi")
	p := persons(b)
	dir := b.TempDir()
	frames := 0
	for b.Loop() {
		rep, err := Clip(context.Background(), in, filepath.Join(dir, "out.mp4"), Options{Persons: p, Overwrite: true})
		if err != nil {
			b.Fatal(err)
		}
		frames += rep.Frames
	}
	b.ReportMetric(float64(frames)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkGrain adds grain to a 300x300 box (360x360 grown) of a 720x528
// frame, as emit does for each box it blurs.
func BenchmarkGrain(b *testing.B) {
	img := &detect.RGB{W: 720, H: 528, Pix: make([]byte, 720*528*3)}
	box := detect.Box{X: 200, Y: 100, W: 300, H: 300}
	noise := rand.NewChaCha8([32]byte{})
	b.SetBytes(360 * 360 * 3)
	for b.Loop() {
		grain(img, box, noise)
	}
}

// onePerson is a person detector that finds one person, in the frame
// numbered at (counting its calls: Clip asks once per frame, in order),
// and nobody elsewhere: where a box is applied can then be told frame by
// frame. A real detector cannot be told to see someone in one frame only.
type onePerson struct {
	at, calls int
	box       detect.Box
}

func (p *onePerson) Detect(context.Context, *detect.RGB) ([]detect.Detection, error) {
	p.calls++
	if p.calls-1 != p.at {
		return nil, nil
	}
	return []detect.Detection{{Label: "person", Score: 0.9, Box: p.box}}, nil
}
func (p *onePerson) InputSize() int   { return 320 }
func (p *onePerson) Labels() []string { return []string{"person"} }
func (p *onePerson) Close() error     { return nil }

// TestHoldWindow: a head found in one frame is blurred in exactly the
// frames within Hold of it, before and after, and in no other (whatever
// order Clip searches and blurs frames in); with a negative Hold, in its
// own frame only.
func TestHoldWindow(t *testing.T) {
	in := filepath.Join(t.TempDir(), "pattern.mp4")
	ffmpeg(t, "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-t", "3", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", in)
	var orig []float64
	head := headRegion(detect.Box{X: 100, Y: 40, W: 100, H: 180})
	eachFrame(t, in, func(i int, img *detect.RGB) { orig = append(orig, detail(img, head)) })
	const found = 15
	for _, c := range []struct {
		hold       time.Duration
		first, end int // the frames blurred: [first, end)
	}{
		{250 * time.Millisecond, found - 3, found + 4}, // 2.5 frames, rounded up
		{-1, found, found + 1},
	} {
		out := filepath.Join(t.TempDir(), "out.mp4")
		p := &onePerson{at: found, box: detect.Box{X: 100, Y: 40, W: 100, H: 180}}
		rep, err := Clip(context.Background(), in, out, Options{Persons: p, Hold: c.hold})
		if err != nil {
			t.Fatal(err)
		}
		if rep.FaceBoxes != 0 || rep.HeadBoxes != 1 || rep.BlurredFrames != c.end-c.first || rep.Frames != len(orig) {
			t.Fatalf("hold %v: report %+v, want one head, %d frames blurred of %d, no face", c.hold, rep, c.end-c.first, len(orig))
		}
		eachFrame(t, out, func(i int, img *detect.RGB) {
			d := detail(img, head)
			if orig[i] < 20 {
				t.Fatalf("frame %d: detail %.0f in the head region: the pattern is too flat to tell", i, orig[i])
			}
			blurred := d < orig[i]/3
			if want := i >= c.first && i < c.end; blurred != want {
				t.Errorf("hold %v: frame %d blurred %v (detail %.0f -> %.0f), want %v", c.hold, i, blurred, orig[i], d, want)
			}
		})
	}
}
