package onvif

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// cannedDevice answers each operation with a sample reply from testdata,
// its URLs rewritten to its own address, and records each request.
type cannedDevice struct {
	t       *testing.T
	replies map[string]string // operation -> testdata file, or a literal reply starting with "<"
	status  map[string]int

	mu       sync.Mutex
	requests map[string]string
}

func newCanned(t *testing.T, replies map[string]string) (*cannedDevice, string) {
	c := &cannedDevice{t: t, replies: replies, status: map[string]int{}, requests: map[string]string{}}
	hs := httptest.NewServer(c)
	t.Cleanup(hs.Close)
	return c, hs.URL
}

func (c *cannedDevice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, err := readLimited(r.Body, DefaultMaxReply, "request")
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var op string
	decodeEnvelope(data, nil, func(d *xml.Decoder, start xml.StartElement) error {
		op = start.Name.Local
		if start.Name.Space == nsTR2 {
			op = "tr2:" + op
		}
		return nil
	})
	c.mu.Lock()
	c.requests[op] = string(data)
	c.mu.Unlock()
	name, ok := c.replies[op]
	if !ok {
		http.Error(w, "no canned reply for "+op, http.StatusNotFound)
		return
	}
	reply := name
	if !strings.HasPrefix(name, "<") {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			c.t.Error(err)
			return
		}
		reply = string(b)
	}
	reply = strings.ReplaceAll(reply, "http://192.168.1.64", "http://"+r.Host)
	w.Header().Set("Content-Type", "application/soap+xml")
	if s := c.status[op]; s != 0 {
		w.WriteHeader(s)
	}
	w.Write([]byte(reply))
}

func (c *cannedDevice) request(op string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests[op]
}

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSampleReplies drives the client against a device answering with the
// sample replies: the clock offset from GetSystemDateAndTime, services
// from GetCapabilities when GetServices fails, profiles with audio and a
// back channel, events with reference parameters echoed.
func TestSampleReplies(t *testing.T) {
	ctx := context.Background()
	dev, base := newCanned(t, map[string]string{
		"GetSystemDateAndTime":        "getsystemdateandtime.xml",
		"GetCapabilities":             "getcapabilities.xml",
		"GetDeviceInformation":        "getdeviceinformation.xml",
		"GetProfiles":                 "getprofiles.xml",
		"CreatePullPointSubscription": "createpullpointsubscription.xml",
		"PullMessages":                "pullmessages.xml",
	})
	local := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	c, err := NewClient(ClientOptions{XAddr: base + "/onvif/device_service", Username: "admin", Password: "pw", Now: func() time.Time { return local }})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if got := c.ClockOffset(); got != 3*time.Minute+41*time.Second {
		t.Errorf("ClockOffset = %s, want 3m41s (the sample's UTC time, not its local time)", got)
	}
	// Tokens are dated by the device's clock.
	if req := dev.request("GetCapabilities"); !strings.Contains(req, "<wsu:Created>2026-12-04T09:03:41.000Z</wsu:Created>") {
		t.Errorf("GetCapabilities request not dated by the device's clock:\n%s", req)
	}

	info, err := c.DeviceInformation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Manufacturer != "Example Optics" || info.Model != "DB-2MP" || info.HardwareID != "88" {
		t.Errorf("DeviceInformation = %+v", info)
	}

	ps, err := c.Profiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("%d profiles", len(ps))
	}
	main, sub := ps[0], ps[1]
	if main.Token != "Profile_1" || main.Name != "mainStream" || !main.AudioOutput ||
		*main.Video != (VideoEncoder{Token: "VideoEncoderToken_1", Name: "VideoEncoder_1", Encoding: "H264", Width: 1920, Height: 1080, FrameRate: 25, Bitrate: 4096, GovLength: 50}) ||
		main.Audio == nil || *main.Audio != (AudioEncoder{Token: "MainAudioEncoderToken", Name: "AudioEncoderConfig", Encoding: "G711", Bitrate: 64, SampleRate: 8}) {
		t.Errorf("main profile = %+v video %+v audio %+v", main, main.Video, main.Audio)
	}
	if sub.Token != "Profile_2" || sub.Audio != nil || sub.AudioOutput || sub.Video.Width != 640 || sub.Video.FrameRate != 15 {
		t.Errorf("sub profile = %+v video %+v", sub, sub.Video)
	}

	s, err := c.Subscribe(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(s.Address, "/onvif/Events/PullSubManager_20261204T170000Z_0") {
		t.Errorf("subscription address %s", s.Address)
	}
	evs, err := s.Pull(ctx, time.Second, 10)
	if err != nil {
		t.Fatal(err)
	}
	req := dev.request("PullMessages")
	if !strings.Contains(req, `<SubscriptionId xmlns="http://www.example.com/2011/event" xml:lang="en">7</SubscriptionId>`) ||
		!strings.Contains(req, "<wsa:To") {
		t.Errorf("PullMessages does not echo the reference parameters and wsa:To:\n%s", req)
	}
	want := []struct {
		topic  string
		kind   Kind
		active bool
	}{
		{"Device/Trigger/DigitalInput", KindDigitalInput, true},
		{"RuleEngine/CellMotionDetector/Motion", KindMotion, true},
		{"RuleEngine/TamperDetector/Tamper", KindTamper, false},
		{"VideoSource/MotionAlarm", KindMotion, false},
		{"VideoSource/Doorbell", KindOther, true},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for i, w := range want {
		e := evs[i]
		a, ok := e.Active()
		if e.Topic != w.topic || e.Kind() != w.kind || a != w.active || !ok {
			t.Errorf("event %d = %+v (kind %s, active %v)", i, e, e.Kind(), a)
		}
	}
	if evs[1].Time != time.Date(2026, 12, 4, 17, 0, 4, 500e6, time.UTC) || len(evs[1].Source) != 3 {
		t.Errorf("motion event = %+v", evs[1])
	}
	if !s.Termination.Equal(time.Date(2026, 12, 4, 17, 1, 5, 0, time.UTC)) {
		t.Errorf("Termination = %s", s.Termination)
	}
}

// TestSampleMedia2: a device with Media2 only (no ver10 media service):
// profiles and stream URIs come from Media2.
func TestSampleMedia2(t *testing.T) {
	ctx := context.Background()
	dev, base := newCanned(t, map[string]string{
		"GetSystemDateAndTime": "getsystemdateandtime.xml",
		"GetServices":          "getservices_media2.xml",
		"tr2:GetProfiles":      "getprofiles_media2.xml",
		"tr2:GetStreamUri":     "getstreamuri_media2.xml",
	})
	c := newTestClient(t, base+"/onvif/device_service", "admin", "pw")
	ps, err := c.Profiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("%d profiles", len(ps))
	}
	main, sub := ps[0], ps[1]
	if main.Token != "Profile_1" || !main.AudioOutput ||
		*main.Video != (VideoEncoder{Token: "VideoEncoderToken_1", Name: "VideoEncoder_1", Encoding: "H265", Width: 2560, Height: 1440, FrameRate: 20, Bitrate: 6144, GovLength: 50}) ||
		main.Audio == nil || main.Audio.Encoding != "MP4A-LATM" || main.Audio.SampleRate != 16 {
		t.Errorf("main profile = %+v video %+v audio %+v", main, main.Video, main.Audio)
	}
	if sub.Audio != nil || sub.AudioOutput || sub.Video.FrameRate != 13 || sub.Video.GovLength != 20 {
		t.Errorf("sub profile = %+v video %+v", sub, sub.Video)
	}
	uri, err := c.StreamURI(ctx, "Profile_1")
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(base, "http://")
	host = host[:strings.LastIndexByte(host, ':')]
	if want := "rtsp://" + host + ":554/Streaming/Channels/101?transportmode=unicast&profile=Profile_1"; uri != want {
		t.Errorf("StreamURI = %s, want %s", uri, want)
	}
	if req := dev.request("tr2:GetStreamUri"); !strings.Contains(req, "<tr2:Protocol>RTSP</tr2:Protocol>") || !strings.Contains(req, "Profile_1") {
		t.Errorf("GetStreamUri request:\n%s", req)
	}
	if _, err := parseProfiles2(sample(t, "getprofiles.xml"), 200); !errors.Is(err, ErrUnexpectedReply) {
		t.Errorf("a ver10 reply read as Media2: %v", err)
	}
}

