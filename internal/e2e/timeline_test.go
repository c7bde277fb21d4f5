package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/client"
	"vigil/internal/vigiltest"
)

// TestTimeline: a browser enrolled in the household plays recorded video
// from the camera page on a phone (390x844, touch; decrypted in the
// browser, through MSE). The page opens on the last hour with a legend; a
// tap on the bar plays from the time under the finger (the first frame
// shown is within 2 s of it), the play head advances, the frames are not
// black, playback continues into the next segment, a tap on a later
// segment seeks there and a gap is jumped; the bar is a slider the keyboard
// moves and Enter plays; the speed changes; a downloaded range is an MP4
// ffprobe reads as H.264 of the range's duration. The page fits 360, 390
// and 430 px, its controls are 44 px and axe-core finds nothing serious. A
// member account whose browser was never enrolled sees the refusal, plays
// nothing and gets only sealed bytes. Prints the time from a tap to the
// first played frame.
func TestTimeline(t *testing.T) {
	ffprobe := vigiltest.RequireTool(t, "ffprobe", "ffmpeg")
	c := startCloud(t, nil)
	hh := newHousehold(t, c, householdOptions{SegmentDuration: 2 * time.Second})
	other := hh.addMember(t, "member")
	hh.waitSegments(t, hh.Camera, 4, 90*time.Second)
	// A gap: the camera is away for 4 s.
	hh.interruptCamera(t, 4*time.Second)
	all := hh.waitSegments(t, hh.Camera, 9, 90*time.Second)
	gap := 0
	for i := 1; i < len(all); i++ {
		if all[i].Start.Before(all[i-1].Start) {
			t.Fatal("listing is not in time order")
		}
		if gap == 0 && all[i].Start.Sub(all[i-1].End) > 2*time.Second {
			gap = i
		}
	}
	if gap < 4 || gap+1 >= len(all) {
		t.Fatalf("no gap of more than 2 s after the fourth segment with a segment after it: %+v", all)
	}
	segs := all
	ms := func(tm time.Time) string { return strconv.FormatInt(tm.UnixMilli(), 10) }
	playAt := segs[1].Start.Add(700 * time.Millisecond)
	// Seek to shortly before the gap; playback must jump it. (A tap is a
	// whole pixel, almost 3 s at the 15-minute zoom on a phone: the tap
	// lands 1.4 to 4.2 s before the gap.)
	seekAt := segs[gap-1].End.Add(-2800 * time.Millisecond)
	// Then back to the first segment, which was never loaded.
	backAt := segs[0].Start.Add(900 * time.Millisecond)
	// The download's inputs have second resolution.
	dlFrom := segs[1].Start.Truncate(time.Second).Add(time.Second)
	dlTo := dlFrom.Add(5 * time.Second)
	if dlTo.After(segs[gap-1].End) {
		t.Fatalf("segments too short for a 5 s download before the gap: %v .. %v", segs[1].Start, segs[gap-1].End)
	}

	// A download across the gap: the frame before it is held.
	gapFrom := segs[gap-1].End.Truncate(time.Second).Add(-time.Second)
	gapTo := segs[gap].Start.Truncate(time.Second).Add(2 * time.Second)

	sess := hh.Owner.browserSession(t, c.url)
	otherSess := other.browserSession(t, c.url)
	type tap struct {
		Tapped  float64 `json:"tapped"`
		Clicked float64 `json:"clicked"`
		At      float64 `json:"at"`
	}
	type sliderState struct {
		Role     string  `json:"role"`
		Tabindex string  `json:"tabindex"`
		Min      float64 `json:"min"`
		Max      float64 `json:"max"`
		Now      float64 `json:"now"`
		Text     string  `json:"text"`
	}
	var res struct {
		Ranges           int       `json:"ranges"`
		LiveAtOpen       liveState `json:"liveAtOpen"`
		LiveWhilePlaying liveState `json:"liveWhilePlaying"`
		LiveAgain        liveState `json:"liveAgain"`
		OpenSpan         float64   `json:"openSpan"`
		OpenTo           float64   `json:"openTo"`
		OpenedAt         float64   `json:"openedAt"`
		ZoomPressed      []float64 `json:"zoomPressed"`
		ZoomSpan         float64   `json:"zoomSpan"`
		Legend           []string  `json:"legend"`
		Text             string    `json:"text"`
		Slider           sliderState
		Layout           layoutResult `json:"layout"`
		FirstFrameMs     float64      `json:"firstFrameMs"`
		TapToFrameWall   float64      `json:"tapToFrameWallMs"`
		SeekFirstFrameMs float64      `json:"seekFirstFrameMs"`
		BackFirstFrameMs float64      `json:"backFirstFrameMs"`
		Seek, Back       tap
		Keys             struct {
			K0, K1, K2, K3, K4 sliderState
			EnterAt            float64 `json:"enterAt"`
			Expect             float64 `json:"expect"`
			InGap              bool    `json:"inGap"`
			At                 float64 `json:"at"`
			Clicked            float64 `json:"clicked"`
			Status             string  `json:"status"`
		} `json:"keys"`
		Rate           float64 `json:"rate"`
		DlFile, DlName string
		DlDuration     float64 `json:"dlDuration"`
		GapFile        string  `json:"gapFile"`
		Refusal        string  `json:"refusal"`
		OtherError     string  `json:"otherError"`
		Play           struct {
			tap
			MsPerPx      float64 `json:"msPerPx"`
			First, Later playState
		} `json:"play"`
		Crossed   playState `json:"crossed"`
		AfterSeek playState `json:"afterSeek"`
		AfterGap  playState `json:"afterGap"`
		AfterBack playState `json:"afterBack"`
		Frame     frame     `json:"frame"`
		SeekFrame frame     `json:"seekFrame"`
		Other     struct {
			Src        string  `json:"src"`
			Buffered   int     `json:"buffered"`
			FirstFrame *string `json:"firstFrame"`
		} `json:"other"`
		OtherObject struct {
			Size    int  `json:"size"`
			HasFtyp bool `json:"hasFtyp"`
		} `json:"otherObject"`
	}
	browsertest.Run(t, 4*time.Minute, "timeline.mjs", map[string]string{
		"BASE_URL": c.url, "HOUSEHOLD": hh.ID, "CAMERA": hh.Camera, "CONTROL_URL": hh.controlServer(t),
		"SESSION": sess.Cookie, "CSRF": sess.CSRF, "OTHER_SESSION": otherSess.Cookie, "OTHER_CSRF": otherSess.CSRF,
		"PLAY_AT": ms(playAt), "SEEK_AT": ms(seekAt), "SEG_END": ms(segs[1].End),
		"DL_FROM": ms(dlFrom), "DL_TO": ms(dlTo), "GAP_AFTER": ms(segs[gap].Start), "BACK_AT": ms(backAt),
		"GAP_DL_FROM": ms(gapFrom), "GAP_DL_TO": ms(gapTo),
	}, &res)
	t.Logf("timeline tap to first played frame: %.0f ms (page), %.0f ms (test, incl. the driver); seek ahead (prefetched): %.0f ms; seek back to a segment never loaded: %.0f ms",
		res.FirstFrameMs, res.TapToFrameWall, res.SeekFirstFrameMs, res.BackFirstFrameMs)
	t.Logf("taps (time under the finger -> first frame shown): %.0f -> %+.0f ms, %.0f -> %+.0f ms, %.0f -> %+.0f ms (%.0f ms a pixel); Enter at %.0f -> %+.0f ms (in a gap: %v)",
		res.Play.Tapped, res.Play.At-res.Play.Tapped, res.Seek.Tapped, res.Seek.At-res.Seek.Tapped, res.Back.Tapped, res.Back.At-res.Back.Tapped, res.Play.MsPerPx,
		res.Keys.EnterAt, res.Keys.At-res.Keys.EnterAt, res.Keys.InGap)

	// The page as it opens: the last hour, ending at now, a legend, no
	// "click", one format of time.
	if res.OpenSpan != float64(time.Hour.Milliseconds()) || len(res.ZoomPressed) != 1 || res.ZoomPressed[0] != res.OpenSpan {
		t.Errorf("the timeline opens on %v (zoom buttons pressed %v), want the last hour", time.Duration(res.OpenSpan)*time.Millisecond, res.ZoomPressed)
	}
	if d := res.OpenTo - res.OpenedAt; d < 0 || d > float64(5*time.Minute.Milliseconds()) {
		t.Errorf("the opening window ends %v from now, want within 5 min after now", time.Duration(d)*time.Millisecond)
	}
	if strings.Join(res.Legend, "|") != "Recorded|Event|No recording" {
		t.Errorf("the legend says %q", res.Legend)
	}
	for _, word := range []string{"Click", "segment", "ms)"} {
		if strings.Contains(res.Text, word) {
			t.Errorf("the camera page says %q: %q", word, res.Text)
		}
	}
	if res.ZoomSpan != float64(15*time.Minute.Milliseconds()) {
		t.Errorf("the 15 min zoom shows %v", time.Duration(res.ZoomSpan)*time.Millisecond)
	}
	if s := res.Slider; s.Role != "slider" || s.Tabindex != "0" || s.Min != res.OpenTo-res.OpenSpan || s.Max != res.OpenTo || s.Now < s.Min || s.Now > s.Max || s.Text == "" {
		t.Errorf("the bar as a slider: %+v (window ends %.0f)", s, res.OpenTo)
	}
	res.Layout.check(t, "the camera page")

	if res.Ranges < 2 {
		t.Errorf("the bar shows %d recorded ranges, want two (the gap between them)", res.Ranges)
	}
	// Live on top, the recording instead once a moment is chosen, and back.
	if l := res.LiveAtOpen; l.Tile != hh.Camera || !l.TileShown || l.RecordingShown || l.BackShown {
		t.Errorf("the camera page opens with %+v, want the live picture of %s and no recording", l, hh.Camera)
	}
	if l := res.LiveWhilePlaying; l.Tile != "" || !l.RecordingShown || !l.BackShown {
		t.Errorf("while a recording plays the page shows %+v, want the recording and the way back to live", l)
	}
	if l := res.LiveAgain; l.Tile != hh.Camera || !l.TileShown || l.RecordingShown || l.BackShown || l.Cursor != "" {
		t.Errorf("back to live shows %+v, want the live picture and no recording", l)
	}
	// Playback starts where the finger was: the page took the tap for the
	// time under it, and the first frame shown is that time.
	for _, tp := range []struct {
		name string
		tap
	}{{"tap", res.Play.tap}, {"seek ahead", res.Seek}, {"seek back", res.Back}} {
		if math.Abs(tp.Clicked-tp.Tapped) > res.Play.MsPerPx || math.Abs(tp.At-tp.Tapped) >= 2000 {
			t.Errorf("%s: tapped at %v, the page took %v, the first frame shown is of %v; want it within 2 s",
				tp.name, time.UnixMilli(int64(tp.Tapped)), time.UnixMilli(int64(tp.Clicked)), time.UnixMilli(int64(tp.At)))
		}
	}
	if res.Play.Later.T <= res.Play.First.T || res.Play.Later.Paused {
		t.Errorf("the video does not advance: %+v then %+v", res.Play.First, res.Play.Later)
	}
	if d := math.Abs(res.Play.First.Cursor - res.Play.Clicked); d > 1500 {
		t.Errorf("the play head is %.0f ms away from the tapped time (%+v)", d, res.Play)
	}
	if res.Frame.Width == 0 || res.Frame.Mean < 10 || res.Frame.Std < 5 {
		t.Errorf("the played frame is black or flat: %+v", res.Frame)
	}
	if res.Crossed.Cursor <= float64(segs[1].End.UnixMilli()) {
		t.Errorf("playback did not continue into the next segment: at %v, segment ended %v", time.UnixMilli(int64(res.Crossed.Cursor)), segs[1].End)
	}
	// Seek.
	if d := math.Abs(res.AfterSeek.Cursor - res.Seek.Clicked); d > 2500 || res.AfterSeek.Paused {
		t.Errorf("after seeking to %v the play head is at %v (paused %v)", time.UnixMilli(int64(res.Seek.Clicked)), time.UnixMilli(int64(res.AfterSeek.Cursor)), res.AfterSeek.Paused)
	}
	if res.AfterGap.Cursor < float64(segs[gap].Start.UnixMilli()) || res.AfterGap.Paused {
		t.Errorf("playback did not jump the gap to %v: at %v (%+v)", segs[gap].Start, time.UnixMilli(int64(res.AfterGap.Cursor)), res.AfterGap)
	}
	if d := math.Abs(res.AfterBack.Cursor - res.Back.Clicked); d > 2500 || res.AfterBack.Paused {
		t.Errorf("after seeking back to %v the play head is at %v (paused %v)", time.UnixMilli(int64(res.Back.Clicked)), time.UnixMilli(int64(res.AfterBack.Cursor)), res.AfterBack.Paused)
	}
	if res.SeekFrame.Mean < 10 || res.SeekFrame.Std < 5 {
		t.Errorf("the frame after seeking is black or flat: %+v", res.SeekFrame)
	}
	// The keyboard: 10 s, Shift 1 min, PageUp/PageDown 10 min; Enter plays
	// the chosen moment.
	k := res.Keys
	for _, st := range []struct {
		name     string
		from, to sliderState
		want     float64
	}{{"ArrowRight", k.K0, k.K1, 10_000}, {"Shift+ArrowLeft", k.K1, k.K2, -60_000}, {"PageDown", k.K2, k.K3, -600_000}, {"PageUp", k.K3, k.K4, 600_000}} {
		if d := st.to.Now - st.from.Now; d != st.want || st.to.Text == st.from.Text {
			t.Errorf("%s moved the slider by %.0f ms (%q -> %q), want %.0f", st.name, d, st.from.Text, st.to.Text, st.want)
		}
	}
	// (A moment in the gap plays the next recording, and says so.)
	if k.Clicked != k.EnterAt || math.IsInf(k.Expect, 0) || math.Abs(k.At-k.Expect) >= 2000 || k.InGap != strings.Contains(k.Status, "Nothing was recorded at") {
		t.Errorf("Enter on the slider at %v (in a gap: %v) played from %v, want %v (asked %v; status %q)", time.UnixMilli(int64(k.EnterAt)), k.InGap,
			time.UnixMilli(int64(k.At)), time.UnixMilli(int64(k.Expect)), time.UnixMilli(int64(k.Clicked)), k.Status)
	}
	if res.Rate != 4 {
		t.Errorf("playback rate %v after choosing 4x", res.Rate)
	}

	// Download: ffprobe reads H.264 of the range's duration (the clip starts
	// at the keyframe at or before the range's start: at most one GOP more).
	want := dlTo.Sub(dlFrom).Seconds()
	gop := float64(hh.Cam.Info().GOP) / hh.Cam.Info().FPS
	dur, probe := probeClip(t, ffprobe, res.DlFile)
	t.Logf("downloaded %s: %.2f s for a %.0f s range (GOP %.2f s), streams %+v", res.DlName, dur, want, gop, probe.Streams)
	if len(probe.Streams) != 1 || probe.Streams[0].Codec != "h264" {
		t.Errorf("clip streams %+v, want one h264 video stream", probe.Streams)
	}
	if dur < want-0.3 || dur > want+gop+0.3 {
		t.Errorf("clip lasts %.2f s, want %.1f s (up to one GOP, %.2f s, more)", dur, want, gop)
	}
	if !strings.HasSuffix(res.DlName, ".mp4") {
		t.Errorf("download name %q", res.DlName)
	}
	gdur, gprobe := probeClip(t, ffprobe, res.GapFile)
	gwant := gapTo.Sub(gapFrom).Seconds()
	t.Logf("downloaded across the gap: %.2f s for a %.1f s range", gdur, gwant)
	if len(gprobe.Streams) != 1 || gprobe.Streams[0].Codec != "h264" || gdur < gwant-0.3 || gdur > gwant+gop+0.3 {
		t.Errorf("clip across the gap: %.2f s (want %.1f s, up to one GOP more), streams %+v", gdur, gwant, gprobe.Streams)
	}
	// ffmpeg decodes every frame of it without error.
	if out, err := exec.Command(strings.TrimSuffix(ffprobe, "ffprobe")+"ffmpeg", "-v", "error", "-xerror", "-i", res.DlFile, "-f", "null", "-").CombinedOutput(); err != nil {
		t.Errorf("ffmpeg cannot decode the clip: %v\n%s", err, out)
	}

	// A segment altered in the cloud's storage is refused in the browser.
	// The tap lands on the pixel nearest its middle, and its neighbours
	// are altered too: at the 15-minute zoom on a phone a pixel of the bar
	// is almost 3 s, so a tap half a pixel off must not start playback in
	// an intact segment and show a frame.
	for _, sg := range segs[1:4] {
		tamperBlob(t, filepath.Join(c.dir, "blobs"), sg)
	}
	var tam struct {
		Error      string  `json:"error"`
		FirstFrame *string `json:"firstFrame"`
	}
	browsertest.Run(t, 2*time.Minute, "timeline-tamper.mjs", map[string]string{
		"BASE_URL": c.url, "HOUSEHOLD": hh.ID, "CAMERA": hh.Camera, "CONTROL_URL": hh.controlServer(t),
		"SESSION": sess.Cookie, "CSRF": sess.CSRF, "PLAY_AT": ms(segs[2].Start.Add(segs[2].End.Sub(segs[2].Start) / 2)),
	}, &tam)
	t.Logf("altered segment: %q", tam.Error)
	if !strings.HasPrefix(tam.Error, "segment failed verification: ") || tam.FirstFrame != nil {
		t.Errorf("the altered segment: error %q, first frame %v; want a verification failure and nothing played", tam.Error, tam.FirstFrame)
	}

	// The never-enrolled browser.
	if !strings.Contains(res.Refusal, "not enrolled in the household") || !strings.Contains(res.Refusal, "sealed data") {
		t.Errorf("the never-enrolled browser shows %q (error %q), want the refusal", res.Refusal, res.OtherError)
	}
	if res.Other.Src != "" || res.Other.Buffered != 0 || res.Other.FirstFrame != nil {
		t.Errorf("the never-enrolled browser plays something: %+v", res.Other)
	}
	if res.OtherObject.Size == 0 || res.OtherObject.HasFtyp {
		t.Errorf("the never-enrolled browser got %d bytes, MP4 in the clear: %v", res.OtherObject.Size, res.OtherObject.HasFtyp)
	}
}

