package liveview

import (
	"net"
	"net/netip"
)

// Peers the TURN relay refuses. A relay on a public address must not become
// a way into the cloud's own machine or its private networks: it relays only
// to public unicast addresses that are not the host's own. A relay on
// loopback (tests, a single-machine demo) relays only to loopback.
var turnDeniedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network"
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64: a way to any IPv4 address
	netip.MustParsePrefix("2002::/16"),     // 6to4: likewise
}

// turnPeerAllowed reports whether the relay may send to peer. onLoopback
// says whether the relay itself listens on loopback; own are the host's
// interface addresses.
func turnPeerAllowed(peer net.IP, onLoopback bool, own []netip.Addr) bool {
	a, ok := netip.AddrFromSlice(peer)
	if !ok {
		return false
	}
	a = a.Unmap()
	if onLoopback {
		return a.IsLoopback()
	}
	// IsGlobalUnicast is false for unspecified, loopback, multicast and
	// link-local addresses; private ranges (10/8, 172.16/12, 192.168/16,
	// fc00::/7) are global unicast and refused apart.
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range turnDeniedPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	for _, o := range own {
		if o.Unmap() == a {
			return false
		}
	}
	return true
}

// hostAddrs returns the addresses of the host's interfaces (none when they
// cannot be listed).
func hostAddrs() []netip.Addr {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out
}
