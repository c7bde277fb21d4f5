// Package segment turns a camera's access units into keyframe-aligned,
// self-contained fragmented-MP4 segments, and turns a run of such segments
// back into one playable MP4 (export).
//
// It owns the media layout of a recording: which samples go in which segment,
// their timing, and the codec parameters each segment carries. It never
// touches the network or the disk, never seals or stores anything itself (the
// caller gets each finished segment through a callback and must seal it before
// it goes anywhere), and never logs media bytes. Every input is treated as
// hostile: malformed access units are dropped with an error count, never a
// panic, and memory per camera is bounded.
package segment

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

// Video codec names as stored in the index.
const (
	CodecH264 = "H264"
	CodecH265 = "H265"
	CodecAAC  = "AAC"
	CodecOpus = "Opus"
)

// VideoClockRate is the RTP clock rate of H.264 and H.265 (90 kHz); video
// timestamps given to the Segmenter are in this unit.
const VideoClockRate = 90000

// MaxSegmentBytes bounds the media kept for one segment. A camera that never
// sends a keyframe cannot make the hub buffer without limit: at this size the
// segment is closed and frames are dropped until the next keyframe.
const MaxSegmentBytes = 64 << 20

// maxFrameGap is the longest step between two video frames taken as a pause
// in the stream; a longer or backwards step is a clock jump.
const maxFrameGap = 10 * VideoClockRate

// bufPool holds the buffers segments are marshalled into. Cameras close
// segments at different moments, so a handful of buffers serve many cameras
// instead of one idle segment-sized buffer each.
var bufPool = sync.Pool{New: func() any { return new(seekablebuffer.Buffer) }}

// maxPooledBuffer keeps unusually large buffers out of the pool.
const maxPooledBuffer = 8 << 20

// Errors reported for dropped input. They are counted by the caller; none of
// them stops recording.
var (
	// ErrMalformed means an access unit could not be parsed and was dropped.
	ErrMalformed = errors.New("segment: malformed access unit")
	// ErrWaitingKeyframe means a frame arrived before the first keyframe (or
	// after a decoding error) and was dropped.
	ErrWaitingKeyframe = errors.New("segment: waiting for a keyframe")
)

// Segment is one finished segment: a complete fMP4 file (ftyp, moov, moof,
// mdat) that plays on its own.
type Segment struct {
	Start, End time.Time // wall-clock range covered by the samples
	Codec      string    // CodecH264 or CodecH265
	AudioCodec string    // CodecAAC, CodecOpus or ""
	Frames     int       // video samples
	Keyframes  int       // video sync samples
	// Data is the fMP4 file. It is only valid during the OnSegment call: the
	// callee seals it (or copies it) before returning.
	Data []byte
}

// Config configures a Segmenter.
type Config struct {
	// Duration is the target segment length; a segment closes at the first
	// keyframe at or after it.
	Duration time.Duration
	// Codec is CodecH264 or CodecH265.
	Codec string
	// SPS, PPS (and VPS for H.265) from the session description; may be nil
	// when the camera sends them in band.
	VPS, SPS, PPS []byte
	// Audio is the audio codec to record: *fmp4.CodecMPEG4Audio, *fmp4.CodecOpus
	// or nil for video only. AudioClockRate is its timestamp unit.
	Audio          fmp4.Codec
	AudioClockRate int
	// OnSegment receives every finished segment, in order. An error from it is
	// returned by the Write call that closed the segment.
	OnSegment func(Segment) error
	// Now gives the wall clock used to place the first frame of a session;
	// nil means time.Now.
	Now func() time.Time
	// MaxClockDrift, when positive, is how far the camera's timeline may
	// drift from Now before the session's wall clock is moved back in line
	// (at a segment boundary). Zero trusts the camera's clock for the whole
	// session.
	MaxClockDrift time.Duration
}

type videoSample struct {
	dts    int64
	sample fmp4.Sample
}

type audioSample struct {
	pts    int64
	sample fmp4.Sample
}

