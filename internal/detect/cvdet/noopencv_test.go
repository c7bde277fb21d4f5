//go:build !opencv

package cvdet

import (
	"errors"
	"strings"
	"testing"
)

// TestWithoutOpenCV: without the opencv tag the constructors say how to
// get OpenCV, after checking the config.
func TestWithoutOpenCV(t *testing.T) {
	if _, err := NewDNN(DNNConfig{Model: "m.onnx"}); !errors.Is(err, ErrNoOpenCV) || !strings.Contains(err.Error(), "-tags opencv") {
		t.Errorf("NewDNN: %v", err)
	}
	if _, err := NewHOG(HOGConfig{}); !errors.Is(err, ErrNoOpenCV) {
		t.Errorf("NewHOG: %v", err)
	}
	if _, err := NewHaar(HaarConfig{}); !errors.Is(err, ErrNoOpenCV) {
		t.Errorf("NewHaar: %v (is opencv-data installed?)", err)
	}
	if _, err := NewHaar(HaarConfig{Cascade: "/nonexistent.xml"}); err == nil || errors.Is(err, ErrNoOpenCV) || !strings.Contains(err.Error(), "opencv-data") {
		t.Errorf("NewHaar without a cascade: %v, want a hint to install opencv-data", err)
	}
	if _, err := NewDNN(DNNConfig{}); err == nil || errors.Is(err, ErrNoOpenCV) {
		t.Errorf("NewDNN without a model: %v, want a config error", err)
	}
}
