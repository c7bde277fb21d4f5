package hubd

import (
	"fmt"
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"vigil/internal/detect/pipeline"
	"vigil/internal/metrics"
)

// hubMetrics are the hub's Prometheus metrics (config key metrics). The
// counters the recording path already keeps (atomics in recorder, the
// ingest's and the uploader's Stats) are read when scraped, so a frame
// costs nothing more; only per-segment and per-detected-frame latencies
// are observed as they happen. Camera names are labels: the metrics stay
// on the hub's own listener.
type hubMetrics struct {
	h   *Hub
	reg *prometheus.Registry
	srv *metrics.Server // set once Start has everything running

	segStore *prometheus.HistogramVec // camera
	stage    *prometheus.HistogramVec // camera, stage

	framesIn, framesRecorded, framesDropped, segments, bytes, storeErrors, gaps *prometheus.Desc
	connects, disconnects, packetsLost, connected, storeQueue                   *prometheus.Desc
	uploadQueue, uploaded, uploadFailures, uploadBytes                          *prometheus.Desc
	detectFrames, detectEvents, outboxQueue                                     *prometheus.Desc
}

func newHubMetrics(h *Hub, reg prometheus.Registerer) (*hubMetrics, error) {
	cam := []string{"camera"}
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("vigil_hub_"+name, help, labels, nil)
	}
	m := &hubMetrics{h: h,
		segStore: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_hub_segment_store_seconds",
			Help:    "Time from a segment's end (the segmenter closing it) to its sealed bytes being durably stored.",
			Buckets: metrics.LatencyBuckets()}, cam),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_hub_detection_stage_seconds",
			Help:    "Time one analysed frame spent in a detection stage (motion, detect, track).",
			Buckets: metrics.StageBuckets()}, []string{"camera", "stage"}),
		framesIn:       d("frames_received_total", "Video access units received from the camera.", cam),
		framesRecorded: d("frames_recorded_total", "Video access units in durably stored segments.", cam),
		framesDropped:  d("frames_dropped_total", "Video access units not recorded: malformed, before the first keyframe, or lost to a full queue or a store error.", cam),
		segments:       d("segments_stored_total", "Sealed segments durably stored.", cam),
		bytes:          d("segment_bytes_total", "Bytes of sealed segments durably stored.", cam),
		storeErrors:    d("store_errors_total", "Segments lost to a store error or a full store queue.", cam),
		gaps:           d("gaps_total", "Gaps recorded in the camera's recording.", cam),
		connects:       d("camera_connects_total", "Sessions the camera's ingest established.", cam),
		disconnects:    d("camera_disconnects_total", "Sessions that ended (each followed by a reconnect while the hub runs).", cam),
		packetsLost:    d("camera_packets_lost_total", "RTP packets the camera's ingest found missing.", cam),
		connected:      d("camera_connected", "1 while the camera's session is up.", cam),
		storeQueue:     d("store_queue_segments", "Sealed segments waiting for the disk.", cam),
		uploadQueue:    prometheus.NewDesc("vigil_hub_upload_queue_segments", "Segments waiting to be uploaded to the cloud.", nil, nil),
		uploaded:       prometheus.NewDesc("vigil_hub_uploads_total", "Segments the cloud stored or already had.", nil, nil),
		uploadFailures: prometheus.NewDesc("vigil_hub_upload_failures_total", "Failed upload attempts of any kind.", nil, nil),
		uploadBytes:    prometheus.NewDesc("vigil_hub_upload_bytes_total", "Request body bytes sent to the cloud, failed attempts included.", nil, nil),
		detectFrames:   d("detection_frames_total", "Frames the camera's detection analysed.", cam),
		detectEvents:   d("detection_events_total", "Events the camera's detection started.", cam),
		outboxQueue:    prometheus.NewDesc("vigil_hub_outbox_queue_items", "Sealed events, snapshots and state records waiting to be sent to the cloud.", nil, nil),
	}
	for _, c := range []prometheus.Collector{m.segStore, m.stage, m} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}

// Describe implements prometheus.Collector.
func (m *hubMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.framesIn, m.framesRecorded, m.framesDropped, m.segments, m.bytes, m.storeErrors,
		m.gaps, m.connects, m.disconnects, m.packetsLost, m.connected, m.storeQueue, m.uploadQueue, m.uploaded,
		m.uploadFailures, m.uploadBytes, m.detectFrames, m.detectEvents, m.outboxQueue} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads the counters the hub
