package nanodet

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Bounds on a model file: anything larger is refused before allocation.
const (
	maxJSONBytes   = 8 << 20  // the model's JSON (topology + manifest)
	maxBinBytes    = 64 << 20 // the weights file
	maxNodes       = 4096     // graph nodes
	maxRank        = 4        // tensor rank
	maxDim         = 1 << 16  // one dimension
	maxElems       = 1 << 23  // elements of one tensor (32 MiB of float32)
	maxWeightElems = 1 << 24  // elements of all weights together
	maxRunElems    = 1 << 26  // elements all of a run's buffers together
)

// ErrModel is wrapped by every error about a malformed or unsupported model.
var ErrModel = errors.New("nanodet: bad model")

func modelErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrModel, fmt.Sprintf(format, args...))
}

// tensor is a dense row-major value: float data in f, or integer data in i
// (integer tensors only occur as constants: shapes, paddings, axes).
//
// A float tensor may be stored transposed: shape is then the physical
// shape and perm says which logical axis each physical axis holds
// (physical = transpose(logical, perm)); perm nil means stored as is.
// This lets Transpose nodes cost nothing: the graph converts between NCHW
// and NHWC around every convolution, but the data stays NHWC.
type tensor struct {
	shape []int
	perm  []int
	f     []float32
	i     []int64
	isInt bool
}

func (t *tensor) size() int { return len(t.f) + len(t.i) }

// numElems multiplies dims, refusing negative dims and totals over maxElems.
func numElems(shape []int) (int, error) {
	if len(shape) > maxRank+1 {
		return 0, modelErr("rank %d too large", len(shape))
	}
	n := 1
	for _, d := range shape {
		if d < 0 || d > maxDim {
			return 0, modelErr("dimension %d out of range", d)
		}
		n *= d
		if n > maxElems {
			return 0, modelErr("tensor of shape %v too large", shape)
		}
	}
	return n, nil
}

type jsonModel struct {
	Format        string `json:"format"`
	ModelTopology struct {
		Node []jsonNode `json:"node"`
	} `json:"modelTopology"`
	WeightsManifest []struct {
		Paths   []string     `json:"paths"`
		Weights []jsonWeight `json:"weights"`
	} `json:"weightsManifest"`
}

type jsonNode struct {
	Name  string              `json:"name"`
	Op    string              `json:"op"`
	Input []string            `json:"input"`
	Attr  map[string]jsonAttr `json:"attr"`
}

type jsonAttr struct {
	S    string   `json:"s"`
	I    string   `json:"i"`
	F    *float64 `json:"f"`
	B    bool     `json:"b"`
	List struct {
		I []string `json:"i"`
	} `json:"list"`
}

type jsonWeight struct {
	Name         string `json:"name"`
	Shape        []int  `json:"shape"`
	Dtype        string `json:"dtype"`
	Quantization *struct {
		Dtype string `json:"dtype"`
	} `json:"quantization"`
}

// node is one parsed graph node; inputs refer to other nodes by index.
type node struct {
	name   string
	op     string
	inputs []ref
	// attributes, parsed per op
	strides, dilations, ksize [4]int
	padding                   string // VALID, SAME, EXPLICIT
	explicitPad               [8]int
	alpha                     float32
	alignCorners, halfPixel   bool
	numSplit                  int
	nOut                      int // outputs this node produces
	packed                    *packedB
	wino                      *winoFilter // Conv2D 3x3 stride 1: the filter for convWinograd
	bias                      []float32   // Conv2D: fused bias
	leaky                     bool        // Conv2D: fused LeakyRelu(alpha)
	epilogue                  *epilogue   // Conv2D: bias padded for the GEMM
}

type ref struct{ node, out int }

// graph is a parsed model: nodes in execution order, constants evaluated.
type graph struct {
	nodes   []*node
	consts  map[int]*tensor // constant values by node index
	input   int             // the Placeholder
	outputs []int           // Identity nodes, sorted by name
	live    []bool          // nodes the outputs need (nil: all)
	logits  []bool          // per output: its Sigmoid was left out (see fuse)
}

