package groundtruth_test

import (
	"fmt"
	"strings"

	"vigil/internal/detect/groundtruth"
)

func ExampleScore() {
	gt, err := groundtruth.Parse([]byte(`{"video": "v", "width": 768, "height": 576,
		"frames": {"0": [{"box": [100, 100, 40, 100]}, {"box": [300, 100, 40, 100]},
		                 {"box": [700, 100, 68, 100], "hidden": true}]}}`))
	if err != nil {
		panic(err)
	}
	preds, err := groundtruth.ReadBench(strings.NewReader(
		`{"0": [[102, 98, 40, 104, 0.9], [500, 300, 30, 80, 0.6], [710, 100, 58, 100, 0.5]]}`))
	if err != nil {
		panic(err)
	}
	r := groundtruth.Score(gt, preds, 0.4)
	fmt.Printf("TP %d FP %d FN %d ignored %d\n", r.Total.TP, r.Total.FP, r.Total.FN, r.Total.Ignored)
	fmt.Printf("precision %.2f recall %.2f\n", r.Total.Precision(), r.Total.Recall())
	// Output:
	// TP 1 FP 1 FN 1 ignored 1
	// precision 0.50 recall 0.50
}
