package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/netguard"
	"vigil/internal/netguard/dnstest"
)

// Every kind of address the Public scope refuses, each with a word its
// reason must contain, and public neighbours it must admit.
var publicCases = []struct {
	addr   string
	reason string // "" means admitted
}{
	{"127.0.0.1", "loopback"},
	{"127.8.9.10", "loopback"},
	{"::1", "loopback"},
	{"10.0.0.1", "private"},
	{"172.16.0.1", "private"},
	{"172.31.255.254", "private"},
	{"192.168.1.1", "private"},
	{"fc00::1", "private"},
	{"fd12:3456::1", "private"},
	{"169.254.169.254", "link-local"},
	{"fe80::1", "link-local"},
	{"fe80::1%eth0", "link-local"},
	{"100.64.0.1", "carrier-grade NAT"},
	{"100.127.255.254", "carrier-grade NAT"},
	{"0.0.0.0", "unspecified"},
	{"0.1.2.3", "unspecified"},
	{"::", "unspecified"},
	{"224.0.0.1", "multicast"},
	{"239.255.255.250", "multicast"},
	{"ff02::1", "multicast"},
	{"255.255.255.255", "broadcast"},
	{"240.0.0.1", "reserved"},
	{"192.0.2.1", "documentation"},
	{"198.51.100.7", "documentation"},
	{"203.0.113.9", "documentation"},
	{"2001:db8::1", "documentation"},
	{"3fff::1", "documentation"},
	{"198.18.0.1", "benchmarking"},
	{"198.19.255.255", "benchmarking"},
	{"2001:2::1", "benchmarking"},
	{"192.0.0.8", "IETF protocol"},
	{"192.88.99.1", "6to4 relay"},
	{"::ffff:127.0.0.1", "IPv4-mapped 127.0.0.1: loopback"},
	{"::ffff:169.254.169.254", "IPv4-mapped 169.254.169.254: link-local"},
	{"::ffff:10.1.2.3", "IPv4-mapped 10.1.2.3: private"},
	{"::127.0.0.1", "IPv4-compatible"},
	{"64:ff9b::7f00:1", "NAT64 form of 127.0.0.1: loopback"},
	{"64:ff9b::a9fe:a9fe", "NAT64 form of 169.254.169.254: link-local"},
	{"64:ff9b:1::1", "local-use NAT64"},
	{"2002:a00:1::1", "6to4 form of 10.0.0.1: private"},
	{"2002:7f00:1::1", "6to4 form of 127.0.0.1: loopback"},
	{"2001::1", "Teredo"},
	{"fec0::1", "site-local"},
	{"100::1", "discard-only"},
	{"::2:3:4:5:6", "outside 2000::/3"},
	// Public neighbours are admitted.
	{"8.8.8.8", ""},
	{"1.1.1.1", ""},
	{"100.128.0.1", ""},
	{"172.32.0.1", ""},
	{"169.253.255.255", ""},
	{"2606:4700::1111", ""},
	{"::ffff:8.8.4.4", ""},
	{"64:ff9b::808:808", ""}, // NAT64 form of 8.8.8.8
	{"2002:808:808::1", ""},  // 6to4 form of 8.8.8.8
}

func TestPublicScope(t *testing.T) {
	var o netguard.Options
	for _, c := range publicCases {
		a := netip.MustParseAddr(c.addr)
		err := o.Check(a)
		if c.reason == "" {
			if err != nil {
				t.Errorf("%s: %v, want it admitted", c.addr, err)
			}
			continue
		}
		var re *netguard.RefusedError
		if !errors.As(err, &re) || !errors.Is(err, netguard.ErrRefused) {
			t.Errorf("%s: %v, want a refusal (%s)", c.addr, err, c.reason)
			continue
		}
		if !strings.Contains(err.Error(), c.reason) || !strings.Contains(err.Error(), a.WithZone("").String()) {
			t.Errorf("%s: %q, want the address and %q", c.addr, err, c.reason)
		}
	}
}

func TestPrivateScope(t *testing.T) {
	o := netguard.Options{Scope: netguard.Private}
	for _, a := range []string{"127.0.0.1", "::1", "10.1.2.3", "172.20.0.5", "192.168.1.20", "fd00::20", "169.254.3.4", "fe80::1", "::ffff:192.168.1.20"} {
		if err := o.Check(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s: %v, want it admitted", a, err)
		}
	}
	for _, a := range []string{"8.8.8.8", "100.64.0.1", "2606:4700::1111", "::ffff:1.1.1.1", "224.0.0.1", "0.0.0.0"} {
		err := o.Check(netip.MustParseAddr(a))
		if !errors.Is(err, netguard.ErrRefused) || !strings.Contains(err.Error(), a) || !strings.Contains(err.Error(), "private networks") {
			t.Errorf("%s: %v, want a refusal naming it and the household's private networks", a, err)
		}
	}
}

func TestAllowIsExplicit(t *testing.T) {
	o := netguard.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if err := o.Check(netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Errorf("an allowed prefix: %v", err)
	}
	if err := o.Check(netip.MustParseAddr("::ffff:127.0.0.1")); err != nil {
		t.Errorf("the IPv4-mapped form of an allowed prefix: %v", err)
	}
	if err := o.Check(netip.MustParseAddr("10.0.0.1")); err == nil {
		t.Error("a prefix outside Allow was admitted")
	}
	if err := (netguard.Options{}).Check(netip.MustParseAddr("127.0.0.1")); err == nil {
		t.Error("loopback admitted without Allow")
	}
}

