package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"vigil/internal/bench"
)

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
	if *truthPath == "" {
		base := strings.TrimSuffix(filepath.Base(*file), filepath.Ext(*file))
		if p := filepath.Join("testdata", "groundtruth", base+".json"); fileExists(p) {
			*truthPath = p
		}
	}
	res, err := bench.Detect(e.ctx, bench.DetectOptions{File: *file, TruthPath: *truthPath, FPS: *fps, Whole: *whole, Models: *models,
		Input: *input, MaxRegions: *maxRegions, MinScore: *minScore, Limit: *limit, JSON: *jsonOut, Progress: e.stderr})
	if err != nil {
		return err
	}
	printDetectBench(e.stdout, res, *truthPath, *jsonOut)
	return nil
}

// printDetectBench prints what 'vigil bench detect' measured: each
// stage's cost and, with a ground truth, precision and recall.
func printDetectBench(w io.Writer, res bench.DetectResult, truthPath, jsonOut string) {
	fmt.Fprintf(w, "bench detect: %s, %dx%d, %d frames decoded, %d through the pipeline at %g fps\n",
		filepath.Base(res.File), res.Width, res.Height, res.SourceFrames, res.Frames, res.FPS)
	fmt.Fprintf(w, "  %-8s %8s %12s\n", "stage", "ms/frame", "CPU % (1 core)")
	for _, s := range []struct {
		name string
		v    float64
	}{{"decode", res.DecodeMsFrame}, {"motion", res.MotionMsFrame}, {"detect", res.DetectMsFrame}, {"track", res.TrackMsFrame}} {
		fmt.Fprintf(w, "  %-8s %8.2f %12.1f\n", s.name, s.v, res.CPUPercent[s.name])
	}
	fmt.Fprintf(w, "  detector: %d runs, %.1f ms a run, %.1f runs/s per core; motion in %d of %d frames\n",
		res.DetectRuns, res.DetectMsRun, res.DetectorRunsSec, res.MotionFrames, res.PipelineFrames)
	person := 0
	for _, ev := range res.Events {
		if bench.HasPerson(ev) {
			person++
		}
	}
	fmt.Fprintf(w, "  events: %d (%d with a person)\n", len(res.Events), person)
	if res.Truth != nil {
		c := res.Truth.Total
		fmt.Fprintf(w, "  person boxes vs %s (IoU >= 0.4, %d frames): precision %.3f, recall %.3f (TP %d, FP %d, FN %d, ignored %d)\n",
			truthPath, res.TruthFrames, c.Precision(), c.Recall(), c.TP, c.FP, c.FN, c.Ignored)
		found := 0
		for _, f := range res.TruthEvents.Found {
			if f {
				found++
			}
		}
		fmt.Fprintf(w, "  events vs ground truth: %d of %d found, %d false\n", found, len(res.TruthEvents.Found), res.TruthEvents.False)
	}
	if jsonOut != "" {
		fmt.Fprintf(w, "  person boxes written to %s\n", jsonOut)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
