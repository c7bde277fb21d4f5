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
	"image"
	"image/color"
	"io"
	"os"
	"slices"
	"sync"
	"unsafe"

	"gocv.io/x/gocv"

	"vigil/internal/detect"
)

// DNN runs a YOLO ONNX model with OpenCV's DNN module. It implements
// detect.Detector and is safe for concurrent use (runs are serialised).
type DNN struct {
	cfg    DNNConfig
	labels []string // nil: COCO's
	layout Layout

	mu  sync.Mutex
	net *C.vigil_net // nil once closed
}

// NewDNN loads c.Model and runs it once on a grey frame to learn its
// output's layout, which must agree with the labels.
func NewDNN(c DNNConfig) (*DNN, error) {
	if err := c.fill(); err != nil {
		return nil, err
	}
	var labels []string
	if c.Labels != "" {
		ls, err := ReadLabels(c.Labels)
		if err != nil {
			return nil, err
		}
		labels = ls
	}
	raw, err := readModel(c.Model)
	if err != nil {
		return nil, err
	}
	eb := errBuf()
	net := C.vigil_net_read((*C.char)(ptr(raw)), C.size_t(len(raw)), &eb[0], errLen)
	if net == nil {
		return nil, fmt.Errorf("cvdet: OpenCV cannot load the model %s: %w", c.Model, cvError(eb))
	}
	d := &DNN{cfg: c, labels: labels, net: net}
	grey, _ := detect.NewRGB(c.InputSize, c.InputSize)
	for i := range grey.Pix {
		grey.Pix[i] = 114
	}
	err = d.forward(grey, func(dims []int, _ []float32) error {
		var err error
		d.layout, err = parseShape(dims, labels)
		return err
	})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("cvdet: model %s: %w", c.Model, err)
	}
	return d, nil
}

// readModel reads an ONNX file of at most MaxModelSize bytes.
func readModel(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cvdet: model: %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, MaxModelSize+1))
	if err != nil {
		return nil, fmt.Errorf("cvdet: model %s: %w", path, err)
	}
	if len(raw) > MaxModelSize {
		return nil, fmt.Errorf("cvdet: model %s: larger than %d bytes", path, MaxModelSize)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("cvdet: model %s: empty file", path)
	}
	return raw, nil
}

// Layout reports the model's output layout.
func (d *DNN) Layout() Layout { return d.layout }

// InputSize implements detect.Detector.
func (d *DNN) InputSize() int { return d.cfg.InputSize }

// Labels implements detect.Detector.
func (d *DNN) Labels() []string {
	if d.labels == nil {
		return detect.COCOLabels[:]
	}
	return slices.Clone(d.labels)
}

// Close implements detect.Detector; Detect fails after it.
func (d *DNN) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.net != nil {
		C.vigil_net_free(d.net)
		d.net = nil
	}
	return nil
}

// Detect implements detect.Detector. ctx is checked before the run, which
// cannot be interrupted.
func (d *DNN) Detect(ctx context.Context, img *detect.RGB) ([]detect.Detection, error) {
	if err := checkFrame(img); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	lb := NewLetterbox(img.W, img.H, d.cfg.InputSize)
	var ds []detect.Detection
	err := d.forward(img, func(dims []int, data []float32) error {
		var err error
		ds, err = Decode(dims, data, d.labels, lb, d.cfg.MinScore, d.cfg.IoU, d.cfg.MaxDetections)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cvdet: %w", err)
	}
	return ds, nil
}

// maxDims bounds the rank of an output read back from OpenCV.
const maxDims = 8

// forward letterboxes img, runs the network and calls use with the
// output's shape and values. The values are OpenCV's own buffer, valid
// only during use (the lock is held), so they are never copied.
func (d *DNN) forward(img *detect.RGB, use func(dims []int, data []float32) error) error {
	blob, err := d.blob(img)
	if err != nil {
		return err
	}
	defer blob.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.net == nil {
		return fmt.Errorf("detector is closed")
	}
	eb := errBuf()
	if C.vigil_net_forward(d.net, unsafe.Pointer(blob.Ptr()), &eb[0], errLen) != 0 {
		return fmt.Errorf("OpenCV cannot run the model at input size %d: %w", d.cfg.InputSize, cvError(eb))
	}
	var cdims [maxDims]C.int
	n := int(C.vigil_net_out_dims(d.net, &cdims[0], maxDims))
	if n < 0 {
		return fmt.Errorf("output of rank above %d: %w", maxDims, ErrShape)
	}
	dims := make([]int, n)
	total := 1
	for i := range dims {
		dims[i] = int(cdims[i])
		if dims[i] <= 0 || dims[i] > MaxValues {
			return fmt.Errorf("output shape %v: dimension %d out of range: %w", dims[:i+1], i, ErrShape)
		}
		total *= dims[i]
		if total > MaxValues {
			return fmt.Errorf("output of more than %d values: %w", MaxValues, ErrShape)
		}
	}
	var ctotal C.size_t
	p := C.vigil_net_out_data(d.net, &ctotal)
	if p == nil || uint64(ctotal) != uint64(total) {
		return fmt.Errorf("output shape %v is not a dense float32 tensor of %d values: %w", dims, total, ErrShape)
	}
	return use(dims, unsafe.Slice((*float32)(unsafe.Pointer(p)), total))
}

// blob letterboxes img into the model's input and returns the 1x3xSxS
// float blob, RGB scaled to [0, 1].
func (d *DNN) blob(img *detect.RGB) (gocv.Mat, error) {
	s := d.cfg.InputSize
	src, err := gocv.NewMatFromBytes(img.H, img.W, gocv.MatTypeCV8UC3, img.Pix)
	if err != nil {
		return gocv.Mat{}, err
	}
	defer src.Close()
	lb := NewLetterbox(img.W, img.H, s)
	scaled := gocv.NewMat()
	defer scaled.Close()
	gocv.Resize(src, &scaled, image.Pt(lb.NW, lb.NH), 0, 0, gocv.InterpolationLinear)
	boxed := gocv.NewMat()
	defer boxed.Close()
	grey := color.RGBA{R: 114, G: 114, B: 114, A: 255}
	gocv.CopyMakeBorder(scaled, &boxed, lb.PadY, s-lb.NH-lb.PadY, lb.PadX, s-lb.NW-lb.PadX, gocv.BorderConstant, grey)
	if got := boxed.Size(); len(got) != 2 || got[0] != s || got[1] != s {
		return gocv.Mat{}, fmt.Errorf("letterbox is %v, not %dx%d", got, s, s)
	}
	return gocv.BlobFromImage(boxed, 1.0/255, image.Pt(s, s), gocv.Scalar{}, false, false), nil
}
