package tlog_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Package tlog must never reach net/http (the HTTP side is tloghttp).
func TestNoNetHTTP(t *testing.T) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(gobin, "list", "-deps", "vigil/internal/tlog").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list gave %d dependencies", len(deps))
	}
	for _, d := range deps {
		if d == "net/http" {
			t.Fatal("vigil/internal/tlog imports net/http")
		}
	}
}
