package hubd

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

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
	st, err := recordings.ExportFile(context.Background(), store, out, recordings.ExportOptions{
		Camera: camera, Identities: []envelope.Identity{id}, Trust: envelope.TrustedKeys{hubKey}})
	if err != nil {
		t.Fatal(err)
	}
	v := vigiltest.FFprobe(t, out, "v:0")
	a := vigiltest.FFprobe(t, out, "a:0")
	t.Logf("%s: export %+v; video %v; audio %v", camera, st, v, a)
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
