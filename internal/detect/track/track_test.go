package track

import (
	"image"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"vigil/internal/detect"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

const fps = 5

func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Second / fps) }

func person(score float64, b detect.Box) detect.Detection {
	return detect.Detection{Label: "person", Score: score, Box: b}
}

// live returns the tracks that have not ended.
func live(ts []*Track) []*Track {
	var out []*Track
	for _, tr := range ts {
		if !tr.Ended {
			out = append(out, tr)
		}
	}
	return out
}

func centreErr(a, b detect.Box) float64 {
	return math.Hypot(a.X+a.W/2-(b.X+b.W/2), a.Y+a.H/2-(b.Y+b.H/2)) + math.Abs(a.W-b.W) + math.Abs(a.H-b.H)
}

func TestStraightLineKeepsIDAndSmooths(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tr := New(Config{})
	var id uint64
	var rawErr, kfErr float64
	const n = 50
	for i := range n {
		truth := detect.Box{X: 50 + 6*float64(i), Y: 100 + 2*float64(i), W: 40, H: 100}
		noisy := truth
		noisy.X += rng.NormFloat64() * 5
		noisy.Y += rng.NormFloat64() * 5
		noisy.W += rng.NormFloat64() * 4
		noisy.H += rng.NormFloat64() * 4
		ts := live(tr.Update(at(i), []detect.Detection{person(0.9, noisy)}))
		if len(ts) != 1 {
			t.Fatalf("frame %d: %d live tracks, want 1", i, len(ts))
		}
		if i == 0 {
			id = ts[0].ID
		} else if ts[0].ID != id {
			t.Fatalf("frame %d: ID changed from %d to %d", i, id, ts[0].ID)
		}
		if i >= 10 { // after the filter has learnt the velocity
			rawErr += centreErr(noisy, truth)
			kfErr += centreErr(ts[0].Box, truth)
		}
	}
	t.Logf("mean error: raw %.2f px, filtered %.2f px", rawErr/(n-10), kfErr/(n-10))
	if kfErr >= rawErr {
		t.Errorf("filtered boxes are no closer to the truth (%.1f) than raw ones (%.1f)", kfErr, rawErr)
	}
}

func TestCrossingPathsKeepIDs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	tr := New(Config{})
	// A walks right, B walks left, along the same line: they overlap
	// fully half-way.
	box := func(i int, dir float64, x0 float64) detect.Box {
		return detect.Box{X: x0 + dir*8*float64(i) + rng.NormFloat64()*2, Y: 200 + rng.NormFloat64()*2, W: 40, H: 100}
	}
	var idA, idB uint64
	swaps := 0
	for i := range 60 {
		a, b := box(i, 1, 100), box(i, -1, 572)
		ts := live(tr.Update(at(i), []detect.Detection{person(0.9, a), person(0.85, b)}))
		if i < 3 {
			continue
		}
		// Identify the tracks by which side they are on at frame 3.
		var left, right *Track
		for _, x := range ts {
			if !x.Confirmed {
				continue
			}
			if left == nil || x.Box.X < left.Box.X {
				left = x
			}
			if right == nil || x.Box.X > right.Box.X {
				right = x
			}
		}
		if left == nil || right == nil || left == right {
			continue
		}
		if i == 3 {
			idA, idB = left.ID, right.ID
			continue
		}
		// Truth: A is on the left until they meet at frame ~29.5.
		wantLeft := idA
		if i > 30 {
			wantLeft = idB
		}
		if math.Abs(a.X-b.X) > 40 && left.ID != wantLeft {
			swaps++
		}
	}
	if idA == 0 || idB == 0 {
		t.Fatal("two confirmed tracks never existed")
	}
	if swaps > 5 {
		t.Errorf("identities swapped on %d frames away from the crossing", swaps)
	}
	seen := map[uint64]bool{}
	for _, x := range live(tr.Update(at(60), nil)) {
		seen[x.ID] = true
	}
	if !seen[idA] || !seen[idB] {
		t.Errorf("original tracks %d and %d did not survive the crossing (live: %v)", idA, idB, seen)
	}
}