// supported lists the ops the executor implements.
var supported = map[string]bool{
	"Const": true, "Placeholder": true, "Identity": true, "Pad": true, "PadV2": true,
	"Transpose": true, "Conv2D": true, "Add": true, "AddV2": true, "LeakyRelu": true,
	"ConcatV2": true, "MaxPool": true, "ResizeBilinear": true, "SplitV": true,
	"Sigmoid": true, "Reshape": true, "SparseToDense": true,
}

// parseGraph parses a TF.js graph model's JSON and its weights file.
func parseGraph(jsonData, bin []byte) (*graph, error) {
	if len(jsonData) > maxJSONBytes {
		return nil, modelErr("model JSON is %d bytes, more than %d", len(jsonData), maxJSONBytes)
	}
	if len(bin) > maxBinBytes {
		return nil, modelErr("weights file is %d bytes, more than %d", len(bin), maxBinBytes)
	}
	var jm jsonModel
	if err := json.Unmarshal(jsonData, &jm); err != nil {
		return nil, modelErr("JSON: %v", err)
	}
	if jm.Format != "graph-model" {
		return nil, modelErr("format %q, want graph-model", jm.Format)
	}
	jn := jm.ModelTopology.Node
	if len(jn) == 0 || len(jn) > maxNodes {
		return nil, modelErr("%d nodes", len(jn))
	}
	weights, err := readWeights(&jm, bin)
	if err != nil {
		return nil, err
	}
	g := &graph{consts: map[int]*tensor{}, input: -1}
	index := make(map[string]int, len(jn))
	for i, n := range jn {
		if n.Name == "" {
			return nil, modelErr("node %d has no name", i)
		}
		if _, dup := index[n.Name]; dup {
			return nil, modelErr("node %q defined twice", n.Name)
		}
		if !supported[n.Op] {
			return nil, modelErr("node %q: unsupported op %q", n.Name, n.Op)
		}
		index[n.Name] = i
	}
	for i, n := range jn {
		nd := &node{name: n.Name, op: n.Op, nOut: 1}
		if err := parseAttrs(nd, n.Attr); err != nil {
			return nil, err
		}
		if len(n.Input) > 8 {
			return nil, modelErr("node %q has %d inputs", n.Name, len(n.Input))
		}
		for _, in := range n.Input {
			name, out := in, 0
			if k := strings.LastIndexByte(in, ':'); k >= 0 {
				o, err := strconv.Atoi(in[k+1:])
				if err != nil || o < 0 || o > 16 {
					return nil, modelErr("node %q: bad input %q", n.Name, in)
				}
				name, out = in[:k], o
			}
			j, ok := index[name]
			if !ok {
				return nil, modelErr("node %q: unknown input %q", n.Name, in)
			}
			nd.inputs = append(nd.inputs, ref{j, out})
		}
		switch n.Op {
		case "Const":
			w, ok := weights[n.Name]
			if !ok {
				return nil, modelErr("constant %q has no weights", n.Name)
			}
			g.consts[i] = w
		case "Placeholder":
			if g.input >= 0 {
				return nil, modelErr("more than one input")
			}
			g.input = i
		case "Identity":
			if strings.HasPrefix(n.Name, "Identity") {
				g.outputs = append(g.outputs, i)
			}
		}
		if err := checkArity(nd); err != nil {
			return nil, err
		}
		g.nodes = append(g.nodes, nd)
	}
	if g.input < 0 || len(g.outputs) == 0 {
		return nil, modelErr("graph needs one Placeholder and Identity outputs")
	}
	sortOutputs(g)
	order, err := topoSort(g)
	if err != nil {
		return nil, err
	}
	return g.reorder(order), nil
}

// sortOutputs orders the outputs by name: Identity, Identity_1, ...
func sortOutputs(g *graph) {
	num := func(i int) int {
		s := strings.TrimPrefix(g.nodes[i].name, "Identity")
		n, _ := strconv.Atoi(strings.TrimPrefix(s, "_"))
		return n
	}
	o := g.outputs
	for a := 1; a < len(o); a++ {
		for b := a; b > 0 && num(o[b]) < num(o[b-1]); b-- {
			o[b], o[b-1] = o[b-1], o[b]
		}
	}
}

