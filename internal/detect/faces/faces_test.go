package faces

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"testing"

	"vigil/internal/detect"
	"vigil/internal/detect/detecttest"
)

// megamindFrames are spread over Megamind.avi (270 frames, 720x528), an
// animated character talking to the camera.
var megamindFrames = []int{0, 30, 60, 90, 120, 150, 180, 210, 240, 269}

// frame decodes frame n of a sample video.
func frame(t testing.TB, video string, n, w, h int) *detect.RGB {
	return detecttest.Frame(t, video, n, w, h)
}

func newDetector(t testing.TB) *Detector {
	t.Helper()
	d, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestFacesInMegamind(t *testing.T) {
	d := newDetector(t)
	found := 0
	for _, n := range megamindFrames {
		img := frame(t, "Megamind.avi", n, 720, 528)
		ds, err := d.Detect(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range ds {
			b := f.Box
			if f.Label != Label || !(f.Score >= 0.5 && f.Score < 1) || b.X < 0 || b.Y < 0 || b.X+b.W > 720 || b.Y+b.H > 528 || b.Area() == 0 {
				t.Errorf("frame %d: bad detection %+v", n, f)
			}
		}
		t.Logf("frame %d: %d faces", n, len(ds))
		if len(ds) > 0 {
			found++
		}
	}
	if found*10 < len(megamindFrames)*7 {
		t.Errorf("a face in %d of %d Megamind frames, want most", found, len(megamindFrames))
	}
}

func TestNoFaceInTree(t *testing.T) {
	d := newDetector(t)
	for _, n := range []int{10, 40} {
		ds, err := d.Detect(context.Background(), frame(t, "tree.avi", n, 320, 240))
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 0 {
			t.Errorf("tree.avi frame %d: %v, want no face", n, ds)
		}
	}
}

// variance is the mean per-channel variance of the pixels in b.
func variance(img *detect.RGB, b detect.Box) float64 {
	r := b.Rect().Intersect(image.Rect(0, 0, img.W, img.H))
	var s, s2, n float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			for c := range 3 {
				v := float64(img.Pix[(y*img.W+x)*3+c])
				s, s2, n = s+v, s2+v*v, n+1
			}
		}
	}
	m := s / n
	return s2/n - m*m
}

// detail is the mean squared difference between horizontally and
// vertically neighbouring pixels in b (all channels): the fine structure a
// blur must remove.
func detail(img *detect.RGB, b detect.Box) float64 {
	r := b.Rect().Intersect(image.Rect(0, 0, img.W-1, img.H-1))
	var s, n float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			i := (y*img.W + x) * 3
			for c := range 3 {
				dx := float64(img.Pix[i+c]) - float64(img.Pix[i+3+c])
				dy := float64(img.Pix[i+c]) - float64(img.Pix[i+img.W*3+c])
				s += dx*dx + dy*dy
				n++
			}
		}
	}
	return s / n
}

