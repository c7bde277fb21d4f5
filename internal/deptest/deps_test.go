package deptest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Deps       []string
}

// TestImportDirection fails when a domain package imports a wiring package
// (hubd, cli) or a pure package reaches for net/http.
func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-json", "vigil/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	// -deps=false still fills Deps with the transitive imports.
	dec := json.NewDecoder(strings.NewReader(string(out)))
	pkgs := map[string][]string{}
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p.Deps
	}
	if len(pkgs) < 8 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	wiring := []string{"vigil/internal/hubd", "vigil/internal/cli"}
	domain := []string{"envelope", "segment", "segstore", "camera", "keydir", "config", "recordings", "softcam",
		"pairing", "devauth", "upload", "member", "cloud", "cloud/store", "cloud/blob", "cloud/auth", "client", "cloudapi",
		"tlog", "tlog/tloghttp", "history", "witness", "release", "release/monitor", "fsutil"}
	pure := []string{"envelope", "segment", "config", "keydir", "segstore", "recordings", "pairing",
		"cloud/store", "cloud/blob", "cloud/auth", "tlog", "history", "release", "fsutil"}
	has := func(deps []string, p string) bool {
		for _, d := range deps {
			if d == p {
				return true
			}
		}
		return false
	}
	// Deps must be the transitive imports, or every check below is vacuous.
	if !has(pkgs["vigil/internal/hubd"], "vigil/internal/envelope") || !has(pkgs["vigil/internal/hubd"], "crypto/hpke") {
		t.Fatal("go list gave no transitive imports for hubd")
	}
	for _, d := range domain {
		deps, ok := pkgs["vigil/internal/"+d]
		if !ok {
			t.Errorf("package %s not found", d)
			continue
		}
		for _, w := range wiring {
			if has(deps, w) {
				t.Errorf("%s imports %s: domain packages must not depend on wiring", d, w)
			}
		}
	}
	for _, d := range pure {
		if has(pkgs["vigil/internal/"+d], "net/http") {
			t.Errorf("%s imports net/http: it must stay free of the network stack", d)
		}
	}
}
