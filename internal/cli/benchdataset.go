package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"vigil/internal/dataset"
	"vigil/internal/dataset/eval"
	"vigil/internal/detect"
	"vigil/internal/detect/cvdet"
	"vigil/internal/detect/nanodet"
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

// rankScore is the detectors' own threshold in dataset mode: low, so
// that AP ranks nearly every detection; the counts use --min-score.
const rankScore = 0.05

// benchDataset scores a detector on an exported dataset: NanoDet on the
// whole of each image, or an ONNX model through OpenCV.
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
	st, err := os.Stat(b.dir)
	if err != nil {
		return fmt.Errorf("bench detect: dataset: %w (give the directory of an exported dataset version)", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("bench detect: dataset: %s is not a directory (give the directory of an exported dataset version)", b.dir)
	}
	if _, err := os.Stat(b.dir + string(os.PathSeparator) + dataset.ManifestFile); err != nil {
		return fmt.Errorf("bench detect: %s is not a dataset: it has no %s (a dataset version is written by an export)", b.dir, dataset.ManifestFile)
	}
	var d detect.Detector
	name := "nanodet"
	if b.onnx != "" {
		m, err := cvdet.NewDNN(cvdet.DNNConfig{Model: b.onnx, Labels: b.labels, InputSize: b.input, MinScore: rankScore})
		if errors.Is(err, cvdet.ErrNoOpenCV) {
			return fmt.Errorf("bench detect: --model: %w (build vigil with -tags opencv)", err)
		}
		if err != nil {
			return fmt.Errorf("bench detect: %w", err)
		}
		d, name = m, b.onnx
	} else {
		dir := b.models
		if dir == "" {
			dir = nanodet.DefaultDir()
		}
		m, err := nanodet.LoadOptions(dir, nanodet.Options{InputSize: b.input, MinScore: rankScore})
		if err != nil {
			return fmt.Errorf("bench detect: %w", err)
		}
		d = m
	}
	defer d.Close()
	last := time.Now()
	r, err := eval.Run(e.ctx, b.dir, d, b.minScore, func(done, total int) {
		if time.Since(last) > 5*time.Second {
			last = time.Now()
			fmt.Fprintf(e.stderr, "bench detect: %d of %d images\n", done, total)
		}
	})
	if err != nil {
		return fmt.Errorf("bench detect: %w", err)
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
