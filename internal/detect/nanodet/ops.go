package nanodet

import (
	"fmt"
	"math"
)

// executor runs a graph; it owns the buffers of intermediate values and
// reuses them between runs, so memory stays bounded by one run's peak.
// It is not safe for concurrent use.
type executor struct {
	g       *graph
	vals    [][]*tensor // outputs per node
	lastUse []int       // index of the last node that reads each node
	pool    map[int][][]float32
	refs    map[*float32]int // live references to pooled buffers
	budget  int              // elements still allowed to be allocated
	scaleN  int              // ResizeBilinear sizes are scaled by scaleN/scaleD
	scaleD  int
	conv    []convScratch // one per worker
	padBuf  []float32     // convImplicit's padded input
	threads int           // goroutines a convolution may use
	kern    microKernel   // the GEMM micro-kernel
	wino    []winoScratch // one per worker
	// im2colOnly lowers every convolution with im2col, also the stride-1
	// ones convImplicit and convWinograd compute without it, and
	// noWinograd computes 3x3 stride-1 ones with convImplicit (both for
	// comparing the ways).
	im2colOnly, noWinograd bool
}

func newExecutor(g *graph) *executor {
	e := &executor{kern: cpuKernels()[0], g: g, vals: make([][]*tensor, len(g.nodes)), lastUse: make([]int, len(g.nodes)), pool: map[int][][]float32{}, refs: map[*float32]int{}, budget: maxRunElems, scaleN: 1, scaleD: 1}
	for i, n := range g.nodes {
		if g.live != nil && !g.live[i] {
			continue
		}
		for _, in := range n.inputs {
			e.lastUse[in.node] = i
		}
	}
	for _, o := range g.outputs {
		e.lastUse[o] = len(g.nodes)
	}
	return e
}

// alloc returns a float tensor of the given shape, its contents undefined.
func (e *executor) alloc(shape ...int) (*tensor, error) {
	n, err := numElems(shape)
	if err != nil {
		return nil, err
	}
	t := &tensor{shape: shape}
	if free := e.pool[n]; len(free) > 0 {
		t.f = free[len(free)-1]
		e.pool[n] = free[:len(free)-1]
	} else {
		if e.budget -= n; e.budget < 0 {
			return nil, modelErr("the graph needs more than %d values of memory", maxRunElems)
		}
		t.f = make([]float32, n)
	}
	if n > 0 {
		e.refs[&t.f[0]] = 1
	}
	return t, nil
}

// alias returns a view of x's buffer with another shape and layout.
func (e *executor) alias(x *tensor, shape, perm []int) *tensor {
	if len(x.f) > 0 {
		if r, ok := e.refs[&x.f[0]]; ok {
			e.refs[&x.f[0]] = r + 1
		}
	}
	return &tensor{shape: shape, perm: perm, f: x.f}
}

// release drops t's reference to its buffer; the last one returns the
// buffer to the pool. Buffers not from alloc (input, constants) are kept.
func (e *executor) release(t *tensor) {
	if t == nil || t.isInt || len(t.f) == 0 {
		return
	}
	f := t.f
	t.f = nil
	r, ok := e.refs[&f[0]]
	if !ok {
		return
	}
	if r > 1 {
		e.refs[&f[0]] = r - 1
		return
	}
	delete(e.refs, &f[0])
	e.pool[len(f)] = append(e.pool[len(f)], f)
}

// run evaluates every non-constant node for input x and returns the graph's
// outputs; they stay valid until the next run.
func (e *executor) run(x *tensor) ([]*tensor, error) {
	for i, v := range e.vals {
		if _, c := e.g.consts[i]; !c && i != e.g.input {
			for _, t := range v {
				e.release(t)
			}
			e.vals[i] = nil
		}
	}
	for i, n := range e.g.nodes {
		if c, ok := e.g.consts[i]; ok {
			e.vals[i] = []*tensor{c}
			continue
		}
		if i == e.g.input {
			e.vals[i] = []*tensor{x}
			continue
		}
		if e.g.live != nil && !e.g.live[i] {
			continue
		}
		in := make([]*tensor, len(n.inputs))
		for k, r := range n.inputs {
			v := e.vals[r.node]
			if r.out >= len(v) || v[r.out] == nil {
				return nil, modelErr("node %q: input %q not computed", n.name, e.g.nodes[r.node].name)
			}
			in[k] = v[r.out]
		}
		out, err := e.eval(n, in)
		if err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", n.name, n.op, err)
		}
		e.vals[i] = out
		for _, r := range n.inputs {
			if e.lastUse[r.node] == i && r.node != e.g.input {
				if _, c := e.g.consts[r.node]; !c {
					for _, t := range e.vals[r.node] {
						e.release(t)
					}
					e.vals[r.node] = nil
				}
			}
		}
	}
	outs := make([]*tensor, len(e.g.outputs))
	for k, o := range e.g.outputs {
		outs[k] = e.vals[o][0]
	}
	return outs, nil
}

