// Package facestest counts the frames of a video in which pigo
// (internal/detect/faces) finds a face, for the tests that check a clip
// was blurred (a donation, a redacted share, `vigil donation give`).
//
// What it owns: decoding a test's video with ffmpeg and counting. What it
// must never do: serve product code (only tests import it).
package facestest

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"vigil/internal/detect"
	"vigil/internal/detect/faces"
)

// Frames counts the frames of the video at path in which pigo finds a face
// with a score of at least 0.5. It fails the test when ffprobe or ffmpeg
// cannot read the video.
func Frames(t testing.TB, path string) int {
	t.Helper()
	fd, err := faces.New(faces.Options{})
	if err != nil {
		t.Fatal(err)
	}
	probe, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var wd, ht int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(probe)), "%d,%d", &wd, &ht); err != nil {
		t.Fatalf("ffprobe %q: %v", probe, err)
	}
	raw, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-").Output()
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	n, size := 0, wd*ht*3
	for off := 0; off+size <= len(raw); off += size {
		ds, err := fd.Detect(context.Background(), &detect.RGB{W: wd, H: ht, Pix: raw[off : off+size]})
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(ds, func(d detect.Detection) bool { return d.Score >= 0.5 }) {
			n++
		}
	}
	return n
}
