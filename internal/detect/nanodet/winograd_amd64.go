package nanodet

import "unsafe"

//go:noescape
func winoInputAVX(v unsafe.Pointer, x unsafe.Pointer, rs int, c int)

//go:noescape
func winoOutputAVX(m unsafe.Pointer, oc int, dst *[4]unsafe.Pointer, bias unsafe.Pointer, alpha float32)

// winoInputAsm is winoInput's assembly for the channels below c&^7 when
// kern is an assembly kernel (both imply AVX); it returns how many
// channels it did.
func winoInputAsm(kern microKernel, v []float32, x []float32, rs, c int) int {
	n := c &^ 7
	if kern == goKernel || n == 0 {
		return 0
	}
	_ = v[15*c+n-1]
	_ = x[3*rs+3*c+n-1]
	winoInputAVX(unsafe.Pointer(&v[0]), unsafe.Pointer(&x[0]), rs, c)
	return n
}

// winoOutputAsm is winoOutput's assembly for a tile of oc channels, a
// multiple of 8, with an activation max(v, alpha*v); it reports whether it
// ran.
func winoOutputAsm(kern microKernel, m []float32, oc int, dst *[4][]float32, bias []float32, alpha float32) bool {
	if kern == goKernel || oc%8 != 0 || alpha < 0 || alpha > 1 {
		return false
	}
	_ = m[15*oc+oc-1]
	_ = bias[oc-1]
	var p [4]unsafe.Pointer
	for i, d := range dst {
		_ = d[oc-1]
		p[i] = unsafe.Pointer(&d[0])
	}
	winoOutputAVX(unsafe.Pointer(&m[0]), oc, &p, unsafe.Pointer(&bias[0]), alpha)
	return true
}
