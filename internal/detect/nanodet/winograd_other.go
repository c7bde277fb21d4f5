//go:build !amd64

package nanodet

// No assembly transforms on this architecture.
func winoInputAsm(kern microKernel, v []float32, x []float32, rs, c int) int { return 0 }

func winoOutputAsm(kern microKernel, m []float32, oc int, dst *[4][]float32, bias []float32, alpha float32) bool {
	return false
}
