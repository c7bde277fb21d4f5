// Package eval scores a detector on an exported dataset (package dataset):
// it runs the detector on every image of the dataset's COCO file and
// reports, per label and overall, precision, recall and average precision
// at IoU 0.5.
//
// Matching follows COCO's evaluation (pycocotools' COCOeval at IoU 0.5):
// per image and label, detections in descending score order each take the
// unmatched ground-truth box they overlap most, with IoU at least 0.5; a
// detection that matches no box but overlaps a crowd box (iscrowd 1: an
// occluded object) by 0.5 is ignored; any other detection is a false
// positive; boxes left unmatched are false negatives. AP is COCO's
// 101-point interpolated AP over every detection the detector reported:
// precision made non-increasing in recall, sampled at recall 0, 0.01, ...,
// 1 and averaged. Precision, recall and the counts are those of the
// detections scoring at least a threshold (the operating point, e.g. the
// hub's 0.4), matched again on their own. Only labels of the dataset's categories are scored;
// detections of other labels are left out.
//
// Images come from the dataset directory and are decoded in memory; the
// package never writes or logs a frame or a box.
package eval

import (
	"context"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"vigil/internal/dataset"
	"vigil/internal/dataset/coco"
	"vigil/internal/detect"
)

// IoU is the overlap at which a detection matches a box.
const IoU = 0.5

// Truth is one ground-truth box.
type Truth struct {
	Label string
	Box   detect.Box
	Crowd bool
}

// Score is one label's (or the overall) result. Precision is nil when
// nothing was detected, Recall and AP nil when there was nothing to find.
type Score struct {
	Label     string   `json:"label"`
	Truths    int      `json:"truths"`
	TP        int      `json:"tp"`
	FP        int      `json:"fp"`
	FN        int      `json:"fn"`
	Ignored   int      `json:"ignored"`
	Precision *float64 `json:"precision"`
	Recall    *float64 `json:"recall"`
	AP        *float64 `json:"ap"`
}

// Result is a detector's score on a dataset.
type Result struct {
	Dataset string  `json:"dataset"`
	Version int     `json:"version"`
	Images  int     `json:"images"`
	IoU     float64 `json:"iou"`
	// MinScore is the threshold of the counts, precision and recall.
	MinScore float64 `json:"min_score"`
	// Labels holds one score per category, in the dataset's order.
	Labels []Score `json:"labels"`
	// Overall sums the counts of every label; its AP is the mean of the
	// labels' APs (mAP@0.5 over the labels with boxes).
	Overall Score `json:"overall"`
}

// detection is one scored detection for the AP curve.
type detection struct {
	score float64
	tp    bool
}

