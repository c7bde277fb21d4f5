package liveview

import (
	"net"
	"net/netip"
	"testing"
)

func TestTURNPeerAllowed(t *testing.T) {
	own := []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("2001:db8::10")}
	cases := []struct {
		peer       string
		onLoopback bool
		want       bool
	}{
		// A relay on a public address: public unicast peers only.
		{"8.8.8.8", false, true},
		{"198.51.100.7", false, true},
		{"2606:4700::1111", false, true},
		{"::ffff:8.8.4.4", false, true},
		{"127.0.0.1", false, false},
		{"127.1.2.3", false, false},
		{"::1", false, false},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"0.1.2.3", false, false},
		{"224.0.0.1", false, false},
		{"239.255.255.250", false, false},
		{"ff02::1", false, false},
		{"255.255.255.255", false, false},
		{"10.0.0.1", false, false},
		{"10.255.255.255", false, false},
		{"172.16.0.1", false, false},
		{"172.31.255.254", false, false},
		{"192.168.1.1", false, false},
		{"::ffff:192.168.1.1", false, false},
		{"100.64.0.1", false, false},
		{"100.127.255.254", false, false},
		{"169.254.169.254", false, false}, // cloud metadata service
		{"fe80::1", false, false},
		{"fc00::1", false, false},
		{"fd12:3456::1", false, false},
		{"64:ff9b::a00:1", false, false}, // NAT64 of 10.0.0.1
		{"2002:a00:1::1", false, false},  // 6to4 of 10.0.0.1
		{"203.0.113.10", false, false},   // the host's own address
		{"2001:db8::10", false, false},
		{"::ffff:203.0.113.10", false, false},
		// Neighbours of the refused ranges stay allowed.
		{"172.32.0.1", false, true},
		{"100.128.0.1", false, true},
		{"11.0.0.1", false, true},
		{"203.0.113.11", false, true},
		// A relay on loopback: loopback peers only.
		{"127.0.0.1", true, true},
		{"::1", true, true},
		{"8.8.8.8", true, false},
		{"192.168.1.1", true, false},
		{"0.0.0.0", true, false},
	}
	for _, c := range cases {
		ip := net.ParseIP(c.peer)
		if ip == nil {
			t.Fatalf("bad test address %q", c.peer)
		}
		if got := turnPeerAllowed(ip, c.onLoopback, own); got != c.want {
			t.Errorf("turnPeerAllowed(%s, onLoopback=%v) = %v, want %v", c.peer, c.onLoopback, got, c.want)
		}
	}
	if turnPeerAllowed(net.IP{1, 2, 3}, false, nil) {
		t.Error("a 3-byte address was allowed")
	}
}
