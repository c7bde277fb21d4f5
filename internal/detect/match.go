package detect

import "sort"

// Truth is a ground-truth box for Match. A detection that matches no
// other box but overlaps an Ignore box (a crowd, a hidden person) counts
// neither as right nor as wrong, and an Ignore box is never missed.
type Truth struct {
	Box    Box
	Ignore bool
}

// Outcome is what Match made of one detection.
type Outcome uint8

const (
	// FalsePositive is a detection that matched no box.
	FalsePositive Outcome = iota
	// TruePositive is a detection that took a box.
	TruePositive
	// Ignored is a detection that matched no box but overlaps an Ignore
	// box.
	Ignored
)

// Match matches one image's detections to its boxes greedily, as COCO's
// evaluation does: in descending score order each detection takes the
// unmatched box, not marked Ignore, it overlaps most with IoU at least
// iou; failing that it is Ignored if it overlaps an Ignore box by iou,
// else a FalsePositive. ds is reordered by descending score (stable) and
// outcome[i] is the outcome of the reordered ds[i]; missed counts the boxes
// not marked Ignore that no detection took.
func Match(gt []Truth, ds []Detection, iou float64) (outcome []Outcome, missed int) {
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Score > ds[j].Score })
	matched := make([]bool, len(gt))
	outcome = make([]Outcome, len(ds))
	for k, d := range ds {
		best, bestIoU, onIgnore := -1, 0.0, false
		for i, t := range gt {
			v := t.Box.IoU(d.Box)
			if v < iou {
				continue
			}
			if t.Ignore {
				onIgnore = true
				continue
			}
			if !matched[i] && v > bestIoU {
				best, bestIoU = i, v
			}
		}
		switch {
		case best >= 0:
			matched[best] = true
			outcome[k] = TruePositive
		case onIgnore:
			outcome[k] = Ignored
		default:
			outcome[k] = FalsePositive
		}
	}
	for i, t := range gt {
		if !t.Ignore && !matched[i] {
			missed++
		}
	}
	return outcome, missed
}
