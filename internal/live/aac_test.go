package live

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media/oggwriter"

	"vigil/internal/audioenc"
)

func requireFFmpeg(t *testing.T) string {
	t.Helper()
	ff, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatalf("ffmpeg is needed: %v (hint: apt-get install ffmpeg)", err)
	}
	return ff
}

// ffmpegOut runs ffmpeg with args and returns its stdout.
func ffmpegOut(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(requireFFmpeg(t), append([]string{"-hide_banner", "-loglevel", "error"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("ffmpeg %v: %v: %s", args, err, errb.Bytes())
	}
	return out.Bytes()
}

// aacTone returns the access units of a 2 s 440 Hz tone as AAC-LC, 16 kHz
// mono (what the software doorbell sends), with its config.
func aacTone(t *testing.T) (mpeg4audio.AudioSpecificConfig, [][]byte) {
	b := ffmpegOut(t, nil, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=2",
		"-c:a", "aac", "-ac", "1", "-f", "adts", "pipe:1")
	var pkts mpeg4audio.ADTSPackets
	if err := pkts.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	var aus [][]byte
	for _, p := range pkts {
		aus = append(aus, p.AU)
	}
	return mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 16000, ChannelConfig: 1}, aus
}

// opusTone returns the packets of a 2 s 440 Hz tone encoded as Opus
// (20 ms), read back from ffmpeg's Ogg with oggPackets.
func opusTone(t *testing.T) [][]byte {
	b := ffmpegOut(t, nil, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
		"-c:a", "libopus", "-ac", "1", "-b:a", "64k", "-f", "ogg", "pipe:1")
	var pkts [][]byte
	if err := audioenc.OggPackets(bytes.NewReader(b), func(p []byte) {
		if !audioenc.IsOpusHeader(p) {
			pkts = append(pkts, append([]byte(nil), p...))
		}
	}); err != nil {
		t.Fatal(err)
	}
	return pkts
}

// feedFrames sends frames to tap, looping, one every step, with pts
// advancing by ticks, until ctx is done.
func feedFrames(ctx context.Context, tap *Tap, frames [][]byte, step time.Duration, ticks int64) {
	tk := time.NewTicker(step)
	defer tk.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		tap.AudioFrames(int64(i)*ticks, [][]byte{frames[i%len(frames)]})
	}
}

