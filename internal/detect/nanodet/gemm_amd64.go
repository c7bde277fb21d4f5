package nanodet

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useAsm selects the AVX2+FMA micro-kernel.
var useAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// kernelAsm is kernel for CPUs with AVX2 and FMA (gemm_amd64.s).
//
//go:noescape
func kernelAsm(k int, a unsafe.Pointer, lda int, b unsafe.Pointer, c unsafe.Pointer, ldc int)
