package cli

import (
	"bytes"
	"context"
	"image/jpeg"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/onvif"
	"vigil/internal/softcam"
	"vigil/internal/vigiltest"
)

// startDoorbell starts a software doorbell in-process with two paths,
// ONVIF on loopback and unicast discovery, account admin / door-secret.
func startDoorbell(t *testing.T) *softcam.Server {
	t.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		t.Skip("ffmpeg not installed (hint: apt-get install ffmpeg)")
	}
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.mp4")
	if out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", "testsrc=size=160x120:rate=10", "-t", "1", "-c:v", "libx264", "-preset", "ultrafast",
		"-pix_fmt", "yuv420p", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	s := vigiltest.StartSoftcam(t, softcam.Config{
		File: clip, CacheDir: filepath.Join(dir, "cache"), Listen: "127.0.0.1:0", Paths: []string{"main", "sub"},
		Audio: softcam.AudioPCMU, BackChannel: true, ONVIF: "127.0.0.1:0", Discovery: "127.0.0.1:0",
		ONVIFUser: "admin", ONVIFPassword: "door-secret",
		Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)),
	})
	return s
}

func runVigilCtx(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code = Run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestCameraDiscoverProbe adds the software doorbell as a household
// would: discover finds it, probe lists both profiles with their real
// stream URIs and saves a snapshot, and --yaml prints an entry the hub's
// config accepts.
func TestCameraDiscoverProbe(t *testing.T) {
	s := startDoorbell(t)
	xaddr := "http://" + s.ONVIFAddr() + onvif.DevicePath
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("door-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errs := runVigilCtx(t, "camera", "discover", "--target", s.DiscoveryAddr(), "--timeout", "2s")
	if code != 0 || !strings.Contains(out, "  address:  "+xaddr+"\n") || !strings.Contains(out, "hardware: ") {
		t.Fatalf("discover: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}

	snap := filepath.Join(dir, "snap.jpg")
	code, out, errs = runVigilCtx(t, "camera", "probe", xaddr, "--user", "admin", "--password-file", pwFile, "--snapshot", snap)
	if code != 0 {
		t.Fatalf("probe: exit %d: %s", code, errs)
	}
	t.Logf("probe:\n%s", out)
	mi := s.Info()
	for _, p := range []string{"main", "sub"} {
		want := "profile " + p + " "
		if !strings.Contains(out, want) || !strings.Contains(out, "  stream: "+s.URL(p)+"\n") {
			t.Errorf("probe does not list profile %s with stream %s:\n%s", p, s.URL(p), out)
		}
	}
	if video := "  video:  H264 " + itoa(mi.Width) + "x" + itoa(mi.Height) + " 10 fps"; strings.Count(out, video) != 2 ||
		strings.Count(out, "  audio:  G711 8 kHz") != 2 || !strings.Contains(out, "snapshot: http://") ||
		!strings.Contains(out, "device:   Vigil software doorbell") {
		t.Errorf("probe output:\n%s", out)
	}
	if strings.Contains(out+errs, "door-secret") {
		t.Errorf("probe printed the password")
	}
	b, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("snapshot does not decode: %v", err)
	}
	if r := img.Bounds(); r.Dx() != mi.Width || r.Dy() != mi.Height {
		t.Errorf("snapshot %v, want %dx%d", r, mi.Width, mi.Height)
	}

	// --yaml with a placeholder: it parses, and the password is not in it.
	code, out, errs = runVigilCtx(t, "camera", "probe", s.ONVIFAddr(), "--user", "admin", "--password-file", pwFile, "--yaml")
	if code != 0 {
		t.Fatalf("probe --yaml: exit %d: %s", code, errs)
	}
	t.Logf("probe --yaml:\n%s", out)
	if strings.Contains(out, "door-secret") || !strings.Contains(out, "USER:PASSWORD@") || !strings.Contains(out, "# Replace USER and PASSWORD") {
		t.Errorf("--yaml without --with-credentials:\n%s", out)
	}
	cam := parseCameraEntry(t, out)
	if cam.Name != "software-doorbell" || cam.URL != withUser(s.URL("main"), "USER:PASSWORD") ||
		cam.Detect == nil || cam.Detect.URL != withUser(s.URL("sub"), "USER:PASSWORD") {
		t.Errorf("parsed camera %#v detect %+v", cam, cam.Detect)
	}

	// --with-credentials: the URLs carry the account, escaped.
	t.Setenv(onvifPasswordEnv, "door-secret")
	code, out, errs = runVigilCtx(t, "camera", "probe", xaddr, "--user", "admin", "--yaml", "--with-credentials", "--name", "front-door")
	if code != 0 {
		t.Fatalf("probe --yaml --with-credentials: exit %d: %s", code, errs)
	}
	cam = parseCameraEntry(t, out)
	if cam.Name != "front-door" || cam.URL != withUser(s.URL("main"), "admin:door-secret") ||
		cam.Detect == nil || cam.Detect.URL != withUser(s.URL("sub"), "admin:door-secret") {
		t.Errorf("parsed camera %#v detect %+v", cam, cam.Detect)
	}
}

// TestCameraProbeErrors: a wrong password, an address that is not an
// ONVIF device and one nothing answers at each fail with what to do.
func TestCameraProbeErrors(t *testing.T) {
	s := startDoorbell(t)
	xaddr := "http://" + s.ONVIFAddr() + onvif.DevicePath
	t.Setenv(onvifPasswordEnv, "not-the-pin-7731")
	code, _, errs := runVigilCtx(t, "camera", "probe", xaddr, "--user", "admin")
	if code != 1 || !strings.Contains(errs, "the camera refused the user name or password") || strings.Contains(errs, "not-the-pin-7731") {
		t.Errorf("wrong password: exit %d: %s", code, errs)
	}
	code, _, errs = runVigilCtx(t, "camera", "probe", xaddr)
	if code != 1 || !strings.Contains(errs, "the camera asks for a user name and password") {
		t.Errorf("no user: exit %d: %s", code, errs)
	}
	// The doorbell's RTSP port speaks no HTTP.
	rtspHost := strings.TrimPrefix(s.URL("main"), "rtsp://")
	rtspHost = rtspHost[:strings.Index(rtspHost, "/")]
	code, _, errs = runVigilCtx(t, "camera", "probe", "http://"+rtspHost+"/onvif/device_service", "--user", "admin")
	t.Logf("not ONVIF: %s", errs)
	if code != 1 || !strings.Contains(errs, "does not answer as an ONVIF device") {
		t.Errorf("not ONVIF: exit %d: %s", code, errs)
	}
	code, _, errs = runVigilCtx(t, "camera", "probe", closedAddr(t), "--user", "admin")
	if code != 1 || !strings.Contains(errs, "could not reach") {
		t.Errorf("closed port: exit %d: %s", code, errs)
	}
	// Off the household's network: refused before any packet is sent.
	code, _, errs = runVigilCtx(t, "camera", "probe", "http://192.0.2.1/onvif/device_service", "--user", "admin")
	t.Logf("off the LAN: %s", errs)
	if code != 1 || !strings.Contains(errs, "could not reach") {
		t.Errorf("public address: exit %d: %s", code, errs)
	}
	code, _, errs = runVigilCtx(t, "camera", "probe", "http://admin:pw@"+s.ONVIFAddr(), "--user", "admin")
	if code != 2 || !strings.Contains(errs, "put no user name or password in the URL") {
		t.Errorf("password in URL: exit %d: %s", code, errs)
	}
	code, _, errs = runVigilCtx(t, "camera", "discover", "--target", closedAddr(t), "--timeout", "200ms")
	if code != 1 || !strings.Contains(errs, "no ONVIF camera answered") {
		t.Errorf("discover, nobody answering: exit %d: %s", code, errs)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// parseCameraEntry feeds the printed cameras: entry to the hub's config
// parser, after a minimal rest of a config, and returns the camera.
func parseCameraEntry(t *testing.T, entry string) config.Camera {
	t.Helper()
	h, err := config.Parse([]byte("data: ./hub-data\nrecipients: [\"vigr1example\"]\n"+entry), t.TempDir())
	if err != nil {
		t.Fatalf("the --yaml entry does not parse: %v\n%s", err, entry)
	}
	if len(h.Cameras) != 1 {
		t.Fatalf("%d cameras in\n%s", len(h.Cameras), entry)
	}
	return h.Cameras[0]
}

// withUser puts userinfo into an rtsp:// URL.
func withUser(u, userinfo string) string {
	return strings.Replace(u, "rtsp://", "rtsp://"+userinfo+"@", 1)
}
