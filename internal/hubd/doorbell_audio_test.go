package hubd

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/recordings"
	"vigil/internal/segstore"
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

// checkExportedTone exports camera's recording as `vigil export` does and
// checks that the file has an audio stream in codec, about as long as its
// video, that decodes (ffmpeg) to the doorbell's tone.
func checkExportedTone(t *testing.T, data string, id envelope.Identity, camera, codec string) {
	t.Helper()
	hubKey, _ := keydir.ReadSignerPublic(data)
	store, err := segstore.OpenReadOnly(context.Background(), data, segstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	out := filepath.Join(t.TempDir(), camera+".mp4")
	_, err = recordings.ExportFile(context.Background(), store, out, recordings.ExportOptions{
		Camera: camera, Identities: []envelope.Identity{id}, Trust: envelope.TrustedKeys{hubKey}})
	if err != nil {
		t.Fatal(err)
	}
	checkToneFile(t, out, camera, codec)
}

// checkDownloadedTone builds camera's recording into one MP4 as the web
// app's download does (web/src/media/mp4.ts, in Chromium) and checks the
// file as checkExportedTone does.
func checkDownloadedTone(t *testing.T, data string, id envelope.Identity, camera, codec string) {
	t.Helper()
	hubKey, _ := keydir.ReadSignerPublic(data)
	store, err := segstore.OpenReadOnly(context.Background(), data, segstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	segs, err := store.List(context.Background(), segstore.Filter{Camera: camera})
	if err != nil {
		t.Fatal(err)
	}
	type part struct {
		Start int64  `json:"start"`
		Data  []byte `json:"data"` // base64 in JSON
	}
	var in struct {
		Parts    []part `json:"parts"`
		From, To int64
	}
	for _, s := range segs {
		sealed, err := os.ReadFile(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		_, _, plain, err := envelope.Open(sealed, envelope.TrustedKeys{hubKey}, id)
		if err != nil {
			t.Fatal(err)
		}
		in.Parts = append(in.Parts, part{Start: s.Start.UnixMilli(), Data: plain})
	}
	in.From, in.To = segs[0].Start.UnixMilli(), segs[len(segs)-1].End.UnixMilli()
	b, _ := json.Marshal(map[string]any{"parts": in.Parts, "from": in.From, "to": in.To})
	dir := t.TempDir()
	input, out := filepath.Join(dir, "in.json"), filepath.Join(dir, camera+"-download.mp4")
	if err := os.WriteFile(input, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Frames      int     `json:"frames"`
		AudioFrames int     `json:"audioFrames"`
		Duration    float64 `json:"duration"`
	}
	browsertest.Run(t, 2*time.Minute, "mp4.mjs", map[string]string{"INPUT": input, "OUTPUT": out}, &res)
	t.Logf("%s: the download has %d frames, %d audio frames, %.2f s", camera, res.Frames, res.AudioFrames, res.Duration)
	checkToneFile(t, out, camera, codec)
}

// checkToneFile checks that an MP4 has an audio stream in codec, about as
// long as its video, that decodes (ffmpeg) to the doorbell's tone.
func checkToneFile(t *testing.T, out, camera, codec string) {
	t.Helper()
	v := vigiltest.FFprobe(t, out, "v:0")
	a := vigiltest.FFprobe(t, out, "a:0")
	t.Logf("%s: video %v; audio %v", camera, v, a)
	if a["codec_name"] != codec {
		t.Fatalf("%s: the export's audio is %q, want %s", camera, a["codec_name"], codec)
	}
	vd, _ := strconv.ParseFloat(v["duration"], 64)
	ad, _ := strconv.ParseFloat(a["duration"], 64)
	if ad < vd-1 || ad > vd+1 {
		t.Errorf("%s: audio %.2f s against video %.2f s", camera, ad, vd)
	}
	ff := vigiltest.RequireTool(t, "ffmpeg", "ffmpeg")
	cmd := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-i", out, "-map", "0:a:0",
		"-f", "s16le", "-ac", "1", "-ar", "16000", "pipe:1")
	var pcmb, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &pcmb, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("decoding the export's audio: %v: %s", err, errb.Bytes())
	}
	raw := pcmb.Bytes()
	const rate = 16000
	if len(raw) < 4*rate {
		t.Fatalf("%s: %d bytes of decoded audio", camera, len(raw))
	}
	// The last second but one: whole, and past any start-up.
	raw = raw[len(raw)-4*rate : len(raw)-2*rate]
	pcm := make([]float64, len(raw)/2)
	for i := range pcm {
		pcm[i] = float64(int16(binary.LittleEndian.Uint16(raw[2*i:])))
	}
	at := goertzel(pcm, softcam.ToneHz, rate)
	for _, other := range []float64{300, 660, 1000, 2000} {
		if o := goertzel(pcm, other, rate); at < 100*o {
			t.Errorf("%s: power at %d Hz %.3g not far above %.0f Hz %.3g", camera, softcam.ToneHz, at, other, o)
		}
	}
	if at < 1e9 {
		t.Errorf("%s: power at %d Hz %.3g: too quiet", camera, softcam.ToneHz, at)
	}
}