func (e *executor) eval(n *node, in []*tensor) ([]*tensor, error) {
	one := func(t *tensor, err error) ([]*tensor, error) {
		if err != nil {
			return nil, err
		}
		return []*tensor{t}, nil
	}
	// Ops that understand stored-transposed inputs.
	switch n.op {
	case "Transpose":
		return one(e.transpose(in[0], in[1]))
	case "LeakyRelu":
		return one(e.leakyRelu(in[0], n.alpha))
	case "Sigmoid":
		return one(e.sigmoid(in[0]))
	case "Add", "AddV2":
		if out, ok, err := e.addLayout(in[0], in[1]); ok || err != nil {
			return one(out, err)
		}
	case "Pad", "PadV2":
		if len(in[0].perm) > 0 {
			return one(e.padLayout(n, in))
		}
	case "ConcatV2":
		if out, ok, err := e.concatLayout(in[:len(in)-1], in[len(in)-1]); ok || err != nil {
			return one(out, err)
		}
	case "SplitV":
		if len(in[0].perm) > 0 {
			return e.splitVLayout(n, in[0], in[1], in[2])
		}
	case "Reshape":
		if len(in[0].perm) > 0 && !in[0].isInt {
			if out, ok, err := e.reshapeLayout(in[0], in[1]); ok || err != nil {
				return one(out, err)
			}
		}
	}
	// The rest see logical tensors.
	var temps []*tensor
	defer func() {
		for _, t := range temps {
			e.release(t)
		}
	}()
	for k, t := range in {
		if len(t.perm) > 0 {
			l, err := e.materialize(t)
			if err != nil {
				return nil, err
			}
			temps = append(temps, l)
			in[k] = l
		}
	}
	switch n.op {
	case "Identity":
		return one(e.copyOf(in[0], in[0].shape))
	case "Reshape":
		return one(e.reshape(in[0], in[1]))
	case "Pad":
		return one(e.pad(in[0], in[1], 0))
	case "PadV2":
		if in[2].isInt || len(in[2].f) != 1 {
			return nil, modelErr("PadV2 constant must be one float")
		}
		return one(e.pad(in[0], in[1], in[2].f[0]))
	case "Conv2D":
		return one(e.conv2D(n, in[0], in[1]))
	case "Add", "AddV2":
		return one(e.add(in[0], in[1]))
	case "ConcatV2":
		return one(e.concat(in[:len(in)-1], in[len(in)-1]))
	case "MaxPool":
		return one(e.maxPool(n, in[0]))
	case "ResizeBilinear":
		return one(e.resizeBilinear(n, in[0], in[1]))
	case "SplitV":
		return e.splitV(n, in[0], in[1], in[2])
	case "SparseToDense":
		return one(e.sparseToDense(in[0], in[1], in[2], in[3]))
	}
	return nil, modelErr("unsupported op %q", n.op)
}

// permOf returns t's layout permutation, identity when t is stored as is.
func permOf(t *tensor) []int {
	if len(t.perm) > 0 {
		return t.perm
	}
	p := make([]int, len(t.shape))
	for k := range p {
		p[k] = k
	}
	return p
}

func isIdentity(p []int) bool {
	for k, v := range p {
		if k != v {
			return false
		}
	}
	return true
}

func samePerm(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if a[k] != b[k] {
			return false
		}
	}
	return true
}

// logicalShape is t's shape as the graph sees it.
func logicalShape(t *tensor) []int {
	if len(t.perm) == 0 {
		return t.shape
	}
	s := make([]int, len(t.shape))
	for k, a := range t.perm {
		s[a] = t.shape[k]
	}
	return s
}

// materialize returns a copy of a stored-transposed t in logical layout.
func (e *executor) materialize(t *tensor) (*tensor, error) {
	inv := make([]int, len(t.perm))
	for k, a := range t.perm {
		inv[a] = k
	}
	return e.permute(t, inv)
}

