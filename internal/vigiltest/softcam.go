package vigiltest

import (
	"context"
	"os"
	"testing"

	"vigil/internal/softcam"
)

// StartCamera serves the software camera's default footage on the given
// RTSP paths at listen (e.g. "127.0.0.1:0"); it is closed when the test
// ends. It needs ffmpeg and the footage, and fails naming the fix.
func StartCamera(t testing.TB, listen string, paths ...string) *softcam.Server {
	t.Helper()
	RequireTool(t, "ffmpeg", "ffmpeg")
	if _, err := os.Stat(softcam.DefaultFile); err != nil {
		t.Fatalf("test footage missing: %v (install it with: apt-get install opencv-doc, or run 'make test')", err)
	}
	return StartSoftcam(t, softcam.Config{Listen: listen, Paths: paths, Logger: Logger(t).With("component", "softcam")})
}

// StartSoftcam starts a software camera (or doorbell) configured by cfg,
// logging to the test when cfg has no Logger; it is closed when the test
// ends.
func StartSoftcam(t testing.TB, cfg softcam.Config) *softcam.Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = Logger(t).With("component", "softcam")
	}
	cam, err := softcam.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cam.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	return cam
}
