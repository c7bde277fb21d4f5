package nanodet

import "unsafe"

// The micro-kernel on arm64 is NEON (Advanced SIMD, which every ARMv8-A
// CPU has): a tile as four 6x16 quarters. The x86 kernels never run here.
var useAVX512, useAVX2 = false, false

//go:noescape
func kernelNEON(k int, a unsafe.Pointer, lda int, b unsafe.Pointer, c unsafe.Pointer, ldc int, bias unsafe.Pointer, alpha float32, acc int)

// kernelAsm is kernel in NEON; it always runs.
func kernelAsm(k int, a []float32, lda int, b []float32, c []float32, ldc int, bias *[nr]float32, alpha float32, acc bool) bool {
	ac := 0
	if acc {
		ac = 1
	}
	for _, r := range [2]int{0, mr / 2} {
		for _, j := range [2]int{0, nr / 2} {
			kernelNEON(k, unsafe.Pointer(&a[r*lda]), lda, unsafe.Pointer(&b[j]), unsafe.Pointer(&c[r*ldc+j]), ldc, unsafe.Pointer(&bias[j]), alpha, ac)
		}
	}
	return true
}

func vmax(dst, src []float32) { vmaxGo(dst, src) }