// transpose is the Transpose op. Float tensors are not moved: the result
// shares x's buffer and records the new layout.
func (e *executor) transpose(x, p *tensor) (*tensor, error) {
	perm, err := ints(p, "perm")
	if err != nil {
		return nil, err
	}
	r := len(x.shape)
	if len(perm) != r || r > 4 {
		return nil, modelErr("perm %v for rank %d", perm, r)
	}
	seen := [4]bool{}
	pi := make([]int, r)
	for k, v := range perm {
		if v < 0 || v >= int64(r) || seen[v] {
			return nil, modelErr("bad perm %v", perm)
		}
		seen[v] = true
		pi[k] = int(v)
	}
	if x.isInt {
		return e.permute(x, pi)
	}
	// out = transpose(logical x, pi); physical = transpose(logical x, px).
	// So physical = transpose(out, q) with q[k] = inv(pi)[px[k]].
	inv := make([]int, r)
	for k, v := range pi {
		inv[v] = k
	}
	px := permOf(x)
	q := make([]int, r)
	for k := range q {
		q[k] = inv[px[k]]
	}
	if isIdentity(q) {
		q = nil
	}
	return e.alias(x, x.shape, q), nil
}

func (e *executor) leakyRelu(x *tensor, alpha float32) (*tensor, error) {
	if err := floats(x, "LeakyRelu input"); err != nil {
		return nil, err
	}
	out, err := e.alloc(append([]int{}, x.shape...)...)
	if err != nil {
		return nil, err
	}
	out.perm = x.perm
	dst := out.f[:len(x.f)]
	for k, v := range x.f {
		if v < 0 {
			v *= alpha
		}
		dst[k] = v
	}
	return out, nil
}

func (e *executor) sigmoid(x *tensor) (*tensor, error) {
	if err := floats(x, "Sigmoid input"); err != nil {
		return nil, err
	}
	out, err := e.alloc(append([]int{}, x.shape...)...)
	if err != nil {
		return nil, err
	}
	out.perm = x.perm
	for k, v := range x.f {
		out.f[k] = float32(1 / (1 + math.Exp(-float64(v))))
	}
	return out, nil
}

// addLayout adds without moving data when both operands share a layout,
// or y is a vector along x's innermost stored axis; ok is false otherwise.
func (e *executor) addLayout(x, y *tensor) (*tensor, bool, error) {
	if x.isInt || y.isInt || len(x.perm) == 0 && len(y.perm) == 0 {
		return nil, false, nil
	}
	px := permOf(x)
	switch {
	case samePerm(px, permOf(y)) && samePerm(x.shape, y.shape):
		out, err := e.alloc(append([]int{}, x.shape...)...)
		if err != nil {
			return nil, true, err
		}
		out.perm = x.perm
		for k, v := range x.f {
			out.f[k] = v + y.f[k]
		}
		return out, true, nil
	case len(y.shape) == 1 && len(y.perm) == 0 && px[len(px)-1] == len(px)-1 && y.shape[0] == x.shape[len(x.shape)-1]:
		out, err := e.alloc(append([]int{}, x.shape...)...)
		if err != nil {
			return nil, true, err
		}
		out.perm = x.perm
		addBias(out.f, x.f, y.f)
		return out, true, nil
	}
	return nil, false, nil
}

// addBias sets dst = src + b, b repeating along the innermost axis.
func addBias(dst, src, b []float32) {
	c := len(b)
	for k := 0; k+c <= len(src); k += c {
		d, s := dst[k:k+c], src[k:k+c]
		for j, v := range b {
			d[j] = s[j] + v
		}
	}
}

// padLayout pads a stored-transposed tensor, permuting the paddings.
func (e *executor) padLayout(n *node, in []*tensor) (*tensor, error) {
	x := in[0]
	pv, err := ints(in[1], "paddings")
	if err != nil {
		return nil, err
	}
	if len(pv) != 2*len(x.perm) {
		return nil, modelErr("paddings %v for rank %d", in[1].shape, len(x.perm))
	}
	phys := &tensor{shape: []int{len(pv) / 2, 2}, i: make([]int64, len(pv)), isInt: true}
	for k, a := range x.perm {
		phys.i[2*k], phys.i[2*k+1] = pv[2*a], pv[2*a+1]
	}
	var value float32
	if n.op == "PadV2" {
		if in[2].isInt || len(in[2].f) != 1 {
			return nil, modelErr("PadV2 constant must be one float")
		}
		value = in[2].f[0]
	}
	out, err := e.pad(&tensor{shape: x.shape, f: x.f}, phys, value)
	if err != nil {
		return nil, err
	}
	out.perm = x.perm
	return out, nil
}

