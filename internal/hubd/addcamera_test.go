package hubd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"image/jpeg"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/eventrec"
	"vigil/internal/live"
	"vigil/internal/member"
	"vigil/internal/onvif"
	"vigil/internal/softcam"
	"vigil/internal/vigiltest"
)

const (
	doorUser     = "door-admin-7f3a"
	doorPassword = "pw-Zq81-never-in-the-cloud"
)

// startDoorbell starts a software doorbell with an ONVIF account that
// answers WS-Discovery on loopback: two profiles, "main" and "sub".
func startDoorbell(t *testing.T) *softcam.Server {
	t.Helper()
	vigiltest.RequireTool(t, "ffmpeg", "ffmpeg")
	cam := vigiltest.StartSoftcam(t, softcam.Config{Listen: "127.0.0.1:0", Paths: []string{"door-main", "door-sub"},
		ONVIF: "127.0.0.1:0", ONVIFUser: doorUser, ONVIFPassword: doorPassword, Discovery: "127.0.0.1:0",
		BackChannel: true, Logger: vigiltest.Logger(t).With("component", "doorbell")})
	return cam
}

// camerasWatch opens a live session on camera with the cameras channel.
func camerasWatch(t *testing.T, cl *testCloud, m *memberDevice, camera string) *live.Watch {
	t.Helper()
	return channelWatch(t, cl, m, camera, func(c *live.ViewerConfig) { c.Cameras = true })
}

// channelWatch opens a live session on camera with the data channels mod
// asks for.
func channelWatch(t *testing.T, cl *testCloud, m *memberDevice, camera string, mod func(*live.ViewerConfig)) *live.Watch {
	t.Helper()
	ctx := context.Background()
	vs, err := member.VerifiedChain(ctx, m.c, m.st.HouseholdID, m.genesis)
	if err != nil {
		t.Fatal(err)
	}
	vc, err := live.DialViewer(ctx, cl.url(), m.st.HouseholdID, http.Header{"Authorization": {"Bearer " + m.c.Token}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vc.Close() })
	var w *live.Watch
	waitFor(t, "the hub's live view", 30*time.Second, func() bool {
		vcfg := live.ViewerConfig{Household: m.st.HouseholdID, Camera: camera, Keys: m.keys, Chain: vs, Net: live.NetOptions{Loopback: true}}
		mod(&vcfg)
		w, err = live.StartWatch(ctx, vcfg, vc.Exchange)
		var he *live.HubError
		if errors.As(err, &he) && (he.Code == live.CodeHubOffline || he.Code == live.CodeNoCamera) {
			return false
		}
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		return true
	})
	t.Cleanup(func() { w.Close() })
	return w
}

// ask sends one request and decodes an ok reply's result into out (when
// not nil); it returns the hub's error text, "" when ok.
func ask(t *testing.T, w *live.Watch, op string, body, out any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := w.Cameras(ctx, op, body)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	if !a.OK {
		if a.Error == "" {
			t.Fatalf("%s: refused without a reason", op)
		}
		return a.Error
	}
	if out != nil {
		if err := json.Unmarshal(a.Result, out); err != nil {
			t.Fatalf("%s: %s: %v", op, a.Result, err)
		}
	}
	return ""
}

