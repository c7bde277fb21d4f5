package detect

import (
	"errors"
	"math"
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
