//go:build opencv

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"vigil/internal/dataset"
	"vigil/internal/dataset/datasettest"
	"vigil/internal/detect/cvdet/onnxtest"
)

// TestBenchDetectDatasetONNX scores an ONNX model through OpenCV on a
// dataset: the model's output is fixed (package onnxtest), so the scores
// are known. The clip is 64x48, letterboxed into the model's 64x64 input
// 8 pixels down.
func TestBenchDetectDatasetONNX(t *testing.T) {
	dir := t.TempDir()
	clip := datasettest.SmallClip(t, dir, 64, 48, 10)
	r := func(x, y, w, h float64) *dataset.Rect { return &dataset.Rect{x, y, w, h} }
	a := &dataset.Annotation{
		Format: dataset.AnnotationFormat, Version: dataset.AnnotationVersion, Clip: "small",
		FPS: 10, Width: 64, Height: 48, Frames: 10, SchemaVersion: 1,
		Tracks: []dataset.Track{
			{ID: 1, Label: "person", Keyframes: []dataset.Keyframe{{Frame: 0, Box: r(16, 12, 32, 24)}, {Frame: 1, Outside: true}}},
			{ID: 2, Label: "dog", Keyframes: []dataset.Keyframe{{Frame: 0, Box: r(0, 0, 16, 12)}, {Frame: 1, Outside: true}}},
		},
		Annotator: "a1", Review: dataset.Review{State: dataset.Accepted, Reviewer: "r1"},
	}
	ds := filepath.Join(dir, "v1")
	schema := dataset.Schema{Version: 1, Labels: []string{"person", "dog"}}
	items := []dataset.Item{{Path: clip, Annotation: a, Lineage: datasettest.Lineage("don-1")}}
	if err := dataset.Export(context.Background(), ds, dataset.Version{Number: 1, Schema: schema}, items); err != nil {
		t.Fatal(err)
	}
	// YOLOv8, 1 x (4+2) x 3, boxes in input pixels: the person (TP, 0.9),
	// a person where there is none (FP, 0.6), the dog (TP, 0.8).
	boxes := [][6]float32{
		{32, 32, 32, 24, 0.9, 0},
		{50, 46, 20, 16, 0.6, 0},
		{8, 14, 16, 12, 0, 0.8},
	}
	vals := make([]float32, 6*3)
	for n, b := range boxes {
		for f, v := range b {
			vals[f*3+n] = v
		}
	}
	model, err := onnxtest.Const(64, []int{1, 6, 3}, vals)
	if err != nil {
		t.Fatal(err)
	}
	mp, lp := filepath.Join(dir, "m.onnx"), filepath.Join(dir, "labels.txt")
	if err := os.WriteFile(mp, model, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lp, []byte("person\ndog\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), []string{"bench", "detect", "--dataset", ds, "--model", mp, "--labels", lp, "--input", "64", "--json", "-"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
	}
	var res struct {
		Detector string
		Labels   []struct {
			Label                 string
			TP, FP, FN            int
			Precision, Recall, AP *float64
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if res.Detector != mp || len(res.Labels) != 2 {
		t.Fatalf("%s", stdout.String())
	}
	p, d := res.Labels[0], res.Labels[1]
	if p.Label != "person" || p.TP != 1 || p.FP != 1 || p.FN != 0 || *p.Precision != 0.5 || *p.Recall != 1 || *p.AP != 1 {
		t.Errorf("person %+v", p)
	}
	if d.Label != "dog" || d.TP != 1 || d.FP != 0 || *d.Precision != 1 || *d.AP != 1 {
		t.Errorf("dog %+v", d)
	}
}
