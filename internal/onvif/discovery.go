package onvif

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"vigil/internal/netguard"
)

// DiscoveryAddr is WS-Discovery's IPv4 multicast group and port.
const DiscoveryAddr = "239.255.255.250:3702"

const (
	actionProbe        = nsWSD + "/Probe"
	actionProbeMatches = nsWSD + "/ProbeMatches"
	discoveryTo        = "urn:schemas-xmlsoap-org:ws:2005:04:discovery"
	anonymous          = nsWSADisc + "/role/anonymous"
	maxXAddrs          = 8
	maxScopes          = 64
)

// ProbeMatch is a device that answered a Probe.
type ProbeMatch struct {
	// Endpoint is the device's endpoint reference, e.g. "urn:uuid:...";
	// stable across its address changes.
	Endpoint string
	// XAddrs are the device service URLs it gave (http or https only).
	XAddrs []string
	// Types are its types as written, e.g. "dn:NetworkVideoTransmitter".
	Types []string
	// Scopes are its scope URIs; Name and Hardware are decoded from the
	// onvif://www.onvif.org/name/ and /hardware/ ones.
	Scopes         []string
	Name, Hardware string
	// From is the address the answer came from.
	From netip.AddrPort
}

// DiscoverOptions configure Discover.
type DiscoverOptions struct {
	// Target is where the Probe goes; "" means DiscoveryAddr (multicast).
	// Tests give a Responder's loopback address.
	Target string
	// Listen is the local UDP address; "" means "0.0.0.0:0".
	Listen string
	// Timeout is how long answers are collected; 0 means 3 seconds.
	Timeout time.Duration
	// MaxMatches bounds the devices collected; 0 means 256.
	MaxMatches int
}

func newMessageID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return "uuid:" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func discoveryEnvelope(header, body string) []byte {
	return []byte(`<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="` + nsSOAP + `" xmlns:a="` + nsWSADisc +
		`" xmlns:d="` + nsWSD + `" xmlns:dn="` + nsDN + `" xmlns:tds="` + nsTDS + `"><s:Header>` + header + `</s:Header><s:Body>` + body + `</s:Body></s:Envelope>`)
}

func probeMessage(id string) []byte {
	return discoveryEnvelope(
		`<a:Action s:mustUnderstand="1">`+actionProbe+`</a:Action><a:MessageID>`+id+`</a:MessageID>`+
			`<a:ReplyTo><a:Address>`+anonymous+`</a:Address></a:ReplyTo><a:To s:mustUnderstand="1">`+discoveryTo+`</a:To>`,
		`<d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe>`)
}

// Discover sends a WS-Discovery Probe for network video transmitters and
// collects the answers until the timeout or ctx ends. Answers to another
// probe, malformed answers and XAddrs that are not http(s) URLs are
// dropped; a device answering twice is listed once. When ctx ends first,
// it returns what it collected with ctx's error.
func Discover(ctx context.Context, o DiscoverOptions) ([]ProbeMatch, error) {
	if o.Target == "" {
		o.Target = DiscoveryAddr
	}
	if o.Listen == "" {
		o.Listen = "0.0.0.0:0"
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.MaxMatches <= 0 {
		o.MaxMatches = 256
	}
	target, err := net.ResolveUDPAddr("udp", o.Target)
	if err != nil {
		return nil, fmt.Errorf("onvif: discovery target: %w", err)
	}
	conn, err := net.ListenPacket("udp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("onvif: discovery: %w", err)
	}
	defer conn.Close()
	// The timeout's deadline first: ctx's end then moves it earlier, and
	// nothing moves it back (setting it after AfterFunc would undo a
	// context already done).
	if err := conn.SetReadDeadline(time.Now().Add(o.Timeout)); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	id := newMessageID()
	if _, err := conn.WriteTo(probeMessage(id), target); err != nil {
		return nil, fmt.Errorf("onvif: discovery: sending the probe: %w", err)
	}
	var out []ProbeMatch
	seen := map[string]bool{}
	buf := make([]byte, maxDatagram)
	for len(out) < o.MaxMatches {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			return out, fmt.Errorf("onvif: discovery: %w", err)
		}
		relates, ms, err := parseProbeMatches(buf[:n])
		if err != nil || relates != id {
			continue
		}
		src, _ := netip.ParseAddrPort(from.String())
		for _, m := range ms {
			key := m.Endpoint
			if key == "" {
				key = strings.Join(m.XAddrs, " ")
			}
			if seen[key] || len(out) >= o.MaxMatches {
				continue
			}
			seen[key] = true
			m.From = src
			out = append(out, m)
		}
	}
	return out, ctx.Err()
}

