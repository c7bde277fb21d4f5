// Package datasettest gives the tests of datasets and their evaluation a
// donated clip made from real footage: opencv-doc's vtest.avi (people
// walking) re-encoded to MP4 as a redacted clip would be, and an accepted
// annotation of it whose boxes are the hand-checked ground truth of
// internal/detect/groundtruth (testdata/groundtruth/vtest.json), so that a
// detector's score on the exported dataset means something. It is for
// tests only; a missing tool or file fails the test with the line that
// installs it.
package datasettest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"vigil/internal/dataset"
	"vigil/internal/detect/groundtruth"
)

// Footage is where opencv-doc installs vtest.avi.
const Footage = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"

// The clip's geometry.
const (
	Width, Height, Frames, FPS = 768, 576, 795, 10
)

// Root returns the repository's root (the directory holding go.mod).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("datasettest: no go.mod above the test's directory")
		}
		dir = up
	}
}

// Truth loads the ground truth of vtest.avi.
func Truth(t testing.TB) *groundtruth.Truth {
	t.Helper()
	gt, err := groundtruth.Load(filepath.Join(Root(t), "testdata", "groundtruth", "vtest.json"))
	if err != nil {
		t.Fatal(err)
	}
	return gt
}

// Clip writes vtest.avi re-encoded as H.264 in MP4 (every frame kept) to
// dir and returns its path.
func Clip(t testing.TB, dir string) string {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is needed: install it (apt-get install ffmpeg)")
	}
	if _, err := os.Stat(Footage); err != nil {
		t.Fatalf("test footage missing: %v (install opencv-doc: apt-get install opencv-doc)", err)
	}
	out := filepath.Join(dir, "vtest-redacted.mp4")
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", Footage, "-an", "-c:v", "libx264", "-preset", "ultrafast",
		"-crf", "18", "-pix_fmt", "yuv420p", "-fps_mode", "passthrough", "-threads", "1", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	return out
}

// Annotation returns an accepted annotation of the clip: every person of
// the ground truth is a track with one keyframe at its frame (occluded
// when the ground truth calls it hidden) and an outside keyframe at the
// next frame, so the exported frames are exactly the ground truth's frames
// that have someone in them, with exactly its boxes.
func Annotation(t testing.TB, clip string) *dataset.Annotation {
	t.Helper()
	gt := Truth(t)
	a := &dataset.Annotation{
		Format: dataset.AnnotationFormat, Version: dataset.AnnotationVersion, Clip: clip,
		FPS: FPS, Width: gt.Width, Height: gt.Height, Frames: Frames, SchemaVersion: dataset.DefaultSchema().Version,
		Annotator: "annotator-1", Review: dataset.Review{State: dataset.Accepted, Reviewer: "reviewer-1"},
	}
	frames := gt.FrameIndices()
	slices.Sort(frames)
	for _, k := range frames {
		for _, p := range gt.Frames[k] {
			box := dataset.Rect(p.Box)
			kfs := []dataset.Keyframe{{Frame: k, Box: &box, Occluded: p.Hidden}}
			if k+1 < Frames {
				kfs = append(kfs, dataset.Keyframe{Frame: k + 1, Outside: true})
			}
			a.Tracks = append(a.Tracks, dataset.Track{ID: len(a.Tracks) + 1, Label: "person", Keyframes: kfs})
		}
	}
	if err := a.Check(dataset.DefaultSchema()); err != nil {
		t.Fatal(err)
	}
	return a
}

// Lineage returns a lineage for the clip's donation: made-up identifiers
// and consent digest, the annotation's people.
func Lineage(donation string) dataset.Lineage {
	return dataset.Lineage{
		Donation: donation, Consent: "consent-" + donation, Household: "household-1",
		ConsentDigest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	}
}

// SmallClip writes a w x h H.264 MP4 of n frames of ffmpeg's test pattern
// at 10 fps to dir and returns its path.
func SmallClip(t testing.TB, dir string, w, h, n int) string {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("small-%dx%d-%d.mp4", w, h, n))
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=%dx%d:rate=10", w, h),
		"-frames:v", fmt.Sprint(n), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-threads", "1", p)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	return p
}
