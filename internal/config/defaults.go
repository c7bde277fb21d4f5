package config

import (
	"strconv"
	"strings"
	"time"

	"vigil/internal/detect"
	"vigil/internal/detect/events"
	"vigil/internal/detect/pipeline"
	"vigil/internal/yamlconf"
)

// The values of the hub's defaults that code outside this package needs
// too (a camera added from the web app, tests). Defaults lists every
// default with its key.
const (
	DefaultTransport        = TransportAuto
	DefaultSegmentDuration  = Duration(4 * time.Second)
	DefaultLogLevel         = "info"
	DefaultDoorbellInterval = Duration(5 * time.Second)
	DefaultUploadOrder      = UploadOldest
	// DefaultDetectWidth is the width of the frames detection works on.
	DefaultDetectWidth = 640
	// DefaultDetectFPS is the rate of frames given to detection.
	DefaultDetectFPS = 5
	// DefaultDetector is the object detector without a detector_url.
	DefaultDetector = "nanodet"
	// DefaultONNXInput is an ONNX model's square input side.
	DefaultONNXInput = 640
	// DefaultMode is the household's mode for alert rules.
	DefaultMode = "home"
)

// Defaults is the hub's table of defaults: every key the hub fills in when
// the file leaves it missing, empty or zero, with the value as a file
// writes it. ApplyDefaults applies exactly this table, and docs/CONFIG.md's
// Default column is checked against it (TestDefaultsDocumented). A default
// under an optional section (cloud, detection, a camera's detect or
// doorbell) applies when the section is there.
//
// Defaults that are not a value (a data path derived from another key,
// "the camera's url", "the hub's local time") stay with the code that
// derives them, and docs/CONFIG.md says what they are.
func Defaults() []yamlconf.Default {
	return []yamlconf.Default{
		{Key: "cameras[].transport", Value: DefaultTransport},
		{Key: "cameras[].detect.width", Value: strconv.Itoa(DefaultDetectWidth)},
		{Key: "cameras[].detect.fps", Value: strconv.Itoa(DefaultDetectFPS)},
		{Key: "cameras[].detect.min_score", Value: strconv.FormatFloat(pipeline.DefaultMinScore, 'g', -1, 64)},
		{Key: "cameras[].detect.labels", Value: "[" + strings.Join(detect.DefaultLabels(), ", ") + "]"},
		{Key: "cameras[].detect.events.zones[].inertia", Value: strconv.Itoa(events.DefaultInertia)},
		{Key: "cameras[].detect.events.end_after", Value: time.Duration(events.DefaultEndAfter).String()},
		{Key: "cameras[].detect.events.rules[].mode", Value: string(events.Always)},
		{Key: "cameras[].doorbell.interval", Value: DefaultDoorbellInterval.String()},
		{Key: "segment_duration", Value: DefaultSegmentDuration.String()},
		{Key: "log_level", Value: DefaultLogLevel},
		{Key: "detection.detector", Value: DefaultDetector},
		{Key: "detection.onnx_input", Value: strconv.Itoa(DefaultONNXInput)},
		{Key: "detection.mode", Value: DefaultMode},
		{Key: "cloud.upload_order", Value: DefaultUploadOrder},
		{Key: "health.hold", Value: DefaultHealthHold.Short()},
		{Key: "health.repeat", Value: DefaultHealthRepeat.Short()},
		{Key: "health.no_video", Value: DefaultHealthNoVideo.Short()},
		{Key: "health.reconnects", Value: strconv.Itoa(DefaultHealthReconnects)},
		{Key: "health.reconnect_window", Value: DefaultHealthReconnectWindow.Short()},
		{Key: "health.slow_rate", Value: strconv.FormatFloat(DefaultHealthSlowRate, 'g', -1, 64)},
		{Key: "health.min_free", Value: DefaultHealthMinFree.String()},
		{Key: "health.full_within", Value: DefaultHealthFullWithin.Short()},
		{Key: "health.retention_window", Value: DefaultHealthRetentionWindow.Short()},
		{Key: "health.backlog", Value: DefaultHealthBacklog.Short()},
		{Key: "health.cloud_contact", Value: DefaultHealthCloudContact.Short()},
	}
}

// ApplyDefaults fills the keys h leaves empty or zero with Defaults. Load
// and Parse call it; call it on a Hub built in code before Validate.
func (h *Hub) ApplyDefaults() {
	if err := yamlconf.ApplyDefaults(h, Defaults()); err != nil {
		// The table names keys of Hub with values of their types;
		// TestDefaultsTable applies it to a Hub with every section.
		panic("config: " + err.Error())
	}
}
