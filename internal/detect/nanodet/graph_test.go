package nanodet

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// tinyModel is a valid graph: input -> Pad -> Conv2D (2x2, 1 -> 2 channels,
// float16 filter) -> Add bias -> LeakyRelu -> Identity.
const tinyModel = `{"format":"graph-model","modelTopology":{"node":[
{"name":"input_1","op":"Placeholder","attr":{"dtype":{"type":"DT_FLOAT"}}},
{"name":"pads","op":"Const"},
{"name":"w","op":"Const"},
{"name":"b","op":"Const"},
{"name":"pad","op":"Pad","input":["input_1","pads"]},
{"name":"conv","op":"Conv2D","input":["pad","w"],"attr":{"padding":{"s":"VkFMSUQ="},"data_format":{"s":"TkhXQw=="},"strides":{"list":{"i":["1","1","1","1"]}},"dilations":{"list":{"i":["1","1","1","1"]}}}},
{"name":"add","op":"Add","input":["conv","b"]},
{"name":"relu","op":"LeakyRelu","input":["add"],"attr":{"alpha":{"f":0.1}}},
{"name":"Identity","op":"Identity","input":["relu"]}]},
"weightsManifest":[{"paths":["m.bin"],"weights":[
{"name":"pads","shape":[4,2],"dtype":"int32"},
{"name":"w","shape":[2,2,1,2],"dtype":"float32","quantization":{"dtype":"float16","original_dtype":"float32"}},
{"name":"b","shape":[2],"dtype":"float32"}]}]}`

func tinyBin() []byte {
	var b []byte
	for _, v := range []int32{0, 0, 0, 1, 0, 1, 0, 0} { // pad H and W after by one
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	for _, h := range []uint16{0x3c00, 0xbc00, 0x3c00, 0, 0x3c00, 0, 0x3c00, 0xbc00} { // 1,-1 / 1,0 / 1,0 / 1,-1
		b = binary.LittleEndian.AppendUint16(b, h)
	}
	for _, f := range []uint32{0x3f800000, 0} { // bias 1, 0
		b = binary.LittleEndian.AppendUint32(b, f)
	}
	return b
}

func TestTinyModel(t *testing.T) {
	g, err := parseGraph([]byte(tinyModel), tinyBin())
	if err != nil {
		t.Fatal(err)
	}
	if err := foldConstants(g); err != nil {
		t.Fatal(err)
	}
	e := newExecutor(g)
	outs, err := e.run(ft([]int{1, 2, 2, 1}, 1, 2, 3, 4))
	if err != nil {
		t.Fatal(err)
	}
	// Channel 0: the 2x2 sum + 1; channel 1: -(x + bottom-right), leaky.
	sameShape(t, "output", outs[0].shape, []int{1, 2, 2, 2})
	near(t, "output", outs[0].f, []float32{11, -0.5, 7, -0.2, 8, -0.3, 5, -0.4})
}

func TestParseGraphRefuses(t *testing.T) {
	for _, c := range []struct {
		name, json string
		bin        []byte
		want       string
	}{
		{"unknown op", strings.Replace(tinyModel, `"op":"LeakyRelu"`, `"op":"Softmax"`, 1), tinyBin(), `unsupported op "Softmax"`},
		{"short weights", tinyModel, tinyBin()[:10], "too short"},
		{"long weights", tinyModel, append(tinyBin(), 0), "manifest describes"},
		{"huge shape", strings.Replace(tinyModel, `"shape":[2,2,1,2]`, `"shape":[65536,65536,1,2]`, 1), tinyBin(), "too large"},
		{"negative shape", strings.Replace(tinyModel, `"shape":[2]`, `"shape":[-2]`, 1), tinyBin(), "out of range"},
		{"unknown input", strings.Replace(tinyModel, `"input":["add"]`, `"input":["nowhere"]`, 1), tinyBin(), "unknown input"},
		{"cycle", strings.Replace(tinyModel, `"input":["conv","b"]`, `"input":["relu","b"]`, 1), tinyBin(), "cycle"},
		{"NCHW conv", strings.Replace(tinyModel, `"TkhXQw=="`, `"TkNIVw=="`, 1), tinyBin(), "data_format"},
		{"not a graph", `{"format":"layers-model"}`, nil, "format"},
	} {
		_, err := parseGraph([]byte(c.json), c.bin)
		if !errors.Is(err, ErrModel) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want ErrModel mentioning %q", c.name, err, c.want)
		}
	}
}

