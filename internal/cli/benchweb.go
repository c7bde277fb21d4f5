package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// WebMeasurement is what web/test/measure.mjs reports.
type WebMeasurement struct {
	FirstFrameMs   []int   `json:"firstFrameMs"`
	FirstFrame     Summary `json:"firstFrame"`
	G2G            Summary `json:"g2g"`
	DecodeFailures int     `json:"decodeFailures"`
	Video          string  `json:"video"`
	SeekMs         []int   `json:"seekMs"`
	Seek           Summary `json:"seek"`
	SeekPageMs     []int   `json:"seekPageMs"` // the page's own count (click handler to first frame)
	SeekNote       string  `json:"seekNote"`
}

// Summary of a series of milliseconds (nil fields: no samples).
type Summary struct {
	N   int      `json:"n"`
	P50 *float64 `json:"p50"`
	P95 *float64 `json:"p95"`
	Min *float64 `json:"min"`
	Max *float64 `json:"max"`
}

func (s Summary) ms(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f ms", *v)
}

// benchWeb runs the demo with the clock camera and measures the web app in
// headless Chromium: first live frame, glass-to-glass latency, seek.
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
	script := filepath.Join(*webDir, "test", "measure.mjs")
	if _, err := os.Stat(script); err != nil {
		return fmt.Errorf("%s not found (hint: run from the repository root, or pass --web DIR)", script)
	}
	if _, err := os.Stat(filepath.Join(*webDir, "node_modules", "playwright-core")); err != nil {
		return fmt.Errorf("playwright-core is not installed in %s (hint: 'make web')", *webDir)
	}
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("needs Node.js (hint: sudo apt-get install -y nodejs)")
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
	absWeb, _ := filepath.Abs(*webDir)
	cmd := exec.CommandContext(ctx, "node", filepath.Join(absWeb, "test", "measure.mjs"))
	cmd.Dir = absWeb
	cmd.Env = append(os.Environ(), "DEMO_URL="+u, fmt.Sprintf("RUNS=%d", *runs), fmt.Sprintf("FRAMES=%d", *frames))
	if os.Getenv("CHROMIUM") == "" {
		cmd.Env = append(cmd.Env, "CHROMIUM=/usr/bin/chromium")
	}
	if *artifacts != "" {
		a, _ := filepath.Abs(*artifacts)
		os.MkdirAll(a, 0o755)
		cmd.Env = append(cmd.Env, "ARTIFACTS="+a)
	}
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, e.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("measure.mjs: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := lines[len(lines)-1]
	var m WebMeasurement
	if err := json.Unmarshal([]byte(last), &m); err != nil {
		return fmt.Errorf("measure.mjs printed no result: %q", last)
	}
	if *asJSON {
		fmt.Fprintln(e.stdout, last)
		return nil
	}
	fmt.Fprintf(e.stdout, "web app on loopback (vigil demo --clock, headless Chromium):\n")
	fmt.Fprintf(e.stdout, "  first live frame after a click  p50 %s, max %s over %d clicks   (target <= 1 s)\n", m.FirstFrame.ms(m.FirstFrame.P50), m.FirstFrame.ms(m.FirstFrame.Max), m.FirstFrame.N)
	fmt.Fprintf(e.stdout, "  glass-to-glass latency          p50 %s, p95 %s over %d frames  (target <= 250 ms)\n", m.G2G.ms(m.G2G.P50), m.G2G.ms(m.G2G.P95), m.G2G.N)
	if m.Seek.N > 0 {
		fmt.Fprintf(e.stdout, "  timeline click to first frame   p50 %s, max %s over %d clicks   (target <= 500 ms)\n", m.Seek.ms(m.Seek.P50), m.Seek.ms(m.Seek.Max), m.Seek.N)
	} else {
		fmt.Fprintf(e.stdout, "  timeline click to first frame   not measured: %s\n", m.SeekNote)
	}
	return nil
}
