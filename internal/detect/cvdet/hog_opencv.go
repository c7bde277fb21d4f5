//go:build opencv

package cvdet

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"sync"

	"vigil/internal/detect"
)

// HOG is OpenCV's HOG people detector with its default (Dalal-Triggs)
// coefficients. It implements detect.Detector, reports only "person", and
// is safe for concurrent use (runs are serialised).
type HOG struct {
	cfg HOGConfig

	mu  sync.Mutex
	hog *C.vigil_hog // nil once closed
}

// NewHOG returns a HOG people detector.
func NewHOG(c HOGConfig) (*HOG, error) {
	if err := c.fill(); err != nil {
		return nil, err
	}
	eb := errBuf()
	h := C.vigil_hog_new(&eb[0], errLen)
	if h == nil {
		return nil, fmt.Errorf("cvdet: OpenCV HOG: %w", cvError(eb))
	}
	return &HOG{cfg: c, hog: h}, nil
}

// Coefficients reports how many SVM coefficients the detector holds
// (3781 for OpenCV's default people detector: 3780 weights and a bias).
func (h *HOG) Coefficients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hog == nil {
		return 0
	}
	return int(C.vigil_hog_coeffs(h.hog))
}

// InputSize implements detect.Detector: HOG scans frames of any size;
// this is only the crop size it suggests.
func (h *HOG) InputSize() int { return hogInputSize }

// Labels implements detect.Detector.
func (h *HOG) Labels() []string { return []string{"person"} }

// Close implements detect.Detector; Detect fails after it.
func (h *HOG) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hog != nil {
		C.vigil_hog_free(h.hog)
		h.hog = nil
	}
	return nil
}

// Detect implements detect.Detector. ctx is checked before the scan, which
// cannot be interrupted.
func (h *HOG) Detect(ctx context.Context, img *detect.RGB) ([]detect.Detection, error) {
	if err := checkFrame(img); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The enlarged frame is bounded like any frame.
	up := min(h.cfg.Upscale, math.Sqrt(float64(detect.MaxPixels)/float64(img.W*img.H)))
	if up < 1 {
		up = 1
	}
	max := MaxNMS
	rects := make([]C.int, 4*max)
	weights := make([]C.double, max)
	var n C.int
	eb := errBuf()
	h.mu.Lock()
	if h.hog == nil {
		h.mu.Unlock()
		return nil, fmt.Errorf("cvdet: detector is closed")
	}
	rc := C.vigil_hog_detect(h.hog, (*C.uchar)(ptr(img.Pix)), C.int(img.W), C.int(img.H),
		C.double(up), C.double(h.cfg.HitThreshold), C.double(h.cfg.Scale),
		&rects[0], &weights[0], C.int(max), &n, &eb[0], errLen)
	h.mu.Unlock()
	if rc != 0 {
		return nil, fmt.Errorf("cvdet: OpenCV HOG: %w", cvError(eb))
	}
	W, H := float64(img.W), float64(img.H)
	var ds []detect.Detection
	for i := 0; i < int(n) && i < max; i++ {
		w := float64(weights[i])
		score := 0.0
		if w > 0 {
			score = w / (1 + w)
		}
		if !(score >= h.cfg.MinScore) {
			continue
		}
		b, ok := detect.Corners(float64(rects[4*i])/up, float64(rects[4*i+1])/up,
			float64(rects[4*i]+rects[4*i+2])/up, float64(rects[4*i+1]+rects[4*i+3])/up, W, H)
		if ok {
			ds = append(ds, detect.Detection{Label: "person", Score: score, Box: b})
		}
	}
	ds = detect.NMS(ds, h.cfg.IoU)
	if len(ds) > h.cfg.MaxDetections {
		ds = ds[:h.cfg.MaxDetections]
	}
	return ds, nil
}
