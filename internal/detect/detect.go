// Package detect holds the contract shared by the hub's detection pipeline:
// frames, boxes, detections and the Detector interface that every backend
// (the built-in NanoDet executor, faces, an HTTP detector) implements.
//
// The pipeline runs on the hub, next to the cameras:
//
//	frames (ffmpeg, low-res, ~5 fps) -> motion -> regions -> Detector -> tracker
//	  -> events (zones, rules) -> sealed event + snapshot -> cloud -> notifications
//
// Sub-packages own one stage each (detect/frames, detect/motion,
// detect/nanodet, detect/track, detect/events). None of them ever writes a
// frame, a snapshot or a label anywhere but into memory or into an object
// sealed to the household (G1); none logs pixels, labels with boxes, or
// keys. Every byte that comes from a camera (a frame's size, a model file)
// is treated as hostile: sizes are bounded before allocation.
package detect

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxPixels bounds a frame's size (8K UHD); larger frames are refused
// before any allocation.
const MaxPixels = 7680 * 4320

// ErrFrameSize is returned for a frame whose dimensions are not positive or
// too large.
var ErrFrameSize = errors.New("frame size out of range")

// RGB is a packed 8-bit RGB image: Pix holds W*H*3 bytes, row after row.
type RGB struct {
	W, H int
	Pix  []byte
}

// NewRGB allocates a black w x h image, refusing absurd sizes.
func NewRGB(w, h int) (*RGB, error) {
	if w <= 0 || h <= 0 || w > 1<<15 || h > 1<<15 || w*h > MaxPixels {
		return nil, fmt.Errorf("%w: %dx%d", ErrFrameSize, w, h)
	}
	return &RGB{W: w, H: h, Pix: make([]byte, w*h*3)}, nil
}

// At returns the pixel at (x, y); it panics outside the image.
func (m *RGB) At(x, y int) (r, g, b uint8) {
	i := (y*m.W + x) * 3
	return m.Pix[i], m.Pix[i+1], m.Pix[i+2]
}

// Gray is an 8-bit single-channel image: Pix holds W*H bytes.
type Gray struct {
	W, H int
	Pix  []byte
}

// Box is an axis-aligned rectangle in a frame's pixels: X, Y is the
// top-left corner.
type Box struct {
	X, Y, W, H float64
}

// Area is W*H (0 for an empty box).
func (b Box) Area() float64 {
	if b.W <= 0 || b.H <= 0 {
		return 0
	}
	return b.W * b.H
}

// Ratio is W/H (0 for an empty box).
func (b Box) Ratio() float64 {
	if b.W <= 0 || b.H <= 0 {
		return 0
	}
	return b.W / b.H
}

// BottomCentre is the point zones test: the middle of the box's lower edge.
func (b Box) BottomCentre() (x, y float64) { return b.X + b.W/2, b.Y + b.H }

// Intersect returns the overlap of two boxes (empty when they do not meet).
func (b Box) Intersect(o Box) Box {
	x0, y0 := math.Max(b.X, o.X), math.Max(b.Y, o.Y)
	x1, y1 := math.Min(b.X+b.W, o.X+o.W), math.Min(b.Y+b.H, o.Y+o.H)
	if x1 <= x0 || y1 <= y0 {
		return Box{}
	}
	return Box{X: x0, Y: y0, W: x1 - x0, H: y1 - y0}
}

// IoU is the intersection over union of two boxes, in [0, 1].
func (b Box) IoU(o Box) float64 {
	in := b.Intersect(o).Area()
	if in == 0 {
		return 0
	}
	return in / (b.Area() + o.Area() - in)
}

// Corners returns the box from (x0, y0) to (x1, y1) clipped to a w x h
// frame; ok is false when the result is empty or a coordinate is NaN.
// Every backend turns its model's or server's corners into boxes with it,
// so none trusts them to lie inside the frame.
func Corners(x0, y0, x1, y1, w, h float64) (b Box, ok bool) {
	x0, y0 = min(max(x0, 0), w), min(max(y0, 0), h)
	x1, y1 = min(max(x1, 0), w), min(max(y1, 0), h)
	if !(x1 > x0 && y1 > y0) { // false for NaN too
		return Box{}, false
	}
	return Box{X: x0, Y: y0, W: x1 - x0, H: y1 - y0}, true
}

// Rect returns the box rounded outwards to integer pixels.
func (b Box) Rect() image.Rectangle {
	return image.Rect(int(math.Floor(b.X)), int(math.Floor(b.Y)), int(math.Ceil(b.X+b.W)), int(math.Ceil(b.Y+b.H)))
}

// MaxLabel is the longest label a backend accepts from a model's labels
// file or a detection server, in bytes.
const MaxLabel = 40

// ValidLabel reports whether s is a label a backend may report: 1 to
// MaxLabel bytes of printable UTF-8 without leading or trailing space.
func ValidLabel(s string) bool {
	if s == "" || len(s) > MaxLabel || !utf8.ValidString(s) || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Detection is one object a Detector found: a COCO-style label ("person",
// "car", "dog", "face", ...), a score in [0, 1] and its box in the pixels of
// the image the Detector was given.
type Detection struct {
	Label string
	Score float64
	Box   Box
}

// Detector finds objects in an image. Implementations are safe for
// concurrent use unless they say otherwise, bound their memory, and honour
// ctx for anything that can block (an HTTP backend).
type Detector interface {
	// Detect returns the objects in img, boxes in img's pixels, any order.
	Detect(ctx context.Context, img *RGB) ([]Detection, error)
	// InputSize is the square side the model works at (e.g. 416); the
	// pipeline crops square regions and lets the detector scale them.
	InputSize() int
	// Labels lists what the detector can report.
	Labels() []string
	// Close releases the backend's resources.
	Close() error
}
