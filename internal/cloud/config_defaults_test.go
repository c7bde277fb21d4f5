package cloud

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"vigil/internal/blob"
	"vigil/internal/blob/s3blob"
	"vigil/internal/units"
)

// TestConfigDefaults loads a file that sets nothing optional and one that
// sets every defaulted key, and checks the table's values arrive in the
// first and the file's stay in the second.
func TestConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cloud.yaml")
	os.WriteFile(p, []byte("listen: 127.0.0.1:0\ndata: d\n"), 0o600)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Driver != StoreSQLite || c.Blobs.Driver != BlobsDir || c.Bus.Driver != BusLocal ||
		c.Quota != DefaultQuotaBytes || c.LogLevel != "info" || !c.Blobs.S3.IsSecure() {
		t.Errorf("defaults: store %q blobs %q bus %q quota %s log_level %q secure %v", c.Store.Driver, c.Blobs.Driver, c.Bus.Driver, c.Quota, c.LogLevel, c.Blobs.S3.IsSecure())
	}
	os.WriteFile(p, []byte("listen: 127.0.0.1:0\ndata: d\nquota: 2GB\nlog_level: debug\n"), 0o600)
	if c, err = LoadConfig(p); err != nil || c.Quota != 2e9 || c.LogLevel != "debug" {
		t.Errorf("set keys: %+v, %v", c, err)
	}
}

// TestConfigValidationLines: a validation error names the file and the
// line of its key, as the decoder's do.
func TestConfigValidationLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cloud.yaml")
	os.WriteFile(p, []byte("listen: 127.0.0.1:0\ndata: d\nlog_level: loud\nwitnesses:\n  - url: https://w.example\n    key: nope\n"), 0o600)
	_, err := LoadConfig(p)
	for _, want := range []string{p + `:3: log_level: "loud" is not debug, info, warn or error`, p + ":6: witnesses[0].key: not a witness's cosignature key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nwant a line %q", err, want)
		}
	}
}

// TestConfigDefaultsDocumented checks docs/CONFIG.md's cloud table
// against ConfigDefaults and the S3 client's defaults: each shows its
// value, and every other row whose default is a plain value is one of
// them.
func TestConfigDefaultsDocumented(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "CONFIG.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, doc, _ := strings.Cut(string(b), "## Cloud service")
	rows := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_.0-9]+)` \\| [^|]* \\| ([^|]*) \\|").FindAllStringSubmatch(doc, -1) {
		rows[m[1]] = strings.TrimSpace(m[2])
	}
	if len(rows) < 20 {
		t.Fatalf("found %d key rows in docs/CONFIG.md's cloud section; has its layout changed?", len(rows))
	}
	want := map[string]string{
		"blobs.s3.secure":          "true",
		"blobs.s3.part_size":       units.ByteSize(s3blob.DefaultPartSize).String(),
		"blobs.s3.max_object_size": units.ByteSize(blob.DefaultMaxObjectSize).String(),
	}
	for _, d := range ConfigDefaults() {
		want[d.Key] = d.Value
	}
	for key, v := range want {
		cell, ok := rows[key]
		if !ok {
			t.Errorf("docs/CONFIG.md has no row for `%s` (default %s)", key, v)
		} else if cell != "`"+v+"`" {
			t.Errorf("docs/CONFIG.md: `%s`'s default is %s, the code's is `%s`", key, cell, v)
		}
	}
	// Defaults derived from another key, not a value of their own.
	derived := map[string]bool{"log_key": true}
	plain := regexp.MustCompile("^`([^`]+)`$")
	for key, cell := range rows {
		if m := plain.FindStringSubmatch(cell); m != nil && m[1] != "0" && m[1] != "false" && want[key] == "" && !derived[key] {
			t.Errorf("docs/CONFIG.md gives `%s` the default %s, which ConfigDefaults does not have", key, cell)
		}
	}
}
