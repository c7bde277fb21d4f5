package cli

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"vigil/internal/bench"
)

// benchWeb runs the demo with the clock camera and measures the web app in
// headless Chromium (bench.Web): first live frame, glass-to-glass latency,
// seek.
func benchWeb(e env, args []string) error {
	fs := newFlags(e, "bench web", "[--json] [--runs N] [--frames N] [--web DIR]")
	asJSON := fs.Bool("json", false, "print the measurement as JSON")
	runs := fs.Int("runs", 5, "camera clicks and timeline clicks to time")
	frames := fs.Int("frames", 100, "frames to read the clock from")
	webDir := fs.String("web", "web", "the repository's web/ directory (the scripts and playwright-core)")
	data := fs.String("data", "", "demo directory (default: a temporary one, removed afterwards)")
	artifacts := fs.String("artifacts", "", "directory for screenshots")
	warmup := fs.Duration("warmup", 20*time.Second, "recording before measuring (the timeline needs segments)")
	verbose := fs.Bool("v", false, "service logs on stderr")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := bench.CheckWeb(*webDir); err != nil {
		return err
	}
	dir := *data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "vigil-bench-web-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelDebug
	}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	d, err := StartDemo(ctx, DemoOptions{Data: dir, Listen: "127.0.0.1:0", Clock: true, Progress: e.stderr, Logger: newLogger(e.stderr, level)})
	if err != nil {
		return err
	}
	defer d.Close()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(*warmup):
	}
	u, err := d.SignInURL(ctx)
	if err != nil {
		return err
	}
	m, line, err := bench.Web(ctx, bench.WebOptions{WebDir: *webDir, SignInURL: u, Runs: *runs, Frames: *frames,
		Artifacts: *artifacts, Stderr: e.stderr})
	if err != nil {
		return err
	}
	if *asJSON {
		fmt.Fprintln(e.stdout, line)
		return nil
	}
	fmt.Fprintf(e.stdout, "web app on loopback (vigil demo --clock, headless Chromium):\n")
	fmt.Fprintf(e.stdout, "  first live frame after a click  p50 %s, max %s over %d clicks   (target <= 1 s)\n", msOrDash(m.FirstFrame.P50), msOrDash(m.FirstFrame.Max), m.FirstFrame.N)
	fmt.Fprintf(e.stdout, "  glass-to-glass latency          p50 %s, p95 %s over %d frames  (target <= 250 ms)\n", msOrDash(m.G2G.P50), msOrDash(m.G2G.P95), m.G2G.N)
	if m.Seek.N > 0 {
		fmt.Fprintf(e.stdout, "  timeline click to first frame   p50 %s, max %s over %d clicks   (target <= 500 ms)\n", msOrDash(m.Seek.P50), msOrDash(m.Seek.Max), m.Seek.N)
	} else {
		fmt.Fprintf(e.stdout, "  timeline click to first frame   not measured: %s\n", m.SeekNote)
	}
	return nil
}

// msOrDash is a summary's value in whole milliseconds, "-" without samples.
func msOrDash(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f ms", *v)
}
