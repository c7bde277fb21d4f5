package recorder

import "testing"

// TestG711Timing: Opus from the encoder gets the camera's time of the
// G.711 it came from, across the gaps where the camera's audio jumped or
// packets were dropped; output from before any anchor is left out.
func TestG711Timing(t *testing.T) {
	g := newG711Recorder(nil)
	// Fed: 8000 samples from camera time 1000, then (a jump) from 50000.
	g.anchors = []anchor{{in: 0, pts: 1000}, {in: 8000, pts: 50000}}
	for _, c := range []struct {
		pos, want int64
	}{
		{0, 6000},
		{960, 6960},
		{6 * 7999, 6*1000 + 6*7999},
		{6 * 8000, 6 * 50000},
		{6*8000 + 960, 6*50000 + 960},
	} {
		got, ok := g.ptsOf(c.pos)
		if !ok || got != c.want {
			t.Errorf("output at %d: camera time %d (%v), want %d", c.pos, got, ok, c.want)
		}
	}
	// The first anchor was passed and forgotten.
	if len(g.anchors) != 1 {
		t.Errorf("%d anchors kept, want 1", len(g.anchors))
	}
	g.anchors = []anchor{{in: 100, pts: 0}}
	if _, ok := g.ptsOf(0); ok {
		t.Error("output from before the first anchor was given a time")
	}
}
