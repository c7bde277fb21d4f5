package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The web app in headless Chromium ('vigil bench web'): the command starts
// the demo with the clock camera and gives Web its sign-in URL;
// web/test/measure.mjs clicks a camera and reads the time burned into the
// frames the browser presents (first live frame, glass-to-glass latency),
// then clicks the timeline (seek).

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

// WebOptions configure Web.
type WebOptions struct {
	WebDir    string // the repository's web/ directory (the scripts and playwright-core)
	SignInURL string // the demo's sign-in link
	Runs      int    // camera clicks and timeline clicks to time
	Frames    int    // frames to read the clock from
	Artifacts string // directory for screenshots; "" for none
	Stderr    io.Writer
}

// CheckWeb says what Web would miss in webDir or on this machine (the
// script, playwright-core, Node.js), with a hint; nil when nothing. The
// command checks before it starts the demo.
func CheckWeb(webDir string) error {
	script := filepath.Join(webDir, "test", "measure.mjs")
	if _, err := os.Stat(script); err != nil {
		return fmt.Errorf("%s not found (hint: run from the repository root, or pass --web DIR)", script)
	}
	if _, err := os.Stat(filepath.Join(webDir, "node_modules", "playwright-core")); err != nil {
		return fmt.Errorf("playwright-core is not installed in %s (hint: 'make web')", webDir)
	}
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("needs Node.js (hint: sudo apt-get install -y nodejs)")
	}
	return nil
}

// Web runs web/test/measure.mjs in node against the demo at o.SignInURL,
// its progress to o.Stderr, and returns its measurement and the JSON line
// it printed (its last). Chromium is /usr/bin/chromium unless CHROMIUM
// names another.
func Web(ctx context.Context, o WebOptions) (WebMeasurement, string, error) {
	absWeb, _ := filepath.Abs(o.WebDir)
	cmd := exec.CommandContext(ctx, "node", filepath.Join(absWeb, "test", "measure.mjs"))
	cmd.Dir = absWeb
	cmd.Env = append(os.Environ(), "DEMO_URL="+o.SignInURL, fmt.Sprintf("RUNS=%d", o.Runs), fmt.Sprintf("FRAMES=%d", o.Frames))
	if os.Getenv("CHROMIUM") == "" {
		cmd.Env = append(cmd.Env, "CHROMIUM=/usr/bin/chromium")
	}
	if o.Artifacts != "" {
		a, _ := filepath.Abs(o.Artifacts)
		os.MkdirAll(a, 0o755)
		cmd.Env = append(cmd.Env, "ARTIFACTS="+a)
	}
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, o.Stderr
	if err := cmd.Run(); err != nil {
		return WebMeasurement{}, "", fmt.Errorf("measure.mjs: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	last := lines[len(lines)-1]
	var m WebMeasurement
	if err := json.Unmarshal([]byte(last), &m); err != nil {
		return WebMeasurement{}, "", fmt.Errorf("measure.mjs printed no result: %q", last)
	}
	return m, last, nil
}
