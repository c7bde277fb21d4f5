package nanodet

import "sync"

// convScratch is the reusable im2col buffer and GEMM edge tiles.
type convScratch struct {
	col  []float32
	gemm gemmScratch
}

// convRows is how many output pixels are lowered (im2col) at a time: a
// multiple of mr small enough that the block stays in cache.
const convRows = mr * 8

// maxColElems bounds the im2col buffer for deep filters.
const maxColElems = 1 << 21

// conv2D is TensorFlow's Conv2D for NHWC input x and an HWIO filter w.
func (e *executor) conv2D(n *node, x, w *tensor) (*tensor, error) {
	if err := floats(x, "Conv2D input"); err != nil {
		return nil, err
	}
	if err := floats(w, "Conv2D filter"); err != nil {
		return nil, err
	}
	if len(x.shape) != 4 || len(w.shape) != 4 || w.shape[2] != x.shape[3] {
		return nil, modelErr("Conv2D of %v with filter %v", x.shape, w.shape)
	}
	N, H, W, C := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	KH, KW, OC := w.shape[0], w.shape[1], w.shape[3]
	sh, sw, dh, dw := n.strides[1], n.strides[2], n.dilations[1], n.dilations[2]
	OH, pt, err := windowOut(n, H, KH, sh, dh, 1)
	if err != nil {
		return nil, err
	}
	OW, pl, err := windowOut(n, W, KW, sw, dw, 2)
	if err != nil {
		return nil, err
	}
	K := KH * KW * C
	if n.packed == nil || n.packed.k != K || n.packed.n != OC {
		n.packed = packB(w.f, K, OC)
	}
	out, err := e.alloc(N, OH, OW, OC)
	if err != nil {
		return nil, err
	}
	var ep *epilogue
	if n.bias != nil || n.leaky {
		if n.bias != nil && len(n.bias) != OC {
			return nil, modelErr("Conv2D bias of %d for %d channels", len(n.bias), OC)
		}
		if n.epilogue == nil {
			n.epilogue = newEpilogue(n.bias, OC, n.leaky, n.alpha)
		}
		ep = n.epilogue
	}
	M := OH * OW
	direct := KH == 1 && KW == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && OH == H && OW == W
	chunk := convRows
	if chunk*K > maxColElems {
		chunk = max(mr, maxColElems/K/mr*mr)
	}
	chunks := (M + chunk - 1) / chunk
	workers := min(max(e.threads, 1), chunks)
	if len(e.conv) < workers {
		e.conv = append(e.conv, make([]convScratch, workers-len(e.conv))...)
	}
	g := convGeom{H: H, W: W, C: C, KH: KH, KW: KW, sh: sh, sw: sw, dh: dh, dw: dw, pt: pt, pl: pl, OW: OW, K: K}
	if KH == 3 && KW == 3 && sh == 1 && sw == 1 && dh == 1 && dw == 1 && !e.im2colOnly && !e.noWinograd {
		if n.wino == nil || n.wino.c != C || n.wino.oc != OC {
			n.wino = newWinoFilter(w.f, C, OC)
		}
		for b := 0; b < N; b++ {
			e.convWinograd(n.wino, ep, &g, OH, x.f[b*H*W*C:(b+1)*H*W*C], out.f[b*M*OC:(b+1)*M*OC])
		}
		return out, nil
	}
	if !direct && sh == 1 && sw == 1 && dh == 1 && dw == 1 && KH > 1 && !e.im2colOnly {
		for b := 0; b < N; b++ {
			e.convImplicit(n.packed, ep, &g, OH, x.f[b*H*W*C:(b+1)*H*W*C], out.f[b*M*OC:(b+1)*M*OC])
		}
		return out, nil
	}
	for b := 0; b < N; b++ {
		xb := x.f[b*H*W*C : (b+1)*H*W*C]
		ob := out.f[b*M*OC : (b+1)*M*OC]
		// Worker w computes chunks w, w+workers, ...
		work := func(w int) {
			s := &e.conv[w]
			for ci := w; ci < chunks; ci += workers {
				m0 := ci * chunk
				rows := min(chunk, M-m0)
				if direct {
					gemm(e.kern, rows, xb[m0*C:], C, n.packed, ob[m0*OC:], OC, &s.gemm, ep)
					continue
				}
				if cap(s.col) < chunk*K {
					s.col = make([]float32, chunk*K)
				}
				col := s.col[:rows*K]
				g.im2col(col, xb, m0, rows)
				gemm(e.kern, rows, col, K, n.packed, ob[m0*OC:], OC, &s.gemm, ep)
			}
		}
		parallel(workers, work)
	}
	return out, nil
}

