// Package cvdet holds the detectors that run on OpenCV (through
// gocv.io/x/gocv v0.31.0, built against Debian's OpenCV 4.6):
//
//   - [NewDNN]: a user-supplied ONNX model of the YOLO family. The output
//     format is told from the output's shape:
//
//     YOLOv5   1 x N x (5+C)   cx, cy, w, h, objectness, C class scores
//     YOLOv8   1 x (4+C) x N   cx, cy, w, h, C class scores (no objectness)
//
//     boxes in the model's input pixels. The frame is letterboxed into the
//     model's square input (DNNConfig.InputSize, default 640: scaled to
//     fit, centred, padded with grey 114), scaled by 1/255 in RGB order
//     (the frames are RGB already, so no channel swap is needed), and the
//     boxes are mapped back to the frame's pixels, thresholded and put
//     through per-label NMS ([detect.NMS]). Labels come from a file, one a
//     line, or are COCO's 80 ([detect.COCOLabels]) when the model has 80
//     classes and no file is given.
//
//   - [NewHOG]: OpenCV's HOG + linear SVM people detector (Dalal-Triggs),
//     a cheap fallback that needs no model file and reports only "person".
//
// A model file is hostile: it is read up to MaxModelSize, OpenCV's C++
// exceptions (a corrupt file, an input size the model cannot take) become
// errors instead of aborting the process, every output dimension is checked
// before any index (rank 3, batch 1, at most MaxCandidates boxes,
// MaxClasses classes and MaxValues values, the element count equal to the
// shape's), scores must
// lie in [0, 1] and boxes be finite, and at most MaxNMS boxes (the highest
// scores) enter NMS. An unexpected shape is an error that names the shapes
// expected.
//
// Everything that touches OpenCV is built only with the build tag opencv
// (and needs libopencv-dev); without it NewDNN and NewHOG return
// [ErrNoOpenCV], so the default build stays pure Go. The package never logs
// and never writes a frame anywhere.
package cvdet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"vigil/internal/detect"
)

// ErrNoOpenCV is returned by the constructors of a vigil built without the
// opencv build tag.
var ErrNoOpenCV = errors.New("this vigil was built without OpenCV; rebuild with -tags opencv (needs libopencv-dev)")

// ErrShape wraps every error about a model output whose shape or values
// are not what the package expects.
var ErrShape = errors.New("unexpected model output")

// Bounds on what a model and its files may hold.
const (
	// MaxModelSize is the largest ONNX file read, in bytes (YOLOv8x is
	// about 260 MB).
	MaxModelSize = 400 << 20
	// MaxLabelsSize is the largest labels file read, in bytes.
	MaxLabelsSize = 64 << 10
	// MaxClasses bounds the classes a model may report.
	MaxClasses = 1000
	// MaxCandidates bounds the boxes a model may output (YOLOv5 at 1280
	// has 102000).
	MaxCandidates = 200000
	// MaxValues bounds the values of a model's output (YOLOv5 at 1280
	// with COCO's classes has 8.7 million).
	MaxValues = 1 << 25
	// MaxNMS bounds the boxes that enter NMS, highest scores first.
	MaxNMS = 3000
	// MaxLabel is the longest label accepted, in bytes.
	MaxLabel = detect.MaxLabel
)

// Defaults for zero config fields.
const (
	DefaultInputSize     = 640
	DefaultDNNMinScore   = 0.25
	DefaultIoU           = 0.45
	DefaultMaxDetections = 100
	DefaultHOGUpscale    = 2
	DefaultHOGMinScore   = 0.5
)

// Format is the layout of a YOLO model's output.
type Format int

// The output layouts understood.
const (
	FormatUnknown Format = iota
	// YOLOv5 is 1 x N x (5+C): one row per box, with objectness.
	YOLOv5
	// YOLOv8 is 1 x (4+C) x N: one column per box, no objectness.
	YOLOv8
)

func (f Format) String() string {
	switch f {
	case YOLOv5:
		return "YOLOv5"
	case YOLOv8:
		return "YOLOv8"
	}
	return "unknown"
}