// physAxis maps a logical axis of a tensor stored with perm to its stored axis.
func physAxis(perm []int, axis int) int {
	for k, a := range perm {
		if a == axis {
			return k
		}
	}
	return axis
}

// concatLayout concatenates stored-transposed tensors sharing one layout.
func (e *executor) concatLayout(xs []*tensor, axisT *tensor) (*tensor, bool, error) {
	p := xs[0].perm
	if len(p) == 0 {
		return nil, false, nil
	}
	for _, x := range xs {
		if !samePerm(x.perm, p) {
			return nil, false, nil
		}
	}
	av, err := ints(axisT, "axis")
	if err != nil || len(av) != 1 {
		return nil, true, modelErr("ConcatV2 axis")
	}
	axis, err := normAxis(av[0], len(p))
	if err != nil {
		return nil, true, err
	}
	phys := &tensor{shape: []int{}, i: []int64{int64(physAxis(p, axis))}, isInt: true}
	views := make([]*tensor, len(xs))
	for k, x := range xs {
		views[k] = &tensor{shape: x.shape, f: x.f}
	}
	out, err := e.concat(views, phys)
	if err != nil {
		return nil, true, err
	}
	out.perm = p
	return out, true, nil
}

// splitVLayout splits a stored-transposed tensor along its stored axis.
func (e *executor) splitVLayout(n *node, x, sizesT, axisT *tensor) ([]*tensor, error) {
	av, err := ints(axisT, "split_dim")
	if err != nil || len(av) != 1 {
		return nil, modelErr("SplitV split_dim")
	}
	axis, err := normAxis(av[0], len(x.perm))
	if err != nil {
		return nil, err
	}
	phys := &tensor{shape: []int{}, i: []int64{int64(physAxis(x.perm, axis))}, isInt: true}
	outs, err := e.splitV(n, &tensor{shape: x.shape, f: x.f}, sizesT, phys)
	for _, o := range outs {
		o.perm = x.perm
	}
	return outs, err
}

func ints(t *tensor, what string) ([]int64, error) {
	if !t.isInt {
		return nil, modelErr("%s must be an integer tensor", what)
	}
	return t.i, nil
}

func floats(t *tensor, what string) error {
	if t.isInt {
		return modelErr("%s must be a float tensor", what)
	}
	return nil
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(a int64, rank int) (int, error) {
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return 0, modelErr("axis %d out of range for rank %d", a, rank)
	}
	return int(a), nil
}

func (e *executor) newLike(isInt bool, shape []int) (*tensor, error) {
	if isInt {
		n, err := numElems(shape)
		if err != nil {
			return nil, err
		}
		if e.budget -= n; e.budget < 0 {
			return nil, modelErr("the graph needs more than %d values of memory", maxRunElems)
		}
		return &tensor{shape: shape, i: make([]int64, n), isInt: true}, nil
	}
	return e.alloc(shape...)
}

func (e *executor) copyOf(x *tensor, shape []int) (*tensor, error) {
	t, err := e.newLike(x.isInt, append([]int{}, shape...))
	if err != nil {
		return nil, err
	}
	copy(t.f, x.f)
	copy(t.i, x.i)
	return t, nil
}

func (e *executor) reshape(x, s *tensor) (*tensor, error) {
	shape, err := reshapeTarget(x, s)
	if err != nil {
		return nil, err
	}
	return e.copyOf(x, shape)
}

// reshapeTarget resolves Reshape's shape (one -1 allowed) for x.
func reshapeTarget(x, s *tensor) ([]int, error) {
	dims, err := ints(s, "Reshape shape")
	if err != nil {
		return nil, err
	}
	if len(dims) > maxRank+1 {
		return nil, modelErr("Reshape to rank %d", len(dims))
	}
	shape := make([]int, len(dims))
	infer, known := -1, 1
	for k, d := range dims {
		switch {
		case d == -1 && infer < 0:
			infer = k
		case d >= 0 && d <= maxDim:
			shape[k] = int(d)
			known *= int(d)
		default:
			return nil, modelErr("Reshape dimension %d", d)
		}
	}
	if infer >= 0 {
		if known == 0 || x.size()%known != 0 {
			return nil, modelErr("Reshape of %v to %v", x.shape, dims)
		}
		shape[infer] = x.size() / known
		known *= shape[infer]
	}
	if known != x.size() {
		return nil, modelErr("Reshape of %v to %v", x.shape, dims)
	}
	return shape, nil
}

