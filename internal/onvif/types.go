package onvif

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DeviceInfo is GetDeviceInformation's answer.
type DeviceInfo struct {
	Manufacturer    string
	Model           string
	FirmwareVersion string
	SerialNumber    string
	HardwareID      string
}

// Service is one entry of GetServices: a service's namespace (e.g. the
// Media ver10 WSDL's) and the URL it answers at.
type Service struct {
	Namespace    string
	XAddr        string
	Major, Minor int
}

// Capabilities are the service URLs GetCapabilities lists (the older way
// to find them, for devices without GetServices); empty when absent.
type Capabilities struct {
	Device, Media, Events, Imaging, PTZ string
}

// Profile is a media profile: a pairing of encoder configurations the
// device streams as one RTSP stream.
type Profile struct {
	Token string
	Name  string
	Video *VideoEncoder // nil when the profile has no video encoder
	Audio *AudioEncoder // nil when the profile has no audio encoder
	// AudioOutput is true when the profile has an audio output (a speaker:
	// the back channel of talk-back).
	AudioOutput bool
}

// VideoEncoder is a profile's video encoder configuration.
type VideoEncoder struct {
	Token     string
	Name      string
	Encoding  string // "H264", "H265", "JPEG", "MPEG4", as the device names it
	Width     int
	Height    int
	FrameRate int // frames per second (FrameRateLimit)
	Bitrate   int // kbit/s (BitrateLimit); 0 when not given
	GovLength int // 0 when not given
}

// AudioEncoder is a profile's audio encoder configuration.
type AudioEncoder struct {
	Token      string
	Name       string
	Encoding   string // "G711", "G726", "AAC"
	Bitrate    int    // kbit/s
	SampleRate int    // kHz, as ONVIF gives it
}

// Snapshot is an image fetched from a profile's snapshot URI.
type Snapshot struct {
	Data        []byte
	ContentType string
}

// Item is a name/value pair of an event's source, key or data.
type Item struct {
	Name, Value string
}

// Event is one notification message of the device's event service.
type Event struct {
	// Topic is the topic path with namespace prefixes dropped, e.g.
	// "Device/Trigger/DigitalInput" for tns1:Device/Trigger/DigitalInput.
	Topic string
	// Time is the message's UtcTime (zero when absent or unreadable).
	Time time.Time
	// Operation is the PropertyOperation: "Initialized", "Changed",
	// "Deleted", or "" for a stateless event.
	Operation string
	Source    []Item // e.g. InputToken=DIGIT_INPUT_000, VideoSourceConfigurationToken=...
	Key       []Item
	Data      []Item // e.g. LogicalState=true
}

// Kind classifies an event by its topic.
type Kind int

const (
	// KindOther is any topic not below.
	KindOther Kind = iota
	// KindDigitalInput is tns1:Device/Trigger/DigitalInput: a doorbell's
	// button is a digital input (LogicalState=true while pressed).
	KindDigitalInput
	// KindMotion is the device's own motion detection
	// (tns1:VideoSource/MotionAlarm, tns1:RuleEngine/CellMotionDetector/Motion
	// and the like).
	KindMotion
	// KindTamper is tampering: the view changed, blurred, went dark or
	// bright, or a tamper rule fired.
	KindTamper
)

func (k Kind) String() string {
	switch k {
	case KindDigitalInput:
		return "digital-input"
	case KindMotion:
		return "motion"
	case KindTamper:
		return "tamper"
	}
	return "other"
}

// Kind classifies e by its topic.
func (e Event) Kind() Kind {
	t := e.Topic
	switch {
	case t == "Device/Trigger/DigitalInput" || t == "Device/IO/DigitalInput":
		return KindDigitalInput
	case t == "VideoSource/MotionAlarm" || strings.HasPrefix(t, "RuleEngine/CellMotionDetector/") ||
		strings.HasPrefix(t, "RuleEngine/MotionRegionDetector/") || strings.HasPrefix(t, "VideoAnalytics/Motion"):
		return KindMotion
	case strings.HasPrefix(t, "VideoSource/GlobalSceneChange") || strings.HasPrefix(t, "VideoSource/ImageTooBlurry") ||
		strings.HasPrefix(t, "VideoSource/ImageTooDark") || strings.HasPrefix(t, "VideoSource/ImageTooBright") ||
		strings.HasPrefix(t, "RuleEngine/TamperDetector/"):
		return KindTamper
	}
	return KindOther
}

// DataValue returns the value of the data item named name.
func (e Event) DataValue(name string) (string, bool) {
	for _, it := range e.Data {
		if it.Name == name {
			return it.Value, true
		}
	}
	return "", false
}

// stateItems are the data items devices carry an event's state in.
var stateItems = []string{"LogicalState", "State", "IsMotion", "IsTamper", "Value"}

// Active reports the event's state from its first state item
// (LogicalState, State, IsMotion, IsTamper): a doorbell press is a
// DigitalInput event that is active. ok is false when it has none.
func (e Event) Active() (active, ok bool) {
	for _, n := range stateItems {
		if v, found := e.DataValue(n); found {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true", "1", "active", "on":
				return true, true
			}
			return false, true
		}
	}
	return false, false
}

// normalizeTopic drops namespace prefixes from each segment of a topic
// expression: "tns1:Device/tns1:Trigger/DigitalInput" -> "Device/Trigger/DigitalInput".
func normalizeTopic(s string) string {
	s = strings.TrimSpace(s)
	parts := strings.Split(s, "/")
	for i, p := range parts {
		parts[i] = localPart(p)
	}
	return strings.Join(parts, "/")
}

// parseDuration reads an xs:duration of days, hours, minutes and seconds
// (PnDTnHnMnS), the forms ONVIF uses; years and months are refused.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	orig := s
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if !strings.HasPrefix(s, "P") || len(s) < 2 {
		return 0, fmt.Errorf("onvif: %q is not an xs:duration", clip(orig, 40))
	}
	s = s[1:]
	var d time.Duration
	inTime, parts := false, 0
	for s != "" {
		if s[0] == 'T' {
			inTime, s = true, s[1:]
			continue
		}
		i := strings.IndexAny(s, "YMWDHS")
		if i <= 0 {
			return 0, fmt.Errorf("onvif: %q is not an xs:duration", clip(orig, 40))
		}
		v, err := strconv.ParseFloat(s[:i], 64)
		if err != nil || v < 0 || v > 1e6 {
			return 0, fmt.Errorf("onvif: %q is not an xs:duration", clip(orig, 40))
		}
		var unit time.Duration
		switch {
		case s[i] == 'D' && !inTime:
			unit = 24 * time.Hour
		case s[i] == 'H' && inTime:
			unit = time.Hour
		case s[i] == 'M' && inTime:
			unit = time.Minute
		case s[i] == 'S' && inTime:
			unit = time.Second
		default:
			return 0, fmt.Errorf("onvif: xs:duration %q: only days, hours, minutes and seconds are supported", clip(orig, 40))
		}
		d += time.Duration(v * float64(unit))
		s = s[i+1:]
		parts++
	}
	if parts == 0 {
		return 0, fmt.Errorf("onvif: %q is not an xs:duration", clip(orig, 40))
	}
	if neg {
		d = -d
	}
	return d, nil
}

// formatDuration writes d as an xs:duration in seconds, e.g. "PT60S".
func formatDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return "PT" + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "S"
}
