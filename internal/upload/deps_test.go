package upload

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestDeps keeps the uploader a domain package of the hub: it must not
// depend on the wiring (hubd, cli) or on the cloud's side.
func TestDeps(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, path := range strings.Fields(string(out)) {
		for _, banned := range []string{"vigil/internal/hubd", "vigil/internal/cli", "vigil/internal/cloud"} {
			if path == banned || strings.HasPrefix(path, banned+"/") {
				t.Errorf("depends on %s", path)
			}
		}
	}
}
