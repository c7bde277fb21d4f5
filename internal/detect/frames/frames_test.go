package frames

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"vigil/internal/detect"
	"vigil/internal/softcam"
	"vigil/internal/vigiltest"
)

const vtest = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"

func needFootage(t testing.TB) {
	t.Helper()
	vigiltest.RequireTool(t, "ffmpeg", "ffmpeg")
	vigiltest.RequireTool(t, "ffprobe", "ffmpeg")
	if _, err := os.Stat(vtest); err != nil {
		t.Fatalf("%v: install opencv-doc (apt-get install opencv-doc)", err)
	}
}

func hash(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// collect runs r to its end and checks every frame's order and size.
type collect struct {
	t       testing.TB
	n       int
	w, h    int
	hashes  map[uint64]bool
	lastIdx int64
	lastOff time.Duration
	lastT   time.Time
	first   []time.Duration // offsets of the first frames
}

func (c *collect) frame(f *Frame) error {
	if f.Img.W != c.w || f.Img.H != c.h || len(f.Img.Pix) != c.w*c.h*3 {
		c.t.Errorf("frame %d: %dx%d, %d bytes; want %dx%d", f.Index, f.Img.W, f.Img.H, len(f.Img.Pix), c.w, c.h)
	}
	if f.Index != int64(c.n) {
		c.t.Errorf("frame %d has index %d", c.n, f.Index)
	}
	if c.n > 0 && (f.Offset <= c.lastOff || !f.Time.After(c.lastT)) {
		c.t.Errorf("frame %d: offset %v time %v not after %v %v", f.Index, f.Offset, f.Time, c.lastOff, c.lastT)
	}
	if len(c.first) < 20 {
		c.first = append(c.first, f.Offset)
	}
	c.lastIdx, c.lastOff, c.lastT = f.Index, f.Offset, f.Time
	c.hashes[hash(f.Img.Pix)] = true
	c.n++
	return nil
}

func TestFileAtFPS(t *testing.T) {
	needFootage(t)
	// Height 0: found from the input's 4:3 aspect.
	r, err := New(Source{URL: vtest, Width: 320, Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c := &collect{t: t, w: 320, h: 240, hashes: map[uint64]bool{}}
	if err := r.Run(context.Background(), c.frame); err != nil {
		t.Fatal(err)
	}
	if w, h := r.Size(); w != 320 || h != 240 {
		t.Errorf("Size = %dx%d, want 320x240", w, h)
	}
	// 79.5 s at 5 fps.
	if c.n < 395 || c.n > 399 {
		t.Errorf("%d frames, want 397 +- 2", c.n)
	}
	if len(c.hashes) < c.n*9/10 {
		t.Errorf("only %d distinct frames of %d", len(c.hashes), c.n)
	}
	if len(c.first) > 10 && c.first[10] != 2*time.Second {
		t.Errorf("frame 10 offset %v, want 2s", c.first[10])
	}
	st := r.Stats()
	if st.Runs != 1 || st.Restarts != 0 || st.Frames != int64(c.n) {
		t.Errorf("stats %+v", st)
	}
	if r.CPU() <= 0 {
		t.Errorf("CPU() = %v after decoding", r.CPU())
	}
	t.Logf("%d frames, ffmpeg CPU %v", c.n, r.CPU())
}

func TestFileEveryFrame(t *testing.T) {
	needFootage(t)
	r, err := File(vtest, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := &collect{t: t, w: 768, h: 576, hashes: map[uint64]bool{}}
	if err := r.Run(context.Background(), c.frame); err != nil {
		t.Fatal(err)
	}
	if c.n != 795 {
		t.Errorf("%d frames, want 795", c.n)
	}
	if len(c.first) > 10 && c.first[10] != time.Second {
		t.Errorf("frame 10 offset %v, want 1s at the file's 10 fps", c.first[10])
	}
	if r.CPU() <= 0 {
		t.Error("no CPU time accounted")
	}
}

func TestMissingSourceRetries(t *testing.T) {
	vigiltest.RequireTool(t, "ffmpeg", "ffmpeg")
	var logs vigiltest.SyncBuffer
	r, err := New(Source{
		URL: filepath.Join(t.TempDir(), "missing.avi"), Width: 64, Height: 48,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, MaxRestarts: 3,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Run(context.Background(), func(*Frame) error { t.Error("a frame from nowhere"); return nil })
	if err == nil || !strings.Contains(err.Error(), "No such file") || !strings.Contains(err.Error(), "giving up after 3 restarts") {
		t.Errorf("Run = %v; want a clear error naming the missing file", err)
	}
	st := r.Stats()
	if st.Runs != 4 || st.Restarts != 3 || !strings.Contains(st.LastError, "No such file") {
		t.Errorf("stats %+v, want 4 runs and 3 restarts", st)
	}
	if n := strings.Count(logs.String(), "restarting"); n != 3 {
		t.Errorf("%d restart log lines, want 3:\n%s", n, logs.String())
	}
	for _, want := range []string{"backoff=5ms", "backoff=10ms", "backoff=20ms"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s (exponential backoff):\n%s", want, logs.String())
		}
	}
}

// fakeFFmpeg writes a shell script standing in for ffmpeg.
func fakeFFmpeg(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ffmpeg")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHostilePipe(t *testing.T) {
	vigiltest.RequireTool(t, "head", "coreutils")
	// 16x16 RGB frames are 768 bytes.
	for _, tc := range []struct {
		name   string
		script string
		frames int
		want   error
		text   string
	}{
		{"exact", "head -c 1536 /dev/urandom", 2, nil, ""},
		{"short", "head -c 2000 /dev/urandom", 2, ErrShortFrame, "464 of 768 bytes"},
		{"exit status", "head -c 768 /dev/urandom; echo 'Invalid data found' >&2; exit 1", 1, nil, "Invalid data found"},
		{"stall", "exec sleep 30", 0, nil, "no frame for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(Source{URL: "clip.avi", Width: 16, Height: 16, FFmpeg: fakeFFmpeg(t, tc.script),
				StallTimeout: 300 * time.Millisecond, MinBackoff: time.Millisecond, MaxRestarts: 1})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			err = r.Run(context.Background(), func(f *Frame) error { n++; return nil })
			if n != tc.frames*r.Stats().Runs {
				t.Errorf("%d frames in %d runs, want %d each", n, r.Stats().Runs, tc.frames)
			}
			switch {
			case tc.want == nil && tc.text == "":
				if err != nil {
					t.Errorf("Run = %v", err)
				}
			case tc.want != nil && !errors.Is(err, tc.want), err == nil || !strings.Contains(err.Error(), tc.text):
				t.Errorf("Run = %v, want %v %q", err, tc.want, tc.text)
			}
		})
	}
	t.Run("callback error", func(t *testing.T) {
		r, err := New(Source{URL: "clip.avi", Width: 16, Height: 16, FFmpeg: fakeFFmpeg(t, "exec cat /dev/zero")})
		if err != nil {
			t.Fatal(err)
		}
		stop := errors.New("enough")
		n := 0
		err = r.Run(context.Background(), func(f *Frame) error {
			if n++; n == 5 {
				return stop
			}
			return nil
		})
		if err != stop || r.Stats().Runs != 1 {
			t.Errorf("Run = %v after %d runs, want the callback's error", err, r.Stats().Runs)
		}
	})
}

// startCam serves vtest over RTSP on a free port. The prepared clip is
// cached in the user's cache directory so that only the first run pays for
// the transcode.
func startCam(t testing.TB) *softcam.Server {
	t.Helper()
	needFootage(t)
	cam := vigiltest.StartSoftcam(t, softcam.Config{Listen: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)})
	return cam
}

func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestRTSP(t *testing.T) {
	cam := startCam(t)
	r, err := New(Source{Name: "front", URL: cam.URL(softcam.DefaultPath), Width: 320, Height: 240,
		MinBackoff: 50 * time.Millisecond, Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &collect{t: t, w: 320, h: 240, hashes: map[uint64]bool{}}
	var pids []int
	killed := false
	start := time.Now()
	err = r.Run(ctx, func(f *Frame) error {
		c.frame(f)
		if c.n == 1 || c.n == 11 {
			t.Logf("frame %d after %v", c.n, time.Since(start).Round(time.Millisecond))
		}
		r.mu.Lock()
		pid := r.pid
		r.mu.Unlock()
		if len(pids) == 0 || pids[len(pids)-1] != pid {
			pids = append(pids, pid)
		}
		switch {
		case c.n == 10 && !killed:
			// A decoder that dies is restarted.
			killed = true
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Error(err)
			}
		case c.n >= 25:
			cancel()
		}
		return nil
	})
	wall := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	st := r.Stats()
	if st.Restarts < 1 || len(pids) < 2 {
		t.Errorf("stats %+v, pids %v: want a restart after the kill", st, pids)
	}
	if len(c.hashes) < c.n*8/10 {
		t.Errorf("only %d distinct frames of %d", len(c.hashes), c.n)
	}
	for _, pid := range pids {
		if !gone(pid) {
			t.Errorf("ffmpeg %d still exists after Run returned", pid)
		}
	}
	if r.CPU() <= 0 {
		t.Error("no CPU time accounted")
	}
	t.Logf("%d frames in %v, %d runs, ffmpeg CPU %v (%.1f%% of a core, including connects)", c.n, wall.Round(time.Millisecond), st.Runs, r.CPU(), CPUPercent(r.CPU(), wall))
}

func TestCancelStopsProcess(t *testing.T) {
	vigiltest.RequireTool(t, "cat", "coreutils")
	r, err := New(Source{URL: "rtsp://camera.invalid/x", Width: 16, Height: 16, FFmpeg: fakeFFmpeg(t, "exec cat /dev/zero")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var pid int
	var once sync.Once
	go func() {
		for r.Stats().Frames < 3 {
			time.Sleep(time.Millisecond)
		}
		r.mu.Lock()
		p := r.pid
		r.mu.Unlock()
		once.Do(func() { pid = p })
		cancel()
	}()
	err = r.Run(ctx, func(*Frame) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
	once.Do(func() {})
	if pid == 0 || !gone(pid) {
		t.Errorf("process %d not gone after cancel", pid)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("/proc/%d still exists (zombie)", pid)
	}
}

func TestFrameGray(t *testing.T) {
	img, _ := detect.NewRGB(2, 1)
	copy(img.Pix, []byte{255, 255, 255, 255, 0, 0})
	g := (&Frame{Img: img}).Gray(nil)
	if g.W != 2 || g.H != 1 || g.Pix[0] != 255 || g.Pix[1] != 77 {
		t.Errorf("Gray = %+v", g)
	}
}

func TestArgs(t *testing.T) {
	vigiltest.RequireTool(t, "ffmpeg", "ffmpeg")
	r, err := New(Source{URL: "rtsp://u:s3cret@cam/x", Width: 320, Height: 180})
	if err != nil {
		t.Fatal(err)
	}
	a := strings.Join(r.args(), " ")
	for _, want := range []string{"-rtsp_transport tcp", "-threads 1", "-vf fps=5,scale=320:180:flags=area", "-pix_fmt rgb24 -f rawvideo pipe:1"} {
		if !strings.Contains(a, want) {
			t.Errorf("args %q lack %q", a, want)
		}
	}
	if got := redact("rtsp://u:s3cret@cam/x: 401", r.src.URL); strings.Contains(got, "s3cret") {
		t.Errorf("redact left the password: %q", got)
	}
	f, err := File("-odd.avi", 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	a = strings.Join(f.args(), " ")
	if !strings.Contains(a, "-i file:-odd.avi") || strings.Contains(a, "fps=") || strings.Contains(a, "scale=") || !strings.Contains(a, "-fps_mode passthrough") {
		t.Errorf("every-frame native args %q", a)
	}
	for _, src := range []Source{{}, {URL: "x", Width: -1}, {URL: "x", FPS: 1000}, {URL: "x", AllFrames: true, FPS: 5}, {URL: "x", NativeSize: true, Width: 3}, {URL: "x", FFmpeg: "/nonexistent/ffmpeg"}} {
		if _, err := New(src); err == nil {
			t.Errorf("New(%+v) accepted", src)
		}
	}
}

var statSeeds = []string{
	"1234 (ffmpeg) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 31 0 0 20 0 3 0 100 1000 10 18446744073709551615",
	"99 (a) b) c) R 1 2 3 4 5 6 7 8 9 10 7 3 0",
	"1 (x) S",
	"",
}

func TestParseStat(t *testing.T) {
	for i, want := range []time.Duration{2810 * time.Millisecond, 100 * time.Millisecond, -1, -1} {
		d, err := parseStat([]byte(statSeeds[i]))
		if want < 0 {
			if err == nil {
				t.Errorf("%q: accepted", statSeeds[i])
			}
			continue
		}
		if err != nil || d != want {
			t.Errorf("%q: %v, %v; want %v", statSeeds[i], d, err, want)
		}
	}
	d, err := procCPU(os.Getpid())
	if err != nil || d < 0 {
		t.Errorf("own CPU: %v, %v", d, err)
	}
}

func FuzzParseStat(f *testing.F) {
	for _, s := range statSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := parseStat(b); err == nil && d < 0 {
			t.Fatalf("negative CPU %v", d)
		}
	})
}

var probeSeeds = []string{
	`{"streams":[{"width":768,"height":576,"avg_frame_rate":"10/1","r_frame_rate":"10/1"}]}`,
	`{"streams":[{"width":320,"height":240,"avg_frame_rate":"0/0","r_frame_rate":"15/1"}]}`,
	`{"streams":[{"width":99999,"height":1,"avg_frame_rate":"1/1"}]}`,
	`{"streams":[{"width":2,"height":2,"avg_frame_rate":"1/0","r_frame_rate":"-5"}]}`,
	`{"streams":[]}`,
	`nope`,
}

func TestParseProbe(t *testing.T) {
	want := []probed{{768, 576, 10}, {320, 240, 15}}
	for i, s := range probeSeeds {
		p, err := parseProbe([]byte(s))
		if i < len(want) {
			if err != nil || p != want[i] {
				t.Errorf("%s: %+v, %v; want %+v", s, p, err, want[i])
			}
		} else if err == nil {
			t.Errorf("%s: accepted as %+v", s, p)
		}
	}
}

func FuzzParseProbe(f *testing.F) {
	for _, s := range probeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseProbe(b)
		if err != nil {
			return
		}
		if p.Width <= 0 || p.Height <= 0 || p.Width > maxSide || p.Height > maxSide || !(p.FPS > 0 && p.FPS <= 1000) {
			t.Fatalf("accepted %+v", p)
		}
	})
}

// BenchmarkRTSPDecode reads one camera's vtest stream from the software
// camera at the default 5 fps and 320x240; one op is one frame. It reports
// ffmpeg's CPU as a percentage of one core (cpu%).
func BenchmarkRTSPDecode(b *testing.B) {
	cam := startCam(b)
	r, err := New(Source{URL: cam.URL(softcam.DefaultPath), Width: 320, Height: 240})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	var cpu0 time.Duration
	var t0 time.Time
	b.ResetTimer()
	err = r.Run(ctx, func(f *Frame) error {
		if n == 0 {
			// Measure from the first frame: connecting is not decoding.
			cpu0, t0 = r.CPU(), time.Now()
		}
		if n++; n > b.N {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
	wall := time.Since(t0)
	b.ReportMetric(CPUPercent(r.CPU()-cpu0, wall), "cpu%")
}

func TestLiveShortFrameRestarts(t *testing.T) {
	vigiltest.RequireTool(t, "head", "coreutils")
	var logs vigiltest.SyncBuffer
	r, err := New(Source{URL: "rtsp://camera.invalid/x", Width: 16, Height: 16, FFmpeg: fakeFFmpeg(t, "head -c 2000 /dev/urandom"),
		MinBackoff: time.Millisecond, MaxRestarts: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var idx []int64
	err = r.Run(ctx, func(f *Frame) error {
		idx = append(idx, f.Index)
		if len(idx) == 6 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v", err)
	}
	// Runs that deliver frames never use up MaxRestarts; indices go on.
	if st := r.Stats(); st.Runs != 3 || st.Restarts != 2 || !strings.Contains(st.LastError, ErrShortFrame.Error()) {
		t.Errorf("stats %+v, want 3 runs ending in short frames", st)
	}
	for i, v := range idx {
		if v != int64(i) {
			t.Errorf("indices %v, want 0..5", idx)
			break
		}
	}
	if !strings.Contains(logs.String(), "464 of 768 bytes") {
		t.Errorf("log lacks the short read:\n%s", logs.String())
	}
}
