package cloud

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "cloud.yaml")
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	c, err := LoadConfig(write("listen: 127.0.0.1:0\ndata: d\nquota: 2GB\nmax_age: 30d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != filepath.Join(dir, "d") || c.Quota != 2e9 || c.LogLevel != "info" {
		t.Errorf("config %+v", c)
	}
	c, err = LoadConfig(write("listen: 127.0.0.1:0\ndata: d\noutbound_allow: [127.0.0.0/8, 10.20.1.0/24]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.OutboundPrefixes(); len(p) != 2 || p[0].String() != "127.0.0.0/8" || p[1].String() != "10.20.1.0/24" {
		t.Errorf("outbound_allow read as %v", p)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"listen: 0.0.0.0:80\ndata: d\n", "plain HTTP"},
		{"listen: 127.0.0.1:0\n", "data: required"},
		{"listen: nonsense\ndata: d\n", "not host:port"},
		{"listen: 127.0.0.1:0\ndata: d\ntls_cert: c.pem\n", "both or neither"},
		{"listen: 127.0.0.1:0\ndata: d\nquota: lots\n", "quota"},
		{"listen: 127.0.0.1:0\ndata: d\nlisten_addr: x\n", "listen_addr"},
		{"listen: 127.0.0.1:0\ndata: d\nlog_level: loud\n", "log_level"},
		{"listen: 127.0.0.1:0\ndata: d\noutbound_allow: [127.0.0.1]\n", "outbound_allow[0]"},
	} {
		_, err := LoadConfig(write(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error mentioning %q", tc.yaml, err, tc.want)
		}
	}
}