type probeMatchesXML struct {
	Matches []struct {
		EPR struct {
			Address string `xml:"Address"`
		} `xml:"EndpointReference"`
		Types  string `xml:"Types"`
		Scopes string `xml:"Scopes"`
		XAddrs string `xml:"XAddrs"`
	} `xml:"ProbeMatch"`
}

// parseProbeMatches decodes a ProbeMatches message: the MessageID it
// answers and its matches.
func parseProbeMatches(data []byte) (relatesTo string, matches []ProbeMatch, err error) {
	if len(data) > maxDatagram {
		return "", nil, fmt.Errorf("onvif: ProbeMatches: %w", ErrTooLarge)
	}
	var h envHeader
	var r probeMatchesXML
	err = decodeEnvelope(data, &h, func(d *xml.Decoder, start xml.StartElement) error {
		if start.Name.Space != nsWSD || start.Name.Local != "ProbeMatches" {
			return fmt.Errorf("%w: body is %s, want ProbeMatches", ErrUnexpectedReply, qname(start.Name))
		}
		return d.DecodeElement(&r, &start)
	})
	if err != nil {
		return "", nil, fmt.Errorf("onvif: ProbeMatches: %w", err)
	}
	for _, m := range r.Matches {
		pm := ProbeMatch{Endpoint: strings.TrimSpace(m.EPR.Address), Types: strings.Fields(m.Types)}
		for _, x := range strings.Fields(m.XAddrs) {
			if checkServiceURL(x) == nil && len(pm.XAddrs) < maxXAddrs {
				pm.XAddrs = append(pm.XAddrs, x)
			}
		}
		for _, s := range strings.Fields(m.Scopes) {
			if len(pm.Scopes) >= maxScopes {
				break
			}
			pm.Scopes = append(pm.Scopes, s)
			if v, ok := strings.CutPrefix(s, "onvif://www.onvif.org/name/"); ok && pm.Name == "" {
				pm.Name = unescapeScope(v)
			}
			if v, ok := strings.CutPrefix(s, "onvif://www.onvif.org/hardware/"); ok && pm.Hardware == "" {
				pm.Hardware = unescapeScope(v)
			}
		}
		if len(pm.XAddrs) == 0 {
			continue
		}
		matches = append(matches, pm)
	}
	return strings.TrimSpace(h.RelatesTo), matches, nil
}

func unescapeScope(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		s = u
	}
	return clip(s, 128)
}

// ResponderOptions configure a Responder.
type ResponderOptions struct {
	// Listen is the UDP address probes arrive at; "" joins the
	// WS-Discovery multicast group (DiscoveryAddr) on all interfaces.
	// Tests give "127.0.0.1:0".
	Listen string
	// Endpoint is the device's endpoint reference; "" makes a random
	// urn:uuid.
	Endpoint string
	// XAddrs are the device service URLs answered.
	XAddrs []string
	// Types are answered as the device's types; nil means
	// "dn:NetworkVideoTransmitter tds:Device".
	Types []string
	// Scopes are the device's scope URIs, e.g.
	// "onvif://www.onvif.org/name/Front%20Door".
	Scopes []string
}

// Responder answers WS-Discovery probes as a device. It answers only
// probes from the household's networks (loopback, private, link-local):
// an answer is larger than a probe, and a responder answering anyone
// reflects traffic at whoever a forged source names.
type Responder struct {
	conn     net.PacketConn
	o        ResponderOptions
	wg       sync.WaitGroup
	closeErr error
	once     sync.Once
	seq      atomic.Int64 // answered messages, for AppSequence
}

