package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"
)

// Source is one recorded segment to export, in time order.
type Source struct {
	Start time.Time
	// Open returns the segment's fMP4 bytes (already opened and verified by
	// the caller). It is called twice per segment: once to lay out the
	// samples, once to copy them, so that only one segment is in memory.
	Open func() ([]byte, error)
}

// ExportStats describes a finished export.
type ExportStats struct {
	Segments    int
	VideoFrames int
	AudioFrames int
	Duration    time.Duration
	Bytes       int64 // media payload bytes
	// ParamChanges counts segments whose codec parameters differ from the
	// first one's; players usually cope because keyframes carry them in band.
	ParamChanges int
	// AudioSkipped counts segments whose audio was left out because its
	// codec differs from the first audio segment's.
	AudioSkipped int
}

// ErrExportTooLarge means the range does not fit one MP4 file (4 GiB with
// its index); export a shorter range.
var ErrExportTooLarge = errors.New("segment: export larger than 4 GiB; hint: export a shorter range")

// MaxExportDuration is the longest timeline (gaps included) one export may
// cover. MP4 track durations are 32-bit counts of 90 kHz ticks, which wrap
// after 13.25 hours; 12 hours leaves a margin.
const MaxExportDuration = 12 * time.Hour

// ErrExportTooLong means the range, gaps included, is longer than
// MaxExportDuration.
var ErrExportTooLong = fmt.Errorf("segment: export longer than %v; hint: export a shorter range", MaxExportDuration)

// Per-sample bytes of the MP4 index (stts, stsz, ctts, stss, stco entries at
// their largest), counted against the 4 GiB limit along with the media.
const (
	indexBytesPerSample = 32
	indexBytesFixed     = 1 << 20
)

type sampleRef struct {
	seg, part, track, index int
}

type parsedSeg struct {
	init  fmp4.Init
	parts fmp4.Parts
}

func parseSeg(data []byte) (*parsedSeg, error) {
	var p parsedSeg
	if err := p.init.Unmarshal(bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("segment: read init: %w", err)
	}
	if err := p.parts.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("segment: read fragments: %w", err)
	}
	return &p, nil
}

func trackIDs(init *fmp4.Init) (video, audio *fmp4.InitTrack) {
	for _, t := range init.Tracks {
		if t.Codec == nil {
			continue
		}
		if t.Codec.IsVideo() {
			if video == nil {
				video = t
			}
		} else if audio == nil {
			audio = t
		}
	}
	return video, audio
}

