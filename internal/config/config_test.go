package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"vigil/internal/yamlconf/yamlconftest"
)

func TestLoadExample(t *testing.T) {
	h, err := Load("testdata/hub.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := filepath.Abs("testdata")
	want := &Hub{
		Data:       filepath.Join(dir, "hub-data"),
		Recipients: []string{"vigr1..."},
		Cameras: []Camera{
			{Name: "front", URL: "rtsp://127.0.0.1:8554/cam", Transport: "auto",
				Retention: &Retention{MaxBytes: 5_000_000_000, MaxAge: Duration(168 * time.Hour)}},
			{Name: "back", URL: "rtsp://user:pass@10.0.0.5/stream1", Transport: "auto"},
		},
		Retention:       Retention{MaxBytes: 20_000_000_000, MaxAge: Duration(720 * time.Hour)},
		SegmentDuration: Duration(4 * time.Second),
		LogLevel:        "info",
		Health: Health{Hold: DefaultHealthHold, Repeat: DefaultHealthRepeat, NoVideo: DefaultHealthNoVideo,
			Reconnects: DefaultHealthReconnects, ReconnectWindow: DefaultHealthReconnectWindow, SlowRate: DefaultHealthSlowRate,
			MinFree: DefaultHealthMinFree, FullWithin: DefaultHealthFullWithin, RetentionWindow: DefaultHealthRetentionWindow,
			Backlog: DefaultHealthBacklog, CloudContact: DefaultHealthCloudContact},
	}
	h.src = nil
	if !reflect.DeepEqual(h, want) {
		t.Errorf("Load:\n got %#v\nwant %#v", h, want)
	}
	if h.Level() != slog.LevelInfo {
		t.Errorf("Level() = %v", h.Level())
	}
}

// TestHealthConfig: the health thresholds load, keep their defaults where
// absent, and bad values are reported under their keys.
func TestHealthConfig(t *testing.T) {
	base := "data: /var/lib/vigil\nrecipients: [vigr1a]\ncameras:\n  - name: cam\n    url: rtsps://cam.local/live\n"
	h, err := Parse([]byte(base+"health:\n  no_video: 2m\n  min_free: 5GB\n  slow_rate: 0.25\n"), "/etc/vigil")
	if err != nil {
		t.Fatal(err)
	}
	if hl := h.Health; hl.NoVideo != Duration(2*time.Minute) || hl.MinFree != 5_000_000_000 || hl.SlowRate != 0.25 ||
		hl.Hold != DefaultHealthHold || hl.CloudContact != DefaultHealthCloudContact || hl.Reconnects != DefaultHealthReconnects {
		t.Errorf("health %+v", hl)
	}
	_, err = Parse([]byte(base+"health:\n  hold: -1s\n  slow_rate: 1.5\n  reconnects: -2\n"), "/etc/vigil")
	for _, k := range []string{"health.hold", "health.slow_rate", "health.reconnects"} {
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("no error for %s: %v", k, err)
		}
	}
}

func TestDefaults(t *testing.T) {
	h, err := Parse([]byte(`
data: /var/lib/vigil
recipients: [vigr1a]
cameras:
  - name: cam
    url: rtsps://cam.local/live
`), "/etc/vigil")
	if err != nil {
		t.Fatal(err)
	}
	if h.SegmentDuration != DefaultSegmentDuration || h.LogLevel != "info" || h.Cameras[0].Transport != "auto" {
		t.Errorf("defaults not applied: %+v", h)
	}
	if h.Data != "/var/lib/vigil" {
		t.Errorf("absolute Data changed to %q", h.Data)
	}
	if h.Cameras[0].Retention != nil || h.Retention != (Retention{}) {
		t.Errorf("retention should default to unlimited, got %v %v", h.Cameras[0].Retention, h.Retention)
	}
}

func TestRelativeDataDir(t *testing.T) {
	cfg := "data: store/../hub-data\nrecipients: [vigr1a]\ncameras: [{name: a, url: 'rtsp://h/'}]\n"
	h, err := Parse([]byte(cfg), "/etc/vigil")
	if err != nil {
		t.Fatal(err)
	}
	if h.Data != "/etc/vigil/hub-data" {
		t.Errorf("Parse: Data = %q", h.Data)
	}
	h, err = Parse([]byte(cfg), "")
	if err != nil {
		t.Fatal(err)
	}
	if h.Data != "store/../hub-data" {
		t.Errorf("Parse with no base: Data = %q", h.Data)
	}
	onnx := cfg + "detection: {detector: opencv-onnx, onnx_model: models/yolo.onnx, onnx_labels: /opt/labels.txt}\n"
	if h, err = Parse([]byte(onnx), "/etc/vigil"); err != nil {
		t.Fatal(err)
	}
	if h.Detection.ONNXModel != "/etc/vigil/models/yolo.onnx" || h.Detection.ONNXLabels != "/opt/labels.txt" {
		t.Errorf("Parse: ONNX model %q, labels %q", h.Detection.ONNXModel, h.Detection.ONNXLabels)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "vigil.yaml")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "sub", "hub-data"); h.Data != want {
		t.Errorf("Load: Data = %q, want %q", h.Data, want)
	}
}

