package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Scope is the set of addresses a Dialer may reach.
type Scope int

const (
	// Public admits only addresses on the public internet.
	Public Scope = iota
	// Private admits only the household's own networks: loopback, private
	// (RFC 1918, fc00::/7) and link-local addresses.
	Private
)

func (s Scope) String() string {
	if s == Private {
		return "only addresses on the household's private networks are allowed"
	}
	return "only public internet addresses are allowed"
}

// ErrRefused is wrapped by every refusal: errors.Is(err, ErrRefused) tells
// a refused address from a network failure.
var ErrRefused = errors.New("netguard: address refused")

// RefusedError is a refused address and why.
type RefusedError struct {
	Addr   netip.Addr
	Reason string // "loopback", "private (RFC 1918)", ...; "public" under Private
	Scope  Scope
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("netguard: refused to connect to %s: %s (%s)", e.Addr, e.Reason, e.Scope)
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

type block struct {
	p      netip.Prefix
	reason string
}

func blocks(reason string, prefixes ...string) []block {
	out := make([]block, len(prefixes))
	for i, p := range prefixes {
		out[i] = block{netip.MustParsePrefix(p), reason}
	}
	return out
}

// IANA's special-purpose registries (RFC 6890 and its updates), in the
// order they are checked: the first that contains an address names why.
var (
	special4 = concat(
		blocks("broadcast", "255.255.255.255/32"),
		blocks("unspecified (this network, 0.0.0.0/8)", "0.0.0.0/8"),
		blocks("loopback", "127.0.0.0/8"),
		blocks("private (RFC 1918)", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
		blocks("shared address space (carrier-grade NAT, 100.64.0.0/10)", "100.64.0.0/10"),
		blocks("link-local (169.254.0.0/16, where cloud metadata services answer)", "169.254.0.0/16"),
		blocks("IETF protocol assignments (192.0.0.0/24)", "192.0.0.0/24"),
		blocks("documentation (TEST-NET)", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"),
		blocks("6to4 relay anycast (192.88.99.0/24)", "192.88.99.0/24"),
		blocks("benchmarking (198.18.0.0/15)", "198.18.0.0/15"),
		blocks("multicast", "224.0.0.0/4"),
		blocks("reserved (240.0.0.0/4)", "240.0.0.0/4"),
	)
	special6 = concat(
		blocks("unspecified", "::/128"),
		blocks("loopback", "::1/128"),
		blocks("IPv4-compatible IPv6 (deprecated, ::/96)", "::/96"),
		blocks("local-use NAT64 (64:ff9b:1::/48), whose IPv4 address cannot be checked", "64:ff9b:1::/48"),
		blocks("discard-only (100::/64)", "100::/64"),
		blocks("Teredo (2001::/32), whose IPv4 address cannot be checked", "2001::/32"),
		blocks("benchmarking (2001:2::/48)", "2001:2::/48"),
		blocks("ORCHID (2001:10::/28, 2001:20::/28)", "2001:10::/28", "2001:20::/28"),
		blocks("documentation", "2001:db8::/32", "3fff::/20"),
		blocks("private (unique local, fc00::/7)", "fc00::/7"),
		blocks("link-local (fe80::/10)", "fe80::/10"),
		blocks("site-local (deprecated, fec0::/10)", "fec0::/10"),
		blocks("multicast", "ff00::/8"),
	)
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	global6   = netip.MustParsePrefix("2000::/3")

	// private are the household's own networks (Scope Private).
	private = []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.168.0.0/16"),
		netip.MustParsePrefix("fc00::/7"),
		netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fe80::/10"),
	}
)

func concat(bs ...[]block) []block {
	var out []block
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// NotPublic returns why a is not an address on the public internet, or ""
// when it is.
func NotPublic(a netip.Addr) string {
	a = a.WithZone("")
	if a.Is4In6() {
		if r := NotPublic(a.Unmap()); r != "" {
			return "IPv4-mapped " + a.Unmap().String() + ": " + r
		}
		return ""
	}
	if a.Is4() {
		for _, b := range special4 {
			if b.p.Contains(a) {
				return b.reason
			}
		}
		return ""
	}
	if !a.Is6() {
		return "not an IP address"
	}
	b16 := a.As16()
	switch {
	case nat64.Contains(a):
		v4 := netip.AddrFrom4([4]byte(b16[12:16]))
		if r := NotPublic(v4); r != "" {
			return "NAT64 form of " + v4.String() + ": " + r
		}
		return ""
	case sixToFour.Contains(a):
		v4 := netip.AddrFrom4([4]byte(b16[2:6]))
		if r := NotPublic(v4); r != "" {
			return "6to4 form of " + v4.String() + ": " + r
		}
		return ""
	}
	for _, b := range special6 {
		if b.p.Contains(a) {
			return b.reason
		}
	}
	if !global6.Contains(a) {
		return "not global unicast (outside 2000::/3)"
	}
	return ""
}

// IsPrivate reports whether a is on the household's own networks:
// loopback, private (RFC 1918, fc00::/7) or link-local, IPv4-mapped forms
// included.
func IsPrivate(a netip.Addr) bool {
	a = a.WithZone("").Unmap()
	for _, p := range private {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Options configure a Dialer.
type Options struct {
	// Scope is what may be reached; the zero value is Public.
	Scope Scope
	// Allow admits these prefixes whatever the scope says. Only tests and
	// deployments that run their own relay set it (a test's push service
	// on 127.0.0.1); empty admits nothing more.
	Allow []netip.Prefix
	// Resolver resolves names; nil means net.DefaultResolver. Tests give
	// one whose Dial reaches their own DNS server.
	Resolver *net.Resolver
	// Timeout bounds a connection's setup; 0 means 10 seconds.
	Timeout time.Duration
}

// Check returns a *RefusedError when a may not be reached under o, nil
// when it may.
func (o Options) Check(a netip.Addr) error {
	a = a.WithZone("")
	for _, p := range o.Allow {
		if p.Contains(a) || p.Contains(a.Unmap()) {
			return nil
		}
	}
	if o.Scope == Private {
		if IsPrivate(a) {
			return nil
		}
		return &RefusedError{Addr: a, Reason: "public", Scope: o.Scope}
	}
	if r := NotPublic(a); r != "" {
		return &RefusedError{Addr: a, Reason: r, Scope: o.Scope}
	}
	return nil
}

// Dialer makes connections that reach only what Options admit.
type Dialer struct {
	o Options
	d net.Dialer
}

// NewDialer returns a Dialer.
func NewDialer(o Options) *Dialer {
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	g := &Dialer{o: o}
	g.d = net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second, Resolver: o.Resolver, Control: g.control}
	return g
}

// control runs for every address the dialer connects to, after name
// resolution and before the connection is made.
func (g *Dialer) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not an IP address and port", ErrRefused, network, address)
	}
	return g.o.Check(ap.Addr())
}

// DialContext connects to address ("host:port") over network ("tcp",
// "tcp4", "tcp6"), resolving host with the Options' resolver. An address
// the Options do not admit fails with an error wrapping a *RefusedError
// that names it and why, and no packet is sent to it.
func (g *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return g.d.DialContext(ctx, network, address)
}

// Lookup resolves host (a name or an IP address) and returns its
// addresses, or an error wrapping a *RefusedError for the first one the
// Options do not admit. It is for early, friendlier refusals (when a URL
// is saved): what is connected to later is checked again at dial time,
// since a name may resolve differently then.
func (g *Dialer) Lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, g.o.Check(a)
	}
	r := g.o.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	as, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if err := g.o.Check(a); err != nil {
			return nil, fmt.Errorf("%s: %w", host, err)
		}
	}
	return as, nil
}
