package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vigil/internal/config"
)

// TestHubInitAsks answers 'vigil hub init' on its standard input: the data
// directory, two cameras and a cloud; the file it writes loads with them.
func TestHubInitAsks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.yaml")
	answers := strings.Join([]string{
		"",      // data directory: keep --data
		"front", // first camera
		"rtsp://user:pw@192.0.2.20/stream1",
		"garage",
		"rtsp://192.0.2.21/live",
		"", // no more cameras
		"https://cloud.example.com",
	}, "\n") + "\n"
	var out, errs bytes.Buffer
	code := run(context.Background(), []string{"hub", "init", "--config", path, "--data", filepath.Join(dir, "d"), "--discover", "0", "--no-pair"},
		strings.NewReader(answers), &out, &errs)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errs.String())
	}
	for _, q := range []string{"data directory [" + filepath.Join(dir, "d") + "]", "camera name", "its RTSP URL", "cloud URL"} {
		if !strings.Contains(out.String(), q) {
			t.Errorf("did not ask %q:\n%s", q, out.String())
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Data != filepath.Join(dir, "d") || len(cfg.Cameras) != 2 || cfg.Cameras[0].Name != "front" ||
		cfg.Cameras[1].URL != "rtsp://192.0.2.21/live" || cfg.Cloud == nil || cfg.Cloud.URL != "https://cloud.example.com" {
		t.Fatalf("wrote %+v", cfg)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 (camera passwords)", st.Mode().Perm())
	}
	if strings.Contains(out.String()+errs.String(), "user:pw") {
		t.Error("printed a camera's password")
	}

	// Answers that run out fail without writing anything.
	path2 := filepath.Join(dir, "hub2.yaml")
	out.Reset()
	errs.Reset()
	code = run(context.Background(), []string{"hub", "init", "--config", path2, "--discover", "0"}, strings.NewReader("\nfront\n"), &out, &errs)
	if code != 1 || !strings.Contains(errs.String(), "no answer") {
		t.Fatalf("exit %d, stderr %q; want 1 and 'no answer'", code, errs.String())
	}
	if _, err := os.Stat(path2); !os.IsNotExist(err) {
		t.Fatalf("wrote %s after a failure: %v", path2, err)
	}
}
