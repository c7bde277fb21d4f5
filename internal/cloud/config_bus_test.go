package cloud

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A fake credentials file in the layout 'nsc generate creds' writes.
const testCreds = `-----BEGIN NATS USER JWT-----
eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.JWT-PAYLOAD-XYZZY.SIGNATURE-XYZZY
------END NATS USER JWT------

************************* IMPORTANT *************************
NKEY Seed printed below can be used to sign and prove identity.

-----BEGIN USER NKEY SEED-----
SUAGSEEDXYZZYSEEDXYZZYSEEDXYZZYSEEDXYZZYSEEDXYZZYSEED
------END USER NKEY SEED------
`

func TestConfigBus(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	c, err := LoadConfig(write("default.yaml", "listen: 127.0.0.1:0\ndata: d\n", 0o600))
	if err != nil {
		t.Fatal(err)
	}
	if c.Bus.Driver != BusLocal || c.BusWhere() != "local (in-process)" {
		t.Errorf("default bus %+v %q", c.Bus, c.BusWhere())
	}

	write("nats.creds", testCreds, 0o600)
	c, err = LoadConfig(write("nats.yaml", "listen: 127.0.0.1:0\ndata: d\nbus:\n  driver: nats\n  url: nats://n1.internal:4222, tls://n2.internal:4222\n  creds_file: nats.creds\n", 0o600))
	if err != nil {
		t.Fatal(err)
	}
	if c.Bus.CredsFile != filepath.Join(dir, "nats.creds") || c.BusWhere() != "nats nats://n1.internal:4222, tls://n2.internal:4222" {
		t.Errorf("bus %+v %q", c.Bus, c.BusWhere())
	}
	for _, secret := range []string{"eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.JWT-PAYLOAD-XYZZY.SIGNATURE-XYZZY", "SUAGSEEDXYZZYSEEDXYZZYSEEDXYZZYSEEDXYZZYSEEDXYZZYSEED"} {
		if got := c.Redact("error near " + secret + " and " + secret); strings.Contains(got, secret) {
			t.Errorf("Redact left %s in %q", secret, got)
		}
	}

	write("open.creds", testCreds, 0o644)
	write("junk.creds", "just some text that is not creds\n", 0o600)
	for _, tc := range []struct{ yaml, want string }{
		{"bus:\n  driver: kafka\n", `bus.driver: "kafka" is not local or nats`},
		{"bus:\n  url: nats://x:4222\n", "bus.url, bus.creds_file: only for bus.driver: nats"},
		{"bus:\n  driver: nats\n", "bus.url: required for bus.driver nats"},
		{"bus:\n  driver: nats\n  url: http://x:4222\n", `bus.url: "http://x:4222" is not a NATS URL like nats://`},
		{"bus:\n  driver: nats\n  url: nats://x:4222/path\n", "without a path"},
		{"bus:\n  driver: nats\n  url: nats://vigil:hunter2@x:4222\n", "holds a user or token, which this file must not: credentials never go in this file"},
		{"bus:\n  driver: nats\n  url: nats://x:4222\n  creds_file: open.creds\n", "bus.creds_file: " + filepath.Join(dir, "open.creds") + " is open to others (mode 0644): it holds a secret; chmod 600"},
		{"bus:\n  driver: nats\n  url: nats://x:4222\n  creds_file: junk.creds\n", "is not a NATS credentials file"},
		{"bus:\n  driver: nats\n  url: nats://x:4222\n  creds_file: missing.creds\n", "bus.creds_file: "},
		{"bus:\n  driver: nats\n  token: s3cr3t\n", "bad.yaml:5: bus.token: unknown key: credentials never go in this file"},
		{"bus:\n  drvier: nats\n", `bad.yaml:4: bus: unknown key "drvier" (hint: did you mean "driver"?)`},
	} {
		_, err := LoadConfig(write("bad.yaml", "listen: 127.0.0.1:0\ndata: d\n"+tc.yaml, 0o600))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cr3t")) {
			t.Errorf("%q: the error shows the secret: %v", tc.yaml, err)
		}
	}
}