// keeps anyway.
func (m *hubMetrics) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, r := range m.h.recorders() {
		s := r.Stats()
		counter(m.framesIn, s.FramesIn, s.Camera)
		counter(m.framesRecorded, s.FramesRecorded, s.Camera)
		counter(m.framesDropped, s.FramesDropped, s.Camera)
		counter(m.segments, s.Segments, s.Camera)
		counter(m.bytes, s.SealedBytes, s.Camera)
		counter(m.storeErrors, s.StoreErrors, s.Camera)
		counter(m.gaps, s.Gaps, s.Camera)
		counter(m.connects, s.Ingest.Connects, s.Camera)
		counter(m.disconnects, s.Ingest.Disconnects, s.Camera)
		counter(m.packetsLost, s.Ingest.Lost, s.Camera)
		up := 0.0
		if s.Ingest.Connected {
			up = 1
		}
		gauge(m.connected, up, s.Camera)
		gauge(m.storeQueue, float64(r.Queued()), s.Camera)
	}
	if u := m.h.uploader; u != nil {
		s := u.Stats()
		gauge(m.uploadQueue, float64(s.Pending))
		counter(m.uploaded, uint64(s.Uploaded+s.AlreadyThere))
		counter(m.uploadFailures, uint64(s.Failures))
		counter(m.uploadBytes, uint64(s.BytesSent))
	}
	if o := m.h.outbox; o != nil {
		gauge(m.outboxQueue, float64(o.Stats().Pending))
	}
	for _, s := range m.h.DetectionStats() {
		counter(m.detectFrames, uint64(s.Frames), s.Camera)
		counter(m.detectEvents, uint64(s.Events), s.Camera)
	}
}

// segmentObserver returns the segment latency histogram of camera, or nil
// when the hub serves no metrics.
func (m *hubMetrics) segmentObserver(camera string) prometheus.Observer {
	if m == nil {
		return nil
	}
	return m.segStore.WithLabelValues(camera)
}

// stageObservers are one camera's detection stage histograms.
type stageObservers struct{ motion, detect, track prometheus.Observer }

func (m *hubMetrics) stageObservers(camera string) *stageObservers {
	if m == nil {
		return nil
	}
	return &stageObservers{
		motion: m.stage.WithLabelValues(camera, "motion"),
		detect: m.stage.WithLabelValues(camera, "detect"),
		track:  m.stage.WithLabelValues(camera, "track"),
	}
}

// observe records one frame's stage times; a stage that did not run is
// not observed.
func (o *stageObservers) observe(t pipeline.Timings) {
	o.motion.Observe(t.Motion.Seconds())
	if t.Detect > 0 {
		o.detect.Observe(t.Detect.Seconds())
	}
	if t.Track > 0 {
		o.track.Observe(t.Track.Seconds())
	}
}

// listenMetrics registers the hub's metrics and opens their listener
// (nil, nil without the metrics key); serveMetrics serves them once Start
// has everything running.
func (h *Hub) listenMetrics() (net.Listener, error) {
	if h.cfg.Metrics == nil {
		return nil, nil
	}
	reg := h.opts.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newHubMetrics(h, reg)
	if err != nil {
		return nil, err
	}
	m.reg = reg
	ln, err := net.Listen("tcp", h.cfg.Metrics.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen: %w", err)
	}
	h.metrics = m
	return ln, nil
}

func (h *Hub) serveMetrics(ln net.Listener) {
	if ln == nil {
		return
	}
	h.metrics.srv = metrics.Serve(ln, h.metrics.reg, h.log.With("component", "metrics"))
	h.log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
}

// stopMetrics stops the metrics listener and waits for it.
func (h *Hub) stopMetrics() {
	if h.metrics != nil && h.metrics.srv != nil {
		_ = h.metrics.srv.Close()
	}
}

// MetricsAddr is where the hub serves its metrics, nil when it serves none
// (valid after Start).
func (h *Hub) MetricsAddr() net.Addr {
	if h.metrics == nil || h.metrics.srv == nil {
		return nil
	}
	return h.metrics.srv.Addr()
}