// target is a TCP listener on 127.0.0.1 that counts the connections it
// accepts: a refusal at dial time leaves it at zero.
type target struct {
	ln       net.Listener
	accepted atomic.Int64
}

func listen(t *testing.T) *target {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{ln: ln}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tg.accepted.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return tg
}

func (tg *target) port() string { _, p, _ := net.SplitHostPort(tg.ln.Addr().String()); return p }

// refusedAtDial dials address and checks the dial was refused, naming ip
// and reason.
func refusedAtDial(t *testing.T, d *netguard.Dialer, address, ip, reason string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", address)
	if err == nil {
		c.Close()
		t.Errorf("dial %s: connected, want a refusal (%s)", address, reason)
		return
	}
	var re *netguard.RefusedError
	if !errors.As(err, &re) || re.Addr.String() != ip || !strings.Contains(err.Error(), ip) || !strings.Contains(err.Error(), reason) {
		t.Errorf("dial %s: %v, want a refusal of %s (%s)", address, err, ip, reason)
	}
}

// The cases of the red-team report, refused when the connection is made:
// an address in the URL, and names that resolve to a cloud metadata
// service, a cluster's internal service, and loopback (where a server
// listens and sees no connection).
func TestDialRefusals(t *testing.T) {
	dns := dnstest.Start(t)
	dns.Set("metadata.google.internal", "169.254.169.254")
	dns.Set("kubernetes.default.svc", "10.96.0.1")
	dns.Set("push.looks-public.example", "127.0.0.1")
	dns.Set("v6.looks-public.example", "::1")
	dns.Set("mapped.looks-public.example", "64:ff9b::7f00:1")
	d := netguard.NewDialer(netguard.Options{Resolver: dns.Resolver()})
	tg := listen(t)
	port := tg.port()
	refusedAtDial(t, d, "100.64.0.1:443", "100.64.0.1", "carrier-grade NAT")
	refusedAtDial(t, d, "169.254.169.254:80", "169.254.169.254", "link-local")
	refusedAtDial(t, d, "metadata.google.internal:80", "169.254.169.254", "link-local")
	refusedAtDial(t, d, "kubernetes.default.svc:443", "10.96.0.1", "private")
	refusedAtDial(t, d, "push.looks-public.example:"+port, "127.0.0.1", "loopback")
	refusedAtDial(t, d, "127.0.0.1:"+port, "127.0.0.1", "loopback")
	refusedAtDial(t, d, "[::ffff:127.0.0.1]:"+port, "127.0.0.1", "loopback")
	refusedAtDial(t, d, "v6.looks-public.example:"+port, "::1", "loopback")
	refusedAtDial(t, d, "mapped.looks-public.example:"+port, "64:ff9b::7f00:1", "NAT64 form of 127.0.0.1")
	if n := tg.accepted.Load(); n != 0 {
		t.Errorf("the loopback server accepted %d connections", n)
	}
	if dns.Queries("push.looks-public.example") == 0 {
		t.Error("the name was not resolved through the test's DNS server")
	}

	// With loopback allowed explicitly (as tests with a local push
	// service do), the same dial connects.
	ok := netguard.NewDialer(netguard.Options{Resolver: dns.Resolver(), Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	c, err := ok.DialContext(context.Background(), "tcp", "push.looks-public.example:"+port)
	if err != nil {
		t.Fatalf("dial with loopback allowed: %v", err)
	}
	c.Close()
}

// DNS rebinding: the name resolves to a public address when the URL is
// checked, and to 127.0.0.1 when the connection is made; the connection
// is refused, because the check is on the address dialed.
func TestDNSRebinding(t *testing.T) {
	dns := dnstest.Start(t)
	tg := listen(t)
	const name = "rebind.looks-public.example"
	dns.Set(name, "8.8.8.8")
	d := netguard.NewDialer(netguard.Options{Resolver: dns.Resolver()})
	as, err := d.Lookup(context.Background(), name)
	if err != nil || len(as) != 1 || as[0] != netip.MustParseAddr("8.8.8.8") {
		t.Fatalf("validation lookup: %v %v, want 8.8.8.8 admitted", as, err)
	}
	dns.Set(name, "127.0.0.1")
	refusedAtDial(t, d, name+":"+tg.port(), "127.0.0.1", "loopback")
	if n := tg.accepted.Load(); n != 0 {
		t.Errorf("the loopback server accepted %d connections", n)
	}
	if _, err := d.Lookup(context.Background(), name); !errors.Is(err, netguard.ErrRefused) {
		t.Errorf("lookup after rebinding: %v, want a refusal", err)
	}
}

// The Private scope (the hub's detection server) connects inside the
// household and refuses a name that resolves to a public address.
func TestPrivateDial(t *testing.T) {
	dns := dnstest.Start(t)
	dns.Set("gpu.local", "127.0.0.1")
	dns.Set("gpu-moved.local", "8.8.8.8")
	tg := listen(t)
	d := netguard.NewDialer(netguard.Options{Scope: netguard.Private, Resolver: dns.Resolver()})
	c, err := d.DialContext(context.Background(), "tcp", "gpu.local:"+tg.port())
	if err != nil {
		t.Fatalf("dial a private address: %v", err)
	}
	c.Close()
	refusedAtDial(t, d, "gpu-moved.local:80", "8.8.8.8", "public")
}
