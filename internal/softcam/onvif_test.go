package softcam

import (
	"bytes"
	"context"
	"image/jpeg"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"

	"vigil/internal/onvif"
)

// TestDoorbellONVIF is the hub's view of the software doorbell: found by
// WS-Discovery, its profiles streaming what they say, a snapshot of the
// clip, and a press on the control endpoint pulled as a doorbell event.
func TestDoorbellONVIF(t *testing.T) {
	clip := smallClip(t)
	cache := t.TempDir()
	s := startServer(t, Config{
		File: clip, CacheDir: cache, Paths: []string{"main", "sub"}, Audio: AudioPCMU, BackChannel: true,
		Control: "127.0.0.1:0", ONVIF: "127.0.0.1:0", Discovery: "127.0.0.1:0",
		ONVIFUser: "admin", ONVIFPassword: "door-secret",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	matches, err := onvif.Discover(ctx, onvif.DiscoverOptions{Target: s.DiscoveryAddr(), Listen: "127.0.0.1:0", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := "http://" + s.ONVIFAddr() + onvif.DevicePath
	if len(matches) != 1 || len(matches[0].XAddrs) != 1 || matches[0].XAddrs[0] != want {
		t.Fatalf("discovered %+v, want one device at %s", matches, want)
	}

	c, err := onvif.NewClient(onvif.ClientOptions{XAddr: matches[0].XAddrs[0], Username: "admin", Password: "door-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := c.DeviceInformation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Manufacturer != "Vigil" || info.Model != "software doorbell" || info.SerialNumber != s.ONVIFSerial() || info.SerialNumber == "" {
		t.Errorf("device information %+v", info)
	}
	profiles, err := c.Profiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(profiles) != 2 || profiles[0].Name != "main" || profiles[1].Name != "sub" {
		t.Fatalf("profiles %+v, want main and sub", profiles)
	}
	mi := s.Info()
	for i, p := range profiles {
		v, a := p.Video, p.Audio
		if v == nil || v.Encoding != "H264" || v.Width != mi.Width || v.Height != mi.Height || v.FrameRate != 10 ||
			a == nil || a.Encoding != "G711" || a.SampleRate != 8 || !p.AudioOutput {
			t.Errorf("profile %d: %+v video %+v audio %+v", i, p, v, a)
		}
		uri, err := c.StreamURI(ctx, p.Token)
		if err != nil {
			t.Fatal(err)
		}
		if want := s.URL(s.cfg.Paths[i]); uri != want {
			t.Errorf("profile %s: stream %s, want %s", p.Name, uri, want)
		}
		describe(t, uri)
	}

	snap, err := c.Snapshot(ctx, profiles[0].Token)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(snap.Data))
	if err != nil || snap.ContentType != "image/jpeg" {
		t.Fatalf("snapshot (%s) does not decode: %v", snap.ContentType, err)
	}
	if b := img.Bounds(); b.Dx() != mi.Width || b.Dy() != mi.Height {
		t.Errorf("snapshot %v, want %dx%d", b, mi.Width, mi.Height)
	}
	jpgs, _ := filepath.Glob(filepath.Join(cache, "*.jpg"))
	if len(jpgs) != 1 {
		t.Errorf("snapshot not cached: %v", jpgs)
	}

	sub, err := c.Subscribe(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+s.ControlAddr()+"/press", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The subscription starts with the alarms' states (alarms.go), then
	// the press.
	var got []onvif.Event
	for len(got) == 0 && ctx.Err() == nil {
		evs, err := sub.Pull(ctx, 5*time.Second, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Operation != "Initialized" || e.Kind() == onvif.KindDigitalInput {
				got = append(got, e)
			}
		}
	}
	if len(got) != 1 {
		t.Fatalf("pulled %+v, want one press", got)
	}
	e := got[0]
	active, ok := e.Active()
	if e.Topic != "Device/Trigger/DigitalInput" || e.Kind() != onvif.KindDigitalInput || !active || !ok ||
		len(e.Source) != 1 || e.Source[0].Name != "InputToken" || e.Time.IsZero() {
		t.Errorf("press event %+v", e)
	}

	// A wrong password is refused, on the services and the snapshot.
	bad, err := onvif.NewClient(onvif.ClientOptions{XAddr: want, Username: "admin", Password: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.Connect(ctx); err == nil {
		if _, err := bad.Profiles(ctx); err == nil {
			t.Error("a wrong password lists the profiles")
		}
	}
	if _, err := bad.DeviceInformation(ctx); err == nil {
		t.Error("a wrong password reads the device information")
	}
	snapURL := "http://" + s.ONVIFAddr() + onvif.SnapshotPath + "?profile=" + profiles[0].Token
	resp, err = http.Get(snapURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("snapshot without credentials: %d", resp.StatusCode)
	}

	// Close stops the device service and the responder.
	onvifAddr, discAddr := s.ONVIFAddr(), s.DiscoveryAddr()
	s.Close()
	if _, err := http.Post("http://"+onvifAddr+onvif.DevicePath, "application/soap+xml", strings.NewReader("<x/>")); err == nil {
		t.Error("the ONVIF device service answers after Close")
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	if m, err := onvif.Discover(dctx, onvif.DiscoverOptions{Target: discAddr, Listen: "127.0.0.1:0", Timeout: 300 * time.Millisecond}); err == nil && len(m) != 0 {
		t.Errorf("discovery answered after Close: %+v", m)
	}
}

// describe checks that uri is an RTSP stream with H.264 video.
func describe(t *testing.T, uri string) {
	t.Helper()
	u, err := base.ParseURL(uri)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatalf("DESCRIBE %s: %v", uri, err)
	}
	var h264 *format.H264
	if desc.FindFormat(&h264) == nil {
		t.Errorf("%s: no H.264 in %+v", uri, desc.Medias)
	}
}

// TestONVIFConfig: no ONVIF without a listen address for it, and one that
// cannot listen fails Start without leaving anything running.
func TestONVIFConfig(t *testing.T) {
	clip := smallClip(t)
	if _, err := New(Config{File: clip, CacheDir: t.TempDir(), Listen: "127.0.0.1:0", Discovery: "127.0.0.1:0"}); err == nil {
		t.Error("Discovery without ONVIF accepted")
	}
	s, err := New(Config{File: clip, CacheDir: t.TempDir(), Listen: "127.0.0.1:0", ONVIF: "256.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("Start with an ONVIF address it cannot listen on succeeded")
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	// The snapshot is made once: a second New reuses the cached JPEG
	// without ffmpeg.
	cache := t.TempDir()
	if _, err := New(Config{File: clip, CacheDir: cache, Listen: "127.0.0.1:0", ONVIF: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{File: clip, CacheDir: cache, Listen: "127.0.0.1:0", ONVIF: "127.0.0.1:0", FFmpeg: filepath.Join(t.TempDir(), "no-ffmpeg")}); err != nil {
		t.Errorf("second New ran ffmpeg again: %v", err)
	}
}
