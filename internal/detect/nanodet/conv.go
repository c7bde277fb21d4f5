package nanodet

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
	s := &e.conv
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
	for b := 0; b < N; b++ {
		xb := x.f[b*H*W*C : (b+1)*H*W*C]
		ob := out.f[b*M*OC : (b+1)*M*OC]
		if direct {
			gemm(M, xb, C, n.packed, ob, OC, &s.gemm, ep)
			continue
		}
		chunk := convRows
		if chunk*K > maxColElems {
			chunk = max(mr, maxColElems/K/mr*mr)
		}
		if cap(s.col) < chunk*K {
			s.col = make([]float32, chunk*K)
		}
		col := s.col[:chunk*K]
		for m0 := 0; m0 < M; m0 += chunk {
			rows := min(chunk, M-m0)
			for r := 0; r < rows; r++ {
				oy, ox := (m0+r)/OW, (m0+r)%OW
				dst := col[r*K : (r+1)*K]
				x0 := ox*sw - pl
				inside := dw == 1 && x0 >= 0 && x0+KW <= W
				for ky := 0; ky < KH; ky++ {
					y := oy*sh - pt + ky*dh
					if inside && y >= 0 && y < H {
						// The window's row is contiguous in NHWC.
						copy(dst[ky*KW*C:(ky+1)*KW*C], xb[(y*W+x0)*C:(y*W+x0+KW)*C])
						continue
					}
					for kx := 0; kx < KW; kx++ {
						d := dst[(ky*KW+kx)*C : (ky*KW+kx+1)*C]
						xx := ox*sw - pl + kx*dw
						if y < 0 || y >= H || xx < 0 || xx >= W {
							clear(d)
							continue
						}
						copy(d, xb[(y*W+xx)*C:(y*W+xx+1)*C])
					}
				}
			}
			gemm(rows, col, K, n.packed, ob[m0*OC:], OC, &s.gemm, ep)
		}
	}
	return out, nil
}
