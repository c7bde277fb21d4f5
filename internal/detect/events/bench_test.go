package events

import (
	"testing"

	"vigil/internal/detect/track"
)

// BenchmarkUpdate20Tracks8Zones is one camera's per-frame cost with a
// busy scene: 20 objects, 8 zones of 16 points, 4 rules with schedules.
func BenchmarkUpdate20Tracks8Zones(b *testing.B) {
	var cfg Config
	for z := range 8 {
		var pts [][2]float64
		for k := range 16 {
			x := float64(z)/8 + 0.1*float64(k%2)
			pts = append(pts, [2]float64{min(x, 1), float64(k) / 16})
		}
		cfg.Zones = append(cfg.Zones, Zone{Name: string(rune('a' + z)), Points: pts})
	}
	for r := range 4 {
		cfg.Rules = append(cfg.Rules, Rule{Name: "r", Labels: []string{"person"}, Zones: []string{string(rune('a' + r))},
			Schedule: []Window{{Days: []string{"mon", "tue"}, Start: "22:00", End: "06:00"}, {Start: "12:00", End: "13:00"}}})
	}
	e, err := New(Options{Config: cfg, Width: frameW, Height: frameH})
	if err != nil {
		b.Fatal(err)
	}
	var ts []*track.Track
	for i := range 20 {
		ts = append(ts, obj(uint64(i+1), "person", float64(i)/20, 0.5))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Update(at(i), ts, Away)
	}
}
