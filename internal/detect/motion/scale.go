package motion

import (
	"fmt"
	"math"

	"vigil/internal/detect"
)

// SmallSize returns the size of the small frame for a srcW x srcH frame
// scaled to height h (keeping the aspect ratio, width rounded to even).
// It returns 0, 0 for a size that makes no sense.
func SmallSize(srcW, srcH, h int) (int, int) {
	if srcW <= 0 || srcH <= 0 || h <= 0 || srcW > 1<<15 || srcH > 1<<15 {
		return 0, 0
	}
	h = min(h, srcH)
	w := int(math.Round(float64(srcW)*float64(h)/float64(srcH)/2)) * 2
	return max(w, 2), h
}

// ScaleBox maps a box from a fromW x fromH frame to a toW x toH one.
func ScaleBox(b detect.Box, fromW, fromH, toW, toH int) detect.Box {
	if fromW <= 0 || fromH <= 0 {
		return detect.Box{}
	}
	sx, sy := float64(toW)/float64(fromW), float64(toH)/float64(fromH)
	return detect.Box{X: b.X * sx, Y: b.Y * sy, W: b.W * sx, H: b.H * sy}
}

// ScaleBoxes maps boxes in place from a fromW x fromH frame to a
// toW x toH one and returns them.
func ScaleBoxes(bs []detect.Box, fromW, fromH, toW, toH int) []detect.Box {
	for i := range bs {
		bs[i] = ScaleBox(bs[i], fromW, fromH, toW, toH)
	}
	return bs
}

// Scaler shrinks srcW x srcH frames to dstW x dstH grey frames by area
// averaging: each small pixel is the mean of the source pixels its area
// covers (whole pixels, at least one). Its buffers are allocated once; it
// is not safe for concurrent use.
type Scaler struct {
	srcW, srcH, dstW, dstH int
	x0, x1                 []int    // source columns [x0, x1) of each small column
	y0, y1                 []int    // source rows [y0, y1) of each small row
	acc                    []uint32 // column sums of one small row
}

// NewScaler prepares a Scaler; the small frame may not be larger than the
// source in either direction.
func NewScaler(srcW, srcH, dstW, dstH int) (*Scaler, error) {
	if srcW <= 0 || srcH <= 0 || srcW > 1<<15 || srcH > 1<<15 || srcW*srcH > detect.MaxPixels {
		return nil, fmt.Errorf("%w: source %dx%d", detect.ErrFrameSize, srcW, srcH)
	}
	if dstW <= 0 || dstH <= 0 || dstW > srcW || dstH > srcH {
		return nil, fmt.Errorf("%w: small frame %dx%d for a %dx%d source", detect.ErrFrameSize, dstW, dstH, srcW, srcH)
	}
	s := &Scaler{srcW: srcW, srcH: srcH, dstW: dstW, dstH: dstH, acc: make([]uint32, srcW)}
	s.x0, s.x1 = spans(srcW, dstW)
	s.y0, s.y1 = spans(srcH, dstH)
	return s, nil
}

func spans(src, dst int) (lo, hi []int) {
	lo, hi = make([]int, dst), make([]int, dst)
	for i := range dst {
		lo[i] = i * src / dst
		hi[i] = max((i+1)*src/dst, lo[i]+1)
	}
	return lo, hi
}

func (s *Scaler) check(dst *detect.Gray, w, h, n, bpp int) error {
	if w != s.srcW || h != s.srcH || n != w*h*bpp {
		return fmt.Errorf("%w: source %dx%d (%d bytes), want %dx%d", detect.ErrFrameSize, w, h, n, s.srcW, s.srcH)
	}
	if dst == nil || dst.W != s.dstW || dst.H != s.dstH || len(dst.Pix) != s.dstW*s.dstH {
		return fmt.Errorf("%w: destination is not %dx%d", detect.ErrFrameSize, s.dstW, s.dstH)
	}
	return nil
}

// NewGray allocates a grey frame of the Scaler's small size.
func (s *Scaler) NewGray() *detect.Gray {
	return &detect.Gray{W: s.dstW, H: s.dstH, Pix: make([]byte, s.dstW*s.dstH)}
}

// Gray shrinks src into dst.
func (s *Scaler) Gray(dst, src *detect.Gray) error {
	if src == nil {
		return fmt.Errorf("%w: nil source", detect.ErrFrameSize)
	}
	if err := s.check(dst, src.W, src.H, len(src.Pix), 1); err != nil {
		return err
	}
	for dy := range s.dstH {
		clear(s.acc)
		for y := s.y0[dy]; y < s.y1[dy]; y++ {
			row := src.Pix[y*s.srcW : (y+1)*s.srcW]
			for x, v := range row {
				s.acc[x] += uint32(v)
			}
		}
		s.row(dst, dy, 1)
	}
	return nil
}

// RGB shrinks src into dst, converting to grey (BT.601 luma).
func (s *Scaler) RGB(dst *detect.Gray, src *detect.RGB) error {
	if src == nil {
		return fmt.Errorf("%w: nil source", detect.ErrFrameSize)
	}
	if err := s.check(dst, src.W, src.H, len(src.Pix), 3); err != nil {
		return err
	}
	for dy := range s.dstH {
		clear(s.acc)
		for y := s.y0[dy]; y < s.y1[dy]; y++ {
			row := src.Pix[y*s.srcW*3 : (y+1)*s.srcW*3]
			acc := s.acc[:len(row)/3]
			for x := range acc {
				p := row[x*3 : x*3+3 : x*3+3]
				acc[x] += 77*uint32(p[0]) + 150*uint32(p[1]) + 29*uint32(p[2])
			}
		}
		s.row(dst, dy, 256)
	}
	return nil
}

// row writes small row dy from the column sums; unit is the weight of one
// source pixel's value in acc.
func (s *Scaler) row(dst *detect.Gray, dy, unit int) {
	rows := s.y1[dy] - s.y0[dy]
	out := dst.Pix[dy*s.dstW : (dy+1)*s.dstW]
	for dx := range out {
		var sum uint64
		for _, v := range s.acc[s.x0[dx]:s.x1[dx]] {
			sum += uint64(v)
		}
		n := uint64(rows * (s.x1[dx] - s.x0[dx]) * unit)
		out[dx] = byte((sum + n/2) / n)
	}
}
