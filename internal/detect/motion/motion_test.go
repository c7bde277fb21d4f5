package motion

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"vigil/internal/detect"
	"vigil/internal/vigiltest"
)

const footage = "/usr/share/doc/opencv-doc/examples/data/"

// scene draws synthetic frames: a fixed random texture, per-frame noise and
// an optional bright square.
type scene struct {
	w, h  int
	bg    []byte
	rng   *rand.Rand
	noise int // per-pixel noise amplitude (+-noise)
}

func newScene(w, h, noise int) *scene {
	s := &scene{w: w, h: h, bg: make([]byte, w*h), rng: rand.New(rand.NewPCG(1, 2)), noise: noise}
	for i := range s.bg {
		s.bg[i] = byte(40 + s.rng.IntN(161))
	}
	return s
}

// frame returns the scene with a side x side square of grey 250 at (sx, sy)
// (none when side is 0) and every pixel brightened by offset.
func (s *scene) frame(sx, sy, side, offset int) *detect.Gray {
	g := &detect.Gray{W: s.w, H: s.h, Pix: make([]byte, s.w*s.h)}
	for y := range s.h {
		for x := range s.w {
			v := int(s.bg[y*s.w+x])
			if side > 0 && x >= sx && x < sx+side && y >= sy && y < sy+side {
				v = 250
			}
			if s.noise > 0 {
				v += s.rng.IntN(2*s.noise+1) - s.noise
			}
			g.Pix[y*s.w+x] = byte(min(max(v+offset, 0), 255))
		}
	}
	return g
}

