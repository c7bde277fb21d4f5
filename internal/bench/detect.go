package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"vigil/internal/detect"
	"vigil/internal/detect/events"
	"vigil/internal/detect/frames"
	"vigil/internal/detect/groundtruth"
	"vigil/internal/detect/nanodet"
	"vigil/internal/detect/pipeline"
)

// DetectOptions are what Detect measures.
type DetectOptions struct {
	File       string  // the video
	TruthPath  string  // its ground truth ("" for none)
	FPS        float64 // frames per second of video given to the pipeline
	Whole      bool    // run the detector on every frame's whole picture, not motion regions
	Models     string  // NanoDet's model directory ("" for nanodet.DefaultDir)
	Input      int     // detector input size (0: the model's default)
	Kernel     string  // NanoDet's GEMM micro-kernel (nanodet.Options.Kernel; "": auto)
	MaxRegions int     // detector runs per frame at most (0: the pipeline's default)
	MinScore   float64 // lowest detector score kept (0: the pipeline's default)
	Limit      int64   // stop after this many decoded frames (0: the whole video)
	JSON       string  // write every person box found to this file
	Progress   io.Writer
}

// DetectResult is what Detect measured.
type DetectResult struct {
	File            string
	Width, Height   int
	SourceFrames    int64   // frames decoded
	Frames          int64   // frames through the pipeline
	FPS             float64 // pipeline rate
	DecodeCPU       time.Duration
	DecodeMsFrame   float64 // decode CPU per pipeline frame (all source frames decoded)
	MotionMsFrame   float64
	Kernel          string  // NanoDet's GEMM micro-kernel
	DetectMsFrame   float64 // wall clock: cropping and detecting
	DetectMsRun     float64 // wall clock of one detector run on one region
	DetectCPUFrame  float64 // the detector's CPU ms per frame
	DetectCPURun    float64 // the detector's CPU ms per run
	DetectRuns      int64
	TrackMsFrame    float64
	CPUPercent      map[string]float64 // of one core, at FPS; detect from the detector's CPU time, the others from the wall clock
	DetectorRunsSec float64            // detector runs per CPU second
	MotionFrames    int64              // pipeline frames with motion
	PipelineFrames  int64              // frames the pipeline counted
	Events          []events.Event
	TruthFrames     int // frames of the ground truth scored
	Truth           *groundtruth.Result
	TruthEvents     *groundtruth.EventResult
}

// detectRun is the state of one pass of the pipeline over a video.
type detectRun struct {
	o         DetectOptions
	model     *nanodet.Model
	det       *cpuDetector // model, its CPU time counted
	res       DetectResult
	p         *pipeline.Pipeline
	step      float64
	next      float64
	srcFPS    float64
	preds     map[int][]detect.Detection
	processed map[int]bool
	whole     time.Duration // the detector's CPU time on whole frames (Whole)
	wholeRuns int64
	start     time.Time
	progress  time.Time
}

// detectT0 is the wall time the video's first frame is given.
var detectT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var errEnoughFrames = errors.New("enough frames")

// Detect runs the detection pipeline over a video file and measures the
// cost of each stage and, with a ground truth, precision and recall.
func Detect(ctx context.Context, o DetectOptions) (DetectResult, error) {
	if _, err := os.Stat(o.File); err != nil {
		return DetectResult{}, fmt.Errorf("bench detect: %w", err)
	}
	var truth *groundtruth.Truth
	if o.TruthPath != "" {
		t, err := groundtruth.Load(o.TruthPath)
		if err != nil {
			return DetectResult{}, fmt.Errorf("bench detect: %w", err)
		}
		truth = t
	}
	dir := o.Models
	if dir == "" {
		dir = nanodet.DefaultDir()
	}
	model, err := nanodet.LoadOptions(dir, nanodet.Options{InputSize: o.Input, Kernel: o.Kernel})
	if err != nil {
		return DetectResult{}, fmt.Errorf("bench detect: %w", err)
	}
	defer model.Close()

	// Every frame is decoded at the video's own size (the frame indices are
	// the video's); the pipeline takes every step-th.
	r, err := frames.File(o.File, 0, 0, 0)
	if err != nil {
		return DetectResult{}, fmt.Errorf("bench detect: %w", err)
	}
	d := &detectRun{o: o, model: model, det: &cpuDetector{Detector: model},
		res:   DetectResult{File: o.File, FPS: o.FPS, Kernel: model.Kernel(), CPUPercent: map[string]float64{}},
		preds: map[int][]detect.Detection{}, processed: map[int]bool{}, start: time.Now()}
	d.progress = d.start
	err = r.Run(ctx, func(f *frames.Frame) error { return d.frame(ctx, f) })
	if err != nil && !errors.Is(err, errEnoughFrames) {
		return DetectResult{}, fmt.Errorf("bench detect: %w", err)
	}
	if d.p == nil || d.res.Frames == 0 {
		return DetectResult{}, errors.New("bench detect: the video gave no frames")
	}
	for _, c := range d.p.Flush() {
		if c.Kind == events.Ended {
			d.res.Events = append(d.res.Events, c.Event)
		}
	}
	d.costs(r.CPU())
	if o.JSON != "" {
		if err := writeBenchJSON(o.JSON, d.preds); err != nil {
			return DetectResult{}, err
		}
	}
	if truth != nil {
		d.score(truth)
	}
	return d.res, nil
}

