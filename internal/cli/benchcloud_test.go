package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchCloudUsage: replicas without a shared store, or sharing a fixed
// port, are refused before anything starts, with the fix in the message.
func TestBenchCloudUsage(t *testing.T) {
	dir := t.TempDir()
	sqlite := filepath.Join(dir, "sqlite.yaml")
	os.WriteFile(sqlite, []byte("listen: 127.0.0.1:0\ndata: data\n"), 0o600)
	fixed := filepath.Join(dir, "fixed.yaml")
	os.WriteFile(fixed, []byte("listen: 127.0.0.1:8443\ndata: data\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
		code int // 2: a usage mistake, also when bench finds it in the configuration
	}{
		{[]string{"--replicas", "2"}, "needs --config FILE", 2},
		{[]string{"--replicas", "0"}, "--replicas 1..64", 2},
		{[]string{"--replicas", "2", "--config", sqlite}, "replicas share only store.driver postgres and blobs.driver s3", 2},
		{[]string{"--replicas", "2", "--config", fixed}, "set listen to 127.0.0.1:0", 2},
		{[]string{"--config", filepath.Join(dir, "missing.yaml")}, "missing.yaml", 1},
	} {
		var out, errOut bytes.Buffer
		code := Run(context.Background(), append([]string{"bench", "cloud", "--duration", "5s"}, c.args...), &out, &errOut)
		if code != c.code || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("bench cloud %q: exit %d, stderr %q; want exit %d saying %q", c.args, code, errOut.String(), c.code, c.want)
		}
	}
}
