package detect

import (
	"image"
	"math"
	"sort"
)

// Regions turns motion boxes and the boxes of tracked objects (both in the
// frame's pixels) into square regions for the detector, as Frigate does:
// the detector sees a square crop around where something moves, scaled to
// its input, never the whole frame. Each box gets a square of side
// max(minSide, 1.25 x its longer side), centred on it and moved inside the
// frame; squares that overlap are merged while the merged square is no
// bigger than maxSide. Regions are sorted largest first (the caller may run
// only as many as its time budget allows).
func Regions(boxes []Box, frameW, frameH, minSide, maxSide int) []image.Rectangle {
	if frameW <= 0 || frameH <= 0 {
		return nil
	}
	limit := min(frameW, frameH)
	minSide = max(1, min(minSide, limit))
	maxSide = max(minSide, min(maxSide, limit))
	var sq []image.Rectangle
	for _, b := range boxes {
		if b.Area() == 0 {
			continue
		}
		side := int(math.Ceil(1.25 * math.Max(b.W, b.H)))
		cx, cy := b.X+b.W/2, b.Y+b.H/2
		sq = append(sq, square(cx, cy, max(side, minSide), frameW, frameH))
	}
	// Merge overlapping squares until nothing changes.
	for merged := true; merged; {
		merged = false
	outer:
		for i := 0; i < len(sq); i++ {
			for j := i + 1; j < len(sq); j++ {
				if !sq[i].Overlaps(sq[j]) {
					continue
				}
				u := sq[i].Union(sq[j])
				side := max(u.Dx(), u.Dy())
				if side > maxSide {
					continue
				}
				c := u.Min.Add(u.Max).Div(2)
				sq[i] = square(float64(c.X), float64(c.Y), side, frameW, frameH)
				sq = append(sq[:j], sq[j+1:]...)
				merged = true
				break outer
			}
		}
	}
	sort.SliceStable(sq, func(i, j int) bool { return sq[i].Dx() > sq[j].Dx() })
	return sq
}

// square is the side x side square centred on (cx, cy), shifted to lie
// inside the frame (side is at most the frame's shorter edge).
func square(cx, cy float64, side, w, h int) image.Rectangle {
	side = min(side, w, h)
	x := int(math.Round(cx - float64(side)/2))
	y := int(math.Round(cy - float64(side)/2))
	x = max(0, min(x, w-side))
	y = max(0, min(y, h-side))
	return image.Rect(x, y, x+side, y+side)
}

// Crop copies the part of img inside r (clipped to the image) into a new
// image; it returns nil for an empty intersection.
func Crop(img *RGB, r image.Rectangle) *RGB {
	r = r.Intersect(image.Rect(0, 0, img.W, img.H))
	if r.Empty() {
		return nil
	}
	out := &RGB{W: r.Dx(), H: r.Dy(), Pix: make([]byte, r.Dx()*r.Dy()*3)}
	for y := 0; y < out.H; y++ {
		src := ((r.Min.Y+y)*img.W + r.Min.X) * 3
		copy(out.Pix[y*out.W*3:(y+1)*out.W*3], img.Pix[src:src+out.W*3])
	}
	return out
}

// Offset moves detections found in a crop at r back into the frame's
// pixels.
func Offset(ds []Detection, r image.Rectangle) []Detection {
	for i := range ds {
		ds[i].Box.X += float64(r.Min.X)
		ds[i].Box.Y += float64(r.Min.Y)
	}
	return ds
}