// DNNConfig configures NewDNN.
type DNNConfig struct {
	// Model is the path of the ONNX file (required).
	Model string
	// Labels is the path of the labels file, one label per line (blank
	// lines at the end ignored); required unless the model has 80
	// classes, which are then taken to be COCO's.
	Labels string
	// InputSize is the square side the model runs at: a multiple of 32
	// from 64 to 1280 (default 640). A model exported with a fixed input
	// needs exactly its size.
	InputSize int
	// MinScore is the lowest score reported, in (0, 1) (default 0.25);
	// for YOLOv5 the score is objectness times the class score.
	MinScore float64
	// IoU is the overlap above which NMS drops the weaker of two boxes
	// with the same label, in (0, 1] (default 0.45).
	IoU float64
	// MaxDetections caps the result (default 100).
	MaxDetections int
}

func (c *DNNConfig) fill() error {
	if c.Model == "" {
		return errors.New("cvdet: no ONNX model given")
	}
	if c.InputSize == 0 {
		c.InputSize = DefaultInputSize
	}
	if c.InputSize < 64 || c.InputSize > 1280 || c.InputSize%32 != 0 {
		return fmt.Errorf("cvdet: input size %d: want a multiple of 32 from 64 to 1280 (default %d)", c.InputSize, DefaultInputSize)
	}
	return fillOutput("", &c.MinScore, DefaultDNNMinScore, &c.IoU, &c.MaxDetections)
}

// fillOutput defaults and checks what both detectors keep of their raw
// boxes: the lowest score, NMS's overlap and the most detections.
func fillOutput(what string, minScore *float64, defScore float64, iou *float64, maxDets *int) error {
	if *minScore == 0 {
		*minScore = defScore
	}
	if !(*minScore > 0 && *minScore < 1) {
		return fmt.Errorf("cvdet: %smin score %v: want 0 < score < 1", what, *minScore)
	}
	if *iou == 0 {
		*iou = DefaultIoU
	}
	if !(*iou > 0 && *iou <= 1) {
		return fmt.Errorf("cvdet: %siou %v: want 0 < iou <= 1", what, *iou)
	}
	if *maxDets == 0 {
		*maxDets = DefaultMaxDetections
	}
	if *maxDets < 0 || *maxDets > MaxNMS {
		return fmt.Errorf("cvdet: %smax detections %d: want 1 to %d", what, *maxDets, MaxNMS)
	}
	return nil
}

// HOGConfig configures NewHOG.
type HOGConfig struct {
	// Upscale enlarges the frame before detection, from 1 to 3 (default
	// 2): the detector's window is 64x128, so people shorter than about
	// 128/Upscale pixels are not found. Time grows with its square. On
	// vtest (people 60 to 200 pixels tall) recall is 0.06 at 1, 0.46 at
	// 1.5 and 0.66 at 2. The enlarged frame is capped at
	// detect.MaxPixels.
	Upscale float64
	// Scale is the step between pyramid levels, from 1.01 to 1.5
	// (default 1.05). Larger is faster and finds fewer people: on vtest
	// at Upscale 2, 1.2 takes about half the time for recall 0.55
	// instead of 0.64.
	Scale float64
	// HitThreshold is the SVM margin a window needs (default 0; may be
	// negative down to -1 to find more, at most 3).
	HitThreshold float64
	// MinScore is the lowest score reported, in (0, 1) (default 0.5).
	// A window's score is w/(1+w) for its SVM margin w >= 0.
	MinScore float64
	// IoU is the overlap above which NMS drops the weaker of two boxes
	// (default 0.45).
	IoU float64
	// MaxDetections caps the result (default 100).
	MaxDetections int
}

func (c *HOGConfig) fill() error {
	if c.Upscale == 0 {
		c.Upscale = DefaultHOGUpscale
	}
	if !(c.Upscale >= 1 && c.Upscale <= 3) {
		return fmt.Errorf("cvdet: hog upscale %v: want 1 to 3", c.Upscale)
	}
	if c.Scale == 0 {
		c.Scale = 1.05
	}
	if !(c.Scale >= 1.01 && c.Scale <= 1.5) {
		return fmt.Errorf("cvdet: hog scale %v: want 1.01 to 1.5", c.Scale)
	}
	if !(c.HitThreshold >= -1 && c.HitThreshold <= 3) {
		return fmt.Errorf("cvdet: hog hit threshold %v: want -1 to 3", c.HitThreshold)
	}
	return fillOutput("hog ", &c.MinScore, DefaultHOGMinScore, &c.IoU, &c.MaxDetections)
}

