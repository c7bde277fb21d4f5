package hubd

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vigil/internal/config"
	"vigil/internal/metrics/metricstest"
	"vigil/internal/recorder"
	"vigil/internal/vigiltest"
)

// TestMetricsScrape records a software camera with motion detection and
// scrapes the hub's /metrics twice: the families are there with the
// camera's label, names pass promlint, the frame, byte and segment
// counters grow between the scrapes, and segment store and detection stage
// latencies were observed. After Close the listener is gone.
func TestMetricsScrape(t *testing.T) {
	t.Parallel()
	_, rcpt := household(t)
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "porch")
	cfg := hubConfig(t, rcpt, map[string]string{"porch": cam.URL("porch")}, time.Second)
	cfg.Cameras[0].Detect = &config.Detect{MotionOnly: true, FPS: 2}
	cfg.Metrics = &config.Metrics{Listen: "127.0.0.1:0"}
	cfg.ApplyDefaults()
	reg := prometheus.NewRegistry()
	h := startHub(t, cfg, Options{Metrics: reg})
	if h.MetricsAddr() == nil {
		t.Fatal("metrics configured, but the hub serves none")
	}
	url := "http://" + h.MetricsAddr().String() + "/metrics"
	porch := map[string]string{"camera": "porch"}

	waitFor(t, "two stored segments", 30*time.Second, func() bool { return statsOf(h, "porch").Segments >= 2 })
	first := metricstest.Get(t, url)
	waitFor(t, "more frames", 10*time.Second, func() bool {
		f, _ := first.Sum("vigil_hub_frames_received_total", porch)
		return float64(statsOf(h, "porch").FramesIn) > f+5
	})
	waitFor(t, "a detected frame", 30*time.Second, func() bool {
		for _, s := range h.DetectionStats() {
			if s.Camera == "porch" && s.Frames > 0 {
				return true
			}
		}
		return false
	})
	waitFor(t, "one more segment", 10*time.Second, func() bool {
		n, _ := first.Sum("vigil_hub_segments_stored_total", porch)
		return float64(statsOf(h, "porch").Segments) > n
	})
	second := metricstest.Get(t, url)

	for _, name := range []string{"vigil_hub_frames_received_total", "vigil_hub_frames_recorded_total",
		"vigil_hub_segment_bytes_total", "vigil_hub_segments_stored_total"} {
		a, ok1 := first.Sum(name, porch)
		b, ok2 := second.Sum(name, porch)
		if !ok1 || !ok2 {
			t.Errorf("%s{camera=porch} missing (first %v, second %v)", name, ok1, ok2)
			continue
		}
		if !(b > a) {
			t.Errorf("%s did not grow between scrapes: %v then %v", name, a, b)
		}
		t.Logf("%s: %v -> %v", name, a, b)
	}
	if v, ok := second.Sum("vigil_hub_camera_connects_total", porch); !ok || v < 1 {
		t.Errorf("vigil_hub_camera_connects_total = %v (present %v), want at least 1", v, ok)
	}
	if v, ok := second.Sum("vigil_hub_camera_connected", porch); !ok || v != 1 {
		t.Errorf("vigil_hub_camera_connected = %v (present %v), want 1", v, ok)
	}
	if v, ok := second.Sum("vigil_hub_store_queue_segments", porch); !ok || v < 0 || v > recorder.QueueLen {
		t.Errorf("vigil_hub_store_queue_segments = %v (present %v), want 0..%d", v, ok, recorder.QueueLen)
	}
	segs, _ := second.Sum("vigil_hub_segments_stored_total", porch)
	if n, ok := second.Sum("vigil_hub_segment_store_seconds", porch); !ok || n != segs {
		t.Errorf("segment store latency observed %v times, %v segments stored", n, segs)
	}
	if f := second.Families["vigil_hub_segment_store_seconds"]; f != nil {
		h := f.Metric[0].Histogram
		if mean := h.GetSampleSum() / float64(h.GetSampleCount()); !(mean > 0 && mean < 5) {
			t.Errorf("mean segment store latency %v s, want between 0 and 5", mean)
		}
	}
	if n, ok := second.Sum("vigil_hub_detection_stage_seconds", map[string]string{"camera": "porch", "stage": "motion"}); !ok || n < 1 {
		t.Errorf("motion stage observed %v times (present %v)", n, ok)
	}
	if n, ok := second.Sum("vigil_hub_detection_frames_total", porch); !ok || n < 1 {
		t.Errorf("vigil_hub_detection_frames_total = %v (present %v)", n, ok)
	}

	// The registry passed in is the one served.
	if fams, err := reg.Gather(); err != nil || len(fams) < 10 {
		t.Errorf("the registry passed in gathers %d families (err %v)", len(fams), err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("metrics still served after Close: %s", resp.Status)
	}
}

// TestMetricsOffByDefault: without the metrics key the hub opens no
// listener and registers nothing.
func TestMetricsOffByDefault(t *testing.T) {
	_, rcpt := household(t)
	cfg := hubConfig(t, rcpt, map[string]string{"porch": "rtsp://127.0.0.1:1/none"}, time.Second)
	reg := prometheus.NewRegistry()
	h := startHub(t, cfg, Options{Metrics: reg})
	if a := h.MetricsAddr(); a != nil {
		t.Errorf("metrics served at %s without the metrics key", a)
	}
	if fams, _ := reg.Gather(); len(fams) != 0 {
		t.Errorf("%d families registered without the metrics key", len(fams))
	}
}
