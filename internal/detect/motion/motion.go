// Package motion finds moving areas in a camera's small grey frames, the
// way Frigate's improved motion detector does: contrast stretch, mask,
// blur, absolute difference against a running-average background,
// threshold, dilate, connected components, and boxes merged when close.
// A sudden change over most of the frame (lights switched on, a camera's
// infrared mode switching) is not motion: the background is reset to the
// current frame and that frame reports no motion.
//
// motion owns the background model of one camera and nothing else. It
// works on frames of a fixed small size (typically 320x180 or 100-180 pixels
// high), allocates every buffer once in New, keeps no frame beyond the
// background average, and never logs or writes pixels anywhere. A Detector
// is not safe for concurrent use: each camera has its own. It is cheap
// enough to run on every frame of every camera in a motion-only mode:
// about 0.4 ms per 320x180 frame on one core (BenchmarkDetect), i.e. 0.2 %
// of a core at 5 fps.
//
// Scaler makes the small grey frame from a larger RGB or grey frame (area
// average), and ScaleBox maps motion boxes back to the original frame.
package motion

import (
	"errors"
	"fmt"

	"vigil/internal/detect"
)

// Point is a polygon vertex in normalised frame coordinates: (0, 0) is the
// top-left corner of the frame, (1, 1) the bottom-right one.
type Point struct{ X, Y float64 }

// Config tunes a Detector. The zero value of every field means its default.
type Config struct {
	// Threshold is the grey-level difference (1..255) between a pixel and
	// the background above which the pixel counts as changed. Default 30.
	Threshold int
	// ContourArea is the smallest connected area of changed pixels (after
	// dilation), in pixels of the small frame, that is reported as a box.
	// Default 15.
	ContourArea int
	// FrameAlpha is the weight of each new frame in the running-average
	// background, in (0, 1]. Default 0.01: the background follows a slow
	// change (the sun moving) in a few seconds at 5 fps without absorbing
	// someone walking through.
	FrameAlpha float64
	// ImproveContrast stretches each frame's grey levels so that its 4th
	// percentile maps to 0 and its 96th to 255 before anything else, which
	// keeps motion visible at night. nil means true.
	ImproveContrast *bool
	// LightningThreshold is the fraction of the unmasked frame (0..1) that
	// must change at once for the detector to recalibrate instead of
	// reporting motion. Default 0.8.
	LightningThreshold float64
	// MergeDistance is the gap in pixels below which two boxes are merged
	// into one. Default 2% of the frame's width, at least 2.
	MergeDistance int
	// Mask lists polygons (even-odd rule) where motion is ignored, for
	// example a road or a neighbour's tree. Masked pixels never count.
	Mask [][]Point
}

// Result is what Detect found in one frame.
type Result struct {
	// Boxes are the moving areas in the small frame's pixels, merged when
	// close; nil when nothing moved.
	Boxes []detect.Box
	// Changed is the fraction of unmasked pixels above the threshold,
	// before dilation, in [0, 1].
	Changed float64
	// Recalibrated reports that the frame changed as a whole and the
	// background was reset to it; Boxes is then empty.
	Recalibrated bool
}

// Stats counts what a Detector has seen since New.
type Stats struct {
	Frames         uint64 // frames given to Detect
	MotionFrames   uint64 // frames with at least one box
	Recalibrations uint64 // sudden global changes
}

// ErrConfig is returned by New for an out-of-range setting.
var ErrConfig = errors.New("motion: invalid config")

// Limits on the small frame: motion is meant for a few hundred pixels wide.
const (
	maxSide = 2048
	maxArea = 1 << 20
)

// Detector is one camera's motion detector. Create it with New.
type Detector struct {
	w, h      int
	threshold int
	minArea   int
	alpha     float32
	contrast  bool
	lightning float64
	mergeDist float64

	mask    []byte // 1 where pixels count, nil when nothing is masked
	counted int    // unmasked pixels
	started bool
	stats   Stats
	work    []byte    // contrast-stretched frame
	tmp     []uint16  // horizontal blur pass
	blurred []byte    // blurred frame
	avg     []float32 // running-average background
	bin     []byte    // thresholded
	dil     []byte    // dilated
	stack   []int32   // flood fill
	boxes   []detect.Box
	rowHas  []bool // rows of bin with a changed pixel
	dilRow  []bool // rows of dil with a set pixel
	lut     [256]byte
	hist    [256]int32
}

