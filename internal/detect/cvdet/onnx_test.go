//go:build opencv

package cvdet

import (
	"os"
	"path/filepath"
	"testing"

	"vigil/internal/detect/cvdet/onnxtest"
)

// The tests' models are built by package onnxtest: their output is a fixed
// tensor whatever the frame, so decoding, the letterbox mapping,
// thresholds and NMS can be checked against known boxes through OpenCV's
// real importer and forward pass.

// constModel returns an ONNX model taking images [1,3,size,size] whose
// output, of shape out, is vals (row-major).
func constModel(t testing.TB, size int, out []int, vals []float32) []byte {
	t.Helper()
	m, err := onnxtest.Const(size, out, vals)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// writeFile writes b to a file in t's temporary directory.
func writeFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// reshapeModel returns an ONNX model exported for images [1,3,size,size]
// only: its output is the image reshaped to out, so any other input size
// makes OpenCV's forward pass throw.
func reshapeModel(size int, out []int64) []byte { return onnxtest.Reshape(size, out) }
