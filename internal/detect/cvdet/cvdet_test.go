package cvdet

import (
	"errors"
	"math"
	"strings"
	"testing"

	"vigil/internal/detect"
)

func TestParseShape(t *testing.T) {
	for _, tc := range []struct {
		dims   []int
		labels int
		want   Layout
		err    string
	}{
		{[]int{1, 25200, 85}, 0, Layout{YOLOv5, 25200, 80}, ""},
		{[]int{1, 84, 8400}, 0, Layout{YOLOv8, 8400, 80}, ""},
		{[]int{1, 25200, 85}, 80, Layout{YOLOv5, 25200, 80}, ""},
		{[]int{1, 84, 8400}, 80, Layout{YOLOv8, 8400, 80}, ""},
		{[]int{1, 2, 8}, 3, Layout{YOLOv5, 2, 3}, ""},
		{[]int{1, 7, 2}, 3, Layout{YOLOv8, 2, 3}, ""},
		{[]int{1, 85, 85}, 0, Layout{}, "both layouts fit"},
		{[]int{1, 84, 85}, 80, Layout{}, "both layouts fit"},
		{[]int{1, 25200, 85}, 3, Layout{}, "for 3 labels"},
		{[]int{1, 4, 4}, 0, Layout{}, "no layout fits"},
		{[]int{1, 0, 85}, 0, Layout{}, "out of range"},
		{[]int{1, -5, 85}, 0, Layout{}, "out of range"},
		{[]int{1, 1 << 30, 85}, 0, Layout{}, "out of range"},
		{[]int{1, 25200, 85 + MaxClasses}, 0, Layout{}, "no layout fits"},
		{[]int{2, 25200, 85}, 0, Layout{}, "batch"},
		{[]int{25200, 85}, 0, Layout{}, "rank 2"},
		{nil, 0, Layout{}, "rank 0"},
	} {
		got, err := ParseShape(tc.dims, tc.labels)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), "want") {
				t.Errorf("ParseShape(%v, %d) = %+v, %v; want an ErrShape saying %q and what was expected", tc.dims, tc.labels, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseShape(%v, %d) = %+v, %v; want %+v", tc.dims, tc.labels, got, err, tc.want)
		}
	}
}

func TestLetterbox(t *testing.T) {
	lb := NewLetterbox(768, 576, 640)
	if lb.NW != 640 || lb.NH != 480 || lb.PadX != 0 || lb.PadY != 80 {
		t.Fatalf("768x576 in 640: %+v", lb)
	}
	lb = NewLetterbox(480, 640, 320)
	if lb.NW != 240 || lb.NH != 320 || lb.PadX != 40 || lb.PadY != 0 {
		t.Fatalf("480x640 in 320: %+v", lb)
	}
	// A box at input (40+60, 100) of 30x50 is at frame (120, 150) of 60x100
	// centre, scale 1/2.
	b, ok := lb.ToFrame(100, 100, 30, 50)
	if !ok || b != (detect.Box{X: 90, Y: 150, W: 60, H: 100}) {
		t.Fatalf("ToFrame = %+v, %v", b, ok)
	}
	// In the padding only: empty.
	if b, ok := lb.ToFrame(10, 100, 20, 50); ok {
		t.Fatalf("box in the padding mapped to %+v", b)
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if b, ok := lb.ToFrame(v, 100, 20, 50); ok {
			t.Fatalf("non-finite box mapped to %+v", b)
		}
	}
	// Extreme aspect ratios keep at least a pixel.
	if lb := NewLetterbox(10000, 1, 64); lb.NH != 1 || lb.NW != 64 {
		t.Fatalf("10000x1 in 64: %+v", lb)
	}
}

func TestDecodeHostileValues(t *testing.T) {
	lb := NewLetterbox(640, 640, 640)
	row := func(vals ...float32) []float32 { return append(vals, make([]float32, 85-len(vals))...) }
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	rows := [][]float32{
		row(100, 100, 50, 50, 0.9, 0.9),         // good
		row(nan, 100, 50, 50, 0.9, 0.9),         // NaN box
		row(100, 100, inf, 50, 0.9, 0.9),        // infinite box: clipped to the frame, kept
		row(300, 300, 50, 50, nan, 0.9),         // NaN objectness
		row(300, 300, 50, 50, 0.9, nan),         // NaN class score
		row(400, 400, 50, 50, 2, 0.9),           // objectness above 1
		row(500, 500, 50, 50, 0.9, 7),           // class score above 1
		row(500, 100, -50, 50, 0.9, 0.9),        // negative width
		row(320, 320, 1e30, 1e30, 0.9, 0, 0.95), // huge box: clipped
	}
	var data []float32
	for _, r := range rows {
		data = append(data, r...)
	}
	ds, err := Decode([]int{1, len(rows), 85}, data, nil, lb, 0.25, 0.45, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		b := d.Box
		if !(d.Score >= 0.25 && d.Score <= 1) || math.IsNaN(b.X+b.Y+b.W+b.H) || b.X < 0 || b.Y < 0 || b.W <= 0 || b.H <= 0 || b.X+b.W > 640 || b.Y+b.H > 640 {
			t.Errorf("bad detection %+v", d)
		}
	}
	if len(ds) != 3 {
		t.Errorf("got %d detections %+v, want 3 (the good box, the infinite one clipped, the huge one)", len(ds), ds)
	}
	// The value count must match the shape.
	if _, err := Decode([]int{1, 2, 85}, data[:100], nil, lb, 0.25, 0.45, 100); !errors.Is(err, ErrShape) {
		t.Errorf("short data: %v", err)
	}
	// Other than 80 classes needs labels.
	if _, err := Decode([]int{1, 2, 10}, make([]float32, 20), nil, lb, 0.25, 0.45, 100); !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), "no labels file") {
		t.Errorf("5 classes, no labels: %v", err)
	}
}

