package softcam

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"
	"github.com/pion/rtp"
)

// clockRate is the H.264 RTP clock, the same as MPEG-TS timestamps.
const clockRate = 90000

// payloadType is the dynamic RTP payload type announced for H.264.
const payloadType = 96

// accessUnit is one frame of the clip, ready to send.
type accessUnit struct {
	dts int64 // 90 kHz, relative to the first access unit's DTS
	pts int64 // 90 kHz, relative to the first access unit's DTS (>= dts)
	idr bool
	// packets are RTP packets carrying the access unit (packetization mode
	// 1, marker on the last). Shared read-only by all paths: a path copies
	// each header and sets its own sequence number, timestamp and SSRC;
	// payloads are never written.
	packets []rtp.Packet
	// size is the marshalled size of packets, in bytes.
	size uint64
}

// clip is the prepared media held in memory, read-only after loadClip.
type clip struct {
	sps, pps []byte
	aus      []accessUnit
	period   int64 // loop period in 90 kHz ticks: clip span + one frame
	bytes    int   // RTP payload bytes per loop
	info     MediaInfo
}

// loadClip reads the H.264 track of an MPEG-TS file into memory, makes sure
// every IDR access unit carries SPS and PPS in-band, and packetizes it once.
func loadClip(file string, log *slog.Logger) (*clip, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	r := &mpegts.Reader{R: bufio.NewReaderSize(f, 1<<16)}
	if err := r.Initialize(); err != nil {
		return nil, fmt.Errorf("reading MPEG-TS: %w", err)
	}
	var track *mpegts.Track
	for _, t := range r.Tracks() {
		if _, ok := t.Codec.(*tscodecs.H264); ok {
			track = t
			break
		}
	}
	if track == nil {
		return nil, errors.New("no H.264 track")
	}

	type rawAU struct {
		pts, dts int64
		nalus    [][]byte
	}
	var raw []rawAU
	decodeErrors := 0
	r.OnDecodeError(func(error) { decodeErrors++ })
	var ptsDec, dtsDec mpegts.TimeDecoder
	r.OnDataH264(track, func(pts, dts int64, au [][]byte) error {
		nalus := make([][]byte, 0, len(au))
		for _, n := range au {
			if len(n) == 0 {
				continue
			}
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeAccessUnitDelimiter, h264.NALUTypeFillerData:
				continue // meaningless over RTP
			}
			// The reader's buffers are not ours to keep.
			nalus = append(nalus, bytes.Clone(n))
		}
		if len(nalus) > 0 {
			raw = append(raw, rawAU{pts: ptsDec.Decode(pts), dts: dtsDec.Decode(dts), nalus: nalus})
		}
		return nil
	})
	for {
		err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading MPEG-TS: %w", err)
		}
	}
	if decodeErrors > 0 {
		log.Warn("softcam: MPEG-TS decode errors while loading clip", "file", file, "errors", decodeErrors)
	}

	// Start at the first IDR: a loop must begin where a decoder can.
	first := -1
	for i, au := range raw {
		if h264.IsRandomAccess(au.nalus) {
			first = i
			break
		}
	}
	if first < 0 {
		return nil, errors.New("no IDR frame in the H.264 track")
	}
	if first > 0 {
		log.Warn("softcam: dropping frames before the first IDR", "file", file, "frames", first)
		raw = raw[first:]
	}
	if len(raw) < 2 {
		return nil, fmt.Errorf("clip has %d frame(s); need at least 2", len(raw))
	}

	c := &clip{}
	for _, au := range raw {
		for _, n := range au.nalus {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				if c.sps == nil {
					c.sps = n
				}
			case h264.NALUTypePPS:
				if c.pps == nil {
					c.pps = n
				}
			}
		}
		if c.sps != nil && c.pps != nil {
			break
		}
	}
	if c.sps == nil || c.pps == nil {
		return nil, errors.New("no SPS/PPS in the H.264 track")
	}
	var sps h264.SPS
	if err := sps.Unmarshal(c.sps); err != nil {
		return nil, fmt.Errorf("parsing SPS: %w", err)
	}

	enc := &rtph264.Encoder{
		PayloadType:           payloadType,
		PacketizationMode:     1,
		SSRC:                  new(uint32),
		InitialSequenceNumber: new(uint16),
	}
	if err := enc.Init(); err != nil {
		return nil, err
	}

	firstDTS := raw[0].dts
	c.aus = make([]accessUnit, len(raw))
	lastIDR, gop := -1, 0
	for i, au := range raw {
		idr := h264.IsRandomAccess(au.nalus)
		nalus := au.nalus
		if idr {
			nalus = withParams(nalus, c.sps, c.pps)
			if lastIDR >= 0 {
				gop = max(gop, i-lastIDR)
			}
			lastIDR = i
		}
		pkts, err := enc.Encode(nalus)
		if err != nil {
			return nil, fmt.Errorf("packetizing frame %d: %w", i, err)
		}
		vals := make([]rtp.Packet, len(pkts))
		var size uint64
		for j, p := range pkts {
			vals[j] = *p
			c.bytes += len(p.Payload)
			size += uint64(p.MarshalSize())
		}
		pts := au.pts - firstDTS
		if pts < au.dts-firstDTS {
			pts = au.dts - firstDTS
		}
		c.aus[i] = accessUnit{dts: au.dts - firstDTS, pts: pts, idr: idr, packets: vals, size: size}
		if i > 0 && c.aus[i].dts <= c.aus[i-1].dts {
			return nil, fmt.Errorf("frame %d: DTS does not increase", i)
		}
	}
	if gop == 0 {
		gop = len(raw)
	}

	n := len(c.aus)
	span := c.aus[n-1].dts
	frameTicks := int64(math.Round(float64(span) / float64(n-1)))
	c.period = span + frameTicks
	c.info = MediaInfo{
		Codec:    "H264",
		Width:    sps.Width(),
		Height:   sps.Height(),
		FPS:      math.Round(float64(clockRate)*float64(n-1)/float64(span)*1000) / 1000,
		Frames:   n,
		Duration: ticksToDuration(c.period),
		GOP:      gop,
	}
	return c, nil
}

// withParams returns an IDR access unit that starts with SPS then PPS,
// using the clip's parameter sets where the access unit lacks its own.
func withParams(au [][]byte, sps, pps []byte) [][]byte {
	var ownSPS, ownPPS, rest [][]byte
	for _, n := range au {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			ownSPS = append(ownSPS, n)
		case h264.NALUTypePPS:
			ownPPS = append(ownPPS, n)
		default:
			rest = append(rest, n)
		}
	}
	if ownSPS == nil {
		ownSPS = [][]byte{sps}
	}
	if ownPPS == nil {
		ownPPS = [][]byte{pps}
	}
	out := make([][]byte, 0, len(ownSPS)+len(ownPPS)+len(rest))
	out = append(out, ownSPS...)
	out = append(out, ownPPS...)
	return append(out, rest...)
}

// ticksToDuration converts 90 kHz ticks to a Duration without overflowing
// for any realistic uptime.
func ticksToDuration(ticks int64) time.Duration {
	sec := ticks / clockRate
	rem := ticks % clockRate
	return time.Duration(sec)*time.Second + time.Duration(rem)*time.Second/clockRate
}