// New makes a detector for w x h grey frames.
func New(cfg Config, w, h int) (*Detector, error) {
	if w < 3 || h < 3 || w > maxSide || h > maxSide || w*h > maxArea {
		return nil, fmt.Errorf("%w: frame %dx%d (want 3..%d a side, at most %d pixels)", ErrConfig, w, h, maxSide, maxArea)
	}
	d := &Detector{w: w, h: h, threshold: 30, minArea: 15, alpha: 0.01, contrast: true, lightning: 0.8}
	if cfg.Threshold != 0 {
		if cfg.Threshold < 1 || cfg.Threshold > 255 {
			return nil, fmt.Errorf("%w: Threshold %d (want 1..255)", ErrConfig, cfg.Threshold)
		}
		d.threshold = cfg.Threshold
	}
	if cfg.ContourArea != 0 {
		if cfg.ContourArea < 1 || cfg.ContourArea > w*h {
			return nil, fmt.Errorf("%w: ContourArea %d (want 1..%d)", ErrConfig, cfg.ContourArea, w*h)
		}
		d.minArea = cfg.ContourArea
	}
	if cfg.FrameAlpha != 0 {
		if !(cfg.FrameAlpha > 0 && cfg.FrameAlpha <= 1) {
			return nil, fmt.Errorf("%w: FrameAlpha %g (want (0, 1])", ErrConfig, cfg.FrameAlpha)
		}
		d.alpha = float32(cfg.FrameAlpha)
	}
	if cfg.ImproveContrast != nil {
		d.contrast = *cfg.ImproveContrast
	}
	if cfg.LightningThreshold != 0 {
		if !(cfg.LightningThreshold > 0 && cfg.LightningThreshold <= 1) {
			return nil, fmt.Errorf("%w: LightningThreshold %g (want (0, 1])", ErrConfig, cfg.LightningThreshold)
		}
		d.lightning = cfg.LightningThreshold
	}
	d.mergeDist = max(2, 0.02*float64(w))
	if cfg.MergeDistance != 0 {
		if cfg.MergeDistance < 0 || cfg.MergeDistance > w+h {
			return nil, fmt.Errorf("%w: MergeDistance %d (want 0..%d)", ErrConfig, cfg.MergeDistance, w+h)
		}
		d.mergeDist = float64(cfg.MergeDistance)
	}
	n := w * h
	d.counted = n
	if len(cfg.Mask) > 0 {
		m, err := rasterise(cfg.Mask, w, h)
		if err != nil {
			return nil, err
		}
		d.mask = m
		d.counted = 0
		for _, v := range m {
			d.counted += int(v)
		}
	}
	d.work = make([]byte, n)
	d.tmp = make([]uint16, n)
	d.blurred = make([]byte, n)
	d.avg = make([]float32, n)
	d.bin = make([]byte, n)
	d.dil = make([]byte, n)
	d.stack = make([]int32, 0, 1024)
	d.rowHas = make([]bool, h)
	d.dilRow = make([]bool, h)
	for i := range d.lut {
		d.lut[i] = byte(i)
	}
	return d, nil
}

// Size is the small frame's width and height.
func (d *Detector) Size() (w, h int) { return d.w, d.h }

// Stats returns the counters since New.
func (d *Detector) Stats() Stats { return d.stats }

// Reset forgets the background: the next frame becomes it.
func (d *Detector) Reset() { d.started = false }

// Detect compares frame, which must be the detector's size, with the
// background and updates the background. The first frame (and the first
// after Reset) only initialises the background and reports nothing.
func (d *Detector) Detect(frame *detect.Gray) (Result, error) {
	if frame == nil || frame.W != d.w || frame.H != d.h || len(frame.Pix) != d.w*d.h {
		if frame == nil {
			return Result{}, fmt.Errorf("%w: nil frame", detect.ErrFrameSize)
		}
		return Result{}, fmt.Errorf("%w: got %dx%d (%d bytes), want %dx%d", detect.ErrFrameSize, frame.W, frame.H, len(frame.Pix), d.w, d.h)
	}
	d.stats.Frames++
	if d.contrast {
		d.stretch(frame.Pix)
	}
	d.blur(frame.Pix)
	if !d.started {
		for i, v := range d.blurred {
			d.avg[i] = float32(v)
		}
		d.started = true
		return Result{}, nil
	}
	changed := d.diff()
	var res Result
	if d.counted > 0 {
		res.Changed = float64(changed) / float64(d.counted)
	}
	if res.Changed > d.lightning {
		for i, v := range d.blurred {
			d.avg[i] = float32(v)
		}
		d.stats.Recalibrations++
		res.Recalibrated = true
		return res, nil
	}
	if changed == 0 {
		return res, nil
	}
	d.dilate()
	d.components()
	d.merge()
	if len(d.boxes) > 0 {
		res.Boxes = append([]detect.Box(nil), d.boxes...)
		d.stats.MotionFrames++
	}
	return res, nil
}

