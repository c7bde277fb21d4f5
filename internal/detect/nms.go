package detect

import "sort"

// NMS keeps, per label, the highest-scoring detections and drops any that
// overlaps a kept one of the same label by more than iou. The result is
// sorted by score, highest first; ds is reordered.
func NMS(ds []Detection, iou float64) []Detection {
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Score > ds[j].Score })
	kept := ds[:0:0]
	for _, d := range ds {
		ok := true
		for _, k := range kept {
			if k.Label == d.Label && k.Box.IoU(d.Box) > iou {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, d)
		}
	}
	return kept
}

// Strongest keeps the n highest-scoring detections (all when there are no
// more), so that a model or server reporting thousands of boxes costs NMS a
// bounded time; ds is reordered.
func Strongest(ds []Detection, n int) []Detection {
	if len(ds) <= n {
		return ds
	}
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Score > ds[j].Score })
	return ds[:n:n]
}

// Filter is a per-label acceptance rule: a detection passes when its score,
// area (in pixels of the frame) and width/height ratio are inside the
// bounds; zero bounds are not checked.
type Filter struct {
	MinScore float64
	MinArea  float64
	MaxArea  float64
	MinRatio float64
	MaxRatio float64
}

// Pass reports whether d meets f.
func (f Filter) Pass(d Detection) bool {
	if d.Score < f.MinScore {
		return false
	}
	a, r := d.Box.Area(), d.Box.Ratio()
	if f.MinArea > 0 && a < f.MinArea || f.MaxArea > 0 && a > f.MaxArea {
		return false
	}
	if f.MinRatio > 0 && r < f.MinRatio || f.MaxRatio > 0 && r > f.MaxRatio {
		return false
	}
	return true
}