// reshapeLayout reshapes a stored-transposed tensor without moving data
// when the reshape only merges logical axes that are stored next to each
// other, in order (NCHW [1,C,H,W] -> [1,C,H*W] of NHWC data is
// [1,H*W,C] stored as is); ok is false otherwise.
func (e *executor) reshapeLayout(x, s *tensor) (*tensor, bool, error) {
	target, err := reshapeTarget(x, s)
	if err != nil {
		return nil, true, err
	}
	logical := logicalShape(x)
	pos := make([]int, len(x.perm)) // stored position of each logical axis
	for k, a := range x.perm {
		pos[a] = k
	}
	first := make([]int, len(target)) // each group's first logical axis
	i := 0
	for j, t := range target {
		start, prod := i, 1
		for i < len(logical) && (i == start || prod < t) {
			if i > start && pos[i] != pos[i-1]+1 {
				return nil, false, nil
			}
			prod *= logical[i]
			i++
		}
		if prod != t || t == 0 {
			return nil, false, nil
		}
		first[j] = start
	}
	if i != len(logical) {
		return nil, false, nil
	}
	// Stored order of the groups: by their first axis's stored position.
	order := make([]int, len(target))
	for k := range order {
		order[k] = k
	}
	for a := 1; a < len(order); a++ {
		for b := a; b > 0 && pos[first[order[b]]] < pos[first[order[b-1]]]; b-- {
			order[b], order[b-1] = order[b-1], order[b]
		}
	}
	shape := make([]int, len(target))
	for k, g := range order {
		shape[k] = target[g]
	}
	perm := order
	if isIdentity(perm) {
		perm = nil
	}
	return e.alias(x, shape, perm), true, nil
}

// shape4 left-pads a shape of rank <= 4 with ones.
func shape4(s []int) ([4]int, error) {
	var r [4]int
	if len(s) > 4 {
		return r, modelErr("rank %d above 4", len(s))
	}
	for k := range r {
		r[k] = 1
	}
	copy(r[4-len(s):], s)
	return r, nil
}

func strides4(d [4]int) [4]int {
	return [4]int{d[1] * d[2] * d[3], d[2] * d[3], d[3], 1}
}

func (e *executor) pad(x, p *tensor, value float32) (*tensor, error) {
	if err := floats(x, "Pad input"); err != nil {
		return nil, err
	}
	pv, err := ints(p, "paddings")
	if err != nil {
		return nil, err
	}
	r := len(x.shape)
	if len(pv) != 2*r || r > 4 {
		return nil, modelErr("paddings %v for rank %d", p.shape, r)
	}
	oshape := make([]int, r)
	var before [4]int
	for k := 0; k < r; k++ {
		b, a := pv[2*k], pv[2*k+1]
		if b < 0 || a < 0 || b > maxDim || a > maxDim {
			return nil, modelErr("padding %d,%d", b, a)
		}
		oshape[k] = x.shape[k] + int(b) + int(a)
		before[4-r+k] = int(b)
	}
	out, err := e.alloc(oshape...)
	if err != nil {
		return nil, err
	}
	for k := range out.f {
		out.f[k] = value
	}
	id, _ := shape4(x.shape)
	od, _ := shape4(oshape)
	os := strides4(od)
	for a := 0; a < id[0]; a++ {
		for b := 0; b < id[1]; b++ {
			for c := 0; c < id[2]; c++ {
				src := ((a*id[1]+b)*id[2] + c) * id[3]
				dst := (a+before[0])*os[0] + (b+before[1])*os[1] + (c+before[2])*os[2] + before[3]
				copy(out.f[dst:dst+id[3]], x.f[src:src+id[3]])
			}
		}
	}
	return out, nil
}

// permute moves x's stored data into transpose(stored x, perm), perm
// already checked to be a permutation of x's axes.
func (e *executor) permute(x *tensor, perm []int) (*tensor, error) {
	r := len(x.shape)
	oshape := make([]int, r)
	for k, v := range perm {
		oshape[k] = x.shape[v]
	}
	out, err := e.newLike(x.isInt, oshape)
	if err != nil {
		return nil, err
	}
	id, _ := shape4(x.shape)
	is := strides4(id)
	od, _ := shape4(oshape)
	// The stride in x of each output axis (leading padded axes move nowhere).
	var st [4]int
	for k := 0; k < 4; k++ {
		if k < 4-r {
			st[k] = 0
		} else {
			st[k] = is[4-r+perm[k-(4-r)]]
		}
	}
	o := 0
	for a := 0; a < od[0]; a++ {
		for b := 0; b < od[1]; b++ {
			for c := 0; c < od[2]; c++ {
				base := a*st[0] + b*st[1] + c*st[2]
				if x.isInt {
					for d := 0; d < od[3]; d++ {
						out.i[o] = x.i[base+d*st[3]]
						o++
					}
					continue
				}
				dst := out.f[o : o+od[3]]
				s3 := st[3]
				for d := range dst {
					dst[d] = x.f[base+d*s3]
				}
				o += od[3]
			}
		}
	}
	return out, nil
}

