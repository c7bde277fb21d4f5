package pipeline

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"os"
	"sync"
	"testing"
	"time"

	"vigil/internal/detect"
	"vigil/internal/detect/events"
	"vigil/internal/detect/frames"
	"vigil/internal/detect/motion"
	"vigil/internal/detect/nanodet"
)

const footage = "/usr/share/doc/opencv-doc/examples/data/"

var (
	modelOnce sync.Once
	model     *nanodet.Model
	modelErr  error
)

func loadModel(t testing.TB) *nanodet.Model {
	t.Helper()
	modelOnce.Do(func() { model, modelErr = nanodet.Load(nanodet.DefaultDir()) })
	if modelErr != nil {
		t.Fatalf("the NanoDet model is needed: %v (run 'make models')", modelErr)
	}
	return model
}

// clip decodes a file at fps (every frame when 0) into copies of its frames,
// at most limit of them.
func clip(t testing.TB, name string, fps float64, limit int) []*detect.RGB {
	t.Helper()
	path := footage + name
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("test footage %s is missing: install opencv-doc (apt-get install opencv-doc)", path)
	}
	r, err := frames.File(path, 0, 0, fps)
	if err != nil {
		t.Fatal(err)
	}
	var out []*detect.RGB
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errStop := errors.New("enough")
	err = r.Run(ctx, func(f *frames.Frame) error {
		out = append(out, &detect.RGB{W: f.Img.W, H: f.Img.H, Pix: append([]byte(nil), f.Img.Pix...)})
		if len(out) >= limit {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	return out
}

type run struct {
	changes []events.Change
	started []events.Event
	ended   []events.Event
	dets    int
	stats   Stats
	p       *Pipeline
}

// process runs frames taken fps apart through a new pipeline.
func process(t testing.TB, cfg Config, det detect.Detector, imgs []*detect.RGB, fps float64) run {
	t.Helper()
	p, err := New(cfg, det, imgs[0].W, imgs[0].H)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	step := time.Duration(float64(time.Second) / fps)
	var r run
	r.p = p
	for i, img := range imgs {
		res, err := p.Process(context.Background(), t0.Add(time.Duration(i)*step), img, events.Home)
		if err != nil {
			t.Fatal(err)
		}
		r.dets += len(res.Detections)
		for _, c := range res.Changes {
			r.changes = append(r.changes, c)
			switch c.Kind {
			case events.Started:
				r.started = append(r.started, c.Event)
			case events.Ended:
				r.ended = append(r.ended, c.Event)
			}
			if c.Kind != events.Ended {
				if _, err := p.Snapshot(c.Event); err != nil && c.Event.Best.Label != "" {
					t.Errorf("event %s: no snapshot for its best view: %v", c.Kind, err)
				}
			}
		}
	}
	r.stats = p.Stats()
	return r
}

func hasLabel(ev events.Event, l string) bool {
	for _, x := range ev.Labels {
		if x == l {
			return true
		}
	}
	return false
}

// TestPeopleMakeAnEvent: six seconds of vtest.avi at 5 fps make one
// person event that is an alert, starting within the first seconds (people
// are in view from the first frame), with a snapshot that decodes; the
// detector ran on regions, not on every frame's whole picture.
func TestPeopleMakeAnEvent(t *testing.T) {
	det := loadModel(t)
	imgs := clip(t, "vtest.avi", 5, 30)
	r := process(t, Config{Camera: "front"}, det, imgs, 5)
	if len(r.started) == 0 {
		t.Fatalf("no event from 6 s of people walking (%d detections, stats %+v)", r.dets, r.stats)
	}
	ev := r.started[0]
	if !hasLabel(ev, "person") || !ev.Alert {
		t.Errorf("first event: labels %v, alert %v; want a person alert", ev.Labels, ev.Alert)
	}
	// Ground truth: people are visible from frame 0; the event must start
	// within 3 s of the first frame.
	if d := ev.Start.Sub(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)); d > 3*time.Second {
		t.Errorf("the event started %v after the first frame", d)
	}
	snap, err := r.p.Snapshot(r.changes[len(r.changes)-1].Event)
	if err != nil {
		t.Fatalf("snapshot of the open event: %v", err)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(snap)); err != nil || cfg.Width != 768 || cfg.Height != 576 {
		t.Errorf("snapshot: %v %+v", err, cfg)
	}
	if r.stats.Regions > 2*r.stats.Frames {
		t.Errorf("%d detector runs for %d frames: more than MaxRegions", r.stats.Regions, r.stats.Frames)
	}
	t.Logf("stats %+v", r.stats)
}

// TestTreeMakesNoPersonAlert: a tree moving in the wind is motion, but no
// person and no alert.
func TestTreeMakesNoPersonAlert(t *testing.T) {
	det := loadModel(t)
	all := clip(t, "tree.avi", 0, 1000)
	var imgs []*detect.RGB
	for i := 0; i < len(all); i += 3 { // 15 fps -> 5 fps
		imgs = append(imgs, all[i])
	}
	r := process(t, Config{Camera: "window"}, det, imgs, 5)
	if r.stats.MotionFrames == 0 {
		t.Fatal("the tree's motion was not seen: the test proves nothing")
	}
	for _, c := range r.changes {
		if hasLabel(c.Event, "person") || c.Event.Alert {
			t.Errorf("tree.avi: %s event with labels %v, alert %v", c.Kind, c.Event.Labels, c.Event.Alert)
		}
	}
	t.Logf("stats %+v", r.stats)
}

// TestZonesAndMasks: the same footage with a zone the people never reach
// (and RequireZone) makes no event; a motion mask over the whole frame makes
// no motion and no event; a zone over the path makes the event name it.
func TestZonesAndMasks(t *testing.T) {
	det := loadModel(t)
	imgs := clip(t, "vtest.avi", 5, 25)

	sky := events.Config{RequireZone: true, Zones: []events.Zone{{Name: "roof", Points: [][2]float64{{0, 0}, {1, 0}, {1, 0.05}, {0, 0.05}}}}}
	if r := process(t, Config{Camera: "front", Events: sky}, det, imgs, 5); len(r.started) != 0 {
		t.Errorf("a zone nobody enters, required: %d events", len(r.started))
	}

	all := motion.Config{Mask: [][]motion.Point{{{X: 0, Y: 0}, {X: 1, Y: 0}, {X: 1, Y: 1}, {X: 0, Y: 1}}}}
	r := process(t, Config{Camera: "front", Motion: all}, det, imgs, 5)
	if r.stats.MotionFrames != 0 || len(r.started) != 0 {
		t.Errorf("everything masked: %d motion frames, %d events", r.stats.MotionFrames, len(r.started))
	}

	ground := events.Config{Zones: []events.Zone{{Name: "path", Points: [][2]float64{{0, 0.3}, {1, 0.3}, {1, 1}, {0, 1}}}}}
	r = process(t, Config{Camera: "front", Events: ground}, det, imgs, 5)
	named := false
	for _, c := range r.changes {
		for _, z := range c.Event.Zones {
			named = named || z == "path"
		}
	}
	if !named {
		t.Errorf("people walking on the path: no event names the zone (%d changes)", len(r.changes))
	}
}

// TestMotionOnly: no detector, no events, motion still reported.
func TestMotionOnly(t *testing.T) {
	imgs := clip(t, "vtest.avi", 5, 15)
	r := process(t, Config{Camera: "front", MotionOnly: true}, nil, imgs, 5)
	if r.stats.MotionFrames == 0 || r.stats.Regions != 0 || len(r.changes) != 0 {
		t.Errorf("motion only: %+v, %d changes", r.stats, len(r.changes))
	}
	if _, err := New(Config{}, nil, 768, 576); err == nil {
		t.Error("a pipeline without a detector that is not motion-only")
	}
}

func BenchmarkProcessVtest(b *testing.B) {
	det := loadModel(b)
	imgs := clip(b, "vtest.avi", 5, 50)
	p, err := New(Config{Camera: "front"}, det, imgs[0].W, imgs[0].H)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	b.ResetTimer()
	for i := range b.N {
		if _, err := p.Process(context.Background(), t0.Add(time.Duration(i)*200*time.Millisecond), imgs[i%len(imgs)], events.Home); err != nil {
			b.Fatal(err)
		}
	}
	s := p.Stats()
	b.ReportMetric(float64(s.Motion.Microseconds())/float64(s.Frames)/1000, "motion-ms/frame")
	b.ReportMetric(float64(s.Detect.Microseconds())/float64(s.Frames)/1000, "detect-ms/frame")
}
