//go:build opencv

package cvdet

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"vigil/internal/detect"
)

// A frame of vtest's size, letterboxed into 320: scale 5/12, the frame
// 320x240 at y offset 40.
const (
	frameW, frameH = 768, 576
	testInput      = 320
)

// known is a box the test model outputs: where it is in the frame, its
// class and its scores.
type known struct {
	box        detect.Box
	class      int
	obj, score float32 // YOLOv5 objectness and class score
}

// row returns the box's features in the model's input pixels: cx, cy, w,
// h, then (YOLOv5) objectness, then the class scores.
func (k known) row(classes int, v5 bool) []float32 {
	lb := NewLetterbox(frameW, frameH, testInput)
	cx := (k.box.X+k.box.W/2)*lb.SX + float64(lb.PadX)
	cy := (k.box.Y+k.box.H/2)*lb.SY + float64(lb.PadY)
	r := []float32{float32(cx), float32(cy), float32(k.box.W * lb.SX), float32(k.box.H * lb.SY)}
	if v5 {
		r = append(r, k.obj)
	}
	cls := make([]float32, classes)
	cls[k.class] = k.score
	cls[(k.class+1)%classes] = k.score / 2 // a runner-up that must lose
	return append(r, cls...)
}

// scene is what the test models output: a person, a weaker duplicate of
// it, a car overlapping the person (other label: kept), a box below the
// threshold and one partly outside the frame (clipped).
var scene = []known{
	{box: detect.Box{X: 100, Y: 200, W: 60, H: 150}, class: 0, obj: 0.9, score: 0.9},
	{box: detect.Box{X: 104, Y: 204, W: 60, H: 150}, class: 0, obj: 0.8, score: 0.8},
	{box: detect.Box{X: 110, Y: 220, W: 120, H: 80}, class: 2, obj: 0.95, score: 0.7},
	{box: detect.Box{X: 500, Y: 100, W: 50, H: 100}, class: 0, obj: 0.3, score: 0.3},
	{box: detect.Box{X: 700, Y: 500, W: 136, H: 120}, class: 16, obj: 0.9, score: 0.6},
}

// want is scene as Detect must report it with the default threshold: the
// duplicate dropped by NMS, the weak box by the threshold (0.09 for
// YOLOv5), the dog clipped to the frame.
func want(v5 bool) []detect.Detection {
	s := func(k known) float64 {
		if v5 {
			return float64(k.obj) * float64(k.score)
		}
		return float64(k.score)
	}
	ds := []detect.Detection{
		{Label: "person", Score: s(scene[0]), Box: scene[0].box},
		{Label: "car", Score: s(scene[2]), Box: scene[2].box},
		{Label: "dog", Score: s(scene[4]), Box: detect.Box{X: 700, Y: 500, W: 68, H: 76}},
	}
	if !v5 {
		// YOLOv8 scores are the class scores alone: the weak box (0.3)
		// passes the 0.25 threshold.
		ds = append(ds, detect.Detection{Label: "person", Score: 0.3, Box: scene[3].box})
	}
	return ds
}

// v5Output lays scene out as 1 x n x (5+classes), padded with empty rows.
func v5Output(n, classes int) ([]int, []float32) {
	var vals []float32
	for _, k := range scene {
		vals = append(vals, k.row(classes, true)...)
	}
	vals = append(vals, make([]float32, (n-len(scene))*(5+classes))...)
	return []int{1, n, 5 + classes}, vals
}

// v8Output lays scene out as 1 x (4+classes) x n.
func v8Output(n, classes int) ([]int, []float32) {
	f := 4 + classes
	vals := make([]float32, f*n)
	for i, k := range scene {
		for j, v := range k.row(classes, false) {
			vals[j*n+i] = v
		}
	}
	return []int{1, f, n}, vals
}

func newConstDNN(t *testing.T, dims []int, vals []float32, labels string) (*DNN, error) {
	t.Helper()
	c := DNNConfig{Model: writeFile(t, "m.onnx", constModel(t, testInput, dims, vals)), InputSize: testInput}
	if labels != "" {
		c.Labels = writeFile(t, "labels.txt", []byte(labels))
	}
	return NewDNN(c)
}

func checkDetections(t *testing.T, got, want []detect.Detection) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d detections %+v, want %d %+v", len(got), got, len(want), want)
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if g.Label == w.Label && math.Abs(g.Score-w.Score) < 1e-4 && g.Box.IoU(w.Box) > 0.99 &&
				math.Abs(g.Box.X-w.Box.X) < 0.5 && math.Abs(g.Box.Y-w.Box.Y) < 0.5 {
				found = true
			}
		}
		if !found {
			t.Errorf("missing %+v in %+v", w, got)
		}
	}
}