// add is element-wise addition with NumPy broadcasting (rank <= 4).
func (e *executor) add(x, y *tensor) (*tensor, error) {
	if x.isInt != y.isInt {
		return nil, modelErr("Add of int and float")
	}
	r := max(len(x.shape), len(y.shape))
	if r > 4 {
		return nil, modelErr("Add of rank %d", r)
	}
	xd, _ := shape4(x.shape)
	yd, _ := shape4(y.shape)
	var od [4]int
	for k := range od {
		switch {
		case xd[k] == yd[k]:
			od[k] = xd[k]
		case xd[k] == 1:
			od[k] = yd[k]
		case yd[k] == 1:
			od[k] = xd[k]
		default:
			return nil, modelErr("Add of shapes %v and %v", x.shape, y.shape)
		}
	}
	out, err := e.newLike(x.isInt, append([]int{}, od[4-r:]...))
	if err != nil {
		return nil, err
	}
	if !x.isInt && len(x.f) == len(out.f) && len(y.f) == len(out.f) {
		for k, v := range x.f {
			out.f[k] = v + y.f[k]
		}
		return out, nil
	}
	if !x.isInt && len(x.f) == len(out.f) && len(y.shape) <= 1 && len(y.f) == od[3] {
		c := od[3]
		for k := 0; k < len(out.f); k += c {
			dst, src := out.f[k:k+c], x.f[k:k+c]
			for j, b := range y.f {
				dst[j] = src[j] + b
			}
		}
		return out, nil
	}
	xs, ys := strides4(xd), strides4(yd)
	for k := range xs {
		if xd[k] == 1 {
			xs[k] = 0
		}
		if yd[k] == 1 {
			ys[k] = 0
		}
	}
	o := 0
	for a := 0; a < od[0]; a++ {
		for b := 0; b < od[1]; b++ {
			for c := 0; c < od[2]; c++ {
				for d := 0; d < od[3]; d++ {
					xi := a*xs[0] + b*xs[1] + c*xs[2] + d*xs[3]
					yi := a*ys[0] + b*ys[1] + c*ys[2] + d*ys[3]
					if x.isInt {
						out.i[o] = x.i[xi] + y.i[yi]
					} else {
						out.f[o] = x.f[xi] + y.f[yi]
					}
					o++
				}
			}
		}
	}
	return out, nil
}

func (e *executor) concat(xs []*tensor, axisT *tensor) (*tensor, error) {
	av, err := ints(axisT, "axis")
	if err != nil || len(av) != 1 {
		return nil, modelErr("ConcatV2 axis")
	}
	r := len(xs[0].shape)
	axis, err := normAxis(av[0], r)
	if err != nil {
		return nil, err
	}
	oshape := append([]int{}, xs[0].shape...)
	oshape[axis] = 0
	for _, x := range xs {
		if len(x.shape) != r || x.isInt != xs[0].isInt {
			return nil, modelErr("ConcatV2 of mismatched tensors")
		}
		for k := range r {
			if k != axis && x.shape[k] != xs[0].shape[k] {
				return nil, modelErr("ConcatV2 of shapes %v and %v", xs[0].shape, x.shape)
			}
		}
		oshape[axis] += x.shape[axis]
	}
	out, err := e.newLike(xs[0].isInt, oshape)
	if err != nil {
		return nil, err
	}
	outer := 1
	for k := 0; k < axis; k++ {
		outer *= oshape[k]
	}
	inner := 1
	for k := axis + 1; k < r; k++ {
		inner *= oshape[k]
	}
	o := 0
	for a := 0; a < outer; a++ {
		for _, x := range xs {
			n := x.shape[axis] * inner
			if x.isInt {
				copy(out.i[o:o+n], x.i[a*n:(a+1)*n])
			} else {
				copy(out.f[o:o+n], x.f[a*n:(a+1)*n])
			}
			o += n
		}
	}
	return out, nil
}