// NewResponder starts answering probes.
func NewResponder(o ResponderOptions) (*Responder, error) {
	if o.Endpoint == "" {
		o.Endpoint = "urn:" + newMessageID()
	}
	if o.Types == nil {
		o.Types = []string{"dn:NetworkVideoTransmitter", "tds:Device"}
	}
	var conn net.PacketConn
	var err error
	if o.Listen == "" {
		g, _ := net.ResolveUDPAddr("udp4", DiscoveryAddr)
		conn, err = net.ListenMulticastUDP("udp4", nil, g)
	} else {
		conn, err = net.ListenPacket("udp", o.Listen)
	}
	if err != nil {
		return nil, fmt.Errorf("onvif: discovery responder: %w", err)
	}
	r := &Responder{conn: conn, o: o}
	r.wg.Add(1)
	go r.loop()
	return r, nil
}

// Addr is the address probes are read at.
func (r *Responder) Addr() net.Addr { return r.conn.LocalAddr() }

// Close stops answering and waits for the responder's goroutine.
func (r *Responder) Close() error {
	r.once.Do(func() {
		r.closeErr = r.conn.Close()
		r.wg.Wait()
	})
	return r.closeErr
}

func (r *Responder) loop() {
	defer r.wg.Done()
	buf := make([]byte, maxDatagram)
	for {
		n, from, err := r.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		src, perr := netip.ParseAddrPort(from.String())
		if perr != nil {
			continue
		}
		if answer, ok := r.reply(buf[:n], src.Addr()); ok {
			r.conn.WriteTo(answer, from)
		}
	}
}

// reply returns the answer to a datagram from src, if it gets one: only a
// matching Probe from the household's networks does.
func (r *Responder) reply(data []byte, src netip.Addr) ([]byte, bool) {
	if !netguard.IsPrivate(src) {
		return nil, false
	}
	id, ok := r.matches(data)
	if !ok {
		return nil, false
	}
	return r.answer(id, r.seq.Add(1)), true
}

type probeXML struct {
	Types  string `xml:"Types"`
	Scopes string `xml:"Scopes"`
}

// matches reports whether a datagram is a Probe this device answers, and
// its MessageID.
func (r *Responder) matches(data []byte) (string, bool) {
	var h envHeader
	var p probeXML
	err := decodeEnvelope(data, &h, func(d *xml.Decoder, start xml.StartElement) error {
		if start.Name.Space != nsWSD || start.Name.Local != "Probe" {
			return ErrUnexpectedReply
		}
		return d.DecodeElement(&p, &start)
	})
	id := strings.TrimSpace(h.MessageID)
	if err != nil || id == "" || len(id) > 256 {
		return "", false
	}
	// Every type asked for must be one of ours (compared by local name:
	// prefixes are the prober's own).
	for _, t := range strings.Fields(p.Types) {
		found := false
		for _, ours := range r.o.Types {
			if localPart(ours) == localPart(t) {
				found = true
			}
		}
		if !found {
			return "", false
		}
	}
	// Every scope asked for must prefix one of ours (RFC 3986 matching).
	for _, s := range strings.Fields(p.Scopes) {
		found := false
		for _, ours := range r.o.Scopes {
			if ours == s || strings.HasPrefix(ours, strings.TrimSuffix(s, "/")+"/") {
				found = true
			}
		}
		if !found {
			return "", false
		}
	}
	return id, true
}

func (r *Responder) answer(relatesTo string, seq int64) []byte {
	return discoveryEnvelope(
		`<a:Action>`+actionProbeMatches+`</a:Action><a:MessageID>`+newMessageID()+`</a:MessageID>`+
			`<a:RelatesTo>`+esc(relatesTo)+`</a:RelatesTo><a:To>`+anonymous+`</a:To>`+
			`<d:AppSequence InstanceId="1" MessageNumber="`+strconv.FormatInt(seq, 10)+`"/>`,
		`<d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>`+esc(r.o.Endpoint)+`</a:Address></a:EndpointReference>`+
			`<d:Types>`+esc(strings.Join(r.o.Types, " "))+`</d:Types><d:Scopes>`+esc(strings.Join(r.o.Scopes, " "))+`</d:Scopes>`+
			`<d:XAddrs>`+esc(strings.Join(r.o.XAddrs, " "))+`</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches>`)
}