// FuzzParseGraph feeds hostile model files to the loader, constant
// folding, the fusion pass and a run: they must fail cleanly, within the
// memory bounds.
func FuzzParseGraph(f *testing.F) {
	f.Add([]byte(tinyModel), tinyBin())
	f.Add([]byte(strings.Replace(tinyModel, `"op":"Pad"`, `"op":"PadV2"`, 1)), tinyBin())
	f.Add([]byte(`{"format":"graph-model","modelTopology":{"node":[{"name":"a","op":"Const"},{"name":"b","op":"Const"},{"name":"c","op":"AddV2","input":["a","b"]},{"name":"Identity","op":"Identity","input":["c"]}]},"weightsManifest":[{"weights":[{"name":"a","shape":[3],"dtype":"int32"},{"name":"b","shape":[3],"dtype":"int32"}]}]}`), make([]byte, 24))
	f.Fuzz(func(t *testing.T, jsonData, bin []byte) {
		g, err := parseGraph(jsonData, bin)
		if err != nil {
			if !errors.Is(err, ErrModel) {
				t.Fatalf("error %v does not wrap ErrModel", err)
			}
			return
		}
		if err := foldConstants(g); err != nil {
			return
		}
		fuse(g)
		e := newExecutor(g)
		_, _ = e.run(ft([]int{1, 2, 2, 1}, 1, 2, 3, 4))
	})
}

// TestFuseKeepsResults runs the real model with and without the fusion
// pass on the same input; the outputs must agree.
func TestFuseKeepsResults(t *testing.T) {
	dir := DefaultDir()
	jsonData, err := readBounded(dir+"/"+jsonFile, maxJSONBytes)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := readBounded(dir+"/"+binFile, maxBinBytes)
	if err != nil {
		t.Fatal(err)
	}
	x := &tensor{shape: []int{1, 3, 128, 128}, f: randFloats(rand.New(rand.NewPCG(9, 10)), 3*128*128)}
	var outs [2][]*tensor
	var logits []bool
	for k := range outs {
		g, err := parseGraph(jsonData, bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := foldConstants(g); err != nil {
			t.Fatal(err)
		}
		if k == 1 {
			fuse(g)
			padded, biased, activated := 0, 0, 0
			for _, n := range g.nodes {
				if n.op == "Conv2D" && n.padding == "EXPLICIT" {
					padded++
				}
				if n.op == "Conv2D" && n.bias != nil {
					biased++
				}
				if n.op == "Conv2D" && n.leaky {
					activated++
				}
			}
			t.Logf("fused: %d paddings, %d biases, %d activations", padded, biased, activated)
			logits = g.logits
			if padded < 25 || biased < 30 || activated < 25 {
				t.Errorf("too few convolutions fused")
			}
		}
		e := newExecutor(g)
		e.scaleN, e.scaleD = 128, nativeSize
		if outs[k], err = e.run(x); err != nil {
			t.Fatal(err)
		}
	}
	for k := range outs[0] {
		sameShape(t, "output", outs[1][k].shape, outs[0][k].shape)
		got := outs[1][k].f
		if logits[k] {
			got = make([]float32, len(outs[1][k].f))
			for j, v := range outs[1][k].f {
				got[j] = float32(1 / (1 + math.Exp(-float64(v))))
			}
		}
		near(t, "output", got, outs[0][k].f)
	}
	n := 0
	for _, l := range logits {
		if l {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d score outputs left to the decoder's sigmoid, want 3", n)
	}
}
