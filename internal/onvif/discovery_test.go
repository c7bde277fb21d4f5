package onvif

import (
	"context"
	"encoding/xml"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func startResponder(t *testing.T, o ResponderOptions) *Responder {
	t.Helper()
	o.Listen = "127.0.0.1:0"
	r, err := NewResponder(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestDiscovery(t *testing.T) {
	r := startResponder(t, ResponderOptions{
		XAddrs: []string{"http://127.0.0.1:8080/onvif/device_service"},
		Scopes: []string{"onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/name/Front%20Door", "onvif://www.onvif.org/hardware/vigil-softcam"},
	})
	ms, err := Discover(context.Background(), DiscoverOptions{Target: r.Addr().String(), Listen: "127.0.0.1:0", Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 {
		t.Fatalf("%d matches: %+v", len(ms), ms)
	}
	m := ms[0]
	if !strings.HasPrefix(m.Endpoint, "urn:uuid:") || m.Name != "Front Door" || m.Hardware != "vigil-softcam" ||
		len(m.XAddrs) != 1 || m.XAddrs[0] != "http://127.0.0.1:8080/onvif/device_service" ||
		strings.Join(m.Types, " ") != "dn:NetworkVideoTransmitter tds:Device" || m.From.String() != r.Addr().String() {
		t.Errorf("match = %+v", m)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestDiscoveryIgnoresStrangers: answers to another probe, malformed and
// hostile datagrams are dropped; a device answering twice is listed once.
func TestDiscoveryIgnoresStrangers(t *testing.T) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, maxDatagram)
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return
		}
		var h envHeader
		decodeEnvelope(buf[:n], &h, func(*xml.Decoder, xml.StartElement) error { return nil })
		good := strings.Replace(string(sample(t, "probematches.xml")), "uuid:0a6dc791-2be6-4991-9af1-454778a1917a", h.MessageID, 1)
		for _, d := range []string{
			"not xml at all",
			string(sample(t, "billion_laughs.xml")),
			string(sample(t, "probematches.xml")), // answers another probe
			strings.Replace(good, "http://192.168.1.64/onvif/device_service http://[fe80::c2e7:bfff:fea4:b2a1]/onvif/device_service", "ftp://x/", 1),
			good,
			good,
		} {
			conn.WriteTo([]byte(d), from)
		}
	}()
	ms, err := Discover(context.Background(), DiscoverOptions{Target: conn.LocalAddr().String(), Listen: "127.0.0.1:0", Timeout: 500 * time.Millisecond})
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Name != "Front Door" || len(ms[0].XAddrs) != 2 {
		t.Fatalf("matches = %+v", ms)
	}
}

func TestDiscoverStopsWithContext(t *testing.T) {
	r := startResponder(t, ResponderOptions{XAddrs: []string{"http://127.0.0.1:1/onvif/device_service"}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Discover(ctx, DiscoverOptions{Target: r.Addr().String(), Listen: "127.0.0.1:0", Timeout: time.Hour}); err == nil {
		t.Fatal("a cancelled discovery reports no error")
	}
}

func TestResponderMatching(t *testing.T) {
	r := startResponder(t, ResponderOptions{
		XAddrs: []string{"http://127.0.0.1:8080/onvif/device_service"},
		Scopes: []string{"onvif://www.onvif.org/name/Door", "onvif://www.onvif.org/location/porch"},
	})
	probe := func(types, scopes string) []byte {
		body := `<d:Probe>`
		if types != "" {
			body += `<d:Types>` + types + `</d:Types>`
		}
		if scopes != "" {
			body += `<d:Scopes>` + scopes + `</d:Scopes>`
		}
		return discoveryEnvelope(`<a:MessageID>uuid:1</a:MessageID>`, body+`</d:Probe>`)
	}
	for _, c := range []struct {
		types, scopes string
		want          bool
	}{
		{"", "", true},
		{"dn:NetworkVideoTransmitter", "", true},
		{"other:NetworkVideoTransmitter tds:Device", "", true},
		{"dn:NetworkVideoDisplay", "", false},
		{"", "onvif://www.onvif.org/location", true},
		{"", "onvif://www.onvif.org/location/porch", true},
		{"", "onvif://www.onvif.org/loc", false},
		{"", "onvif://www.onvif.org/name/Garage", false},
	} {
		if _, got := r.matches(probe(c.types, c.scopes)); got != c.want {
			t.Errorf("probe types %q scopes %q: match %v, want %v", c.types, c.scopes, got, c.want)
		}
	}
	if _, ok := r.matches(sample(t, "probematches.xml")); ok {
		t.Error("a ProbeMatches is answered as a probe")
	}
	// Only probes from the household's networks are answered.
	for src, want := range map[string]bool{
		"127.0.0.1": true, "192.168.1.20": true, "10.1.2.3": true, "fe80::1": true, "::ffff:192.168.1.9": true,
		"203.0.113.1": false, "8.8.8.8": false, "2001:db8::1": false, "100.64.0.1": false,
	} {
		if _, got := r.reply(probe("", ""), netip.MustParseAddr(src)); got != want {
			t.Errorf("probe from %s answered: %v, want %v", src, got, want)
		}
	}
}
