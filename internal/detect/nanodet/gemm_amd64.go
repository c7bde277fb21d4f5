package nanodet

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// cpuKernels lists the micro-kernels this CPU runs, fastest first:
// AVX-512 computes a whole 12x32 tile, AVX2+FMA four 6x16 quarters, and
// goKernel runs everywhere.
func cpuKernels() []microKernel {
	var ks []microKernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, avx512Kernel)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2Kernel)
	}
	return append(ks, goKernel)
}

//go:noescape
func kernelAVX2(k int, a unsafe.Pointer, lda int, b unsafe.Pointer, c unsafe.Pointer, ldc int, bias unsafe.Pointer, alpha float32, acc int)

//go:noescape
func kernel512(k int, a unsafe.Pointer, lda int, b unsafe.Pointer, c unsafe.Pointer, ldc int, bias unsafe.Pointer, alpha float32, acc int)

// kernelAsm is kernel for the assembly micro-kernels; it reports whether
// kern is one.
func kernelAsm(kern microKernel, k int, a []float32, lda int, b []float32, c []float32, ldc int, bias *[nr]float32, alpha float32, acc bool) bool {
	ac := 0
	if acc {
		ac = 1
	}
	switch kern {
	case avx512Kernel:
		kernel512(k, unsafe.Pointer(&a[0]), lda, unsafe.Pointer(&b[0]), unsafe.Pointer(&c[0]), ldc, unsafe.Pointer(bias), alpha, ac)
	case avx2Kernel:
		// Both row halves of one column half run back to back, so the
		// second reads B's half-panel from L1.
		for _, j := range [2]int{0, 16} {
			for _, r := range [2]int{0, 6} {
				kernelAVX2(k, unsafe.Pointer(&a[r*lda]), lda, unsafe.Pointer(&b[j]), unsafe.Pointer(&c[r*ldc+j]), ldc, unsafe.Pointer(&bias[j]), alpha, ac)
			}
		}
	default:
		return false
	}
	return true
}

//go:noescape
func maxInto(dst, src unsafe.Pointer, n int)

// vmax sets dst[i] = max(dst[i], src[i]); len(src) >= len(dst). The
// assembly needs AVX, which both assembly micro-kernels imply.
func vmax(kern microKernel, dst, src []float32) {
	n := len(dst)
	if kern != goKernel && n >= 8 {
		_ = src[n-1]
		maxInto(unsafe.Pointer(&dst[0]), unsafe.Pointer(&src[0]), n&^7)
		dst, src = dst[n&^7:], src[n&^7:]
	}
	vmaxGo(dst, src)
}
