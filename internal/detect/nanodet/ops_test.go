package nanodet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func ft(shape []int, v ...float32) *tensor { return &tensor{shape: shape, f: v} }

func it(shape []int, v ...int64) *tensor { return &tensor{shape: shape, i: v, isInt: true} }

func newTestExecutor() *executor { return newExecutor(&graph{consts: map[int]*tensor{}}) }

func near(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d: %v", what, len(got), len(want), got)
	}
	for k := range got {
		if math.Abs(float64(got[k]-want[k])) > 1e-4*(1+math.Abs(float64(want[k]))) {
			t.Fatalf("%s: value %d is %v, want %v\n got %v\nwant %v", what, k, got[k], want[k], got, want)
		}
	}
}

func sameShape(t *testing.T, what string, got, want []int) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: shape %v, want %v", what, got, want)
	}
	for k := range got {
		if got[k] != want[k] {
			t.Fatalf("%s: shape %v, want %v", what, got, want)
		}
	}
}

func seq(n int) []float32 {
	v := make([]float32, n)
	for k := range v {
		v[k] = float32(k + 1)
	}
	return v
}

func convNode(padding string, stride int) *node {
	return &node{op: "Conv2D", padding: padding, strides: [4]int{1, stride, stride, 1}, dilations: [4]int{1, 1, 1, 1}, ksize: [4]int{1, 1, 1, 1}}
}

