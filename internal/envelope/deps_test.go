package envelope

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDeps keeps the package pure: standard library only, no networking and
// no logging.
func TestDeps(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, std, _ := strings.Cut(line, " ")
		if path == "vigil/internal/envelope" {
			continue
		}
		if std != "true" {
			t.Errorf("depends on non-standard package %s", path)
		}
		switch path {
		case "net", "net/http", "log", "log/slog", "os/exec":
			t.Errorf("depends on %s", path)
		}
	}
}
