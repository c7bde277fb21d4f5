package detect

import (
	"image"
	"testing"
)

func TestRegionsSquareInsideFrame(t *testing.T) {
	// A small box near the corner: a minSide square moved inside the frame.
	rs := Regions([]Box{{X: 750, Y: 560, W: 10, H: 10}}, 768, 576, 320, 576)
	if len(rs) != 1 {
		t.Fatalf("regions %v", rs)
	}
	r := rs[0]
	if r.Dx() != 320 || r.Dy() != 320 || r.Max.X != 768 || r.Max.Y != 576 {
		t.Errorf("region %v, want a 320 square in the bottom-right corner", r)
	}
	// A tall box: the square grows to 1.25 x its height.
	rs = Regions([]Box{{X: 100, Y: 100, W: 40, H: 300}}, 768, 576, 160, 576)
	if rs[0].Dx() != 375 || !rs[0].Overlaps(image.Rect(100, 100, 140, 400)) {
		t.Errorf("tall box region %v", rs[0])
	}
	// Bigger than the frame: clipped to its shorter edge.
	rs = Regions([]Box{{X: 0, Y: 0, W: 768, H: 576}}, 768, 576, 160, 2000)
	if rs[0] != image.Rect(0, 0, 576, 576) && rs[0].Dx() != 576 {
		t.Errorf("whole-frame region %v", rs[0])
	}
}

func TestRegionsMerge(t *testing.T) {
	// Two nearby boxes share one region; a far one keeps its own.
	boxes := []Box{{X: 100, Y: 100, W: 30, H: 60}, {X: 150, Y: 120, W: 30, H: 60}, {X: 600, Y: 400, W: 30, H: 60}}
	rs := Regions(boxes, 768, 576, 200, 400)
	if len(rs) != 2 {
		t.Fatalf("regions %v, want 2", rs)
	}
	for _, b := range boxes {
		in := false
		for _, r := range rs {
			if b.Rect().In(r) {
				in = true
			}
		}
		if !in {
			t.Errorf("box %+v is in no region %v", b, rs)
		}
	}
	// maxSide stops a merge.
	if rs := Regions(boxes[:2], 768, 576, 200, 200); len(rs) != 2 {
		t.Errorf("merged beyond maxSide: %v", rs)
	}
	if Regions(nil, 768, 576, 200, 400) != nil || Regions(boxes, 0, 0, 1, 1) != nil {
		t.Error("no boxes or no frame: no regions")
	}
}

func TestCropOffset(t *testing.T) {
	img, _ := NewRGB(8, 6)
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	r := image.Rect(2, 1, 5, 4)
	c := Crop(img, r)
	if c.W != 3 || c.H != 3 {
		t.Fatalf("crop %dx%d", c.W, c.H)
	}
	for y := 0; y < 3; y++ {
		for x := 0; x < 3; x++ {
			r0, g0, b0 := c.At(x, y)
			r1, g1, b1 := img.At(x+2, y+1)
			if r0 != r1 || g0 != g1 || b0 != b1 {
				t.Fatalf("pixel %d,%d differs", x, y)
			}
		}
	}
	if Crop(img, image.Rect(10, 10, 20, 20)) != nil {
		t.Error("crop outside the image")
	}
	ds := Offset([]Detection{{Box: Box{X: 1, Y: 1, W: 2, H: 2}}}, r)
	if ds[0].Box.X != 3 || ds[0].Box.Y != 2 {
		t.Errorf("offset %+v", ds[0].Box)
	}
}
