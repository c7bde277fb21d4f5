package eval

import (
	"math"
	"testing"

	"vigil/internal/detect"
)

func box(x, y, w, h float64) detect.Box { return detect.Box{X: x, Y: y, W: w, H: h} }

// TestEvaluate checks counts and AP on a case worked out by hand.
func TestEvaluate(t *testing.T) {
	truths := map[int64][]Truth{
		1: {
			{Label: "person", Box: box(0, 0, 10, 10)},
			{Label: "person", Box: box(20, 20, 10, 10)},
			{Label: "person", Box: box(40, 40, 10, 10), Crowd: true},
		},
		2: {{Label: "dog", Box: box(0, 0, 20, 20)}},
		3: nil,
	}
	preds := map[int64][]detect.Detection{
		1: {
			{Label: "person", Score: 0.5, Box: box(0, 0, 10, 10)},   // second on A: FP
			{Label: "person", Score: 0.9, Box: box(0, 0, 10, 10)},   // A: TP
			{Label: "person", Score: 0.8, Box: box(60, 60, 10, 10)}, // nothing: FP
			{Label: "person", Score: 0.7, Box: box(40, 40, 10, 10)}, // crowd: ignored
			{Label: "person", Score: 0.6, Box: box(21, 21, 10, 10)}, // B (IoU 0.68): TP
			{Label: "chair", Score: 0.99, Box: box(60, 60, 10, 10)}, // not a category: left out
			{Label: "dog", Score: 0.9, Box: box(20, 20, 10, 10)},    // no dog here: FP
		},
		2: {{Label: "dog", Score: 0.4, Box: box(0, 0, 20, 10)}}, // IoU exactly 0.5: TP
		3: {{Label: "cat", Score: 0.3, Box: box(0, 0, 5, 5)}},
	}
	r := Evaluate([]string{"person", "dog", "cat"}, truths, preds, 0)
	if r.Images != 3 || len(r.Labels) != 3 || r.IoU != 0.5 {
		t.Fatalf("result %+v", r)
	}
	near := func(p *float64, want float64) bool { return p != nil && math.Abs(*p-want) < 1e-9 }
	p, d, c, all := r.Labels[0], r.Labels[1], r.Labels[2], r.Overall
	if p.Truths != 2 || p.TP != 2 || p.FP != 2 || p.FN != 0 || p.Ignored != 1 || !near(p.Precision, 0.5) || !near(p.Recall, 1) {
		t.Errorf("person %+v", p)
	}
	// Ranked: TP .9, FP .8, TP .6, FP .5: precision 1, .5, 2/3, .5 at
	// recall .5, .5, 1, 1; made non-increasing: 1, 2/3, 2/3, .5. Recall
	// 0 to .50 (51 points) reads 1, .51 to 1 (50 points) reads 2/3.
	if want := (51 + 50*2.0/3) / 101; !near(p.AP, want) {
		t.Errorf("person AP %v, want %v", *p.AP, want)
	}
	// Dog: FP .9 ranks above TP .4: precision .5 at recall 1.
	if d.Truths != 1 || d.TP != 1 || d.FP != 1 || !near(d.Precision, 0.5) || !near(d.Recall, 1) || !near(d.AP, 0.5) {
		t.Errorf("dog %+v", d)
	}
	if c.Truths != 0 || c.FP != 1 || c.AP != nil || c.Recall != nil || !near(c.Precision, 0) {
		t.Errorf("cat %+v", c)
	}
	if all.Truths != 3 || all.TP != 3 || all.FP != 4 || all.FN != 0 || all.Ignored != 1 || !near(all.Recall, 1) ||
		!near(all.Precision, 3.0/7) || !near(all.AP, ((51+50*2.0/3)/101+0.5)/2) {
		t.Errorf("overall %+v", all)
	}
	// Nothing detected: recall 0, AP 0, no precision.
	r = Evaluate([]string{"person"}, truths, nil, 0)
	if q := r.Labels[0]; q.Precision != nil || !near(q.Recall, 0) || !near(q.AP, 0) || q.FN != 2 {
		t.Errorf("no detections %+v", q)
	}
	// A missed box halves recall and AP caps at the recall reached.
	r = Evaluate([]string{"person"}, truths, map[int64][]detect.Detection{1: {{Label: "person", Score: 1, Box: box(0, 0, 10, 10)}}}, 0)
	if q := r.Labels[0]; !near(q.Recall, 0.5) || !near(q.Precision, 1) || !near(q.AP, 51.0/101) {
		t.Errorf("half found %+v", q)
	}
	// At threshold 0.65, the counts keep .9 (TP), .8 (FP) and .7 (ignored);
	// AP still ranks every detection.
	r = Evaluate([]string{"person", "dog", "cat"}, truths, preds, 0.65)
	if q := r.Labels[0]; q.TP != 1 || q.FP != 1 || q.FN != 1 || q.Ignored != 1 || !near(q.Precision, 0.5) || !near(q.Recall, 0.5) ||
		!near(q.AP, (51+50*2.0/3)/101) || r.MinScore != 0.65 {
		t.Errorf("at 0.65: %+v", q)
	}
	if q := r.Labels[1]; q.TP != 0 || q.FP != 1 || q.FN != 1 || !near(q.AP, 0.5) {
		t.Errorf("dog at 0.65: %+v", q)
	}
}
