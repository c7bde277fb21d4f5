//go:build !opencv

package hubd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/detect/cvdet"
	"vigil/internal/vigiltest"
)

// TestOpenCVDetectorNeedsTheBuildTag: a hub built without OpenCV refuses
// an OpenCV detector at start, saying how to get one, instead of running
// without detection.
func TestOpenCVDetectorNeedsTheBuildTag(t *testing.T) {
	_, rcpt := household(t)
	for _, d := range []config.Detection{{Detector: "opencv-hog"}, {Detector: "opencv-onnx", ONNXModel: "/nonexistent/yolo.onnx"}} {
		cfg := hubConfig(t, rcpt, map[string]string{"yard": "rtsp://127.0.0.1:1/none"}, time.Second)
		cfg.Cameras[0].Detect = &config.Detect{}
		cfg.Detection = &d
		h, err := New(cfg, Options{Logger: vigiltest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		err = h.Start(context.Background())
		if err == nil {
			h.Close()
		}
		if !errors.Is(err, cvdet.ErrNoOpenCV) || !strings.Contains(err.Error(), "detection.detector") {
			t.Errorf("%s: start: %v, want detection.detector: %v", d.Detector, err, cvdet.ErrNoOpenCV)
		}
	}
}
