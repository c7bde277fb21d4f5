package nanodet

// Winograd's minimal filtering F(2x2, 3x3) computes a 3x3, stride-1
// convolution in 2x2 output tiles with 16 multiplications per tile and
// channel pair instead of 36: each 4x4 input tile d becomes V = Bᵀ d B,
// each filter g becomes U = G g Gᵀ (once, at the first run), and the tile's
// output is Aᵀ M A for M the 16 element-wise products, which are 16 GEMMs
// summing over the input channels:
//
//	Bᵀ = | 1  0 -1  0 |   G = |  1    0    0  |   Aᵀ = | 1  1  1  0 |
//	     | 0  1  1  0 |       | 1/2  1/2  1/2 |        | 0  1 -1 -1 |
//	     | 0 -1  1  0 |       | 1/2 -1/2  1/2 |
//	     | 0  1  0 -1 |       |  0    0    1  |
//
// The transforms only add, subtract and halve, so the result differs from
// the direct convolution by rounding alone (TestConv2DAgainstNaive).

// winoFilter is a 3x3 filter transformed for F(2x2, 3x3): one packed
// C x OC matrix per element of the 4x4 tile.
type winoFilter struct {
	c, oc int
	u     [16]*packedB
}

// newWinoFilter transforms the HWIO filter w (3x3xCxOC).
func newWinoFilter(w []float32, c, oc int) *winoFilter {
	f := &winoFilter{c: c, oc: oc}
	var u [16][]float32
	for i := range u {
		u[i] = make([]float32, c*oc)
	}
	for ci := 0; ci < c; ci++ {
		for o := 0; o < oc; o++ {
			var g [3][3]float32
			for ky := range 3 {
				for kx := range 3 {
					g[ky][kx] = w[((ky*3+kx)*c+ci)*oc+o]
				}
			}
			// t = G g (4x3), then t Gᵀ (4x4).
			var t [4][3]float32
			for kx := range 3 {
				t[0][kx] = g[0][kx]
				t[1][kx] = (g[0][kx] + g[1][kx] + g[2][kx]) / 2
				t[2][kx] = (g[0][kx] - g[1][kx] + g[2][kx]) / 2
				t[3][kx] = g[2][kx]
			}
			for r := range 4 {
				row := [4]float32{t[r][0], (t[r][0] + t[r][1] + t[r][2]) / 2, (t[r][0] - t[r][1] + t[r][2]) / 2, t[r][2]}
				for j, v := range row {
					u[r*4+j][ci*oc+o] = v
				}
			}
		}
	}
	for i := range u {
		f.u[i] = packB(u[i], c, oc)
	}
	return f
}

// winoScratch is one worker's block of transformed tiles, ts floats per
// tile: the 16 elements of V (tile x C) and of the products M (tile x
// OC); a spare output row for the parts of edge tiles outside the image;
// and zeros for a missing bias.
type winoScratch struct {
	v, m, spare, zero []float32
}

// winoPad separates consecutive tiles' transforms by a cache line more than
// 16 rows, so that the GEMM's rows do not all fall in the same cache sets.
const winoPad = 16