// arity is how many inputs each op takes (ConcatV2: any, plus the axis).
var arity = map[string]int{
	"Const": 0, "Placeholder": 0, "Identity": 1, "Pad": 2, "PadV2": 3, "Transpose": 2,
	"Conv2D": 2, "Add": 2, "AddV2": 2, "LeakyRelu": 1, "MaxPool": 1, "ResizeBilinear": 2,
	"SplitV": 3, "Sigmoid": 1, "Reshape": 2, "SparseToDense": 4,
}

func checkArity(n *node) error {
	if n.op == "ConcatV2" {
		if len(n.inputs) < 2 {
			return modelErr("node %q: ConcatV2 needs inputs and an axis", n.name)
		}
		return nil
	}
	if len(n.inputs) != arity[n.op] {
		return modelErr("node %q: %s with %d inputs", n.name, n.op, len(n.inputs))
	}
	return nil
}

func ints4(a jsonAttr, name string, def int) ([4]int, error) {
	r := [4]int{def, def, def, def}
	if len(a.List.I) == 0 {
		return r, nil
	}
	if len(a.List.I) != 4 {
		return r, modelErr("%s has %d values, want 4", name, len(a.List.I))
	}
	for i, s := range a.List.I {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > 64 {
			return r, modelErr("%s value %q out of range", name, s)
		}
		r[i] = v
	}
	return r, nil
}

func parseAttrs(n *node, attrs map[string]jsonAttr) error {
	var err error
	switch n.op {
	case "Conv2D", "MaxPool":
		if df, _ := base64.StdEncoding.DecodeString(attrs["data_format"].S); len(df) > 0 && string(df) != "NHWC" {
			return modelErr("node %q: data_format %q unsupported (want NHWC)", n.name, df)
		}
		p, _ := base64.StdEncoding.DecodeString(attrs["padding"].S)
		n.padding = string(p)
		switch n.padding {
		case "VALID", "SAME":
		case "EXPLICIT":
			ep := attrs["explicit_paddings"].List.I
			if len(ep) != 8 {
				return modelErr("node %q: explicit_paddings has %d values", n.name, len(ep))
			}
			for i, s := range ep {
				v, err := strconv.Atoi(s)
				if err != nil || v < 0 || v > 64 {
					return modelErr("node %q: explicit padding %q", n.name, s)
				}
				n.explicitPad[i] = v
			}
		default:
			return modelErr("node %q: padding %q unsupported", n.name, n.padding)
		}
		if n.strides, err = ints4(attrs["strides"], "strides", 1); err != nil {
			return err
		}
		if n.dilations, err = ints4(attrs["dilations"], "dilations", 1); err != nil {
			return err
		}
		if n.ksize, err = ints4(attrs["ksize"], "ksize", 1); err != nil {
			return err
		}
		if n.strides[0] != 1 || n.strides[3] != 1 || n.dilations[0] != 1 || n.dilations[3] != 1 || n.ksize[0] != 1 || n.ksize[3] != 1 {
			return modelErr("node %q: batch or channel strides unsupported", n.name)
		}
		for _, v := range [...]int{n.strides[1], n.strides[2], n.dilations[1], n.dilations[2], n.ksize[1], n.ksize[2]} {
			if v < 1 {
				return modelErr("node %q: stride, dilation or ksize below 1", n.name)
			}
		}
	case "LeakyRelu":
		n.alpha = 0.2 // TensorFlow's default
		if f := attrs["alpha"].F; f != nil {
			if math.IsNaN(*f) || math.IsInf(*f, 0) {
				return modelErr("node %q: alpha not finite", n.name)
			}
			n.alpha = float32(*f)
		}
	case "ResizeBilinear":
		n.alignCorners = attrs["align_corners"].B
		n.halfPixel = attrs["half_pixel_centers"].B
		if n.alignCorners && n.halfPixel {
			return modelErr("node %q: align_corners with half_pixel_centers", n.name)
		}
	case "SplitV":
		v, err := strconv.Atoi(attrs["num_split"].I)
		if err != nil || v < 1 || v > 16 {
			return modelErr("node %q: num_split %q", n.name, attrs["num_split"].I)
		}
		n.numSplit, n.nOut = v, v
	}
	return nil
}

