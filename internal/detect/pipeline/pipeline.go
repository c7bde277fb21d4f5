// Package pipeline is one camera's detection pipeline on the hub: for each
// decoded frame it runs motion on a small grey copy, cuts square regions
// around motion and tracked objects, runs the detector on those regions
// only (never the whole frame unless something moves all over it), filters
// and merges the detections, feeds the tracker and the event engine, and
// keeps the frame of each object's best view for the event's snapshot.
//
// It owns the per-camera state of those stages and the cost accounting per
// stage. It does no I/O: frames come from package frames, and what the
// pipeline reports (event changes, snapshots) is sealed by the caller before
// it goes anywhere (G1). It never logs boxes, labels or pixels.
//
// A Pipeline is not safe for concurrent use: each camera has its own.
package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"slices"
	"time"

	"vigil/internal/detect"
	"vigil/internal/detect/events"
	"vigil/internal/detect/motion"
	"vigil/internal/detect/track"
)

// Defaults for Config's zero fields.
const (
	DefaultMotionHeight = 180
	DefaultMaxRegions   = 2
	DefaultMinScore     = 0.4
	DefaultNMSIoU       = 0.5
	// maxSnapshots bounds the best-view frames kept in memory.
	maxSnapshots = 16
)

// Config is one camera's detection settings.
type Config struct {
	// Camera names the camera in events.
	Camera string
	// MotionHeight is the height of the grey frame motion works on
	// (default 180; the width keeps the aspect ratio).
	MotionHeight int
	// Motion tunes the motion detector (masks included).
	Motion motion.Config
	// MotionOnly runs no detector: motion is reported, nothing is tracked
	// and no events are made. It costs almost nothing.
	MotionOnly bool
	// Labels are the labels kept from the detector (default detect.DefaultLabels).
	Labels []string
	// MinScore is the lowest detector score kept for labels without a
	// Filter (default 0.4).
	MinScore float64
	// Filters are per-label score, area and ratio bounds (area in frame
	// pixels).
	Filters map[string]detect.Filter
	// MaxRegions bounds the detector runs per frame (default 2): the
	// largest regions go first.
	MaxRegions int
	// MinRegion and MaxRegion bound a region's side in frame pixels
	// (defaults: the detector's input size, and the frame's shorter side).
	MinRegion, MaxRegion int
	// Track tunes the tracker.
	Track track.Config
	// Events holds zones, alert rules and event timing.
	Events events.Config
	// Location is the time zone of the rules' schedules (nil: UTC).
	Location *time.Location
}

// Stats accounts for a pipeline's work since New.
type Stats struct {
	Frames        int64
	MotionFrames  int64 // frames with motion
	DetectFrames  int64 // frames on which the detector ran
	Regions       int64 // detector runs
	Detections    int64 // detections kept after filters and NMS
	Recalibrated  int64
	Motion        time.Duration // time spent in motion (scaling included)
	Detect        time.Duration // time spent cropping and detecting
	Track         time.Duration // tracker and events
	SnapshotsKept int
}

// Result is what one frame produced.
type Result struct {
	// Motion boxes in the frame's pixels.
	Motion []detect.Box
	// Regions the detector ran on.
	Regions []image.Rectangle
	// Detections kept, in the frame's pixels.
	Detections []detect.Detection
	// Tracks as the tracker returned them (nil in motion-only mode).
	Tracks []*track.Track
	// Changes to events.
	Changes []events.Change
	// Took is the time each stage took on this frame (Stats sums them).
	Took Timings
}

// Timings are the time one frame spent in each stage: Detect and Track
// are zero when the stage did not run (motion-only mode, no regions).
type Timings struct {
	Motion, Detect, Track time.Duration
}

// Pipeline is one camera's detection state.
type Pipeline struct {
	cfg    Config
	det    detect.Detector
	w, h   int
	scaler *motion.Scaler
	grey   *detect.Gray
	motion *motion.Detector
	track  *track.Tracker
	events *events.Engine
	labels map[string]bool
	stats  Stats

	// best holds the frame of each track's best view so far (also of ended
	// tracks while the open event lists them).
	best map[uint64]*bestFrame
	// spare keeps up to two forgotten frame buffers for reuse.
	spare []*detect.RGB
}