// convImplicit computes a stride-1, undilated convolution without im2col.
// The input is copied once into a zero-padded buffer of width Wp; output
// pixel (oy, ox) is treated as virtual row v = oy*Wp + ox, so the window
// row ky of v starts at padded pixel v + ky*Wp and consecutive virtual
// rows are C floats apart. Each tile is then KH accumulating GEMM
// micro-kernel calls of depth KW*C reading the padded input directly; the
// Wp-OW virtual columns past each output row are computed and dropped.
func (e *executor) convImplicit(b *packedB, ep *epilogue, g *convGeom, OH int, xb, ob []float32) {
	C, KH, KW := g.C, g.KH, g.KW
	OC := b.n
	Wp := g.OW + KW - 1
	Hp := OH + KH - 1
	need := Hp*Wp*C + (mr+KW)*C // slack: the last tile reads past the end
	xp := e.padded(xb, g, Hp, Wp, need)
	vn := (OH-1)*Wp + g.OW // virtual rows
	tiles := (vn + mr - 1) / mr
	panels := (OC + nr - 1) / nr
	kr := KW * C // depth of one window row
	workers := min(max(e.threads, 1), tiles)
	if len(e.conv) < workers {
		e.conv = append(e.conv, make([]convScratch, workers-len(e.conv))...)
	}
	work := func(w int) {
		tile := &e.conv[w].gemm.c
		for t := w; t < tiles; t += workers {
			v0 := t * mr
			rows := min(mr, vn-v0)
			for p := 0; p < panels; p++ {
				bias, alpha, post := ep.panel(p)
				panel := b.data[p*b.k*nr : (p+1)*b.k*nr]
				for ky := 0; ky < KH; ky++ {
					kb, ka := &zeroBias, float32(1)
					if ky == KH-1 {
						kb, ka = bias, alpha
					}
					kernel(e.kern, kr, xp[(v0+ky*Wp)*C:], C, panel[ky*kr*nr:(ky+1)*kr*nr], tile[:], nr, kb, ka, ky > 0)
				}
				cols := min(nr, OC-p*nr)
				if post {
					leakyTile(tile[:], nr, rows, cols, ep.alpha)
				}
				for r := 0; r < rows; r++ {
					oy, ox := (v0+r)/Wp, (v0+r)%Wp
					if ox < g.OW {
						copy(ob[(oy*g.OW+ox)*OC+p*nr:][:cols], tile[r*nr:r*nr+cols])
					}
				}
			}
		}
	}
	parallel(workers, work)
}

// parallel runs work(0..workers-1), work(0) on the calling goroutine.
func parallel(workers int, work func(int)) {
	if workers <= 1 {
		work(0)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(w)
		}()
	}
	work(0)
	wg.Wait()
}

// convGeom is one convolution's geometry, NHWC input and HWIO filter.
type convGeom struct {
	H, W, C, KH, KW, sh, sw, dh, dw, pt, pl, OW, K int
}

// padded copies the image xb (g.H x g.W x g.C) into the executor's
// padding buffer, need floats of Hp x Wp x C and slack, zero around it:
// row y goes to y+g.pt, column x to x+g.pl, what falls outside is cut.
func (e *executor) padded(xb []float32, g *convGeom, Hp, Wp, need int) []float32 {
	C := g.C
	if cap(e.padBuf) < need {
		e.padBuf = make([]float32, need)
	}
	xp := e.padBuf[:need]
	clear(xp)
	for y := 0; y < g.H; y++ {
		py := y + g.pt
		if py < 0 || py >= Hp {
			continue
		}
		x0, x1 := max(0, -g.pl), min(g.W, Wp-g.pl)
		if x0 >= x1 {
			continue
		}
		copy(xp[(py*Wp+x0+g.pl)*C:(py*Wp+x1+g.pl)*C], xb[(y*g.W+x0)*C:(y*g.W+x1)*C])
	}
	return xp
}

// im2col writes the K = KH*KW*C input values under output pixels m0 ..
// m0+rows-1 into col, one row of K per pixel, zeros for the padding.
func (g *convGeom) im2col(col, xb []float32, m0, rows int) {
	H, W, C, KH, KW, K := g.H, g.W, g.C, g.KH, g.KW, g.K
	for r := 0; r < rows; r++ {
		oy, ox := (m0+r)/g.OW, (m0+r)%g.OW
		dst := col[r*K : (r+1)*K]
		x0 := ox*g.sw - g.pl
		inside := g.dw == 1 && x0 >= 0 && x0+KW <= W
		for ky := 0; ky < KH; ky++ {
			y := oy*g.sh - g.pt + ky*g.dh
			if inside && y >= 0 && y < H {
				// The window's row is contiguous in NHWC.
				copy(dst[ky*KW*C:(ky+1)*KW*C], xb[(y*W+x0)*C:(y*W+x0+KW)*C])
				continue
			}
			for kx := 0; kx < KW; kx++ {
				d := dst[(ky*KW+kx)*C : (ky*KW+kx+1)*C]
				xx := x0 + kx*g.dw
				if y < 0 || y >= H || xx < 0 || xx >= W {
					clear(d)
					continue
				}
				copy(d, xb[(y*W+xx)*C:(y*W+xx+1)*C])
			}
		}
	}
}