// Evaluate scores preds against truths, both keyed by image, for the
// given labels: AP over all of preds, the counts over those scoring at
// least minScore.
func Evaluate(labels []string, truths map[int64][]Truth, preds map[int64][]detect.Detection, minScore float64) Result {
	r := Result{IoU: IoU, Images: len(truths), MinScore: minScore}
	ids := make([]int64, 0, len(truths))
	for id := range truths {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var aps []float64
	total := Score{Label: "all"}
	for _, l := range labels {
		s := Score{Label: l}
		var dets []detection
		for _, id := range ids {
			var gt []Truth
			for _, t := range truths[id] {
				if t.Label == l {
					gt = append(gt, t)
				}
			}
			var ps, kept []detect.Detection
			for _, d := range preds[id] {
				if d.Label == l {
					ps = append(ps, d)
					if d.Score >= minScore {
						kept = append(kept, d)
					}
				}
			}
			var all Score
			dets = append(dets, match(gt, ps, &all)...)
			match(gt, kept, &s)
		}
		finish(&s)
		if s.Truths > 0 {
			ap := averagePrecision(dets, s.Truths)
			s.AP = &ap
			aps = append(aps, ap)
		}
		r.Labels = append(r.Labels, s)
		total.Truths += s.Truths
		total.TP += s.TP
		total.FP += s.FP
		total.FN += s.FN
		total.Ignored += s.Ignored
	}
	finish(&total)
	if len(aps) > 0 {
		m := 0.0
		for _, ap := range aps {
			m += ap
		}
		m /= float64(len(aps))
		total.AP = &m
	}
	r.Overall = total
	return r
}

// match matches one image's detections of one label to its boxes, counts
// into s and returns the scored detections (ignored ones left out). ps is
// reordered by descending score.
func match(gt []Truth, ps []detect.Detection, s *Score) []detection {
	boxes := make([]detect.Truth, len(gt))
	for i, t := range gt {
		boxes[i] = detect.Truth{Box: t.Box, Ignore: t.Crowd}
		if !t.Crowd {
			s.Truths++
		}
	}
	outcome, missed := detect.Match(boxes, ps, IoU)
	var out []detection
	for i, d := range ps {
		switch outcome[i] {
		case detect.TruePositive:
			s.TP++
			out = append(out, detection{d.Score, true})
		case detect.Ignored:
			s.Ignored++
		default:
			s.FP++
			out = append(out, detection{d.Score, false})
		}
	}
	s.FN += missed
	return out
}

func finish(s *Score) {
	if s.TP+s.FP > 0 {
		p := float64(s.TP) / float64(s.TP+s.FP)
		s.Precision = &p
	}
	if s.Truths > 0 {
		r := float64(s.TP) / float64(s.Truths)
		s.Recall = &r
	}
}

// averagePrecision is COCO's 101-point interpolated AP of dets against n
// boxes.
func averagePrecision(dets []detection, n int) float64 {
	sort.SliceStable(dets, func(i, j int) bool { return dets[i].score > dets[j].score })
	prec := make([]float64, len(dets))
	rec := make([]float64, len(dets))
	tp, fp := 0, 0
	for i, d := range dets {
		if d.tp {
			tp++
		} else {
			fp++
		}
		prec[i] = float64(tp) / float64(tp+fp)
		rec[i] = float64(tp) / float64(n)
	}
	for i := len(prec) - 2; i >= 0; i-- {
		prec[i] = max(prec[i], prec[i+1])
	}
	sum := 0.0
	for k := 0; k <= 100; k++ {
		r := float64(k) / 100
		i := sort.SearchFloat64s(rec, r)
		if i < len(prec) {
			sum += prec[i]
		}
	}
	return sum / 101
}

// Truths returns a COCO file's boxes by image id, with the label of their
// category.
func Truths(f *coco.File) map[int64][]Truth {
	names := map[int64]string{}
	for _, c := range f.Categories {
		names[c.ID] = c.Name
	}
	out := make(map[int64][]Truth, len(f.Images))
	for _, im := range f.Images {
		out[im.ID] = nil
	}
	for _, a := range f.Annotations {
		b := a.BBox
		out[a.ImageID] = append(out[a.ImageID], Truth{Label: names[a.CategoryID], Box: detect.Box{X: b[0], Y: b[1], W: b[2], H: b[3]}, Crowd: a.IsCrowd == 1})
	}
	return out
}

// Run validates the dataset at dir (dataset.Validate), runs d on each of
// its images and scores it (Evaluate with minScore). progress, when not nil, is called after each
// image with the count done and the total.
func Run(ctx context.Context, dir string, d detect.Detector, minScore float64, progress func(done, total int)) (Result, error) {
	if err := dataset.Validate(dir); err != nil {
		return Result{}, err
	}
	m, err := dataset.ReadManifest(dir)
	if err != nil {
		return Result{}, err
	}
	f, err := dataset.ReadCOCO(dir)
	if err != nil {
		return Result{}, err
	}
	preds := make(map[int64][]detect.Detection, len(f.Images))
	for i, im := range f.Images {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		img, err := readRGB(filepath.Join(dir, dataset.ImagesDir, im.FileName))
		if err != nil {
			return Result{}, err
		}
		ds, err := d.Detect(ctx, img)
		if err != nil {
			return Result{}, fmt.Errorf("image %s: %w", im.FileName, err)
		}
		preds[im.ID] = ds
		if progress != nil {
			progress(i+1, len(f.Images))
		}
	}
	labels := make([]string, len(f.Categories))
	for i, c := range f.Categories {
		labels[i] = c.Name
	}
	r := Evaluate(labels, Truths(f), preds, minScore)
	r.Dataset, r.Version = dir, m.Version
	return r, nil
}

// readRGB decodes a JPEG into an RGB frame.
func readRGB(p string) (*detect.RGB, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	c, err := jpeg.DecodeConfig(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	out, err := detect.NewRGB(c.Width, c.Height)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if _, err := fh.Seek(0, 0); err != nil {
		return nil, err
	}
	m, err := jpeg.Decode(fh)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	b := m.Bounds()
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := m.At(x, y).RGBA()
			out.Pix[i], out.Pix[i+1], out.Pix[i+2] = uint8(r>>8), uint8(g>>8), uint8(bl>>8)
			i += 3
		}
	}
	return out, nil
}
