//go:build !amd64 && !arm64

package nanodet

// No assembly micro-kernels on this architecture.
func cpuKernels() []microKernel { return []microKernel{goKernel} }

func kernelAsm(kern microKernel, k int, a []float32, lda int, b []float32, c []float32, ldc int, bias *[nr]float32, alpha float32, acc bool) bool {
	return false
}

func vmax(kern microKernel, dst, src []float32) { vmaxGo(dst, src) }
