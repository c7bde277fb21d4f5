// Package netguard decides which IP addresses a connection may reach, and
// enforces it where it matters: on the resolved address, at connect time,
// in a net.Dialer's Control hook.
//
// What it owns: the address policy of connections to places users name.
// The cloud dials Web Push endpoints its users supply; a check of the URL's
// text alone is not enough, because a name can resolve to anything (a cloud
// metadata service, a cluster's internal service, 127.0.0.1) and can
// resolve differently at each lookup (DNS rebinding). A [Dialer] checks
// every address the connection is actually made to, after resolution, so
// what was validated and what is dialed cannot differ. Two scopes:
//
//   - [Public] (the cloud's outgoing requests, the hub's Web Push): only
//     addresses on the public internet. Refused with the reason: loopback,
//     private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10),
//     shared address space (100.64/10, carrier-grade NAT), unspecified,
//     multicast, broadcast, reserved, documentation and benchmarking
//     ranges, and the IPv6 forms that carry an IPv4 address
//     (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16)
//     when that address is refused; Teredo and local-use NAT64
//     (64:ff9b:1::/48) always, since the IPv4 address behind them cannot be
//     checked.
//   - [Private] (the hub's detection server): only the household's own
//     networks: loopback, private (RFC 1918, fc00::/7) and link-local.
//
// An explicit allow list ([Options.Allow]) admits prefixes the scope
// refuses; tests that deliver to a local server set it, nothing sets it by
// default, and there is no package-level switch.
//
// What it must never do: import net/http (the hub's configuration, which
// has no HTTP stack, classifies addresses with it; callers build their
// http.Transport on [Dialer.DialContext], with no proxy from the
// environment: a proxy would resolve and dial the target out of the
// guard's sight); resolve a name once and dial the answer later (the
// check is on the dialed address itself); keep state between calls.
package netguard
