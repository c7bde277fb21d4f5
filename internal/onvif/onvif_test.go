package onvif

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testUser = "admin"
	testPass = "correct horse battery"
)

// testDevice is a doorbell whose clock runs ahead of ours by skew.
func testDevice(skew time.Duration) Device {
	return Device{
		Info: DeviceInfo{Manufacturer: "Vigil", Model: "softcam doorbell", FirmwareVersion: "1.0", SerialNumber: "SN-1", HardwareID: "vigil-db"},
		Profiles: []DeviceProfile{
			{Profile: Profile{
				Token: "main", Name: "Main stream",
				Video:       &VideoEncoder{Token: "ve-main", Name: "main", Encoding: "H264", Width: 1920, Height: 1080, FrameRate: 25, Bitrate: 4096, GovLength: 50},
				Audio:       &AudioEncoder{Token: "ae", Name: "audio", Encoding: "G711", Bitrate: 64, SampleRate: 8},
				AudioOutput: true,
			}, StreamURI: "rtsp://127.0.0.1:8554/door/main"},
			{Profile: Profile{
				Token: "sub", Name: "Sub & stream",
				Video: &VideoEncoder{Token: "ve-sub", Name: "sub", Encoding: "H264", Width: 640, Height: 360, FrameRate: 15, Bitrate: 512},
			}, StreamURI: "rtsp://127.0.0.1:8554/door/sub"},
		},
		Username: testUser, Password: testPass,
		Snapshot: func(ctx context.Context, profile string) (Snapshot, error) {
			return Snapshot{Data: []byte("\xff\xd8jpeg of " + profile + "\xff\xd9"), ContentType: "image/jpeg"}, nil
		},
		Now: func() time.Time { return time.Now().Add(skew) },
	}
}

// startDevice serves d on loopback and returns the server and its device
// service URL.
func startDevice(t *testing.T, d Device) (*Server, string) {
	t.Helper()
	s := NewServer(d)
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		s.Close()
		hs.Close()
	})
	return s, hs.URL + DevicePath
}

func newTestClient(t *testing.T, xaddr, user, pass string) *Client {
	t.Helper()
	c, err := NewClient(ClientOptions{XAddr: xaddr, Username: user, Password: pass})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	_, xaddr := startDevice(t, testDevice(0))
	c := newTestClient(t, xaddr, testUser, testPass)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}

	info, err := c.DeviceInformation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := testDevice(0).Info; info != want {
		t.Errorf("DeviceInformation = %+v, want %+v", info, want)
	}

	svcs, err := c.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range svcs {
		got[s.Namespace] = s.XAddr
	}
	base := strings.TrimSuffix(xaddr, DevicePath)
	if got[nsTRT] != base+MediaPath || got[nsTEV] != base+EventsPath || got[nsTDS] != xaddr {
		t.Errorf("Services = %v", svcs)
	}
	caps, err := c.Capabilities(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if caps.Media != base+MediaPath || caps.Events != base+EventsPath || caps.Device != xaddr {
		t.Errorf("Capabilities = %+v", caps)
	}

	profiles, err := c.Profiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := testDevice(0).Profiles
	if len(profiles) != len(want) {
		t.Fatalf("Profiles: %d, want %d", len(profiles), len(want))
	}
	for i, p := range profiles {
		w := want[i].Profile
		if p.Token != w.Token || p.Name != w.Name || p.AudioOutput != w.AudioOutput || *p.Video != *w.Video ||
			(p.Audio == nil) != (w.Audio == nil) || (p.Audio != nil && *p.Audio != *w.Audio) {
			t.Errorf("profile %d = %+v (video %+v), want %+v", i, p, p.Video, w)
		}
	}

	for _, p := range want {
		uri, err := c.StreamURI(ctx, p.Token)
		if err != nil {
			t.Fatal(err)
		}
		if uri != p.StreamURI {
			t.Errorf("StreamURI(%s) = %s, want %s", p.Token, uri, p.StreamURI)
		}
		snap, err := c.Snapshot(ctx, p.Token)
		if err != nil {
			t.Fatal(err)
		}
		if string(snap.Data) != "\xff\xd8jpeg of "+p.Token+"\xff\xd9" || snap.ContentType != "image/jpeg" {
			t.Errorf("Snapshot(%s) = %q %s", p.Token, snap.Data, snap.ContentType)
		}
	}
	var fe *FaultError
	if _, err := c.StreamURI(ctx, "nope"); !errors.As(err, &fe) || fe.Op != "GetStreamUri" || !strings.Contains(err.Error(), "InvalidArgVal") {
		t.Errorf("StreamURI of an unknown profile: %v", err)
	}
}