// Segmenter accumulates access units of one camera session into segments.
// It is not safe for concurrent use: one goroutine per camera feeds it.
type Segmenter struct {
	cfg Config

	vps, sps, pps []byte // current parameter sets
	h264DTS       *h264.DTSExtractor
	h265DTS       *h265.DTSExtractor

	started   bool      // a keyframe has been seen this session
	wallBase  time.Time // wall clock of originDTS
	originDTS int64     // DTS of the first keyframe of the session (video ticks)
	lastDTS   int64     // DTS of the last frame kept this session

	video      []videoSample
	audio      []audioSample
	bytes      int
	keyframes  int
	waitKey    bool // drop until next keyframe
	seq        uint32
	lastVidDur uint32
}

// New returns a Segmenter for one camera session.
func New(cfg Config) (*Segmenter, error) {
	if cfg.Duration <= 0 {
		return nil, fmt.Errorf("segment: duration must be positive, got %v", cfg.Duration)
	}
	if cfg.Codec != CodecH264 && cfg.Codec != CodecH265 {
		return nil, fmt.Errorf("segment: unsupported video codec %q (H264 and H265 are recorded)", cfg.Codec)
	}
	if cfg.Audio != nil && cfg.AudioClockRate <= 0 {
		return nil, fmt.Errorf("segment: audio clock rate must be positive, got %d", cfg.AudioClockRate)
	}
	if cfg.OnSegment == nil {
		return nil, errors.New("segment: OnSegment is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Segmenter{cfg: cfg}
	s.vps, s.sps, s.pps = clone(cfg.VPS), clone(cfg.SPS), clone(cfg.PPS)
	s.reset()
	return s, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// reset forgets the session timing; the next keyframe starts a new session.
func (s *Segmenter) reset() {
	s.started = false
	s.dropSamples()
	s.bytes = 0
	s.keyframes = 0
	s.waitKey = false
	s.h264DTS = h264.NewDTSExtractor()
	s.h265DTS = h265.NewDTSExtractor()
}

// WriteVideo adds one access unit (NAL units without start codes) with its
// presentation timestamp in VideoClockRate ticks. It returns ErrMalformed or
// ErrWaitingKeyframe for dropped input, or the OnSegment error.
func (s *Segmenter) WriteVideo(pts int64, au [][]byte) error {
	au = filterNALUs(au, s.cfg.Codec)
	if len(au) == 0 {
		return ErrMalformed
	}
	var (
		key       bool
		paramsNew bool
	)
	if s.cfg.Codec == CodecH264 {
		key = h264.IsRandomAccess(au)
		for _, n := range au {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				var sps h264.SPS
				if sps.Unmarshal(n) != nil {
					return fmt.Errorf("%w: unparseable SPS", ErrMalformed)
				}
				paramsNew = s.setParam(&s.sps, n) || paramsNew
			case h264.NALUTypePPS:
				paramsNew = s.setParam(&s.pps, n) || paramsNew
			}
		}
	} else {
		key = h265.IsRandomAccess(au)
		for _, n := range au {
			switch h265.NALUType((n[0] >> 1) & 0x3f) {
			case h265.NALUType_VPS_NUT:
				paramsNew = s.setParam(&s.vps, n) || paramsNew
			case h265.NALUType_SPS_NUT:
				var sps h265.SPS
				if sps.Unmarshal(n) != nil {
					return fmt.Errorf("%w: unparseable SPS", ErrMalformed)
				}
				paramsNew = s.setParam(&s.sps, n) || paramsNew
			case h265.NALUType_PPS_NUT:
				paramsNew = s.setParam(&s.pps, n) || paramsNew
			}
		}
	}

	if !s.started || s.waitKey {
		if !key || !s.haveParams() {
			return ErrWaitingKeyframe
		}
	}
	if key {
		// Cameras often send parameter sets only in the session description.
		// Every keyframe carries them in band, so each segment decodes on its
		// own and the DTS extractor (which reads them from the stream) works.
		au = s.withParams(au)
	}

	dts, err := s.extractDTS(au, pts, key)
	if err != nil {
		// Timing is broken: close what we have and restart at the next keyframe.
		ferr := s.closeSegment(s.lastVidDur)
		s.reset()
		if ferr != nil {
			return ferr
		}
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}

	if s.started {
		if d := dts - s.lastDTS; d > maxFrameGap || d < -maxFrameGap {
			// The camera's clock jumped (a restart behind a proxy, a
			// wrapped or reset timestamp). Times derived from it would be
			// wrong from here on, so close the segment at the last good
			// frame and start a new session with fresh timing.
			ferr := s.closeSegment(s.lastVidDur)
			s.reset()
			if ferr != nil {
				return ferr
			}
			if !key {
				return fmt.Errorf("%w: timestamp jumped; waiting for a keyframe", ErrWaitingKeyframe)
			}
			if dts, err = s.extractDTS(au, pts, key); err != nil {
				return fmt.Errorf("%w: %v", ErrMalformed, err)
			}
		}
	}

	// Everything that can reject this frame is checked before any segment
	// is closed, so a rejected keyframe never leaves a segment cut with
	// nothing to start the next one.
	ptsOff := pts - dts
	if ptsOff < -1<<31 || ptsOff > 1<<31-1 {
		if key {
			s.waitKey = true
		}
		return fmt.Errorf("%w: presentation offset out of range", ErrMalformed)
	}
	payload, err := h264.AVCC(au).Marshal() // AVCC framing is the same for H.265
	if err != nil {
		if key {
			s.waitKey = true
		}
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}

	if !s.started {
		s.started = true
		s.originDTS = dts
		s.wallBase = s.cfg.Now()
	}
	if dts < s.originDTS {
		if key {
			s.waitKey = true
		}
		return fmt.Errorf("%w: timestamp before session start", ErrMalformed)
	}

	// The previous sample's duration is known now.
	if n := len(s.video); n > 0 {
		d := dts - s.video[n-1].dts
		if d <= 0 {
			// A frame at or before its predecessor: keep the timeline
			// going with the last sane duration rather than corrupt it.
			d = int64(s.lastVidDur)
			if d == 0 {
				d = VideoClockRate / 30
			}
		}
		s.video[n-1].sample.Duration = uint32(d)
		s.lastVidDur = uint32(d)
	}

	if key && len(s.video) > 0 {
		elapsed := ticksToDuration(dts-s.video[0].dts, VideoClockRate)
		if elapsed >= s.cfg.Duration || paramsNew {
			if err := s.closeSegment(0); err != nil {
				s.waitKey = true
				return err
			}
			s.resyncClock(dts)
		}
	}
	s.waitKey = false

	s.lastDTS = dts
	s.video = append(s.video, videoSample{dts: dts, sample: fmp4.Sample{
		PTSOffset:       int32(ptsOff),
		IsNonSyncSample: !key,
		Payload:         payload,
	}})
	s.bytes += len(payload)
	if key {
		s.keyframes++
	}
	if s.bytes > MaxSegmentBytes {
		err := s.closeSegment(s.lastVidDur)
		s.waitKey = true
		return err
	}
	return nil
}

// resyncClock keeps the wall times of a long session honest. Camera clocks
// run a little fast or slow (100 ppm is 9 s a day); at a segment boundary,
// when the camera's timeline has drifted more than MaxClockDrift from the
// hub's clock, the wall clock of the session is moved to the hub's.
func (s *Segmenter) resyncClock(dts int64) {
	if s.cfg.MaxClockDrift <= 0 {
		return
	}
	now := s.cfg.Now()
	drift := s.wall(dts).Sub(now)
	if drift > s.cfg.MaxClockDrift || drift < -s.cfg.MaxClockDrift {
		s.wallBase = now.Add(-ticksToDuration(dts-s.originDTS, VideoClockRate))
	}
}

// WriteAudio adds audio frames (AAC access units without ADTS, or Opus
// packets) that start at pts, in AudioClockRate ticks. Audio before the first
// keyframe of a session is dropped.
func (s *Segmenter) WriteAudio(pts int64, frames [][]byte) error {
	if s.cfg.Audio == nil || !s.started || s.waitKey {
		return nil
	}
	rate := int64(s.cfg.AudioClockRate)
	origin := s.originDTS * rate / VideoClockRate
	for _, f := range frames {
		if len(f) == 0 {
			continue
		}
		var dur int64
		switch s.cfg.Audio.(type) {
		case *fmp4.CodecOpus:
			dur = opus.PacketDuration2(f) * rate / 48000
		default:
			dur = mpeg4audio.SamplesPerAccessUnit
		}
		if dur <= 0 {
			continue
		}
		if pts >= origin {
			s.audio = append(s.audio, audioSample{pts: pts, sample: fmp4.Sample{
				Duration: uint32(dur),
				Payload:  append([]byte(nil), f...),
			}})
			s.bytes += len(f)
		}
		pts += dur
	}
	if s.bytes > MaxSegmentBytes {
		// Audio keeps arriving while no video is kept: bound it like video.
		err := s.closeSegment(s.lastVidDur)
		s.waitKey = true
		return err
	}
	return nil
}

// Flush closes the open segment, for example when the camera drops or the
// hub stops. The next keyframe starts a new session with fresh timing.
func (s *Segmenter) Flush() error {
	err := s.closeSegment(s.lastVidDur)
	s.reset()
	return err
}

func (s *Segmenter) setParam(dst *[]byte, n []byte) bool {
	if bytes.Equal(*dst, n) {
		return false
	}
	changed := *dst != nil
	*dst = append((*dst)[:0:0], n...)
	return changed
}

// withParams prepends the current parameter sets to a keyframe that lacks
// them.
func (s *Segmenter) withParams(au [][]byte) [][]byte {
	var haveVPS, haveSPS, havePPS bool
	for _, n := range au {
		if s.cfg.Codec == CodecH264 {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				haveSPS = true
			case h264.NALUTypePPS:
				havePPS = true
			}
			continue
		}
		switch h265.NALUType((n[0] >> 1) & 0x3f) {
		case h265.NALUType_VPS_NUT:
			haveVPS = true
		case h265.NALUType_SPS_NUT:
			haveSPS = true
		case h265.NALUType_PPS_NUT:
			havePPS = true
		}
	}
	if s.cfg.Codec == CodecH264 {
		haveVPS = true
	}
	if haveVPS && haveSPS && havePPS {
		return au
	}
	out := make([][]byte, 0, len(au)+3)
	if !haveVPS {
		out = append(out, s.vps)
	}
	if !haveSPS {
		out = append(out, s.sps)
	}
	if !havePPS {
		out = append(out, s.pps)
	}
	return append(out, au...)
}

func (s *Segmenter) haveParams() bool {
	if s.cfg.Codec == CodecH265 {
		return s.vps != nil && s.sps != nil && s.pps != nil
	}
	return s.sps != nil && s.pps != nil
}

func (s *Segmenter) extractDTS(au [][]byte, pts int64, key bool) (int64, error) {
	// The extractors parse slice headers with the current SPS; give them a
	// fresh start at every keyframe following an error.
	if s.cfg.Codec == CodecH264 {
		return s.h264DTS.Extract(au, pts)
	}
	return s.h265DTS.Extract(au, pts)
}

// filterNALUs drops empty NAL units and those that must not be stored in
// samples (access unit delimiters, filler data).
func filterNALUs(au [][]byte, codec string) [][]byte {
	out := au[:0:0]
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		if codec == CodecH264 {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeAccessUnitDelimiter, h264.NALUTypeFillerData:
				continue
			}
		} else {
			if len(n) < 2 {
				continue
			}
			switch h265.NALUType((n[0] >> 1) & 0x3f) {
			case h265.NALUType_AUD_NUT, h265.NALUType_FD_NUT:
				continue
			}
		}
		out = append(out, n)
	}
	return out
}

