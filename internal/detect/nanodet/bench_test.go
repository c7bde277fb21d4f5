package nanodet

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkDetect is one whole detection (letterbox, network at 416, decode,
// NMS) on a real 768x576 frame with each micro-kernel the CPU runs; run
// with GOMAXPROCS=1 for one core.
func BenchmarkDetect(b *testing.B) {
	for _, k := range cpuKernels() {
		b.Run(k.String(), func(b *testing.B) { benchDetect(b, loadBench(b, Options{Kernel: k.String()})) })
	}
}

// BenchmarkDetect320 runs the network at 320x320.
func BenchmarkDetect320(b *testing.B) { benchDetect(b, loadBench(b, Options{InputSize: 320})) }

// BenchmarkDetect2Threads runs at 416 with two goroutines per convolution
// (run it with GOMAXPROCS=2).
func BenchmarkDetect2Threads(b *testing.B) { benchDetect(b, loadBench(b, Options{Threads: 2})) }

func loadBench(b *testing.B, o Options) *Model {
	m, err := LoadOptions(DefaultDir(), o)
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// benchDetect times m's detections on one vtest frame.
func benchDetect(b *testing.B, m *Model) {
	img := frame(b, "vtest.avi", 200, 768, 576)
	ctx := context.Background()
	b.ResetTimer()
	c0 := cpuTime()
	for b.Loop() {
		if _, err := m.Detect(ctx, img); err != nil {
			b.Fatal(err)
		}
	}
	reportMs(b, c0)
}

// reportMs reports wall-clock and CPU milliseconds per inference.
func reportMs(b *testing.B, c0 time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/inference")
	b.ReportMetric(float64((cpuTime()-c0).Microseconds())/1e3/float64(b.N), "cpu-ms/inference")
}

// BenchmarkGEMM is the largest convolution's matrix product: 2704 pixels x
// 1152 (3x3x128) x 128 channels, with each micro-kernel the CPU runs.
func BenchmarkGEMM(b *testing.B) {
	for _, kern := range cpuKernels() {
		b.Run(kern.String(), func(b *testing.B) { benchGEMM(b, kern) })
	}
}

func benchGEMM(b *testing.B, kern microKernel) {
	const m, k, n = 2704, 1152, 128
	r := rand.New(rand.NewPCG(1, 2))
	a := make([]float32, m*k)
	w := make([]float32, k*n)
	for i := range a {
		a[i] = r.Float32()
	}
	for i := range w {
		w[i] = r.Float32()
	}
	pb := packB(w, k, n)
	c := make([]float32, m*n)
	var s gemmScratch
	b.ResetTimer()
	c0 := cpuTime()
	for b.Loop() {
		gemm(kern, m, a, k, pb, c, n, &s, nil)
	}
	b.ReportMetric(2*m*k*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(2*m*k*n*float64(b.N)/(cpuTime()-c0).Seconds()/1e9, "GFLOP/cpu-s")
}

// BenchmarkConv is the same convolution through Conv2D (stride 1: without
// im2col), with each micro-kernel the CPU runs.
func BenchmarkConv(b *testing.B) {
	for _, kern := range cpuKernels()[:len(cpuKernels())-1] {
		b.Run(kern.String(), func(b *testing.B) { benchConv(b, kern, 1) })
	}
}

// BenchmarkConv2Threads splits it over two goroutines.
func BenchmarkConv2Threads(b *testing.B) { benchConv(b, cpuKernels()[0], 2) }

func benchConv(b *testing.B, kern microKernel, threads int) {
	const h, w, c, oc = 54, 54, 128, 128
	r := rand.New(rand.NewPCG(3, 4))
	x := &tensor{shape: []int{1, h, w, c}, f: make([]float32, h*w*c)}
	f := &tensor{shape: []int{3, 3, c, oc}, f: make([]float32, 9*c*oc)}
	for i := range x.f {
		x.f[i] = r.Float32()
	}
	for i := range f.f {
		f.f[i] = r.Float32()
	}
	n := &node{op: "Conv2D", padding: "VALID", strides: [4]int{1, 1, 1, 1}, dilations: [4]int{1, 1, 1, 1}}
	e := newExecutor(&graph{consts: map[int]*tensor{}})
	e.threads, e.kern = threads, kern
	b.ResetTimer()
	c0 := cpuTime()
	for b.Loop() {
		out, err := e.conv2D(n, x, f)
		if err != nil {
			b.Fatal(err)
		}
		e.release(out)
	}
	flop := 2 * 52 * 52 * 9 * c * oc * float64(b.N)
	b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	b.ReportMetric(flop/(cpuTime()-c0).Seconds()/1e9, "GFLOP/cpu-s")
}

// BenchmarkDetectIm2col is BenchmarkDetect with every convolution lowered
// by im2col, for comparison with the implicit stride-1 path.
func BenchmarkDetectIm2col(b *testing.B) {
	m := loadBench(b, Options{})
	m.ex.im2colOnly = true
	benchDetect(b, m)
}
