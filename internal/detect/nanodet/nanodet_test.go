package nanodet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"

	"vigil/internal/detect"
	"vigil/internal/detect/detecttest"
)

var (
	modelOnce sync.Once
	model     *Model
	loadErr   error
)

// testModel loads the installed model once per test binary.
func testModel(t testing.TB) *Model {
	t.Helper()
	modelOnce.Do(func() { model, loadErr = Load(DefaultDir()) })
	if loadErr != nil {
		t.Fatalf("loading the model: %v (run `make models` at the repository root)", loadErr)
	}
	return model
}

// frame decodes frame n of a sample video.
func frame(t testing.TB, video string, n, w, h int) *detect.RGB {
	return detecttest.Frame(t, video, n, w, h)
}

func people(ds []detect.Detection) []detect.Detection {
	var p []detect.Detection
	for _, d := range ds {
		if d.Label == "person" {
			p = append(p, d)
		}
	}
	return p
}

func TestPeopleInVtest(t *testing.T) {
	checkPeople(t, testModel(t))
}

// TestPeopleInVtest320 runs the network at 320x320: the ResizeBilinear
// sizes scale with the input, the rest of the graph is size-agnostic.
func TestPeopleInVtest320(t *testing.T) {
	m, err := LoadOptions(DefaultDir(), Options{InputSize: 320})
	if err != nil {
		t.Fatal(err)
	}
	if m.InputSize() != 320 {
		t.Fatalf("InputSize %d, want 320", m.InputSize())
	}
	checkPeople(t, m)
}

