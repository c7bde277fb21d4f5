package faces

import (
	"image"
	"math/rand/v2"

	"vigil/internal/detect"
)

// Grow is how much Blur enlarges each box (0.2: 20% wider and taller,
// about the same centre), so that hair, ears and chin go too.
const Grow = 0.2

// Blocks is the most cells Blur leaves along each side of a box: with 4,
// no eye, nose or mouth survives (with 8, pigo still finds small
// out-of-focus faces in Megamind.avi).
const Blocks = 4

// Step is the quantisation step of a cell's colour: each channel of a
// cell's mean gets uniform random noise of one step's width and is then
// rounded to a multiple of Step, so only 16 levels per channel remain and
// which one a cell takes is partly chance.
const Step = 16

// Blur destroys what is inside boxes, in place: each box, grown by Grow
// and clipped to img, is reduced to at most Blocks x Blocks cells, each
// the mean colour of the pixels it covers, dithered with random noise and
// quantised to Step, and those cells are spread back over the box
// smoothly (bilinear). Nothing of the original finer than a cell survives,
// so it cannot be undone by deblurring: a 4x4 sketch of coarse, noisy
// colours is all that is left of a face. The noise (math/rand/v2's
// generator, seeded by the runtime) also keeps the many grids of a moving
// box in a video from being combined into a finer picture: each frame's
// cells carry up to half a step of fresh error. Pixels outside the grown
// boxes are not touched. Empty or out-of-image boxes are ignored.
func Blur(img *detect.RGB, boxes []detect.Box) {
	if img == nil || img.W <= 0 || img.H <= 0 || len(img.Pix) != img.W*img.H*3 {
		return
	}
	frame := image.Rect(0, 0, img.W, img.H)
	for _, b := range boxes {
		if !(b.W > 0 && b.H > 0) {
			continue // also NaN
		}
		g := detect.Box{X: b.X - b.W*Grow/2, Y: b.Y - b.H*Grow/2, W: b.W * (1 + Grow), H: b.H * (1 + Grow)}
		g = g.Intersect(detect.Box{W: float64(img.W), H: float64(img.H)})
		r := g.Rect().Intersect(frame)
		if r.Empty() {
			continue
		}
		mosaic(img, r)
	}
}

// mosaic replaces r by its at most Blocks x Blocks cell means (dithered
// and quantised), spread
// back over r by bilinear interpolation between the cells' centres (so
// the cells leave no edges for a detector to find).
func mosaic(img *detect.RGB, r image.Rectangle) {
	nx, ny := min(Blocks, r.Dx()), min(Blocks, r.Dy())
	var cells [Blocks][Blocks][3]float64
	for cy := range ny {
		y0, y1 := r.Min.Y+r.Dy()*cy/ny, r.Min.Y+r.Dy()*(cy+1)/ny
		for cx := range nx {
			x0, x1 := r.Min.X+r.Dx()*cx/nx, r.Min.X+r.Dx()*(cx+1)/nx
			var sum [3]uint64
			for y := y0; y < y1; y++ {
				row := img.Pix[(y*img.W+x0)*3 : (y*img.W+x1)*3]
				for i := 0; i < len(row); i += 3 {
					sum[0] += uint64(row[i])
					sum[1] += uint64(row[i+1])
					sum[2] += uint64(row[i+2])
				}
			}
			n := float64((x1 - x0) * (y1 - y0))
			for c := range 3 {
				cells[cy][cx][c] = quantise(float64(sum[c])/n + (rand.Float64()-0.5)*Step)
			}
		}
	}
	// Cell (cx, cy) is centred at ((cx+0.5)*cw, (cy+0.5)*ch) from r.Min.
	// Bilinear interpolation is separable: each row first mixes the two
	// rows of cells around it, then each pixel the two cells of that mix
	// around its column, whose indices and weight depend on the column
	// only and are worked out once.
	cw, ch := float64(r.Dx())/float64(nx), float64(r.Dy())/float64(ny)
	type column struct {
		c0, c1 int
		w      float64
	}
	cols := make([]column, r.Dx())
	for x := range cols {
		x0, wx := cellPos((float64(x)+0.5)/cw-0.5, nx)
		cols[x] = column{x0, min(x0+1, nx-1), wx}
	}
	var mix [Blocks][3]float64
	for y := r.Min.Y; y < r.Max.Y; y++ {
		y0, wy := cellPos((float64(y-r.Min.Y)+0.5)/ch-0.5, ny)
		y1 := min(y0+1, ny-1)
		for cx := range nx {
			for c := range 3 {
				mix[cx][c] = cells[y0][cx][c]*(1-wy) + cells[y1][cx][c]*wy
			}
		}
		row := img.Pix[(y*img.W+r.Min.X)*3 : (y*img.W+r.Max.X)*3]
		for x, col := range cols {
			a, b, px := &mix[col.c0], &mix[col.c1], row[x*3:x*3+3:x*3+3]
			px[0] = byte(a[0]*(1-col.w) + b[0]*col.w + 0.5)
			px[1] = byte(a[1]*(1-col.w) + b[1]*col.w + 0.5)
			px[2] = byte(a[2]*(1-col.w) + b[2]*col.w + 0.5)
		}
	}
}

// quantise rounds v to the nearest multiple of Step within [0, 255].
func quantise(v float64) float64 {
	q := float64(int((v+Step/2)/Step)) * Step
	if v < 0 {
		q = 0
	}
	return min(q, 255)
}

// cellPos splits a fractional cell coordinate into the cell before it and
// the weight of the next one, clamped to the n cells.
func cellPos(f float64, n int) (int, float64) {
	if f <= 0 {
		return 0, 0
	}
	i := int(f)
	if i >= n-1 {
		return n - 1, 0
	}
	return i, f - float64(i)
}
