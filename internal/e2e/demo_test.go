package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"vigil/internal/bench"
	"vigil/internal/browsertest"
	"vigil/internal/cli"
	"vigil/internal/vigiltest"
)

// TestDemo is 'vigil demo' as a user meets it on a phone: the printed link,
// opened in Chromium at 390x844 with touch, signs in, enrols the browser and
// lands on home with every camera live (two screenshots a second apart
// differ and are not black; the time on each picture is now and turns; full
// screen on a tap; no wider than the screen at 360, 390 and 430 px); the
// recordings fill the timeline; the inbox and home list the person the
// camera saw, home the newest event first with its snapshot. A restart on
// the same directory reuses the account, household and hub and hands out a
// fresh link.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var progress bytes.Buffer
	d, err := cli.StartDemo(ctx, cli.DemoOptions{Data: dir, Listen: "127.0.0.1:0", Argon2: testArgon,
		Logger: vigiltest.Logger(t), Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	first, err := d.SignInURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := d.SignInURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first, "/demo#") || strings.Contains(strings.SplitN(first, "#", 2)[0], "vgl_") {
		t.Fatalf("link %q: the token must be in the fragment only", first)
	}
	var res struct {
		Enrolled     bool     `json:"enrolled"`
		Household    string   `json:"household"`
		EnrolledMs   int      `json:"enrolledMs"`
		LiveMs       int      `json:"liveMs"`
		FirstFrameMs int      `json:"firstFrameMs"`
		Shots        []string `json:"shots"`
		Segments     int      `json:"segments"`
		Timeline     int      `json:"timeline"`
		Reused       *bool    `json:"reused"`
		Home         demoHome `json:"home"`
		Events       []struct {
			Camera, Labels string
			Alert          bool
			Start          int64
			SnapshotWidth  int
		} `json:"events"`
		HomeEvents *struct {
			Rows []struct {
				ID, Camera, Kind, Timeline string
				Start                      int64
				SnapshotWidth              int
			}
			All   string
			Width int
		} `json:"homeEvents"`
		Errors []string `json:"errors"`
	}
	browsertest.Run(t, 4*time.Minute, "demo.mjs", map[string]string{"DEMO_URL": first, "SECOND_URL": second, "EXPECT_EVENTS": "1"}, &res)
	person := false
	var inboxNewest int64
	for _, e := range res.Events {
		if e.Camera == "front" && strings.Contains(strings.ToLower(e.Labels), "person") && e.Alert && e.SnapshotWidth > 0 {
			person = true
		}
		inboxNewest = max(inboxNewest, e.Start)
	}
	if !person {
		t.Errorf("the demo's inbox shows no person alert with a snapshot: %+v", res.Events)
	}
	demoCheckHome(t, res.Home, d.HouseholdID)
	if he := res.HomeEvents; he == nil || len(he.Rows) == 0 {
		t.Error("home lists no event")
	} else {
		first := he.Rows[0]
		// Home was read after the inbox: its newest is at least as new.
		if first.Start < inboxNewest || first.SnapshotWidth == 0 || first.Kind == "" || first.Kind == "Alert" {
			t.Errorf("home's first event %+v: want the newest (the inbox's started at %d) with its snapshot and what it was", first, inboxNewest)
		}
		for i := 1; i < len(he.Rows); i++ {
			if he.Rows[i].Start > he.Rows[i-1].Start {
				t.Errorf("home's events are not newest first: %+v", he.Rows)
				break
			}
		}
		if len(he.Rows) > 6 {
			t.Errorf("home lists %d events, want at most 6", len(he.Rows))
		}
		if want := "/h/" + d.HouseholdID + "/cam/" + first.Camera + "?event=" + first.ID; first.Timeline != want {
			t.Errorf("home's event opens %q, want %q", first.Timeline, want)
		}
		if he.All != "/h/"+d.HouseholdID+"/events" {
			t.Errorf("home's \"See all events\" goes to %q", he.All)
		}
		if he.Width > 390 {
			t.Errorf("home with its events is %d px wide on a 390 px screen", he.Width)
		}
	}
	t.Logf("enrolled after %d ms, live after %d ms (first frame %d ms after the view opened), %d segments, %d timeline ranges",
		res.EnrolledMs, res.LiveMs, res.FirstFrameMs, res.Segments, res.Timeline)
	if res.Household != d.HouseholdID {
		t.Errorf("browser opened household %q, the demo's is %q", res.Household, d.HouseholdID)
	}
	demoCheckShots(t, res.Shots)
	if res.Segments < 3 {
		t.Errorf("%d recordings listed, want the timeline filling (>= 3)", res.Segments)
	}
	if res.Timeline < 1 {
		t.Error("the camera's timeline shows no recorded range")
	}
	if res.Reused == nil || !*res.Reused {
		t.Error("a second link did not bring the enrolled browser back to the demo household")
	}
	if len(res.Errors) > 0 {
		t.Errorf("page errors: %q", res.Errors)
	}

	// The link is single-use: the browser used it; nobody can again.
	frag, _ := url.ParseQuery(strings.SplitN(first, "#", 2)[1])
	resp, err := http.Post(d.CloudURL+"/v1/sessions/link", "application/json", strings.NewReader(`{"token":"`+frag.Get("t")+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("reusing a sign-in link: status %d, want 401", resp.StatusCode)
	}
	hh := d.HouseholdID
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart: same household, the hub is not paired again, a fresh link
	// signs in.
	progress.Reset()
	d2, err := cli.StartDemo(ctx, cli.DemoOptions{Data: dir, Listen: "127.0.0.1:0", Argon2: testArgon,
		Logger: vigiltest.Logger(t), Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if d2.HouseholdID != hh {
		t.Errorf("after a restart the household is %q, was %q", d2.HouseholdID, hh)
	}
	if strings.Contains(progress.String(), "created") || strings.Contains(progress.String(), "paired") {
		t.Errorf("a restart created or paired again:\n%s", progress.String())
	}
	again, err := d2.SignInURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	frag, _ = url.ParseQuery(strings.SplitN(again, "#", 2)[1])
	resp, err = http.Post(d2.CloudURL+"/v1/sessions/link", "application/json", strings.NewReader(`{"token":"`+frag.Get("t")+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var sess struct {
		CSRF string `json:"csrf"`
	}
	json.NewDecoder(resp.Body).Decode(&sess)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || sess.CSRF == "" || len(resp.Cookies()) == 0 {
		t.Errorf("fresh link after a restart: status %d, csrf set %v, cookies %d", resp.StatusCode, sess.CSRF != "", len(resp.Cookies()))
	}
}

// demoHome is what demo.mjs reads on home (checkHome).
type demoHome struct {
	Cams []struct {
		Camera, Open, Status, Time string
		Live, TimeAdvanced         bool
		SkewMs                     float64
	}
	Fullscreen bool
	Widths     map[string]int
}

// demoCheckHome: every camera of the demo plays on home with the time on
// its picture now and turning, one tap from its page; the full-screen
// button works; the page fits phones.
func demoCheckHome(t *testing.T, h demoHome, hh string) {
	t.Helper()
	if len(h.Cams) != 1 || h.Cams[0].Camera != "front" {
		t.Errorf("home shows cameras %+v, want the demo's one camera, front", h.Cams)
	}
	for _, c := range h.Cams {
		if !c.Live || c.Status != "Live" {
			t.Errorf("camera %s on home: live %v, status %q", c.Camera, c.Live, c.Status)
		}
		if !c.TimeAdvanced || c.SkewMs > 3000 {
			t.Errorf("camera %s: the time on the picture %q (%.0f ms from now) is not the current time, turning", c.Camera, c.Time, c.SkewMs)
		}
		if want := "/h/" + hh + "/cam/" + c.Camera; c.Open != want {
			t.Errorf("camera %s opens %q, want %q", c.Camera, c.Open, want)
		}
	}
	if !h.Fullscreen {
		t.Error("the full-screen button did not put the picture with its time full screen")
	}
	for _, w := range []int{360, 390, 430} {
		got, ok := h.Widths[strconv.Itoa(w)]
		if !ok || got > w {
			t.Errorf("home is %d px wide on a %d px screen", got, w)
		}
	}
}

// demoCheckShots: two screenshots of the live video a second apart are
// not black and differ.
func demoCheckShots(t *testing.T, shots []string) {
	t.Helper()
	if len(shots) != 2 {
		t.Fatalf("%d screenshots, want 2", len(shots))
	}
	var imgs []image.Image
	for _, p := range shots {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		imgs = append(imgs, img)
	}
	for i, img := range imgs {
		if m := demoMeanLuma(img); m < 10 {
			t.Errorf("screenshot %d is black (mean luma %.1f)", i+1, m)
		}
	}
	if d := demoDiffFraction(imgs[0], imgs[1]); d < 0.001 {
		t.Errorf("screenshots a second apart are the same (%.4f of pixels differ): the video is not live", d)
	}
}

func demoMeanLuma(img image.Image) float64 {
	b := img.Bounds()
	var sum, n float64
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			sum += (0.299*float64(r) + 0.587*float64(g) + 0.114*float64(bl)) / 257
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

func demoDiffFraction(a, b image.Image) float64 {
	ab, bb := a.Bounds(), b.Bounds()
	w, h := min(ab.Dx(), bb.Dx()), min(ab.Dy(), bb.Dy())
	var diff, n float64
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			r1, g1, b1, _ := a.At(ab.Min.X+x, ab.Min.Y+y).RGBA()
			r2, g2, b2, _ := b.At(bb.Min.X+x, bb.Min.Y+y).RGBA()
			if demoAbsDiff(r1, r2)+demoAbsDiff(g1, g2)+demoAbsDiff(b1, b2) > 3*16*257 {
				diff++
			}
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return diff / n
}

func demoAbsDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// TestDemoClockMeasure: with the clock camera, web/test/measure.mjs (what
// 'vigil bench web' runs) reads the time burned into the frames the browser
// presents, and times a click to the first live frame. Only that the
// measurement works is asserted; the numbers are logged.
func TestDemoClockMeasure(t *testing.T) {
	ctx := context.Background()
	d, err := cli.StartDemo(ctx, cli.DemoOptions{Data: t.TempDir(), Listen: "127.0.0.1:0", Clock: true, Argon2: testArgon,
		Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	u, err := d.SignInURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var m bench.WebMeasurement
	browsertest.Run(t, 3*time.Minute, "measure.mjs", map[string]string{"DEMO_URL": u, "RUNS": "2", "FRAMES": "30"}, &m)
	p := func(v *float64) float64 {
		if v == nil {
			return -1
		}
		return *v
	}
	t.Logf("first live frame %v ms; glass-to-glass p50 %.0f ms p95 %.0f ms over %d frames (%d unreadable, video %s); seek %v ms %s",
		m.FirstFrameMs, p(m.G2G.P50), p(m.G2G.P95), m.G2G.N, m.DecodeFailures, m.Video, m.SeekMs, m.SeekNote)
	if len(m.FirstFrameMs) != 2 {
		t.Errorf("%d first-frame times, want 2", len(m.FirstFrameMs))
	}
	if m.G2G.N < 30 {
		t.Errorf("the time was read from %d frames, want 30", m.G2G.N)
	}
	// The browser's clock (performance.timeOrigin + now) may stray from the
	// system clock by a few milliseconds; far earlier means a misread pattern.
	if m.G2G.Min != nil && *m.G2G.Min < -100 {
		t.Errorf("a frame was shown %.0f ms before the time drawn in it: the clock pattern is misread", -*m.G2G.Min)
	}
}
