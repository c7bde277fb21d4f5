package cloud

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"vigil/internal/netguard"
	"vigil/internal/tlog"
	"vigil/internal/units"
	"vigil/internal/yamlconf"
)

// Config is the cloud service's configuration file (docs/CONFIG.md, "Cloud").
type Config struct {
	// Listen is the address to serve on, e.g. 127.0.0.1:8443 or :443.
	Listen string `yaml:"listen"`
	// PublicURL is how users reach the service (used in e-mails).
	PublicURL string `yaml:"public_url"`
	// Data holds outgoing mail (outbox/) and the log key, and with the
	// default backends the metadata database (cloud.db) and the sealed
	// blobs (blobs/). Relative to the config file.
	Data string `yaml:"data"`
	// Store is where the metadata lives: SQLite under Data (the default)
	// or PostgreSQL.
	Store StoreConfig `yaml:"store"`
	// Blobs is where the sealed objects live: a directory under Data (the
	// default) or an S3-compatible bucket.
	Blobs BlobsConfig `yaml:"blobs"`
	// Bus carries what crosses replicas (live view, event notices, push
	// jobs, cache invalidations): in-process (the default: one replica)
	// or a NATS JetStream server.
	Bus BusConfig `yaml:"bus"`
	// MetricsListen is the host:port of the operators' Prometheus
	// listener, which serves /metrics and nothing else, in plain HTTP;
	// empty (the default) serves none. It must be a loopback or private
	// address, never the public listener's.
	MetricsListen string `yaml:"metrics_listen"`
	// TLSCert and TLSKey are PEM files. Without them the service speaks
	// plain HTTP, which is allowed only on a loopback address.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// TrustedProxies are the CIDRs (e.g. 10.0.0.0/8, 127.0.0.1/32) of the
	// reverse proxies in front of the service. From a direct peer in one of
	// them, the client address (the one rate limits hold to) is the
	// right-most X-Forwarded-For entry that is not itself in one of them;
	// from any other peer, X-Forwarded-For is ignored. Behind a
	// TLS-terminating proxy set public_url to its https:// URL too: cookies
	// are then Secure and answers carry Strict-Transport-Security.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Quota is the default per-household storage, e.g. 50GB; past it the
	// oldest objects are deleted.
	Quota units.ByteSize `yaml:"quota"`
	// MaxAge deletes objects older than this, e.g. 30d; 0 keeps them.
	MaxAge units.Duration `yaml:"max_age"`
	// HubQuietAfter is how long a paired hub may go without a health
	// report before its household is told it went quiet, e.g. 10m (0:
	// 10 minutes). At least 2m: a hub reports every minute.
	HubQuietAfter units.Duration `yaml:"hub_quiet_after"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// TURNListen is the UDP host:port of the built-in TURN relay for live
	// view (e.g. 0.0.0.0:3478); empty runs none.
	TURNListen string `yaml:"turn_listen"`
	// TURNPublicIP is the address viewers and hubs reach the relay at;
	// empty means TURNListen's host.
	TURNPublicIP string `yaml:"turn_public_ip"`
	// LogKey is the file holding the transparency log's signing key (a
	// note signer key, made on first start; 0600). Default: data/tlog.key.
	// Its name is the log's origin.
	LogKey string `yaml:"log_key"`
	// LogOrigin names a new log (the first start): default the public
	// URL's host and "/tlog". An existing key keeps its own name.
	LogOrigin string `yaml:"log_origin"`
	// Witnesses cosign every checkpoint (C2SP tlog-witness): each one's
	// URL and cosignature key.
	Witnesses []WitnessConfig `yaml:"witnesses"`
	// WitnessQuorum is how many of the witnesses devices require on a
	// checkpoint (served at GET /v1/log); default: all of them.
	WitnessQuorum *int `yaml:"witness_quorum"`
	// WebRelease is a signed release of the web app (release.vrel, made by
	// 'vigil release sign' with a key the cloud never holds), appended to
	// the log at start so browsers and monitors can check what is served.
	WebRelease string `yaml:"web_release"`

	// OutboundAllow are networks (CIDR prefixes) the service may post Web
	// Push messages to although they are not on the public internet: an
	// own push relay, or a test's push service on 127.0.0.0/8. Empty
	// (the default) admits public addresses only, checked on each
	// resolved address when connecting (Options.Outbound).
	OutboundAllow []string `yaml:"outbound_allow"`
}

// OutboundPrefixes returns OutboundAllow parsed (Validate checked it).
func (c *Config) OutboundPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.OutboundAllow {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// WitnessConfig is one witness the log asks to cosign.
type WitnessConfig struct {
	URL string `yaml:"url"` // its submission prefix (POST URL/add-checkpoint)
	Key string `yaml:"key"` // its cosignature verifier key (vigil witness key)
}

// Quorum is the number of witness cosignatures devices require.
func (c *Config) Quorum() int {
	if c.WitnessQuorum == nil {
		return len(c.Witnesses)
	}
	return *c.WitnessQuorum
}

// LoadConfig reads and validates a cloud config file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, src, err := decodeConfig(b, path)
	if err != nil {
		return nil, err
	}
	base, _ := filepath.Abs(filepath.Dir(path))
	for _, p := range []*string{&c.Data, &c.TLSCert, &c.TLSKey, &c.LogKey, &c.WebRelease, &c.Store.DSNFile, &c.Blobs.S3.SecretKeyFile, &c.Bus.CredsFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	if err := c.Validate(); err != nil {
		return nil, src.Place(err)
	}
	return &c, nil
}

// decodeConfig decodes a config file with the strict decoder every Vigil
// configuration shares (yamlconf.Decode): unknown keys (with a hint for a
// secret put in the wrong place), keys given twice and values of the
// wrong type are errors naming file, line and key. The Source it returns
// gives Validate's messages their lines too (LoadConfig).
func decodeConfig(b []byte, file string) (Config, *yamlconf.Source, error) {
	var c Config
	src, err := yamlconf.Decode(b, &c, yamlconf.Options{File: file, Hints: keyHints()})
	return c, src, err
}

// keyHints answer a key that is not there with what to write instead.
func keyHints() map[string]string {
	return map[string]string{
		"blobs.s3.secret_key": "the secret key never goes in this file: put it in a file of its own (mode 0600) and name that in blobs.s3.secret_key_file",
		"store.password":      "the password goes in the DSN, in a file of its own (mode 0600) named by store.dsn_file",
		"bus.user":            busCredsHint,
		"bus.password":        busCredsHint,
		"bus.token":           busCredsHint,
		"bus.nkey":            busCredsHint,
	}
}

// Validate applies defaults and checks every key, naming the ones at fault.
func (c *Config) Validate() error {
	c.ApplyDefaults()
	var errs []error
	if c.Data == "" {
		errs = append(errs, errors.New("data: required: the directory for the database and sealed blobs"))
	}
	errs = append(errs, c.Store.validate()...)
	errs = append(errs, c.Blobs.validate()...)
	errs = append(errs, c.Bus.validate()...)
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("listen: %q is not host:port (e.g. 127.0.0.1:8443)", c.Listen))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls_cert, tls_key: give both or neither"))
	}
	if c.TLSCert == "" && err == nil && !units.IsLoopbackHost(host) {
		errs = append(errs, fmt.Errorf("listen: plain HTTP on %q would expose sign-in and sessions; listen on 127.0.0.1 or set tls_cert and tls_key", c.Listen))
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			errs = append(errs, fmt.Errorf("public_url: %q is not a URL like https://cloud.example.com", c.PublicURL))
		}
	}
	if c.Quota < 0 || c.MaxAge < 0 {
		errs = append(errs, errors.New("quota, max_age: cannot be negative"))
	}
	if c.HubQuietAfter != 0 && time.Duration(c.HubQuietAfter) < 2*time.Minute {
		errs = append(errs, fmt.Errorf("hub_quiet_after: %v is shorter than 2m: a hub reports its health once a minute", time.Duration(c.HubQuietAfter)))
	}
	if c.MetricsListen != "" {
		ap, err := netip.ParseAddrPort(c.MetricsListen)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("metrics_listen: %q is not IP:port (e.g. 127.0.0.1:9465)", c.MetricsListen))
		case !netguard.IsPrivate(ap.Addr()):
			errs = append(errs, fmt.Errorf("metrics_listen: %s is not a loopback or private address: the metrics are for operators, so serve them on 127.0.0.1 or an internal network (e.g. 10.0.0.5:9465)", c.MetricsListen))
		case c.MetricsListen == c.Listen && ap.Port() != 0:
			errs = append(errs, errors.New("metrics_listen: must differ from listen"))
		}
	}
	if c.TURNListen != "" {
		if h, _, err := net.SplitHostPort(c.TURNListen); err != nil {
			errs = append(errs, fmt.Errorf("turn_listen: %q is not host:port (e.g. 0.0.0.0:3478)", c.TURNListen))
		} else if ip := net.ParseIP(c.TURNPublicIP); c.TURNPublicIP != "" && (ip == nil || ip.IsUnspecified()) {
			errs = append(errs, fmt.Errorf("turn_public_ip: %q is not an IP address", c.TURNPublicIP))
		} else if ip := net.ParseIP(h); c.TURNPublicIP == "" && (ip == nil || ip.IsUnspecified()) {
			errs = append(errs, fmt.Errorf("turn_public_ip: required when turn_listen (%q) is not a specific IP address", c.TURNListen))
		}
	} else if c.TURNPublicIP != "" {
		errs = append(errs, errors.New("turn_public_ip: set turn_listen too"))
	}
	for i, w := range c.Witnesses {
		if u, err := url.Parse(w.URL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			errs = append(errs, fmt.Errorf("witnesses[%d].url: %q is not a URL like https://witness.example/", i, w.URL))
		}
		if _, err := tlog.NewCosignatureVerifier(w.Key); err != nil {
			errs = append(errs, fmt.Errorf("witnesses[%d].key: not a witness's cosignature key (hint: 'vigil witness key' prints it): %v", i, err))
		}
	}
	for i, p := range c.TrustedProxies {
		if _, err := parseTrustedProxy(p); err != nil {
			errs = append(errs, fmt.Errorf("trusted_proxies[%d]: %w", i, err))
		}
	}
	if q := c.Quorum(); q < 0 || q > len(c.Witnesses) {
		errs = append(errs, fmt.Errorf("witness_quorum: %d, but %d witnesses are listed", q, len(c.Witnesses)))
	}
	if c.LogOrigin != "" && (strings.ContainsAny(c.LogOrigin, " +\n\t") || !utf8.ValidString(c.LogOrigin)) {
		errs = append(errs, fmt.Errorf("log_origin: %q: a log's name has no spaces or '+' (e.g. vigil.example.com/tlog)", c.LogOrigin))
	}
	for i, a := range c.OutboundAllow {
		if _, err := netip.ParsePrefix(a); err != nil {
			errs = append(errs, fmt.Errorf("outbound_allow[%d]: %q is not a network like 10.20.0.0/16 or 127.0.0.1/32", i, a))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level: %q is not debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

// parseTrustedProxy parses one entry of trusted_proxies; its error says
// what to write instead.
func parseTrustedProxy(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil {
			return netip.Prefix{}, fmt.Errorf("%q is an address, not a CIDR: write %s/%d for that one address", s, a, a.BitLen())
		}
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR: write an address and a prefix length, e.g. 10.0.0.0/8 or 127.0.0.1/32", s)
	}
	if p.Bits() == 0 {
		return netip.Prefix{}, fmt.Errorf("%q trusts every address: any client could then choose its own address with X-Forwarded-For; list only your proxies' addresses, e.g. 10.0.0.0/8", s)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%q has address bits set past its prefix length: write %s for the network, or %s/%d for that one address", s, p.Masked(), p.Addr(), p.Addr().BitLen())
	}
	return p, nil
}

// TrustedProxyPrefixes returns TrustedProxies parsed (the entries that
// Validate accepts).
func (c *Config) TrustedProxyPrefixes() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range c.TrustedProxies {
		if p, err := parseTrustedProxy(s); err == nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// OutboxMailer writes each message as a file in a directory (0600), for a
// mail relay to pick up; in a demo it is the inbox. It never logs bodies.
type OutboxMailer struct{ Dir string }

// Send implements Mailer.
func (m OutboxMailer) Send(_ context.Context, to, subject, body string) error {
	if err := os.MkdirAll(m.Dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(m.Dir, "mail-*.eml")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "To: %s\r\nSubject: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s", to, subject, body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