// liveState is what the camera page shows on top: the live tile (its camera) or the recording.
type liveState struct {
	Tile           string `json:"tile"`
	TileShown      bool   `json:"tileShown"`
	RecordingShown bool   `json:"recordingShown"`
	BackShown      bool   `json:"backShown"`
	Cursor         string `json:"cursor"`
}

// layoutResult is what web/test/tl-phone.mjs layoutProblems finds wrong with a page on a phone.
type layoutResult struct {
	Wide  []string `json:"wide"`
	Small []string `json:"small"`
	Axe   []string `json:"axe"`
}

func (l layoutResult) check(t *testing.T, page string) {
	t.Helper()
	if len(l.Wide) > 0 {
		t.Errorf("%s is wider than the screen at %v", page, l.Wide)
	}
	if len(l.Small) > 0 {
		t.Errorf("%s has controls under 44x44 px: %v", page, l.Small)
	}
	if len(l.Axe) > 0 {
		t.Errorf("%s: axe-core finds %v", page, l.Axe)
	}
}

type playState struct {
	T      float64     `json:"t"`
	Ranges [][]float64 `json:"ranges"`
	Ready  int         `json:"ready"`
	Error  string      `json:"error"`
	Paused bool        `json:"paused"`
	Rate   float64     `json:"rate"`
	Cursor float64     `json:"cursor"`
}