type bestFrame struct {
	at  time.Time
	img *detect.RGB
}

// New makes a pipeline for w x h frames. det may be nil only in
// motion-only mode.
func New(cfg Config, det detect.Detector, w, h int) (*Pipeline, error) {
	if w <= 0 || h <= 0 || w*h > detect.MaxPixels {
		return nil, fmt.Errorf("pipeline: %w: %dx%d", detect.ErrFrameSize, w, h)
	}
	if det == nil && !cfg.MotionOnly {
		return nil, errors.New("pipeline: no detector; set MotionOnly to run motion alone")
	}
	if cfg.MotionHeight == 0 {
		cfg.MotionHeight = DefaultMotionHeight
	}
	if cfg.MaxRegions == 0 {
		cfg.MaxRegions = DefaultMaxRegions
	}
	if cfg.MaxRegions < 0 || cfg.MaxRegions > 16 {
		return nil, fmt.Errorf("pipeline: MaxRegions %d (want 1..16)", cfg.MaxRegions)
	}
	if cfg.MinScore == 0 {
		cfg.MinScore = DefaultMinScore
	}
	if len(cfg.Labels) == 0 {
		cfg.Labels = detect.DefaultLabels()
	}
	if det != nil {
		if cfg.MinRegion == 0 {
			cfg.MinRegion = det.InputSize()
		}
	}
	if cfg.MaxRegion == 0 {
		cfg.MaxRegion = min(w, h)
	}
	mw, mh := motion.SmallSize(w, h, cfg.MotionHeight)
	if mw == 0 {
		return nil, fmt.Errorf("pipeline: %w: motion frame for %dx%d", detect.ErrFrameSize, w, h)
	}
	md, err := motion.New(cfg.Motion, mw, mh)
	if err != nil {
		return nil, err
	}
	sc, err := motion.NewScaler(w, h, mw, mh)
	if err != nil {
		return nil, err
	}
	p := &Pipeline{cfg: cfg, det: det, w: w, h: h, scaler: sc, grey: sc.NewGray(), motion: md,
		labels: map[string]bool{}, best: map[uint64]*bestFrame{}}
	for _, l := range cfg.Labels {
		p.labels[l] = true
	}
	if !cfg.MotionOnly {
		p.track = track.New(cfg.Track)
		p.events, err = events.New(events.Options{Camera: cfg.Camera, Config: cfg.Events, Width: w, Height: h, Location: cfg.Location})
		if err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Size is the frame size the pipeline takes.
func (p *Pipeline) Size() (w, h int) { return p.w, p.h }

// Stats returns the accounting so far.
func (p *Pipeline) Stats() Stats {
	s := p.stats
	s.SnapshotsKept = len(p.best)
	return s
}

// Process runs one frame taken at now through the pipeline; mode is the
// household's current mode (for alert rules).
func (p *Pipeline) Process(ctx context.Context, now time.Time, img *detect.RGB, mode events.Mode) (Result, error) {
	if img == nil || img.W != p.w || img.H != p.h || len(img.Pix) != p.w*p.h*3 {
		return Result{}, fmt.Errorf("pipeline: %w: frame is not %dx%d RGB", detect.ErrFrameSize, p.w, p.h)
	}
	p.stats.Frames++
	var res Result

	t0 := time.Now()
	if err := p.scaler.RGB(p.grey, img); err != nil {
		return res, err
	}
	mr, err := p.motion.Detect(p.grey)
	if err != nil {
		return res, err
	}
	mw, mh := p.motion.Size()
	res.Motion = motion.ScaleBoxes(mr.Boxes, mw, mh, p.w, p.h)
	if len(res.Motion) > 0 {
		p.stats.MotionFrames++
	}
	if mr.Recalibrated {
		p.stats.Recalibrated++
	}
	t1 := time.Now()
	res.Took.Motion = t1.Sub(t0)
	p.stats.Motion += res.Took.Motion
	if p.cfg.MotionOnly {
		return res, nil
	}

	// Regions: around motion and around tracks that want a fresh look.
	boxes := append(slices.Clone(res.Motion), p.track.NeedsDetection(now)...)
	var tracks []*track.Track
	if len(boxes) == 0 {
		tracks = p.track.Predict(now)
	} else {
		res.Regions = detect.Regions(boxes, p.w, p.h, p.cfg.MinRegion, p.cfg.MaxRegion)
		if len(res.Regions) > p.cfg.MaxRegions {
			res.Regions = res.Regions[:p.cfg.MaxRegions]
		}
		var found []detect.Detection
		for _, r := range res.Regions {
			crop := detect.Crop(img, r)
			if crop == nil {
				continue
			}
			ds, err := p.det.Detect(ctx, crop)
			if err != nil {
				return res, fmt.Errorf("pipeline: detector: %w", err)
			}
			p.stats.Regions++
			frame := detect.Box{W: float64(p.w), H: float64(p.h)}
			for _, d := range detect.Offset(ds, r) {
				d.Box = d.Box.Intersect(frame)
				if d.Box.Area() > 0 && p.keep(d) {
					found = append(found, d)
				}
			}
		}
		p.stats.DetectFrames++
		res.Detections = detect.NMS(found, DefaultNMSIoU)
		p.stats.Detections += int64(len(res.Detections))
		t2 := time.Now()
		res.Took.Detect = t2.Sub(t1)
		p.stats.Detect += res.Took.Detect
		t1 = t2
		tracks = p.track.UpdateRegions(now, res.Detections, res.Regions)
	}
	res.Tracks = tracks
	p.keepBest(now, img, tracks)
	res.Changes = p.events.Update(now, tracks, mode)
	res.Took.Track = time.Since(t1)
	p.stats.Track += res.Took.Track
	return res, nil
}

// Flush ends the open event (the camera stopped); the changes are the
// caller's to seal and send like any other.
func (p *Pipeline) Flush() []events.Change {
	if p.events == nil {
		return nil
	}
	return p.events.Flush()
}

// keep applies the label list and the label's filter (or MinScore).
func (p *Pipeline) keep(d detect.Detection) bool {
	if !p.labels[d.Label] {
		return false
	}
	f, ok := p.cfg.Filters[d.Label]
	if !ok {
		f = detect.Filter{MinScore: p.cfg.MinScore}
	}
	return f.Pass(d)
}

// keepBest copies the frame when it holds a track's best view so far, and
// forgets the frames of tracks no event needs any more.
func (p *Pipeline) keepBest(now time.Time, img *detect.RGB, tracks []*track.Track) {
	live := map[uint64]bool{}
	for _, t := range tracks {
		if !t.Ended {
			live[t.ID] = true
		}
		if !t.Best.Time.Equal(now) || t.Ended {
			continue
		}
		b := p.best[t.ID]
		if b == nil {
			if len(p.best) >= maxSnapshots {
				continue
			}
			b = &bestFrame{}
			p.best[t.ID] = b
		}
		if b.img == nil {
			if n := len(p.spare); n > 0 {
				b.img, p.spare = p.spare[n-1], p.spare[:n-1]
			} else {
				b.img = &detect.RGB{W: img.W, H: img.H, Pix: make([]byte, len(img.Pix))}
			}
		}
		copy(b.img.Pix, img.Pix)
		b.at = now
	}
	// Keep the frames of the open event's tracks even after they end.
	if ev, ok := p.events.Current(); ok {
		for _, id := range ev.Tracks {
			live[id] = true
		}
	}
	for id, b := range p.best {
		if !live[id] {
			if b.img != nil && len(p.spare) < 2 {
				p.spare = append(p.spare, b.img)
			}
			delete(p.best, id)
		}
	}
}

// ErrNoSnapshot is returned by Snapshot when the best view's frame is no
// longer (or never was) kept.
var ErrNoSnapshot = errors.New("pipeline: no snapshot for this event")

// Snapshot encodes the frame of ev's best view as a JPEG (when the tracker
// was full at that moment, the track's best view the pipeline could keep).
// Call it when the event changes: the frame is forgotten once no open event
// needs it.
func (p *Pipeline) Snapshot(ev events.Event) ([]byte, error) {
	b := p.best[ev.Best.TrackID]
	if b == nil || b.img == nil {
		return nil, ErrNoSnapshot
	}
	var buf bytes.Buffer
	if err := detect.EncodeJPEG(&buf, b.img, 80); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