// decodeOpusRTP decodes received Opus packets with ffmpeg to 48 kHz mono.
func decodeOpusRTP(t *testing.T, pkts []*rtp.Packet) []float64 {
	t.Helper()
	var ogg bytes.Buffer
	w, err := oggwriter.NewWith(&ogg, opusRate, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := w.WriteRTP(p); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	raw := ffmpegOut(t, ogg.Bytes(), "-f", "ogg", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", "48000", "pipe:1")
	pcm := make([]float64, len(raw)/2)
	for i := range pcm {
		pcm[i] = float64(int16(binary.LittleEndian.Uint16(raw[2*i:])))
	}
	return pcm
}

// waitOpus waits for n Opus packets at the viewer.
func waitOpus(t *testing.T, w *Watch, n int) []*rtp.Packet {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if p := w.AudioRTP(); len(p) >= n {
			return p
		}
		time.Sleep(50 * time.Millisecond)
	}
	mime, np, _ := w.Audio()
	t.Fatalf("viewer got %d audio packets (track %q), want %d", np, mime, n)
	return nil
}

// checkOpusTone checks the viewer's audio is Opus that advances by each
// packet's length and decodes to a 440 Hz tone.
func checkOpusTone(t *testing.T, w *Watch) {
	t.Helper()
	pkts := waitOpus(t, w, 150) // 3 s
	if mime, _, _ := w.Audio(); mime != "audio/opus" {
		t.Fatalf("audio track %q, want audio/opus", mime)
	}
	// Timing: each packet's RTP time is the previous one's plus its length.
	for i := 1; i < len(pkts); i++ {
		n, err := audioenc.Samples(pkts[i-1].Payload)
		if err != nil {
			t.Fatalf("packet %d: %v", i-1, err)
		}
		if d := pkts[i].Timestamp - pkts[i-1].Timestamp; d != uint32(n) {
			t.Fatalf("packet %d starts %d samples after the one before, which lasts %d", i, d, n)
		}
	}
	pcm := decodeOpusRTP(t, pkts)
	if len(pcm) < opusRate {
		t.Fatalf("decoded %d samples", len(pcm))
	}
	pcm = pcm[len(pcm)-opusRate:] // the last second: past any start-up
	at := goertzel(pcm, 440, opusRate)
	for _, other := range []float64{300, 660, 1000, 2000} {
		if o := goertzel(pcm, other, opusRate); at < 100*o {
			t.Errorf("power at 440 Hz %.3g not far above %.0f Hz %.3g", at, other, o)
		}
	}
	if at < 1e9 {
		t.Errorf("power at 440 Hz %.3g: too quiet", at)
	}
}

// TestLiveOpusAudio: a camera's Opus reaches a pion viewer as it came: an
// Opus track whose packets are timed by their length and decode to the
// camera's tone.
func TestLiveOpusAudio(t *testing.T) {
	pkts := opusTone(t)
	hh := newHousehold(t)
	hub, tap := startHub(t, hh)
	tap.SetAudioCodec(&fmp4.CodecOpus{ChannelCount: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go feedFrames(ctx, tap, pkts, 20*time.Millisecond, 960)
	w, err := StartWatch(ctx, viewer(hh, hh.member), direct(hub))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	checkOpusTone(t, w)
	if tap.Transcoding() {
		t.Error("Opus from the camera went through ffmpeg")
	}
}

// TestLiveAACAudio: a camera's AAC reaches a pion viewer as Opus, through
// one ffmpeg that runs only while someone listens.
func TestLiveAACAudio(t *testing.T) {
	cfg, aus := aacTone(t)
	hh := newHousehold(t)
	hub, tap := startHub(t, hh)
	t.Cleanup(func() { tap.Close() })
	tap.SetAudioCodec(&fmp4.CodecMPEG4Audio{Config: cfg})
	if c := tap.AudioCodec(); c != "opus" {
		t.Fatalf("viewers of an AAC camera get %q, want opus", c)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go feedFrames(ctx, tap, aus, 64*time.Millisecond, 1024)
	// Nobody listens: no ffmpeg.
	until := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(until) {
		if tap.Transcoding() {
			t.Fatal("ffmpeg runs with no viewer")
		}
		time.Sleep(50 * time.Millisecond)
	}
	w, err := StartWatch(ctx, viewer(hh, hh.member), direct(hub))
	if err != nil {
		t.Fatal(err)
	}
	checkOpusTone(t, w)
	if !tap.Transcoding() {
		t.Error("no ffmpeg while a viewer listens")
	}
	w.Close()
	waitUntil(t, "ffmpeg to stop after the last viewer left", func() bool { return !tap.Transcoding() })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20 s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeFFmpeg writes a shell script standing in for ffmpeg, for the faults
// a real one does not produce on demand.
func fakeFFmpeg(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ffmpeg")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// logBuffer is a slog handler's destination safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTranscoderFaults: an ffmpeg that stalls (reads nothing, says
// nothing), crashes with a flood on stderr, or writes garbage never holds
// up the camera's video or audio calls; what is logged of it is one
// bounded line; Close kills and waits for it.
func TestTranscoderFaults(t *testing.T) {
	cases := map[string]string{
		"stalls":  "exec sleep 600",
		"crashes": "head -c 100000 /dev/zero | tr '\\0' 'x' >&2; echo 'last words' >&2; exit 3",
		"garbage": "exec cat /dev/urandom",
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			var logs logBuffer
			tap := NewTapWith(TapConfig{FFmpeg: fakeFFmpeg(t, body), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			tap.Start(nil, nil)
			tap.SetAudioCodec(&fmp4.CodecMPEG4Audio{Config: mpeg4audio.AudioSpecificConfig{
				Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 16000, ChannelConfig: 1}})
			sub := tap.subscribe()
			au := bytes.Repeat([]byte{0x21}, 300)
			// Far more than the transcoder's queue and the pipe hold: with
			// a stalled ffmpeg these calls must still return.
			for i := range 5000 {
				tap.AudioFrames(int64(i)*1024, [][]byte{au})
				tap.Video(int64(i)*3000, [][]byte{{0x65, 1, 2, 3}})
			}
			if f := tap.Frames(); f != 5000 {
				t.Errorf("tap took %d frames, want 5000", f)
			}
			if name == "stalls" && !tap.Transcoding() {
				t.Error("the stalled ffmpeg is not running")
			}
			if name != "stalls" {
				waitUntil(t, "the transcoder to end", func() bool { return !tap.Transcoding() })
				waitUntil(t, "its failure to be logged", func() bool { return strings.Contains(logs.String(), "transcoder stopped") })
				line := logs.String()
				if n := strings.Count(line, "\n"); n != 1 || len(line) > 1200 {
					t.Errorf("logged %d lines, %d bytes: %.300q", n, len(line), line)
				}
				if name == "crashes" && !strings.Contains(line, "last words") {
					t.Errorf("the log does not say what ffmpeg said last: %q", line)
				}
			}
			tap.unsubscribe(sub)
			done := make(chan struct{})
			go func() { tap.Close(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Close did not return: ffmpeg was not killed")
			}
			if tap.Transcoding() {
				t.Error("still transcoding after Close")
			}
		})
	}
}

// TestAACConfigs: only configurations ADTS can frame are transcoded;
// others give viewers no audio rather than a broken track.
func TestAACConfigs(t *testing.T) {
	for _, c := range []struct {
		cfg  mpeg4audio.AudioSpecificConfig
		want string
	}{
		{mpeg4audio.AudioSpecificConfig{Type: 2, SampleRate: 16000, ChannelConfig: 1}, "opus"},
		{mpeg4audio.AudioSpecificConfig{Type: 2, SampleRate: 48000, ChannelConfig: 2}, "opus"},
		{mpeg4audio.AudioSpecificConfig{Type: 2, SampleRate: 12345, ChannelConfig: 1}, ""},
		{mpeg4audio.AudioSpecificConfig{Type: 2, SampleRate: 16000, ChannelConfig: 0}, ""},
		{mpeg4audio.AudioSpecificConfig{Type: 29, SampleRate: 16000, ChannelConfig: 1}, ""},
	} {
		tap := NewTap()
		tap.SetAudioCodec(&fmp4.CodecMPEG4Audio{Config: c.cfg})
		if got := tap.AudioCodec(); got != c.want {
			t.Errorf("%+v: viewers get %q, want %q", c.cfg, got, c.want)
		}
	}
}

// FuzzADTS: whatever access unit and configuration a camera announces,
// framing it for ffmpeg either refuses it or yields one ADTS packet that
// reads back as the same access unit.
func FuzzADTS(f *testing.F) {
	f.Add(2, 16000, uint8(1), []byte{0x21, 0x10})
	f.Add(5, 44100, uint8(2), make([]byte, maxADTSPayload+1))
	f.Add(1, 7350, uint8(7), []byte{0})
	f.Fuzz(func(t *testing.T, typ, rate int, ch uint8, au []byte) {
		cfg := mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectType(typ), SampleRate: rate, ChannelConfig: ch}
		b, err := adts(&cfg, au)
		if err != nil {
			return
		}
		var pkts mpeg4audio.ADTSPackets
		if err := pkts.Unmarshal(b); err != nil {
			t.Fatalf("framed %d bytes as %+v: does not read back: %v", len(au), cfg, err)
		}
		if len(pkts) != 1 || !bytes.Equal(pkts[0].AU, au) {
			t.Fatalf("framed %d bytes: read back %d packets", len(au), len(pkts))
		}
	})
}
