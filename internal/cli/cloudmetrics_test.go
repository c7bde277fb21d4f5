package cli

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"vigil/internal/client"
	"vigil/internal/metrics/metricstest"
)

// TestCloudMetricsListen: 'vigil cloud' with metrics_listen serves the
// metrics on that listener (a sign-up shows in the account group and in the
// store's write latency) and not on the API's; it stops with the cloud.
func TestCloudMetricsListen(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cloud.yaml")
	if err := os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\ndata: data\nmetrics_listen: 127.0.0.1:0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cloudURL, log, stop := startCloud(t, cfg)
	m := regexp.MustCompile(`serving metrics.*url=(http://127\.0\.0\.1:\d+/metrics)`).FindStringSubmatch(log.String())
	if m == nil {
		t.Fatalf("no metrics URL in the log:\n%s", log.String())
	}
	if _, err := client.New(cloudURL).SignUp(t.Context(), "metrics@example.com", "a long enough password"); err != nil {
		t.Fatal(err)
	}
	var s metricstest.Scrape
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s = metricstest.Get(t, m[1])
		if n, _ := s.Sum("vigil_cloud_http_requests_total", map[string]string{"group": "account"}); n >= 1 || time.Now().After(deadline) {
			break
		}
	}
	if n, _ := s.Sum("vigil_cloud_http_requests_total", map[string]string{"group": "account"}); n < 1 {
		t.Errorf("the sign-up was not counted: %v requests in group account", n)
	}
	if n, _ := s.Sum("vigil_cloud_store_operation_duration_seconds", map[string]string{"op": "write"}); n < 1 {
		t.Errorf("%v store writes observed after a sign-up", n)
	}
	resp, err := http.Get(cloudURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "vigil_cloud_") {
		t.Errorf("the API listener serves the metrics")
	}
	if code := stop(); code != 0 {
		t.Fatalf("vigil cloud exited with %d", code)
	}
	if resp, err := http.Get(m[1]); err == nil {
		resp.Body.Close()
		t.Errorf("metrics still served after the cloud stopped: %s", resp.Status)
	}
}
