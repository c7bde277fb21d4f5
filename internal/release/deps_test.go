package release

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Package release must never reach net/http (fetching lives in
// internal/release/monitor).
func TestNoNetHTTP(t *testing.T) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(gobin, "list", "-deps", "vigil/internal/release").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list gave %d dependencies", len(deps))
	}
	for _, d := range deps {
		if d == "net/http" {
			t.Fatal("vigil/internal/release imports net/http")
		}
	}
}
