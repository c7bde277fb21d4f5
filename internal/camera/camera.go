// Package camera ingests one RTSP camera: it connects, picks the video
// (H.264 or H.265) and optional audio (AAC or Opus) tracks, turns RTP into
// access units and hands them to a Handler, and reconnects with capped
// backoff for as long as its context lives. A G.711 audio track (recorded
// by nobody) goes, packet by packet, to a Handler that is a G711Handler.
// OpenBackChannel opens a camera's ONVIF audio back channel, a session of
// its own that sends talk audio to the camera's speaker.
//
// It knows nothing of Vigil's configuration, storage or keys. It must never
// log media, credentials in the camera URL, or anything a camera sent beyond
// short error descriptions, and it treats every byte from the camera as
// hostile: a malformed packet is counted and dropped, never a crash.
package camera

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/pion/rtp"

	"vigil/internal/proctail"
)

// Tracks describes the stream of one session.
type Tracks struct {
	Video          string // "H264" or "H265"
	VPS, SPS, PPS  []byte // from the session description; may be nil
	Audio          fmp4.Codec
	AudioClockRate int
	// G711 is "PCMU" or "PCMA" when the stream's audio is G.711 (8 kHz
	// mono), which is not recorded but is passed to a handler that
	// implements G711Handler (live view); "" otherwise.
	G711 string
}

// G711Handler is implemented by a Handler that takes a camera's G.711
// audio as it comes: each RTP payload (one byte per 8 kHz sample, at most
// MaxG711Payload bytes) with its timestamp in the 8 kHz clock. It is called
// like the Handler's methods, never concurrently with them.
type G711Handler interface {
	G711(pts int64, payload []byte)
}

// MaxG711Payload bounds one G.711 packet (250 ms at 8 kHz); larger ones are
// dropped and counted as decode errors.
const MaxG711Payload = 2000

// Handler receives one camera's stream. Its methods are never called
// concurrently. Start begins a session; Video and Audio carry its media
// (timestamps in the track's clock rate, relative to the session); Stop ends
// it with the reason. A Start error rejects the session (it is retried).
type Handler interface {
	Start(Tracks) error
	Video(pts int64, au [][]byte)
	Audio(pts int64, frames [][]byte)
	Stop(reason error)
}

// Config configures an Ingest.
type Config struct {
	Name        string // for logs
	URL         string // rtsp:// or rtsps://
	Transport   string // "auto" (UDP, falling back to TCP), "tcp" or "udp"
	ReadTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between connection attempts;
	// the wait doubles after each failure and resets after a session that
	// lasted longer than StableAfter.
	MinBackoff, MaxBackoff, StableAfter time.Duration
	Logger                              *slog.Logger
	// Now returns the current time for the repeat-warning limit; nil
	// means time.Now.
	Now func() time.Time
}

// Stats are counters of one camera since the Ingest started.
type Stats struct {
	Connects, Disconnects uint64
	Packets, Lost         uint64
	Frames, AudioFrames   uint64
	DecodeErrors          uint64
	Connected             bool
}

// Ingest runs one camera.
type Ingest struct {
	cfg Config
	h   Handler
	log *slog.Logger

	mu sync.Mutex // serialises Handler calls

	connects, disconnects, packets, lost, frames, audioFrames, decodeErrors atomic.Uint64
	connected                                                               atomic.Bool
}

