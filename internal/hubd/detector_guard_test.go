package hubd

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"vigil/internal/config"
	"vigil/internal/detect"
	"vigil/internal/detect/httpdet"
	"vigil/internal/netguard"
	"vigil/internal/netguard/dnstest"
)

// The hub sends frames to its detection server only on the household's own
// networks, checked on the address it connects to: a .local name that
// resolves to the server on loopback gets the frame; one that resolves to
// a public address is refused before any connection, naming the address.
func TestDetectorDialsOnlyHouseholdNetworks(t *testing.T) {
	var asked atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Write([]byte(`{"success": true, "predictions": []}`))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	dns := dnstest.Start(t)
	dns.Set("gpu-box.local", "127.0.0.1")
	dns.Set("moved.local", "8.8.8.8")
	img := &detect.RGB{W: 8, H: 8, Pix: make([]byte, 8*8*3)}
	detector := func(url string) *httpdet.Detector {
		d, err := httpdet.New(httpdet.Config{URL: url, Dial: detectorDial(config.Detection{DetectorURL: url}, dns.Resolver())})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	if _, err := detector("http://gpu-box.local:"+port).Detect(context.Background(), img); err != nil {
		t.Fatalf("the detection server on the household's network: %v", err)
	}
	if asked.Load() != 1 {
		t.Fatalf("the server was asked %d times, want 1", asked.Load())
	}
	_, err := detector("http://moved.local:"+port).Detect(context.Background(), img)
	if !errors.Is(err, netguard.ErrRefused) || !strings.Contains(err.Error(), "8.8.8.8") || !strings.Contains(err.Error(), "private networks") {
		t.Errorf("a .local name resolving to a public address: %v, want a refusal naming 8.8.8.8", err)
	}
	if asked.Load() != 1 {
		t.Errorf("the server was asked %d times after the refusal", asked.Load())
	}
}
