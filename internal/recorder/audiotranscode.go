package recorder

import (
	"log/slog"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"vigil/internal/audioenc"
	"vigil/internal/camera"
)

// A G.711 camera's audio is recorded as Opus: G.711 has no MP4 form that
// browsers and common players play, and Opus in MP4 plays in all of them
// (docs/ARCHITECTURE.md, "Audio"). One ffmpeg per G.711 camera encodes it
// while the camera is connected (audioenc). The ingest goroutine queues
// G.711 for it and takes its Opus packets back on its next call, so the
// segmenter stays on the ingest goroutine, and a slow or crashed ffmpeg
// costs sound, never video: what finds a queue full is dropped.

const (
	// g711OutQueue bounds the Opus packets waiting for the ingest (2 s).
	g711OutQueue = 100
	// g711Anchors bounds the discontinuities remembered between what was
	// given to ffmpeg and what came back (more means lost timing only).
	g711Anchors = 64
	// g711Backoff is the wait before a failed ffmpeg is started again.
	g711Backoff = 5 * time.Second
	// opusPerG711 is how many 48 kHz Opus samples one 8 kHz sample makes.
	opusPerG711 = audioenc.Rate / 8000
)

// g711Codec is the recording's audio for a G.711 camera (a value of its
// own for each session: the segmenter keeps it).
func g711Codec() fmp4.Codec { return &fmp4.CodecOpus{ChannelCount: 1} }

type opusOut struct {
	p   []byte
	pos int64 // 48 kHz samples ffmpeg produced before this packet
}

// anchor ties the G.711 sample at index in (since the encoder started) to
// the camera's time pts (8 kHz).
type anchor struct{ in, pts int64 }

// g711Recorder encodes one camera's G.711 to Opus for its recording. Its
// methods are called from the ingest goroutine only.
type g711Recorder struct {
	log      *slog.Logger
	codec    string // "PCMU" or "PCMA"; "" when the session has no G.711
	enc      *audioenc.Encoder
	out      chan opusOut
	anchors  []anchor
	fed      int64 // G.711 samples given to the running encoder
	next     int64 // the camera time that continues what was fed; -1: none
	failedAt time.Time
	warned   bool
	ended    []*audioenc.Encoder // stopped, maybe still exiting
}

func newG711Recorder(log *slog.Logger) *g711Recorder {
	return &g711Recorder{log: log, next: -1}
}

// write queues one G.711 payload (pts in 8 kHz) for the encoder, starting
// one when none runs.
func (g *g711Recorder) write(pts int64, payload []byte) {
	if g.enc != nil {
		select {
		case <-g.enc.Done():
			if err := g.enc.Err(); err != nil && !g.warned {
				g.warned = true
				g.log.Warn("recording audio: the G.711 to Opus encoder stopped; the video is recorded without sound until it starts again", "err", err)
			}
			g.stop()
			g.failedAt = time.Now()
		default:
		}
	}
	if g.enc == nil {
		if time.Since(g.failedAt) < g711Backoff {
			return
		}
		g.start()
	}
	if pts != g.next {
		if len(g.anchors) == g711Anchors {
			g.anchors = append(g.anchors[:0], g.anchors[1:]...)
		}
		g.anchors = append(g.anchors, anchor{in: g.fed, pts: pts})
	}
	if g.enc.Write(append([]byte(nil), payload...)) {
		g.fed += int64(len(payload))
		g.next = pts + int64(len(payload))
	} else {
		g.next = -1 // dropped: what comes next starts a new anchor
	}
}

func (g *g711Recorder) start() {
	out := make(chan opusOut, g711OutQueue)
	var pos int64 // owned by the encoder's goroutine
	g.enc = audioenc.Start(audioenc.Config{Input: audioenc.G711(g.codec), Packet: func(p []byte, n int) {
		select {
		case out <- opusOut{p: append([]byte(nil), p...), pos: pos}:
		default: // the ingest is behind: this packet's sound is lost
		}
		pos += int64(n)
	}})
	g.out, g.anchors, g.fed, g.next = out, g.anchors[:0], 0, -1
}

// drain hands the Opus packets ready so far to write, with their camera
// time in 48 kHz.
func (g *g711Recorder) drain(write func(pts int64, p []byte)) {
	for {
		select {
		case o := <-g.out:
			if pts, ok := g.ptsOf(o.pos); ok {
				write(pts, o.p)
			}
		default:
			return
		}
	}
}

// ptsOf maps a position in ffmpeg's output (48 kHz samples) to camera time
// (48 kHz), by the last anchor at or before it; earlier anchors are
// forgotten.
func (g *g711Recorder) ptsOf(pos int64) (int64, bool) {
	in := pos / opusPerG711
	i := -1
	for j, a := range g.anchors {
		if a.in <= in {
			i = j
		}
	}
	if i < 0 {
		return 0, false
	}
	g.anchors = append(g.anchors[:0], g.anchors[i:]...)
	a := g.anchors[0]
	return a.pts*opusPerG711 + pos - a.in*opusPerG711, true
}

// stop ends the running encoder without waiting for it.
func (g *g711Recorder) stop() {
	if g.enc == nil {
		return
	}
	g.enc.Stop()
	live := g.ended[:0]
	for _, e := range g.ended {
		select {
		case <-e.Done():
		default:
			live = append(live, e)
		}
	}
	g.ended = append(live, g.enc)
	g.enc, g.out = nil, nil
}

// close stops the encoder and waits for every one started.
func (g *g711Recorder) close() {
	g.stop()
	for _, e := range g.ended {
		e.Close()
	}
	g.ended = nil
}

// recordedAudio returns the audio codec and clock the recording of a
// session with tracks t has: the camera's AAC or Opus as it comes, Opus
// for G.711 (whose encoder it prepares), or none.
func (r *recorder) recordedAudio(t camera.Tracks) (fmp4.Codec, int) {
	if r.g711 == nil {
		r.g711 = newG711Recorder(r.log)
	}
	r.g711.codec = ""
	if t.Audio != nil || t.G711 == "" {
		return t.Audio, t.AudioClockRate
	}
	r.g711.codec = t.G711
	return g711Codec(), audioenc.Rate
}

// recordG711 records one G.711 payload (through the encoder) and what the
// encoder has given back so far.
func (r *recorder) recordG711(pts int64, payload []byte) {
	if r.g711 == nil || r.g711.codec == "" || r.seg == nil {
		return
	}
	r.g711.write(pts, payload)
	r.g711.drain(func(pts int64, p []byte) { _ = r.seg.WriteAudio(pts, [][]byte{p}) })
}

// stopG711 records what the encoder has given back and stops it: the
// session ended.
func (r *recorder) stopG711() {
	if r.g711 == nil {
		return
	}
	if r.seg != nil {
		r.g711.drain(func(pts int64, p []byte) { _ = r.seg.WriteAudio(pts, [][]byte{p}) })
	}
	r.g711.stop()
}

// closeG711 waits for every encoder the recorder started.
func (r *recorder) closeG711() {
	if r.g711 != nil {
		r.g711.close()
	}
}
