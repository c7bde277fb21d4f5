package detect

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestBoxGeometry(t *testing.T) {
	a := Box{X: 0, Y: 0, W: 10, H: 10}
	b := Box{X: 5, Y: 5, W: 10, H: 10}
	if got := a.IoU(b); math.Abs(got-25.0/175) > 1e-12 {
		t.Errorf("IoU = %v, want %v", got, 25.0/175)
	}
	if a.IoU(Box{X: 20, Y: 20, W: 1, H: 1}) != 0 || a.IoU(a) != 1 {
		t.Error("IoU of disjoint or identical boxes")
	}
	if x, y := b.BottomCentre(); x != 10 || y != 15 {
		t.Errorf("bottom centre %v,%v", x, y)
	}
	if (Box{W: -1, H: 3}).Area() != 0 || (Box{W: 3}).Ratio() != 0 {
		t.Error("empty boxes have area and ratio 0")
	}
}

func TestNMSPerLabel(t *testing.T) {
	ds := []Detection{
		{Label: "person", Score: 0.6, Box: Box{0, 0, 10, 20}},
		{Label: "person", Score: 0.9, Box: Box{1, 1, 10, 20}},
		{Label: "car", Score: 0.5, Box: Box{1, 1, 10, 20}},
		{Label: "person", Score: 0.7, Box: Box{50, 50, 10, 20}},
	}
	got := NMS(ds, 0.5)
	if len(got) != 3 || got[0].Score != 0.9 || got[1].Score != 0.7 || got[2].Label != "car" {
		t.Errorf("NMS kept %+v", got)
	}
}

func TestFilter(t *testing.T) {
	f := Filter{MinScore: 0.5, MinArea: 100, MaxRatio: 1}
	for _, c := range []struct {
		d    Detection
		want bool
	}{
		{Detection{Score: 0.6, Box: Box{0, 0, 10, 20}}, true},
		{Detection{Score: 0.4, Box: Box{0, 0, 10, 20}}, false},
		{Detection{Score: 0.6, Box: Box{0, 0, 5, 10}}, false},
		{Detection{Score: 0.6, Box: Box{0, 0, 30, 20}}, false},
	} {
		if f.Pass(c.d) != c.want {
			t.Errorf("%+v: pass %v", c.d, !c.want)
		}
	}
}

func TestNewRGBRefusesAbsurdSizes(t *testing.T) {
	for _, s := range [][2]int{{0, 10}, {10, -1}, {1 << 16, 1}, {7681, 4321}} {
		if _, err := NewRGB(s[0], s[1]); !errors.Is(err, ErrFrameSize) {
			t.Errorf("%v: %v", s, err)
		}
	}
	m, err := NewRGB(4, 2)
	if err != nil || len(m.Pix) != 24 {
		t.Fatal(err)
	}
}

func TestCorners(t *testing.T) {
	nan := math.NaN()
	for _, c := range []struct {
		x0, y0, x1, y1 float64
		want           Box
		ok             bool
	}{
		{10, 20, 30, 60, Box{10, 20, 20, 40}, true},
		{-5, -5, 50, 50, Box{0, 0, 50, 50}, true},     // clipped to the frame
		{90, 40, 200, 120, Box{90, 40, 10, 20}, true}, // clipped at the far edges
		{30, 10, 20, 40, Box{}, false},                // inverted
		{10, 10, 10, 40, Box{}, false},                // empty
		{150, 10, 200, 40, Box{}, false},              // outside
		{nan, 10, 20, 40, Box{}, false},
		{10, 10, 20, math.Inf(1), Box{10, 10, 10, 50}, true},
	} {
		b, ok := Corners(c.x0, c.y0, c.x1, c.y1, 100, 60)
		if b != c.want || ok != c.ok {
			t.Errorf("Corners(%v, %v, %v, %v) = %+v, %v; want %+v, %v", c.x0, c.y0, c.x1, c.y1, b, ok, c.want, c.ok)
		}
	}
}

func TestValidLabel(t *testing.T) {
	for s, want := range map[string]bool{
		"person": true, "traffic light": true, "chat noir é": true,
		"": false, " person": false, "person\n": false, "a\x01b": false, "\xff": false,
		strings.Repeat("x", MaxLabel): true, strings.Repeat("x", MaxLabel+1): false,
	} {
		if ValidLabel(s) != want {
			t.Errorf("ValidLabel(%q) = %v", s, !want)
		}
	}
}

func TestStrongest(t *testing.T) {
	ds := []Detection{{Label: "a", Score: 0.2}, {Label: "b", Score: 0.9}, {Label: "c", Score: 0.5}, {Label: "d", Score: 0.9}}
	got := Strongest(slices.Clone(ds), 3)
	if len(got) != 3 || got[0].Label != "b" || got[1].Label != "d" || got[2].Label != "c" {
		t.Errorf("Strongest 3 = %+v", got)
	}
	if all := Strongest(slices.Clone(ds), 10); len(all) != 4 {
		t.Errorf("Strongest 10 of 4 = %d", len(all))
	}
}
