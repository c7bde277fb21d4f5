package hubd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/detect"
	"vigil/internal/detect/faces"
	"vigil/internal/live"
	"vigil/internal/vigiltest"
)

// TestRedactThroughHub: a member's clip with faces in it (two seconds of
// Megamind.avi), sent over the member's live session to its hub, comes
// back as an H.264 MP4 of the same length in which pigo finds no face,
// with the hub's report counting faces; a file that is not a video gets
// the hub's reason; the hub's log names no frame and keeps the clip
// nowhere.
func TestRedactThroughHub(t *testing.T) {
	t.Parallel()
	vigiltest.RequireTool(t, "ffmpeg", "ffmpeg")
	src := "/usr/share/doc/opencv-doc/examples/data/Megamind.avi"
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("the test footage is missing (install opencv-doc: scripts/deps.sh): %v", err)
	}
	clipPath := filepath.Join(t.TempDir(), "clip.mp4")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", src, "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-an", clipPath).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	clip, err := os.ReadFile(clipPath)
	if err != nil {
		t.Fatal(err)
	}

	cl := startCloud(t)
	m := newMember(t, cl.url())
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "yard")
	cfg := pairedConfig(t, cl, "yard", cam.URL("yard"))
	if _, hubErr, memberErr := pair(t, cl.url(), cfg.Data, m); hubErr != nil || memberErr != nil {
		t.Fatalf("pairing: hub %v, member %v", hubErr, memberErr)
	}
	logs := &lockedBuffer{}
	startHub(t, cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	w := channelWatch(t, cl, m, "yard", func(c *live.ViewerConfig) { c.Redact = true })

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	progress := 0
	out, rep, err := w.Redact(ctx, clip, false, func(int, int) { progress++ })
	if err != nil {
		t.Fatal(err)
	}
	var r redactReport
	if err := json.Unmarshal(rep, &r); err != nil {
		t.Fatalf("report %s: %v", rep, err)
	}
	if r.Frames < 40 || r.Faces == 0 || r.FaceFrames == 0 || r.AudioKept {
		t.Errorf("report %+v: want the clip's frames, faces found, no sound", r)
	}
	if bytes.Equal(out, clip) {
		t.Fatal("the hub sent the clip back unchanged")
	}
	red := filepath.Join(t.TempDir(), "red.mp4")
	if err := os.WriteFile(red, out, 0o600); err != nil {
		t.Fatal(err)
	}
	before, after := faceFrames(t, clipPath), faceFrames(t, red)
	t.Logf("pigo finds a face in %d frames of the clip and %d of its redaction (%d frames, %d progress reports)", before, after, r.Frames, progress)
	if before < 20 || after != 0 {
		t.Errorf("faces in %d frames before and %d after redaction, want many and none", before, after)
	}

	if _, _, err := w.Redact(ctx, []byte("this is not a video at all"), false, nil); err == nil || !strings.Contains(err.Error(), "no video the hub can read") {
		t.Errorf("a file that is not a video: %v", err)
	}
	if s := logs.String(); strings.Contains(s, "Megamind") || strings.Contains(s, "clip.mp4") {
		t.Error("the hub's log names the member's file")
	}
}

// faceFrames counts the frames of an MP4 in which pigo finds a face.
func faceFrames(t *testing.T, path string) int {
	t.Helper()
	fd, err := faces.New(faces.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-")
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	probe, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var wd, ht int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(probe)), "%d,%d", &wd, &ht); err != nil {
		t.Fatalf("ffprobe %q: %v", probe, err)
	}
	n := 0
	size := wd * ht * 3
	for off := 0; off+size <= len(raw); off += size {
		img := &detect.RGB{W: wd, H: ht, Pix: raw[off : off+size]}
		ds, err := fd.Detect(context.Background(), img)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.Score >= 0.5 {
				n++
				break
			}
		}
	}
	return n
}