// stretch sets the lookup table that blur applies so that the frame's
// 4th..96th percentile of grey maps onto 0..255.
func (d *Detector) stretch(src []byte) {
	d.hist = [256]int32{}
	for _, v := range src {
		d.hist[v]++
	}
	n := int32(len(src))
	loCut, hiCut := n*4/100, n*96/100
	lo, hi := 0, 255
	var acc int32
	for i := 0; i < 256; i++ {
		acc += d.hist[i]
		if acc > loCut {
			lo = i
			break
		}
	}
	acc = 0
	for i := 0; i < 256; i++ {
		acc += d.hist[i]
		if acc >= hiCut {
			hi = i
			break
		}
	}
	if hi <= lo {
		for i := range d.lut {
			d.lut[i] = byte(i)
		}
		return
	}
	scale := 255 / float64(hi-lo)
	for i := range d.lut {
		switch {
		case i <= lo:
			d.lut[i] = 0
		case i >= hi:
			d.lut[i] = 255
		default:
			d.lut[i] = byte(float64(i-lo)*scale + 0.5)
		}
	}
}

// blur applies the lookup table and a separable 3x3 Gaussian ([1 2 1] / 4
// each way), edges clamped.
func (d *Detector) blur(src []byte) {
	w, h := d.w, d.h
	lut := &d.lut
	for y := 0; y < h; y++ {
		row := src[y*w : y*w+w]
		out := d.tmp[y*w : y*w+w]
		a, b := uint16(lut[row[0]]), uint16(lut[row[1]])
		out[0] = 3*a + b
		for x := 1; x < w-1; x++ {
			c := uint16(lut[row[x+1]])
			out[x] = a + 2*b + c
			a, b = b, c
		}
		out[w-1] = a + 3*b
	}
	for y := 0; y < h; y++ {
		up, down := max(y-1, 0), min(y+1, h-1)
		a := d.tmp[up*w : up*w+w]
		b := d.tmp[y*w : y*w+w]
		c := d.tmp[down*w : down*w+w]
		out := d.blurred[y*w : y*w+w]
		for x := range out {
			out[x] = byte((a[x] + 2*b[x] + c[x] + 8) >> 4)
		}
	}
}

// diff thresholds |blurred - background| into bin, counts changed
// unmasked pixels, notes which rows have any, and moves the background
// towards the blurred frame.
func (d *Detector) diff() int {
	th, alpha := float32(d.threshold), d.alpha
	w := d.w
	n := 0
	for y := range d.h {
		bin := d.bin[y*w : y*w+w]
		avg := d.avg[y*w : y*w+w]
		blurred := d.blurred[y*w : y*w+w]
		rn := 0
		for i, v := range blurred {
			x := float32(v) - avg[i]
			avg[i] += x * alpha
			var b byte
			if x > th || x < -th {
				b = 1
			}
			bin[i] = b
			rn += int(b)
		}
		if d.mask != nil && rn > 0 {
			rn = 0
			for i, m := range d.mask[y*w : y*w+w] {
				bin[i] &= m
				rn += int(bin[i])
			}
		}
		d.rowHas[y] = rn > 0
		n += rn
	}
	return n
}

// dilate is a 3x3 binary dilation of bin into dil (separable max).
func (d *Detector) dilate() {
	w, h := d.w, d.h
	tmp := d.work
	for y := 0; y < h; y++ {
		if !d.rowHas[y] {
			continue
		}
		row := d.bin[y*w : y*w+w]
		out := tmp[y*w : y*w+w]
		out[0] = row[0] | row[1]
		for x := 1; x < w-1; x++ {
			out[x] = row[x-1] | row[x] | row[x+1]
		}
		out[w-1] = row[w-2] | row[w-1]
	}
	for y := 0; y < h; y++ {
		up, down := max(y-1, 0), min(y+1, h-1)
		d.dilRow[y] = d.rowHas[up] || d.rowHas[y] || d.rowHas[down]
		if !d.dilRow[y] {
			continue
		}
		out := d.dil[y*w : y*w+w]
		clear(out)
		for _, r := range []int{up, y, down} {
			if !d.rowHas[r] {
				continue
			}
			in := tmp[r*w : r*w+w]
			for x, v := range in {
				out[x] |= v
			}
		}
	}
}

