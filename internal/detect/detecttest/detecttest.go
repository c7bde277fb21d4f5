// Package detecttest gives the detection packages' tests the real test
// footage (opencv-doc's sample videos) as frames. It is for tests only; a
// missing tool or file fails the test with the line that installs it.
package detecttest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"vigil/internal/detect"
)

// Footage is where opencv-doc installs its sample videos.
const Footage = "/usr/share/doc/opencv-doc/examples/data"

// Frame decodes frame n (from 0, in decode order) of a video in Footage,
// which is w x h, to RGB with ffmpeg.
func Frame(t testing.TB, video string, n, w, h int) *detect.RGB {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Fatal("ffmpeg is needed to decode test footage: install it (apt-get install ffmpeg)")
	}
	path := filepath.Join(Footage, video)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("test footage missing: %v (install opencv-doc: apt-get install opencv-doc)", err)
	}
	var out, errb bytes.Buffer
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", path, "-vf", fmt.Sprintf("select=eq(n\\,%d)", n),
		"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, errb.String())
	}
	if out.Len() != w*h*3 {
		t.Fatalf("frame %d of %s: %d bytes, want %dx%dx3", n, video, out.Len(), w, h)
	}
	return &detect.RGB{W: w, H: h, Pix: out.Bytes()}
}
