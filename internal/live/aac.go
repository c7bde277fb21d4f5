package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// A camera's AAC reaches live viewers as Opus: browsers decode Opus (and
// G.711) on a WebRTC connection, not AAC. One ffmpeg per camera decodes
// the camera's AAC (ADTS on its stdin) and encodes Opus (Ogg on its
// stdout), started by the camera's first audio frame that finds a viewer
// and stopped when the last viewer leaves or the camera's session ends.
// The camera's ingest only ever queues frames for it (dropped when its
// queue is full): a stalled or crashed ffmpeg never holds up video or the
// recording, and a crashed one is started again after transcodeBackoff.

// TapConfig configures a Tap made with NewTapWith.
type TapConfig struct {
	// FFmpeg is the ffmpeg that transcodes a camera's AAC to Opus for live
	// viewers: a name in PATH or a path; "" means "ffmpeg".
	FFmpeg string
	// Logger receives the transcoder's failures (one line each, with the
	// last line ffmpeg printed). nil discards them.
	Logger *slog.Logger
}

// NewTapWith returns a Tap that transcodes AAC with cfg (NewTap's uses
// the ffmpeg in PATH and logs nothing). Close a Tap to stop its ffmpeg.
func NewTapWith(cfg TapConfig) *Tap {
	t := NewTap()
	t.tc.cfg = cfg
	return t
}

func (c TapConfig) ffmpeg() string {
	if c.FFmpeg == "" {
		return "ffmpeg"
	}
	return c.FFmpeg
}

func (c TapConfig) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

const (
	// transcodeQueue is the number of AAC frames waiting for ffmpeg (about
	// 2 s at 16 kHz); frames that find it full are dropped.
	transcodeQueue = 32
	// transcodeBackoff is the wait before a failed ffmpeg is started again.
	transcodeBackoff = 2 * time.Second
	// maxADTSPayload is the largest access unit ADTS can frame (13-bit
	// frame length, 7-byte header).
	maxADTSPayload = 1<<13 - 1 - 7
	// stderrTail bounds what is kept of ffmpeg's messages for the log.
	stderrTail = 512
	// opusBitrate is the transcoded audio's bit rate (speech, mono).
	opusBitrate = "32k"
)

// transcode is a Tap's state for its camera's audio that is not passed
// through as it comes. Guarded by the Tap's mutex.
type transcode struct {
	cfg      TapConfig
	aac      *mpeg4audio.AudioSpecificConfig // the session's AAC; nil when none
	cur      *transcoder                     // the running ffmpeg, if any
	failedAt time.Time                       // the last ffmpeg's unexpected end
	opusPTS  int64                           // next Opus packet's time, 48 kHz
	closed   bool
	wg       sync.WaitGroup
}

// transcoder is one ffmpeg process.
type transcoder struct {
	in     chan []byte // ADTS frames
	cancel context.CancelFunc
}

// SetAudioCodec names the camera session's compressed audio: Opus is
// passed to viewers as it comes, AAC (AAC-LC or another ADTS-framed
// object type, any ADTS sample rate) is transcoded to Opus. Anything else
// (or nil) means no compressed audio for viewers. A Stop clears it.
func (t *Tap) SetAudioCodec(c fmp4.Codec) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopTranscoderLocked()
	t.tc.aac = nil
	switch c := c.(type) {
	case *fmp4.CodecOpus:
		t.audio = "opus"
	case *fmp4.CodecMPEG4Audio:
		cfg := c.Config
		if _, err := adts(&cfg, []byte{0}); err != nil {
			t.audio = ""
			return
		}
		t.tc.aac = &cfg
		t.audio = "opus"
	default:
		if t.audio == "opus" {
			t.audio = ""
		}
	}
}

// adts frames one AAC access unit for ffmpeg.
func adts(cfg *mpeg4audio.AudioSpecificConfig, au []byte) ([]byte, error) {
	if len(au) == 0 || len(au) > maxADTSPayload {
		return nil, fmt.Errorf("live: AAC access unit of %d bytes", len(au))
	}
	if cfg.ChannelConfig == 0 || cfg.ChannelConfig > 7 {
		return nil, fmt.Errorf("live: AAC channel configuration %d has no ADTS form", cfg.ChannelConfig)
	}
	return mpeg4audio.ADTSPackets{{Type: cfg.Type, SampleRate: cfg.SampleRate,
		ChannelConfig: cfg.ChannelConfig, AU: au}}.Marshal()
}

// AudioFrames passes the camera's compressed audio (as set by
// SetAudioCodec: Opus packets, or AAC access units without ADTS) towards
// the viewers. It never blocks: Opus goes to each viewer's queue, AAC to
// the transcoder's queue, and what finds a queue full is dropped.
func (t *Tap) AudioFrames(pts int64, frames [][]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.audio != "opus" {
		return
	}
	if t.tc.aac == nil {
		for _, f := range frames {
			t.opusLocked(pts, f)
		}
		return
	}
	if len(t.subs) == 0 {
		t.stopTranscoderLocked()
		return
	}
	if t.tc.cur == nil && !t.tc.closed && time.Since(t.tc.failedAt) >= transcodeBackoff {
		t.startTranscoderLocked()
	}
	if t.tc.cur == nil {
		return
	}
	for _, f := range frames {
		b, err := adts(t.tc.aac, f)
		if err != nil {
			continue
		}
		select {
		case t.tc.cur.in <- b:
		default:
		}
	}
}

