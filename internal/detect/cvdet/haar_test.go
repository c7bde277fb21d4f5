//go:build opencv

package cvdet

import (
	"strings"
	"testing"

	"vigil/internal/detect"
	"vigil/internal/detect/detecttest"
)

func newHaar(t testing.TB) *Haar {
	t.Helper()
	h, err := NewHaar(HaarConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestHaarFacesInMegamind: the frontal-face cascade finds Megamind's face
// in most sampled frames, and nothing in a tree.
func TestHaarFacesInMegamind(t *testing.T) {
	h := newHaar(t)
	found, n := 0, 0
	for i := 0; i < 270; i += 30 {
		bs, err := h.Find(detecttest.Frame(t, "Megamind.avi", i, 720, 528))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			if b.X < 0 || b.Y < 0 || b.X+b.W > 720 || b.Y+b.H > 528 || b.Area() < 20*20 {
				t.Errorf("frame %d: bad box %v", i, b)
			}
		}
		n++
		if len(bs) > 0 {
			found++
		}
	}
	t.Logf("a face in %d of %d frames", found, n)
	if found*10 < n*7 {
		t.Errorf("a face in %d of %d frames, want most", found, n)
	}
	for _, i := range []int{10, 40} {
		bs, err := h.Find(detecttest.Frame(t, "tree.avi", i, 320, 240))
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) != 0 {
			t.Errorf("tree.avi frame %d: %v", i, bs)
		}
	}
}

func TestHaarRefuses(t *testing.T) {
	if _, err := NewHaar(HaarConfig{Cascade: "/nonexistent.xml"}); err == nil || !strings.Contains(err.Error(), "opencv-data") {
		t.Errorf("missing cascade: %v", err)
	}
	if _, err := NewHaar(HaarConfig{Cascade: "/etc/hostname"}); err == nil {
		t.Error("a file that is not a cascade was loaded")
	}
	if _, err := NewHaar(HaarConfig{ScaleFactor: 3}); err == nil {
		t.Error("scale factor 3 accepted")
	}
	h := newHaar(t)
	if _, err := h.Find(&detect.RGB{W: 2, H: 2, Pix: make([]byte, 3)}); err == nil {
		t.Error("a bad frame was scanned")
	}
	h.Close()
	img, _ := detect.NewRGB(64, 64)
	if _, err := h.Find(img); err == nil {
		t.Error("a closed cascade ran")
	}
}