// TestAddCameraFromApp: an admin device's live session asks the hub what it
// discovered (the software doorbell answers WS-Discovery on loopback),
// probes the doorbell (a wrong password is refused with the reason; the
// right one shows its two H.264 profiles and a snapshot) and adds it. The
// hub records it at once, without a restart, shows it live, uploads its
// sealed segments and detects on its sub stream (a person event sealed to
// the household); after a restart it still records and detects it.
// Removed, it is no longer recorded, its detection has ended, now or after
// a restart. The camera's account is
// only in a file of the hub's data directory readable by the hub alone:
// not in the hub's logs, and no file of the cloud holds the user name, the
// password or the stream's URL.
func TestAddCameraFromApp(t *testing.T) {
	t.Parallel()
	door := startDoorbell(t)
	cl := startCloud(t)
	m := newMember(t, cl.url())
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "yard")
	cfg := pairedConfig(t, cl, "yard", cam.URL("yard"))
	cfg.DiscoveryTargets = []string{door.DiscoveryAddr()}
	if _, hubErr, memberErr := pair(t, cl.url(), cfg.Data, m); hubErr != nil || memberErr != nil {
		t.Fatalf("pairing: hub %v, member %v", hubErr, memberErr)
	}
	logs := &lockedBuffer{}
	opts := Options{UploadMinBackoff: 100 * time.Millisecond, UploadMaxBackoff: time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	h := startHub(t, cfg, opts)
	w := camerasWatch(t, cl, m, "yard")

	var found discoverReply
	if msg := ask(t, w, CamerasDiscover, nil, &found); msg != "" {
		t.Fatalf("discover: %s", msg)
	}
	xaddr := "http://" + door.ONVIFAddr() + "/onvif/device_service"
	var dev *foundCamera
	for i, f := range found.Cameras {
		if f.Address == xaddr {
			dev = &found.Cameras[i]
		}
	}
	if dev == nil {
		t.Fatalf("discovery found %+v, not the doorbell at %s", found.Cameras, xaddr)
	}

	// Wrong password, unreachable camera, then the right account.
	if msg := ask(t, w, CamerasProbe, probeBody{Address: dev.Address, Username: doorUser, Password: "wrong"}, nil); !strings.Contains(msg, "refused the user name or password") {
		t.Errorf("probe with a wrong password: %q, want it refused", msg)
	}
	if msg := ask(t, w, CamerasProbe, probeBody{Address: "127.0.0.1:1", Username: doorUser, Password: doorPassword}, nil); !strings.Contains(msg, "could not reach") {
		t.Errorf("probe of a closed port: %q, want unreachable", msg)
	}
	var pr probeReply
	if msg := ask(t, w, CamerasProbe, probeBody{Address: dev.Address, Username: doorUser, Password: doorPassword}, &pr); msg != "" {
		t.Fatalf("probe: %s", msg)
	}
	if len(pr.Profiles) != 2 || !pr.Profiles[0].Record || pr.Profiles[0].Encoding != "H264" || pr.Profiles[0].Width == 0 {
		t.Fatalf("probe: profiles %+v, want two H.264 profiles", pr.Profiles)
	}
	if _, err := jpeg.DecodeConfig(bytes.NewReader(pr.Snapshot)); err != nil || len(pr.Snapshot) > maxSnapshotOut {
		t.Errorf("probe: snapshot of %d bytes (%v) %s, want a JPEG of at most %d", len(pr.Snapshot), err, pr.SnapshotError, maxSnapshotOut)
	}
	for _, p := range pr.Profiles {
		if strings.Contains(p.Stream, doorPassword) {
			t.Errorf("a probed stream URI carries the password: %s", p.Stream)
		}
	}

	// Adds refused: a wrong password, a bad or taken name, no such profile.
	good := addBody{Name: "front-door", Address: dev.Address, Username: doorUser, Password: doorPassword,
		Main: pr.Profiles[0].Token, Sub: pr.Profiles[1].Token}
	for _, c := range []struct {
		mod  func(*addBody)
		want string
	}{
		{func(b *addBody) { b.Password = "wrong" }, "refused the user name or password"},
		{func(b *addBody) { b.Name = "../../etc" }, "not a valid camera name"},
		{func(b *addBody) { b.Name = "YARD" }, "already has a camera"},
		{func(b *addBody) { b.Name = "Events" }, "reserved"},
		{func(b *addBody) { b.Main = "nope" }, "no profile"},
		{func(b *addBody) { b.Password = strings.Repeat("x", 10000) }, "at most"},
	} {
		b := good
		c.mod(&b)
		if msg := ask(t, w, CamerasAdd, b, nil); !strings.Contains(msg, c.want) {
			t.Errorf("add %+v: %q, want %q", b.Name, msg, c.want)
		}
	}
	if msg := ask(t, w, "add", map[string]any{"name": "x", "extra": 1}, nil); !strings.Contains(msg, "not what the hub expects") {
		t.Errorf("add with an unknown field: %q", msg)
	}
	if msg := ask(t, w, "remove-all", nil, nil); !strings.Contains(msg, "unknown op") {
		t.Errorf("unknown op: %q", msg)
	}
	if _, err := os.Stat(filepath.Join(cfg.Data, addedDir, "front-door.json")); err == nil {
		t.Fatal("a refused add left a file")
	}

	var added addReply
	if msg := ask(t, w, CamerasAdd, good, &added); msg != "" || added.Camera != "front-door" {
		t.Fatalf("add: %q %+v", msg, added)
	}
	waitFor(t, "segments of the added camera", 60*time.Second, func() bool { return statsOf(h, "front-door").Segments >= 2 })
	// Talk reaches an added camera's speaker as it does a configured one's.
	if bc, err := h.openBackChannel(context.Background(), "front-door"); err != nil {
		t.Errorf("the added camera's back channel: %v", err)
	} else {
		bc.Close()
	}
	waitFor(t, "the added camera's segments in the cloud", 60*time.Second, func() bool {
		objs, _ := m.c.Objects(context.Background(), m.st.HouseholdID, "front-door", time.Time{}, time.Time{})
		return len(objs) >= 2
	})
	// Live view of it too: the hub told the cloud of its new camera.
	lw := camerasWatch(t, cl, m, "front-door")
	select {
	case <-lw.First():
	case <-lw.Failed():
		t.Fatal("live view of the added camera failed")
	case <-time.After(30 * time.Second):
		t.Fatal("no frame of the added camera live")
	}
	// It detects on its sub stream with the hub's defaults, with the
	// model the hub loads for it (the hub's own camera does not detect):
	// the people walking by become a person event, sealed to the household
	// and queued for the cloud.
	waitFor(t, "a person event of the added camera in the cloud", 120*time.Second, func() bool {
		return hasPersonEvent(t, m, "front-door")
	})
	if st := h.DetectionStats(); len(st) != 1 || st[0].Camera != "front-door" || st[0].Events == 0 {
		t.Errorf("detection stats %+v, want the added camera's events", st)
	}
	// Zones from the web app reach its running detection, as for a
	// configured camera, and are used again after a restart.
	h.detection.mu.Lock()
	gen := h.detection.cameras["front-door"].gen.Load()
	h.detection.mu.Unlock()
	zones := `{"mask":[],"zones":[{"name":"porch steps","points":[[0,0],[1,0],[1,1],[0,1]]}]}`
	sr, err := h.handleSettings(context.Background(), live.SettingsRequest{Camera: "front-door", Device: "admin", Op: live.SettingsPut, Detect: json.RawMessage(zones)})
	if err != nil || !sr.Detecting || sr.Source != "app" {
		t.Fatalf("zones for the added camera: %+v, %v", sr, err)
	}
	h.detection.mu.Lock()
	regen := h.detection.cameras["front-door"].gen.Load()
	h.detection.mu.Unlock()
	if regen == gen {
		t.Error("the added camera's detection did not take the new zones")
	}
	if msg := ask(t, w, CamerasAdd, good, nil); !strings.Contains(msg, "already has a camera") {
		t.Errorf("adding it twice: %q", msg)
	}
	if msg := ask(t, w, CamerasDiscover, nil, &found); msg != "" {
		t.Fatal(msg)
	}
	for _, f := range found.Cameras {
		if f.Address == xaddr && f.Camera != "front-door" {
			t.Errorf("discovery lists the doorbell as camera %q, want front-door", f.Camera)
		}
	}

	// Kept on the hub only, readable by it alone.
	p := filepath.Join(cfg.Data, addedDir, "front-door.json")
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the added camera's file: %v, mode %v; want 0600", err, fi.Mode())
	}
	b, _ := os.ReadFile(p)
	if !bytes.Contains(b, []byte(doorPassword)) {
		t.Error("the added camera's file has no password")
	}

	// A restart keeps recording it.
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	before := len(segsOf(t, cfg.Data))
	h2 := startHub(t, cfg, opts)
	waitFor(t, "segments of the added camera after a restart", 60*time.Second, func() bool { return statsOf(h2, "front-door").Segments >= 1 })
	h2.detection.mu.Lock()
	cd := h2.detection.cameras["front-door"]
	h2.detection.mu.Unlock()
	if cd == nil {
		t.Fatal("the added camera does not detect after a restart")
	}
	if a, src, err := h2.CameraSettings("front-door"); err != nil || src != "app" || len(a.Zones) != 1 || a.Zones[0].Name != "porch steps" {
		t.Errorf("the added camera's zones after a restart: %+v from %q, %v", a, src, err)
	}

	// Removed: it stops recording (the segment in progress is stored), its
	// file goes, and a restart does not bring it back. A configured camera
	// is not removed from the app.
	w2 := camerasWatch(t, cl, m, "yard")
	live2 := camerasWatch(t, cl, m, "front-door")
	for name, want := range map[string]string{"yard": "config file", "nope": "no camera"} {
		if msg := ask(t, w2, CamerasRemove, removeBody{Name: name}, nil); !strings.Contains(msg, want) {
			t.Errorf("remove %s: %q, want %q", name, msg, want)
		}
	}
	if msg := ask(t, w2, CamerasRemove, removeBody{Name: "front-door"}, &added); msg != "" || added.Camera != "front-door" {
		t.Fatalf("remove: %q %+v", msg, added)
	}
	if _, err := os.Stat(p); err == nil {
		t.Error("the removed camera's file stays")
	}
	for _, s := range h2.Stats() {
		if s.Camera == "front-door" {
			t.Error("the removed camera is still recorded")
		}
	}
	// Its detection ended before the remove was answered.
	select {
	case <-cd.done:
	default:
		t.Error("the removed camera's detection still runs")
	}
	if st := h2.DetectionStats(); len(st) != 0 {
		t.Errorf("detection stats after the remove: %+v", st)
	}
	// A viewer that misses the hub's close (a loaded machine) sees its
	// connection fail when ICE gives up, after about 30 s.
	select {
	case <-live2.Failed():
	case <-time.After(60 * time.Second):
		t.Error("a live view of the removed camera goes on")
	}
	if err := h2.Close(); err != nil {
		t.Fatal(err)
	}
	if after := len(segsOf(t, cfg.Data)); after <= before {
		t.Errorf("%d segments before the restart, %d after", before, after)
	}
	h3 := startHub(t, cfg, opts)
	for _, s := range h3.Stats() {
		if s.Camera == "front-door" {
			t.Error("the removed camera is recorded again after a restart")
		}
	}
	if err := h3.Close(); err != nil {
		t.Fatal(err)
	}

	if out := logs.String(); strings.Contains(out, doorPassword) || strings.Contains(out, door.URL("door-main")) || strings.Contains(out, door.URL("door-sub")) {
		t.Error("the hub's logs hold the camera's password or stream URL")
	}
	// The insider's view of every cloud file.
	var leaks vigiltest.LeakScan
	leaks.Secret("camera user name", []byte(doorUser))
	leaks.Secret("camera password", []byte(doorPassword))
	leaks.Secret("camera stream URL", []byte(door.URL("door-main")))
	leaks.Secret("camera sub stream URL", []byte(door.URL("door-sub")))
	leaks.Secret("camera address", []byte(door.ONVIFAddr()))
	scanCloudFiles(t, cl.dir, &leaks, &leaks)
}

