package camera

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/g711"
	"github.com/pion/rtp"
)

// ErrNoBackChannel: the camera offers no audio back channel (no speaker),
// or none in a codec the hub can send (G.711 at 8 kHz).
var ErrNoBackChannel = errors.New("the camera has no audio back channel (speaker) that takes G.711")

// BackChannel is a camera's ONVIF audio back channel (ONVIF Streaming
// Specification 5.3): an RTSP session of its own, opened with
// "Require: www.onvif.org/ver20/backchannel", that sends talk audio to the
// camera's speaker. It is separate from the ingest's session, so opening,
// stalling or closing it never touches the recording.
//
// Write takes µ-law (PCMU) payloads and sends them in the codec the camera
// asked for, transcoding to A-law (PCMA) when it wants that. Write never
// blocks on the network: packets go to gortsplib's bounded write queue,
// and a full queue (a camera that stopped reading) is an error.
type BackChannel struct {
	c     *gortsplib.Client
	media *description.Media
	pt    uint8
	alaw  bool // the camera takes PCMA: transcode
	toA   [256]byte

	mu   sync.Mutex
	seq  uint16
	ts   uint32
	once sync.Once
	done chan struct{}
	err  error // set before done is closed
}

// BackChannelConfig configures OpenBackChannel.
type BackChannelConfig struct {
	URL       string // the camera's rtsp:// or rtsps:// URL (credentials may be in it)
	Transport string // "auto" or "" (TCP), "tcp" or "udp"
	// Timeout bounds opening (connect, DESCRIBE, SETUP, PLAY) and each
	// network write; 0 means 5 s.
	Timeout time.Duration
}

// OpenBackChannel opens the back channel of the camera at cfg.URL. It
// returns ErrNoBackChannel (wrapped) when the camera describes none it can
// use. Close ends it (RTSP TEARDOWN).
func OpenBackChannel(ctx context.Context, cfg BackChannelConfig) (*BackChannel, error) {
	u, err := base.ParseURL(cfg.URL)
	if err != nil {
		// Not err: its text holds the URL, and the URL may hold a password.
		return nil, fmt.Errorf("back channel: the camera URL %s does not parse", RedactURL(cfg.URL))
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return nil, fmt.Errorf("back channel: URL scheme %q is not rtsp or rtsps", u.Scheme)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	proto := gortsplib.ProtocolTCP // a talk is short: no UDP probing
	if cfg.Transport == "udp" {
		proto = gortsplib.ProtocolUDP
	}
	c := &gortsplib.Client{
		Scheme:              u.Scheme,
		Host:                u.Host,
		Protocol:            &proto,
		RequestBackChannels: true,
		// The camera sends nothing on a back-channel-only session but
		// RTCP reports and keep-alive answers; the hub's talk path times
		// out a camera that stops taking audio on its own.
		ReadTimeout:    30 * time.Second,
		WriteTimeout:   cfg.Timeout,
		WriteQueueSize: 64, // about 1.3 s of 20 ms packets
	}
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("back channel: connect: %w", err)
	}
	// The RTSP calls below have no context: closing the client ends them.
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, c.Close)
	bc, err := setupBackChannel(c, u)
	if !stop() || err != nil {
		c.Close()
		if err == nil || ctx.Err() != nil {
			err = fmt.Errorf("back channel: the camera did not answer within %v", cfg.Timeout)
		}
		return nil, err
	}
	return bc, nil
}

func setupBackChannel(c *gortsplib.Client, u *base.URL) (*BackChannel, error) {
	desc, _, err := c.Describe(u)
	if err != nil {
		return nil, fmt.Errorf("back channel: describe: %w", err)
	}
	var media *description.Media
	var pt uint8
	alaw := false
	for _, m := range desc.Medias {
		if !m.IsBackChannel || media != nil {
			continue
		}
		for _, f := range m.Formats {
			g, ok := f.(*format.G711)
			if !ok || g.SampleRate != 8000 || g.ChannelCount != 1 {
				continue
			}
			// µ-law first: what the browser sends, no transcoding.
			if media == nil || (g.MULaw && alaw) {
				media, pt, alaw = m, g.PayloadTyp, !g.MULaw
			}
		}
	}
	if media == nil {
		return nil, fmt.Errorf("back channel: %w", ErrNoBackChannel)
	}
	if _, err := c.Setup(desc.BaseURL, media, 0, 0); err != nil {
		return nil, fmt.Errorf("back channel: setup: %w", err)
	}
	if _, err := c.Play(nil); err != nil {
		return nil, fmt.Errorf("back channel: play: %w", err)
	}
	b := &BackChannel{c: c, media: media, pt: pt, alaw: alaw, seq: uint16(rand.Uint32()), ts: rand.Uint32()}
	if alaw {
		b.toA = MulawToAlaw()
	}
	b.done = make(chan struct{})
	go func() {
		b.err = c.Wait()
		close(b.done)
	}()
	return b, nil
}

// Codec is the codec the camera takes: "PCMU" or "PCMA".
func (b *BackChannel) Codec() string {
	if b.alaw {
		return "PCMA"
	}
	return "PCMU"
}

// Write sends one µ-law payload (one byte per 8 kHz sample) to the camera.
// It is safe for one goroutine at a time and does not keep pcmu.
func (b *BackChannel) Write(pcmu []byte) error {
	if len(pcmu) == 0 {
		return nil
	}
	if len(pcmu) > MaxG711Payload {
		return fmt.Errorf("back channel: a %d-byte packet is over %d", len(pcmu), MaxG711Payload)
	}
	payload := make([]byte, len(pcmu))
	if b.alaw {
		for i, v := range pcmu {
			payload[i] = b.toA[v]
		}
	} else {
		copy(payload, pcmu)
	}
	b.mu.Lock()
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: b.pt, SequenceNumber: b.seq, Timestamp: b.ts, Marker: false}, Payload: payload}
	b.seq++
	b.ts += uint32(len(payload))
	b.mu.Unlock()
	if err := b.c.WritePacketRTP(b.media, pkt); err != nil {
		return fmt.Errorf("back channel: %w", err)
	}
	return nil
}

// Done is closed when the session ended (the camera closed it, a write
// timed out, or Close); Err then says why.
func (b *BackChannel) Done() <-chan struct{} { return b.done }

// Err is why the session ended (nil before Done is closed).
func (b *BackChannel) Err() error {
	select {
	case <-b.done:
		return b.err
	default:
		return nil
	}
}

// Close tears the session down and waits for it to end.
func (b *BackChannel) Close() error {
	b.once.Do(b.c.Close)
	<-b.done
	return nil
}

// MulawToAlaw returns the µ-law to A-law table: code u in µ-law is
// table[u] in A-law, through the 16-bit linear sample (ITU-T G.711).
func MulawToAlaw() (table [256]byte) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	lin := g711.DecodeMulaw(all)
	enc, _ := g711.Alaw(lin).Marshal() // 512 bytes of linear samples: never fails
	copy(table[:], enc)
	return table
}
