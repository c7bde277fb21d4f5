// Package vigiltest holds helpers shared by tests: a slog logger that writes
// to t.Logf, a log buffer tests read back, a settable clock, and real media
// made with ffmpeg. It is imported only from tests.
package vigiltest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
)

// Logger returns a slog.Logger that writes through t.Logf, at debug level.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// SyncBuffer is a bytes.Buffer that a logger or a child process may write
// to while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Logger returns a debug-level text logger that writes to s: the log a
// test reads back (what was logged, and that no secret was).
func (s *SyncBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(s, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Clock is a test's settable time, shared with the code under test (give
// it Clock.Now); safe from any goroutine.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a Clock at t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.ns.Store(t.UnixNano())
	return c
}

// Now returns the clock's time, in UTC.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// RequireTool fails the test (never skips silently) when a program that the
// test needs is missing, naming the package that provides it.
func RequireTool(t testing.TB, name, debPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install it (apt-get install %s) or run 'make test', which does", name, debPackage)
	}
	return p
}

// AU is one access unit read from a transport stream, in 90 kHz (video) or
// sample-rate (audio) ticks.
type AU struct {
	PTS, DTS int64
	NALUs    [][]byte // video
	Frames   [][]byte // audio (AAC access units)
}

// Media is a short real clip: H.264 video access units and optional AAC.
type Media struct {
	Video      []AU
	Audio      []AU
	AudioRate  int
	AudioConf  *mpeg4audio.AudioSpecificConfig
	SPS, PPS   []byte
	FPS, GOP   int
	FramesWant int
}

// MediaOptions selects what MakeMedia produces.
type MediaOptions struct {
	Seconds int
	FPS     int
	GOP     int  // frames between keyframes
	Audio   bool // add AAC audio
	HEVC    bool // H.265 instead of H.264
	BFrames int
}

// MakeMedia encodes a test pattern with ffmpeg (libx264 or libx265) into
// MPEG-TS and reads its access units back.
func MakeMedia(t testing.TB, o MediaOptions) *Media {
	t.Helper()
	ff := RequireTool(t, "ffmpeg", "ffmpeg")
	if o.Seconds == 0 {
		o.Seconds = 4
	}
	if o.FPS == 0 {
		o.FPS = 10
	}
	if o.GOP == 0 {
		o.GOP = o.FPS
	}
	out := filepath.Join(t.TempDir(), "clip.ts")
	args := []string{"-hide_banner", "-loglevel", "error", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc=size=320x240:rate=%d:duration=%d", o.FPS, o.Seconds)}
	if o.Audio {
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000:duration=%d", o.Seconds), "-c:a", "aac", "-b:a", "64k")
	}
	codec := "libx264"
	if o.HEVC {
		codec = "libx265"
		args = append(args, "-x265-params", "log-level=error")
	}
	args = append(args, "-c:v", codec, "-pix_fmt", "yuv420p", "-g", strconv.Itoa(o.GOP),
		"-keyint_min", strconv.Itoa(o.GOP), "-sc_threshold", "0", "-bf", strconv.Itoa(o.BFrames),
		"-f", "mpegts", out)
	cmd := exec.CommandContext(context.Background(), ff, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &mpegts.Reader{R: f}
	if err := r.Initialize(); err != nil {
		t.Fatalf("read ts: %v", err)
	}
	m := &Media{FPS: o.FPS, GOP: o.GOP, FramesWant: o.FPS * o.Seconds}
	for _, tr := range r.Tracks() {
		switch c := tr.Codec.(type) {
		case *mpegts.CodecH264:
			r.OnDataH264(tr, func(pts, dts int64, au [][]byte) error {
				m.Video = append(m.Video, AU{PTS: pts, DTS: dts, NALUs: cloneAU(au)})
				return nil
			})
		case *mpegts.CodecH265:
			r.OnDataH265(tr, func(pts, dts int64, au [][]byte) error {
				m.Video = append(m.Video, AU{PTS: pts, DTS: dts, NALUs: cloneAU(au)})
				return nil
			})
		case *mpegts.CodecMPEG4Audio:
			conf := c.Config
			m.AudioConf = &conf
			m.AudioRate = conf.SampleRate
			r.OnDataMPEG4Audio(tr, func(pts int64, aus [][]byte) error {
				// TS timestamps are 90 kHz; convert to the sample rate.
				m.Audio = append(m.Audio, AU{PTS: pts * int64(conf.SampleRate) / 90000, Frames: cloneAU(aus)})
				return nil
			})
		}
	}
	for {
		if err := r.Read(); err != nil {
			break
		}
	}
	if len(m.Video) == 0 {
		t.Fatal("ffmpeg produced no video access units")
	}
	return m
}

func cloneAU(au [][]byte) [][]byte {
	out := make([][]byte, len(au))
	for i, n := range au {
		out[i] = append([]byte(nil), n...)
	}
	return out
}

// FFprobe returns "key=value" stream facts of a media file for one stream
// selector (e.g. "v:0"), counting frames.
func FFprobe(t testing.TB, path, stream string) map[string]string {
	t.Helper()
	fp := RequireTool(t, "ffprobe", "ffmpeg")
	out, err := exec.Command(fp, "-v", "error", "-count_frames", "-select_streams", stream,
		"-show_entries", "stream=codec_name,nb_read_frames,width,height,duration:format=duration",
		"-of", "default=noprint_wrappers=1", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v: %s", path, err, out)
	}
	res := map[string]string{}
	for _, line := range bytes.Split(out, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte("="))
		if ok {
			key := string(k)
			if _, dup := res[key]; dup {
				key = "format_" + key
			}
			res[key] = string(v)
		}
	}
	return res
}
