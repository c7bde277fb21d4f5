package cloud

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/units"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "cloud.yaml")
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	c, err := LoadConfig(write("listen: 127.0.0.1:0\ndata: d\nquota: 2GB\nmax_age: 30d\nhub_quiet_after: 15m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Data != filepath.Join(dir, "d") || c.Quota != 2e9 || c.LogLevel != "info" || c.HubQuietAfter != units.Duration(15*time.Minute) {
		t.Errorf("config %+v", c)
	}
	c, err = LoadConfig(write("listen: 127.0.0.1:0\ndata: d\noutbound_allow: [127.0.0.0/8, 10.20.1.0/24]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := LoadConfig(write("listen: 127.0.0.1:0\ndata: d\nmetrics_listen: 10.0.0.5:9465\n")); err != nil || c.MetricsListen != "10.0.0.5:9465" {
		t.Errorf("metrics_listen on a private address: %v", err)
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
		{"listen: 127.0.0.1:0\ndata: d\nhub_quiet_after: 30s\n", "hub_quiet_after: 30s is shorter than 2m"},
		{"listen: 127.0.0.1:0\ndata: d\noutbound_allow: [127.0.0.1]\n", "outbound_allow[0]"},
		{"listen: 127.0.0.1:0\ndata: d\nmetrics_listen: 203.0.113.9:9465\n", "metrics_listen: 203.0.113.9:9465 is not a loopback or private address"},
		{"listen: 127.0.0.1:0\ndata: d\nmetrics_listen: :9465\n", "metrics_listen: \":9465\" is not IP:port"},
		{"listen: 127.0.0.1:8443\ndata: d\nmetrics_listen: 127.0.0.1:8443\n", "metrics_listen: must differ from listen"},
	} {
		_, err := LoadConfig(write(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error mentioning %q", tc.yaml, err, tc.want)
		}
	}
}

// trusted_proxies: CIDRs, each bad entry named with what to write.
func TestConfigTrustedProxies(t *testing.T) {
	dir := t.TempDir()
	load := func(proxies string) (*Config, error) {
		p := filepath.Join(dir, "cloud.yaml")
		os.WriteFile(p, []byte("listen: 127.0.0.1:0\ndata: d\npublic_url: https://vigil.example.com\ntrusted_proxies: "+proxies+"\n"), 0o600)
		return LoadConfig(p)
	}
	c, err := load("[127.0.0.1/32, 10.0.0.0/8, 'fd00::/8']")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.TrustedProxyPrefixes()); got != "[127.0.0.1/32 10.0.0.0/8 fd00::/8]" {
		t.Errorf("trusted proxies %s", got)
	}
	for _, tc := range []struct{ proxies, want string }{
		{"[10.0.0.0/8, 127.0.0.1]", `trusted_proxies[1]: "127.0.0.1" is an address, not a CIDR: write 127.0.0.1/32`},
		{"[proxy.internal]", `trusted_proxies[0]: "proxy.internal" is not a CIDR: write an address and a prefix length`},
		{"[10.0.0.0/33]", `trusted_proxies[0]: "10.0.0.0/33" is not a CIDR`},
		{"[10.1.2.3/8]", `trusted_proxies[0]: "10.1.2.3/8" has address bits set past its prefix length: write 10.0.0.0/8 for the network, or 10.1.2.3/32`},
		{"[0.0.0.0/0]", `trusted_proxies[0]: "0.0.0.0/0" trusts every address`},
		{"10.0.0.0/8", "trusted_proxies"},
	} {
		_, err := load(tc.proxies)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("trusted_proxies: %s: %v, want an error with %q", tc.proxies, err, tc.want)
		}
	}
}