// frame gives f to the pipeline when it is one of the step-th frames.
func (d *detectRun) frame(ctx context.Context, f *frames.Frame) error {
	if d.o.Limit > 0 && d.res.SourceFrames >= d.o.Limit {
		return errEnoughFrames
	}
	d.res.SourceFrames++
	if d.p == nil {
		d.res.Width, d.res.Height = f.Img.W, f.Img.H
		p, err := pipeline.New(pipeline.Config{Camera: "bench", MaxRegions: d.o.MaxRegions, MinScore: d.o.MinScore}, d.det, f.Img.W, f.Img.H)
		if err != nil {
			return err
		}
		d.p = p
	}
	if d.srcFPS == 0 && f.Index == 1 && f.Offset > 0 {
		d.srcFPS = float64(time.Second) / float64(f.Offset)
		d.step = max(1, d.srcFPS/d.o.FPS)
		d.next = d.step
	}
	// The first frame goes through; then every step-th, once the rate
	// is known from the second frame's offset.
	if f.Index > 0 && (d.step == 0 || float64(f.Index) < d.next-1e-6) {
		return nil
	}
	d.next += d.step
	if f.Index == 0 {
		d.next = 0
	}
	d.processed[int(f.Index)] = true
	out, err := d.p.Process(ctx, detectT0.Add(f.Offset), f.Img, events.Away)
	if err != nil {
		return err
	}
	d.res.Frames++
	ds := out.Detections
	if d.o.Whole {
		var all []detect.Detection
		var err error
		d.whole += onThreadCPU(func() { all, err = d.model.Detect(ctx, f.Img) })
		if err != nil {
			return err
		}
		d.wholeRuns++
		ds = all
	}
	for _, det := range ds {
		if det.Label == "person" {
			d.preds[int(f.Index)] = append(d.preds[int(f.Index)], det)
		}
	}
	for _, c := range out.Changes {
		if c.Kind == events.Ended {
			d.res.Events = append(d.res.Events, c.Event)
		}
	}
	if time.Since(d.progress) > 5*time.Second && d.o.Progress != nil {
		d.progress = time.Now()
		fmt.Fprintf(d.o.Progress, "bench detect: %d frames, %s\n", f.Index+1, time.Since(d.start).Round(time.Second))
	}
	return nil
}

// costs fills in each stage's time per frame and share of a core.
func (d *detectRun) costs(decodeCPU time.Duration) {
	res := &d.res
	st := d.p.Stats()
	n := float64(res.Frames)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res.DecodeCPU = decodeCPU
	res.DecodeMsFrame = ms(res.DecodeCPU) / n
	res.MotionMsFrame = ms(st.Motion) / n
	res.DetectMsFrame = ms(st.Detect) / n
	res.TrackMsFrame = ms(st.Track) / n
	res.DetectRuns = st.Regions
	res.MotionFrames, res.PipelineFrames = st.MotionFrames, st.Frames
	res.DetectCPUFrame = ms(d.det.cpu) / n
	if st.Regions > 0 {
		res.DetectMsRun = ms(st.Detect) / float64(st.Regions)
	}
	if d.det.runs > 0 {
		res.DetectCPURun = ms(d.det.cpu) / float64(d.det.runs)
	}
	if d.o.Whole && d.wholeRuns > 0 {
		res.DetectCPURun = ms(d.whole) / float64(d.wholeRuns)
	}
	if res.DetectCPURun > 0 {
		res.DetectorRunsSec = 1000 / res.DetectCPURun
	}
	for k, v := range map[string]float64{"decode": res.DecodeMsFrame, "motion": res.MotionMsFrame, "detect": res.DetectCPUFrame, "track": res.TrackMsFrame} {
		res.CPUPercent[k] = v * d.o.FPS / 10
	}
}

// score scores the person boxes and events against the ground truth. Only
// the frames that went through the pipeline are scored (all of them unless
// Limit cut the video short).
func (d *detectRun) score(truth *groundtruth.Truth) {
	scored := *truth
	scored.Frames = map[int][]groundtruth.Person{}
	for i, ps := range truth.Frames {
		if d.processed[i] {
			scored.Frames[i] = ps
		}
	}
	sc := groundtruth.Score(&scored, d.preds, 0.4)
	d.res.Truth = &sc
	d.res.TruthFrames = len(scored.Frames)
	// Events: times back to frame indices of the video.
	var pred []groundtruth.Event
	for _, ev := range d.res.Events {
		if !HasPerson(ev) {
			continue
		}
		pred = append(pred, groundtruth.Event{Label: "person",
			FromFrame: int(ev.Start.Sub(detectT0).Seconds()*d.srcFPS + 0.5), ToFrame: int(ev.End.Sub(detectT0).Seconds()*d.srcFPS + 0.5)})
	}
	evr := groundtruth.ScoreEvents(scored.Events, pred)
	d.res.TruthEvents = &evr
}

// HasPerson reports whether an event is about a person.
func HasPerson(ev events.Event) bool {
	for _, l := range ev.Labels {
		if l == "person" {
			return true
		}
	}
	return false
}

func writeBenchJSON(path string, preds map[int][]detect.Detection) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("bench detect: %w", err)
	}
	if err := groundtruth.WriteBench(f, preds); err != nil {
		f.Close()
		return fmt.Errorf("bench detect: %w", err)
	}
	return f.Close()
}
