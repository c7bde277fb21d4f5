package groundtruth

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"vigil/internal/detect"
)

func person(x, y, w, h float64, score float64) detect.Detection {
	return detect.Detection{Label: "person", Score: score, Box: detect.Box{X: x, Y: y, W: w, H: h}}
}

func truth(frames map[int][]Person) *Truth {
	return &Truth{Video: "t", Width: 768, Height: 576, Frames: frames}
}

func TestScore(t *testing.T) {
	a := Person{Box: [4]float64{100, 100, 40, 100}}
	b := Person{Box: [4]float64{300, 200, 50, 120}}
	hid := Person{Box: [4]float64{500, 100, 30, 80}, Hidden: true}
	gt := truth(map[int][]Person{0: {a, b, hid}, 10: {a}, 20: {}})
	// A box shifted right by dx keeps IoU (w-dx)/(w+dx): for w=40,
	// dx=16 gives 24/56 = 0.43, dx=20 gives 20/60 = 0.33.
	tests := []struct {
		name  string
		preds map[int][]detect.Detection
		want  Counts
	}{
		{"nothing", nil, Counts{FN: 3}},
		{"perfect", map[int][]detect.Detection{
			0:  {person(100, 100, 40, 100, .9), person(300, 200, 50, 120, .8)},
			10: {person(100, 100, 40, 100, .9)},
		}, Counts{TP: 3}},
		{"shifted above threshold", map[int][]detect.Detection{
			10: {person(116, 100, 40, 100, .9)},
		}, Counts{TP: 1, FN: 2}},
		{"shifted below threshold", map[int][]detect.Detection{
			10: {person(120, 100, 40, 100, .9)},
		}, Counts{FP: 1, FN: 3}},
		{"duplicate is a false positive", map[int][]detect.Detection{
			10: {person(100, 100, 40, 100, .5), person(102, 100, 40, 100, .9)},
		}, Counts{TP: 1, FP: 1, FN: 2}},
		{"hidden is neither rewarded nor penalised", map[int][]detect.Detection{
			0: {person(500, 100, 30, 80, .9), person(502, 102, 30, 80, .8)},
		}, Counts{Ignored: 2, FN: 3}},
		{"empty frame counts false positives", map[int][]detect.Detection{
			20: {person(10, 10, 20, 40, .3)},
		}, Counts{FP: 1, FN: 3}},
		{"frames outside the ground truth are not scored", map[int][]detect.Detection{
			5: {person(10, 10, 20, 40, .3)},
		}, Counts{FN: 3}},
		{"other labels are not scored", map[int][]detect.Detection{
			10: {{Label: "car", Score: .9, Box: detect.Box{X: 100, Y: 100, W: 40, H: 100}}},
		}, Counts{FN: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Score(gt, tt.preds, 0.4)
			if r.Total != tt.want {
				t.Errorf("total %+v, want %+v", r.Total, tt.want)
			}
			if len(r.Frames) != 3 || r.Frames[0].Frame != 0 || r.Frames[1].Frame != 10 || r.Frames[2].Frame != 20 {
				t.Fatalf("frames %+v, want 0, 10, 20", r.Frames)
			}
			var sum Counts
			for _, f := range r.Frames {
				sum.add(f.Counts)
			}
			if sum != r.Total {
				t.Errorf("frames sum to %+v, total %+v", sum, r.Total)
			}
		})
	}
}

func TestScoreGreedyByScore(t *testing.T) {
	// Two overlapping people. The higher-scored prediction overlaps a
	// most and takes it even though the lower-scored one sits exactly on
	// a; that one then overlaps b by only 20/60 and is a false positive.
	a := Person{Box: [4]float64{100, 100, 40, 100}}
	b := Person{Box: [4]float64{120, 100, 40, 100}}
	gt := truth(map[int][]Person{0: {a, b}})
	preds := map[int][]detect.Detection{0: {person(100, 100, 40, 100, .4), person(106, 100, 40, 100, .9)}}
	r := Score(gt, preds, 0.4)
	if r.Total != (Counts{TP: 1, FP: 1, FN: 1}) {
		t.Errorf("total %+v, want 1 TP, 1 FP, 1 FN", r.Total)
	}
	if r.Total.Precision() != 0.5 || r.Total.Recall() != 0.5 {
		t.Errorf("precision %v recall %v", r.Total.Precision(), r.Total.Recall())
	}
	if preds[0][0].Score != .4 {
		t.Error("Score reordered the caller's predictions")
	}
}

