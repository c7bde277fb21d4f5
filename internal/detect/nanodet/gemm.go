package nanodet

// The GEMM computes C = A·B for A (m x k, row stride lda), B packed once per
// model into column panels of nr floats (k rows of nr each, zero-padded),
// and C (m x n, row stride ldc). A micro-kernel computes mr x nr tiles.
const (
	mr = 12
	nr = 16
)

// packedB is a constant right-hand matrix in panel layout.
type packedB struct {
	k, n int
	data []float32 // panels of k*nr values
}

// packB packs the k x n row-major matrix b.
func packB(b []float32, k, n int) *packedB {
	panels := (n + nr - 1) / nr
	p := &packedB{k: k, n: n, data: make([]float32, panels*k*nr)}
	for pi := 0; pi < panels; pi++ {
		dst := p.data[pi*k*nr:]
		for r := 0; r < k; r++ {
			for j := 0; j < nr; j++ {
				if c := pi*nr + j; c < n {
					dst[r*nr+j] = b[r*n+c]
				}
			}
		}
	}
	return p
}

// gemmScratch holds the tiles used at the matrix edges.
type gemmScratch struct {
	a []float32 // mr x k, zero-padded rows
	c [mr * nr]float32
}

// epilogue is applied to C while it is in cache: C = act(C + bias).
type epilogue struct {
	bias  []float32 // per column, or nil
	leaky bool
	alpha float32
}

func (ep *epilogue) apply(c []float32, ldc, rows, col0, cols int) {
	if ep == nil {
		return
	}
	for r := 0; r < rows; r++ {
		row := c[r*ldc : r*ldc+cols]
		if ep.bias != nil {
			for j, v := range ep.bias[col0 : col0+cols] {
				row[j] += v
			}
		}
		if ep.leaky {
			for j, v := range row {
				if v < 0 {
					row[j] = v * ep.alpha
				}
			}
		}
	}
}

// gemm computes C = A·B for m rows of A, then applies ep (nil: none).
func gemm(m int, a []float32, lda int, b *packedB, c []float32, ldc int, s *gemmScratch, ep *epilogue) {
	k, n := b.k, b.n
	if k == 0 {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+n])
			ep.apply(c[i*ldc:], ldc, 1, 0, n)
		}
		return
	}
	panels := (n + nr - 1) / nr
	for i0 := 0; i0 < m; i0 += mr {
		rows := min(mr, m-i0)
		ap, ald := a[i0*lda:], lda
		if rows < mr {
			if cap(s.a) < mr*k {
				s.a = make([]float32, mr*k)
			}
			s.a = s.a[:mr*k]
			clear(s.a)
			for r := 0; r < rows; r++ {
				copy(s.a[r*k:(r+1)*k], a[(i0+r)*lda:(i0+r)*lda+k])
			}
			ap, ald = s.a, k
		}
		for p := 0; p < panels; p++ {
			bp := b.data[p*k*nr : (p+1)*k*nr]
			cols := min(nr, n-p*nr)
			if rows == mr && cols == nr {
				kernel(k, ap, ald, bp, c[i0*ldc+p*nr:], ldc)
				ep.apply(c[i0*ldc+p*nr:], ldc, rows, p*nr, cols)
				continue
			}
			kernel(k, ap, ald, bp, s.c[:], nr)
			ep.apply(s.c[:], nr, rows, p*nr, cols)
			for r := 0; r < rows; r++ {
				copy(c[(i0+r)*ldc+p*nr:(i0+r)*ldc+p*nr+cols], s.c[r*nr:r*nr+cols])
			}
		}
	}
}

// kernel computes one mr x nr tile: c[r*ldc+j] = sum_q a[r*lda+q] * b[q*nr+j].
func kernel(k int, a []float32, lda int, b []float32, c []float32, ldc int) {
	_ = a[(mr-1)*lda+k-1]
	_ = b[k*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	if !kernelAsm(k, a, lda, b, c, ldc) {
		kernelGo(k, a, lda, b, c, ldc)
	}
}

func kernelGo(k int, a []float32, lda int, b []float32, c []float32, ldc int) {
	for r := 0; r < mr; r++ {
		var acc [nr]float32
		ar := a[r*lda : r*lda+k]
		for q, av := range ar {
			br := b[q*nr : q*nr+nr]
			for j := range acc {
				acc[j] += av * br[j]
			}
		}
		copy(c[r*ldc:r*ldc+nr], acc[:])
	}
}