func TestSampleFault(t *testing.T) {
	err := decodeResponse(sample(t, "fault_notauthorized.xml"), "GetProfiles", nsTRT, "GetProfilesResponse", 400, &profilesXML{})
	var fe *FaultError
	if !errors.As(err, &fe) {
		t.Fatalf("not a FaultError: %v", err)
	}
	if fe.Op != "GetProfiles" || fe.Code != "env:Sender" || len(fe.Subcodes) != 1 || fe.Subcodes[0] != "ter:NotAuthorized" || fe.Reason != "Sender not Authorized" {
		t.Errorf("fault = %+v", fe)
	}
	if !errors.Is(err, ErrNotAuthorized) {
		t.Error("a ter:NotAuthorized fault is not ErrNotAuthorized")
	}
	if want := "onvif: GetProfiles: device answered with a SOAP fault env:Sender/ter:NotAuthorized: Sender not Authorized"; err.Error() != want {
		t.Errorf("error = %q\nwant   %q", err, want)
	}
}

func TestSampleProbeMatches(t *testing.T) {
	rel, ms, err := parseProbeMatches(sample(t, "probematches.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if rel != "uuid:0a6dc791-2be6-4991-9af1-454778a1917a" || len(ms) != 1 {
		t.Fatalf("RelatesTo %s, %d matches", rel, len(ms))
	}
	m := ms[0]
	if m.Endpoint != "urn:uuid:4b8a2a00-1dd2-11b2-8f6e-c0e7bfa4b2a1" || m.Name != "Front Door" || m.Hardware != "DB-2MP" ||
		len(m.XAddrs) != 2 || m.XAddrs[0] != "http://192.168.1.64/onvif/device_service" ||
		strings.Join(m.Types, " ") != "dn:NetworkVideoTransmitter tds:Device" || len(m.Scopes) != 7 {
		t.Errorf("match = %+v", m)
	}
}

// TestServicesFromCapabilities: a device whose GetServices lists no media
// or events service gives them in GetCapabilities.
func TestServicesFromCapabilities(t *testing.T) {
	ctx := context.Background()
	_, base := newCanned(t, map[string]string{
		"GetSystemDateAndTime": "getsystemdateandtime.xml",
		"GetServices": `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><env:Body><tds:GetServicesResponse>` +
			`<tds:Service><tds:Namespace>http://www.onvif.org/ver10/device/wsdl</tds:Namespace><tds:XAddr>http://192.168.1.64/onvif/device_service</tds:XAddr></tds:Service>` +
			`</tds:GetServicesResponse></env:Body></env:Envelope>`,
		"GetCapabilities": "getcapabilities.xml",
		"GetProfiles":     "getprofiles.xml",
	})
	c := newTestClient(t, base+"/onvif/device_service", "admin", "pw")
	if ps, err := c.Profiles(ctx); err != nil || len(ps) != 2 {
		t.Fatalf("Profiles: %d, %v", len(ps), err)
	}
	if u, err := c.service(ctx, "events"); err != nil || u != base+"/onvif/Events" {
		t.Errorf("events service %q, %v", u, err)
	}
}