func checkPeople(t *testing.T, m *Model) {
	for _, n := range []int{0, 200, 400} {
		img := frame(t, "vtest.avi", n, 768, 576)
		ds, err := m.Detect(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		ps := people(ds)
		shaped := 0
		for _, p := range ps {
			t.Logf("frame %d: person %.2f at %.0f,%.0f %.0fx%.0f", n, p.Score, p.Box.X, p.Box.Y, p.Box.W, p.Box.H)
			b := p.Box
			if b.X < 0 || b.Y < 0 || b.X+b.W > 768 || b.Y+b.H > 576 {
				t.Errorf("frame %d: person box %+v outside the frame", n, b)
			}
			ok := b.H > b.W && b.H >= 40 && b.H <= 400
			if ok {
				shaped++
			} else if p.Score >= 0.5 {
				// Confident people must look like pedestrians seen from this camera.
				t.Errorf("frame %d: person box %+v (score %.2f) is not person-sized", n, b, p.Score)
			}
		}
		t.Logf("frame %d at %d: %d people, %d pedestrian-shaped", n, m.InputSize(), len(ps), shaped)
		if shaped < 3 {
			t.Errorf("frame %d: %d pedestrian-shaped people, want at least 3", n, shaped)
		}
	}
}

func TestNoPeopleInTree(t *testing.T) {
	m := testModel(t)
	img := frame(t, "tree.avi", 30, 320, 240)
	ds, err := m.Detect(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		t.Logf("  %s %.2f %+v", d.Label, d.Score, d.Box)
	}
	if ps := people(ds); len(ps) != 0 {
		t.Errorf("tree.avi: %d people, want none", len(ps))
	}
}

func TestMissingModel(t *testing.T) {
	_, err := Load(t.TempDir())
	if !errors.Is(err, ErrNoModel) {
		t.Fatalf("Load of an empty directory: %v, want ErrNoModel", err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte("make models")) {
		t.Errorf("error %q does not say to run make models", err)
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, o := range []Options{{InputSize: 100}, {InputSize: 330}, {InputSize: 1024}, {MinScore: 2}, {IoU: -1}, {Kernel: "sse"}, {Kernel: "AVX2"}} {
		if _, err := LoadOptions(DefaultDir(), o); err == nil {
			t.Errorf("LoadOptions(%+v) succeeded", o)
		}
	}
}

// TestKernels runs a Model with each micro-kernel the CPU runs, chosen per
// Model: each finds the same people as the default one (the kernels differ
// only in rounding), and "auto" is the fastest one.
func TestKernels(t *testing.T) {
	img := frame(t, "vtest.avi", 200, 768, 576)
	want, err := testModel(t).Detect(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if got := testModel(t).Kernel(); got != cpuKernels()[0].String() {
		t.Errorf("auto chose %s, want %s", got, cpuKernels()[0])
	}
	for _, k := range cpuKernels() {
		m, err := LoadOptions(DefaultDir(), Options{Kernel: k.String()})
		if err != nil {
			t.Fatal(err)
		}
		if m.Kernel() != k.String() {
			t.Errorf("Kernel() %s, want %s", m.Kernel(), k)
		}
		got, err := m.Detect(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		if len(people(got)) != len(people(want)) || len(people(want)) == 0 {
			t.Fatalf("%s: %d people, the default kernel %d", k, len(people(got)), len(people(want)))
		}
		for i, p := range people(got) {
			w := people(want)[i]
			if math.Abs(p.Score-w.Score) > 1e-3 || math.Abs(p.Box.X-w.Box.X) > 0.5 || math.Abs(p.Box.W-w.Box.W) > 0.5 || math.Abs(p.Box.H-w.Box.H) > 0.5 {
				t.Errorf("%s: person %d %+v, the default kernel %+v", k, i, p, w)
			}
		}
	}
}

func TestDetectRefusesBadFrames(t *testing.T) {
	m := testModel(t)
	for _, img := range []*detect.RGB{nil, {W: 0, H: 10}, {W: 4, H: 4, Pix: make([]byte, 47)}, {W: 1 << 16, H: 1, Pix: nil}} {
		if _, err := m.Detect(context.Background(), img); !errors.Is(err, detect.ErrFrameSize) {
			t.Errorf("Detect(%v): %v, want ErrFrameSize", img, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Detect(ctx, &detect.RGB{W: 2, H: 2, Pix: make([]byte, 12)}); !errors.Is(err, context.Canceled) {
		t.Errorf("Detect with a cancelled context: %v", err)
	}
	// A tiny frame still runs (scaled up into the input).
	if _, err := m.Detect(context.Background(), &detect.RGB{W: 3, H: 1, Pix: make([]byte, 9)}); err != nil {
		t.Errorf("Detect of a 3x1 frame: %v", err)
	}
}

var _ detect.Detector = (*Model)(nil)

// TestLetterbox checks the normalisation (BGR, NanoDet's mean and std),
// the aspect-keeping placement and the zero padding, shrinking and
// enlarging.
func TestLetterbox(t *testing.T) {
	for _, c := range []struct{ w, h, size, nw, nh int }{{800, 400, 416, 416, 208}, {100, 200, 128, 64, 128}} {
		img := &detect.RGB{W: c.w, H: c.h, Pix: make([]byte, c.w*c.h*3)}
		for k := 0; k < len(img.Pix); k += 3 {
			img.Pix[k], img.Pix[k+1], img.Pix[k+2] = 200, 100, 50
		}
		dst := make([]float32, c.size*c.size*3)
		scale := letterbox(img, dst, c.size)
		if want := float64(c.nw) / float64(c.w); scale != want {
			t.Errorf("%dx%d: scale %v, want %v", c.w, c.h, scale, want)
		}
		want := [3]float32{(50 - 103.53) / 57.375, (100 - 116.28) / 57.12, (200 - 123.675) / 58.395}
		for y := 0; y < c.size; y++ {
			for x := 0; x < c.size; x++ {
				for ch := 0; ch < 3; ch++ {
					got := dst[(y*c.size+x)*3+ch]
					exp := float32(0)
					if x < c.nw && y < c.nh {
						exp = want[ch]
					}
					if math.Abs(float64(got-exp)) > 1e-4 {
						t.Fatalf("%dx%d at %d,%d channel %d: %v, want %v", c.w, c.h, x, y, ch, got, exp)
					}
				}
			}
		}
	}
}

func TestDefaultDirFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("VIGIL_MODELS", dir)
	if got := DefaultDir(); got != dir {
		t.Errorf("DefaultDir with VIGIL_MODELS=%s: %s", dir, got)
	}
	if _, err := Load(DefaultDir()); !errors.Is(err, ErrNoModel) {
		t.Errorf("Load of an empty VIGIL_MODELS: %v, want ErrNoModel", err)
	}
}

// TestConcurrentDetect runs detections from several goroutines (runs are
// serialised; run with -race) and checks they agree.
func TestConcurrentDetect(t *testing.T) {
	m := testModel(t)
	img := frame(t, "vtest.avi", 200, 768, 576)
	want, err := m.Detect(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := m.Detect(context.Background(), img)
			if err == nil && len(got) != len(want) {
				err = fmt.Errorf("%d detections, want %d", len(got), len(want))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