// hogInputSize is what a HOG detector reports as its InputSize: it scans
// any frame, so this only tells the pipeline how large a crop to hand it.
const hogInputSize = 512

// checkFrame refuses a frame that is not a well-formed RGB image.
func checkFrame(img *detect.RGB) error {
	if img == nil || img.W <= 0 || img.H <= 0 || img.W > 1<<15 || img.H > 1<<15 ||
		img.W*img.H > detect.MaxPixels || len(img.Pix) != img.W*img.H*3 {
		return fmt.Errorf("cvdet: %w", detect.ErrFrameSize)
	}
	return nil
}

// ReadLabels reads a labels file: one label per line, surrounding spaces
// trimmed, blank lines at the end dropped; every label must be a short
// printable string and there may be at most MaxClasses.
func ReadLabels(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cvdet: labels: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxLabelsSize+1)); err != nil {
		return nil, fmt.Errorf("cvdet: labels %s: %w", path, err)
	}
	if buf.Len() > MaxLabelsSize {
		return nil, fmt.Errorf("cvdet: labels %s: larger than %d bytes", path, MaxLabelsSize)
	}
	ls, err := ParseLabels(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("cvdet: labels %s: %w", path, err)
	}
	return ls, nil
}

// ParseLabels parses a labels file's contents (see ReadLabels).
func ParseLabels(b []byte) ([]string, error) {
	if len(b) > MaxLabelsSize {
		return nil, fmt.Errorf("larger than %d bytes", MaxLabelsSize)
	}
	var ls []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), MaxLabelsSize+1)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		ls = append(ls, l)
		if len(ls) > MaxClasses {
			return nil, fmt.Errorf("more than %d labels", MaxClasses)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for len(ls) > 0 && ls[len(ls)-1] == "" {
		ls = ls[:len(ls)-1]
	}
	if len(ls) == 0 {
		return nil, errors.New("no labels")
	}
	for i, l := range ls {
		if !detect.ValidLabel(l) {
			return nil, fmt.Errorf("line %d: want a printable label of 1 to %d bytes", i+1, MaxLabel)
		}
	}
	return ls, nil
}

// Layout is a checked model output: its format, box and class counts.
type Layout struct {
	Format  Format
	Boxes   int // N
	Classes int // C
}

// ParseShape tells a model output's layout from its shape. When labels is
// positive it is the number of classes the labels file names, and the
// shape must agree with it; otherwise the longer axis is taken to be the
// boxes'. The error names the shapes expected.
func ParseShape(dims []int, labels int) (Layout, error) {
	want := "want 1 x N x (5+C) (YOLOv5) or 1 x (4+C) x N (YOLOv8)"
	if labels > 0 {
		want = fmt.Sprintf("want 1 x N x %d (YOLOv5) or 1 x %d x N (YOLOv8) for %d labels", 5+labels, 4+labels, labels)
	}
	bad := func(why string) (Layout, error) {
		return Layout{}, fmt.Errorf("output shape %v: %s; %s: %w", dims, why, want, ErrShape)
	}
	if len(dims) != 3 {
		return bad(fmt.Sprintf("rank %d", len(dims)))
	}
	if dims[0] != 1 {
		return bad("batch is not 1")
	}
	a, b := dims[1], dims[2]
	if a <= 0 || b <= 0 || a > MaxCandidates+5 || b > MaxCandidates+5 {
		return bad("a dimension is out of range")
	}
	if a*b > MaxValues {
		return bad(fmt.Sprintf("more than %d values", MaxValues))
	}
	v5 := Layout{Format: YOLOv5, Boxes: a, Classes: b - 5}
	v8 := Layout{Format: YOLOv8, Boxes: b, Classes: a - 4}
	ok := func(l Layout) bool {
		return l.Classes >= 1 && l.Classes <= MaxClasses && l.Boxes >= 1 && l.Boxes <= MaxCandidates &&
			(labels <= 0 || l.Classes == labels)
	}
	var l Layout
	switch {
	case ok(v5) && ok(v8) && labels > 0:
		return bad("both layouts fit")
	case ok(v5) && ok(v8):
		if a == b {
			return bad("both layouts fit")
		}
		l = v5
		if b > a {
			l = v8
		}
	case ok(v5):
		l = v5
	case ok(v8):
		l = v8
	default:
		return bad("no layout fits")
	}
	return l, nil
}

