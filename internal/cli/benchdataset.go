package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"vigil/internal/bench"
	"vigil/internal/dataset/eval"
	"vigil/internal/detect/pipeline"
)

// datasetBench is what 'vigil bench detect --dataset' was asked.
type datasetBench struct {
	dir, json    string
	models       string
	input        int
	minScore     float64
	onnx, labels string
}

// benchDataset scores a detector on an exported dataset (bench.Dataset)
// and prints or writes its scores.
func benchDataset(e env, b datasetBench) error {
	if b.minScore == 0 {
		b.minScore = pipeline.DefaultMinScore
	}
	if !(b.minScore > 0 && b.minScore < 1) {
		return fmt.Errorf("%w: --min-score must be in (0, 1)", ErrUsage)
	}
	if b.labels != "" && b.onnx == "" {
		return fmt.Errorf("%w: --labels goes with --model", ErrUsage)
	}
	name, r, err := bench.Dataset(e.ctx, bench.DatasetOptions{Dir: b.dir, Models: b.models, Input: b.input, MinScore: b.minScore,
		ONNX: b.onnx, Labels: b.labels, Progress: e.stderr})
	if err != nil {
		return err
	}
	out := struct {
		Detector string `json:"detector"`
		eval.Result
	}{name, r}
	if b.json != "" {
		data, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return err
		}
		data = append(data, '\n')
		if b.json == "-" {
			_, err := e.stdout.Write(data)
			return err
		}
		if err := os.WriteFile(b.json, data, 0o644); err != nil {
			return fmt.Errorf("bench detect: %w", err)
		}
	}
	printDatasetScores(e.stdout, name, r)
	if b.json != "" {
		fmt.Fprintf(e.stdout, "  scores written to %s\n", b.json)
	}
	return nil
}

func printDatasetScores(w io.Writer, detector string, r eval.Result) {
	fmt.Fprintf(w, "bench detect: %s on dataset %s (version %d), %d images\n", detector, r.Dataset, r.Version, r.Images)
	fmt.Fprintf(w, "  precision and recall at score >= %g; AP: COCO 101-point at IoU %g over all detections\n", r.MinScore, r.IoU)
	fmt.Fprintf(w, "  %-12s %6s %5s %5s %5s %9s %7s %6s\n", "label", "boxes", "TP", "FP", "FN", "precision", "recall", "AP")
	f := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.3f", *p)
	}
	for _, s := range append(r.Labels, r.Overall) {
		fmt.Fprintf(w, "  %-12s %6d %5d %5d %5d %9s %7s %6s\n", s.Label, s.Truths, s.TP, s.FP, s.FN, f(s.Precision), f(s.Recall), f(s.AP))
	}
}