func (e *executor) splitV(n *node, x, sizesT, axisT *tensor) ([]*tensor, error) {
	sizes, err := ints(sizesT, "size_splits")
	if err != nil {
		return nil, err
	}
	av, err := ints(axisT, "split_dim")
	if err != nil || len(av) != 1 {
		return nil, modelErr("SplitV split_dim")
	}
	if len(sizes) != n.numSplit {
		return nil, modelErr("SplitV with %d sizes and num_split %d", len(sizes), n.numSplit)
	}
	axis, err := normAxis(av[0], len(x.shape))
	if err != nil {
		return nil, err
	}
	dim := x.shape[axis]
	split := make([]int, len(sizes))
	infer, sum := -1, 0
	for k, s := range sizes {
		switch {
		case s == -1 && infer < 0:
			infer = k
		case s >= 0 && s <= int64(dim):
			split[k] = int(s)
			sum += int(s)
		default:
			return nil, modelErr("SplitV size %d", s)
		}
	}
	if infer >= 0 && sum <= dim {
		split[infer] = dim - sum
		sum = dim
	}
	if sum != dim {
		return nil, modelErr("SplitV sizes %v of dimension %d", sizes, dim)
	}
	outer, inner := 1, 1
	for k := 0; k < axis; k++ {
		outer *= x.shape[k]
	}
	for k := axis + 1; k < len(x.shape); k++ {
		inner *= x.shape[k]
	}
	outs := make([]*tensor, len(split))
	off := 0
	for k, s := range split {
		shape := append([]int{}, x.shape...)
		shape[axis] = s
		t, err := e.newLike(x.isInt, shape)
		if err != nil {
			return nil, err
		}
		m := s * inner
		for a := 0; a < outer; a++ {
			src := a*dim*inner + off*inner
			if x.isInt {
				copy(t.i[a*m:(a+1)*m], x.i[src:src+m])
			} else {
				copy(t.f[a*m:(a+1)*m], x.f[src:src+m])
			}
		}
		off += s
		outs[k] = t
	}
	return outs, nil
}

func (e *executor) sparseToDense(idx, shapeT, vals, def *tensor) (*tensor, error) {
	dims, err := ints(shapeT, "output_shape")
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(dims))
	for k, d := range dims {
		if d < 0 || d > maxDim {
			return nil, modelErr("SparseToDense dimension %d", d)
		}
		shape[k] = int(d)
	}
	if vals.isInt != def.isInt || def.size() != 1 {
		return nil, modelErr("SparseToDense default value")
	}
	iv, err := ints(idx, "sparse_indices")
	if err != nil {
		return nil, err
	}
	out, err := e.newLike(vals.isInt, shape)
	if err != nil {
		return nil, err
	}
	for k := range out.i {
		out.i[k] = def.i[0]
	}
	for k := range out.f {
		out.f[k] = def.f[0]
	}
	// Indices are [n] (rank-1 output) or [n, rank].
	rank := len(shape)
	count := len(iv)
	if len(idx.shape) == 2 {
		if idx.shape[1] != rank {
			return nil, modelErr("SparseToDense indices %v for rank %d", idx.shape, rank)
		}
		count = idx.shape[0]
	} else if rank != 1 && count > 0 {
		return nil, modelErr("SparseToDense indices %v for rank %d", idx.shape, rank)
	}
	if vals.size() != 1 && vals.size() != count {
		return nil, modelErr("SparseToDense with %d values for %d indices", vals.size(), count)
	}
	for k := 0; k < count; k++ {
		off := 0
		for a := 0; a < rank; a++ {
			v := iv[k*rank+a]
			if v < 0 || v >= int64(shape[a]) {
				return nil, modelErr("SparseToDense index %d out of range", v)
			}
			off = off*shape[a] + int(v)
		}
		j := k
		if vals.size() == 1 {
			j = 0
		}
		if out.isInt {
			out.i[off] = vals.i[j]
		} else {
			out.f[off] = vals.f[j]
		}
	}
	return out, nil
}

// windowOut computes an NHWC window op's output size and leading padding
// along one axis.
func windowOut(n *node, in, k, stride, dil, axis int) (out, padBefore int, err error) {
	span := (k-1)*dil + 1
	switch n.padding {
	case "VALID":
		if in < span {
			return 0, 0, modelErr("input %d smaller than window %d", in, span)
		}
		return (in-span)/stride + 1, 0, nil
	case "SAME":
		out = (in + stride - 1) / stride
		total := max((out-1)*stride+span-in, 0)
		return out, total / 2, nil
	default: // EXPLICIT
		b, a := n.explicitPad[2*axis], n.explicitPad[2*axis+1]
		if in+b+a < span {
			return 0, 0, modelErr("input %d smaller than window %d", in+b+a, span)
		}
		return (in+b+a-span)/stride + 1, b, nil
	}
}

