package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const opencvData = "/usr/share/doc/opencv-doc/examples/data/"

// TestBenchDetect runs 'vigil bench detect' on the start of vtest.avi and on
// tree.avi with their ground truths: the stage costs are printed, the person
// boxes are written in the documented format and video pixels, and the
// score lines appear.
func TestBenchDetect(t *testing.T) {
	for _, f := range []string{"vtest.avi", "tree.avi"} {
		if _, err := os.Stat(opencvData + f); err != nil {
			t.Fatalf("test footage missing: install opencv-doc (apt-get install opencv-doc): %v", err)
		}
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "boxes.json")
	stdout, stderr, err := vigil(t, "bench", "detect", "--file", opencvData+"vtest.avi", "--frames", "50",
		"--truth", "../../testdata/groundtruth/vtest.json", "--json", out)
	if err != nil {
		t.Fatalf("bench detect: %v\n%s\n%s", err, stdout, stderr)
	}
	for _, want := range []string{"decode", "motion", "detect", "runs per CPU second", "precision", "recall", "events vs ground truth"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if m := regexp.MustCompile(`50 frames decoded, 25 through the pipeline`).FindString(stdout); m == "" {
		t.Errorf("frame counts:\n%s", stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var boxes map[string][][5]float64
	if err := json.Unmarshal(b, &boxes); err != nil {
		t.Fatalf("boxes file: %v\n%s", err, b)
	}
	if len(boxes) < 10 {
		t.Errorf("person boxes on %d frames of 25 with people walking", len(boxes))
	}
	for k, bs := range boxes {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= 50 || i%2 != 0 {
			t.Errorf("frame index %q: want the video's own even indices below 50", k)
		}
		for _, x := range bs {
			if x[0] < 0 || x[1] < 0 || x[0]+x[2] > 768.5 || x[1]+x[3] > 576.5 || x[2] <= 0 || x[3] <= x[2] || x[4] <= 0 || x[4] > 1 {
				t.Errorf("frame %s: box %v is not a person in video pixels with a score", k, x)
			}
		}
	}
	// Precision and recall on the frames scored (0, 20, 40).
	m := regexp.MustCompile(`precision ([0-9.]+), recall ([0-9.]+)`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no score line:\n%s", stdout)
	}
	if p, _ := strconv.ParseFloat(m[1], 64); p < 0.6 {
		t.Errorf("precision %s on the first frames", m[1])
	}
	if r, _ := strconv.ParseFloat(m[2], 64); r < 0.6 {
		t.Errorf("recall %s on the first frames", m[2])
	}

	// The person event overlaps the ground truth's, and no event is false.
	if m := regexp.MustCompile(`events vs ground truth: (\d+) of (\d+) found, (\d+) false`).FindStringSubmatch(stdout); m == nil || m[1] != m[2] || m[2] == "0" || m[3] != "0" {
		t.Errorf("events against the ground truth: %v\n%s", m, stdout)
	}

	// No people in tree.avi: no person box, no event.
	stdout, stderr, err = vigil(t, "bench", "detect", "--file", opencvData+"tree.avi",
		"--truth", "../../testdata/groundtruth/tree.json", "--json", out)
	if err != nil {
		t.Fatalf("bench detect tree: %v\n%s\n%s", err, stdout, stderr)
	}
	if b, _ := os.ReadFile(out); strings.TrimSpace(string(b)) != "{}" {
		t.Errorf("person boxes in tree.avi: %s", b)
	}
	if !strings.Contains(stdout, "events: 0 (0 with a person)") {
		t.Errorf("tree.avi events:\n%s", stdout)
	}

	if _, _, err := vigil(t, "bench", "detect"); err == nil {
		t.Error("bench detect without --file succeeded")
	}
}
