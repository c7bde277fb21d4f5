package bench

import (
	"context"
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
)

// DatasetOptions are what Dataset scores.
type DatasetOptions struct {
	Dir      string  // an exported dataset version
	Models   string  // NanoDet's model directory ("" for nanodet.DefaultDir)
	Input    int     // detector input size (0: the model's default)
	MinScore float64 // the score from which detections count in precision and recall
	ONNX     string  // score this ONNX model through OpenCV instead of NanoDet
	Labels   string  // the ONNX model's labels file
	Progress io.Writer
}

// rankScore is the detectors' own threshold in dataset mode: low, so
// that AP ranks nearly every detection; the counts use MinScore.
const rankScore = 0.05

// Dataset scores a detector on an exported dataset: NanoDet on the whole
// of each image, or an ONNX model through OpenCV. It returns the
// detector's name and its scores.
func Dataset(ctx context.Context, o DatasetOptions) (string, eval.Result, error) {
	st, err := os.Stat(o.Dir)
	if err != nil {
		return "", eval.Result{}, fmt.Errorf("bench detect: dataset: %w (give the directory of an exported dataset version)", err)
	}
	if !st.IsDir() {
		return "", eval.Result{}, fmt.Errorf("bench detect: dataset: %s is not a directory (give the directory of an exported dataset version)", o.Dir)
	}
	if _, err := os.Stat(o.Dir + string(os.PathSeparator) + dataset.ManifestFile); err != nil {
		return "", eval.Result{}, fmt.Errorf("bench detect: %s is not a dataset: it has no %s (a dataset version is written by an export)", o.Dir, dataset.ManifestFile)
	}
	d, name, err := datasetDetector(o)
	if err != nil {
		return "", eval.Result{}, err
	}
	defer d.Close()
	last := time.Now()
	r, err := eval.Run(ctx, o.Dir, d, o.MinScore, func(done, total int) {
		if time.Since(last) > 5*time.Second && o.Progress != nil {
			last = time.Now()
			fmt.Fprintf(o.Progress, "bench detect: %d of %d images\n", done, total)
		}
	})
	if err != nil {
		return "", eval.Result{}, fmt.Errorf("bench detect: %w", err)
	}
	return name, r, nil
}

// datasetDetector loads the detector o names, and its name.
func datasetDetector(o DatasetOptions) (detect.Detector, string, error) {
	if o.ONNX != "" {
		m, err := cvdet.NewDNN(cvdet.DNNConfig{Model: o.ONNX, Labels: o.Labels, InputSize: o.Input, MinScore: rankScore})
		if errors.Is(err, cvdet.ErrNoOpenCV) {
			return nil, "", fmt.Errorf("bench detect: --model: %w (build vigil with -tags opencv)", err)
		}
		if err != nil {
			return nil, "", fmt.Errorf("bench detect: %w", err)
		}
		return m, o.ONNX, nil
	}
	dir := o.Models
	if dir == "" {
		dir = nanodet.DefaultDir()
	}
	m, err := nanodet.LoadOptions(dir, nanodet.Options{InputSize: o.Input, MinScore: rankScore})
	if err != nil {
		return nil, "", fmt.Errorf("bench detect: %w", err)
	}
	return m, "nanodet", nil
}
