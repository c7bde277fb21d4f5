// Package browsertest runs the web app's browser tests: real headless
// Chromium (Debian's /usr/bin/chromium) driven by playwright-core from
// web/node_modules, against services the Go test started on loopback.
//
// A test that needs a browser fails when Chromium, Node.js or the built app
// is missing, with the command that installs it; it never skips silently.
package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Chromium is the browser the tests drive.
const Chromium = "/usr/bin/chromium"

// WebDir returns the absolute path of the repository's web/ directory.
func WebDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "web")
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// Require fails the test unless Chromium, node, playwright-core and the
// built app are present.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Chromium); err != nil {
		t.Fatalf("browser tests need Chromium at %s: run 'make test' (scripts/deps.sh installs it) or 'sudo apt-get install -y chromium'", Chromium)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("browser tests need Node.js: run 'sudo apt-get install -y nodejs npm'")
	}
	web := WebDir(t)
	if _, err := os.Stat(filepath.Join(web, "node_modules", "playwright-core")); err != nil {
		t.Fatal("browser tests need web/node_modules: run 'make web' (npm ci in web/)")
	}
	if _, err := os.Stat(filepath.Join(web, "dist", "index.html")); err != nil {
		t.Fatal("browser tests need the built app in web/dist: run 'make web'")
	}
}

// Run runs the Node script web/test/<script> with env (plus CHROMIUM and
// ARTIFACTS, a directory for screenshots) and returns what it printed on
// its last stdout line, decoded as JSON into out (if out is not nil). The
// script's stderr is logged. A non-zero exit fails the test with its output.
func Run(t testing.TB, timeout time.Duration, script string, env map[string]string, out any) {
	t.Helper()
	Require(t)
	web := WebDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(web, "test", script))
	cmd.Dir = web
	cmd.Env = append(os.Environ(), "CHROMIUM="+Chromium, "ARTIFACTS="+Artifacts(t))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if l != "" {
			t.Logf("%s: %s", script, l)
		}
	}
	if err != nil {
		t.Fatalf("%s failed: %v\nstdout:\n%s", script, err, stdout.String())
	}
	if out != nil {
		lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
		last := lines[len(lines)-1]
		if err := json.Unmarshal([]byte(last), out); err != nil {
			t.Fatalf("%s: last line of stdout is not JSON (%v): %q", script, err, last)
		}
	}
}

// Artifacts returns a directory for the test's screenshots: $VIGIL_ARTIFACTS
// when set (docs screenshots are taken that way), else a temp directory.
func Artifacts(t testing.TB) string {
	if d := os.Getenv("VIGIL_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// Errorf is a helper for scripts' JSON results: it formats a failure.
func Errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