func TestSpuriousDetectionNeverConfirmed(t *testing.T) {
	tr := New(Config{})
	ts := tr.Update(at(0), []detect.Detection{person(0.99, detect.Box{X: 10, Y: 10, W: 30, H: 80})})
	if len(ts) != 1 || ts[0].Confirmed || ts[0].TruePositive {
		t.Fatalf("a single detection: %+v", ts)
	}
	var ended bool
	for i := 1; i < 20; i++ {
		for _, x := range tr.Update(at(i), nil) {
			if x.Confirmed || x.TruePositive {
				t.Fatalf("frame %d: spurious track confirmed", i)
			}
			ended = ended || x.Ended
		}
	}
	if !ended {
		t.Error("the tentative track never ended")
	}
	if n := len(tr.Update(at(21), nil)); n != 0 {
		t.Errorf("%d tracks left", n)
	}
}

func TestTrackEndsAfterMaxUnseen(t *testing.T) {
	tr := New(Config{MaxUnseen: 5 * time.Second})
	b := detect.Box{X: 100, Y: 100, W: 40, H: 100}
	var id uint64
	for i := range 5 {
		ts := tr.Update(at(i), []detect.Detection{person(0.9, b)})
		id = ts[0].ID
	}
	last := at(4)
	for i := 5; ; i++ {
		ts := tr.Update(at(i), nil)
		if len(ts) != 1 || ts[0].ID != id {
			t.Fatalf("frame %d: tracks %+v", i, ts)
		}
		gone := at(i).Sub(last)
		if ts[0].Ended {
			if gone <= 5*time.Second {
				t.Fatalf("ended after %s unseen, want > 5s", gone)
			}
			if gone > 5*time.Second+time.Second/fps {
				t.Fatalf("ended only after %s unseen", gone)
			}
			if !ts[0].LastSeen.Equal(last) {
				t.Errorf("LastSeen %s, want %s", ts[0].LastSeen, last)
			}
			break
		}
		if i > 100 {
			t.Fatal("never ended")
		}
	}
	if n := len(tr.Update(at(200), nil)); n != 0 {
		t.Errorf("ended track reported again (%d tracks)", n)
	}
}

func TestStationaryRedetectedLessOften(t *testing.T) {
	cfg := Config{StationaryFrames: 10, StationaryInterval: 4 * time.Second}
	tr := New(cfg)
	rng := rand.New(rand.NewPCG(5, 6))
	parked := func() detect.Box {
		return detect.Box{X: 300 + rng.NormFloat64(), Y: 200 + rng.NormFloat64(), W: 120 + rng.NormFloat64(), H: 80}
	}
	car := func() detect.Detection { return detect.Detection{Label: "car", Score: 0.8, Box: parked()} }

	var stationaryAt = -1
	for i := range 20 {
		ts := tr.Update(at(i), []detect.Detection{car()})
		if ts[0].Stationary && stationaryAt < 0 {
			stationaryAt = i
		}
	}
	if stationaryAt < 0 {
		t.Fatal("a parked car never became stationary")
	}
	if stationaryAt < cfg.StationaryFrames {
		t.Errorf("stationary after %d frames, want >= %d", stationaryAt, cfg.StationaryFrames)
	}

	// From now on the pipeline runs the detector only where asked.
	asked := 0
	var id uint64
	for i := 20; i < 20+30*fps; i++ {
		var dets []detect.Detection
		if len(tr.NeedsDetection(at(i))) > 0 {
			asked++
			dets = append(dets, car())
		}
		ts := live(tr.Update(at(i), dets))
		if len(ts) != 1 || !ts[0].Stationary {
			t.Fatalf("frame %d: tracks %+v", i, ts)
		}
		if id == 0 {
			id = ts[0].ID
		} else if ts[0].ID != id {
			t.Fatalf("frame %d: ID changed", i)
		}
	}
	// 30 s at one check every 4 s.
	if asked < 7 || asked > 9 {
		t.Errorf("re-detected %d times in 30 s, want about 30/4", asked)
	}

	// A moving person is asked for every frame.
	tr.Update(at(200), []detect.Detection{car(), person(0.9, detect.Box{X: 10, Y: 10, W: 30, H: 90})})
	if n := len(tr.NeedsDetection(at(201))); n != 1 {
		t.Errorf("NeedsDetection returned %d boxes, want the moving person only", n)
	}

	// When a stationary object is looked for and missing, it still ends.
	var ended bool
	for i := 201; i < 201+30*fps && !ended; i++ {
		for _, x := range tr.Update(at(i), nil) {
			if x.ID == id && x.Ended {
				ended = true
			}
		}
	}
	if !ended {
		t.Error("a stationary track that left never ended")
	}
}