// TestClockOffset: the device's clock is three hours ahead. The client
// reads it first and dates its tokens by it; a token dated by the local
// clock is refused.
func TestClockOffset(t *testing.T) {
	ctx := context.Background()
	const skew = 3 * time.Hour
	_, xaddr := startDevice(t, testDevice(skew))
	c := newTestClient(t, xaddr, testUser, testPass)
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if off := c.ClockOffset(); off < skew-2*time.Second || off > skew+2*time.Second {
		t.Errorf("ClockOffset = %s, want about %s", off, skew)
	}
	if _, err := c.DeviceInformation(ctx); err != nil {
		t.Fatal(err)
	}
	status, body := postRaw(t, xaddr, envelope(usernameToken(testUser, testPass, time.Now()), `<tds:GetDeviceInformation/>`))
	if status == http.StatusOK || !strings.Contains(string(body), "outside the") {
		t.Errorf("a token dated by the local clock: HTTP %d %s", status, body)
	}
}

func postRaw(t *testing.T, url string, env []byte) (int, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/soap+xml", bytes.NewReader(env))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestAuthFailures(t *testing.T) {
	ctx := context.Background()
	_, xaddr := startDevice(t, testDevice(0))

	t.Run("wrong password", func(t *testing.T) {
		c := newTestClient(t, xaddr, testUser, "wrong password")
		err := c.Connect(ctx)
		if !errors.Is(err, ErrNotAuthorized) {
			t.Fatalf("Connect with a wrong password: %v", err)
		}
		if !strings.Contains(err.Error(), "GetServices") || !strings.Contains(err.Error(), "NotAuthorized") {
			t.Errorf("error does not name the operation and the fault: %v", err)
		}
		if strings.Contains(err.Error(), "wrong password") {
			t.Errorf("error carries the password: %v", err)
		}
		if _, err := c.Snapshot(ctx, "main"); !errors.Is(err, ErrNotAuthorized) {
			t.Errorf("Snapshot with a wrong password: %v", err)
		}
		// The snapshot URI itself, fetched with a wrong password.
		good := newTestClient(t, xaddr, testUser, testPass)
		uri, err := good.SnapshotURI(ctx, "main")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.FetchSnapshot(ctx, uri); !errors.Is(err, ErrNotAuthorized) {
			t.Errorf("FetchSnapshot with a wrong password: %v", err)
		}
	})
	t.Run("wrong user", func(t *testing.T) {
		c := newTestClient(t, xaddr, "root", testPass)
		if _, err := c.DeviceInformation(ctx); !errors.Is(err, ErrNotAuthorized) {
			t.Fatalf("DeviceInformation as another user: %v", err)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		c := newTestClient(t, xaddr, "", "")
		if _, err := c.SystemDateAndTime(ctx); err != nil {
			t.Errorf("GetSystemDateAndTime needs no credentials: %v", err)
		}
		if _, err := c.DeviceInformation(ctx); !errors.Is(err, ErrNotAuthorized) {
			t.Fatalf("DeviceInformation without credentials: %v", err)
		}
	})
	t.Run("replayed", func(t *testing.T) {
		env := envelope(usernameToken(testUser, testPass, time.Now()), `<tds:GetDeviceInformation/>`)
		if status, body := postRaw(t, xaddr, env); status != http.StatusOK {
			t.Fatalf("first use: HTTP %d %s", status, body)
		}
		status, body := postRaw(t, xaddr, env)
		if status == http.StatusOK || !strings.Contains(string(body), "replayed") {
			t.Errorf("replayed request: HTTP %d %s", status, body)
		}
	})
	t.Run("old created", func(t *testing.T) {
		for _, d := range []time.Duration{-6 * time.Minute, 6 * time.Minute, -24 * time.Hour} {
			env := envelope(usernameToken(testUser, testPass, time.Now().Add(d)), `<tds:GetDeviceInformation/>`)
			status, body := postRaw(t, xaddr, env)
			if status == http.StatusOK || !strings.Contains(string(body), "NotAuthorized") || !strings.Contains(string(body), "window") {
				t.Errorf("Created %s away: HTTP %d %s", d, status, body)
			}
		}
	})
	t.Run("password text", func(t *testing.T) {
		tok := `<wsse:Security xmlns:wsse="` + nsWSSE + `" xmlns:wsu="` + nsWSU + `"><wsse:UsernameToken><wsse:Username>admin</wsse:Username>` +
			`<wsse:Password Type="` + passwordTextType + `">` + testPass + `</wsse:Password><wsse:Nonce>AAAAAAAAAAAAAAAAAAAAAA==</wsse:Nonce>` +
			`<wsu:Created>` + xsTime(time.Now()) + `</wsu:Created></wsse:UsernameToken></wsse:Security>`
		status, body := postRaw(t, xaddr, envelope(tok, `<tds:GetDeviceInformation/>`))
		if status == http.StatusOK || !strings.Contains(string(body), "PasswordText") {
			t.Errorf("PasswordText: HTTP %d %s", status, body)
		}
	})
}

// TestPasswordDigest checks the digest against the example of the
// UsernameToken profile's shape: Base64(SHA1(nonce + created + password)).
func TestPasswordDigest(t *testing.T) {
	nonce := []byte("0123456789abcdef")
	// Computed apart: python3 -c "import hashlib,base64;
	// print(base64.b64encode(hashlib.sha1(b'0123456789abcdef2026-12-04T17:00:00Zpass').digest()))"
	if got, want := passwordDigest(nonce, "2026-12-04T17:00:00Z", "pass"), "/BsV1txDuLOocD9ftGj/Ukg3UAs="; got != want {
		t.Errorf("passwordDigest = %s, want %s", got, want)
	}
}

func TestSnapshotBasic(t *testing.T) {
	ctx := context.Background()
	d := testDevice(0)
	d.SnapshotBasic = true
	_, xaddr := startDevice(t, d)
	c := newTestClient(t, xaddr, testUser, testPass)
	snap, err := c.Snapshot(ctx, "sub")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(snap.Data, []byte("jpeg of sub")) {
		t.Errorf("snapshot = %q", snap.Data)
	}
	bad := newTestClient(t, xaddr, testUser, "nope")
	if _, err := bad.FetchSnapshot(ctx, strings.TrimSuffix(xaddr, DevicePath)+SnapshotPath+"?profile=sub"); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("basic with a wrong password: %v", err)
	}
}

