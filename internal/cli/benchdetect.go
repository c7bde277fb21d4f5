package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"vigil/internal/detect"
	"vigil/internal/detect/events"
	"vigil/internal/detect/frames"
	"vigil/internal/detect/groundtruth"
	"vigil/internal/detect/nanodet"
	"vigil/internal/detect/pipeline"
)

// DetectBench is what 'vigil bench detect' measured.
type DetectBench struct {
	File            string
	Width, Height   int
	SourceFrames    int64   // frames decoded
	Frames          int64   // frames through the pipeline
	FPS             float64 // pipeline rate
	DecodeCPU       time.Duration
	DecodeMsFrame   float64 // decode CPU per pipeline frame (all source frames decoded)
	MotionMsFrame   float64
	DetectMsFrame   float64
	DetectMsRun     float64 // one detector run on one region
	DetectRuns      int64
	TrackMsFrame    float64
	CPUPercent      map[string]float64 // of one core, at FPS
	DetectorRunsSec float64            // detector runs per second per core
	Events          []events.Event
	Truth           *groundtruth.Result
	TruthEvents     *groundtruth.EventResult
}

// benchDetect runs the detection pipeline over a video file and prints the
// cost of each stage and, with a ground truth, precision and recall; with
// --dataset it scores a detector on an exported dataset instead.
func benchDetect(e env, args []string) error {
	fs := newFlags(e, "bench detect", "--file PATH [--json FILE] [--truth FILE] [--fps N] [--whole]\n"+
		"       vigil bench detect --dataset DIR [--json FILE] [--model FILE.onnx [--labels FILE]] [--min-score S]")
	file := fs.String("file", "", "video to run the pipeline on (required without --dataset), e.g. /usr/share/doc/opencv-doc/examples/data/vtest.avi")
	datasetDir := fs.String("dataset", "", "score the detector on the images of this exported dataset version (its COCO file): precision, recall and AP@0.5 per label")
	onnx := fs.String("model", "", "with --dataset: score this ONNX model (YOLOv5/v8 layout) through OpenCV instead of NanoDet (needs a vigil built with -tags opencv)")
	onnxLabels := fs.String("labels", "", "with --model: its labels file, one a line (default: COCO's 80 for an 80-class model)")
	jsonOut := fs.String("json", "", "write every person box found, {\"<frame index>\": [[x, y, w, h, score], ...]}, to this file; with --dataset, the scores (\"-\": to stdout instead of the table)")
	truthPath := fs.String("truth", "", "ground-truth file (default: testdata/groundtruth/<video name>.json when it exists)")
	fps := fs.Float64("fps", 5, "pipeline rate: frames per second of video given to the pipeline")
	whole := fs.Bool("whole", false, "run the detector on every frame's whole picture instead of motion regions")
	models := fs.String("models", "", "NanoDet model directory (default: $VIGIL_MODELS or models/node_modules/...)")
	input := fs.Int("input", 0, "detector input size (multiple of 32; default 416, or 640 for --model)")
	maxRegions := fs.Int("regions", 0, "detector runs per frame at most (default 2)")
	minScore := fs.Float64("min-score", 0, "lowest detector score kept (default 0.4); with --dataset, the score from which detections count in precision and recall (AP ranks them all)")
	limit := fs.Int64("frames", 0, "stop after this many decoded frames (0: the whole video)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *datasetDir != "" {
		if *file != "" || *truthPath != "" || *whole || *limit != 0 {
			return fmt.Errorf("%w: --dataset scores images: --file, --truth, --whole and --frames are for a video", ErrUsage)
		}
		return benchDataset(e, datasetBench{dir: *datasetDir, json: *jsonOut, models: *models, input: *input,
			minScore: *minScore, onnx: *onnx, labels: *onnxLabels})
	}
	if *onnx != "" || *onnxLabels != "" {
		return fmt.Errorf("%w: --model and --labels go with --dataset", ErrUsage)
	}
	if *file == "" {
		return fmt.Errorf("%w: --file or --dataset is required, e.g. --file /usr/share/doc/opencv-doc/examples/data/vtest.avi", ErrUsage)
	}
	if *fps <= 0 || *fps > 60 {
		return fmt.Errorf("%w: --fps must be in (0, 60]", ErrUsage)
	}
	if _, err := os.Stat(*file); err != nil {
		return fmt.Errorf("bench detect: %w", err)
	}
	var truth *groundtruth.Truth
	if *truthPath == "" {
		base := strings.TrimSuffix(filepath.Base(*file), filepath.Ext(*file))
		if p := filepath.Join("testdata", "groundtruth", base+".json"); fileExists(p) {
			*truthPath = p
		}
	}
	if *truthPath != "" {
		t, err := groundtruth.Load(*truthPath)
		if err != nil {
			return fmt.Errorf("bench detect: %w", err)
		}
		truth = t
	}
	dir := *models
	if dir == "" {
		dir = nanodet.DefaultDir()
	}
	model, err := nanodet.LoadOptions(dir, nanodet.Options{InputSize: *input})
	if err != nil {
		return fmt.Errorf("bench detect: %w", err)
	}
	defer model.Close()

	// Every frame is decoded at the video's own size (the frame indices are
	// the video's); the pipeline takes every step-th.
	r, err := frames.File(*file, 0, 0, 0)
	if err != nil {
		return fmt.Errorf("bench detect: %w", err)
	}
	res := DetectBench{File: *file, FPS: *fps, CPUPercent: map[string]float64{}}
	var p *pipeline.Pipeline
	var step float64
	next := 0.0
	preds := map[int][]detect.Detection{}
	var wholeDetect time.Duration
	var wholeRuns int64
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var srcFPS float64
	processed := map[int]bool{}
	start := time.Now()
	lastProgress := start
	errEnough := errors.New("enough frames")
	err = r.Run(e.ctx, func(f *frames.Frame) error {
		if *limit > 0 && res.SourceFrames >= *limit {
			return errEnough
		}
		res.SourceFrames++
		if p == nil {
			res.Width, res.Height = f.Img.W, f.Img.H
			p, err = pipeline.New(pipeline.Config{Camera: "bench", MaxRegions: *maxRegions, MinScore: *minScore}, model, f.Img.W, f.Img.H)
			if err != nil {
				return err
			}
		}
		if srcFPS == 0 && f.Index == 1 && f.Offset > 0 {
			srcFPS = float64(time.Second) / float64(f.Offset)
			step = max(1, srcFPS / *fps)
			next = step
		}
		// The first frame goes through; then every step-th, once the rate
		// is known from the second frame's offset.
		if f.Index > 0 && (step == 0 || float64(f.Index) < next-1e-6) {
			return nil
		}
		next += step
		if f.Index == 0 {
			next = 0
		}
		at := t0.Add(f.Offset)
		processed[int(f.Index)] = true
		out, err := p.Process(e.ctx, at, f.Img, events.Away)
		if err != nil {
			return err
		}
		res.Frames++
		ds := out.Detections
		if *whole {
			ts := time.Now()
			all, err := model.Detect(e.ctx, f.Img)
			if err != nil {
				return err
			}
			wholeDetect += time.Since(ts)
			wholeRuns++
			ds = all
		}
		for _, d := range ds {
			if d.Label == "person" {
				preds[int(f.Index)] = append(preds[int(f.Index)], d)
			}
		}
		for _, c := range out.Changes {
			if c.Kind == events.Ended {
				res.Events = append(res.Events, c.Event)
			}
		}
		if time.Since(lastProgress) > 5*time.Second {
			lastProgress = time.Now()
			fmt.Fprintf(e.stderr, "bench detect: %d frames, %s\n", f.Index+1, time.Since(start).Round(time.Second))
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return fmt.Errorf("bench detect: %w", err)
	}
	if p == nil || res.Frames == 0 {
		return errors.New("bench detect: the video gave no frames")
	}
	for _, c := range p.Flush() {
		if c.Kind == events.Ended {
			res.Events = append(res.Events, c.Event)
		}
	}
	st := p.Stats()
	n := float64(res.Frames)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res.DecodeCPU = r.CPU()
	res.DecodeMsFrame = ms(res.DecodeCPU) / n
	res.MotionMsFrame = ms(st.Motion) / n
	res.DetectMsFrame = ms(st.Detect) / n
	res.TrackMsFrame = ms(st.Track) / n
	res.DetectRuns = st.Regions
	if st.Regions > 0 {
		res.DetectMsRun = ms(st.Detect) / float64(st.Regions)
		res.DetectorRunsSec = 1000 / res.DetectMsRun
	}
	if *whole && wholeRuns > 0 {
		res.DetectMsRun = ms(wholeDetect) / float64(wholeRuns)
		res.DetectorRunsSec = 1000 / res.DetectMsRun
	}
	for k, v := range map[string]float64{"decode": res.DecodeMsFrame, "motion": res.MotionMsFrame, "detect": res.DetectMsFrame, "track": res.TrackMsFrame} {
		res.CPUPercent[k] = v * *fps / 10
	}

	if *jsonOut != "" {
		if err := writeBenchJSON(*jsonOut, preds); err != nil {
			return err
		}
	}
	if truth != nil {
		// Only the frames that went through the pipeline are scored (all of
		// them unless --frames cut the video short).
		scored := *truth
		scored.Frames = map[int][]groundtruth.Person{}
		for i, ps := range truth.Frames {
			if processed[i] {
				scored.Frames[i] = ps
			}
		}
		truth = &scored
		sc := groundtruth.Score(truth, preds, 0.4)
		res.Truth = &sc
		// Events: times back to frame indices of the video.
		var pred []groundtruth.Event
		for _, ev := range res.Events {
			if !hasPerson(ev) {
				continue
			}
			pred = append(pred, groundtruth.Event{Label: "person",
				FromFrame: int(ev.Start.Sub(t0).Seconds()*srcFPS + 0.5), ToFrame: int(ev.End.Sub(t0).Seconds()*srcFPS + 0.5)})
		}
		evr := groundtruth.ScoreEvents(truth.Events, pred)
		res.TruthEvents = &evr
	}

	w := e.stdout
	fmt.Fprintf(w, "bench detect: %s, %dx%d, %d frames decoded, %d through the pipeline at %g fps\n",
		filepath.Base(*file), res.Width, res.Height, res.SourceFrames, res.Frames, *fps)
	fmt.Fprintf(w, "  %-8s %8s %12s\n", "stage", "ms/frame", "CPU % (1 core)")
	for _, s := range []struct {
		name string
		v    float64
	}{{"decode", res.DecodeMsFrame}, {"motion", res.MotionMsFrame}, {"detect", res.DetectMsFrame}, {"track", res.TrackMsFrame}} {
		fmt.Fprintf(w, "  %-8s %8.2f %12.1f\n", s.name, s.v, res.CPUPercent[s.name])
	}
	fmt.Fprintf(w, "  detector: %d runs, %.1f ms a run, %.1f runs/s per core; motion in %d of %d frames\n",
		res.DetectRuns, res.DetectMsRun, res.DetectorRunsSec, st.MotionFrames, st.Frames)
	person := 0
	for _, ev := range res.Events {
		if hasPerson(ev) {
			person++
		}
	}
	fmt.Fprintf(w, "  events: %d (%d with a person)\n", len(res.Events), person)
	if res.Truth != nil {
		c := res.Truth.Total
		fmt.Fprintf(w, "  person boxes vs %s (IoU >= 0.4, %d frames): precision %.3f, recall %.3f (TP %d, FP %d, FN %d, ignored %d)\n",
			*truthPath, len(truth.Frames), c.Precision(), c.Recall(), c.TP, c.FP, c.FN, c.Ignored)
		found := 0
		for _, f := range res.TruthEvents.Found {
			if f {
				found++
			}
		}
		fmt.Fprintf(w, "  events vs ground truth: %d of %d found, %d false\n", found, len(res.TruthEvents.Found), res.TruthEvents.False)
	}
	if *jsonOut != "" {
		fmt.Fprintf(w, "  person boxes written to %s\n", *jsonOut)
	}
	return nil
}

func hasPerson(ev events.Event) bool {
	for _, l := range ev.Labels {
		if l == "person" {
			return true
		}
	}
	return false
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
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
