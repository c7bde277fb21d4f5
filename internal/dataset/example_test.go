package dataset_test

import (
	"fmt"
	"os"

	"vigil/internal/dataset"
)

// An annotator's payload (testdata/annotation-v1.json, the vector the web
// app's annotator pages are checked against) parsed against schema
// version 1, and its boxes at a few frames: interpolated between keyframes,
// held after the last box before an outside keyframe, gone from it.
func ExampleParseAnnotation() {
	data, err := os.ReadFile("testdata/annotation-v1.json")
	if err != nil {
		panic(err)
	}
	a, err := dataset.ParseAnnotation(data, dataset.DefaultSchema())
	if err != nil {
		panic(err)
	}
	for _, f := range []int{0, 5, 15, 20, 40, 794} {
		for _, b := range a.Boxes(f) {
			fmt.Printf("frame %d: track %d %s [%g %g %g %g] keyframe=%v occluded=%v\n", f, b.Track, b.Label, b.X, b.Y, b.W, b.H, b.Keyframe, b.Occluded)
		}
	}
	// Output:
	// frame 0: track 1 person [252 222 30 86] keyframe=true occluded=false
	// frame 5: track 1 person [257 217 35 91] keyframe=false occluded=false
	// frame 5: track 2 dog [600 400 100 60] keyframe=true occluded=false
	// frame 15: track 1 person [262 212 40 96] keyframe=false occluded=true
	// frame 15: track 2 dog [600 400 100 60] keyframe=false occluded=false
	// frame 20: track 2 dog [600 400 100 60] keyframe=false occluded=false
	// frame 40: track 1 person [300 200 30 80] keyframe=true occluded=false
	// frame 40: track 2 dog [600 400 100 60] keyframe=false occluded=false
	// frame 794: track 1 person [300 200 30 80] keyframe=false occluded=false
	// frame 794: track 2 dog [600 400 100 60] keyframe=false occluded=false
}