// convWinograd computes a 3x3, stride-1, undilated convolution of one
// image with F(2x2, 3x3), then applies ep (nil: none).
func (e *executor) convWinograd(f *winoFilter, ep *epilogue, g *convGeom, OH int, xb, ob []float32) {
	C, OC, OW := g.C, f.oc, g.OW
	th, tw := (OH+1)/2, (OW+1)/2
	// The padded input covers every tile's 4x4 window.
	Hp, Wp := 2*th+2, 2*tw+2
	need := Hp * Wp * C
	xp := e.padded(xb, g, Hp, Wp, need)
	tiles := th * tw
	// A block of tiles is transformed, multiplied and transformed back
	// while its matrices stay in cache.
	block := max(mr, min(16*mr, 8192/(C+OC)/mr*mr))
	vs, ms := 16*C+winoPad, 16*OC+winoPad
	blocks := (tiles + block - 1) / block
	workers := min(max(e.threads, 1), blocks)
	if len(e.conv) < workers {
		e.conv = append(e.conv, make([]convScratch, workers-len(e.conv))...)
	}
	if len(e.wino) < workers {
		e.wino = append(e.wino, make([]winoScratch, workers-len(e.wino))...)
	}
	var bias []float32
	leaky, alpha := false, float32(1)
	if ep != nil {
		bias, leaky, alpha = ep.bias, ep.leaky, ep.alpha
	}
	work := func(w int) {
		s, gs := &e.wino[w], &e.conv[w].gemm
		s.v = grow(s.v, block*vs)
		s.m = grow(s.m, block*ms)
		s.spare = grow(s.spare, OC)
		if bias == nil {
			s.zero = grow(s.zero, OC)
			clear(s.zero)
		}
		b := bias
		if b == nil {
			b = s.zero
		}
		for bi := w; bi < blocks; bi += workers {
			t0 := bi * block
			n := min(block, tiles-t0)
			for t := 0; t < n; t++ {
				ty, tx := (t0+t)/tw, (t0+t)%tw
				winoInput(e.kern, s.v[t*vs:], xp[((2*ty)*Wp+2*tx)*C:], Wp*C, C)
			}
			for i := range 16 {
				gemm(e.kern, n, s.v[i*C:], vs, f.u[i], s.m[i*OC:], ms, gs, nil)
			}
			for t := 0; t < n; t++ {
				ty, tx := (t0+t)/tw, (t0+t)%tw
				var dst [4][]float32
				for k := range dst {
					y, x := 2*ty+k/2, 2*tx+k%2
					dst[k] = s.spare[:OC]
					if y < OH && x < OW {
						dst[k] = ob[(y*OW+x)*OC:][:OC]
					}
				}
				winoOutput(e.kern, s.m[t*ms:], OC, &dst, b, leaky, alpha)
			}
		}
	}
	parallel(workers, work)
}

// grow returns b with length n, reallocated when its capacity is short.
func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// winoInput writes V = Bᵀ d B of the 4x4 window at x (rows rs floats
// apart, pixels c apart) for each of c channels: element i of V for
// channel ch goes to v[i*c+ch].
func winoInput(kern microKernel, v []float32, x []float32, rs, c int) {
	_ = v[16*c-1]
	_ = x[3*rs+4*c-1]
	for ch := winoInputAsm(kern, v, x, rs, c); ch < c; ch++ {
		// Columns first: t = Bᵀ d.
		var t [4][4]float32
		for j := range 4 {
			d0, d1, d2, d3 := x[j*c+ch], x[rs+j*c+ch], x[2*rs+j*c+ch], x[3*rs+j*c+ch]
			t[0][j], t[1][j], t[2][j], t[3][j] = d0-d2, d1+d2, d2-d1, d1-d3
		}
		for r := range 4 {
			t0, t1, t2, t3 := t[r][0], t[r][1], t[r][2], t[r][3]
			o := r*4*c + ch
			v[o], v[o+c], v[o+2*c], v[o+3*c] = t0-t2, t1+t2, t2-t1, t1-t3
		}
	}
}

// winoOutput writes Aᵀ M A, the 2x2 outputs of the tile whose element i
// of M for channel o is m[i*oc+o], output (r, j) to dst[r*2+j], with bias
// added and LeakyRelu(alpha) applied when leaky.
func winoOutput(kern microKernel, m []float32, oc int, dst *[4][]float32, bias []float32, leaky bool, alpha float32) {
	a := float32(1)
	if leaky {
		a = alpha
	}
	if winoOutputAsm(kern, m, oc, dst, bias, a) {
		return
	}
	_ = m[16*oc-1]
	bias = bias[:oc]
	d0, d1, d2, d3 := dst[0][:oc], dst[1][:oc], dst[2][:oc], dst[3][:oc]
	for o := 0; o < oc; o++ {
		// Rows first: t = Aᵀ M (2x4).
		var t [2][4]float32
		for j := range 4 {
			m0, m1, m2, m3 := m[j*oc+o], m[(4+j)*oc+o], m[(8+j)*oc+o], m[(12+j)*oc+o]
			t[0][j], t[1][j] = m0+m1+m2, m1-m2-m3
		}
		b := bias[o]
		y := [4]float32{t[0][0] + t[0][1] + t[0][2] + b, t[0][1] - t[0][2] - t[0][3] + b,
			t[1][0] + t[1][1] + t[1][2] + b, t[1][1] - t[1][2] - t[1][3] + b}
		if leaky {
			for k, v := range y {
				if v < 0 {
					y[k] = v * alpha
				}
			}
		}
		d0[o], d1[o], d2[o], d3[o] = y[0], y[1], y[2], y[3]
	}
}