// loadErrors writes cfg to dir/config.yaml, loads it from within dir (so
// the file is named "config.yaml" in messages) and returns the error lines.
func loadErrors(t *testing.T, cfg string) []string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	_, err := Load("config.yaml")
	if err == nil {
		t.Fatalf("Load succeeded, want errors; config:\n%s", cfg)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("error %v (%T) holds no *Error", err, err)
	}
	return strings.Split(err.Error(), "\n")
}

const valid = `data: ./hub-data
recipients: ["vigr1..."]
cameras:
  - name: front
    url: rtsp://127.0.0.1:8554/cam
  - name: back
    url: rtsp://user:pass@10.0.0.5/stream1
retention:
  max_bytes: 20GB
  max_age: 720h
segment_duration: 4s
log_level: info
`

func TestErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  string
		want []string // each must equal one error line
	}{
		{"bad url scheme",
			strings.Replace(valid, "rtsp://user:pass@10.0.0.5/stream1", "http://x", 1),
			[]string{`config.yaml:7: cameras[1].url: "http://x" is not an rtsp:// or rtsps:// URL`}},
		{"unknown top-level key",
			strings.Replace(valid, "recipients:", "recipents:", 1),
			[]string{`config.yaml:2: unknown key "recipents" (hint: did you mean "recipients"?)`}},
		{"unknown nested key",
			strings.Replace(valid, "    url: rtsp://127", "    ulr: rtsp://127", 1),
			[]string{`config.yaml:5: cameras[0]: unknown key "ulr" (hint: did you mean "url"?)`}},
		{"unknown retention key",
			strings.Replace(valid, "  max_age: 720h", "  maxage: 720h", 1),
			[]string{`config.yaml:10: retention: unknown key "maxage" (hint: did you mean "max_age"?)`}},
		{"unknown key without hint",
			valid + "frobnicate: true\n",
			[]string{`config.yaml:13: unknown key "frobnicate" (known keys: data, recipients, cameras, retention, segment_duration, log_level, detection, cloud, log, doorbell_listen, discovery_targets, metrics, health)`}},
		{"bad size unit",
			strings.Replace(valid, "20GB", `"20 GBB"`, 1),
			[]string{`config.yaml:9: retention.max_bytes: "20 GBB": unknown unit "GBB" (use e.g. 500MB, 20GB)`}},
		{"bad duration",
			strings.Replace(valid, "720h", "a month", 1),
			[]string{`config.yaml:10: retention.max_age: "a month": not a duration (use e.g. 4s, 90m, 720h, 30d)`}},
		{"all syntax errors at once",
			strings.Replace(strings.Replace(valid, "20GB", "20XB", 1), "log_level:", "loglevel:", 1),
			[]string{
				`config.yaml:9: retention.max_bytes: "20XB": unknown unit "XB" (use e.g. 500MB, 20GB)`,
				`config.yaml:12: unknown key "loglevel" (hint: did you mean "log_level"?)`,
			}},
		{"no cameras",
			"data: d\nrecipients: [vigr1a]\n",
			[]string{`config.yaml: cameras: at least one camera is required`}},
		{"empty camera list",
			"data: d\nrecipients: [vigr1a]\ncameras: []\n",
			[]string{`config.yaml:3: cameras: at least one camera is required`}},
		{"metrics on every address",
			valid + "metrics:\n  listen: 0.0.0.0:9464\n",
			[]string{`config.yaml:14: metrics.listen: 0.0.0.0:9464 is not a loopback, private or link-local address: the metrics name the cameras, so they stay on the hub or the household's network (e.g. 127.0.0.1:9464)`}},
		{"metrics on a name",
			valid + "metrics:\n  listen: localhost:9464\n",
			[]string{`config.yaml:14: metrics.listen: "localhost:9464" is not IP:port (e.g. 127.0.0.1:9464)`}},
		{"detector on a public address",
			valid + "detection:\n  detector_url: http://203.0.113.5:32168\n",
			[]string{`config.yaml:14: detection.detector_url: 203.0.113.5 is outside the household's private networks, and the hub would send it camera frames; use the detection server's LAN address (e.g. http://192.168.1.20:32168) or .local name, or, for a server you run elsewhere, an https URL and detector_allow_remote: true`}},
		{"detector by a public name, even https",
			valid + "detection:\n  detector_url: https://detect.example.com\n",
			[]string{`config.yaml:14: detection.detector_url: detect.example.com is outside the household's private networks, and the hub would send it camera frames; use the detection server's LAN address (e.g. http://192.168.1.20:32168) or .local name, or, for a server you run elsewhere, an https URL and detector_allow_remote: true`}},
		{"detector allowed remote over plain http",
			valid + "detection:\n  detector_url: http://detect.example.com\n  detector_allow_remote: true\n",
			[]string{`config.yaml:14: detection.detector_url: detect.example.com is outside the household's private networks and the URL is plain http, which would send camera frames over the internet in the clear; use https`}},
		{"detector on the carrier's shared addresses",
			valid + "detection:\n  detector_url: http://100.64.0.7:32168\n",
			[]string{`config.yaml:14: detection.detector_url: 100.64.0.7 is outside the household's private networks, and the hub would send it camera frames; use the detection server's LAN address (e.g. http://192.168.1.20:32168) or .local name, or, for a server you run elsewhere, an https URL and detector_allow_remote: true`}},
		{"detector_allow_remote alone",
			valid + "detection:\n  detector_allow_remote: true\n",
			[]string{`config.yaml:14: detection.detector_allow_remote: set without detector_url`}},
		{"unknown detector",
			valid + "detection:\n  detector: yolo\n",
			[]string{`config.yaml:14: detection.detector: "yolo" is not nanodet, opencv-onnx or opencv-hog`}},
		{"ONNX detector without a model, odd input size",
			valid + "detection:\n  detector: opencv-onnx\n  onnx_input: 100\n",
			[]string{
				`config.yaml:13: detection.onnx_model: required when detector is opencv-onnx (the path of a YOLOv5 or YOLOv8 .onnx file)`,
				`config.yaml:15: detection.onnx_input: 100 is not a multiple of 32 from 64 to 1280`,
			}},
		{"a label with a control character",
			strings.Replace(valid, "    url: rtsp://127.0.0.1:8554/cam\n", "    url: rtsp://127.0.0.1:8554/cam\n    detect: {labels: [person, \"ca\\tr\"]}\n", 1),
			[]string{`config.yaml:6: cameras[0].detect.labels[1]: "ca\tr" holds a control character or invalid UTF-8`}},
		{"camera named like the sealed events stream",
			strings.Replace(valid, "name: back", "name: Events", 1),
			[]string{`config.yaml:6: cameras[1].name: "Events" is reserved for sealed events; choose another camera name`}},
		{"camera named like the sealed snapshots stream",
			strings.Replace(valid, "name: back", "name: snapshots", 1),
			[]string{`config.yaml:6: cameras[1].name: "snapshots" is reserved for sealed events; choose another camera name`}},
		{"name used twice",
			strings.Replace(valid, "    url: rtsp://user", "    url: rtsp://u:p@h/\n  - name: front\n    url: rtsp://user", 1),
			[]string{`config.yaml:8: cameras[2].name: "front" is used twice (also cameras[0].name "front"; names are compared ignoring case)`}},
		{"name used twice ignoring case",
			strings.Replace(valid, "name: back", "name: FRONT", 1),
			[]string{`config.yaml:6: cameras[1].name: "FRONT" is used twice (also cameras[0].name "front"; names are compared ignoring case)`}},
		{"discovery targets",
			valid + "discovery_targets: [192.168.1.20:3702, \"8.8.8.8:3702\", camera.local:3702, \"10.0.0.1\"]\n",
			[]string{`config.yaml:13: discovery_targets[1]: 8.8.8.8:3702 is not on the household's network: the hub probes only loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7) and link-local addresses`,
				`config.yaml:13: discovery_targets[2]: "camera.local:3702" is not IP:port (e.g. 192.168.1.20:3702, the port WS-Discovery answers on)`,
				`config.yaml:13: discovery_targets[3]: "10.0.0.1" is not IP:port (e.g. 192.168.1.20:3702, the port WS-Discovery answers on)`}},
		{"bad camera name",
			strings.Replace(valid, "name: back", "name: back door", 1),
			[]string{`config.yaml:6: cameras[1].name: "back door" is not a valid camera name: use 1 to 64 letters, digits, '.', '_' or '-' (not "." or "..")`}},
		{"dot-dot camera name",
			strings.Replace(valid, "name: back", `name: ".."`, 1),
			[]string{`config.yaml:6: cameras[1].name: ".." is not a valid camera name: use 1 to 64 letters, digits, '.', '_' or '-' (not "." or "..")`}},
		{"long camera name",
			strings.Replace(valid, "name: back", "name: "+strings.Repeat("b", 65), 1),
			[]string{`config.yaml:6: cameras[1].name: "` + strings.Repeat("b", 65) + `" is not a valid camera name: use 1 to 64 letters, digits, '.', '_' or '-' (not "." or "..")`}},
		{"missing name and url",
			strings.Replace(valid, "  - name: back\n    url: rtsp://user:pass@10.0.0.5/stream1\n", "  - transport: tcp\n", 1),
			[]string{
				`config.yaml:6: cameras[1].name: required`,
				`config.yaml:6: cameras[1].url: required (e.g. rtsp://192.0.2.10:554/stream1)`,
			}},
		{"bad transport",
			strings.Replace(valid, "    url: rtsp://127.0.0.1:8554/cam\n", "    url: rtsp://127.0.0.1:8554/cam\n    transport: quic\n", 1),
			[]string{`config.yaml:6: cameras[0].transport: "quic" is not one of auto, tcp, udp`}},
		{"segment duration too short",
			strings.Replace(valid, "segment_duration: 4s", "segment_duration: 500ms", 1),
			[]string{`config.yaml:11: segment_duration: 500ms is out of range: use 1s to 1m0s`}},
		{"segment duration too long",
			strings.Replace(valid, "segment_duration: 4s", "segment_duration: 2m", 1),
			[]string{`config.yaml:11: segment_duration: 2m0s is out of range: use 1s to 1m0s`}},
		{"bad log level",
			strings.Replace(valid, "log_level: info", "log_level: verbose", 1),
			[]string{`config.yaml:12: log_level: "verbose" is not one of debug, info, warn, error`}},
		{"negative max age",
			strings.Replace(valid, "max_age: 720h", "max_age: -1h", 1),
			[]string{`config.yaml:10: retention.max_age: -1h0m0s: an age cannot be negative`}},
		{"negative max bytes",
			strings.Replace(valid, "max_bytes: 20GB", "max_bytes: -1", 1),
			[]string{`config.yaml:9: retention.max_bytes: "-1": a size cannot be negative`}},
		{"missing data and recipients",
			"cameras: [{name: a, url: 'rtsp://h/'}]\n",
			[]string{
				`config.yaml: data: required: the directory for sealed segments, the index and the hub key`,
				`config.yaml: recipients: at least one household recipient is required (e.g. recipients: ["vigr1..."]), unless the hub is paired with a household through a cloud (cloud.url)`,
			}},
		{"recipient listed twice",
			strings.Replace(valid, `["vigr1..."]`, `["vigr1...", "vigr1..."]`, 1),
			[]string{`config.yaml:2: recipients[1]: listed twice (also recipients[0])`}},
		{"identity pasted as a recipient",
			strings.Replace(valid, `["vigr1..."]`, `["VIGIL-IDENTITY-1-QQQQSECRETSECRET"]`, 1),
			[]string{`config.yaml:2: recipients[0]: this is a secret identity, not a recipient; hint: remove it from the config, keep the identity file off the hub and put the "vigr1..." line printed by 'vigil keys public FILE' here`}},
		{"identity pasted as the recipients list",
			strings.Replace(valid, `recipients: ["vigr1..."]`, `recipients: VIGIL-IDENTITY-1-QQQQSECRETSECRET`, 1),
			[]string{`config.yaml:2: recipients: expected a list, got the string (a secret key, not shown)`}},
		{"camera URL with a password where a mapping belongs",
			"data: d\nrecipients: [r]\ncameras:\n  - rtsp://admin:hunter2@192.0.2.1/stream\n",
			[]string{`config.yaml:4: cameras[0]: expected a mapping of name, url, transport, retention, detect, doorbell, got the string "rtsp://admin:xxxxx@192.0.2.1/stream"`}},
		{"URL cut by a #",
			"data: d\nrecipients: [r]\ncameras:\n  - name: a\n    url: rtsp://admin:pa#ss@192.0.2.1/s\n",
			[]string{`config.yaml:5: cameras[0].url: contains '#', which would cut the URL short; hint: write a '#' in a user name or password as %23`}},
		{"cloud over plain http to another host",
			"data: d\ncameras: [{name: a, url: 'rtsp://h/'}]\ncloud:\n  url: http://cloud.example.com\n  upload_order: random\n",
			[]string{
				`config.yaml:4: cloud.url: plain http:// is allowed only for a loopback address (127.0.0.1, ::1, localhost); use https://`,
				`config.yaml:5: cloud.upload_order: "random" is not oldest or newest`,
			}},
		{"wrong shape",
			strings.Replace(valid, `recipients: ["vigr1..."]`, `recipients: vigr1abc`, 1),
			[]string{`config.yaml:2: recipients: expected a list, got the string "vigr1abc"`}},
		{"camera not a mapping",
			"data: d\nrecipients: [r]\ncameras:\n  - front\n",
			[]string{`config.yaml:4: cameras[0]: expected a mapping of name, url, transport, retention, detect, doorbell, got the string "front"`}},
		{"duplicate key",
			valid + "data: other\n",
			[]string{`config.yaml:13: data: key appears twice (first on line 1)`}},
		{"yaml syntax",
			"data: [unclosed\n",
			[]string{`config.yaml:1: did not find expected ',' or ']'`}},
		{"two documents",
			valid + "---\ndata: x\n",
			[]string{`config.yaml:13: more than one YAML document; a config file holds exactly one`}},
		{"every validation error at once",
			"data: d\nrecipients: [r]\ncameras:\n  - {name: 'a b', url: 'http://x', transport: UDP}\nlog_level: loud\nsegment_duration: 0.5s\n",
			[]string{
				`config.yaml:4: cameras[0].name: "a b" is not a valid camera name: use 1 to 64 letters, digits, '.', '_' or '-' (not "." or "..")`,
				`config.yaml:4: cameras[0].url: "http://x" is not an rtsp:// or rtsps:// URL`,
				`config.yaml:4: cameras[0].transport: "UDP" is not one of auto, tcp, udp`,
				`config.yaml:6: segment_duration: 500ms is out of range: use 1s to 1m0s`,
				`config.yaml:5: log_level: "loud" is not one of debug, info, warn, error`,
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := loadErrors(t, tt.cfg)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestEmptyFile(t *testing.T) {
	got := loadErrors(t, "# nothing yet\n")
	if len(got) != 3 {
		t.Errorf("want errors for data, recipients and cameras, got %q", got)
	}
}

func TestPasswordNeverInErrors(t *testing.T) {
	for _, u := range []string{
		"http://admin:hunter2@10.0.0.5/stream",
		"rtsp://admin:hunter2@/stream",
		"rtsp://admin:hunter2@10.0.0.5:badport/stream",
		"rtsp://admin:hunter2@[::1/stream",
		"rtsp://admin:hunter2/x@10.0.0.5/stream",
	} {
		cfg := fmt.Sprintf("data: d\nrecipients: [r]\ncameras:\n  - name: a\n    url: %q\n", u)
		_, err := Parse([]byte(cfg), "")
		if err == nil {
			t.Errorf("%s: no error", u)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks password: %v", err)
		}
		if !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("error does not show the redacted URL: %v", err)
		}
	}
}

func TestRedactedURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"rtsp://user:pass@10.0.0.5/stream1", "rtsp://user:xxxxx@10.0.0.5/stream1"},
		{"rtsps://user:p%40ss@cam.local:322/live?x=1", "rtsps://user:xxxxx@cam.local:322/live?x=1"},
		{"rtsp://user@10.0.0.5/stream1", "rtsp://user@10.0.0.5/stream1"},
		{"rtsp://127.0.0.1:8554/cam", "rtsp://127.0.0.1:8554/cam"},
		{"rtsp://user:pa ss@[::1/x", "rtsp://xxxxx@[::1/x"},
		{"", ""},
	} {
		c := Camera{Name: "c", URL: tt.in}
		if got := c.RedactedURL(); got != tt.want {
			t.Errorf("RedactedURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}

	c := Camera{Name: "back", URL: "rtsp://user:secret@10.0.0.5/stream1", Transport: "tcp", Retention: &Retention{MaxBytes: 5e9}}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("camera", "cam", c)
	h := &Hub{Cameras: []Camera{c}}
	for _, s := range []string{
		c.String(),
		fmt.Sprintf("%v %+v %#v %s", c, c, c, c),
		fmt.Sprintf("%v %+v", h, *h),
		buf.String(),
	} {
		if strings.Contains(s, "secret") {
			t.Errorf("password leaked: %s", s)
		}
		if !strings.Contains(s, "xxxxx") {
			t.Errorf("no redacted URL in %s", s)
		}
	}
}

func TestValidateRecipientCheck(t *testing.T) {
	h, err := Parse([]byte(valid), "/srv")
	if err != nil {
		t.Fatal(err)
	}
	err = h.Validate(func(r string) error {
		return fmt.Errorf("%q: malformed recipient", r)
	})
	want := `line 2: recipients[0]: "vigr1...": malformed recipient`
	if err == nil || err.Error() != want {
		t.Errorf("Validate = %v, want %s", err, want)
	}
	if err := h.Validate(func(string) error { return nil }); err != nil {
		t.Errorf("Validate with accepting check = %v", err)
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	h := &Hub{
		Data:       "/d",
		Recipients: []string{"vigr1a"},
		Cameras:    []Camera{{Name: "a", URL: "rtsp://h/"}},
	}
	if err := h.Validate(nil); err == nil {
		t.Error("Validate before ApplyDefaults succeeded, want transport and segment_duration errors")
	}
	h.ApplyDefaults()
	if err := h.Validate(nil); err != nil {
		t.Errorf("Validate = %v", err)
	}
	h.Cameras = append(h.Cameras, Camera{Name: "A", URL: "rtsp://h/", Transport: "tcp"})
	err := h.Validate(nil)
	if err == nil || err.Error() != `cameras[1].name: "A" is used twice (also cameras[0].name "a"; names are compared ignoring case)` {
		t.Errorf("Validate = %v", err)
	}
}

func TestMergeKeys(t *testing.T) {
	h, err := Parse([]byte(`
data: d
recipients: [r]
x-camera: &cam {url: "rtsp://h/", transport: tcp}
cameras:
  - <<: *cam
    name: a
`), "")
	if err == nil {
		t.Fatalf("unknown top-level x-camera accepted: %+v", h)
	}
	h, err = Parse([]byte(`
data: d
recipients: [r]
cameras:
  - &cam {name: a, url: "rtsp://h/", transport: tcp}
  - <<: *cam
    name: b
`), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Cameras) != 2 || h.Cameras[1].Name != "b" || h.Cameras[1].Transport != "tcp" {
		t.Errorf("merge: %+v", h.Cameras)
	}
}

// TestDocCoversEveryKey checks that docs/CONFIG.md mentions every key and
// that its example configuration loads.
func TestDocCoversEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	paths := yamlconftest.Keys(reflect.TypeFor[Hub]())
	for _, p := range paths {
		if !bytes.Contains(doc, []byte("`"+p+"`")) {
			t.Errorf("docs/CONFIG.md does not document `%s`", p)
		}
	}

	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("docs/CONFIG.md has no yaml example")
	}
	if _, err := Parse(blocks[0][1], "/srv/vigil"); err != nil {
		t.Errorf("first example in docs/CONFIG.md: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile("testdata/hub.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(valid))
	f.Add([]byte("cameras: [{name: a, url: 'rtsp://u:p@h/'}, *x]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Parse(data, "/base")
		if err == nil {
			if err := h.Validate(nil); err != nil {
				t.Fatalf("Parse succeeded but Validate fails: %v", err)
			}
		}
	})
}

// TestDetectConfig: a camera's detection section and the shared detection
// settings load, and bad values are reported under their keys.
// Detector URLs on the household's own networks load; one elsewhere
// loads only when it is https and explicitly allowed (TestErrors has the
// refusals).
func TestDetectorURLAccepted(t *testing.T) {
	for _, c := range []struct {
		url    string
		remote bool
	}{
		{"http://192.168.1.20:32168", false},
		{"http://10.0.0.5", false},
		{"http://172.16.4.4:80", false},
		{"http://127.0.0.1:32168", false},
		{"http://[::1]:32168", false},
		{"http://[fd00::20]:32168", false},
		{"http://169.254.10.10", false},
		{"http://localhost:32168", false},
		{"http://gpu-box.local:32168", false},
		{"http://gpu.home.arpa", false},
		{"https://detect.example.com", true},
		{"https://203.0.113.5:32168", true},
	} {
		y := valid + fmt.Sprintf("detection:\n  detector_url: %s\n  detector_allow_remote: %t\n", c.url, c.remote)
		if _, err := Parse([]byte(y), t.TempDir()); err != nil {
			t.Errorf("%s (allow remote %t): %v", c.url, c.remote, err)
		}
	}
}

func TestDetectConfig(t *testing.T) {
	good := `data: d
recipients: ["vigr1x"]
cameras:
  - name: front
    url: rtsp://192.0.2.1/main
    detect:
      url: rtsp://192.0.2.1/sub
      fps: 5
      mask: [[[0, 0], [1, 0], [1, 0.1]]]
      events:
        zones: [{name: path, points: [[0, 0.5], [1, 0.5], [1, 1]]}]
        rules: [{name: night, labels: [person], schedule: [{start: "22:00", end: "06:00"}], mode: away}]
        end_after: 40s
detection:
  mode: away
  timezone: Europe/Berlin
  webhooks: {urls: ["https://example.com/hook"], secret: "0123456789abcdef"}
  mqtt: {broker: "mqtt://192.0.2.5:1883"}
`
	h, err := Parse([]byte(good), "")
	if err != nil {
		t.Fatal(err)
	}
	d := h.Cameras[0].Detect
	if d == nil || d.URL != "rtsp://192.0.2.1/sub" || len(d.Events.Zones) != 1 || d.Events.Rules[0].Mode != "away" || h.Detection.Mode != "away" {
		t.Errorf("parsed %+v %+v", d, h.Detection)
	}
	bad := `data: d
recipients: ["vigr1x"]
cameras:
  - name: events
    url: rtsp://192.0.2.1/main
    detect:
      width: 641
      fps: 100
      min_score: 1.5
      mask: [[[0, 0], [2, 0]]]
      events:
        zones: [{name: z, points: [[0, 0], [1, 0]]}]
detection:
  mode: holiday
  timezone: Mars/Olympus
  webhooks: {urls: ["ftp://x"], secret: short}
  mqtt: {broker: "http://x", client_id: "two words"}
`
	_, err = Parse([]byte(bad), "")
	if err == nil {
		t.Fatal("bad detection settings accepted")
	}
	for _, key := range []string{"cameras[0].name", "detect.width", "detect.fps", "detect.min_score", "detect.mask[0]", "detect.mask[0][1]",
		"detect.events", "detection.mode", "detection.timezone", "detection.webhooks.urls[0]", "detection.webhooks.secret", "detection.mqtt.broker", "detection.mqtt.client_id"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("no error under %s in:\n%v", key, err)
		}
	}
}

// TestDoorbellConfig: a doorbell's press sources, their defaults, and the
// errors that name the field and the fix; the secret is never quoted back
// nor printed with the camera.
func TestDoorbellConfig(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef-front"
	good := `data: d
recipients: ["vigr1x"]
doorbell_listen: 192.168.1.5:8780
cameras:
  - name: front
    url: rtsp://192.0.2.1/main
    doorbell:
      mqtt_topic: zigbee2mqtt/front_button/action
      secret: "` + secret + `"
  - name: side
    url: rtsp://192.0.2.2/main
    doorbell: {mqtt_topic: home/side/button, interval: 30s}
detection:
  mqtt: {broker: "mqtt://192.0.2.5:1883"}
`
	h, err := Parse([]byte(good), "")
	if err != nil {
		t.Fatal(err)
	}
	d := h.Cameras[0].Doorbell
	if d == nil || d.MQTTTopic != "zigbee2mqtt/front_button/action" || d.Secret != secret || d.Interval != DefaultDoorbellInterval ||
		h.Cameras[1].Doorbell.Interval != Duration(30*time.Second) || h.DoorbellListen != "192.168.1.5:8780" {
		t.Fatalf("parsed %v %v", d, h.Cameras[1].Doorbell)
	}
	for _, s := range []string{fmt.Sprintf("%v %+v %#v", *d, *d, *d), fmt.Sprintf("%v", h.Cameras[0])} {
		if strings.Contains(s, secret) {
			t.Fatalf("the doorbell's secret printed: %s", s)
		}
	}
	bad := `data: d
recipients: ["vigr1x"]
doorbell_listen: "nope"
cameras:
  - name: front
    url: rtsp://192.0.2.1/main
    doorbell: {mqtt_topic: "home/+/button", secret: "short-secret-front-door", interval: 0.5s}
  - name: back
    url: rtsp://192.0.2.1/main
    doorbell: {}
  - name: side
    url: rtsp://192.0.2.1/main
    doorbell: {mqtt_topic: "home/side"}
`
	_, err = Parse([]byte(bad), "")
	if err == nil {
		t.Fatal("bad doorbell settings accepted")
	}
	for _, want := range []string{
		`cameras[0].doorbell.mqtt_topic: "home/+/button" has a wildcard (+ or #) or NUL`,
		`cameras[0].doorbell.secret: at least 32 characters are required`,
		`cameras[0].doorbell.interval: 500ms is out of range: use 1s to 10m`,
		`cameras[1].doorbell: no press source: set mqtt_topic`,
		`cameras[2].doorbell.mqtt_topic: presses are read from the household's broker: set detection.mqtt.broker`,
		`doorbell_listen: "nope" is not host:port`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no error %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "short-secret-front-door") {
		t.Error("an error quotes the secret")
	}
	noListen := strings.Replace(good, "doorbell_listen: 192.168.1.5:8780\n", "", 1)
	if _, err := Parse([]byte(noListen), ""); err == nil || !strings.Contains(err.Error(), "cameras[0].doorbell.secret: signed HTTP presses need doorbell_listen") {
		t.Errorf("a secret without doorbell_listen: %v", err)
	}
	dup := strings.Replace(good, "home/side/button", "zigbee2mqtt/front_button/action", 1)
	if _, err := Parse([]byte(dup), ""); err == nil || !strings.Contains(err.Error(), "cameras[1].doorbell.mqtt_topic: \"zigbee2mqtt/front_button/action\" is also cameras[0].doorbell.mqtt_topic") {
		t.Errorf("a topic used twice: %v", err)
	}
	listenOnly := strings.Replace(good, `      secret: "`+secret+`"`+"\n", "", 1)
	if _, err := Parse([]byte(listenOnly), ""); err == nil || !strings.Contains(err.Error(), "doorbell_listen: set, but no camera's doorbell has a secret") {
		t.Errorf("doorbell_listen without a secret: %v", err)
	}
}

// TestDoorbellONVIFConfig: a doorbell's ONVIF press source, and the errors
// that name the field and the fix; the password is never quoted back nor
// printed with the doorbell or the camera.
func TestDoorbellONVIFConfig(t *testing.T) {
	const password = "the-camera's-onvif-password"
	good := `data: d
recipients: ["vigr1x"]
cameras:
  - name: front
    url: rtsp://192.0.2.1/main
    doorbell:
      onvif: {url: "http://192.168.1.20/onvif/device_service", username: admin, password: "` + password + `"}
  - name: side
    url: rtsp://192.0.2.2/main
    doorbell: {onvif: {url: "https://doorbell.lan:8443/onvif/device_service"}}
`
	h, err := Parse([]byte(good), "")
	if err != nil {
		t.Fatal(err)
	}
	o := h.Cameras[0].Doorbell.ONVIF
	if o == nil || o.URL != "http://192.168.1.20/onvif/device_service" || o.Username != "admin" || o.Password != password ||
		h.Cameras[0].Doorbell.Interval != DefaultDoorbellInterval || h.Cameras[1].Doorbell.ONVIF.URL != "https://doorbell.lan:8443/onvif/device_service" {
		t.Fatalf("parsed %v", h.Cameras[0].Doorbell)
	}
	d := h.Cameras[0].Doorbell
	for _, s := range []string{fmt.Sprintf("%v %+v %#v", *d, *d, *d), fmt.Sprintf("%v %+v %#v", *o, *o, *o), fmt.Sprintf("%v %+v", h.Cameras[0], h.Cameras[0])} {
		if strings.Contains(s, password) {
			t.Fatalf("the ONVIF password printed: %s", s)
		}
	}
	bad := `data: d
recipients: ["vigr1x"]
cameras:
  - name: a
    url: rtsp://192.0.2.1/main
    doorbell: {onvif: {url: "http://203.0.113.7/onvif/device_service", username: admin, password: "` + password + `"}}
  - name: b
    url: rtsp://192.0.2.1/main
    doorbell: {onvif: {url: "rtsp://192.168.1.20/stream"}}
  - name: c
    url: rtsp://192.0.2.1/main
    doorbell: {onvif: {url: "http://admin:` + password + `@192.168.1.20/onvif/device_service"}}
  - name: d
    url: rtsp://192.0.2.1/main
    doorbell: {onvif: {password: "` + password + `"}}
  - name: e
    url: rtsp://192.0.2.1/main
    doorbell: {onvif: {url: "http://192.168.1.20/onvif/device_service", user: admin}}
`
	_, err = Parse([]byte(bad), "")
	if err == nil {
		t.Fatal("bad ONVIF settings accepted")
	}
	if strings.Contains(err.Error(), password) {
		t.Fatalf("an error quotes the password:\n%v", err)
	}
	// An unknown key is reported alone (the walk stops before validation).
	if !strings.Contains(err.Error(), `cameras[4].doorbell.onvif: unknown key "user" (known keys: url, username, password)`) {
		t.Errorf("no unknown-key error in:\n%v", err)
	}
	bad = bad[:strings.Index(bad, "  - name: e")]
	_, err = Parse([]byte(bad), "")
	if err == nil {
		t.Fatal("bad ONVIF settings accepted")
	}
	for _, want := range []string{
		`cameras[0].doorbell.onvif.url: "http://203.0.113.7/onvif/device_service" is not on the household's network`,
		`cameras[1].doorbell.onvif.url: "rtsp://192.168.1.20/stream" is not an http:// or https:// URL`,
		`cameras[2].doorbell.onvif.url: has a user name or password in it: put them in username and password`,
		`cameras[3].doorbell.onvif.url: required: the camera's ONVIF device service`,
		`cameras[3].doorbell.onvif.username: required with a password`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("no error %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), password) {
		t.Fatalf("an error quotes the password:\n%v", err)
	}
}