func TestConv2DHandComputed(t *testing.T) {
	e := newTestExecutor()
	x := ft([]int{1, 3, 3, 1}, seq(9)...)
	// A 2x2 diagonal filter, VALID, stride 1: x[y][x] + x[y+1][x+1].
	out, err := e.conv2D(convNode("VALID", 1), x, ft([]int{2, 2, 1, 1}, 1, 0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	sameShape(t, "VALID", out.shape, []int{1, 2, 2, 1})
	near(t, "VALID", out.f, []float32{6, 8, 12, 14})
	// A 3x3 box, SAME, stride 2: one pixel of zero padding on every side.
	out, err = e.conv2D(convNode("SAME", 2), x, ft([]int{3, 3, 1, 1}, 1, 1, 1, 1, 1, 1, 1, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	sameShape(t, "SAME", out.shape, []int{1, 2, 2, 1})
	near(t, "SAME", out.f, []float32{12, 16, 24, 28})
	// EXPLICIT: one row on top, one column on the right, 2x2 ones filter.
	n := convNode("EXPLICIT", 1)
	n.explicitPad = [8]int{0, 0, 1, 0, 0, 1, 0, 0}
	out, err = e.conv2D(n, x, ft([]int{2, 2, 1, 1}, 1, 1, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	sameShape(t, "EXPLICIT", out.shape, []int{1, 3, 3, 1})
	near(t, "EXPLICIT", out.f, []float32{3, 5, 3, 12, 16, 9, 24, 28, 15})
}

// naiveConv is a direct NHWC/HWIO convolution with zero padding pt, pl.
func naiveConv(x []float32, H, W, C int, w []float32, KH, KW, OC, stride, pt, pl, OH, OW int) []float32 {
	out := make([]float32, OH*OW*OC)
	for oy := 0; oy < OH; oy++ {
		for ox := 0; ox < OW; ox++ {
			for o := 0; o < OC; o++ {
				var s float64
				for ky := 0; ky < KH; ky++ {
					for kx := 0; kx < KW; kx++ {
						y, xx := oy*stride-pt+ky, ox*stride-pl+kx
						if y < 0 || y >= H || xx < 0 || xx >= W {
							continue
						}
						for c := 0; c < C; c++ {
							s += float64(x[(y*W+xx)*C+c]) * float64(w[((ky*KW+kx)*C+c)*OC+o])
						}
					}
				}
				out[(oy*OW+ox)*OC+o] = float32(s)
			}
		}
	}
	return out
}

func randFloats(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for k := range v {
		v[k] = r.Float32()*2 - 1
	}
	return v
}

// TestConv2DAgainstNaive covers the GEMM's edge tiles (rows and columns
// that are not multiples of the micro-kernel's), the direct 1x1 path and
// each way of computing a stride-1 convolution (Winograd's F(2x2, 3x3) for
// 3x3 filters, windows read in place, im2col) with every micro-kernel.
func TestConv2DAgainstNaive(t *testing.T) {
	for _, mode := range []string{"winograd", "implicit", "im2col"} {
		t.Run(mode, func(t *testing.T) {
			forEachKernel(t, func(t *testing.T, kern microKernel) { testConv2DAgainstNaive(t, kern, mode) })
		})
	}
}

func testConv2DAgainstNaive(t *testing.T, kern microKernel, mode string) {
	r := rand.New(rand.NewPCG(5, 6))
	e := newTestExecutor()
	e.kern, e.im2colOnly, e.noWinograd = kern, mode == "im2col", mode != "winograd"
	for i, c := range []struct{ H, W, C, K, OC, stride int }{
		{7, 5, 3, 3, 17, 1}, {9, 9, 8, 3, 33, 2}, {5, 4, 19, 1, 13, 1}, {13, 11, 16, 3, 16, 1}, {6, 6, 5, 1, 40, 2},
		{31, 29, 7, 3, 20, 1}, {40, 40, 3, 1, 5, 1}, {4, 3, 40, 3, 70, 1}, {3, 3, 2, 3, 1, 1}, {6, 7, 13, 3, 24, 1},
	} {
		e.threads = 1 + i%3 // several workers must give the same result
		x := randFloats(r, c.H*c.W*c.C)
		w := randFloats(r, c.K*c.K*c.C*c.OC)
		OH, OW := (c.H-c.K)/c.stride+1, (c.W-c.K)/c.stride+1
		out, err := e.conv2D(convNode("VALID", c.stride), ft([]int{1, c.H, c.W, c.C}, x...), ft([]int{c.K, c.K, c.C, c.OC}, w...))
		if err != nil {
			t.Fatal(err)
		}
		sameShape(t, "conv", out.shape, []int{1, OH, OW, c.OC})
		near(t, "conv", out.f, naiveConv(x, c.H, c.W, c.C, w, c.K, c.K, c.OC, c.stride, 0, 0, OH, OW))
		// Explicit padding: one on top and left, two at the bottom, none right.
		n := convNode("EXPLICIT", c.stride)
		n.explicitPad = [8]int{0, 0, 1, 2, 1, 0, 0, 0}
		OH, OW = (c.H+3-c.K)/c.stride+1, (c.W+1-c.K)/c.stride+1
		out, err = e.conv2D(n, ft([]int{1, c.H, c.W, c.C}, x...), ft([]int{c.K, c.K, c.C, c.OC}, w...))
		if err != nil {
			t.Fatal(err)
		}
		sameShape(t, "padded conv", out.shape, []int{1, OH, OW, c.OC})
		near(t, "padded conv", out.f, naiveConv(x, c.H, c.W, c.C, w, c.K, c.K, c.OC, c.stride, 1, 1, OH, OW))
		// Fused bias and LeakyRelu.
		n.bias, n.leaky, n.alpha = randFloats(r, c.OC), true, 0.1
		out, err = e.conv2D(n, ft([]int{1, c.H, c.W, c.C}, x...), ft([]int{c.K, c.K, c.C, c.OC}, w...))
		if err != nil {
			t.Fatal(err)
		}
		want := naiveConv(x, c.H, c.W, c.C, w, c.K, c.K, c.OC, c.stride, 1, 1, OH, OW)
		for k := range want {
			v := want[k] + n.bias[k%c.OC]
			if v < 0 {
				v *= 0.1
			}
			want[k] = v
		}
		near(t, "conv with bias and activation", out.f, want)
	}
}

// TestGEMMEdges checks every micro-kernel the CPU has (AVX-512, AVX2,
// portable Go) on sizes that leave partial tiles.
func TestGEMMEdges(t *testing.T) { forEachKernel(t, testGEMMEdges) }

// forEachKernel runs f with each micro-kernel the CPU supports.
func forEachKernel(t *testing.T, f func(*testing.T, microKernel)) {
	for k := range allKernels {
		if _, err := pickKernel(k.String()); err != nil {
			t.Logf("%s: %v", k, err)
			continue
		}
		t.Run(k.String(), func(t *testing.T) { f(t, k) })
	}
}

func testGEMMEdges(t *testing.T, kern microKernel) {
	r := rand.New(rand.NewPCG(7, 8))
	var s gemmScratch
	for _, c := range []struct{ m, k, n int }{{1, 1, 1}, {6, 16, 16}, {12, 16, 16}, {7, 5, 17}, {13, 33, 31}, {25, 0, 3}, {40, 70, 48}} {
		a := randFloats(r, c.m*c.k)
		b := randFloats(r, c.k*c.n)
		bias := randFloats(r, c.n)
		for _, e := range []struct {
			bias  []float32
			leaky bool
			alpha float32
		}{{nil, false, 0}, {bias, false, 0}, {bias, true, 0.1}, {nil, true, 1.5}} {
			var ep *epilogue
			if e.bias != nil || e.leaky {
				ep = newEpilogue(e.bias, c.n, e.leaky, e.alpha)
			}
			got := make([]float32, c.m*c.n)
			gemm(kern, c.m, a, c.k, packB(b, c.k, c.n), got, c.n, &s, ep)
			want := make([]float32, c.m*c.n)
			for i := 0; i < c.m; i++ {
				for j := 0; j < c.n; j++ {
					var v float64
					for q := 0; q < c.k; q++ {
						v += float64(a[i*c.k+q]) * float64(b[q*c.n+j])
					}
					if e.bias != nil {
						v += float64(e.bias[j])
					}
					if e.leaky && v < 0 {
						v *= float64(e.alpha)
					}
					want[i*c.n+j] = float32(v)
				}
			}
			near(t, fmt.Sprintf("gemm %dx%dx%d %+v", c.m, c.k, c.n, e), got, want)
		}
	}
}

func TestResizeBilinear(t *testing.T) {
	e := newTestExecutor()
	// value = 2*row + col on a 2x2 grid, resized to 4x4.
	x := ft([]int{1, 2, 2, 1}, 0, 1, 2, 3)
	for _, c := range []struct {
		name        string
		align, half bool
		coordinates []float32
	}{
		{"half_pixel_centers", false, true, []float32{0, 0.25, 0.75, 1}},
		{"align_corners", true, false, []float32{0, 1.0 / 3, 2.0 / 3, 1}},
		{"legacy", false, false, []float32{0, 0.5, 1, 1}},
	} {
		n := &node{op: "ResizeBilinear", alignCorners: c.align, halfPixel: c.half}
		out, err := e.resizeBilinear(n, x, it([]int{2}, 4, 4))
		if err != nil {
			t.Fatal(err)
		}
		sameShape(t, c.name, out.shape, []int{1, 4, 4, 1})
		var want []float32
		for _, ry := range c.coordinates {
			for _, cx := range c.coordinates {
				want = append(want, 2*ry+cx)
			}
		}
		near(t, c.name, out.f, want)
	}
}

func TestSplitV(t *testing.T) {
	e := newTestExecutor()
	n := &node{op: "SplitV", numSplit: 2, nOut: 2}
	x := ft([]int{1, 2, 5}, seq(10)...)
	outs, err := e.splitV(n, x, it([]int{2}, 2, -1), it(nil, -1))
	if err != nil {
		t.Fatal(err)
	}
	sameShape(t, "split 0", outs[0].shape, []int{1, 2, 2})
	sameShape(t, "split 1", outs[1].shape, []int{1, 2, 3})
	near(t, "split 0", outs[0].f, []float32{1, 2, 6, 7})
	near(t, "split 1", outs[1].f, []float32{3, 4, 5, 8, 9, 10})
	if _, err := e.splitV(n, x, it([]int{2}, 2, 4), it(nil, 2)); err == nil {
		t.Error("SplitV with sizes not summing to the dimension succeeded")
	}
}

func TestSparseToDense(t *testing.T) {
	e := newTestExecutor()
	out, err := e.sparseToDense(it([]int{2, 1}, 1, 3), it([]int{1}, 5), it([]int{2}, 7, 9), it(nil, 0))
	if err != nil {
		t.Fatal(err)
	}
	if got := out.i; len(got) != 5 || got[0] != 0 || got[1] != 7 || got[2] != 0 || got[3] != 9 || got[4] != 0 {
		t.Errorf("SparseToDense = %v, want [0 7 0 9 0]", got)
	}
	// As in the model: no indices, so the default everywhere.
	out, err = e.sparseToDense(it([]int{0, 1}), it([]int{1}, 3), it([]int{0}), it(nil, 0))
	if err != nil {
		t.Fatal(err)
	}
	if got := out.i; len(got) != 3 || got[0] != 0 || got[1] != 0 || got[2] != 0 {
		t.Errorf("empty SparseToDense = %v, want [0 0 0]", got)
	}
	if _, err := e.sparseToDense(it([]int{1, 1}, 5), it([]int{1}, 5), it([]int{1}, 1), it(nil, 0)); err == nil {
		t.Error("SparseToDense with an index out of range succeeded")
	}
}

func TestMaxPool(t *testing.T) {
	e := newTestExecutor()
	x := ft([]int{1, 4, 4, 1}, seq(16)...)
	n := &node{op: "MaxPool", padding: "VALID", ksize: [4]int{1, 2, 2, 1}, strides: [4]int{1, 2, 2, 1}}
	out, err := e.maxPool(n, x)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "VALID 2x2", out.f, []float32{6, 8, 14, 16})
	// SAME 3x3 stride 2 on 4x4: one row/column of padding after, none before.
	n = &node{op: "MaxPool", padding: "SAME", ksize: [4]int{1, 3, 3, 1}, strides: [4]int{1, 2, 2, 1}}
	out, err = e.maxPool(n, ft([]int{1, 4, 4, 1}, -1, -2, -3, -4, -5, -6, -7, -8, -9, -10, -11, -12, -13, -14, -15, -16))
	if err != nil {
		t.Fatal(err)
	}
	near(t, "SAME 3x3", out.f, []float32{-1, -3, -9, -11})
}

// TestLayout checks that stored-transposed tensors (free Transposes) give
// the same values as moving the data: NHWC -> NCHW, pad, concat, split,
// add, then back.
func TestLayout(t *testing.T) {
	e := newTestExecutor()
	x := ft([]int{1, 2, 3, 2}, seq(12)...) // NHWC
	toNCHW := it([]int{4}, 0, 3, 1, 2)
	v, err := e.transpose(x, toNCHW)
	if err != nil {
		t.Fatal(err)
	}
	sameShape(t, "logical", logicalShape(v), []int{1, 2, 2, 3})
	m, err := e.materialize(v)
	if err != nil {
		t.Fatal(err)
	}
	// NCHW of x: channel 0 then channel 1.
	near(t, "materialized", m.f, []float32{1, 3, 5, 7, 9, 11, 2, 4, 6, 8, 10, 12})
	// Pad H by one row on top, in NCHW terms.
	p, err := e.eval(&node{op: "Pad"}, []*tensor{v, it([]int{4, 2}, 0, 0, 0, 0, 1, 0, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	pm, err := e.materialize(p[0])
	if err != nil {
		t.Fatal(err)
	}
	near(t, "padded", pm.f, []float32{0, 0, 0, 1, 3, 5, 7, 9, 11, 0, 0, 0, 2, 4, 6, 8, 10, 12})
	// Concatenate with itself along C (NCHW axis 1), then split it again.
	c, err := e.eval(&node{op: "ConcatV2"}, []*tensor{v, v, it(nil, 1)})
	if err != nil {
		t.Fatal(err)
	}
	cm, err := e.materialize(c[0])
	if err != nil {
		t.Fatal(err)
	}
	sameShape(t, "concat", cm.shape, []int{1, 4, 2, 3})
	near(t, "concat", cm.f, append(append([]float32{}, m.f...), m.f...))
	s, err := e.eval(&node{op: "SplitV", numSplit: 2, nOut: 2}, []*tensor{c[0], it([]int{2}, 3, 1), it(nil, 1)})
	if err != nil {
		t.Fatal(err)
	}
	sm, err := e.materialize(s[1])
	if err != nil {
		t.Fatal(err)
	}
	near(t, "split", sm.f, []float32{2, 4, 6, 8, 10, 12})
	// Add a plain NCHW tensor to the stored-transposed one.
	sum, err := e.eval(&node{op: "Add"}, []*tensor{v, m})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum[0].perm) != 0 {
		sum[0], _ = e.materialize(sum[0])
	}
	near(t, "add", sum[0].f, []float32{2, 6, 10, 14, 18, 22, 4, 8, 12, 16, 20, 24})
	// Reshape NCHW [1,2,2,3] -> [1,2,6]: merges H and W, stored next to
	// each other, so no data moves; the values are NCHW order's.
	rs, err := e.eval(&node{op: "Reshape"}, []*tensor{v, it([]int{3}, 1, 2, -1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs[0].perm) == 0 || &rs[0].f[0] != &v.f[0] {
		t.Errorf("Reshape of a stored-transposed tensor moved data")
	}
	sameShape(t, "reshape", logicalShape(rs[0]), []int{1, 2, 6})
	rm, err := e.materialize(rs[0])
	if err != nil {
		t.Fatal(err)
	}
	near(t, "reshape", rm.f, m.f)
	// Reshape merging C and H, not stored together, moves the data.
	rs, err = e.eval(&node{op: "Reshape"}, []*tensor{v, it([]int{3}, 1, 4, 3)})
	if err != nil {
		t.Fatal(err)
	}
	sameShape(t, "reshape", rs[0].shape, []int{1, 4, 3})
	near(t, "reshape", rs[0].f, m.f)
	// And back to NHWC: the original data, stored as is.
	back, err := e.transpose(v, it([]int{4}, 0, 2, 3, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(back.perm) != 0 {
		t.Fatalf("NCHW -> NHWC of an NHWC-stored tensor has perm %v", back.perm)
	}
	near(t, "round trip", back.f, x.f)
}

func TestHalfToFloat(t *testing.T) {
	for _, c := range []struct {
		h    uint16
		want float32
	}{
		{0x0000, 0}, {0x3c00, 1}, {0xc000, -2}, {0x3555, 0.33325195}, {0x7bff, 65504},
		{0x0001, float32(math.Ldexp(1, -24))}, {0x03ff, float32(math.Ldexp(1023, -24))}, {0x7c00, float32(math.Inf(1))},
	} {
		if got := halfToFloat(c.h); got != c.want {
			t.Errorf("halfToFloat(%#04x) = %v, want %v", c.h, got, c.want)
		}
	}
}
