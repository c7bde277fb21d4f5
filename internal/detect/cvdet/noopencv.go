//go:build !opencv

package cvdet

import (
	"context"

	"vigil/internal/detect"
)

// DNN is a YOLO ONNX detector; this vigil was built without OpenCV, so
// NewDNN always fails.
type DNN struct{}

// NewDNN returns ErrNoOpenCV: this vigil was built without the opencv
// build tag. The config is still checked first, so a bad one is reported
// as such.
func NewDNN(c DNNConfig) (*DNN, error) {
	if err := c.fill(); err != nil {
		return nil, err
	}
	return nil, ErrNoOpenCV
}

// Layout reports the model's output layout.
func (d *DNN) Layout() Layout { return Layout{} }

// InputSize implements detect.Detector.
func (d *DNN) InputSize() int { return DefaultInputSize }

// Labels implements detect.Detector.
func (d *DNN) Labels() []string { return nil }

// Close implements detect.Detector.
func (d *DNN) Close() error { return nil }

// Detect implements detect.Detector; it always fails.
func (d *DNN) Detect(context.Context, *detect.RGB) ([]detect.Detection, error) {
	return nil, ErrNoOpenCV
}

// HOG is OpenCV's HOG people detector; this vigil was built without
// OpenCV, so NewHOG always fails.
type HOG struct{}

// NewHOG returns ErrNoOpenCV: this vigil was built without the opencv
// build tag. The config is still checked first.
func NewHOG(c HOGConfig) (*HOG, error) {
	if err := c.fill(); err != nil {
		return nil, err
	}
	return nil, ErrNoOpenCV
}

// Coefficients reports how many SVM coefficients the detector holds.
func (h *HOG) Coefficients() int { return 0 }

// InputSize implements detect.Detector.
func (h *HOG) InputSize() int { return hogInputSize }

// Labels implements detect.Detector.
func (h *HOG) Labels() []string { return []string{"person"} }

// Close implements detect.Detector.
func (h *HOG) Close() error { return nil }

// Detect implements detect.Detector; it always fails.
func (h *HOG) Detect(context.Context, *detect.RGB) ([]detect.Detection, error) {
	return nil, ErrNoOpenCV
}

// Haar is an OpenCV Haar cascade; this vigil was built without OpenCV, so
// NewHaar always fails.
type Haar struct{}

// NewHaar returns ErrNoOpenCV: this vigil was built without the opencv
// build tag. The config is still checked first.
func NewHaar(c HaarConfig) (*Haar, error) {
	if err := c.fill(); err != nil {
		return nil, err
	}
	return nil, ErrNoOpenCV
}

// Close does nothing.
func (h *Haar) Close() error { return nil }

// Find always fails.
func (h *Haar) Find(*detect.RGB) ([]detect.Box, error) { return nil, ErrNoOpenCV }
