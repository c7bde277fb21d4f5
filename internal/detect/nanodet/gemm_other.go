//go:build !amd64

package nanodet

import "unsafe"

const useAsm = false

func kernelAsm(k int, a unsafe.Pointer, lda int, b unsafe.Pointer, c unsafe.Pointer, ldc int) {
	panic("unreachable")
}