type frame struct {
	Mean   float64 `json:"mean"`
	Std    float64 `json:"std"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
}

// tamperBlob flips one byte in the middle of the stored blob of object o,
// as someone with write access to the cloud's storage could: in its own
// file (the old layout), or inside the pack that holds it, where its
// record carries its SHA-256 (see internal/cloud/blob/pack.go) and its
// data follows the record's header and key.
func tamperBlob(t *testing.T, blobsDir string, o client.Object) {
	t.Helper()
	sum, err := hex.DecodeString(o.SHA256)
	if err != nil || len(sum) != sha256.Size {
		t.Fatalf("object %s: bad SHA-256 %q", o.Key, o.SHA256)
	}
	const shaAt, headerLen = 16, 56 // in a pack record
	found := false
	err = filepath.WalkDir(blobsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		at := -1
		if s := sha256.Sum256(b); int64(len(b)) == o.Size && bytes.Equal(s[:], sum) {
			at = len(b) / 2
		} else if strings.HasSuffix(p, ".pack") {
			if i := bytes.Index(b, sum); i >= shaAt {
				rec := i - shaAt
				klen := int(binary.LittleEndian.Uint16(b[rec+6:]))
				size := int64(binary.LittleEndian.Uint64(b[rec+8:]))
				data := rec + headerLen + klen
				if size == o.Size && int64(data)+size <= int64(len(b)) {
					if s := sha256.Sum256(b[data : int64(data)+size]); bytes.Equal(s[:], sum) {
						at = data + int(size/2)
					}
				}
			}
		}
		if at < 0 {
			return nil
		}
		b[at] ^= 0x40
		found = true
		return os.WriteFile(p, b, 0o600)
	})
	if err != nil || !found {
		t.Fatalf("could not alter the blob of %s: found %v, %v", o.Key, found, err)
	}
}

type clipProbe struct {
	Format struct {
		Duration string `json:"duration"`
		Name     string `json:"format_name"`
	} `json:"format"`
	Streams []struct {
		Codec  string `json:"codec_name"`
		Type   string `json:"codec_type"`
		Frames string `json:"nb_frames"`
	} `json:"streams"`
}

// probeClip reads a downloaded clip with ffprobe: its duration and streams.
func probeClip(t *testing.T, ffprobe, file string) (float64, clipProbe) {
	t.Helper()
	out, err := exec.Command(ffprobe, "-v", "error", "-show_entries", "format=duration,format_name:stream=codec_name,codec_type,nb_frames",
		"-of", "json", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe cannot read the downloaded clip %s: %v\n%s", file, err, out)
	}
	var p clipProbe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	d, err := strconv.ParseFloat(p.Format.Duration, 64)
	if err != nil {
		t.Fatalf("ffprobe duration %q: %v", p.Format.Duration, err)
	}
	return d, p
}