func TestPrecisionRecall(t *testing.T) {
	c := Counts{TP: 3, FP: 1, FN: 2}
	if got := c.Precision(); math.Abs(got-0.75) > 1e-12 {
		t.Errorf("precision %v", got)
	}
	if got := c.Recall(); math.Abs(got-0.6) > 1e-12 {
		t.Errorf("recall %v", got)
	}
	if (Counts{}).Precision() != 1 || (Counts{}).Recall() != 1 {
		t.Error("empty counts should be perfect")
	}
}

func TestScoreEvents(t *testing.T) {
	gt := []Event{{"person", 0, 100}, {"person", 200, 300}}
	pred := []Event{
		{"person", 90, 120},  // overlaps the first
		{"person", 150, 180}, // overlaps nothing
		{"car", 250, 260},    // wrong label
	}
	r := ScoreEvents(gt, pred)
	if len(r.Found) != 2 || !r.Found[0] || r.Found[1] || r.Missed != 1 || r.False != 2 {
		t.Errorf("got %+v", r)
	}
	r = ScoreEvents(nil, []Event{{"person", 1, 2}})
	if r.False != 1 || r.Missed != 0 {
		t.Errorf("no ground truth: %+v", r)
	}
	r = ScoreEvents(gt, []Event{{"person", 100, 200}})
	if r.Missed != 0 || r.False != 0 {
		t.Errorf("one range touching both ends: %+v", r)
	}
}

func TestBenchRoundTrip(t *testing.T) {
	preds := map[int][]detect.Detection{
		3:  {person(1.5, 2, 30, 60, 0.75), {Label: "car", Score: 1, Box: detect.Box{W: 1, H: 1}}},
		40: {},
	}
	var buf bytes.Buffer
	if err := WriteBench(&buf, preds); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBench(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[3]) != 1 || len(got[40]) != 0 {
		t.Fatalf("got %+v", got)
	}
	if got[3][0] != person(1.5, 2, 30, 60, 0.75) {
		t.Errorf("got %+v", got[3][0])
	}
}

var badBench = []string{
	`[]`,
	`{"x": []}`,
	`{"-1": []}`,
	`{"99999999999": []}`,
	`{"1": [[1, 2, 3]]}`,
	`{"1": [[1, 2, 3, 4, 5, 6]]}`,
	`{"1": [[1, 2, -3, 4, 0.5]]}`,
	`{"1": [[1, 2, 3, 4, 1e999]]}`,
	`{"1": [], "01": []}`,
}

func TestReadBenchRejects(t *testing.T) {
	for _, s := range badBench {
		if _, err := ReadBench(strings.NewReader(s)); err == nil {
			t.Errorf("%s: accepted", s)
		}
	}
	big := strings.NewReader(`{"1": [` + strings.Repeat(`[1,1,1,1,1],`, MaxFileSize/10) + `]}`)
	if _, err := ReadBench(big); !errors.Is(err, ErrFormat) {
		t.Errorf("oversized file: %v", err)
	}
}

func FuzzReadBench(f *testing.F) {
	f.Add([]byte(`{"0": [[1, 2, 3, 4, 0.5]], "10": []}`))
	for _, s := range badBench {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		preds, err := ReadBench(bytes.NewReader(data))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteBench(&buf, preds); err != nil {
			t.Fatalf("write what was read: %v", err)
		}
		again, err := ReadBench(&buf)
		if err != nil || len(again) != len(preds) {
			t.Fatalf("round trip: %v, %d frames, want %d", err, len(again), len(preds))
		}
	})
}