func mustNew(t testing.TB, cfg Config, w, h int) *Detector {
	t.Helper()
	d, err := New(cfg, w, h)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustDetect(t testing.TB, d *Detector, g *detect.Gray) Result {
	t.Helper()
	r, err := d.Detect(g)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMovingSquare(t *testing.T) {
	for _, contrast := range []bool{true, false} {
		s := newScene(320, 180, 4)
		d := mustNew(t, Config{ImproveContrast: &contrast}, 320, 180)
		for range 5 {
			if r := mustDetect(t, d, s.frame(0, 0, 0, 0)); len(r.Boxes) != 0 {
				t.Fatalf("contrast=%v: static warm-up frame has motion %v", contrast, r.Boxes)
			}
		}
		const side = 24
		for i := range 30 {
			sx, sy := 20+8*i, 60+i
			sq := detect.Box{X: float64(sx), Y: float64(sy), W: side, H: side}
			r := mustDetect(t, d, s.frame(sx, sy, side, 0))
			if r.Recalibrated {
				t.Fatalf("contrast=%v frame %d: recalibrated on a moving square", contrast, i)
			}
			best := 0.0
			for _, b := range r.Boxes {
				best = max(best, b.IoU(sq))
			}
			if best < 0.6 {
				t.Errorf("contrast=%v frame %d: square %v, boxes %v (best IoU %.2f)", contrast, i, sq, r.Boxes, best)
			}
			if len(r.Boxes) > 2 {
				t.Errorf("contrast=%v frame %d: %d boxes for one square: %v", contrast, i, len(r.Boxes), r.Boxes)
			}
			if r.Changed <= 0 || r.Changed > 0.05 {
				t.Errorf("contrast=%v frame %d: Changed = %g", contrast, i, r.Changed)
			}
		}
		if st := d.Stats(); st.Frames != 35 || st.MotionFrames != 30 || st.Recalibrations != 0 {
			t.Errorf("contrast=%v: stats %+v", contrast, st)
		}
	}
}

func TestStaticAndNoise(t *testing.T) {
	for _, noise := range []int{0, 4, 12} {
		s := newScene(320, 180, noise)
		d := mustNew(t, Config{}, 320, 180)
		for i := range 40 {
			r := mustDetect(t, d, s.frame(0, 0, 0, 0))
			if len(r.Boxes) != 0 || r.Recalibrated {
				t.Errorf("noise %d frame %d: %+v", noise, i, r)
			}
		}
	}
	// A still square is part of the scene, not motion.
	s := newScene(320, 180, 4)
	d := mustNew(t, Config{}, 320, 180)
	for i := range 20 {
		if r := mustDetect(t, d, s.frame(100, 50, 30, 0)); len(r.Boxes) != 0 {
			t.Errorf("still square frame %d: %v", i, r.Boxes)
		}
	}
}

func TestLightsOn(t *testing.T) {
	for _, contrast := range []bool{false, true} {
		s := newScene(320, 180, 4)
		d := mustNew(t, Config{ImproveContrast: &contrast}, 320, 180)
		for range 10 {
			mustDetect(t, d, s.frame(0, 0, 0, 0))
		}
		r := mustDetect(t, d, s.frame(0, 0, 0, 60))
		if len(r.Boxes) != 0 {
			t.Errorf("contrast=%v: lights on gave motion %v", contrast, r.Boxes)
		}
		if !contrast && (!r.Recalibrated || r.Changed < 0.8 || d.Stats().Recalibrations != 1) {
			t.Errorf("contrast=%v: lights on: %+v, stats %+v; want a recalibration", contrast, r, d.Stats())
		}
		for i := range 20 {
			r := mustDetect(t, d, s.frame(0, 0, 0, 60))
			if len(r.Boxes) != 0 || r.Recalibrated {
				t.Errorf("contrast=%v frame %d after lights on: %+v", contrast, i, r)
			}
		}
		// Motion is still seen after the recalibration.
		r = mustDetect(t, d, s.frame(150, 80, 24, 60))
		if len(r.Boxes) == 0 {
			t.Errorf("contrast=%v: square after lights on not found", contrast)
		}
	}
}

func TestIRSwitch(t *testing.T) {
	// A camera switching to infrared changes the picture as a whole (here:
	// inverted); with a lower lightning threshold that is a recalibration.
	s := newScene(320, 180, 2)
	d := mustNew(t, Config{LightningThreshold: 0.5}, 320, 180)
	for range 5 {
		mustDetect(t, d, s.frame(0, 0, 0, 0))
	}
	g := s.frame(0, 0, 0, 0)
	for i, v := range g.Pix {
		g.Pix[i] = 255 - v
	}
	r := mustDetect(t, d, g)
	if !r.Recalibrated || len(r.Boxes) != 0 {
		t.Errorf("inverted frame: %+v, want recalibration and no boxes", r)
	}
	if r := mustDetect(t, d, g); r.Recalibrated || len(r.Boxes) != 0 {
		t.Errorf("frame after the switch: %+v", r)
	}
}

func TestMask(t *testing.T) {
	// The square moves along y 60..114, x 20..276: mask the band y 0.3..0.75.
	band := [][]Point{{{0, 0.3}, {1, 0.3}, {1, 0.75}, {0, 0.75}}}
	s := newScene(320, 180, 4)
	d := mustNew(t, Config{Mask: band}, 320, 180)
	// An unmasked control detector sees the same frames.
	ctl := mustNew(t, Config{}, 320, 180)
	for range 5 {
		g := s.frame(0, 0, 0, 0)
		mustDetect(t, d, g)
		mustDetect(t, ctl, g)
	}
	for i := range 20 {
		g := s.frame(20+8*i, 60+i, 24, 0)
		if r := mustDetect(t, d, g); len(r.Boxes) != 0 || r.Changed != 0 {
			t.Errorf("frame %d: masked square gave %+v", i, r)
		}
		if r := mustDetect(t, ctl, g); len(r.Boxes) == 0 {
			t.Errorf("frame %d: control detector missed the square", i)
		}
	}
	// Outside the mask, motion is still found.
	if r := mustDetect(t, d, s.frame(100, 140, 24, 0)); len(r.Boxes) == 0 {
		t.Error("square below the masked band not found")
	}
}

func TestRasterise(t *testing.T) {
	// A triangle over the right half's top: pixel centres inside are 0.
	m, err := rasterise([][]Point{{{0.5, 0}, {1, 0}, {1, 1}}}, 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	for y := range 10 {
		for x := range 10 {
			cx, cy := (float64(x)+0.5)/10, (float64(y)+0.5)/10
			inside := cx >= 0.5 && cy < 2*(cx-0.5)
			if got := m[y*10+x] == 0; got != inside {
				t.Errorf("(%d,%d): masked=%v, want %v", x, y, got, inside)
			}
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		w, h int
	}{
		{"size", Config{}, 0, 10},
		{"huge", Config{}, 100000, 100000},
		{"threshold", Config{Threshold: 300}, 32, 32},
		{"area", Config{ContourArea: -1}, 32, 32},
		{"alpha", Config{FrameAlpha: 2}, 32, 32},
		{"lightning", Config{LightningThreshold: -0.5}, 32, 32},
		{"mask points", Config{Mask: [][]Point{{{0, 0}, {1, 1}}}}, 32, 32},
		{"mask range", Config{Mask: [][]Point{{{0, 0}, {2, 0}, {1, 1}}}}, 32, 32},
	} {
		if _, err := New(tc.cfg, tc.w, tc.h); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", tc.name, err)
		}
	}
	d := mustNew(t, Config{}, 32, 32)
	if _, err := d.Detect(&detect.Gray{W: 32, H: 32, Pix: make([]byte, 10)}); !errors.Is(err, detect.ErrFrameSize) {
		t.Errorf("short frame: err = %v", err)
	}
	if _, err := d.Detect(nil); !errors.Is(err, detect.ErrFrameSize) {
		t.Errorf("nil frame: err = %v", err)
	}
}

func TestScaler(t *testing.T) {
	if w, h := SmallSize(768, 576, 180); w != 240 || h != 180 {
		t.Errorf("SmallSize(768,576,180) = %d,%d", w, h)
	}
	if w, h := SmallSize(1920, 1080, 180); w != 320 || h != 180 {
		t.Errorf("SmallSize(1920,1080,180) = %d,%d", w, h)
	}
	b := ScaleBox(detect.Box{X: 10, Y: 20, W: 30, H: 40}, 320, 180, 1920, 1080)
	if b != (detect.Box{X: 60, Y: 120, W: 180, H: 240}) {
		t.Errorf("ScaleBox = %v", b)
	}
	// 6x4 RGB -> 3x2 grey: each small pixel averages a 2x2 block.
	src, _ := detect.NewRGB(6, 4)
	for y := range 4 {
		for x := range 6 {
			v := byte(10*x + 40*y)
			copy(src.Pix[(y*6+x)*3:], []byte{v, v, v})
		}
	}
	s, err := NewScaler(6, 4, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	dst := s.NewGray()
	if err := s.RGB(dst, src); err != nil {
		t.Fatal(err)
	}
	for y := range 2 {
		for x := range 3 {
			want := 20*x + 80*y + 25 // mean of the 2x2 block
			if got := int(dst.Pix[y*3+x]); got < want-1 || got > want+1 {
				t.Errorf("RGB (%d,%d) = %d, want %d", x, y, got, want)
			}
		}
	}
	gsrc := &detect.Gray{W: 6, H: 4, Pix: make([]byte, 24)}
	for i := range gsrc.Pix {
		gsrc.Pix[i] = byte(i * 10)
	}
	if err := s.Gray(dst, gsrc); err != nil {
		t.Fatal(err)
	}
	if dst.Pix[0] != (0+10+60+70+2)/4 {
		t.Errorf("Gray (0,0) = %d", dst.Pix[0])
	}
	if err := s.Gray(dst, &detect.Gray{W: 6, H: 4, Pix: make([]byte, 5)}); !errors.Is(err, detect.ErrFrameSize) {
		t.Errorf("short source: err = %v", err)
	}
	if _, err := NewScaler(6, 4, 12, 2); !errors.Is(err, detect.ErrFrameSize) {
		t.Errorf("upscale: err = %v", err)
	}
}

// decodeGray decodes a clip to raw grey frames with ffmpeg.
func decodeGray(t *testing.T, file string, w, h int, fps string) []*detect.Gray {
	t.Helper()
	ff := vigiltest.RequireTool(t, "ffmpeg", "ffmpeg")
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("%v: install opencv-doc (apt-get install opencv-doc)", err)
	}
	vf := "scale=" + strconv.Itoa(w) + ":" + strconv.Itoa(h)
	args := []string{"-nostdin", "-loglevel", "error", "-i", file}
	if fps != "" {
		vf = "fps=" + fps + "," + vf
	} else {
		args = append(args, "-fps_mode", "passthrough")
	}
	args = append(args, "-vf", vf, "-pix_fmt", "gray", "-f", "rawvideo", "-")
	out, err := exec.Command(ff, args...).Output()
	if err != nil {
		t.Fatalf("ffmpeg %s: %v", file, err)
	}
	var frames []*detect.Gray
	for n := w * h; len(out) >= n; out = out[n:] {
		frames = append(frames, &detect.Gray{W: w, H: h, Pix: bytes.Clone(out[:n])})
	}
	return frames
}

func itoa(i int) string {
	return string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}

func TestFootage(t *testing.T) {
	for _, tc := range []struct {
		file      string
		fps       string
		minFrames int
		minMotion float64 // fraction of frames after warm-up with motion
	}{
		{"vtest.avi", "5", 390, 0.9},
		{"tree.avi", "", 60, 0.6},
	} {
		frames := decodeGray(t, footage+tc.file, 320, 240, tc.fps)
		if len(frames) < tc.minFrames {
			t.Fatalf("%s: %d frames decoded, want >= %d", tc.file, len(frames), tc.minFrames)
		}
		d := mustNew(t, Config{}, 320, 240)
		const warm = 3
		motion, boxes := 0, 0
		for i, g := range frames {
			r := mustDetect(t, d, g)
			if i < warm {
				continue
			}
			if r.Recalibrated {
				t.Errorf("%s frame %d: recalibrated", tc.file, i)
			}
			if len(r.Boxes) > 0 {
				motion++
			}
			boxes += len(r.Boxes)
			for _, b := range r.Boxes {
				if b.X < 0 || b.Y < 0 || b.X+b.W > 320 || b.Y+b.H > 240 || b.Area() < 1 {
					t.Errorf("%s frame %d: box %v outside the frame", tc.file, i, b)
				}
			}
			if r.Changed > 0.5 {
				t.Errorf("%s frame %d: Changed %.2f", tc.file, i, r.Changed)
			}
		}
		n := len(frames) - warm
		frac := float64(motion) / float64(n)
		t.Logf("%s: %d frames, motion in %d (%.0f%%), %.1f boxes per frame", tc.file, n, motion, 100*frac, float64(boxes)/float64(n))
		if frac < tc.minMotion {
			t.Errorf("%s: motion in %.0f%% of frames, want >= %.0f%%", tc.file, 100*frac, 100*tc.minMotion)
		}
	}
}

func FuzzDetect(f *testing.F) {
	f.Add([]byte{0, 255, 7, 128}, uint8(30))
	f.Fuzz(func(t *testing.T, seed []byte, th uint8) {
		if len(seed) == 0 {
			return
		}
		d, err := New(Config{Threshold: int(th)%255 + 1}, 24, 16)
		if err != nil {
			t.Fatal(err)
		}
		g := &detect.Gray{W: 24, H: 16, Pix: make([]byte, 24*16)}
		for k := range 3 {
			for i := range g.Pix {
				g.Pix[i] = seed[(i*(k+1))%len(seed)] ^ byte(k*i)
			}
			r, err := d.Detect(g)
			if err != nil {
				t.Fatal(err)
			}
			if r.Changed < 0 || r.Changed > 1 {
				t.Fatalf("Changed %g", r.Changed)
			}
			for _, b := range r.Boxes {
				if b.X < 0 || b.Y < 0 || b.X+b.W > 24 || b.Y+b.H > 16 || b.Area() <= 0 {
					t.Fatalf("box %v", b)
				}
			}
		}
	})
}

func BenchmarkDetect(b *testing.B) {
	s := newScene(320, 180, 4)
	const n = 16
	frames := make([]*detect.Gray, n)
	for i := range frames {
		frames[i] = s.frame(20+15*i, 60, 24, 0)
	}
	d := mustNew(b, Config{}, 320, 180)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := d.Detect(frames[i%n]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScaleRGB(b *testing.B) {
	src, _ := detect.NewRGB(768, 576)
	s, err := NewScaler(768, 576, 240, 180)
	if err != nil {
		b.Fatal(err)
	}
	dst := s.NewGray()
	for b.Loop() {
		if err := s.RGB(dst, src); err != nil {
			b.Fatal(err)
		}
	}
}
