package redact

import (
	"errors"
	"strings"
	"testing"

	"vigil/internal/detect"
)

// probeCases are ffprobe answers and what parseProbe makes of them; they
// seed FuzzParseProbe.
var probeCases = []struct {
	json string
	want clipInfo
	err  error
}{
	{`{"streams":[{"codec_type":"video","width":720,"height":528,"r_frame_rate":"2997/125","avg_frame_rate":"2997/125","nb_frames":"270"},{"codec_type":"audio","r_frame_rate":"0/0","avg_frame_rate":"0/0","nb_frames":"270270"}],"format":{"duration":"11.261261"}}`,
		clipInfo{Width: 720, Height: 528, Rate: "2997/125", FPS: 23.976, Audio: true, Frames: 270}, nil},
	{`{"streams":[{"codec_type":"video","width":768,"height":576,"avg_frame_rate":"0/0","r_frame_rate":"10/1"}],"format":{"duration":"79.5"}}`,
		clipInfo{Width: 768, Height: 576, Rate: "10/1", FPS: 10, Frames: 795}, nil},
	{`{"streams":[{"codec_type":"video","width":640,"height":480,"avg_frame_rate":"30"}],"format":{}}`,
		clipInfo{Width: 640, Height: 480, Rate: "30", FPS: 30}, nil},
	{`{"streams":[{"codec_type":"audio"}],"format":{"duration":"3"}}`, clipInfo{}, ErrNotVideo},
	{`{"streams":[{"codec_type":"video","width":100000,"height":2,"avg_frame_rate":"25/1"}]}`, clipInfo{}, ErrTooLarge},
	{`{"streams":[{"codec_type":"video","width":8000,"height":8000,"avg_frame_rate":"25/1"}]}`, clipInfo{}, ErrTooLarge},
	{`{"streams":[{"codec_type":"video","width":0,"height":2,"avg_frame_rate":"25/1"}]}`, clipInfo{}, ErrNotVideo},
	{`{"streams":[{"codec_type":"video","width":64,"height":64,"avg_frame_rate":"1000/1","r_frame_rate":"-5/1"}]}`, clipInfo{}, ErrNotVideo},
	{`{"streams":[{"codec_type":"video","width":64,"height":64,"avg_frame_rate":"25/0","r_frame_rate":"25;rm/1"}]}`, clipInfo{}, ErrNotVideo},
	{`{"streams":[{"codec_type":"video","width":160,"height":120,"avg_frame_rate":"10/1","tags":{},"side_data_list":[{"rotation":-90}]}]}`,
		clipInfo{Width: 120, Height: 160, Rate: "10/1", FPS: 10}, nil},
	{`{"streams":[{"codec_type":"video","width":160,"height":120,"avg_frame_rate":"10/1","tags":{"rotate":"270"}}]}`,
		clipInfo{Width: 120, Height: 160, Rate: "10/1", FPS: 10}, nil},
	{`{"streams":[{"codec_type":"video","width":160,"height":120,"avg_frame_rate":"10/1","side_data_list":[{"rotation":180}]}]}`,
		clipInfo{Width: 160, Height: 120, Rate: "10/1", FPS: 10}, nil},
	{`not json`, clipInfo{}, ErrNotVideo},
	{``, clipInfo{}, ErrNotVideo},
}

func TestParseProbe(t *testing.T) {
	for _, c := range probeCases {
		got, err := parseProbe([]byte(c.json), detect.MaxPixels)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%.60s: %v, want %v", c.json, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%.60s: %v", c.json, err)
			continue
		}
		if got.FPS-c.want.FPS > 1e-3 || c.want.FPS-got.FPS > 1e-3 {
			t.Errorf("%.60s: fps %v, want %v", c.json, got.FPS, c.want.FPS)
		}
		got.FPS = c.want.FPS
		if got != c.want {
			t.Errorf("%.60s: %+v, want %+v", c.json, got, c.want)
		}
	}
}

// FuzzParseProbe: whatever ffprobe says, parseProbe returns a size within
// bounds, a rate of digits and one slash at most within (0, MaxFPS], or
// an error.
func FuzzParseProbe(f *testing.F) {
	for _, c := range probeCases {
		f.Add([]byte(c.json))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ci, err := parseProbe(b, detect.MaxPixels)
		if err != nil {
			return
		}
		if ci.Width <= 0 || ci.Height <= 0 || ci.Width > MaxSide || ci.Height > MaxSide || ci.Width*ci.Height > detect.MaxPixels {
			t.Fatalf("size %dx%d accepted", ci.Width, ci.Height)
		}
		if !(ci.FPS > 0 && ci.FPS <= MaxFPS) || ci.Frames < 0 {
			t.Fatalf("rate %v, frames %d accepted", ci.FPS, ci.Frames)
		}
		if strings.Trim(ci.Rate, "0123456789/") != "" || strings.Count(ci.Rate, "/") > 1 || strings.HasPrefix(ci.Rate, "/") {
			t.Fatalf("rate %q accepted", ci.Rate)
		}
	})
}
