package redact

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// MaxSide bounds a clip's width and height; larger clips are refused.
const MaxSide = 8192

// MaxFPS bounds a clip's frame rate; faster clips are refused.
const MaxFPS = 120

// probeEntries is what ffprobe is asked to show.
const probeEntries = "stream=codec_type,width,height,avg_frame_rate,r_frame_rate,nb_frames:stream_tags=rotate:stream_side_data=rotation:format=duration"

// clipInfo is what Clip needs to know of its input, from ffprobe.
type clipInfo struct {
	Width, Height int
	// Rate is the video's frame rate as ffmpeg writes it ("2997/125"),
	// FPS the same as a number.
	Rate  string
	FPS   float64
	Audio bool
	// Frames is the expected number of frames (from the stream's count or
	// the duration), 0 when unknown.
	Frames int
}

// parseProbe reads ffprobe's JSON (-show_entries probeEntries). The size
// is the size of the frames ffmpeg decodes: a video rotated by a quarter
// turn has its sides swapped.
// The bytes come from a program reading a hostile file: every value is
// checked (size within MaxSide and detect.MaxPixels, a rate in (0, MaxFPS]).
func parseProbe(b []byte, maxPixels int) (clipInfo, error) {
	var v struct {
		Streams []struct {
			CodecType    string `json:"codec_type"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			AvgFrameRate string `json:"avg_frame_rate"`
			RFrameRate   string `json:"r_frame_rate"`
			NbFrames     string `json:"nb_frames"`
			Tags         struct {
				Rotate string `json:"rotate"`
			} `json:"tags"`
			SideData []struct {
				Rotation float64 `json:"rotation"`
			} `json:"side_data_list"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return clipInfo{}, fmt.Errorf("%w: ffprobe's answer: %v", ErrNotVideo, err)
	}
	var ci clipInfo
	found := false
	for _, s := range v.Streams {
		switch s.CodecType {
		case "audio":
			ci.Audio = true
		case "video":
			if found {
				continue
			}
			found = true
			if s.Width <= 0 || s.Height <= 0 {
				return clipInfo{}, fmt.Errorf("%w: its video has no size", ErrNotVideo)
			}
			if s.Width > MaxSide || s.Height > MaxSide || s.Width*s.Height > maxPixels {
				return clipInfo{}, fmt.Errorf("%w: %dx%d (at most %d on a side and %d pixels)", ErrTooLarge, s.Width, s.Height, MaxSide, maxPixels)
			}
			ci.Width, ci.Height = s.Width, s.Height
			// ffmpeg turns the frames of a rotated video (a phone's) upright
			// as it decodes them: a quarter turn swaps the sides.
			rot := 0.0
			if r, err := strconv.ParseFloat(s.Tags.Rotate, 64); err == nil {
				rot = r
			}
			for _, sd := range s.SideData {
				if sd.Rotation != 0 {
					rot = sd.Rotation
				}
			}
			if q := math.Mod(math.Abs(rot), 180); q > 45 && q < 135 {
				ci.Width, ci.Height = s.Height, s.Width
			}
			for _, r := range []string{s.AvgFrameRate, s.RFrameRate} {
				if f, ok := parseRate(r); ok {
					ci.Rate, ci.FPS = r, f
					break
				}
			}
			if ci.Rate == "" {
				return clipInfo{}, fmt.Errorf("%w: no frame rate in (0, %d] (%.20q, %.20q)", ErrNotVideo, MaxFPS, s.AvgFrameRate, s.RFrameRate)
			}
			if n, err := strconv.Atoi(s.NbFrames); err == nil && n > 0 {
				ci.Frames = n
			}
		}
	}
	if !found {
		return clipInfo{}, fmt.Errorf("%w: no video stream", ErrNotVideo)
	}
	if ci.Frames == 0 {
		if d, err := strconv.ParseFloat(v.Format.Duration, 64); err == nil && d > 0 && d < 1e7 {
			ci.Frames = int(math.Round(d * ci.FPS))
		}
	}
	return ci, nil
}

// parseRate parses "num/den" (or an integer) into a rate in (0, MaxFPS].
// Only digits are accepted, so the string can go to ffmpeg's -framerate
// as it is.
func parseRate(s string) (float64, bool) {
	num, den, frac := strings.Cut(s, "/")
	if !frac {
		den = "1"
	}
	n, err1 := strconv.ParseUint(num, 10, 32)
	d, err2 := strconv.ParseUint(den, 10, 32)
	if err1 != nil || err2 != nil || d == 0 {
		return 0, false
	}
	f := float64(n) / float64(d)
	if !(f > 0 && f <= MaxFPS) {
		return 0, false
	}
	return f, true
}