// Export writes the sources as one progressive MP4 (moov first, plays
// anywhere). A gap between segments is kept on the timeline: the last frame
// before it is held until the next segment starts.
func Export(w io.Writer, srcs []Source) (ExportStats, error) {
	var st ExportStats
	if len(srcs) == 0 {
		return st, errors.New("segment: nothing to export in that range")
	}

	var (
		vTrack, aTrack *pmp4.Track
		vEnd, aEnd     int64 // track timeline end, in track ticks
		firstVideo     fmp4.Codec
		total          uint64
		samples        uint64
		cache          = map[int]*parsedSeg{}
	)
	load := func(i int) (*parsedSeg, error) {
		if p, ok := cache[i]; ok {
			return p, nil
		}
		data, err := srcs[i].Open()
		if err != nil {
			return nil, err
		}
		p, err := parseSeg(data)
		if err != nil {
			return nil, fmt.Errorf("segment %d: %w", i, err)
		}
		if len(cache) >= 2 {
			clear(cache)
		}
		cache[i] = p
		return p, nil
	}
	payload := func(r sampleRef) func() ([]byte, error) {
		return func() ([]byte, error) {
			p, err := load(r.seg)
			if err != nil {
				return nil, err
			}
			return p.parts[r.part].Tracks[r.track].Samples[r.index].Payload, nil
		}
	}

	origin := srcs[0].Start
	for i, src := range srcs {
		data, err := src.Open()
		if err != nil {
			return st, err
		}
		p, err := parseSeg(data)
		if err != nil {
			return st, fmt.Errorf("segment %d: %w", i, err)
		}
		vi, ai := trackIDs(&p.init)
		if vi == nil {
			return st, fmt.Errorf("segment %d: no video track", i)
		}
		if vTrack == nil {
			vTrack = &pmp4.Track{ID: 1, TimeScale: vi.TimeScale, Codec: vi.Codec}
			firstVideo = vi.Codec
		} else if !sameCodec(firstVideo, vi.Codec) {
			st.ParamChanges++
		}
		if ai != nil && aTrack == nil {
			// The first segment with audio sets the audio track; earlier
			// segments (a camera whose audio came later) are silent.
			aTrack = &pmp4.Track{ID: 2, TimeScale: ai.TimeScale, Codec: ai.Codec}
		}
		if ai != nil && fmt.Sprintf("%T", ai.Codec) != fmt.Sprintf("%T", aTrack.Codec) {
			ai = nil // the audio codec changed: keep the first one's audio only
			st.AudioSkipped++
		}
		if vi.TimeScale != vTrack.TimeScale || (ai != nil && ai.TimeScale != aTrack.TimeScale) {
			return st, fmt.Errorf("segment %d: track time scale changed; hint: export the ranges before and after the change separately", i)
		}

		offset := src.Start.Sub(origin)
		if offset > MaxExportDuration {
			return st, ErrExportTooLong
		}
		vPos := durationToTicks(offset, vTrack.TimeScale)
		// Audio sits at its own offset from this segment's first video sample.
		var aPos int64
		if aTrack != nil && ai != nil {
			vBase, aBase, okV, okA := baseTimes(p.parts, vi.ID, ai.ID)
			if okV && okA {
				delta := ticksToDuration(int64(aBase), int64(ai.TimeScale)) - ticksToDuration(int64(vBase), int64(vi.TimeScale))
				aPos = durationToTicks(offset+delta, aTrack.TimeScale)
			}
		}
		firstA := true
		for pi, part := range p.parts {
			for ti, pt := range part.Tracks {
				isVideo := pt.ID == vi.ID
				isAudio := ai != nil && aTrack != nil && pt.ID == ai.ID
				if !isVideo && !isAudio {
					continue
				}
				for si, s := range pt.Samples {
					ps := &pmp4.Sample{
						Duration:        s.Duration,
						PTSOffset:       s.PTSOffset,
						IsNonSyncSample: s.IsNonSyncSample,
						PayloadSize:     uint32(len(s.Payload)),
						GetPayload:      payload(sampleRef{i, pi, ti, si}),
					}
					total += uint64(len(s.Payload))
					samples++
					if total+samples*indexBytesPerSample+indexBytesFixed >= 1<<32 {
						return st, ErrExportTooLarge
					}
					if isVideo {
						vEnd = hold(vTrack, vEnd, vPos)
						if ticksToDuration(vEnd+int64(s.Duration), int64(vTrack.TimeScale)) > MaxExportDuration {
							return st, ErrExportTooLong
						}
						vTrack.Samples = append(vTrack.Samples, ps)
						vEnd += int64(s.Duration)
						vPos = vEnd
						st.VideoFrames++
						continue
					}
					if firstA {
						if len(aTrack.Samples) == 0 {
							if aPos > 0 && aPos < 1<<31 {
								aTrack.TimeOffset = int32(aPos)
							}
							aEnd = max(aPos, 0)
						} else {
							aEnd = hold(aTrack, aEnd, aPos)
						}
						firstA = false
					}
					if ticksToDuration(aEnd+int64(s.Duration), int64(aTrack.TimeScale)) > MaxExportDuration {
						return st, ErrExportTooLong
					}
					aTrack.Samples = append(aTrack.Samples, ps)
					aEnd += int64(s.Duration)
					st.AudioFrames++
				}
			}
		}
		st.Segments++
	}
	st.Bytes = int64(total)
	st.Duration = ticksToDuration(vEnd, int64(vTrack.TimeScale))

	// With B-frames a frame can be presented after the sum of the decode
	// durations; hold the last sample long enough that no frame falls off
	// the end of the presentation.
	var dts, maxEnd int64
	for _, sm := range vTrack.Samples {
		maxEnd = max(maxEnd, dts+int64(sm.PTSOffset)+int64(sm.Duration))
		dts += int64(sm.Duration)
	}
	if last := vTrack.Samples[len(vTrack.Samples)-1]; maxEnd > dts && maxEnd-dts < 1<<31 {
		last.Duration += uint32(maxEnd - dts)
		vEnd += maxEnd - dts
	}
	st.Duration = ticksToDuration(vEnd, int64(vTrack.TimeScale))

	// With B-frames the first frame is presented after its decode time; an
	// edit list starts the presentation there so no frame is cut at the end.
	if off := vTrack.Samples[0].PTSOffset; off > 0 {
		vTrack.TimeOffset = -off
	}
	pres := pmp4.Presentation{Tracks: []*pmp4.Track{vTrack}}
	if aTrack != nil && len(aTrack.Samples) > 0 {
		pres.Tracks = append(pres.Tracks, aTrack)
	}
	if err := pres.Marshal(w); err != nil {
		return st, fmt.Errorf("segment: write mp4: %w", err)
	}
	return st, nil
}

// hold stretches the track's last sample so the timeline reaches pos; it
// returns the new end. A track already past pos is left as it is. Export
// keeps timelines under MaxExportDuration, so the stretch fits a sample's
// 32-bit duration.
func hold(t *pmp4.Track, end, pos int64) int64 {
	if n := len(t.Samples); n > 0 && end < pos && pos-end+int64(t.Samples[n-1].Duration) < 1<<32 {
		t.Samples[n-1].Duration += uint32(pos - end)
		return pos
	}
	return end
}

// baseTimes returns the decode time of the first fragment of each track.
func baseTimes(parts fmp4.Parts, vID, aID int) (v, a uint64, okV, okA bool) {
	for _, part := range parts {
		for _, pt := range part.Tracks {
			if pt.ID == vID && !okV {
				v, okV = pt.BaseTime, true
			}
			if pt.ID == aID && !okA {
				a, okA = pt.BaseTime, true
			}
		}
	}
	return v, a, okV, okA
}

func durationToTicks(d time.Duration, rate uint32) int64 {
	r := int64(rate)
	return int64(d/time.Second)*r + int64(d%time.Second)*r/int64(time.Second)
}

func sameCodec(a, b fmp4.Codec) bool {
	switch x := a.(type) {
	case *fmp4.CodecH264:
		y, ok := b.(*fmp4.CodecH264)
		return ok && bytes.Equal(x.SPS, y.SPS) && bytes.Equal(x.PPS, y.PPS)
	case *fmp4.CodecH265:
		y, ok := b.(*fmp4.CodecH265)
		return ok && bytes.Equal(x.VPS, y.VPS) && bytes.Equal(x.SPS, y.SPS) && bytes.Equal(x.PPS, y.PPS)
	}
	return false
}
