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
	dims, _, err := d.forward(grey)
	if err == nil {
		d.layout, err = parseShape(dims, labels)
	}
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
	dims, data, err := d.forward(img)
	if err != nil {
		return nil, fmt.Errorf("cvdet: %w", err)
	}
	lb := NewLetterbox(img.W, img.H, d.cfg.InputSize)
	ds, err := Decode(dims, data, d.labels, lb, d.cfg.MinScore, d.cfg.IoU, d.cfg.MaxDetections)
	if err != nil {
		return nil, fmt.Errorf("cvdet: %w", err)
	}
	return ds, nil
}

// maxDims bounds the rank of an output read back from OpenCV.
const maxDims = 8

// forward letterboxes img, runs the network and returns a copy of its
// output and the output's shape.
func (d *DNN) forward(img *detect.RGB) ([]int, []float32, error) {
	blob, err := d.blob(img)
	if err != nil {
		return nil, nil, err
	}
	defer blob.Close()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.net == nil {
		return nil, nil, fmt.Errorf("detector is closed")
	}
	eb := errBuf()
	if C.vigil_net_forward(d.net, unsafe.Pointer(blob.Ptr()), &eb[0], errLen) != 0 {
		return nil, nil, fmt.Errorf("OpenCV cannot run the model at input size %d: %w", d.cfg.InputSize, cvError(eb))
	}
	var cdims [maxDims]C.int
	n := int(C.vigil_net_out_dims(d.net, &cdims[0], maxDims))
	if n < 0 {
		return nil, nil, fmt.Errorf("output of rank above %d: %w", maxDims, ErrShape)
	}
	dims := make([]int, n)
	total := 1
	for i := range dims {
		dims[i] = int(cdims[i])
		if dims[i] <= 0 || dims[i] > MaxCandidates*(MaxClasses+5) {
			return nil, nil, fmt.Errorf("output shape %v: dimension %d out of range: %w", dims[:i+1], i, ErrShape)
		}
		total *= dims[i]
		if total > MaxCandidates*(MaxClasses+5) {
			return nil, nil, fmt.Errorf("output of more than %d values: %w", MaxCandidates*(MaxClasses+5), ErrShape)
		}
	}
	var ctotal C.size_t
	p := C.vigil_net_out_data(d.net, &ctotal)
	if p == nil || int(ctotal) != total {
		return nil, nil, fmt.Errorf("output shape %v is not a dense float32 tensor of %d values: %w", dims, total, ErrShape)
	}
	data := slices.Clone(unsafe.Slice((*float32)(unsafe.Pointer(p)), total))
	return dims, data, nil
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