// closeSegment marshals the buffered samples as one segment and hands it to
// OnSegment. lastDur is the duration given to the final video sample when the
// next frame is not known (flush); 0 means the caller already set it.
func (s *Segmenter) closeSegment(lastDur uint32) error {
	if len(s.video) == 0 {
		s.dropSamples()
		return nil
	}
	last := &s.video[len(s.video)-1]
	if last.sample.Duration == 0 {
		if lastDur == 0 {
			lastDur = VideoClockRate / 30
		}
		last.sample.Duration = lastDur
	}

	first := s.video[0].dts
	var end int64 = last.dts + int64(last.sample.Duration)

	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: VideoClockRate, Codec: s.videoCodec()}}}
	vt := &fmp4.PartTrack{ID: 1, BaseTime: uint64(first - s.originDTS)}
	vt.Samples = make([]*fmp4.Sample, len(s.video))
	for i := range s.video {
		vt.Samples[i] = &s.video[i].sample
	}
	part := fmp4.Part{SequenceNumber: s.seq, Tracks: []*fmp4.PartTrack{vt}}
	audioCodec := ""
	if s.cfg.Audio != nil {
		init.Tracks = append(init.Tracks, &fmp4.InitTrack{ID: 2, TimeScale: uint32(s.cfg.AudioClockRate), Codec: s.cfg.Audio})
		audioCodec = CodecAAC
		if _, ok := s.cfg.Audio.(*fmp4.CodecOpus); ok {
			audioCodec = CodecOpus
		}
		if len(s.audio) > 0 {
			rate := int64(s.cfg.AudioClockRate)
			at := &fmp4.PartTrack{ID: 2, BaseTime: uint64(s.audio[0].pts - s.originDTS*rate/VideoClockRate)}
			at.Samples = make([]*fmp4.Sample, len(s.audio))
			for i := range s.audio {
				at.Samples[i] = &s.audio[i].sample
			}
			part.Tracks = append(part.Tracks, at)
		}
	}
	s.seq++

	buf := bufPool.Get().(*seekablebuffer.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			bufPool.Put(buf)
		}
	}()
	if err := init.Marshal(buf); err != nil {
		s.dropSamples()
		return fmt.Errorf("segment: marshal init: %w", err)
	}
	if err := part.Marshal(buf); err != nil {
		s.dropSamples()
		return fmt.Errorf("segment: marshal part: %w", err)
	}
	seg := Segment{
		Start:      s.wall(first),
		End:        s.wall(end),
		Codec:      s.cfg.Codec,
		AudioCodec: audioCodec,
		Frames:     len(s.video),
		Keyframes:  s.keyframes,
		Data:       buf.Bytes(),
	}

	// Keep the keyframe that triggered the cut out of this segment: the
	// caller appends it after we return.
	s.dropSamples()
	return s.cfg.OnSegment(seg)
}

// dropSamples empties the sample buffers, letting go of their payloads.
func (s *Segmenter) dropSamples() {
	clear(s.video)
	clear(s.audio)
	s.video = s.video[:0]
	s.audio = s.audio[:0]
	s.bytes = 0
	s.keyframes = 0
}

func (s *Segmenter) wall(dts int64) time.Time {
	return s.wallBase.Add(ticksToDuration(dts-s.originDTS, VideoClockRate))
}

// ticksToDuration converts clock ticks to a duration without overflowing for
// sessions that run for days.
func ticksToDuration(ticks, rate int64) time.Duration {
	return time.Duration(ticks/rate)*time.Second + time.Duration(ticks%rate)*time.Second/time.Duration(rate)
}

func (s *Segmenter) videoCodec() fmp4.Codec {
	if s.cfg.Codec == CodecH265 {
		return &fmp4.CodecH265{VPS: clone(s.vps), SPS: clone(s.sps), PPS: clone(s.pps)}
	}
	return &fmp4.CodecH264{SPS: clone(s.sps), PPS: clone(s.pps)}
}
