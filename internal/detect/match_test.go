package detect

import (
	"slices"
	"testing"
)

func TestMatchGreedy(t *testing.T) {
	sq := func(x float64) Box { return Box{X: x, Y: 0, W: 10, H: 10} }
	gt := []Truth{
		{Box: sq(0)},                 // a
		{Box: sq(20)},                // b
		{Box: sq(50), Ignore: true},  // crowd
		{Box: sq(80)},                // never found
		{Box: sq(100)},               // e
		{Box: sq(100), Ignore: true}, // crowd on e
		{Box: sq(300)},               // g
		{Box: sq(302)},               // h
	}
	// Label names each detection so its outcome can be checked after
	// Match reorders them.
	ds := []Detection{
		{Label: "a-again", Score: 0.3, Box: sq(0)},
		{Label: "a", Score: 0.9, Box: Box{X: 0, Y: 0, W: 10, H: 8}},
		{Label: "crowd", Score: 0.5, Box: sq(50)},
		{Label: "e-over-crowd", Score: 0.7, Box: sq(100)},
		{Label: "b-at-threshold", Score: 0.6, Box: Box{X: 20, Y: 0, W: 10, H: 5}},
		{Label: "nothing", Score: 0.4, Box: Box{X: 200, Y: 0, W: 5, H: 5}},
		{Label: "crowd-again", Score: 0.5, Box: sq(50)},
		{Label: "h-over-g", Score: 0.95, Box: sq(301.5)},
		{Label: "only-g", Score: 0.92, Box: sq(298)},
	}
	outcome, missed := Match(gt, ds, 0.5)
	var order []string
	for _, d := range ds {
		order = append(order, d.Label)
	}
	wantOrder := []string{"h-over-g", "only-g", "a", "e-over-crowd", "b-at-threshold", "crowd", "crowd-again", "nothing", "a-again"}
	if !slices.Equal(order, wantOrder) {
		t.Fatalf("order %v, want %v (descending score, stable)", order, wantOrder)
	}
	want := map[string]Outcome{
		"h-over-g":       TruePositive, // takes h, its larger overlap, leaving g
		"only-g":         TruePositive,
		"a":              TruePositive,
		"e-over-crowd":   TruePositive, // a real box wins over a crowd
		"b-at-threshold": TruePositive, // IoU exactly 0.5 matches
		"crowd":          Ignored,
		"crowd-again":    Ignored, // a crowd absorbs any number
		"nothing":        FalsePositive,
		"a-again":        FalsePositive, // a box is taken once
	}
	if len(outcome) != len(ds) {
		t.Fatalf("%d outcomes for %d detections", len(outcome), len(ds))
	}
	for i, d := range ds {
		if outcome[i] != want[d.Label] {
			t.Errorf("%s: outcome %d, want %d", d.Label, outcome[i], want[d.Label])
		}
	}
	if missed != 1 {
		t.Errorf("missed %d, want 1 (crowd boxes are never missed)", missed)
	}

	if o, m := Match(gt[:2], nil, 0.5); len(o) != 0 || m != 2 {
		t.Errorf("no detections: %v outcomes, %d missed; want none and 2", o, m)
	}
}
