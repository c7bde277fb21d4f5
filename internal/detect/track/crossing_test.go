package track

import (
	"math/rand/v2"
	"testing"

	"vigil/internal/detect"
)

// TestCrossingPathsManySeeds crosses two people head-on and at angles,
// with detections dropped at random, over many noise seeds: tracks must
// neither fragment nor swap identities except rarely.
func TestCrossingPathsManySeeds(t *testing.T) {
	for _, drop := range []float64{0, 0.1, 0.3} {
		for _, slope := range []float64{0, 2, 5} {
			frag, swaps := 0, 0
			for seed := range 100 {
				rng := rand.New(rand.NewPCG(uint64(seed), 99))
				tr := New(Config{})
				first := map[uint64]float64{}
				var last []*Track
				for i := range 60 {
					var dets []detect.Detection
					for _, dir := range []float64{1, -1} {
						if i > 2 && rng.Float64() < drop {
							continue
						}
						x0 := 100.0
						if dir < 0 {
							x0 = 572
						}
						b := detect.Box{X: x0 + dir*8*float64(i) + rng.NormFloat64()*3, Y: 200 + dir*slope*float64(i) + rng.NormFloat64()*3, W: 40 + rng.NormFloat64()*2, H: 100 + rng.NormFloat64()*3}
						dets = append(dets, detect.Detection{Label: "person", Score: 0.9, Box: b})
					}
					last = live(tr.Update(at(i), dets))
					for _, x := range last {
						if _, ok := first[x.ID]; !ok {
							first[x.ID] = x.Box.X
						}
					}
				}
				if tr.nextID-1 != 2 {
					frag++
				}
				for _, x := range last {
					// Started left must end right and vice versa.
					if (first[x.ID] < 336) == (x.Box.X < 336) {
						swaps++
						break
					}
				}
			}
			t.Logf("drop %.1f slope %.0f: %d/100 fragmented, %d/100 swapped", drop, slope, frag, swaps)
			if frag > 2 || swaps > 5 {
				t.Errorf("drop %.1f slope %.0f: %d/100 runs fragmented, %d/100 swapped identities", drop, slope, frag, swaps)
			}
		}
	}
}
