package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"vigil/internal/browsertest"
	"vigil/internal/client"
	"vigil/internal/keydir"
	"vigil/internal/live"
	"vigil/internal/softcam"
	"vigil/internal/vigiltest"
)

// goertzel returns the power of x at hz (sample rate rate).
func goertzel(x []float64, hz, rate float64) float64 {
	c := 2 * math.Cos(2*math.Pi*hz/rate)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = v+c*s1-s2, s1
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// checkTone checks that the last second of pcm (at rate) is a loud tone
// at hz, far above other frequencies.
func checkTone(t *testing.T, pcm []float64, rate, hz float64) {
	t.Helper()
	if len(pcm) < int(rate) {
		t.Fatalf("only %d samples", len(pcm))
	}
	pcm = pcm[len(pcm)-int(rate):]
	at := goertzel(pcm, hz, rate)
	for _, other := range []float64{hz * 0.7, hz * 1.5, 1000, 2000} {
		if o := goertzel(pcm, other, rate); at < 100*o {
			t.Errorf("power at %.0f Hz %.3g not far above %.0f Hz %.3g", hz, at, other, o)
		}
	}
	if at < 1e9 {
		t.Errorf("power at %.0f Hz %.3g: too quiet", hz, at)
	}
}

// decodePCM runs ffmpeg on in (of the given input format, "" to probe)
// and returns its first audio stream as 48 kHz mono samples.
func decodePCM(t *testing.T, format string, in []byte) []float64 {
	t.Helper()
	ff := vigiltest.RequireTool(t, "ffmpeg", "ffmpeg")
	args := []string{"-hide_banner", "-loglevel", "error"}
	if format != "" {
		args = append(args, "-f", format)
	}
	args = append(args, "-i", "pipe:0", "-map", "0:a:0", "-f", "s16le", "-ac", "1", "-ar", "48000", "pipe:1")
	cmd := exec.Command(ff, args...)
	cmd.Stdin = bytes.NewReader(in)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, errb.Bytes())
	}
	raw := out.Bytes()
	pcm := make([]float64, len(raw)/2)
	for i := range pcm {
		pcm[i] = float64(int16(binary.LittleEndian.Uint16(raw[2*i:])))
	}
	return pcm
}

// TestLiveDoorbellAAC: the software doorbell's AAC reaches a viewer, over
// the cloud's signalling and the household's DTLS-SRTP session, as an Opus
// track transcoded on the hub: packets timed by their length, decoding to
// the doorbell's tone.
func TestLiveDoorbellAAC(t *testing.T) {
	lh := startLiveHouseholdAudio(t, nil, softcam.AudioAAC)
	// A session answered before the camera connected has no audio track:
	// the first one only waits for the camera's picture.
	w, _ := watch(t, lh, lh.admin, live.NetOptions{Loopback: true}, nil)
	w.Close()
	w, _ = watch(t, lh, lh.admin, live.NetOptions{Loopback: true}, nil)
	var pkts []*rtp.Packet
	deadline := time.Now().Add(30 * time.Second)
	for len(pkts) < 150 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		pkts = w.AudioRTP()
	}
	mime, n, _ := w.Audio()
	if mime != "audio/opus" || len(pkts) < 150 {
		t.Fatalf("audio track %q with %d packets, want audio/opus with 150", mime, n)
	}
	var ogg bytes.Buffer
	ow, err := oggwriter.NewWith(&ogg, 48000, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pkts {
		if i > 0 && p.Timestamp-pkts[i-1].Timestamp != 960 {
			t.Fatalf("packet %d is %d samples after the one before, want 960 (20 ms)", i, p.Timestamp-pkts[i-1].Timestamp)
		}
		if err := ow.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
	}
	ow.Close()
	checkTone(t, decodePCM(t, "ogg", ogg.Bytes()), 48000, softcam.ToneHz)
}

// TestLiveBrowserAAC: the doorbell's AAC, transcoded to Opus on the hub,
// plays in Chromium: the page hears the doorbell's tone once unmuted.
func TestLiveBrowserAAC(t *testing.T) {
	lh := startLiveHouseholdAudio(t, nil, softcam.AudioAAC)
	w, _ := watch(t, lh, lh.admin, live.NetOptions{Loopback: true}, nil)
	w.Close()

	ctx := context.Background()
	bc := client.New(lh.cloud.url)
	email := fmt.Sprintf("aac%d-%d@example.com", os.Getpid(), accountSeq.Add(1))
	res, err := bc.SignUp(ctx, email, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	addMemberSigned(t, lh.c, lh.id(), lh.admin, email, keydir.RoleMember)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
		if r.URL.Path == "/enrol" {
			dev, err := keydir.ParseDevice(strings.TrimSpace(string(b)), keydir.RoleMember, "browser")
			if err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			lh.addDevice(t, dev)
		}
	}))
	t.Cleanup(hook.Close)
	var out struct {
		Status string `json:"status"`
		Sound  struct {
			Shown   bool    `json:"shown"`
			Pressed string  `json:"pressed"`
			ToneDB  float64 `json:"toneDb"`
			OtherDB float64 `json:"otherDb"`
			Err     string  `json:"err"`
		} `json:"sound"`
	}
	browsertest.Run(t, 2*time.Minute, "live.mjs", map[string]string{
		"BASE_URL": lh.cloud.url, "HOOK_URL": hook.URL, "EMAIL": email, "PASSWORD": "a long enough password",
		"TOTP_SECRET": res.TOTPSecret, "HOUSEHOLD": lh.id(), "CAMERA": "front",
		"AUDIO_HZ": fmt.Sprint(softcam.ToneHz), "SOUND_ONLY": "1",
	}, &out)
	t.Logf("sound: %+v", out.Sound)
	if !out.Sound.Shown || out.Sound.Pressed != "true" {
		t.Errorf("the speaker button: shown %v, pressed %q", out.Sound.Shown, out.Sound.Pressed)
	}
	if out.Sound.Err != "" || out.Sound.ToneDB < -60 || out.Sound.ToneDB-out.Sound.OtherDB < 30 {
		t.Errorf("the page hears %.1f dB at %d Hz against %.1f dB elsewhere (%s): want the doorbell's tone", out.Sound.ToneDB, softcam.ToneHz, out.Sound.OtherDB, out.Sound.Err)
	}
}