// New validates cfg and returns an Ingest for it.
func New(cfg Config, h Handler) (*Ingest, error) {
	u, err := base.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("camera %s: bad URL: %w", cfg.Name, err)
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return nil, fmt.Errorf("camera %s: URL scheme %q is not rtsp or rtsps", cfg.Name, u.Scheme)
	}
	switch cfg.Transport {
	case "", "auto", "tcp", "udp":
	default:
		return nil, fmt.Errorf("camera %s: transport %q is not auto, tcp or udp", cfg.Name, cfg.Transport)
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 5 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StableAfter <= 0 {
		cfg.StableAfter = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Ingest{cfg: cfg, h: h, log: log.With("camera", cfg.Name)}, nil
}

// Stats returns the current counters.
func (in *Ingest) Stats() Stats {
	return Stats{
		Connects: in.connects.Load(), Disconnects: in.disconnects.Load(),
		Packets: in.packets.Load(), Lost: in.lost.Load(),
		Frames: in.frames.Load(), AudioFrames: in.audioFrames.Load(),
		DecodeErrors: in.decodeErrors.Load(), Connected: in.connected.Load(),
	}
}

// Run connects and reconnects until ctx is done. It returns ctx's error.
func (in *Ingest) Run(ctx context.Context) error {
	backoff := in.cfg.MinBackoff
	lim := newWarnLimit()
	for {
		began := time.Now()
		err := in.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(began) > in.cfg.StableAfter {
			backoff = in.cfg.MinBackoff
		}
		// A camera that stays down would log every retry; warn once per
		// kind of failure a minute, with the count since the last warning.
		// The kind, not the text: a camera sending garbage makes a new
		// text every time.
		kind := Kind(err)
		if warn, repeats := lim.note(kind, in.cfg.Now()); warn {
			in.log.Warn("camera stream ended; reconnecting", "kind", kind, "err", proctail.Describe(err), "retry_in", backoff, "failures_since_last_report", repeats)
		} else {
			in.log.Debug("camera stream ended; reconnecting", "kind", kind, "err", proctail.Describe(err), "retry_in", backoff)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, in.cfg.MaxBackoff)
	}
}

// warnEvery is how often a kind of failure is warned about again.
const warnEvery = time.Minute

// warnLimit rate-limits warnings by kind: the first of a kind is warned
// about, then at most one per warnEvery with the count of those not warned
// about. It is used by one goroutine.
type warnLimit struct {
	last    map[string]time.Time
	repeats map[string]int
}

func newWarnLimit() *warnLimit {
	return &warnLimit{last: map[string]time.Time{}, repeats: map[string]int{}}
}

// note records a failure of kind at now; it reports whether to warn and
// how many failures of that kind went unreported since the last warning.
func (l *warnLimit) note(kind string, now time.Time) (warn bool, repeats int) {
	if last, ok := l.last[kind]; ok && now.Sub(last) < warnEvery {
		l.repeats[kind]++
		return false, 0
	}
	repeats = l.repeats[kind]
	l.last[kind], l.repeats[kind] = now, 0
	return true, repeats
}

// RedactURL hides the password of a camera URL for logs and errors.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// session runs one connection from DESCRIBE to the end of PLAY.
func (in *Ingest) session(ctx context.Context) error {
	u, err := base.ParseURL(in.cfg.URL)
	if err != nil {
		return err
	}
	c := &gortsplib.Client{
		Scheme:       u.Scheme,
		Host:         u.Host,
		ReadTimeout:  in.cfg.ReadTimeout,
		WriteTimeout: in.cfg.ReadTimeout,
		// A keyframe is a burst of ~100 packets; a larger socket buffer
		// keeps UDP from losing it when the hub is briefly busy.
		UDPReadBufferSize: 1 << 20,
		OnPacketsLost: func(lost uint64) {
			in.lost.Add(lost)
		},
		OnDecodeError: func(error) {
			in.decodeErrors.Add(1)
		},
	}
	switch in.cfg.Transport {
	case "tcp":
		p := gortsplib.ProtocolTCP
		c.Protocol = &p
	case "udp":
		p := gortsplib.ProtocolUDP
		c.Protocol = &p
	}
	if err := c.Start(); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()

	desc, _, err := c.Describe(u)
	if err != nil {
		return fmt.Errorf("describe: %w", err)
	}
	tracks, regs, err := in.setupDecoders(c, desc)
	if err != nil {
		return err
	}
	for _, r := range regs {
		if _, err := c.Setup(desc.BaseURL, r.media, 0, 0); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
	}
	for _, r := range regs {
		c.OnPacketRTP(r.media, r.format, r.cb)
	}

	in.mu.Lock()
	err = in.h.Start(tracks)
	in.mu.Unlock()
	if err != nil {
		return recordingError{err}
	}
	if _, err := c.Play(nil); err != nil {
		in.stop(err)
		return fmt.Errorf("play: %w", err)
	}
	in.connects.Add(1)
	in.connected.Store(true)
	in.log.Info("camera connected", "video", tracks.Video, "audio", audioName(tracks.Audio))
	err = c.Wait()
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	in.connected.Store(false)
	in.disconnects.Add(1)
	in.stop(err)
	return err
}

func (in *Ingest) stop(reason error) {
	in.mu.Lock()
	in.h.Stop(reason)
	in.mu.Unlock()
}

func audioName(c fmp4.Codec) string {
	switch c.(type) {
	case *fmp4.CodecMPEG4Audio:
		return "AAC"
	case *fmp4.CodecOpus:
		return "Opus"
	}
	return "none"
}

// registration is an RTP callback to install once its media is set up.
type registration struct {
	media  *description.Media
	format format.Format
	cb     func(*rtp.Packet)
}

// depacketize builds the RTP callback of one track: it counts packets, turns
// them into units with decode and hands each complete unit to deliver.
// Errors for which incomplete reports true only mean "more packets needed".
func (in *Ingest) depacketize(c *gortsplib.Client, m *description.Media,
	decode func(*rtp.Packet) ([][]byte, error), incomplete func(error) bool,
	deliver func(pts int64, units [][]byte),
) func(*rtp.Packet) {
	return func(pkt *rtp.Packet) {
		in.packets.Add(1)
		pts, ok := c.PacketPTS(m, pkt)
		if !ok {
			return
		}
		units, err := decode(pkt)
		if err != nil {
			if !incomplete(err) {
				in.decodeErrors.Add(1)
			}
			return
		}
		deliver(pts, units)
	}
}

func isErr(targets ...error) func(error) bool {
	return func(err error) bool {
		for _, t := range targets {
			if errors.Is(err, t) {
				return true
			}
		}
		return false
	}
}

// setupDecoders picks the tracks to record and builds their RTP callbacks.
func (in *Ingest) setupDecoders(c *gortsplib.Client, desc *description.Session) (Tracks, []registration, error) {
	var (
		tr   Tracks
		regs []registration
	)
	var h264f *format.H264
	var h265f *format.H265
	if m := desc.FindFormat(&h264f); m != nil {
		dec, err := h264f.CreateDecoder()
		if err != nil {
			return tr, nil, err
		}
		tr.Video, tr.SPS, tr.PPS = "H264", h264f.SPS, h264f.PPS
		regs = append(regs, registration{m, h264f, in.depacketize(c, m, dec.Decode,
			isErr(rtph264.ErrMorePacketsNeeded, rtph264.ErrNonStartingPacketAndNoPrevious), in.video)})
	} else if m := desc.FindFormat(&h265f); m != nil {
		dec, err := h265f.CreateDecoder()
		if err != nil {
			return tr, nil, err
		}
		tr.Video, tr.VPS, tr.SPS, tr.PPS = "H265", h265f.VPS, h265f.SPS, h265f.PPS
		regs = append(regs, registration{m, h265f, in.depacketize(c, m, dec.Decode,
			isErr(rtph265.ErrMorePacketsNeeded, rtph265.ErrNonStartingPacketAndNoPrevious), in.video)})
	} else {
		return tr, nil, errNoVideo
	}

	var aac *format.MPEG4Audio
	var opusf *format.Opus
	if m := desc.FindFormat(&aac); m != nil && aac.Config != nil {
		if dec, err := aac.CreateDecoder(); err == nil {
			tr.Audio = &fmp4.CodecMPEG4Audio{Config: *aac.Config}
			tr.AudioClockRate = aac.ClockRate()
			regs = append(regs, registration{m, aac, in.depacketize(c, m, dec.Decode,
				isErr(rtpmpeg4audio.ErrMorePacketsNeeded), in.audio)})
		}
	} else if m := desc.FindFormat(&opusf); m != nil {
		if dec, err := opusf.CreateDecoder(); err == nil {
			tr.Audio = &fmp4.CodecOpus{ChannelCount: max(opusf.ChannelCount, 1)}
			tr.AudioClockRate = opusf.ClockRate()
			decode := func(pkt *rtp.Packet) ([][]byte, error) {
				frame, err := dec.Decode(pkt)
				return [][]byte{frame}, err
			}
			regs = append(regs, registration{m, opusf, in.depacketize(c, m, decode, isErr(), in.audio)})
		}
	} else if m, g := findG711(desc); m != nil {
		if _, ok := in.h.(G711Handler); ok {
			tr.G711 = map[bool]string{true: "PCMU", false: "PCMA"}[g.MULaw]
			regs = append(regs, registration{m, g, func(pkt *rtp.Packet) {
				in.packets.Add(1)
				pts, ok := c.PacketPTS(m, pkt)
				if !ok {
					return
				}
				if len(pkt.Payload) == 0 || len(pkt.Payload) > MaxG711Payload {
					in.decodeErrors.Add(1)
					return
				}
				in.g711(pts, pkt.Payload)
			}})
		}
	}
	return tr, regs, nil
}

func (in *Ingest) video(pts int64, au [][]byte) {
	in.frames.Add(1)
	in.mu.Lock()
	in.h.Video(pts, au)
	in.mu.Unlock()
}

// findG711 returns the stream's first G.711 8 kHz mono format the camera
// sends (not a back channel).
func findG711(desc *description.Session) (*description.Media, *format.G711) {
	for _, m := range desc.Medias {
		if m.IsBackChannel {
			continue
		}
		for _, f := range m.Formats {
			if g, ok := f.(*format.G711); ok && g.SampleRate == 8000 && g.ChannelCount == 1 {
				return m, g
			}
		}
	}
	return nil, nil
}

func (in *Ingest) g711(pts int64, payload []byte) {
	in.audioFrames.Add(1)
	in.mu.Lock()
	in.h.(G711Handler).G711(pts, payload)
	in.mu.Unlock()
}

func (in *Ingest) audio(pts int64, frames [][]byte) {
	in.audioFrames.Add(uint64(len(frames)))
	in.mu.Lock()
	in.h.Audio(pts, frames)
	in.mu.Unlock()
}
