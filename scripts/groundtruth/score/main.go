// Command score prints how a detector's person boxes, in the bench's JSON
// format, compare with a ground truth:
//
//	go run ./scripts/groundtruth/score -gt testdata/groundtruth/vtest.json -pred out.json
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"vigil/internal/detect/groundtruth"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "score:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	gtPath := fs.String("gt", "testdata/groundtruth/vtest.json", "ground truth file")
	predPath := fs.String("pred", "", "predictions in the bench's format")
	iou := fs.Float64("iou", 0.4, "minimum IoU for a match")
	minScore := fs.Float64("min-score", 0, "ignore predictions scoring below this")
	if err := fs.Parse(args); err != nil {
		return err
	}
	gt, err := groundtruth.Load(*gtPath)
	if err != nil {
		return err
	}
	f, err := os.Open(*predPath)
	if err != nil {
		return err
	}
	defer f.Close()
	preds, err := groundtruth.ReadBench(f)
	if err != nil {
		return err
	}
	for k, ds := range preds {
		kept := ds[:0]
		for _, d := range ds {
			if d.Score >= *minScore {
				kept = append(kept, d)
			}
		}
		preds[k] = kept
	}
	r := groundtruth.Score(gt, preds, *iou)
	fmt.Fprintln(out, "frame\tTP\tFP\tFN\tignored")
	for _, fr := range r.Frames {
		fmt.Fprintf(out, "%d\t%d\t%d\t%d\t%d\n", fr.Frame, fr.TP, fr.FP, fr.FN, fr.Ignored)
	}
	t := r.Total
	fmt.Fprintf(out, "total\t%d\t%d\t%d\t%d\nprecision %.3f recall %.3f\n", t.TP, t.FP, t.FN, t.Ignored, t.Precision(), t.Recall())
	return nil
}
