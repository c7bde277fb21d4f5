package events

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"vigil/internal/detect"
	"vigil/internal/detect/track"
)

// FuzzContains checks polygon containment against facts that hold for
// any polygon: nothing outside its bounding box is inside, and moving
// both polygon and point together changes nothing (up to rounding, so
// only by exact binary fractions).
func FuzzContains(f *testing.F) {
	f.Add([]byte{0, 0, 255, 0, 255, 255, 0, 255}, byte(128), byte(128))
	f.Add([]byte{51, 0, 102, 0, 102, 153, 153, 153, 153, 0, 204, 0, 204, 255, 51, 255}, byte(128), byte(60))
	f.Add([]byte{0, 0, 255, 255, 0, 255, 255, 0}, byte(10), byte(128)) // self-crossing
	f.Fuzz(func(t *testing.T, raw []byte, px, py byte) {
		if len(raw) > 2*MaxZonePoints {
			return
		}
		var pts [][2]float64
		for i := 0; i+1 < len(raw); i += 2 {
			pts = append(pts, [2]float64{float64(raw[i]) / 256, float64(raw[i+1]) / 256})
		}
		x, y := float64(px)/256, float64(py)/256
		in := Contains(pts, x, y)
		if len(pts) < 3 && in {
			t.Fatal("fewer than three points contain a point")
		}
		minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
		for _, p := range pts {
			minX, maxX = math.Min(minX, p[0]), math.Max(maxX, p[0])
			minY, maxY = math.Min(minY, p[1]), math.Max(maxY, p[1])
		}
		if in && (x < minX || x > maxX || y < minY || y > maxY) {
			t.Fatalf("(%v, %v) is outside the bounding box but inside", x, y)
		}
		moved := make([][2]float64, len(pts))
		for i, p := range pts {
			moved[i] = [2]float64{p[0] + 0.25, p[1] + 0.5}
		}
		if Contains(moved, x+0.25, y+0.5) != in {
			t.Fatal("containment changed under translation")
		}
		z := Zone{Name: "z", Points: pts}
		if err := (&Config{Zones: []Zone{z}}).Validate(); (err == nil) != (len(pts) >= 3) {
			t.Fatalf("validate %d points: %v", len(pts), err)
		}
	})
}

// FuzzConfig feeds arbitrary JSON to Validate; whatever it accepts must
// run through the engine without panicking.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(exampleJSON))
	f.Add([]byte(`{"rules": []}`))
	f.Add([]byte(`{"zones": [{"name": "x", "points": [[0,0],[1,0],[0.5,1]], "inertia": 100}], "require_zone": true}`))
	for _, bc := range badConfigs {
		b, _ := json.Marshal(bc.cfg)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 1<<16 {
			return
		}
		var c Config
		if json.Unmarshal(raw, &c) != nil {
			return
		}
		if c.Validate() != nil {
			return
		}
		e, err := New(Options{Config: c, Width: 640, Height: 360})
		if err != nil {
			t.Fatalf("New refused a valid config: %v", err)
		}
		t0 := time.Date(2026, 1, 1, 23, 59, 0, 0, time.UTC)
		for i := range 5 {
			b := detect.Box{X: float64(i) * 100, Y: 200, W: 50, H: 150}
			tr := &track.Track{ID: 1, Label: "person", Box: b, TruePositive: true, FirstSeen: t0, Best: track.Best{Score: 0.9, Box: b, Time: t0}}
			e.Update(t0.Add(time.Duration(i)*time.Minute), []*track.Track{tr}, Away)
		}
	})
}
