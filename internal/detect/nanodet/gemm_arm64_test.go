package nanodet

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestNEONKernel checks the NEON micro-kernel against kernelGo on one tile
// with strides wider than the tile: every depth from none to more than a
// panel, with and without the previous C, with each kind of activation; the
// values around the tile must be left alone.
func TestNEONKernel(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 4))
	for _, k := range []int{0, 1, 2, 3, 7, 16, 33, 130} {
		for _, acc := range []bool{false, true} {
			for _, alpha := range []float32{1, 0.1, 0, 1.5} {
				lda, ldc := k+3, nr+5
				a := randFloats(r, mr*lda)
				b := randFloats(r, max(k, 1)*nr)
				bias := (*[nr]float32)(randFloats(r, nr))
				c0 := randFloats(r, mr*ldc)
				got, want := slices.Clone(c0), slices.Clone(c0)
				if !kernelAsm(neonKernel, k, a, lda, b, got, ldc, bias, alpha, acc) {
					t.Fatal("kernelAsm did not run")
				}
				kernelGo(k, a, lda, b, want, ldc, bias, alpha, acc)
				near(t, fmt.Sprintf("k=%d acc=%v alpha=%v", k, acc, alpha), got, want)
				for i := range c0 {
					if i%ldc >= nr && got[i] != c0[i] {
						t.Fatalf("k=%d: C[%d][%d] outside the tile changed", k, i/ldc, i%ldc)
					}
				}
			}
		}
	}
}
