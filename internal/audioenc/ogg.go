package audioenc

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Reading ffmpeg's Ogg output, and the length of an Opus packet (also of
// one a camera sends). Both readers take hostile bytes: every length is
// checked against what is left and against the bounds here.

const (
	// Rate is the Opus RTP clock (RFC 7587), whatever the audio's sample
	// rate.
	Rate = 48000
	// MaxPacket bounds one Opus packet (RFC 6716 allows 120 ms of
	// 1275-byte frames, 7.6 kB with framing); larger ones are dropped.
	MaxPacket = 8000
	// MaxSamples is 120 ms at 48 kHz, the longest an Opus packet may
	// last (RFC 6716, 3.2.5).
	MaxSamples = 5760
)

// ErrPacket: an Opus packet whose table of contents is malformed or that
// lasts longer than Opus allows.
var ErrPacket = errors.New("audioenc: malformed Opus packet")

// Samples returns how long an Opus packet lasts, in 48 kHz samples, from
// its table of contents (RFC 6716, 3.1).
func Samples(p []byte) (int, error) {
	if len(p) == 0 || len(p) > MaxPacket {
		return 0, ErrPacket
	}
	toc := p[0]
	var per int // samples per frame at 48 kHz
	switch {
	case toc&0x80 != 0: // CELT-only: 2.5, 5, 10, 20 ms
		per = 120 << ((toc >> 3) & 3)
	case toc&0x60 == 0x60: // hybrid: 10, 20 ms
		per = 480 << ((toc >> 3) & 1)
	default: // SILK-only: 10, 20, 40, 60 ms
		per = [4]int{480, 960, 1920, 2880}[(toc>>3)&3]
	}
	frames := 1
	switch toc & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) < 2 {
			return 0, ErrPacket
		}
		frames = int(p[1] & 0x3f)
	}
	n := per * frames
	if frames == 0 || n > MaxSamples {
		return 0, ErrPacket
	}
	return n, nil
}

// Ogg bounds: a page header is 27 bytes and up to 255 lacing values; a
// packet may span pages, up to MaxPacket.
const (
	oggHeaderLen   = 27
	oggMaxSegments = 255
)

// errOgg: the stream is not Ogg, or a packet is larger than MaxPacket.
var errOgg = errors.New("audioenc: malformed Ogg stream")

// OggPackets reads an Ogg stream (RFC 3533) of one logical stream and
// calls fn with each whole packet, in order, until r ends or fails. It
// checks each page's capture pattern and bounds, not its checksum (the
// stream comes from a local process). Packets longer than MaxPacket
// end the stream with errOgg. fn must not keep the slice.
func OggPackets(r io.Reader, fn func(packet []byte)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [oggHeaderLen]byte
	var lacing [oggMaxSegments]byte
	var seg [255]byte
	pkt := make([]byte, 0, 1500)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if string(hdr[:4]) != "OggS" || hdr[4] != 0 {
			return fmt.Errorf("%w: no page header", errOgg)
		}
		if hdr[5]&1 == 0 { // not a continuation: a partial packet is dropped
			pkt = pkt[:0]
		}
		n := int(hdr[26])
		if _, err := io.ReadFull(br, lacing[:n]); err != nil {
			return fmt.Errorf("%w: %v", errOgg, err)
		}
		for _, l := range lacing[:n] {
			if _, err := io.ReadFull(br, seg[:l]); err != nil {
				return fmt.Errorf("%w: %v", errOgg, err)
			}
			if len(pkt)+int(l) > MaxPacket {
				return fmt.Errorf("%w: a packet longer than %d bytes", errOgg, MaxPacket)
			}
			pkt = append(pkt, seg[:l]...)
			if l < 255 {
				fn(pkt)
				pkt = pkt[:0]
			}
		}
	}
}

// IsOpusHeader reports whether an Ogg packet is one of Ogg Opus's two
// header packets (RFC 7845, 5), not audio.
func IsOpusHeader(p []byte) bool {
	return len(p) >= 8 && (string(p[:8]) == "OpusHead" || string(p[:8]) == "OpusTags")
}