// hasPersonEvent reports whether the cloud holds an event record of camera
// with the label person that m opens with its device keys.
func hasPersonEvent(t *testing.T, m *memberDevice, camera string) bool {
	t.Helper()
	ctx := context.Background()
	evs, err := m.c.Objects(ctx, m.st.HouseholdID, eventrec.StreamEvents, time.Time{}, time.Time{})
	if err != nil || len(evs) == 0 {
		return false
	}
	vs, err := member.VerifiedChain(ctx, m.c, m.st.HouseholdID, m.genesis)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := vs.EpochIdentities(m.keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range evs {
		b, err := m.c.ReadObject(ctx, m.st.HouseholdID, o.Key, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		r, _, err := eventrec.Open(b, vs.TrustedHubs(), ids...)
		if err != nil {
			t.Fatalf("the member cannot open an event record: %v", err)
		}
		if r.Camera == camera && slices.Contains(r.Labels, "person") {
			return true
		}
	}
	return false
}

// TestFitSnapshot: a camera's large snapshot is scaled down to fit a
// reply; what is not a JPEG, or is too large to decode, is refused.
func TestFitSnapshot(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"not a JPEG", []byte("<html>"), false},
		{"empty", nil, false},
		{"huge dimensions", hugeJPEGHeader(), false},
	} {
		if _, err := fitSnapshot(c.in); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// hugeJPEGHeader is the start of a baseline JPEG that says it is 65535x65535.
func hugeJPEGHeader() []byte {
	return []byte{0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0xff, 0xff, 0xff, 0xff, 0x03,
		0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01, 0xff, 0xd9}
}

// FuzzCameraInputs: what a browser sends (an address, a request body) and
// what a camera sends (a snapshot) never panic; an address taken is an
// http(s) URL without user info of bounded size, and a snapshot returned
// is a JPEG that fits a reply.
func FuzzCameraInputs(f *testing.F) {
	f.Add("192.168.1.20", []byte(`{"address":"x","username":"u","password":"p"}`), []byte{0xff, 0xd8})
	f.Add("http://[::1]:80/onvif/device_service", []byte(`{"name":"door","main":"a","sub":"b"}`), hugeJPEGHeader())
	f.Add("user:pw@10.0.0.1", []byte(`{"extra":1}`), []byte("<html>"))
	f.Add("rtsp://10.0.0.1/", []byte(`[]`), []byte(nil))
	f.Fuzz(func(t *testing.T, addr string, body, snap []byte) {
		if a, err := deviceAddress(addr); err == nil {
			u, err := url.Parse(a)
			if err != nil || len(a) > 2*maxField || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Hostname() == "" || u.Fragment != "" {
				t.Errorf("address %q taken as %q", addr, a)
			}
		}
		var p probeBody
		_ = decodeBody(body, &p)
		var ab addBody
		_ = decodeBody(body, &ab)
		if out, err := fitSnapshot(snap); err == nil {
			if len(out) > maxSnapshotOut {
				t.Errorf("a snapshot of %d bytes", len(out))
			}
			if _, err := jpeg.DecodeConfig(bytes.NewReader(out)); err != nil {
				t.Errorf("a snapshot returned that is not a JPEG: %v", err)
			}
		}
	})
}

// TestProbeDevices: ONVIF devices the software camera cannot play. One
// with H.265 and JPEG profiles only is refused for probe and add with the
// reason (nothing the hub records); one whose snapshot is a large JPEG
// gets it scaled down to fit the reply.
func TestProbeDevices(t *testing.T) {
	t.Parallel()
	_, rcpt := household(t)
	// The hub needs a camera to start; this one need not answer.
	h := startHub(t, hubConfig(t, rcpt, map[string]string{"x": "rtsp://127.0.0.1:1/x"}, 2*time.Second), Options{})
	serve := func(d onvif.Device) string {
		srv := onvif.NewServer(d)
		hs := httptest.NewServer(srv)
		t.Cleanup(func() { srv.Close(); hs.Close() })
		return hs.URL + onvif.DevicePath
	}
	prof := func(tok, enc string, w, hgt int) onvif.DeviceProfile {
		return onvif.DeviceProfile{Profile: onvif.Profile{Token: tok, Name: tok,
			Video: &onvif.VideoEncoder{Token: "v" + tok, Encoding: enc, Width: w, Height: hgt, FrameRate: 15}},
			StreamURI: "rtsp://127.0.0.1:1/" + tok}
	}
	ctx := context.Background()
	req := func(op string, body any) (any, error) {
		b, _ := json.Marshal(body)
		return h.handleCameras(ctx, live.CamerasRequest{Device: "dtest", Op: op, Body: b})
	}

	h265 := serve(onvif.Device{Info: onvif.DeviceInfo{Manufacturer: "Acme", Model: "HEVC only"}, Username: "u", Password: "p",
		Profiles: []onvif.DeviceProfile{prof("hevc", "H265", 2560, 1440), prof("mjpeg", "JPEG", 640, 360)}})
	if _, err := req(CamerasProbe, probeBody{Address: h265, Username: "u", Password: "p"}); !errors.Is(err, errNoH264) {
		t.Errorf("probe of an H.265-only camera: %v, want %v", err, errNoH264)
	}
	if _, err := req(CamerasAdd, addBody{Name: "hevc", Address: h265, Username: "u", Password: "p", Main: "hevc"}); !errors.Is(err, errNoH264) {
		t.Errorf("add of an H.265-only camera: %v, want %v", err, errNoH264)
	}

	big := noisyJPEG(t, 1920, 1080)
	if len(big) <= maxSnapshotOut {
		t.Fatalf("the test snapshot is only %d bytes", len(big))
	}
	large := serve(onvif.Device{Info: onvif.DeviceInfo{Manufacturer: "Acme", Model: "4K"}, Username: "u", Password: "p",
		Profiles: []onvif.DeviceProfile{prof("main", "H264", 1920, 1080)},
		Snapshot: func(context.Context, string) (onvif.Snapshot, error) {
			return onvif.Snapshot{Data: big, ContentType: "image/jpeg"}, nil
		}})
	res, err := req(CamerasProbe, probeBody{Address: large, Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	pr := res.(probeReply)
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(pr.Snapshot))
	if err != nil || len(pr.Snapshot) > maxSnapshotOut || cfg.Width > 640 || cfg.Width*1080 != cfg.Height*1920 {
		t.Errorf("a %d-byte 1920x1080 snapshot comes back as %d bytes, %dx%d (%v) %s", len(big), len(pr.Snapshot), cfg.Width, cfg.Height, err, pr.SnapshotError)
	}
	found := h.discoverCameras(ctx)
	if len(found.Cameras) < 2 || found.Cameras[0].Address != large {
		t.Errorf("the addresses probed by hand, newest first: %+v", found.Cameras)
	}
}

// noisyJPEG is a w x h JPEG that compresses badly.
func noisyJPEG(t *testing.T, w, hgt int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, hgt))
	x := uint32(1)
	for i := range img.Pix {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		img.Pix[i] = byte(x)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestAddedCameraRecordsWithoutModel: a camera added from the web app to a
// hub whose object detector cannot be loaded (no model where the config
// file says) is recorded all the same, without detection.
func TestAddedCameraRecordsWithoutModel(t *testing.T) {
	t.Parallel()
	door := startDoorbell(t)
	_, rcpt := household(t)
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "yard")
	cfg := hubConfig(t, rcpt, map[string]string{"yard": cam.URL("yard")}, time.Second)
	cfg.Detection = &config.Detection{Models: t.TempDir()} // no model there
	h := startHub(t, cfg, Options{})
	defer h.Close()
	ctx := context.Background()
	acct := probeBody{Address: door.ONVIFAddr(), Username: doorUser, Password: doorPassword}
	c, _, ps, err := h.connectCamera(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(ps) != 2 {
		t.Fatalf("profiles %+v", ps)
	}
	if _, err := h.addCamera(ctx, addBody{Name: "front-door", Address: acct.Address, Username: doorUser, Password: doorPassword,
		Main: ps[0].Token, Sub: ps[1].Token}, "admin"); err != nil {
		t.Fatalf("add: %v", err)
	}
	waitFor(t, "segments of the added camera", 60*time.Second, func() bool { return statsOf(h, "front-door").Segments >= 2 })
	if st := h.DetectionStats(); len(st) != 0 {
		t.Errorf("detection stats %+v, want none", st)
	}
}