func TestStationaryClearsWhenMoving(t *testing.T) {
	tr := New(Config{StationaryFrames: 5})
	b := detect.Box{X: 100, Y: 100, W: 40, H: 100}
	var ts []*Track
	for i := range 10 {
		ts = tr.Update(at(i), []detect.Detection{person(0.9, b)})
	}
	if !ts[0].Stationary {
		t.Fatal("not stationary")
	}
	for i := 10; i < 20; i++ {
		b.X += 15
		ts = live(tr.Update(at(i), []detect.Detection{person(0.9, b)}))
	}
	if len(ts) != 1 || ts[0].Stationary {
		t.Fatalf("moving track still stationary: %+v", ts)
	}
}

func TestMedianScoreRule(t *testing.T) {
	b := detect.Box{X: 100, Y: 100, W: 40, H: 100}
	run := func(scores []float64, cfg Config) *Track {
		tr := New(cfg)
		var ts []*Track
		for i, s := range scores {
			ts = tr.Update(at(i), []detect.Detection{person(s, b)})
		}
		return ts[0]
	}
	for _, tc := range []struct {
		name   string
		scores []float64
		cfg    Config
		want   bool
	}{
		{"mostly high", []float64{0.9, 0.3, 0.9, 0.3, 0.9, 0.3, 0.9, 0.9, 0.3, 0.9}, Config{}, true},
		{"mostly low", []float64{0.3, 0.9, 0.3, 0.9, 0.3, 0.3, 0.9, 0.3, 0.9, 0.3}, Config{}, false},
		{"steady 0.5", []float64{0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, Config{}, false},
		{"steady 0.5 with a 0.45 threshold", []float64{0.5, 0.5, 0.5, 0.5, 0.5}, Config{Thresholds: map[string]float64{"person": 0.45}}, true},
		{"steady 0.5 with another label's threshold", []float64{0.5, 0.5, 0.5, 0.5}, Config{Thresholds: map[string]float64{"car": 0.45}}, false},
		{"one high score is not enough", []float64{0.95}, Config{MinHits: 1}, false},
		{"two are, as in Frigate", []float64{0.95, 0.95}, Config{MinHits: 1}, true},
		{"three high scores are", []float64{0.95, 0.95, 0.95}, Config{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(tc.scores, tc.cfg)
			if got.TruePositive != tc.want {
				t.Errorf("TruePositive = %v (median %.2f, top %.2f), want %v", got.TruePositive, got.Score, got.TopScore, tc.want)
			}
		})
	}
	if m := median([]float64{0.9, 0.3, 0.9, 0.3}); m != 0.6 {
		t.Errorf("median of an even count = %v", m)
	}
}

func TestBestPrefersBigClearView(t *testing.T) {
	tr := New(Config{})
	steps := []detect.Detection{
		person(0.95, detect.Box{X: 115, Y: 137, W: 10, H: 25}),  // far and small
		person(0.80, detect.Box{X: 100, Y: 100, W: 40, H: 100}), // near and big: best
		person(0.40, detect.Box{X: 100, Y: 100, W: 44, H: 110}), // big but unclear
	}
	var ts []*Track
	for i, d := range steps {
		ts = tr.Update(at(i), []detect.Detection{d})
	}
	if len(live(ts)) != 1 {
		t.Fatalf("tracks: %+v", ts)
	}
	best := ts[0].Best
	if best.Box != steps[1].Box || best.Score != 0.8 || !best.Time.Equal(at(1)) || best.Frame != 2 {
		t.Errorf("best = %+v, want the second detection", best)
	}
}

func TestLabelsDoNotMix(t *testing.T) {
	tr := New(Config{})
	b := detect.Box{X: 100, Y: 100, W: 60, H: 60}
	tr.Update(at(0), []detect.Detection{{Label: "dog", Score: 0.9, Box: b}})
	ts := tr.Update(at(1), []detect.Detection{{Label: "cat", Score: 0.9, Box: b}})
	if len(ts) != 2 || ts[0].ID == ts[1].ID {
		t.Fatalf("a cat joined a dog's track: %+v", ts)
	}
}

func TestPredictMovesWithoutEnding(t *testing.T) {
	tr := New(Config{})
	for i := range 10 {
		tr.Update(at(i), []detect.Detection{person(0.9, detect.Box{X: 100 + 10*float64(i), Y: 100, W: 40, H: 100})})
	}
	before := live(tr.Update(at(10), []detect.Detection{person(0.9, detect.Box{X: 200, Y: 100, W: 40, H: 100})}))[0]
	var after *Track
	for i := 11; i < 100; i++ {
		ts := tr.Predict(at(i))
		if len(ts) != 1 || ts[0].Ended {
			t.Fatalf("Predict ended or lost the track: %+v", ts)
		}
		if i == 11 {
			after = ts[0]
		}
	}
	if after.Box.X <= before.Box.X {
		t.Errorf("prediction did not move with the track: %.1f -> %.1f", before.Box.X, after.Box.X)
	}
}

func TestHostileDetectionsBounded(t *testing.T) {
	tr := New(Config{MaxTracks: 8})
	var dets []detect.Detection
	for i := range 100 {
		dets = append(dets, person(0.9, detect.Box{X: float64(i * 50), Y: 0, W: 40, H: 40}))
	}
	dets = append(dets,
		person(math.NaN(), detect.Box{X: 1, Y: 1, W: 10, H: 10}),
		person(0.9, detect.Box{X: math.Inf(1), Y: 1, W: 10, H: 10}),
		person(0.9, detect.Box{X: 1, Y: 1, W: -10, H: 10}),
	)
	if n := len(tr.Update(at(0), dets)); n != 8 {
		t.Errorf("%d tracks, want MaxTracks", n)
	}
	for _, x := range tr.Update(at(1), dets) {
		if math.IsNaN(x.Box.X) || math.IsNaN(x.Score) {
			t.Fatalf("NaN leaked into a track: %+v", x)
		}
	}
}

func BenchmarkUpdate20Objects(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	tr := New(Config{})
	var dets []detect.Detection
	for i := range 20 {
		dets = append(dets, person(0.8, detect.Box{X: float64(i%5) * 150, Y: float64(i/5) * 140, W: 50, H: 120}))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range dets {
			dets[j].Box.X += rng.NormFloat64()
		}
		tr.Update(at(i), dets)
	}
}

func TestUpdateRegionsMissesOnlyWhereLooked(t *testing.T) {
	tr := New(Config{MaxUnseen: time.Second})
	left := person(0.9, detect.Box{X: 50, Y: 100, W: 40, H: 100})
	right := person(0.9, detect.Box{X: 600, Y: 100, W: 40, H: 100})
	for i := range 5 {
		tr.Update(at(i), []detect.Detection{left, right})
	}
	// From now on the detector only looks at the left half, where nobody
	// is any more.
	half := []image.Rectangle{image.Rect(0, 0, 320, 480)}
	var endedLeft, endedRight bool
	for i := 5; i < 50; i++ {
		for _, x := range tr.UpdateRegions(at(i), nil, half) {
			if x.Ended && x.Box.X < 320 {
				endedLeft = true
			}
			if x.Ended && x.Box.X >= 320 {
				endedRight = true
			}
		}
	}
	if !endedLeft {
		t.Error("the track in the region looked at never ended")
	}
	if endedRight {
		t.Error("a track outside the regions looked at ended")
	}
}
