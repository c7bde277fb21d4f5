package groundtruth

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// dir is the repository's testdata/groundtruth.
var dir = filepath.Join("..", "..", "..", "testdata", "groundtruth")

func TestVtest(t *testing.T) {
	gt, err := Load(filepath.Join(dir, "vtest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if gt.Video != "vtest.avi" || gt.Width != 768 || gt.Height != 576 {
		t.Errorf("video %q %dx%d", gt.Video, gt.Width, gt.Height)
	}
	ks := gt.FrameIndices()
	if len(ks) < 20 {
		t.Fatalf("%d frames, want 20 or more", len(ks))
	}
	if ks[0] > 100 || ks[len(ks)-1] < 700 || ks[len(ks)-1] >= 795 {
		t.Errorf("frames %v do not span the 795-frame clip", ks)
	}
	typical := 0
	for _, k := range ks {
		visible := 0
		for _, p := range gt.Frames[k] {
			// People in vtest are 36 to 150 pixels tall, upright.
			h := p.Box[3]
			if !p.Hidden && (h < 30 || h > 170 || p.Box[2] > h) {
				t.Errorf("frame %d: visible box %v is not a person's shape", k, p.Box)
			}
			if !p.Hidden {
				visible++
			}
		}
		if visible >= 3 && visible <= 9 {
			typical++
		}
	}
	if typical*4 < len(ks)*3 {
		t.Errorf("only %d of %d frames hold 3 to 9 visible people", typical, len(ks))
	}
	if len(gt.Events) != 1 || gt.Events[0].Label != "person" || gt.Events[0].FromFrame > 10 || gt.Events[0].ToFrame < 780 {
		t.Errorf("events %+v, want one person event over the whole clip", gt.Events)
	}
	for _, e := range gt.Events {
		for _, k := range ks {
			if len(gt.Frames[k]) > 0 && (k < e.FromFrame || k > e.ToFrame) {
				t.Errorf("frame %d holds people outside the event %+v", k, e)
			}
		}
	}
}

func TestTree(t *testing.T) {
	gt, err := Load(filepath.Join(dir, "tree.json"))
	if err != nil {
		t.Fatal(err)
	}
	if gt.Video != "tree.avi" || len(gt.Frames) < 5 || len(gt.Events) != 0 {
		t.Errorf("tree: %q, %d frames, events %+v", gt.Video, len(gt.Frames), gt.Events)
	}
	for k, ps := range gt.Frames {
		if len(ps) != 0 {
			t.Errorf("frame %d: %d people in a clip without people", k, len(ps))
		}
	}
}

// TestFramesMatchVideo checks the ground truth against the footage: each
// frame index exists and the frame size is the video's.
func TestFramesMatchVideo(t *testing.T) {
	const video = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
	if _, err := os.Stat(video); err != nil {
		t.Fatalf("%v: install Debian's opencv-doc package", err)
	}
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Fatalf("ffprobe not found: install ffmpeg")
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
		"-show_entries", "stream=width,height,nb_read_frames", "-of", "csv=p=0", video).Output()
	if err != nil {
		t.Fatal(err)
	}
	gt, err := Load(filepath.Join(dir, "vtest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var w, h, n int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "%d,%d,%d", &w, &h, &n); err != nil {
		t.Fatalf("ffprobe said %q: %v", out, err)
	}
	if w != gt.Width || h != gt.Height {
		t.Errorf("video is %dx%d, ground truth says %dx%d", w, h, gt.Width, gt.Height)
	}
	if ks := gt.FrameIndices(); ks[len(ks)-1] >= n {
		t.Errorf("frame %d is past the video's %d frames", ks[len(ks)-1], n)
	}
}

var badTruth = []string{
	`{"video": "v", "width": 0, "height": 576}`,
	`{"video": "v", "width": 768, "height": 576, "frames": {"-1": []}}`,
	`{"video": "v", "width": 768, "height": 576, "frames": {"x": []}}`,
	`{"video": "v", "width": 768, "height": 576, "frames": {"1": [{"box": [760, 10, 20, 40]}]}}`,
	`{"video": "v", "width": 768, "height": 576, "frames": {"1": [{"box": [-1, 10, 20, 40]}]}}`,
	`{"video": "v", "width": 768, "height": 576, "frames": {"1": [{"box": [1, 10, 0, 40]}]}}`,
	`{"video": "v", "width": 768, "height": 576, "frames": {"1": [{"box": [1, 10, 1e999, 40]}]}}`,
	`{"video": "v", "width": 768, "height": 576, "events": [{"label": "", "from_frame": 1, "to_frame": 2}]}`,
	`{"video": "v", "width": 768, "height": 576, "events": [{"label": "person", "from_frame": 3, "to_frame": 2}]}`,
	`{"video": "v", "width": 768, "height": 576, "frames": [`,
	`{"video": "v", "width": 768, "height": 576, "frames": {"1": [{"box": [1, 10, 20, 40], "hiden": true}]}}`,
	`{"video": "v", "width": 768, "height": 576} {}`,
	`{"video": "v", "width": 768, "height": 576, "frames": {"1": [{"box": [1, 10, 20, 40, 5]}]}}`,
	`{"video": "v", "width": 768, "height": 576, "frames": {"1": [{"box": [1, 10, 20]}]}}`,
}

func TestParseRejects(t *testing.T) {
	for _, s := range badTruth {
		if _, err := Parse([]byte(s)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", s, err)
		}
	}
	ok := `{"video": "v", "width": 768, "height": 576, "frames": {"7": [{"box": [748, 536, 20, 40], "hidden": true}]},
		"events": [{"label": "person", "from_frame": 0, "to_frame": 7}]}`
	gt, err := Parse([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if len(gt.Frames[7]) != 1 || !gt.Frames[7][0].Hidden || gt.Events[0].ToFrame != 7 {
		t.Errorf("parsed %+v", gt)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range badTruth {
		f.Add([]byte(s))
	}
	if data, err := os.ReadFile(filepath.Join(dir, "tree.json")); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		gt, err := Parse(data)
		if err != nil {
			return
		}
		for k, ps := range gt.Frames {
			for _, p := range ps {
				b := p.Rect()
				if b.X < 0 || b.Y < 0 || b.X+b.W > float64(gt.Width) || b.Y+b.H > float64(gt.Height) || b.Area() <= 0 {
					t.Fatalf("frame %d: accepted box %v", k, p.Box)
				}
			}
		}
		Score(gt, nil, 0.4)
	})
}
