package nanodet

import "unsafe"

// cpuKernels lists the micro-kernels this CPU runs, fastest first: NEON
// (Advanced SIMD, which every ARMv8-A CPU has) computes a tile as four
// 6x16 quarters, and goKernel runs everywhere.
func cpuKernels() []microKernel { return []microKernel{neonKernel, goKernel} }

//go:noescape
func kernelNEON(k int, a unsafe.Pointer, lda int, b unsafe.Pointer, c unsafe.Pointer, ldc int, bias unsafe.Pointer, alpha float32, acc int)

// kernelAsm is kernel for the NEON micro-kernel; it reports whether kern
// is that one.
func kernelAsm(kern microKernel, k int, a []float32, lda int, b []float32, c []float32, ldc int, bias *[nr]float32, alpha float32, acc bool) bool {
	if kern != neonKernel {
		return false
	}
	ac := 0
	if acc {
		ac = 1
	}
	for _, j := range [2]int{0, nr / 2} {
		for _, r := range [2]int{0, mr / 2} {
			kernelNEON(k, unsafe.Pointer(&a[r*lda]), lda, unsafe.Pointer(&b[j]), unsafe.Pointer(&c[r*ldc+j]), ldc, unsafe.Pointer(&bias[j]), alpha, ac)
		}
	}
	return true
}

func vmax(kern microKernel, dst, src []float32) { vmaxGo(dst, src) }
