package deptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeLayoutListsEveryPackage checks README.md's Layout section, the
// map of the code: every package of the module has a line there (its path,
// then what it owns), and every line naming a Go directory names a package
// that exists, so a package added or deleted without its line fails here.
func TestReadmeLayoutListsEveryPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "vigil/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(readme), "\n## Layout\n")
	if !ok {
		t.Fatal(`README.md has no "## Layout" section`)
	}
	_, layout, _ = strings.Cut(layout, "```\n")
	layout, _, _ = strings.Cut(layout, "```")
	listed := map[string]bool{}
	for line := range strings.Lines(layout) {
		if f := strings.Fields(line); len(f) > 0 {
			listed[strings.TrimSuffix(f[0], "/")] = true
		}
	}
	pkgs := map[string]bool{}
	for p := range strings.FieldsSeq(string(out)) {
		dir := strings.TrimPrefix(strings.TrimPrefix(p, "vigil"), "/")
		pkgs[dir] = true
		if !listed[dir] {
			t.Errorf("README.md's Layout section has no line for %s: add one saying what it owns", dir)
		}
	}
	if len(pkgs) < 50 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	for dir := range listed {
		if (strings.HasPrefix(dir, "internal/") || strings.HasPrefix(dir, "cmd/")) && !pkgs[dir] {
			t.Errorf("README.md's Layout section lists %s, which is not a package", dir)
		}
	}
}
