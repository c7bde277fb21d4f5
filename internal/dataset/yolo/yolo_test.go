package yolo

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestPixelConversion(t *testing.T) {
	// A 30x40 box at (10, 20) in a 100x80 image: centre (25, 40).
	l := FromPixels(2, 10, 20, 30, 40, 100, 80)
	want := Label{Class: 2, CX: 0.25, CY: 0.5, W: 0.3, H: 0.5}
	if l != want {
		t.Fatalf("FromPixels = %+v, want %+v", l, want)
	}
	if p := l.Pixels(100, 80); p != [4]float64{10, 20, 30, 40} {
		t.Fatalf("Pixels = %v", p)
	}
	got, err := ParseLabels(FormatLabels([]Label{l, FromPixels(0, 0, 0, 100, 80, 100, 80)}), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != want || got[1] != (Label{0, 0.5, 0.5, 1, 1}) {
		t.Fatalf("parsed %+v", got)
	}
	if string(FormatLabels([]Label{l})) != "2 0.250000 0.500000 0.300000 0.500000\n" {
		t.Fatalf("format %q", FormatLabels([]Label{l}))
	}
}

var badLabels = []struct{ in, want string }{
	{"0 0.5 0.5 0.1", "4 fields"},
	{"0 0.5 0.5 0.1 0.1 1", "6 fields"},
	{"3 0.5 0.5 0.1 0.1", "class \"3\""},
	{"-1 0.5 0.5 0.1 0.1", "class"},
	{"1.0 0.5 0.5 0.1 0.1", "class"},
	{"0 1.5 0.5 0.1 0.1", "value 1"},
	{"0 0.5 -0.1 0.1 0.1", "value 2"},
	{"0 0.5 0.5 NaN 0.1", "value 3"},
	{"0 0.5 0.5 0.1 x", "value 4"},
	{"0 0.05 0.5 0.2 0.1", "not inside"},
	{"0 0.5 0.95 0.1 0.2", "not inside"},
	{"0 0.5 0.5 0 0.1", "empty"},
	{"0 0.5 0.5 0.1 0.1\n1 2 3", "line 2"},
}

func TestParseLabelsRefuses(t *testing.T) {
	for _, c := range badLabels {
		_, err := ParseLabels([]byte(c.in), 3)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want ErrFormat containing %q", c.in, err, c.want)
		}
	}
	if ls, err := ParseLabels([]byte("\n\n"), 3); err != nil || len(ls) != 0 {
		t.Fatalf("empty file: %v %v", ls, err)
	}
}

func TestData(t *testing.T) {
	names := []string{"person", "car", "a: b"}
	out, err := MarshalData(Data{Path: ".", Train: "images", Val: "images", Names: names})
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseData(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !slices.Equal(d.Names, names) || d.Train != "images" || d.Path != "." {
		t.Fatalf("parsed %+v", d)
	}
	d, err = ParseData([]byte("train: a\nval: b\nnames: [x, y]\n"))
	if err != nil || !slices.Equal(d.Names, []string{"x", "y"}) {
		t.Fatalf("list names: %+v %v", d, err)
	}
	for _, c := range []struct{ in, want string }{
		{"val: b\nnames: [x]\n", "train and val"},
		{"train: a\nval: b\n", "names is missing"},
		{"train: a\nval: b\nnames: {0: x, 2: y}\n", "class 1 missing"},
		{"train: a\nval: b\nnames: [x, x]\n", "used twice"},
		{"train: a\nval: b\nnc: 3\nnames: [x, y]\n", "nc 3"},
		{"train: a\nval: b\nnames: x\n", "neither a list"},
		{"train: [a\n", "data.yaml"},
	} {
		_, err := ParseData([]byte(c.in))
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want ErrFormat containing %q", c.in, err, c.want)
		}
	}
}

func FuzzParseLabels(f *testing.F) {
	f.Add([]byte("0 0.5 0.5 0.1 0.1\n2 0.25 0.5 0.3 0.5\n"), 3)
	for _, c := range badLabels {
		f.Add([]byte(c.in), 3)
	}
	f.Fuzz(func(t *testing.T, data []byte, classes int) {
		ls, err := ParseLabels(data, classes)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not ErrFormat: %v", err)
			}
			return
		}
		for _, l := range ls {
			p := l.Pixels(640, 480)
			if l.Class < 0 || l.Class >= classes || p[2] <= 0 || p[0] < -0.01 || p[0]+p[2] > 640.01 || math.IsNaN(p[1]) {
				t.Fatalf("accepted %+v", l)
			}
		}
		again, err := ParseLabels(FormatLabels(ls), classes)
		if err != nil || len(again) != len(ls) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}

func FuzzParseData(f *testing.F) {
	f.Add([]byte("path: .\ntrain: images\nval: images\nnc: 2\nnames:\n  0: person\n  1: car\n"))
	f.Add([]byte("train: a\nval: b\nnames: [x, y]\n"))
	f.Add([]byte("train: a\nval: b\nnames: {0: x, 2: y}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := ParseData(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not ErrFormat: %v", err)
			}
			return
		}
		out, err := MarshalData(*d)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		e, err := ParseData(out)
		if err != nil || !slices.Equal(e.Names, d.Names) {
			t.Fatalf("re-parse: %v %v %v\n%s", err, e, d.Names, out)
		}
	})
}
