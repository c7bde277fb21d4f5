package groundtruth

import "vigil/internal/detect"

// Counts are true positives, false positives and false negatives; Ignored
// counts predictions that landed on hidden people.
type Counts struct {
	TP, FP, FN, Ignored int
}

// Precision is TP/(TP+FP), or 1 when nothing was predicted.
func (c Counts) Precision() float64 {
	if c.TP+c.FP == 0 {
		return 1
	}
	return float64(c.TP) / float64(c.TP+c.FP)
}

// Recall is TP/(TP+FN), or 1 when there was nobody to find.
func (c Counts) Recall() float64 {
	if c.TP+c.FN == 0 {
		return 1
	}
	return float64(c.TP) / float64(c.TP+c.FN)
}

func (c *Counts) add(o Counts) {
	c.TP += o.TP
	c.FP += o.FP
	c.FN += o.FN
	c.Ignored += o.Ignored
}

// FrameResult is one scored frame.
type FrameResult struct {
	Frame int
	Counts
}

// Result is a detector's score over a ground truth's frames.
type Result struct {
	// Frames holds one entry per ground-truth frame, in ascending order.
	Frames []FrameResult
	// Total sums Frames.
	Total Counts
}

// Score matches preds (frame index -> detections) against gt's person
// boxes with IoU at least iou, as the package doc describes. Only frames
// present in gt are scored; predictions for other frames and predictions
// not labelled "person" are left out. preds is not modified.
func Score(gt *Truth, preds map[int][]detect.Detection, iou float64) Result {
	var r Result
	for _, k := range gt.FrameIndices() {
		c := scoreFrame(gt.Frames[k], preds[k], iou)
		r.Frames = append(r.Frames, FrameResult{Frame: k, Counts: c})
		r.Total.add(c)
	}
	return r
}

func scoreFrame(gt []Person, preds []detect.Detection, iou float64) Counts {
	ps := make([]detect.Detection, 0, len(preds))
	for _, d := range preds {
		if d.Label == "person" {
			ps = append(ps, d)
		}
	}
	boxes := make([]detect.Truth, len(gt))
	for i, g := range gt {
		boxes[i] = detect.Truth{Box: g.Rect(), Ignore: g.Hidden}
	}
	outcome, missed := detect.Match(boxes, ps, iou)
	c := Counts{FN: missed}
	for _, o := range outcome {
		switch o {
		case detect.TruePositive:
			c.TP++
		case detect.Ignored:
			c.Ignored++
		default:
			c.FP++
		}
	}
	return c
}

// EventResult compares predicted events with a ground truth's.
type EventResult struct {
	// Found holds, for each ground-truth event in order, whether a
	// predicted event of its label overlaps it.
	Found []bool
	// Missed counts ground-truth events no prediction overlaps.
	Missed int
	// False counts predicted events that overlap no ground-truth event of
	// their label.
	False int
}

// ScoreEvents compares predicted event ranges with the ground truth's.
func ScoreEvents(gt, pred []Event) EventResult {
	r := EventResult{Found: make([]bool, len(gt))}
	for i, g := range gt {
		for _, p := range pred {
			if g.Overlaps(p) {
				r.Found[i] = true
				break
			}
		}
		if !r.Found[i] {
			r.Missed++
		}
	}
	for _, p := range pred {
		hit := false
		for _, g := range gt {
			if g.Overlaps(p) {
				hit = true
				break
			}
		}
		if !hit {
			r.False++
		}
	}
	return r
}