// parseShape is ParseShape for a model whose classes are labels, or
// COCO's 80 when labels is nil.
func parseShape(dims []int, labels []string) (Layout, error) {
	if labels != nil {
		return ParseShape(dims, len(labels))
	}
	l, err := ParseShape(dims, len(detect.COCOLabels))
	if err != nil {
		return Layout{}, fmt.Errorf("%w (no labels file was given, so the model must have COCO's 80 classes)", err)
	}
	return l, nil
}

// Letterbox is how a frame sits in the model's square input: scaled by
// SX, SY (the two differ only by rounding) and offset by PadX, PadY.
type Letterbox struct {
	W, H       int // the frame's size
	NW, NH     int // the scaled frame's size inside the input
	PadX, PadY int // the scaled frame's top-left corner in the input
	SX, SY     float64
}

// NewLetterbox fits a w x h frame into a size x size input, centred.
func NewLetterbox(w, h, size int) Letterbox {
	s := math.Min(float64(size)/float64(w), float64(size)/float64(h))
	nw := min(size, max(1, int(math.Round(float64(w)*s))))
	nh := min(size, max(1, int(math.Round(float64(h)*s))))
	return Letterbox{W: w, H: h, NW: nw, NH: nh, PadX: (size - nw) / 2, PadY: (size - nh) / 2,
		SX: float64(nw) / float64(w), SY: float64(nh) / float64(h)}
}

// ToFrame maps a box given by its centre and size in input pixels to the
// frame's pixels, clipped to the frame; ok is false when the result is
// empty or not finite.
func (lb Letterbox) ToFrame(cx, cy, w, h float64) (detect.Box, bool) {
	return detect.Corners((cx-w/2-float64(lb.PadX))/lb.SX, (cy-h/2-float64(lb.PadY))/lb.SY,
		(cx+w/2-float64(lb.PadX))/lb.SX, (cy+h/2-float64(lb.PadY))/lb.SY, float64(lb.W), float64(lb.H))
}

// Decode turns a model output (its shape and values, row-major) into
// detections in the frame's pixels: the boxes scoring at least minScore,
// at most MaxNMS of them (the highest), through per-label NMS with iou,
// at most maxDets kept. labels names the classes; when nil, the model must
// have 80 classes and COCO's are used.
func Decode(dims []int, data []float32, labels []string, lb Letterbox, minScore, iou float64, maxDets int) ([]detect.Detection, error) {
	l, err := parseShape(dims, labels)
	if err != nil {
		return nil, err
	}
	if labels == nil {
		labels = detect.COCOLabels[:]
	}
	feat := l.Classes + 4
	if l.Format == YOLOv5 {
		feat++
	}
	if len(data) != l.Boxes*feat {
		return nil, fmt.Errorf("output shape %v holds %d values, not %d: %w", dims, len(data), l.Boxes*feat, ErrShape)
	}
	// at returns feature k of box i.
	at := func(i, k int) float64 { return float64(data[i*feat+k]) }
	if l.Format == YOLOv8 {
		at = func(i, k int) float64 { return float64(data[k*l.Boxes+i]) }
	}
	first := 4 // index of the first class score
	if l.Format == YOLOv5 {
		first = 5
	}
	var ds []detect.Detection
	for i := 0; i < l.Boxes; i++ {
		obj := 1.0
		if l.Format == YOLOv5 {
			obj = at(i, 4)
			if !(obj >= minScore && obj <= 1) {
				continue
			}
		}
		best, bestScore := -1, -1.0
		for c := 0; c < l.Classes; c++ {
			if s := at(i, first+c); s > bestScore {
				best, bestScore = c, s
			}
		}
		score := obj * bestScore
		if best < 0 || !(score >= minScore && bestScore <= 1) {
			continue
		}
		b, ok := lb.ToFrame(at(i, 0), at(i, 1), at(i, 2), at(i, 3))
		if !ok {
			continue
		}
		ds = append(ds, detect.Detection{Label: labels[best], Score: score, Box: b})
	}
	ds = detect.Strongest(ds, MaxNMS)
	ds = detect.NMS(ds, iou)
	if len(ds) > maxDets {
		ds = slices.Clip(ds[:maxDets])
	}
	return ds, nil
}
