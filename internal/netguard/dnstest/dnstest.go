// Package dnstest gives tests a DNS server they control: a UDP server on
// 127.0.0.1, port 0, answering A and AAAA queries from a table the test
// changes as it goes (to play DNS rebinding), and a *net.Resolver that
// asks it and nothing else. Names not in the table get NXDOMAIN. It is
// stopped when the test ends. Only tests import it.
package dnstest

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// Server is a DNS server answering from a table.
type Server struct {
	pc net.PacketConn

	mu      sync.Mutex
	answers map[string][]netip.Addr // lower-case name without the final dot
	queries map[string]int
	wg      sync.WaitGroup
}

// Start starts a server; it is closed when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	s := &Server{pc: pc, answers: map[string][]netip.Addr{}, queries: map[string]int{}}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() { pc.Close(); s.wg.Wait() })
	return s
}

// Set makes name resolve to addrs from now on (none: NXDOMAIN).
func (s *Server) Set(name string, addrs ...string) {
	as := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		as[i] = netip.MustParseAddr(a)
	}
	s.mu.Lock()
	s.answers[canon(name)] = as
	s.mu.Unlock()
}

// Queries returns how many queries for name the server answered.
func (s *Server) Queries(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[canon(name)]
}

// Resolver returns a resolver that asks this server only.
func (s *Server) Resolver() *net.Resolver {
	addr := s.pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

func canon(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

func (s *Server) serve() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if out := s.answer(buf[:n]); out != nil {
			s.pc.WriteTo(out, from)
		}
	}
}

// answer builds the reply to one query, or nil for a message it cannot
// parse.
func (s *Server) answer(q []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		return nil
	}
	question := qs[0]
	name := canon(question.Name.String())
	s.mu.Lock()
	addrs, ok := s.answers[name]
	s.queries[name]++
	s.mu.Unlock()
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	if !ok {
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	b.StartQuestions()
	b.Question(question)
	b.StartAnswers()
	rr := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 0}
	for _, a := range addrs {
		switch {
		case question.Type == dnsmessage.TypeA && a.Is4():
			b.AResource(rr, dnsmessage.AResource{A: a.As4()})
		case question.Type == dnsmessage.TypeAAAA && a.Is6() && !a.Is4In6():
			b.AAAAResource(rr, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}