func greyFrame(t testing.TB) *detect.RGB {
	img, err := detect.NewRGB(frameW, frameH)
	if err != nil {
		t.Fatal(err)
	}
	for i := range img.Pix {
		img.Pix[i] = 90
	}
	return img
}

func TestDNNKnownBoxes(t *testing.T) {
	coco := strings.Join(detect.COCOLabels[:], "\n") + "\n\n"
	for _, tc := range []struct {
		name   string
		format Format
		out    func(n, classes int) ([]int, []float32)
		labels string
	}{
		{"YOLOv5/COCO default", YOLOv5, v5Output, ""},
		{"YOLOv8/COCO default", YOLOv8, v8Output, ""},
		{"YOLOv5/labels file", YOLOv5, v5Output, coco},
		{"YOLOv8/labels file", YOLOv8, v8Output, coco},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dims, vals := tc.out(120, 80)
			d, err := newConstDNN(t, dims, vals, tc.labels)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if l := d.Layout(); l.Format != tc.format || l.Boxes != 120 || l.Classes != 80 {
				t.Fatalf("layout %+v, want %v with 120 boxes and 80 classes", l, tc.format)
			}
			if d.InputSize() != testInput || len(d.Labels()) != 80 || d.Labels()[0] != "person" {
				t.Fatalf("InputSize %d, labels %d", d.InputSize(), len(d.Labels()))
			}
			got, err := d.Detect(context.Background(), greyFrame(t))
			if err != nil {
				t.Fatal(err)
			}
			checkDetections(t, got, want(tc.format == YOLOv5))
		})
	}
}

// TestDNNFewClasses uses a labels file of three classes, where the output
// has fewer boxes than features (the longer axis cannot tell the layout;
// the label count does).
func TestDNNFewClasses(t *testing.T) {
	saved := scene
	defer func() { scene = saved }()
	scene = []known{{box: detect.Box{X: 300, Y: 100, W: 40, H: 90}, class: 2, obj: 1, score: 0.8}}
	for _, v5 := range []bool{true, false} {
		var dims []int
		var vals []float32
		if v5 {
			dims, vals = v5Output(2, 3)
		} else {
			dims, vals = v8Output(2, 3)
		}
		d, err := newConstDNN(t, dims, vals, "cat\ndog\nfox\n")
		if err != nil {
			t.Fatal(err)
		}
		got, err := d.Detect(context.Background(), greyFrame(t))
		d.Close()
		if err != nil {
			t.Fatal(err)
		}
		checkDetections(t, got, []detect.Detection{{Label: "fox", Score: 0.8, Box: scene[0].box}})
	}
}

// TestDNNBadShapes: models whose output is not a YOLO layout are refused
// by NewDNN with an error naming what was expected, never a panic.
func TestDNNBadShapes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		dims   []int
		labels string
		want   string
	}{
		{"rank 4", []int{1, 2, 3, 4}, "", "rank 4"},
		{"rank 2", []int{10, 85}, "", "rank 2"},
		{"batch 2", []int{2, 10, 85}, "", "batch is not 1"},
		{"too narrow", []int{1, 4, 4}, "", "no layout fits"},
		{"79 classes without labels", []int{1, 100, 84}, "", "no labels file"},
		{"labels disagree", []int{1, 100, 85}, "a\nb\n", "for 2 labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 1
			for _, d := range tc.dims {
				n *= d
			}
			d, err := newConstDNN(t, tc.dims, make([]float32, n), tc.labels)
			if err == nil {
				d.Close()
				t.Fatalf("NewDNN accepted output shape %v", tc.dims)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "want") {
				t.Fatalf("error %q does not say %q and what was expected", err, tc.want)
			}
			t.Log(err)
		})
	}
}

