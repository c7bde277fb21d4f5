package live

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"vigil/internal/audioenc"
)

// A camera's AAC reaches live viewers as Opus: browsers decode Opus (and
// G.711) on a WebRTC connection, not AAC. One ffmpeg per camera
// (audioenc) decodes the camera's AAC and encodes Opus, started by the
// camera's first audio frame that finds a viewer and stopped when the last
// viewer leaves or the camera's session ends. The camera's ingest only
// ever queues frames for it (dropped when its queue is full): a stalled or
// crashed ffmpeg never holds up video or the recording, and a crashed one
// is started again after transcodeBackoff.

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

func (c TapConfig) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

const (
	// transcodeBackoff is the wait before a failed ffmpeg is started again.
	transcodeBackoff = 2 * time.Second
	// maxADTSPayload is the largest access unit passed to ffmpeg: larger
	// ones are no AAC a camera encodes (and ADTS readers refuse them).
	maxADTSPayload = mpeg4audio.MaxAccessUnitSize
)

// transcode is a Tap's state for its camera's AAC. Guarded by the Tap's
// mutex.
type transcode struct {
	cfg      TapConfig
	aac      *mpeg4audio.AudioSpecificConfig // the session's AAC; nil when none
	cur      *audioenc.Encoder               // the running ffmpeg, if any
	failedAt time.Time                       // the last ffmpeg's unexpected end
	opusPTS  int64                           // next Opus packet's time, 48 kHz
	closed   bool
	wg       sync.WaitGroup
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
		if b, err := adts(t.tc.aac, f); err == nil {
			t.tc.cur.Write(b)
		}
	}
}

// opusLocked passes one Opus packet to every viewer.
func (t *Tap) opusLocked(pts int64, p []byte) {
	if _, err := audioenc.Samples(p); err != nil {
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

// stopTranscoderLocked ends the running ffmpeg (killed; the goroutine of
// startTranscoderLocked waits for it). Its output no longer reaches
// viewers from here on.
func (t *Tap) stopTranscoderLocked() {
	if t.tc.cur != nil {
		t.tc.cur.Stop()
		t.tc.cur = nil
	}
}

func (t *Tap) startTranscoderLocked() {
	var enc *audioenc.Encoder
	enc = audioenc.Start(audioenc.Config{FFmpeg: t.tc.cfg.FFmpeg, Input: audioenc.ADTS,
		Packet: func(p []byte, n int) {
			t.mu.Lock()
			defer t.mu.Unlock()
			if enc != nil && t.tc.cur == enc {
				t.opusLocked(t.tc.opusPTS, p)
				t.tc.opusPTS += int64(n)
			}
		}})
	t.tc.cur = enc // under t.mu, as the callback reads it
	t.tc.wg.Add(1)
	go func() {
		defer t.tc.wg.Done()
		err := enc.Err()
		t.mu.Lock()
		if t.tc.cur == enc {
			t.tc.cur = nil
			t.tc.failedAt = time.Now()
		}
		t.mu.Unlock()
		if err != nil {
			t.tc.cfg.logger().Warn("live audio: the AAC to Opus transcoder stopped; it starts again while viewers listen", "err", err)
		}
	}()
}