func (e *executor) maxPool(n *node, x *tensor) (*tensor, error) {
	if err := floats(x, "MaxPool input"); err != nil {
		return nil, err
	}
	if len(x.shape) != 4 {
		return nil, modelErr("MaxPool input %v", x.shape)
	}
	N, H, W, C := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	kh, kw, sh, sw := n.ksize[1], n.ksize[2], n.strides[1], n.strides[2]
	OH, pt, err := windowOut(n, H, kh, sh, 1, 1)
	if err != nil {
		return nil, err
	}
	OW, pl, err := windowOut(n, W, kw, sw, 1, 2)
	if err != nil {
		return nil, err
	}
	out, err := e.alloc(N, OH, OW, C)
	if err != nil {
		return nil, err
	}
	for b := 0; b < N; b++ {
		for oy := 0; oy < OH; oy++ {
			y0, y1 := max(oy*sh-pt, 0), min(oy*sh-pt+kh, H)
			for ox := 0; ox < OW; ox++ {
				x0, x1 := max(ox*sw-pl, 0), min(ox*sw-pl+kw, W)
				dst := out.f[((b*OH+oy)*OW+ox)*C:][:C]
				if y0 >= y1 || x0 >= x1 {
					for c := range dst {
						dst[c] = float32(math.Inf(-1))
					}
					continue
				}
				copy(dst, x.f[((b*H+y0)*W+x0)*C:][:C])
				for y := y0; y < y1; y++ {
					for xx := x0; xx < x1; xx++ {
						vmax(e.kern, dst, x.f[((b*H+y)*W+xx)*C:][:C])
					}
				}
			}
		}
	}
	return out, nil
}

// resizeWeights returns, per output index, TensorFlow's source indices and
// interpolation weight along one axis.
func resizeWeights(n *node, in, out int) (lo, hi []int, frac []float32) {
	lo, hi, frac = make([]int, out), make([]int, out), make([]float32, out)
	scale := float64(in) / float64(out)
	if n.alignCorners && out > 1 {
		scale = float64(in-1) / float64(out-1)
	}
	for k := range out {
		var src float64
		if n.halfPixel {
			src = (float64(k)+0.5)*scale - 0.5
		} else {
			src = float64(k) * scale
		}
		f := math.Floor(src)
		lo[k] = max(int(f), 0)
		hi[k] = min(int(math.Ceil(src)), in-1)
		frac[k] = float32(src - f)
	}
	return lo, hi, frac
}

func (e *executor) resizeBilinear(n *node, x, sizeT *tensor) (*tensor, error) {
	if err := floats(x, "ResizeBilinear input"); err != nil {
		return nil, err
	}
	sz, err := ints(sizeT, "size")
	if err != nil || len(sz) != 2 || len(x.shape) != 4 {
		return nil, modelErr("ResizeBilinear of %v to %v", x.shape, sizeT.shape)
	}
	var osz [2]int
	for k, v := range sz {
		s := v * int64(e.scaleN)
		if v < 1 || v > maxDim || s%int64(e.scaleD) != 0 {
			return nil, modelErr("ResizeBilinear size %d at this input size", v)
		}
		osz[k] = int(s / int64(e.scaleD))
	}
	N, H, W, C := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	OH, OW := osz[0], osz[1]
	out, err := e.alloc(N, OH, OW, C)
	if err != nil {
		return nil, err
	}
	ylo, yhi, yf := resizeWeights(n, H, OH)
	xlo, xhi, xf := resizeWeights(n, W, OW)
	for b := 0; b < N; b++ {
		for oy := 0; oy < OH; oy++ {
			top := x.f[((b*H+ylo[oy])*W)*C:]
			bot := x.f[((b*H+yhi[oy])*W)*C:]
			fy := yf[oy]
			for ox := 0; ox < OW; ox++ {
				dst := out.f[((b*OH+oy)*OW+ox)*C:][:C]
				l, r, fx := xlo[ox]*C, xhi[ox]*C, xf[ox]
				tl, tr, bl, br := top[l:l+C], top[r:r+C], bot[l:l+C], bot[r:r+C]
				for c := range dst {
					t := tl[c] + (tr[c]-tl[c])*fx
					bb := bl[c] + (br[c]-bl[c])*fx
					dst[c] = t + (bb-t)*fy
				}
			}
		}
	}
	return out, nil
}