// readWeights decodes the manifest's weights from bin, in manifest order.
func readWeights(jm *jsonModel, bin []byte) (map[string]*tensor, error) {
	out := map[string]*tensor{}
	off, total := 0, 0
	for _, group := range jm.WeightsManifest {
		for _, w := range group.Weights {
			n, err := numElems(w.Shape)
			if err != nil {
				return nil, fmt.Errorf("weight %q: %w", w.Name, err)
			}
			if total += n; total > maxWeightElems {
				return nil, modelErr("weights hold more than %d values", maxWeightElems)
			}
			t := &tensor{shape: append([]int{}, w.Shape...)}
			width := 4
			quant := ""
			if w.Quantization != nil {
				quant = w.Quantization.Dtype
			}
			switch {
			case w.Dtype == "float32" && quant == "float16":
				width = 2
			case w.Dtype == "float32" && quant == "":
			case w.Dtype == "int32" && quant == "":
				t.isInt = true
			default:
				return nil, modelErr("weight %q: dtype %s quantized %q unsupported", w.Name, w.Dtype, quant)
			}
			if off+n*width > len(bin) {
				return nil, modelErr("weights file too short for %q", w.Name)
			}
			b := bin[off : off+n*width]
			off += n * width
			if t.isInt {
				t.i = make([]int64, n)
				for k := range t.i {
					t.i[k] = int64(int32(binary.LittleEndian.Uint32(b[4*k:])))
				}
			} else {
				t.f = make([]float32, n)
				for k := range t.f {
					if width == 2 {
						t.f[k] = halfToFloat(binary.LittleEndian.Uint16(b[2*k:]))
					} else {
						t.f[k] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:]))
					}
				}
			}
			if _, dup := out[w.Name]; dup {
				return nil, modelErr("weight %q listed twice", w.Name)
			}
			out[w.Name] = t
		}
	}
	if off != len(bin) {
		return nil, modelErr("weights file has %d bytes, manifest describes %d", len(bin), off)
	}
	return out, nil
}

// halfToFloat converts an IEEE 754 binary16 value to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalise
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// topoSort orders the nodes so each comes after its inputs; cycles are refused.
func topoSort(g *graph) ([]int, error) {
	state := make([]uint8, len(g.nodes)) // 0 new, 1 visiting, 2 done
	order := make([]int, 0, len(g.nodes))
	type frame struct{ n, next int }
	for root := range g.nodes {
		if state[root] != 0 {
			continue
		}
		stack := []frame{{root, 0}}
		state[root] = 1
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			nd := g.nodes[f.n]
			if f.next < len(nd.inputs) {
				in := nd.inputs[f.next]
				f.next++
				if in.out >= g.nodes[in.node].nOut {
					return nil, modelErr("node %q reads output %d of %q", nd.name, in.out, g.nodes[in.node].name)
				}
				switch state[in.node] {
				case 1:
					return nil, modelErr("cycle through %q", nd.name)
				case 0:
					state[in.node] = 1
					stack = append(stack, frame{in.node, 0})
				}
				continue
			}
			state[f.n] = 2
			order = append(order, f.n)
			stack = stack[:len(stack)-1]
		}
	}
	return order, nil
}

// reorder renumbers the graph's nodes in the given order.
func (g *graph) reorder(order []int) *graph {
	newIdx := make([]int, len(order))
	for k, old := range order {
		newIdx[old] = k
	}
	ng := &graph{consts: map[int]*tensor{}, input: newIdx[g.input]}
	for _, old := range order {
		nd := g.nodes[old]
		for k := range nd.inputs {
			nd.inputs[k].node = newIdx[nd.inputs[k].node]
		}
		ng.nodes = append(ng.nodes, nd)
	}
	for old, t := range g.consts {
		ng.consts[newIdx[old]] = t
	}
	for _, o := range g.outputs {
		ng.outputs = append(ng.outputs, newIdx[o])
	}
	return ng
}
