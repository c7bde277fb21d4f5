//go:build opencv

package cvdet

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"vigil/internal/detect"
)

// Haar is an OpenCV Haar cascade classifier (by default the frontal-face
// one): a face detector independent of pigo, which the redaction's tests
// use to check its work. It is safe for concurrent use (runs are
// serialised).
type Haar struct {
	cfg HaarConfig

	mu sync.Mutex
	h  *C.vigil_haar // nil once closed
}

// NewHaar loads the cascade c names.
func NewHaar(c HaarConfig) (*Haar, error) {
	if err := c.fill(); err != nil {
		return nil, err
	}
	path := C.CString(c.Cascade)
	defer C.free(unsafe.Pointer(path))
	eb := errBuf()
	h := C.vigil_haar_new(path, &eb[0], errLen)
	if h == nil {
		return nil, fmt.Errorf("cvdet: Haar cascade %s: %w", c.Cascade, cvError(eb))
	}
	return &Haar{cfg: c, h: h}, nil
}

// Close frees the cascade; Find fails after it.
func (h *Haar) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.h != nil {
		C.vigil_haar_free(h.h)
		h.h = nil
	}
	return nil
}

// Find returns the objects the cascade finds in img (its luma, histogram
// equalised), at most MaxNMS of them, clipped to the image.
func (h *Haar) Find(img *detect.RGB) ([]detect.Box, error) {
	if err := checkFrame(img); err != nil {
		return nil, err
	}
	max := MaxNMS
	rects := make([]C.int, 4*max)
	var n C.int
	eb := errBuf()
	h.mu.Lock()
	if h.h == nil {
		h.mu.Unlock()
		return nil, fmt.Errorf("cvdet: Haar cascade is closed")
	}
	rc := C.vigil_haar_detect(h.h, (*C.uchar)(ptr(img.Pix)), C.int(img.W), C.int(img.H),
		C.double(h.cfg.ScaleFactor), C.int(h.cfg.MinNeighbors), C.int(h.cfg.MinSize),
		&rects[0], C.int(max), &n, &eb[0], errLen)
	h.mu.Unlock()
	if rc != 0 {
		return nil, fmt.Errorf("cvdet: OpenCV Haar: %w", cvError(eb))
	}
	var bs []detect.Box
	for i := 0; i < int(n) && i < max; i++ {
		x, y, w, hh := float64(rects[4*i]), float64(rects[4*i+1]), float64(rects[4*i+2]), float64(rects[4*i+3])
		if b, ok := detect.Corners(x, y, x+w, y+hh, float64(img.W), float64(img.H)); ok {
			bs = append(bs, b)
		}
	}
	return bs, nil
}
