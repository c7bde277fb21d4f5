// Package faces finds faces in frames with pigo (github.com/esimov/pigo, a
// pure-Go pixel-intensity-comparison cascade, MIT) and blurs them.
//
// It owns:
//
//   - Detector, a detect.Detector with the single label "face", running
//     pigo's frontal-face cascade ("facefinder", embedded from pigo v1.4.6
//     under cascade/ with its licence) over the frame's luma;
//   - Blur, which destroys the faces in a frame in place before the frame
//     leaves the household (the donation pipeline, G7).
//
// Scores: pigo reports a cluster's summed cascade output Q (0 < Q,
// unbounded; pigo's own tools keep faces with Q > 5). A detection's Score
// is Q / (Q + 5): 0.5 at pigo's customary threshold, approaching 1 for
// strong faces. It is monotonic, so MinScore is a threshold on Q.
//
// The package never logs and never writes a frame or a box anywhere but
// the returned slice; Blur writes only into the image it is given.
package faces

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"math"
	"slices"
	"sync"

	pigo "github.com/esimov/pigo/core"

	"vigil/internal/detect"
)

// facefinder is pigo's frontal-face cascade (cascade/LICENSE).
//
//go:embed cascade/facefinder
var facefinder []byte

// qScale maps Q to a score: Score = Q / (Q + qScale).
const qScale = 5

// Label is the one label the Detector reports.
const Label = "face"

// maxRaw bounds the windows clustered for one frame (a real frame has a
// few dozen; a crafted one could have far more).
const maxRaw = 4096

// inputSize is what InputSize reports: regions of this side keep faces of
// MinSize pixels and more findable.
const inputSize = 640

// Options tune the cascade; zero fields take the defaults in brackets.
type Options struct {
	// MinSize and MaxSize bound the side of a face, in pixels [20, 1000];
	// MaxSize is also capped at the frame's shorter side.
	MinSize, MaxSize int
	// ShiftFactor is the step of the scanning window as a fraction of its
	// side [0.1], in (0, 1].
	ShiftFactor float64
	// ScaleFactor is the growth of the window from one scale to the next
	// [1.1], in (1, 2].
	ScaleFactor float64
	// IoU is the overlap above which raw detections are merged [0.2].
	IoU float64
	// MinScore is the lowest Score reported [0.5, i.e. Q >= 5].
	MinScore float64
}

// Detector finds faces. It is safe for concurrent use: the cascade is
// read-only and every call has its own buffers.
type Detector struct {
	o Options
	p *pigo.Pigo
}

var (
	cascadeOnce sync.Once
	cascade     *pigo.Pigo
	cascadeErr  error
)

// New validates o and returns a Detector.
func New(o Options) (*Detector, error) {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	if o.MinSize == 0 {
		o.MinSize = 20
	}
	if o.MaxSize == 0 {
		o.MaxSize = 1000
	}
	def(&o.ShiftFactor, 0.1)
	def(&o.ScaleFactor, 1.1)
	def(&o.IoU, 0.2)
	def(&o.MinScore, 0.5)
	switch {
	case o.MinSize < 8 || o.MaxSize < o.MinSize || o.MaxSize > 1<<15:
		return nil, fmt.Errorf("faces: face sizes %d..%d: want 8 <= min <= max", o.MinSize, o.MaxSize)
	case !(o.ShiftFactor > 0 && o.ShiftFactor <= 1):
		return nil, fmt.Errorf("faces: shift factor %v: want (0, 1]", o.ShiftFactor)
	case !(o.ScaleFactor > 1 && o.ScaleFactor <= 2):
		return nil, fmt.Errorf("faces: scale factor %v: want (1, 2]", o.ScaleFactor)
	case !(o.IoU > 0 && o.IoU < 1):
		return nil, fmt.Errorf("faces: IoU %v: want (0, 1)", o.IoU)
	case !(o.MinScore > 0 && o.MinScore < 1):
		return nil, fmt.Errorf("faces: min score %v: want (0, 1)", o.MinScore)
	}
	cascadeOnce.Do(func() { cascade, cascadeErr = pigo.NewPigo().Unpack(facefinder) })
	if cascadeErr != nil {
		return nil, fmt.Errorf("faces: cascade: %w", cascadeErr)
	}
	return &Detector{o: o, p: cascade}, nil
}

// InputSize implements detect.Detector.
func (d *Detector) InputSize() int { return inputSize }

// Labels implements detect.Detector.
func (d *Detector) Labels() []string { return []string{Label} }

// Close implements detect.Detector.
func (d *Detector) Close() error { return nil }

// Detect implements detect.Detector: faces in img, square boxes clipped to
// the image.
func (d *Detector) Detect(ctx context.Context, img *detect.RGB) ([]detect.Detection, error) {
	if img == nil || img.W <= 0 || img.H <= 0 || img.W*img.H > detect.MaxPixels || len(img.Pix) != img.W*img.H*3 {
		return nil, fmt.Errorf("faces: %w", detect.ErrFrameSize)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	maxSize := min(d.o.MaxSize, img.W, img.H)
	if maxSize < d.o.MinSize {
		return nil, nil
	}
	cp := pigo.CascadeParams{
		ShiftFactor: d.o.ShiftFactor,
		ScaleFactor: d.o.ScaleFactor,
		ImageParams: pigo.ImageParams{Pixels: luma(img), Rows: img.H, Cols: img.W, Dim: img.W},
	}
	// One scale at a time (pigo's own progression), so that ctx is
	// honoured between scales.
	var raw []pigo.Detection
	for s := d.o.MinSize; s <= maxSize; s = int(float64(s) + math.Max(2, float64(s)*d.o.ScaleFactor-float64(s))) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cp.MinSize, cp.MaxSize = s, s
		raw = append(raw, d.p.RunCascade(cp, 0)...)
	}
	if len(raw) > maxRaw {
		// Clustering is quadratic: keep the strongest windows.
		slices.SortFunc(raw, func(a, b pigo.Detection) int { return cmp.Compare(b.Q, a.Q) })
		raw = raw[:maxRaw]
	}
	var ds []detect.Detection
	for _, f := range d.p.ClusterDetections(raw, d.o.IoU) {
		q := float64(f.Q)
		if !(q > 0) || math.IsInf(q, 0) {
			continue
		}
		score := q / (q + qScale)
		if score < d.o.MinScore {
			continue
		}
		s := float64(f.Scale)
		b := detect.Box{X: float64(f.Col) - s/2, Y: float64(f.Row) - s/2, W: s, H: s}
		b = b.Intersect(detect.Box{W: float64(img.W), H: float64(img.H)})
		if b.Area() == 0 {
			continue
		}
		ds = append(ds, detect.Detection{Label: Label, Score: score, Box: b})
	}
	return ds, nil
}

// luma is the frame's BT.601 luma, as pigo expects.
func luma(img *detect.RGB) []uint8 {
	g := make([]uint8, img.W*img.H)
	for i, j := 0, 0; j < len(g); i, j = i+3, j+1 {
		r, gr, b := uint32(img.Pix[i]), uint32(img.Pix[i+1]), uint32(img.Pix[i+2])
		g[j] = uint8((299*r + 587*gr + 114*b + 500) / 1000)
	}
	return g
}
