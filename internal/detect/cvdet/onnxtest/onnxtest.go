// Package onnxtest builds ONNX models for tests, field by field
// (onnx.proto numbers), with no tool but Go: models whose output is a fixed
// tensor whatever the frame,
//
//	images [1,3,S,S] -> GlobalAveragePool -> [1,3,1,1]
//	  -> Conv (zero weights, bias = the tensor) -> [1,K,1,1]
//	  -> Reshape (to the output's shape) -> output
//
// so that decoding, the letterbox mapping, thresholds, NMS and whatever
// scores a detector can be checked against known boxes through OpenCV's
// real importer and forward pass. It is for tests only.
package onnxtest

import (
	"encoding/binary"
	"fmt"
	"math"
)

// pb is a protobuf message being encoded.
type pb []byte

func (p *pb) key(field, wire int) { *p = binary.AppendUvarint(*p, uint64(field<<3|wire)) }

func (p *pb) int(field int, v int64) {
	p.key(field, 0)
	*p = binary.AppendUvarint(*p, uint64(v))
}

func (p *pb) bytes(field int, b []byte) {
	p.key(field, 2)
	*p = binary.AppendUvarint(*p, uint64(len(b)))
	*p = append(*p, b...)
}

func (p *pb) str(field int, s string) { p.bytes(field, []byte(s)) }

// ONNX enum values used.
const (
	onnxFloat = 1
	onnxInt64 = 7
	attrInt   = 2
	attrInts  = 7
)

func tensorFloat(name string, dims []int64, vals []float32) pb {
	var t pb
	for _, d := range dims {
		t.int(1, d)
	}
	t.int(2, onnxFloat)
	t.str(8, name)
	raw := make([]byte, 0, 4*len(vals))
	for _, v := range vals {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	t.bytes(9, raw)
	return t
}

func tensorInt64(name string, vals []int64) pb {
	var t pb
	t.int(1, int64(len(vals)))
	t.int(2, onnxInt64)
	t.str(8, name)
	raw := make([]byte, 0, 8*len(vals))
	for _, v := range vals {
		raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
	}
	t.bytes(9, raw)
	return t
}

func valueInfo(name string, dims []int64) pb {
	var shape pb
	for _, d := range dims {
		var dim pb
		dim.int(1, d)
		shape.bytes(1, dim)
	}
	var tt pb
	tt.int(1, onnxFloat)
	tt.bytes(2, shape)
	var typ pb
	typ.bytes(1, tt)
	var vi pb
	vi.str(1, name)
	vi.bytes(2, typ)
	return vi
}

type attr struct {
	name string
	ints []int64
}

func node(op, name string, in, out []string, attrs ...attr) pb {
	var n pb
	for _, s := range in {
		n.str(1, s)
	}
	for _, s := range out {
		n.str(2, s)
	}
	n.str(3, name)
	n.str(4, op)
	for _, a := range attrs {
		var at pb
		at.str(1, a.name)
		for _, v := range a.ints {
			at.int(8, v)
		}
		at.int(20, attrInts)
		n.bytes(5, at)
	}
	return n
}

// Const returns an ONNX model taking images [1,3,size,size] whose
// output, of shape out, is vals (row-major).
func Const(size int, out []int, vals []float32) ([]byte, error) {
	k := int64(1)
	shape := make([]int64, len(out))
	for i, d := range out {
		shape[i] = int64(d)
		k *= int64(d)
	}
	if int64(len(vals)) != k {
		return nil, fmt.Errorf("onnxtest: %d values for shape %v", len(vals), out)
	}
	var g pb
	g.bytes(1, node("GlobalAveragePool", "gap", []string{"images"}, []string{"pooled"}))
	g.bytes(1, node("Conv", "conv", []string{"pooled", "w", "b"}, []string{"conv"},
		attr{"kernel_shape", []int64{1, 1}}, attr{"strides", []int64{1, 1}}, attr{"pads", []int64{0, 0, 0, 0}}))
	g.bytes(1, node("Reshape", "reshape", []string{"conv", "shape"}, []string{"output"}))
	g.str(2, "const")
	g.bytes(5, tensorFloat("w", []int64{k, 3, 1, 1}, make([]float32, 3*k)))
	g.bytes(5, tensorFloat("b", []int64{k}, vals))
	g.bytes(5, tensorInt64("shape", shape))
	g.bytes(11, valueInfo("images", []int64{1, 3, int64(size), int64(size)}))
	g.bytes(12, valueInfo("output", shape))
	var opset pb
	opset.str(1, "")
	opset.int(2, 12)
	var m pb
	m.int(1, 7)
	m.str(2, "vigil-cvdet-test")
	m.bytes(7, g)
	m.bytes(8, opset)
	return m, nil
}

// Reshape returns an ONNX model exported for images [1,3,size,size]
// only: its output is the image reshaped to out, so any other input size
// makes OpenCV's forward pass throw.
func Reshape(size int, out []int64) []byte {
	var g pb
	g.bytes(1, node("Reshape", "reshape", []string{"images", "shape"}, []string{"output"}))
	g.str(2, "reshape")
	g.bytes(5, tensorInt64("shape", out))
	g.bytes(11, valueInfo("images", []int64{1, 3, int64(size), int64(size)}))
	g.bytes(12, valueInfo("output", out))
	var opset pb
	opset.str(1, "")
	opset.int(2, 12)
	var m pb
	m.int(1, 7)
	m.bytes(7, g)
	m.bytes(8, opset)
	return m
}