func TestBlurDestroysFaces(t *testing.T) {
	d := newDetector(t)
	ctx := context.Background()
	blurred := 0
	for _, n := range megamindFrames {
		img := frame(t, "Megamind.avi", n, 720, 528)
		ds, err := d.Detect(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			continue
		}
		blurred++
		orig := bytes.Clone(img.Pix)
		boxes := make([]detect.Box, len(ds))
		for i, f := range ds {
			boxes[i] = f.Box
		}
		before := make([]float64, len(boxes))
		beforeVar := make([]float64, len(boxes))
		for i, b := range boxes {
			before[i], beforeVar[i] = detail(img, b), variance(img, b)
		}
		Blur(img, boxes)
		for i, b := range boxes {
			// The fine structure goes (detail falls ten- to a hundredfold
			// on these frames); only the coarse sketch of the cells stays,
			// so the variance of the whole box falls less.
			if after := detail(img, b); after > before[i]/5 {
				t.Errorf("frame %d box %v: detail %.0f -> %.0f, want a fifth or less", n, b, before[i], after)
			}
			// The dither adds an error of up to one Step to each cell
			// (uniform, so a variance of at most Step²/3).
			if after := variance(img, b); after > beforeVar[i]*0.75+Step*Step/3 {
				t.Errorf("frame %d box %v: variance %.0f -> %.0f, want a quarter less at least (plus the dither's)", n, b, beforeVar[i], after)
			}
			t.Logf("frame %d: detail %.0f -> %.1f, variance %.0f -> %.0f", n, before[i], detail(img, b), beforeVar[i], variance(img, b))
		}
		// Outside the grown boxes nothing changed.
		changed := 0
		for y := range img.H {
			for x := range img.W {
				inside := false
				for _, b := range boxes {
					g := detect.Box{X: b.X - b.W*Grow/2, Y: b.Y - b.H*Grow/2, W: b.W * (1 + Grow), H: b.H * (1 + Grow)}
					if image.Pt(x, y).In(g.Rect()) {
						inside = true
						break
					}
				}
				i := (y*img.W + x) * 3
				if !inside && !bytes.Equal(img.Pix[i:i+3], orig[i:i+3]) {
					changed++
				}
			}
		}
		if changed > 0 {
			t.Errorf("frame %d: %d pixels outside the boxes changed", n, changed)
		}
		after, err := d.Detect(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		// A face found again is one centred in a blurred box, or one that
		// overlaps it much. (A weak pattern spanning two blurred faces and
		// the unblurred pixels between them, as frame 30 can give when the
		// dither falls badly, is neither.)
		for _, f := range after {
			cx, cy := f.Box.X+f.Box.W/2, f.Box.Y+f.Box.H/2
			for _, b := range boxes {
				g := detect.Box{X: b.X - b.W*Grow/2, Y: b.Y - b.H*Grow/2, W: b.W * (1 + Grow), H: b.H * (1 + Grow)}
				if f.Box.IoU(b) > 0.3 || (cx >= g.X && cx < g.X+g.W && cy >= g.Y && cy < g.Y+g.H) {
					t.Errorf("frame %d: face %v still found after blurring %v", n, f, b)
				}
			}
		}
	}
	if blurred < 3 {
		t.Errorf("only %d frames had a face to blur", blurred)
	}
}

func TestBlurIgnoresBadBoxes(t *testing.T) {
	img, _ := detect.NewRGB(16, 16)
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	orig := bytes.Clone(img.Pix)
	Blur(img, []detect.Box{{X: 100, Y: 100, W: 5, H: 5}, {W: -1, H: 4}, {X: 2, Y: 2}})
	if !bytes.Equal(img.Pix, orig) {
		t.Error("empty or outside boxes changed the image")
	}
	Blur(nil, []detect.Box{{W: 1, H: 1}})
	Blur(img, []detect.Box{{X: -1e300, Y: -1e300, W: 1e301, H: 1e301}}) // the whole image
	// Blurring again changes little: nothing finer than the cells is left.
	once := bytes.Clone(img.Pix)
	Blur(img, []detect.Box{{X: -1e300, Y: -1e300, W: 1e301, H: 1e301}})
	for i := range once {
		if d := int(once[i]) - int(img.Pix[i]); d < -24 || d > 24 {
			t.Fatalf("byte %d: %d then %d", i, once[i], img.Pix[i])
		}
	}
	if bytes.Equal(once, orig) {
		t.Error("a box over the whole image changed nothing")
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{
		{MinSize: 4}, {MinSize: 100, MaxSize: 50}, {ShiftFactor: 2}, {ScaleFactor: 0.9},
		{IoU: 1}, {MinScore: 1}, {MinScore: -0.5},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestDetectRefusesBadFrame(t *testing.T) {
	d := newDetector(t)
	for _, img := range []*detect.RGB{nil, {W: 2, H: 2, Pix: make([]byte, 5)}} {
		if _, err := d.Detect(context.Background(), img); !errors.Is(err, detect.ErrFrameSize) {
			t.Errorf("frame %v: %v", img, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	img, _ := detect.NewRGB(64, 64)
	if _, err := d.Detect(ctx, img); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// BenchmarkDetect is one whole face detection on a 720x528 frame.
func BenchmarkDetect(b *testing.B) {
	d := newDetector(b)
	img := frame(b, "Megamind.avi", 60, 720, 528)
	ctx := context.Background()
	for b.Loop() {
		if _, err := d.Detect(ctx, img); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/frame")
}

// FuzzBlur checks that no box makes Blur panic or touch a pixel outside
// the grown box.
func FuzzBlur(f *testing.F) {
	f.Add(10.0, 10.0, 20.0, 20.0)
	f.Add(-5.0, -5.0, 100.0, 3.0)
	f.Add(63.5, 0.0, 0.5, 64.0)
	f.Fuzz(func(t *testing.T, x, y, w, h float64) {
		img, _ := detect.NewRGB(64, 48)
		for i := range img.Pix {
			img.Pix[i] = byte(i * 13)
		}
		orig := bytes.Clone(img.Pix)
		b := detect.Box{X: x, Y: y, W: w, H: h}
		Blur(img, []detect.Box{b})
		g := detect.Box{X: b.X - b.W*Grow/2, Y: b.Y - b.H*Grow/2, W: b.W * (1 + Grow), H: b.H * (1 + Grow)}
		r := g.Intersect(detect.Box{W: 64, H: 48}).Rect()
		for y := range img.H {
			for x := range img.W {
				i := (y*img.W + x) * 3
				if !image.Pt(x, y).In(r) && !bytes.Equal(img.Pix[i:i+3], orig[i:i+3]) {
					t.Fatalf("box %+v changed pixel %d,%d", b, x, y)
				}
			}
		}
	})
}

// TestConcurrentDetect runs one Detector from several goroutines (run with
// -race): every call must give the same answer as a lone one.
func TestConcurrentDetect(t *testing.T) {
	d := newDetector(t)
	img := frame(t, "Megamind.avi", 150, 720, 528)
	want, err := d.Detect(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			got, err := d.Detect(context.Background(), img)
			if err == nil && fmt.Sprint(got) != fmt.Sprint(want) {
				err = fmt.Errorf("got %v, want %v", got, want)
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkBlur blurs eleven overlapping 300x300 boxes of a 720x528 frame:
// redaction blurs each frame with the boxes of every frame within Hold of
// it (at 24 fps and the default 0.5 s, up to 25 frames' boxes), so a
// close-up face comes as many boxes, each a little moved.
func BenchmarkBlur(b *testing.B) {
	img := &detect.RGB{W: 720, H: 528, Pix: make([]byte, 720*528*3)}
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7 / 5)
	}
	var boxes []detect.Box
	for k := range 11 {
		boxes = append(boxes, detect.Box{X: 200 + float64(k)*3, Y: 100 + float64(k)*2, W: 300, H: 300})
	}
	b.SetBytes(int64(len(boxes)) * 360 * 360 * 3)
	for b.Loop() {
		Blur(img, boxes)
	}
}