// TestDNNBadModels: files OpenCV cannot load, and an input size the model
// cannot take, are errors (OpenCV's exceptions do not abort the process).
func TestDNNBadModels(t *testing.T) {
	dims, vals := v5Output(120, 80)
	good := constModel(t, testInput, dims, vals)
	for name, b := range map[string][]byte{
		"garbage":   []byte("this is not an onnx model at all, not even protobuf \xff\xff\xff"),
		"truncated": good[:len(good)/2],
	} {
		_, err := NewDNN(DNNConfig{Model: writeFile(t, "m.onnx", b), InputSize: testInput})
		if err == nil {
			t.Errorf("%s: NewDNN accepted it", name)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
	// 3*64*64 values as 1 x 64 x 192: YOLOv5 with 187 classes.
	fixed := writeFile(t, "fixed.onnx", reshapeModel(64, []int64{1, 64, 192}))
	labels := writeFile(t, "labels.txt", []byte(strings.Repeat("x\n", 187)))
	d, err := NewDNN(DNNConfig{Model: fixed, Labels: labels, InputSize: 64})
	if err != nil {
		t.Fatalf("model at its own input size: %v", err)
	}
	d.Close()
	_, err = NewDNN(DNNConfig{Model: fixed, Labels: labels, InputSize: 96})
	if err == nil || !strings.Contains(err.Error(), "input size 96") {
		t.Errorf("model exported for 64 run at 96: %v", err)
	}
	t.Logf("wrong input size: %v", err)
	if _, err := NewDNN(DNNConfig{Model: writeFile(t, "empty.onnx", nil)}); err == nil {
		t.Error("NewDNN accepted an empty file")
	}
	if _, err := NewDNN(DNNConfig{Model: "/nonexistent/m.onnx"}); err == nil {
		t.Error("NewDNN accepted a missing file")
	}
	if _, err := NewDNN(DNNConfig{Model: "m.onnx", InputSize: 100}); err == nil || !strings.Contains(err.Error(), "multiple of 32") {
		t.Errorf("input size 100: %v", err)
	}
}

func TestDNNDetectErrors(t *testing.T) {
	dims, vals := v5Output(120, 80)
	d, err := newConstDNN(t, dims, vals, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Detect(context.Background(), &detect.RGB{W: 10, H: 10, Pix: make([]byte, 5)}); !errors.Is(err, detect.ErrFrameSize) {
		t.Errorf("short frame: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d.Detect(ctx, greyFrame(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
	d.Close()
	if _, err := d.Detect(context.Background(), greyFrame(t)); err == nil {
		t.Error("Detect after Close succeeded")
	}
	d.Close()
}

// TestDNNLetterboxPixels runs a model whose output is its input blob, and
// checks the blob: the frame scaled into the middle of the square, grey
// 114 above and below, RGB order, scaled by 1/255.
func TestDNNLetterboxPixels(t *testing.T) {
	const s = 64
	// 3 x 64 x 64 values read as 1 x 64 x 192: YOLOv5 with 187 classes.
	labels := writeFile(t, "labels.txt", []byte(strings.Repeat("x\n", 187)))
	d, err := NewDNN(DNNConfig{Model: writeFile(t, "id.onnx", reshapeModel(s, []int64{1, s, 3 * s})), Labels: labels, InputSize: s})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// 128x64: red left half, blue right half; into 64x32 at y 16.
	img, _ := detect.NewRGB(128, 64)
	for y := 0; y < 64; y++ {
		for x := 0; x < 128; x++ {
			i := (y*128 + x) * 3
			if x < 64 {
				img.Pix[i] = 255
			} else {
				img.Pix[i+2] = 255
			}
		}
	}
	var blob []float32
	err = d.forward(img, func(dims []int, data []float32) error {
		blob = append(blob, data...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(blob) != 3*s*s {
		t.Fatalf("%d values", len(blob))
	}
	px := func(x, y int) [3]float32 {
		return [3]float32{blob[y*s+x], blob[s*s+y*s+x], blob[2*s*s+y*s+x]}
	}
	grey := float32(114) / 255
	for _, tc := range []struct {
		x, y int
		want [3]float32
	}{
		{10, 5, [3]float32{grey, grey, grey}},  // padding above
		{50, 60, [3]float32{grey, grey, grey}}, // padding below
		{10, 20, [3]float32{1, 0, 0}},          // red
		{50, 40, [3]float32{0, 0, 1}},          // blue
		{10, 47, [3]float32{1, 0, 0}},          // last row of the frame
	} {
		got := px(tc.x, tc.y)
		for c := range got {
			if math.Abs(float64(got[c]-tc.want[c])) > 1e-3 {
				t.Errorf("blob at %d,%d = %v, want %v", tc.x, tc.y, got, tc.want)
				break
			}
		}
	}
	if lb := NewLetterbox(128, 64, s); lb.PadY != 16 || lb.NH != 32 {
		t.Fatalf("letterbox %+v", lb)
	}
}

// TestDNNConcurrent: Detect is safe for concurrent use (run with -race).
func TestDNNConcurrent(t *testing.T) {
	dims, vals := v8Output(120, 80)
	d, err := newConstDNN(t, dims, vals, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	img := greyFrame(t)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for range 5 {
				ds, err := d.Detect(context.Background(), img)
				if err == nil && len(ds) != len(want(false)) {
					err = errors.New("wrong detections under concurrency")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
