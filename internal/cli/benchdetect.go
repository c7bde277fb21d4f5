package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"vigil/internal/bench"
	"vigil/internal/detect/nanodet"
)

// benchDetect runs the detection pipeline over a video file and prints the
// cost of each stage and, with a ground truth, precision and recall; with
// --dataset it scores a detector on an exported dataset instead.
func benchDetect(e env, args []string) error {
	fs := newFlags(e, "bench detect", "--file PATH [--json FILE] [--truth FILE] [--fps N] [--whole] [--kernels LIST]\n"+
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
	kernels := fs.String("kernels", "auto,avx2", "NanoDet's GEMM micro-kernels, comma-separated (auto, avx512, avx2, neon, go): the first gives the full report, each other one a line of its own detector CPU and precision and recall from another pass over the video; one the CPU cannot run, or the one auto chose again, is skipped")
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
	kerns := strings.Split(*kernels, ",")
	for _, k := range kerns {
		if !slices.Contains([]string{"auto", "avx512", "avx2", "neon", "go"}, k) {
			return fmt.Errorf("%w: --kernels %q: each one of auto, avx512, avx2, neon, go", ErrUsage, *kernels)
		}
	}
	if *truthPath == "" {
		base := strings.TrimSuffix(filepath.Base(*file), filepath.Ext(*file))
		if p := filepath.Join("testdata", "groundtruth", base+".json"); fileExists(p) {
			*truthPath = p
		}
	}
	o := bench.DetectOptions{File: *file, TruthPath: *truthPath, FPS: *fps, Whole: *whole, Models: *models,
		Input: *input, MaxRegions: *maxRegions, MinScore: *minScore, Limit: *limit, JSON: *jsonOut, Progress: e.stderr, Kernel: kerns[0]}
	res, err := bench.Detect(e.ctx, o)
	if err != nil {
		return err
	}
	printDetectBench(e.stdout, res, *truthPath, *jsonOut)
	done := []string{res.Kernel}
	o.JSON = ""
	for _, k := range kerns[1:] {
		if k == "auto" {
			k = nanodet.AutoKernel()
		}
		if slices.Contains(done, k) {
			continue
		}
		o.Kernel = k
		r, err := bench.Detect(e.ctx, o)
		if errors.Is(err, nanodet.ErrKernel) {
			fmt.Fprintf(e.stdout, "  with the %s kernel: skipped, this CPU cannot run it\n", k)
			continue
		}
		if err != nil {
			return err
		}
		done = append(done, k)
		printKernelLine(e.stdout, r)
	}
	return nil
}

// printKernelLine prints one more kernel's pass: the detector's CPU time
// and share of a core, and precision and recall.
func printKernelLine(w io.Writer, r bench.DetectResult) {
	fmt.Fprintf(w, "  with the %s kernel: detect %.1f ms CPU a run, %.2f ms a frame, %.1f %% of a core at %g fps", r.Kernel, r.DetectCPURun, r.DetectCPUFrame, r.CPUPercent["detect"], r.FPS)
	if r.Truth != nil {
		fmt.Fprintf(w, "; person precision %.3f, recall %.3f", r.Truth.Total.Precision(), r.Truth.Total.Recall())
	}
	fmt.Fprintln(w)
}

// printDetectBench prints what 'vigil bench detect' measured: each
// stage's cost and, with a ground truth, precision and recall.
func printDetectBench(w io.Writer, res bench.DetectResult, truthPath, jsonOut string) {
	fmt.Fprintf(w, "bench detect: %s, %dx%d, %d frames decoded, %d through the pipeline at %g fps\n",
		filepath.Base(res.File), res.Width, res.Height, res.SourceFrames, res.Frames, res.FPS)
	fmt.Fprintf(w, "  %-8s %8s %12s  (detect: the detector's CPU time, %s kernel; the others: wall clock)\n", "stage", "ms/frame", "CPU % (1 core)", res.Kernel)
	for _, s := range []struct {
		name string
		v    float64
	}{{"decode", res.DecodeMsFrame}, {"motion", res.MotionMsFrame}, {"detect", res.DetectCPUFrame}, {"track", res.TrackMsFrame}} {
		fmt.Fprintf(w, "  %-8s %8.2f %12.1f\n", s.name, s.v, res.CPUPercent[s.name])
	}
	fmt.Fprintf(w, "  detector: %d runs, %.1f ms CPU a run (%.1f ms wall clock, crop included), %.1f runs per CPU second; motion in %d of %d frames\n",
		res.DetectRuns, res.DetectCPURun, res.DetectMsRun, res.DetectorRunsSec, res.MotionFrames, res.PipelineFrames)
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
