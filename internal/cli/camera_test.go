package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"vigil/internal/onvif"
	"vigil/internal/softcam"
)

// TestCameraDoorbell runs 'vigil camera --doorbell --audio-bursts' and
// presses its button over HTTP and with SIGUSR1; both presses are listed
// at GET /presses, and the back channel file is there from the start. Its
// ONVIF device service answers with the default account, and POST /burst
// says when the tone burst left.
func TestCameraDoorbell(t *testing.T) {
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
	wav := filepath.Join(dir, "talk.wav")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- Run(ctx, []string{"camera", "--doorbell", "--file", clip, "--listen", "127.0.0.1:0",
			"--control", "127.0.0.1:0", "--udp=false", "--cache", filepath.Join(dir, "cache"),
			"--backchannel-out", wav, "--onvif", "127.0.0.1:0", "--onvif-discovery", "127.0.0.1:0", "--audio-bursts"}, pw, &stderr)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var rtspURL, pressURL, onvifURL string
	for onvifURL == "" && sc.Scan() {
		switch line := sc.Text(); {
		case strings.HasPrefix(line, "rtsp://"):
			rtspURL = line
		case strings.HasPrefix(line, "http://") && strings.HasSuffix(line, onvif.DevicePath):
			onvifURL = line
		case strings.HasPrefix(line, "http://"):
			pressURL = line
		}
	}
	go io.Copy(io.Discard, pr)
	if rtspURL == "" || !strings.HasSuffix(pressURL, "/press") || onvifURL == "" {
		t.Fatalf("printed %q, %q and %q; stderr:\n%s", rtspURL, pressURL, onvifURL, stderr.String())
	}
	oc, err := onvif.NewClient(onvif.ClientOptions{XAddr: onvifURL, Username: defaultONVIFUser, Password: defaultONVIFPassword})
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	if info, err := oc.DeviceInformation(ctx); err != nil || info.Model != "software doorbell" {
		t.Errorf("ONVIF device information %+v, %v", info, err)
	}

	resp, err := http.Post(pressURL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /press: %d", resp.StatusCode)
	}
	// The command listens for SIGUSR1 before it prints its URLs.
	if err := syscall.Kill(os.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var log softcam.PressLog
	deadline := time.Now().Add(10 * time.Second)
	for log.Count < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		resp, err := http.Get(strings.TrimSuffix(pressURL, "/press") + "/presses")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&log)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if log.Count != 2 || log.Recent[0].Source != "http" || log.Recent[1].Source != "signal" {
		t.Errorf("presses %+v, want one over HTTP then one by signal", log)
	}
	resp, err = http.Post(strings.TrimSuffix(pressURL, "/press")+"/burst", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var burst softcam.BurstSent
	err = json.NewDecoder(resp.Body).Decode(&burst)
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil || burst.Time.IsZero() {
		t.Errorf("POST /burst: %d %+v %v", resp.StatusCode, burst, err)
	}
	if fi, err := os.Stat(wav); err != nil || fi.Size() != 44 {
		t.Errorf("back channel file: %v, %v (want an empty WAV file)", fi, err)
	}
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d; stderr:\n%s", c, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("vigil camera did not stop")
	}
	if strings.Contains(stderr.String(), defaultONVIFPassword) {
		t.Error("the ONVIF password is in the logs")
	}
}

// TestCameraFlagErrors: flags that need --doorbell, --audio or --onvif are
// refused.
func TestCameraFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"camera", "--backchannel-out", "x.wav"},
		{"camera", "--audio-file", "x.wav"},
		{"camera", "--audio", "mp3"},
		{"camera", "--onvif", "127.0.0.1:0"},
		{"camera", "--doorbell", "--onvif", "off", "--onvif-discovery", "127.0.0.1:0"},
		{"camera", "--audio-bursts"},
		{"camera", "--doorbell", "--audio", "aac", "--audio-bursts"},
		{"camera", "--doorbell", "--audio-file", "x.wav", "--audio-bursts"},
	} {
		var out, errb bytes.Buffer
		if c := Run(context.Background(), args, &out, &errb); c != 2 {
			t.Errorf("%v: exit %d, want 2 (usage); stderr %s", args, c, errb.String())
		}
	}
}
