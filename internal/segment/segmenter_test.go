package segment

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"vigil/internal/vigiltest"
)

type collected struct {
	segs []Segment
	data [][]byte
}

func (c *collected) on(s Segment) error {
	s.Data = append([]byte(nil), s.Data...)
	c.segs = append(c.segs, s)
	c.data = append(c.data, s.Data)
	return nil
}

func record(t *testing.T, m *vigiltest.Media, codec string, d time.Duration) *collected {
	t.Helper()
	c := &collected{}
	cfg := Config{Duration: d, Codec: codec, OnSegment: c.on,
		Now: func() time.Time { return time.Unix(1_700_000_000, 0) }}
	if m.AudioConf != nil {
		cfg.Audio = &fmp4.CodecMPEG4Audio{Config: *m.AudioConf}
		cfg.AudioClockRate = m.AudioRate
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ai := 0
	for _, au := range m.Video {
		for ai < len(m.Audio) && m.Audio[ai].PTS*90000/int64(m.AudioRate) <= au.PTS {
			if err := s.WriteAudio(m.Audio[ai].PTS, m.Audio[ai].Frames); err != nil {
				t.Fatal(err)
			}
			ai++
		}
		if err := s.WriteVideo(au.PTS, au.NALUs); err != nil {
			t.Fatalf("write video: %v", err)
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	return c
}

func checkSegments(t *testing.T, c *collected, wantFrames int, d time.Duration) {
	t.Helper()
	frames := 0
	for i, s := range c.segs {
		p, err := parseSeg(c.data[i])
		if err != nil {
			t.Fatalf("segment %d does not parse: %v", i, err)
		}
		vt := p.parts[0].Tracks[0]
		if vt.Samples[0].IsNonSyncSample {
			t.Errorf("segment %d does not start with a keyframe", i)
		}
		if len(vt.Samples) != s.Frames {
			t.Errorf("segment %d: %d samples, meta says %d", i, len(vt.Samples), s.Frames)
		}
		frames += s.Frames
		if i > 0 && !s.Start.Equal(c.segs[i-1].End) {
			t.Errorf("segment %d starts at %v, previous ended %v", i, s.Start, c.segs[i-1].End)
		}
		if i < len(c.segs)-1 && s.End.Sub(s.Start) < d {
			t.Errorf("segment %d is %v long, shorter than %v", i, s.End.Sub(s.Start), d)
		}
		if s.Keyframes < 1 {
			t.Errorf("segment %d has no keyframe", i)
		}
	}
	if frames != wantFrames {
		t.Errorf("recorded %d frames, want %d", frames, wantFrames)
	}
}

func exportAndProbe(t *testing.T, c *collected) map[string]string {
	t.Helper()
	var srcs []Source
	for i := range c.segs {
		data := c.data[i]
		srcs = append(srcs, Source{Start: c.segs[i].Start, Open: func() ([]byte, error) { return data, nil }})
	}
	out := filepath.Join(t.TempDir(), "clip.mp4")
	var buf bytes.Buffer
	st, err := Export(&buf, srcs)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if st.Segments != len(c.segs) {
		t.Errorf("export used %d segments, want %d", st.Segments, len(c.segs))
	}
	return vigiltest.FFprobe(t, out, "v:0")
}

func TestSegmenterH264(t *testing.T) {
	for _, bf := range []int{0, 2} {
		t.Run("bframes="+strconv.Itoa(bf), func(t *testing.T) {
			m := vigiltest.MakeMedia(t, vigiltest.MediaOptions{Seconds: 9, FPS: 10, GOP: 10, BFrames: bf})
			c := record(t, m, CodecH264, 2*time.Second)
			if len(c.segs) < 4 || len(c.segs) > 5 {
				t.Errorf("got %d segments for 9 s at 2 s, want 4 or 5", len(c.segs))
			}
			checkSegments(t, c, len(m.Video), 2*time.Second)
			p := exportAndProbe(t, c)
			if p["codec_name"] != "h264" || p["nb_read_frames"] != strconv.Itoa(len(m.Video)) {
				t.Errorf("ffprobe: %v, want h264 with %d frames", p, len(m.Video))
			}
			dur, _ := strconv.ParseFloat(p["duration"], 64)
			if dur < 8.5 || dur > 9.5 {
				t.Errorf("exported duration %.2f s, want ~9", dur)
			}
		})
	}
}

func TestSegmenterH265(t *testing.T) {
	m := vigiltest.MakeMedia(t, vigiltest.MediaOptions{Seconds: 5, FPS: 10, GOP: 10, HEVC: true})
	c := record(t, m, CodecH265, time.Second)
	checkSegments(t, c, len(m.Video), time.Second)
	p := exportAndProbe(t, c)
	if p["codec_name"] != "hevc" || p["nb_read_frames"] != strconv.Itoa(len(m.Video)) {
		t.Errorf("ffprobe: %v, want hevc with %d frames", p, len(m.Video))
	}
}

func TestSegmenterAudio(t *testing.T) {
	m := vigiltest.MakeMedia(t, vigiltest.MediaOptions{Seconds: 6, FPS: 10, GOP: 10, Audio: true})
	c := record(t, m, CodecH264, 2*time.Second)
	checkSegments(t, c, len(m.Video), 2*time.Second)
	if c.segs[0].AudioCodec != CodecAAC {
		t.Fatalf("audio codec %q", c.segs[0].AudioCodec)
	}
	var srcs []Source
	for i := range c.segs {
		data := c.data[i]
		srcs = append(srcs, Source{Start: c.segs[i].Start, Open: func() ([]byte, error) { return data, nil }})
	}
	out := filepath.Join(t.TempDir(), "av.mp4")
	f, _ := os.Create(out)
	st, err := Export(f, srcs)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.AudioFrames < len(m.Audio) { // at least one AAC AU per PES
		t.Errorf("exported %d audio frames, source had %d PES", st.AudioFrames, len(m.Audio))
	}
	a := vigiltest.FFprobe(t, out, "a:0")
	if a["codec_name"] != "aac" {
		t.Errorf("audio stream: %v", a)
	}
	dur, _ := strconv.ParseFloat(a["duration"], 64)
	if dur < 5 || dur > 6.5 {
		t.Errorf("audio duration %.2f s, want ~6", dur)
	}
}

func TestSegmenterGapIsHeldInExport(t *testing.T) {
	m := vigiltest.MakeMedia(t, vigiltest.MediaOptions{Seconds: 4, FPS: 10, GOP: 10})
	now := time.Unix(1_700_000_000, 0)
	c := &collected{}
	s, err := New(Config{Duration: time.Second, Codec: CodecH264, OnSegment: c.on, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for i, au := range m.Video {
		if i == 20 { // the camera drops, comes back 5 s later with fresh timestamps
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			now = now.Add(7 * time.Second)
		}
		if err := s.WriteVideo(au.PTS, au.NALUs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	p := exportAndProbe(t, c)
	dur, _ := strconv.ParseFloat(p["duration"], 64)
	if dur < 8.5 || dur > 9.5 { // 2 s + 5 s gap + 2 s
		t.Errorf("duration with gap %.2f s, want ~9 (the gap is held)", dur)
	}
}

func TestSegmenterDropsUntilKeyframe(t *testing.T) {
	m := vigiltest.MakeMedia(t, vigiltest.MediaOptions{Seconds: 3, FPS: 10, GOP: 10})
	c := &collected{}
	s, _ := New(Config{Duration: time.Second, Codec: CodecH264, OnSegment: c.on})
	dropped := 0
	for _, au := range m.Video[3:] { // join mid-GOP like a live client
		if err := s.WriteVideo(au.PTS, au.NALUs); errors.Is(err, ErrWaitingKeyframe) {
			dropped++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	s.Flush()
	if dropped != 7 {
		t.Errorf("dropped %d frames before the first keyframe, want 7", dropped)
	}
	checkSegments(t, c, len(m.Video)-10, time.Second)
}

func TestSegmenterHostileInput(t *testing.T) {
	c := &collected{}
	s, _ := New(Config{Duration: time.Second, Codec: CodecH264, OnSegment: c.on})
	for _, au := range [][][]byte{nil, {{}}, {{0x05}}, {{0x67}}, {{0x68}, {0x65, 0xff}}, {{0x09, 0x10}}} {
		_ = s.WriteVideo(0, au) // must not panic
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
}

// FuzzAccessUnits feeds arbitrary access units and timestamps through the
// segmenter and export: nothing may panic, and every segment produced must
// parse back.
func FuzzAccessUnits(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x42, 0, 0x1e, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88}, int64(0), int64(3000), false)
	f.Add([]byte{0x40, 0x01, 0x0c, 0x42, 0x01, 0x01, 0x44, 0x01, 0x26, 0x01}, int64(100), int64(-5), true)
	f.Fuzz(func(t *testing.T, data []byte, pts, step int64, hevc bool) {
		codec := CodecH264
		if hevc {
			codec = CodecH265
		}
		var out [][]byte
		var starts []time.Time
		s, err := New(Config{Duration: time.Millisecond, Codec: codec, OnSegment: func(sg Segment) error {
			out = append(out, append([]byte(nil), sg.Data...))
			starts = append(starts, sg.Start)
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		// Split data on start codes into NAL units; every 3 NAL units form an AU.
		nalus := bytes.Split(data, []byte{0, 0, 1})
		for i := 0; i < len(nalus); i += 3 {
			au := nalus[i:min(i+3, len(nalus))]
			_ = s.WriteVideo(pts, au)
			pts += step
		}
		_ = s.Flush()
		var srcs []Source
		for i := range out {
			if _, err := parseSeg(out[i]); err != nil {
				t.Fatalf("segment %d does not parse: %v", i, err)
			}
			d := out[i]
			srcs = append(srcs, Source{Start: starts[i], Open: func() ([]byte, error) { return d, nil }})
		}
		if len(srcs) > 0 {
			var buf bytes.Buffer
			if _, err := Export(&buf, srcs); err != nil {
				t.Fatalf("export: %v", err)
			}
		}
	})
}

func BenchmarkSegmenter(b *testing.B) {
	m := vigiltest.MakeMedia(b, vigiltest.MediaOptions{Seconds: 10, FPS: 25, GOP: 50})
	var size int
	for _, au := range m.Video {
		for _, n := range au.NALUs {
			size += len(n)
		}
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		s, _ := New(Config{Duration: 4 * time.Second, Codec: CodecH264, OnSegment: func(Segment) error { return nil }})
		for _, au := range m.Video {
			_ = s.WriteVideo(au.PTS, au.NALUs)
		}
		_ = s.Flush()
	}
}

// TestSegmenterParamsOutOfBand: cameras that send parameter sets only in the
// session description still give segments whose keyframes carry them.
func TestSegmenterParamsOutOfBand(t *testing.T) {
	for _, hevc := range []bool{false, true} {
		m := vigiltest.MakeMedia(t, vigiltest.MediaOptions{Seconds: 3, FPS: 10, GOP: 10, HEVC: hevc})
		codec := CodecH264
		if hevc {
			codec = CodecH265
		}
		var vps, sps, pps []byte
		strip := func(au [][]byte) [][]byte {
			var out [][]byte
			for _, n := range au {
				typ := n[0] & 0x1f
				if hevc {
					typ = (n[0] >> 1) & 0x3f
				}
				switch {
				case !hevc && typ == 7, hevc && typ == 33:
					sps = n
				case !hevc && typ == 8, hevc && typ == 34:
					pps = n
				case hevc && typ == 32:
					vps = n
				default:
					out = append(out, n)
				}
			}
			return out
		}
		var aus [][][]byte
		for _, au := range m.Video {
			aus = append(aus, strip(au.NALUs))
		}
		c := &collected{}
		s, err := New(Config{Duration: time.Second, Codec: codec, VPS: vps, SPS: sps, PPS: pps, OnSegment: c.on})
		if err != nil {
			t.Fatal(err)
		}
		for i, au := range aus {
			if err := s.WriteVideo(m.Video[i].PTS, au); err != nil {
				t.Fatalf("hevc=%v frame %d: %v", hevc, i, err)
			}
		}
		s.Flush()
		checkSegments(t, c, len(m.Video), time.Second)
		for i, data := range c.data {
			p, _ := parseSeg(data)
			first := p.parts[0].Tracks[0].Samples[0].Payload
			// AVCC: 4-byte length, then the first NAL unit, which must be a
			// parameter set.
			typ := first[4] & 0x1f
			want := byte(7)
			if hevc {
				typ, want = (first[4]>>1)&0x3f, 32
			}
			if typ != want {
				t.Errorf("hevc=%v segment %d: first NAL unit type %d, want a parameter set (%d)", hevc, i, typ, want)
			}
		}
	}
}

// A camera whose clock jumps forward (an hour here) must not push the wall
// times of what follows an hour into the future: the segment closes at the
// last good frame and a new session starts at the hub's clock.
func TestSegmenterClockJump(t *testing.T) {
	m := vigiltest.MakeMedia(t, vigiltest.MediaOptions{Seconds: 4, FPS: 10, GOP: 10})
	now := time.Unix(1_700_000_000, 0)
	c := &collected{}
	s, err := New(Config{Duration: time.Second, Codec: CodecH264, OnSegment: c.on, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	const jump = int64(3600 * VideoClockRate)
	waiting := 0
	for i, au := range m.Video {
		pts := au.PTS
		if i >= 15 { // mid-GOP, so frames wait for the next keyframe
			pts += jump
		}
		if i == 15 {
			now = now.Add(1500 * time.Millisecond)
		}
		if i >= 15 && i < 20 {
			now = now.Add(100 * time.Millisecond)
		}
		err := s.WriteVideo(pts, au.NALUs)
		if errors.Is(err, ErrWaitingKeyframe) {
			waiting++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if waiting != 5 {
		t.Errorf("%d frames waited for a keyframe after the jump, want 5", waiting)
	}
	base := time.Unix(1_700_000_000, 0)
	for i, sg := range c.segs {
		if sg.End.Sub(base) > 10*time.Second {
			t.Errorf("segment %d ends %v after the session began; the clock jump leaked into wall time", i, sg.End.Sub(base))
		}
		if i > 0 && sg.Start.Before(c.segs[i-1].End) {
			t.Errorf("segment %d starts %v before the previous one ends", i, c.segs[i-1].End.Sub(sg.Start))
		}
	}
	checkSegments(t, &collected{segs: c.segs[2:], data: c.data[2:]}, len(m.Video)-20, time.Second)
}

// A camera clock that runs fast is pulled back to the hub's clock at a segment
// boundary once it has drifted more than MaxClockDrift.
func TestSegmenterClockDrift(t *testing.T) {
	m := vigiltest.MakeMedia(t, vigiltest.MediaOptions{Seconds: 8, FPS: 10, GOP: 10})
	base := time.Unix(1_700_000_000, 0)
	now := base
	c := &collected{}
	s, err := New(Config{Duration: time.Second, Codec: CodecH264, OnSegment: c.on,
		Now: func() time.Time { return now }, MaxClockDrift: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, au := range m.Video {
		// The hub's clock advances at half the camera's pace.
		now = base.Add(ticksToDuration(au.PTS-m.Video[0].PTS, VideoClockRate) / 2)
		if err := s.WriteVideo(au.PTS, au.NALUs); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	for i, sg := range c.segs {
		want := base.Add(ticksToDuration(int64(i)*VideoClockRate, VideoClockRate) / 2)
		if d := sg.Start.Sub(want); d > 2*time.Second+time.Second || d < -time.Second {
			t.Errorf("segment %d starts %v from the hub's clock; drift is not corrected", i, d)
		}
	}
	if last := c.segs[len(c.segs)-1]; last.Start.Sub(base) > 6*time.Second {
		t.Errorf("last segment starts %v after the first; the camera's fast clock was trusted", last.Start.Sub(base))
	}
}

// When storing a segment fails at a cut, the keyframe that caused the cut is
// not kept, so the frames after it cannot decode: they wait for the next
// keyframe instead of making a segment that starts with a P-frame.
func TestSegmenterFailedCutWaitsForKeyframe(t *testing.T) {
	m := vigiltest.MakeMedia(t, vigiltest.MediaOptions{Seconds: 3, FPS: 10, GOP: 10})
	c := &collected{}
	fail := true
	s, _ := New(Config{Duration: time.Second, Codec: CodecH264, OnSegment: func(sg Segment) error {
		if fail {
			fail = false
			return errors.New("disk on fire")
		}
		return c.on(sg)
	}})
	var errs, waiting int
	for _, au := range m.Video {
		switch err := s.WriteVideo(au.PTS, au.NALUs); {
		case errors.Is(err, ErrWaitingKeyframe):
			waiting++
		case err != nil:
			errs++
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if errs != 1 || waiting != 9 {
		t.Errorf("got %d errors and %d frames waiting, want 1 and 9", errs, waiting)
	}
	checkSegments(t, c, 10, time.Second)
}

// Audio with no video being kept cannot grow a segment without bound.
func TestSegmenterAudioIsBounded(t *testing.T) {
	m := vigiltest.MakeMedia(t, vigiltest.MediaOptions{Seconds: 1, FPS: 10, GOP: 10})
	c := &collected{}
	s, _ := New(Config{Duration: time.Second, Codec: CodecH264, OnSegment: c.on,
		Audio: &fmp4.CodecOpus{ChannelCount: 2}, AudioClockRate: 48000})
	if err := s.WriteVideo(m.Video[0].PTS, m.Video[0].NALUs); err != nil {
		t.Fatal(err)
	}
	frame := make([][]byte, 64)
	for i := range frame {
		frame[i] = make([]byte, 16<<10)
		frame[i][0] = 0xfc // 20 ms CELT packet
	}
	pts := m.Video[0].PTS * 48000 / VideoClockRate
	for range 200 {
		_ = s.WriteAudio(pts, frame)
		pts += 64 * 960
		if s.bytes > MaxSegmentBytes {
			t.Fatalf("segment holds %d bytes, bound is %d", s.bytes, MaxSegmentBytes)
		}
	}
	if len(c.segs) != 1 {
		t.Errorf("%d segments closed, want 1 (closed at the bound)", len(c.segs))
	}
}

// A camera that gained audio after its first session: the export keeps the
// audio of the later segments instead of dropping it.
func TestExportAudioThatStartsLater(t *testing.T) {
	silent := record(t, vigiltest.MakeMedia(t, vigiltest.MediaOptions{Seconds: 2, FPS: 10, GOP: 10}), CodecH264, time.Second)
	loud := record(t, vigiltest.MakeMedia(t, vigiltest.MediaOptions{Seconds: 2, FPS: 10, GOP: 10, Audio: true}), CodecH264, time.Second)
	var srcs []Source
	start := time.Unix(1_700_000_000, 0)
	for i, c := range []*collected{silent, loud} {
		for j := range c.segs {
			data := c.data[j]
			at := start.Add(time.Duration(i)*2*time.Second + c.segs[j].Start.Sub(c.segs[0].Start))
			srcs = append(srcs, Source{Start: at, Open: func() ([]byte, error) { return data, nil }})
		}
	}
	out := filepath.Join(t.TempDir(), "late-audio.mp4")
	f, _ := os.Create(out)
	st, err := Export(f, srcs)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.AudioFrames == 0 {
		t.Fatal("audio of the later segments was dropped")
	}
	a := vigiltest.FFprobe(t, out, "a:0")
	if a["codec_name"] != "aac" {
		t.Errorf("audio stream: %v", a)
	}
	v := vigiltest.FFprobe(t, out, "v:0")
	if dur, _ := strconv.ParseFloat(v["duration"], 64); dur < 3.5 || dur > 4.5 {
		t.Errorf("video duration %.2f s, want ~4", dur)
	}
}

// MP4 durations are 32-bit: a range longer than MaxExportDuration (here two
// segments 13 hours apart) is refused with a hint, not written with a
// timeline that wraps.
func TestExportRefusesTooLong(t *testing.T) {
	c := record(t, vigiltest.MakeMedia(t, vigiltest.MediaOptions{Seconds: 2, FPS: 10, GOP: 10}), CodecH264, time.Second)
	start := time.Unix(1_700_000_000, 0)
	srcs := []Source{
		{Start: start, Open: func() ([]byte, error) { return c.data[0], nil }},
		{Start: start.Add(13 * time.Hour), Open: func() ([]byte, error) { return c.data[1], nil }},
	}
	var buf bytes.Buffer
	if _, err := Export(&buf, srcs); !errors.Is(err, ErrExportTooLong) {
		t.Fatalf("got %v, want ErrExportTooLong", err)
	}
	if buf.Len() != 0 {
		t.Errorf("%d bytes written for a refused export", buf.Len())
	}
	srcs[1].Start = start.Add(11 * time.Hour) // within the limit, gap held
	if _, err := Export(&buf, srcs); err != nil {
		t.Fatalf("11 h export: %v", err)
	}
}