// TestDecodeCapsNMS: a model claiming every box scores 1 gives at most
// MaxNMS boxes to NMS and maxDets back, quickly.
func TestDecodeCapsNMS(t *testing.T) {
	n := MaxCandidates
	data := make([]float32, n*6)
	for i := 0; i < n; i++ {
		copy(data[i*6:], []float32{float32(i % 640), float32(i / 640 % 640), 4, 4, 1, 1})
	}
	ds, err := Decode([]int{1, n, 6}, data, []string{"x"}, NewLetterbox(640, 640, 640), 0.25, 0.45, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 100 {
		t.Fatalf("%d detections, want 100", len(ds))
	}
}

func TestParseLabels(t *testing.T) {
	ls, err := ParseLabels([]byte(" person \r\ncar\n\n\n"))
	if err != nil || len(ls) != 2 || ls[0] != "person" || ls[1] != "car" {
		t.Fatalf("ParseLabels = %q, %v", ls, err)
	}
	for name, b := range map[string]string{
		"empty":        "",
		"blank inside": "a\n\nb\n",
		"control":      "a\x01b\n",
		"long":         strings.Repeat("x", MaxLabel+1),
		"too many":     strings.Repeat("x\n", MaxClasses+1),
		"not utf-8":    "\xff\xfe\n",
	} {
		if _, err := ParseLabels([]byte(b)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestConfigs(t *testing.T) {
	for _, c := range []DNNConfig{
		{},
		{Model: "m.onnx", InputSize: 100},
		{Model: "m.onnx", InputSize: 2048},
		{Model: "m.onnx", MinScore: 1},
		{Model: "m.onnx", MinScore: -0.1},
		{Model: "m.onnx", IoU: 1.5},
		{Model: "m.onnx", MaxDetections: -1},
	} {
		if err := c.fill(); err == nil {
			t.Errorf("DNNConfig %+v accepted", c)
		}
	}
	c := DNNConfig{Model: "m.onnx"}
	if err := c.fill(); err != nil || c.InputSize != 640 || c.MinScore != 0.25 || c.IoU != 0.45 || c.MaxDetections != 100 {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}

// FuzzDecode: whatever shape and values a model outputs, Decode returns an
// error or boxes inside the frame with scores in [0, 1]; it never panics.
func FuzzDecode(f *testing.F) {
	f.Add(1, 3, 85, 0, []byte{0, 0, 200, 66, 0, 0, 200, 66, 0, 0, 32, 66, 0, 0, 32, 66, 102, 102, 102, 63, 102, 102, 102, 63})
	f.Add(1, 84, 3, 0, []byte{1, 2, 3})
	f.Add(1, 2, 8, 3, []byte{0, 0, 128, 127})
	f.Add(2, 2, 2, 0, []byte{})
	f.Fuzz(func(t *testing.T, b, n, m, labels int, raw []byte) {
		if n < 0 || m < 0 || n*m > 1<<16 || labels < 0 || labels > 100 {
			return
		}
		data := make([]float32, n*m)
		for i := range data {
			if 4*i+4 <= len(raw) {
				data[i] = math.Float32frombits(uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24)
			} else if len(raw) > 0 {
				data[i] = float32(raw[i%len(raw)]) / 255
			}
		}
		var ls []string
		for i := 0; i < labels; i++ {
			ls = append(ls, "l")
		}
		lb := NewLetterbox(768, 576, 320)
		ds, err := Decode([]int{b, n, m}, data, ls, lb, 0.25, 0.45, 100)
		if err != nil {
			return
		}
		if len(ds) > 100 {
			t.Fatalf("%d detections", len(ds))
		}
		for _, d := range ds {
			x := d.Box
			if !(d.Score >= 0.25 && d.Score <= 1) || !(x.W > 0 && x.H > 0 && x.X >= 0 && x.Y >= 0 && x.X+x.W <= 768 && x.Y+x.H <= 576) || d.Label == "" {
				t.Fatalf("bad detection %+v", d)
			}
		}
	})
}