// opusLocked passes one Opus packet to every viewer.
func (t *Tap) opusLocked(pts int64, p []byte) {
	if _, err := opusSamples(p); err != nil {
		return
	}
	t.audioIn++
	if len(t.subs) == 0 {
		return
	}
	a := audioPacket{codec: "opus", payload: clone(p), pts: pts}
	for s := range t.subs {
		select {
		case s.audio <- a:
		default:
			s.dropped++
		}
	}
}

// Transcoding reports whether an ffmpeg is transcoding the camera's audio.
func (t *Tap) Transcoding() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tc.cur != nil
}

// Close stops the tap's ffmpeg, if one runs, and waits for it; no other
// starts after.
func (t *Tap) Close() error {
	t.mu.Lock()
	t.tc.closed = true
	t.stopTranscoderLocked()
	t.mu.Unlock()
	t.tc.wg.Wait()
	return nil
}

// stopTranscoderLocked ends the running ffmpeg (killed; its goroutine
// waits for it). Its output no longer reaches viewers from here on.
func (t *Tap) stopTranscoderLocked() {
	if t.tc.cur != nil {
		t.tc.cur.cancel()
		t.tc.cur = nil
	}
}

func (t *Tap) startTranscoderLocked() {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &transcoder{in: make(chan []byte, transcodeQueue), cancel: cancel}
	t.tc.cur = tr
	t.tc.wg.Add(1)
	go func() {
		defer t.tc.wg.Done()
		defer cancel()
		err := t.runTranscoder(ctx, tr)
		t.mu.Lock()
		if t.tc.cur == tr {
			t.tc.cur = nil
			t.tc.failedAt = time.Now()
		}
		t.mu.Unlock()
		if err != nil {
			t.tc.cfg.logger().Warn("live audio: the AAC to Opus transcoder stopped; it starts again while viewers listen", "err", err)
		}
	}()
}

// runTranscoder runs one ffmpeg until ctx is done or ffmpeg ends, passing
// its Opus packets to the viewers while it is the tap's current one. It
// returns nil when ctx ended it, else why ffmpeg ended (with the last line
// ffmpeg printed, never more).
func (t *Tap) runTranscoder(ctx context.Context, tr *transcoder) error {
	cmd := exec.CommandContext(ctx, t.tc.cfg.ffmpeg(), "-hide_banner", "-nostats", "-loglevel", "error", "-nostdin",
		"-fflags", "nobuffer", "-probesize", "32", "-analyzeduration", "0",
		"-f", "aac", "-i", "pipe:0",
		"-vn", "-c:a", "libopus", "-b:a", opusBitrate, "-application", "lowdelay", "-frame_duration", "20",
		"-f", "ogg", "-page_duration", "20000", "-flush_packets", "1", "pipe:1")
	cmd.WaitDelay = time.Second
	var tail tailWriter
	cmd.Stderr = &tail
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting ffmpeg: %w", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer stdin.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case b := <-tr.in:
				if _, err := stdin.Write(b); err != nil {
					return
				}
			}
		}
	}()
	rerr := oggPackets(stdout, func(p []byte) {
		if isOpusHeader(p) {
			return
		}
		t.mu.Lock()
		if t.tc.cur == tr {
			if n, err := opusSamples(p); err == nil {
				t.opusLocked(t.tc.opusPTS, p)
				t.tc.opusPTS += int64(n)
			}
		}
		t.mu.Unlock()
	})
	if rerr != nil {
		_ = cmd.Cancel() // a garbled stream: ffmpeg is of no more use
	}
	stopped := ctx.Err() != nil // the tap stopped it: its output ended
	tr.cancel()                 // the writer stops, and ffmpeg is killed if it still runs
	wg.Wait()
	werr := cmd.Wait()
	if stopped && !errors.Is(rerr, errOgg) {
		return nil
	}
	switch {
	case rerr != nil:
		return fmt.Errorf("reading ffmpeg's output: %w", rerr)
	case werr != nil:
		return fmt.Errorf("ffmpeg: %w (%s)", werr, tail.lastLine())
	}
	return fmt.Errorf("ffmpeg ended (%s)", tail.lastLine())
}

// tailWriter keeps the last stderrTail bytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if len(p) > stderrTail {
		p = p[len(p)-stderrTail:]
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) > stderrTail {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-stderrTail:]...)
	}
	return n, nil
}

// lastLine returns the last non-empty line kept, printable ASCII only.
func (w *tailWriter) lastLine() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(w.buf)), "\n")
	l := lines[len(lines)-1]
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, strings.TrimSpace(l))
}
