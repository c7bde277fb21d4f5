package nanodet

import (
	"errors"
	"fmt"
)

// The GEMM computes C = A·B for A (m x k, row stride lda), B packed once per
// model into column panels of nr floats (k rows of nr each, zero-padded),
// and C (m x n, row stride ldc). A micro-kernel computes mr x nr tiles.
const (
	mr = 12
	nr = 32
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

// microKernel names the micro-kernel a GEMM runs; an executor picks one
// when its Model is loaded and uses it for every product.
type microKernel uint8

const (
	goKernel     microKernel = iota // portable Go, every CPU
	avx2Kernel                      // AVX2 and FMA (amd64)
	avx512Kernel                    // AVX-512F (amd64)
	neonKernel                      // NEON (arm64)
)

// allKernels are the micro-kernels of every architecture.
const allKernels = neonKernel + 1

// String is the kernel's name in Options.Kernel.
func (k microKernel) String() string {
	switch k {
	case goKernel:
		return "go"
	case avx2Kernel:
		return "avx2"
	case avx512Kernel:
		return "avx512"
	case neonKernel:
		return "neon"
	}
	return fmt.Sprintf("kernel(%d)", uint8(k))
}

// ErrKernel is returned by LoadOptions when the CPU cannot run the
// micro-kernel Options.Kernel names.
var ErrKernel = errors.New("nanodet: kernel not available")

// pickKernel returns the micro-kernel called name ("" or "auto": the
// fastest this CPU runs), or an error when the CPU cannot run it.
func pickKernel(name string) (microKernel, error) {
	if name == "" || name == "auto" {
		return cpuKernels()[0], nil
	}
	for _, k := range cpuKernels() {
		if k.String() == name {
			return k, nil
		}
	}
	for k := range allKernels {
		if k.String() == name {
			return 0, fmt.Errorf("%w: this CPU cannot run the %s kernel (it runs %v)", ErrKernel, k, cpuKernels())
		}
	}
	return 0, fmt.Errorf("nanodet: unknown kernel %q (auto, avx512, avx2, neon or go)", name)
}

// gemmScratch holds the tiles used at the matrix edges.
type gemmScratch struct {
	a []float32 // mr x k, zero-padded rows
	c [mr * nr]float32
}

// epilogue is applied to each tile while it is in registers or cache:
// C = act(C + bias), act LeakyRelu(alpha) or the identity.
type epilogue struct {
	bias  []float32 // per column, zero-padded to whole panels; nil: none
	leaky bool
	alpha float32
}

// newEpilogue pads bias to whole panels of n columns.
func newEpilogue(bias []float32, n int, leaky bool, alpha float32) *epilogue {
	ep := &epilogue{leaky: leaky, alpha: alpha}
	if bias != nil {
		ep.bias = make([]float32, (n+nr-1)/nr*nr)
		copy(ep.bias, bias)
	}
	return ep
}

var zeroBias [nr]float32

// panel returns the bias and alpha the kernels apply to panel p: alpha 1
// (identity) when there is no activation or it cannot be written as
// max(v, alpha*v).
func (ep *epilogue) panel(p int) (*[nr]float32, float32, bool) {
	if ep == nil {
		return &zeroBias, 1, false
	}
	bias := &zeroBias
	if ep.bias != nil {
		bias = (*[nr]float32)(ep.bias[p*nr : (p+1)*nr])
	}
	if !ep.leaky {
		return bias, 1, false
	}
	if ep.alpha >= 0 && ep.alpha <= 1 {
		return bias, ep.alpha, false
	}
	return bias, 1, true
}

// leakyTile applies LeakyRelu(alpha) to a rows x cols tile.
func leakyTile(c []float32, ldc, rows, cols int, alpha float32) {
	for r := 0; r < rows; r++ {
		row := c[r*ldc : r*ldc+cols]
		for j, v := range row {
			if v < 0 {
				row[j] = v * alpha
			}
		}
	}
}

// gemm computes C = A·B for m rows of A with micro-kernel kern, then
// applies ep (nil: none).
func gemm(kern microKernel, m int, a []float32, lda int, b *packedB, c []float32, ldc int, s *gemmScratch, ep *epilogue) {
	k, n := b.k, b.n
	panels := (n + nr - 1) / nr
	if k == 0 {
		// No products: C is the epilogue of zero.
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var v float32
				if ep != nil && ep.bias != nil {
					v = ep.bias[j]
				}
				if ep != nil && ep.leaky && v < 0 {
					v *= ep.alpha
				}
				c[i*ldc+j] = v
			}
		}
		return
	}
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
			bias, alpha, post := ep.panel(p)
			dst, ldd := c[i0*ldc+p*nr:], ldc
			if rows < mr || cols < nr {
				dst, ldd = s.c[:], nr
			}
			kernel(kern, k, ap, ald, bp, dst, ldd, bias, alpha, false)
			if post {
				leakyTile(dst, ldd, rows, cols, ep.alpha)
			}
			if rows < mr || cols < nr {
				for r := 0; r < rows; r++ {
					copy(c[(i0+r)*ldc+p*nr:(i0+r)*ldc+p*nr+cols], s.c[r*nr:r*nr+cols])
				}
			}
		}
	}
}

// kernel computes one mr x nr tile:
// c[r*ldc+j] = max(v, alpha*v) for v = c0 + bias[j] + sum_q a[r*lda+q] * b[q*nr+j],
// c0 the previous c[r*ldc+j] when acc is set, else zero.
func kernel(kern microKernel, k int, a []float32, lda int, b []float32, c []float32, ldc int, bias *[nr]float32, alpha float32, acc bool) {
	_ = a[(mr-1)*lda+k-1]
	_ = b[k*nr-1]
	_ = c[(mr-1)*ldc+nr-1]
	if !kernelAsm(kern, k, a, lda, b, c, ldc, bias, alpha, acc) {
		kernelGo(k, a, lda, b, c, ldc, bias, alpha, acc)
	}
}

func kernelGo(k int, a []float32, lda int, b []float32, c []float32, ldc int, bias *[nr]float32, alpha float32, accumulate bool) {
	for r := 0; r < mr; r++ {
		acc := *bias
		if accumulate {
			for j := range acc {
				acc[j] += c[r*ldc+j]
			}
		}
		ar := a[r*lda : r*lda+k]
		for q, av := range ar {
			br := b[q*nr : q*nr+nr]
			for j := range acc {
				acc[j] += av * br[j]
			}
		}
		for j, v := range acc {
			acc[j] = max(v, v*alpha)
		}
		copy(c[r*ldc:r*ldc+nr], acc[:])
	}
}

func vmaxGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		if v > dst[i] {
			dst[i] = v
		}
	}
}