// components labels 8-connected areas of dil (clearing it) and keeps the
// bounding boxes of those with at least minArea pixels.
func (d *Detector) components() {
	w, h := d.w, d.h
	d.boxes = d.boxes[:0]
	dil := d.dil
	for row := range h {
		if !d.dilRow[row] {
			continue // all zero: dil is cleared by the fill below
		}
		for start := row * w; start < row*w+w; start++ {
			if dil[start] != 0 {
				d.fill(start)
			}
		}
	}
}

// fill clears the 8-connected area of dil holding start and records its
// bounding box when it is at least minArea pixels.
func (d *Detector) fill(start int) {
	w, h := d.w, d.h
	dil := d.dil
	dil[start] = 0
	stack := append(d.stack[:0], int32(start))
	x0, y0, x1, y1 := w, h, -1, -1
	area := 0
	for len(stack) > 0 {
		p := int(stack[len(stack)-1])
		stack = stack[:len(stack)-1]
		area++
		x, y := p%w, p/w
		x0, x1 = min(x0, x), max(x1, x)
		y0, y1 = min(y0, y), max(y1, y)
		for ny := max(y-1, 0); ny <= min(y+1, h-1); ny++ {
			for nx := max(x-1, 0); nx <= min(x+1, w-1); nx++ {
				q := ny*w + nx
				if dil[q] != 0 {
					dil[q] = 0
					stack = append(stack, int32(q))
				}
			}
		}
	}
	d.stack = stack
	if area >= d.minArea {
		d.boxes = append(d.boxes, detect.Box{X: float64(x0), Y: float64(y0), W: float64(x1 - x0 + 1), H: float64(y1 - y0 + 1)})
	}
}

// merge unites boxes closer than mergeDist until none are.
func (d *Detector) merge() {
	g := d.mergeDist
	for merged := true; merged; {
		merged = false
		for i := 0; i < len(d.boxes); i++ {
			for j := i + 1; j < len(d.boxes); j++ {
				a, b := d.boxes[i], d.boxes[j]
				if a.X-g > b.X+b.W || b.X-g > a.X+a.W || a.Y-g > b.Y+b.H || b.Y-g > a.Y+a.H {
					continue
				}
				x0, y0 := min(a.X, b.X), min(a.Y, b.Y)
				x1, y1 := max(a.X+a.W, b.X+b.W), max(a.Y+a.H, b.Y+b.H)
				d.boxes[i] = detect.Box{X: x0, Y: y0, W: x1 - x0, H: y1 - y0}
				d.boxes = append(d.boxes[:j], d.boxes[j+1:]...)
				merged = true
				j--
			}
		}
	}
}

// maxPolygons and maxVertices bound a mask from configuration.
const (
	maxPolygons = 64
	maxVertices = 256
)

// rasterise returns a bitmap with 1 where a pixel's centre is outside
// every polygon (even-odd rule) and 0 where it is masked.
func rasterise(polys [][]Point, w, h int) ([]byte, error) {
	if len(polys) > maxPolygons {
		return nil, fmt.Errorf("%w: %d mask polygons (at most %d)", ErrConfig, len(polys), maxPolygons)
	}
	m := make([]byte, w*h)
	for i := range m {
		m[i] = 1
	}
	xs := make([]float64, 0, maxVertices)
	for pi, p := range polys {
		if len(p) < 3 || len(p) > maxVertices {
			return nil, fmt.Errorf("%w: mask polygon %d has %d points (want 3..%d)", ErrConfig, pi, len(p), maxVertices)
		}
		for _, v := range p {
			if !(v.X >= 0 && v.X <= 1 && v.Y >= 0 && v.Y <= 1) {
				return nil, fmt.Errorf("%w: mask polygon %d point (%g, %g) outside 0..1", ErrConfig, pi, v.X, v.Y)
			}
		}
		for y := 0; y < h; y++ {
			cy := (float64(y) + 0.5) / float64(h)
			xs = xs[:0]
			for k := range p {
				a, b := p[k], p[(k+1)%len(p)]
				if (a.Y <= cy) == (b.Y <= cy) {
					continue
				}
				xs = append(xs, a.X+(cy-a.Y)/(b.Y-a.Y)*(b.X-a.X))
			}
			sortFloats(xs)
			for k := 0; k+1 < len(xs); k += 2 {
				for x := 0; x < w; x++ {
					cx := (float64(x) + 0.5) / float64(w)
					if cx >= xs[k] && cx < xs[k+1] {
						m[y*w+x] = 0
					}
				}
			}
		}
	}
	return m, nil
}

func sortFloats(a []float64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}