func TestEvents(t *testing.T) {
	ctx := context.Background()
	srv, xaddr := startDevice(t, testDevice(0))
	c := newTestClient(t, xaddr, testUser, testPass)
	sub, err := c.Subscribe(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(sub.Termination) < 30*time.Second {
		t.Errorf("Termination = %s", sub.Termination)
	}

	// Nothing published: the pull ends empty when its wait does.
	evs, err := sub.Pull(ctx, 50*time.Millisecond, 10)
	if err != nil || len(evs) != 0 {
		t.Fatalf("empty pull: %v %v", evs, err)
	}

	press := Event{
		Topic: "Device/Trigger/DigitalInput", Time: time.Date(2026, 12, 4, 17, 0, 0, 0, time.UTC), Operation: "Changed",
		Source: []Item{{"InputToken", "DIGIT_INPUT_000"}}, Data: []Item{{"LogicalState", "true"}},
	}
	motion := Event{Topic: "VideoSource/MotionAlarm", Time: press.Time, Operation: "Changed", Source: []Item{{"Source", "vs<1>"}}, Data: []Item{{"State", "true"}}}
	tamper := Event{Topic: "RuleEngine/TamperDetector/Tamper", Time: press.Time, Data: []Item{{"IsTamper", "false"}}}
	srv.Publish(press)
	srv.Publish(motion)
	srv.Publish(tamper)

	evs, err = sub.Pull(ctx, 5*time.Second, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 {
		t.Fatalf("pulled %d events, want 2 (the limit)", len(evs))
	}
	e := evs[0]
	if e.Topic != press.Topic || !e.Time.Equal(press.Time) || e.Operation != "Changed" || e.Kind() != KindDigitalInput {
		t.Errorf("press = %+v", e)
	}
	if a, ok := e.Active(); !a || !ok {
		t.Errorf("press is not active")
	}
	if v := e.Source; len(v) != 1 || v[0] != (Item{"InputToken", "DIGIT_INPUT_000"}) {
		t.Errorf("press source = %v", v)
	}
	if evs[1].Kind() != KindMotion || evs[1].Source[0].Value != "vs<1>" {
		t.Errorf("motion = %+v", evs[1])
	}
	evs, err = sub.Pull(ctx, 5*time.Second, 10)
	if err != nil || len(evs) != 1 || evs[0].Kind() != KindTamper {
		t.Fatalf("third pull: %+v %v", evs, err)
	}
	if a, ok := evs[0].Active(); a || !ok {
		t.Errorf("tamper IsTamper=false reads as active=%v ok=%v", a, ok)
	}

	before := sub.Termination
	term, err := sub.Renew(ctx, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !term.After(before) || time.Until(term) < 9*time.Minute {
		t.Errorf("Renew: termination %s (was %s)", term, before)
	}

	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	var fe *FaultError
	if _, err := sub.Pull(ctx, time.Millisecond, 1); !errors.As(err, &fe) || fe.Op != "PullMessages" {
		t.Errorf("pull after unsubscribe: %v", err)
	}
}

// TestSubscriptionExpires: a subscription not renewed ends at its
// termination time.
func TestSubscriptionExpires(t *testing.T) {
	ctx := context.Background()
	var skew atomic.Int64
	d := testDevice(0)
	d.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	d.Username = ""
	_, xaddr := startDevice(t, d)
	c := newTestClient(t, xaddr, "", "")
	sub, err := c.Subscribe(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	skew.Store(int64(2 * time.Minute))
	if _, err := sub.Pull(ctx, time.Millisecond, 1); err == nil {
		t.Error("an expired subscription still answers")
	}
}

// TestCloseEndsPull: Close answers a waiting PullMessages at once.
func TestCloseEndsPull(t *testing.T) {
	ctx := context.Background()
	srv, xaddr := startDevice(t, testDevice(0))
	c := newTestClient(t, xaddr, testUser, testPass)
	sub, err := c.Subscribe(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := sub.Pull(ctx, 25*time.Second, 1)
		done <- err
	}()
	srv.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDurations(t *testing.T) {
	for s, want := range map[string]time.Duration{
		"PT60S": time.Minute, "PT1M30S": 90 * time.Second, "P1DT1H": 25 * time.Hour, "PT0.5S": 500 * time.Millisecond, "PT0S": 0,
	} {
		if got, err := parseDuration(s); err != nil || got != want {
			t.Errorf("parseDuration(%s) = %s, %v; want %s", s, got, err, want)
		}
	}
	for _, s := range []string{"", "P", "60", "PT", "P1Y", "PTxS", "P1H", "PT1D", "PT-5S", "PT1e300S"} {
		if _, err := parseDuration(s); err == nil {
			t.Errorf("parseDuration(%q) accepted", s)
		}
	}
	if got := formatDuration(90 * time.Second); got != "PT90S" {
		t.Errorf("formatDuration = %s", got)
	}
}

func TestTopics(t *testing.T) {
	for in, want := range map[string]string{
		"tns1:Device/Trigger/DigitalInput":      "Device/Trigger/DigitalInput",
		" tns1:VideoSource/tns1:MotionAlarm ":   "VideoSource/MotionAlarm",
		"tnsaxis:VideoSource/tnsaxis:Tampering": "VideoSource/Tampering",
		"RuleEngine/CellMotionDetector/Motion":  "RuleEngine/CellMotionDetector/Motion",
	} {
		if got := normalizeTopic(in); got != want {
			t.Errorf("normalizeTopic(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOnDevice(t *testing.T) {
	c := newTestClient(t, "http://192.168.1.64:8000/onvif/device_service", "", "")
	v6 := newTestClient(t, "http://[fe80::1]/onvif/device_service", "", "")
	for _, tc := range []struct {
		c        *Client
		in       string
		rtsp     bool
		want     string
		wantFail bool
	}{
		{c, "http://10.0.0.7/onvif/Media", false, "http://192.168.1.64/onvif/Media", false},
		{c, "http://0.0.0.0:8080/onvif/Events?x=1", false, "http://192.168.1.64:8080/onvif/Events?x=1", false},
		{c, "rtsp://10.0.0.7:554/Streaming/Channels/101?transportmode=unicast", true, "rtsp://192.168.1.64:554/Streaming/Channels/101?transportmode=unicast", false},
		{v6, "http://192.168.1.64:80/onvif/Media", false, "http://[fe80::1]:80/onvif/Media", false},
		{c, "http://user:pw@10.0.0.7/onvif/Media", false, "", true},
		{c, "file:///etc/passwd", false, "", true},
		{c, "http://10.0.0.7/x", true, "", true},
		{c, "rtsp:///x", true, "", true},
	} {
		got, err := tc.c.onDevice(tc.in, tc.rtsp)
		if (err != nil) != tc.wantFail || got != tc.want {
			t.Errorf("onDevice(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
