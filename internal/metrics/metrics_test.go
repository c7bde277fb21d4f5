package metrics

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestServe serves a registry of its own: /metrics has its counter and
// nothing registered elsewhere (no Go runtime collectors), another path is
// 404, and after Close nothing listens.
func TestServe(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_test_things_total", Help: "Things."})
	reg.MustRegister(c)
	c.Add(3)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := Serve(ln, reg, nil)
	base := "http://" + s.Addr().String()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, "vigil_test_things_total 3") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if strings.Contains(body, "go_goroutines") || strings.Contains(body, "process_") {
		t.Errorf("/metrics serves collectors nobody registered:\n%s", body)
	}
	if code, _ := get("/debug/pprof/"); code != 404 {
		t.Errorf("/debug/pprof/: %d, want 404", code)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(base + "/metrics"); err == nil {
		resp.Body.Close()
		t.Error("still serving after Close")
	}
}
