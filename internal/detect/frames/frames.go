// Package frames decodes a camera's frames for detection: an ffmpeg
// subprocess reads the camera's RTSP stream (or a file), scales it to a
// small fixed size at a low rate (default 320 pixels wide, 5 fps) and writes
// raw RGB frames to a pipe that a Reader cuts into detect.RGB images.
//
// frames owns the decoding process of one camera: its command line, its
// restarts with capped exponential backoff when it fails or stalls, its
// clean end when the context is cancelled (the process is killed and waited
// for, never left a zombie), and the CPU time it used. It must never write
// a frame anywhere, log pixels, or log a camera's credentials (ffmpeg's
// messages are logged with the URL's password removed). The pipe's bytes
// are not trusted: a frame is exactly width x height x 3 bytes, sizes are
// bounded before allocation, and a short read is an error that restarts
// the process.
//
// It needs ffmpeg and ffprobe 5.0 or later (for RTSP, -timeout is the socket
// timeout; -fps_mode exists). Decoding vtest.avi's 768x576 H.264 stream from
// the software camera to 320x240 at 5 fps costs about 4 % of one core
// (BenchmarkRTSPDecode).
//
// Typical use:
//
//	r, err := frames.New(frames.Source{URL: "rtsp://cam/stream", Width: 320, Height: 180, Logger: log})
//	if err != nil { ... }
//	err = r.Run(ctx, func(f *frames.Frame) error {
//		g := f.Gray(grey) // f and f.Img are reused: copy what you keep
//		...
//		return nil
//	})
package frames

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"vigil/internal/detect"
	"vigil/internal/proctail"
)

// Defaults used when the matching Source field is zero.
const (
	DefaultWidth        = 320
	DefaultFPS          = 5
	DefaultMinBackoff   = 500 * time.Millisecond
	DefaultMaxBackoff   = 30 * time.Second
	DefaultStallTimeout = 20 * time.Second
)

// maxSide bounds a frame's side, whatever ffprobe or the caller says.
const maxSide = 8192

// ErrSource is returned by New for a Source that cannot work.
var ErrSource = errors.New("frames: invalid source")

// ErrShortFrame is the error of a decoding run whose pipe ended in the
// middle of a frame.
var ErrShortFrame = errors.New("frames: short frame from ffmpeg")

// Source says what to decode and how.
type Source struct {
	// Name identifies the camera in log lines, e.g. "front". Optional.
	Name string
	// URL is an rtsp:// or rtsps:// URL (read over TCP), another URL ffmpeg
	// understands, or a file path. A file is decoded once; a live source
	// is restarted whenever its stream ends.
	URL string
	// Width and Height are the output frame size. Width 0 means
	// DefaultWidth; Height 0 means the input's aspect ratio, rounded to an
	// even number (found with ffprobe before the first run).
	Width, Height int
	// NativeSize outputs frames at the input's own size (Width and Height
	// must be 0).
	NativeSize bool
	// FPS is the output rate in frames per second (0 means DefaultFPS).
	FPS float64
	// AllFrames outputs every decoded frame, with no rate filter (FPS must
	// be 0). Frame offsets then follow the input's own frame rate.
	AllFrames bool
	// FFmpeg is the ffmpeg binary, a name in PATH or a path; "" means
	// "ffmpeg". ffprobe is looked up next to it.
	FFmpeg string
	// Threads is ffmpeg's -threads for decoding and filtering. 0 means 1.
	Threads int
	// MinBackoff and MaxBackoff bound the wait before a restart, which
	// doubles after every failed run and returns to MinBackoff after a run
	// that delivered frames. 0 means the defaults.
	MinBackoff, MaxBackoff time.Duration
	// MaxRestarts ends Run with the last error after this many restarts in
	// a row without a frame. 0 means never give up.
	MaxRestarts int
	// StallTimeout kills a run that delivers no frame for this long
	// (including the connection). 0 means DefaultStallTimeout.
	StallTimeout time.Duration
	// Logger receives restarts and ffmpeg's errors; nil discards them.
	Logger *slog.Logger
}

// Frame is one decoded frame. A Reader reuses the Frame and its image for
// the next one: the callback must copy what it keeps.
type Frame struct {
	// Index counts the frames this Reader delivered, from 0, across
	// restarts. For a file it is the frame's position in decode order
	// (every frame with AllFrames, else every frame the rate filter kept).
	Index int64
	// Offset is the frame's time since the start: Index/FPS for a file,
	// the time it was read since Run started for a live source.
	Offset time.Duration
	// Time is the wall-clock time of the frame: when it was read for a
	// live source, Run's start plus Offset for a file.
	Time time.Time
	// Img is the frame, Width x Height RGB.
	Img *detect.RGB
}

// Gray converts the frame to grey (BT.601 luma) into dst, which is
// (re)allocated when nil or of another size, and returns it.
func (f *Frame) Gray(dst *detect.Gray) *detect.Gray {
	w, h := f.Img.W, f.Img.H
	if dst == nil || dst.W != w || dst.H != h || len(dst.Pix) != w*h {
		dst = &detect.Gray{W: w, H: h, Pix: make([]byte, w*h)}
	}
	src := f.Img.Pix[:w*h*3]
	for i := range dst.Pix {
		p := src[i*3 : i*3+3 : i*3+3]
		dst.Pix[i] = byte((77*uint32(p[0]) + 150*uint32(p[1]) + 29*uint32(p[2]) + 128) >> 8)
	}
	return dst
}

// Stats reports a Reader's work so far.
type Stats struct {
	Frames    int64     // frames delivered
	Runs      int       // ffmpeg processes started
	Restarts  int       // runs started after a failure
	LastError string    // the last run's failure, "" after a clean run
	Started   time.Time // when Run started
}

// Reader decodes one Source. Create it with New and call Run once. CPU and
// Stats are safe to call from any goroutine while Run runs.
type Reader struct {
	src     Source
	log     *slog.Logger
	ffmpeg  string
	ffprobe string
	live    bool
	w, h    int
	fps     float64 // output rate for offsets; 0 until known (AllFrames)

	mu      sync.Mutex
	pid     int           // running ffmpeg, 0 when none
	cpuDone time.Duration // CPU of finished runs
	stats   Stats
}

// File is a Reader for a whole file decoded once, as benchmarks need: w x h
// output (both 0: the file's own size; h 0: keep the aspect), at fps frames
// per second, or every frame in decode order when fps is 0. Frame indices
// count from 0.
func File(path string, w, h int, fps float64) (*Reader, error) {
	src := Source{URL: path, Width: w, Height: h, FPS: fps, MaxRestarts: 1}
	if fps == 0 {
		src.AllFrames = true
	}
	if w == 0 && h == 0 {
		src.NativeSize = true
	}
	if isLive(path) {
		return nil, fmt.Errorf("%w: %q is not a file", ErrSource, redact(path, path))
	}
	return New(src)
}

// New checks src and finds ffmpeg; it starts nothing.
func New(src Source) (*Reader, error) {
	if src.URL == "" {
		return nil, fmt.Errorf("%w: empty URL", ErrSource)
	}
	if src.Width < 0 || src.Height < 0 || src.Width > maxSide || src.Height > maxSide {
		return nil, fmt.Errorf("%w: size %dx%d (want 0..%d)", ErrSource, src.Width, src.Height, maxSide)
	}
	if src.NativeSize && (src.Width != 0 || src.Height != 0) {
		return nil, fmt.Errorf("%w: NativeSize with a size %dx%d", ErrSource, src.Width, src.Height)
	}
	if src.AllFrames && src.FPS != 0 {
		return nil, fmt.Errorf("%w: AllFrames with FPS %g", ErrSource, src.FPS)
	}
	if src.FPS < 0 || src.FPS > 120 || math.IsNaN(src.FPS) {
		return nil, fmt.Errorf("%w: FPS %g (want 0..120)", ErrSource, src.FPS)
	}
	if src.Threads < 0 || src.Threads > 64 || src.MaxRestarts < 0 || src.MinBackoff < 0 || src.MaxBackoff < 0 || src.StallTimeout < 0 {
		return nil, fmt.Errorf("%w: negative or absurd Threads, MaxRestarts, backoff or stall timeout", ErrSource)
	}
	if src.Width == 0 && !src.NativeSize {
		src.Width = DefaultWidth
	}
	if src.FPS == 0 && !src.AllFrames {
		src.FPS = DefaultFPS
	}
	if src.Threads == 0 {
		src.Threads = 1
	}
	if src.MinBackoff == 0 {
		src.MinBackoff = DefaultMinBackoff
	}
	if src.MaxBackoff == 0 {
		src.MaxBackoff = DefaultMaxBackoff
	}
	src.MaxBackoff = max(src.MaxBackoff, src.MinBackoff)
	if src.StallTimeout == 0 {
		src.StallTimeout = DefaultStallTimeout
	}
	if src.FFmpeg == "" {
		src.FFmpeg = "ffmpeg"
	}
	ff, err := exec.LookPath(src.FFmpeg)
	if err != nil {
		return nil, fmt.Errorf("frames: %w (hint: install ffmpeg, e.g. apt-get install ffmpeg)", err)
	}
	probe := "ffprobe"
	if strings.ContainsRune(src.FFmpeg, filepath.Separator) {
		probe = filepath.Join(filepath.Dir(ff), "ffprobe")
	}
	log := src.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Reader{src: src, ffmpeg: ff, ffprobe: probe, live: isLive(src.URL), w: src.Width, h: src.Height, fps: src.FPS}
	r.log = log.With("camera", src.Name)
	return r, nil
}

// isLive reports whether u is a network URL rather than a file.
func isLive(u string) bool {
	i := strings.Index(u, "://")
	return i > 0 && !strings.HasPrefix(u, "file://")
}

// Size is the output frame size; 0, 0 until known (it may need a probe,
// made by the first run).
func (r *Reader) Size() (w, h int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h == 0 || r.w == 0 {
		return 0, 0
	}
	return r.w, r.h
}

// Stats returns the counters so far.
func (r *Reader) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// CPU is the user plus system CPU time the Reader's ffmpeg processes used:
// finished runs from their exit status, the running one from
// /proc/<pid>/stat (Linux; elsewhere it counts from its exit).
func (r *Reader) CPU() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	total := r.cpuDone
	if r.pid != 0 {
		if d, err := procCPU(r.pid); err == nil {
			total += d
		}
	}
	return total
}

// CPUPercent is cpu as a percentage of one core over wall.
func CPUPercent(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}

// Run decodes until ctx is cancelled (it then returns ctx's error), fn
// returns an error (returned as is), a file ends (nil), or MaxRestarts
// restarts in a row failed (the last failure). A live source is restarted
// whenever its process fails, stalls or ends; a file is retried only while
// it has delivered no frame (a restart would repeat frames). Frames are
// delivered on Run's goroutine.
func (r *Reader) Run(ctx context.Context, fn func(*Frame) error) error {
	start := time.Now()
	r.mu.Lock()
	r.stats.Started = start
	r.mu.Unlock()
	frame := &Frame{}
	backoff := r.src.MinBackoff
	failures := 0
	for {
		got, err := r.run(ctx, start, frame, fn)
		var fe fnError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &fe):
			return fe.err
		case err == nil && !r.live:
			return nil
		case err != nil && !r.live && got > 0:
			return err
		}
		if err == nil {
			err = errors.New("stream ended")
		}
		r.mu.Lock()
		r.stats.LastError = err.Error()
		r.mu.Unlock()
		if got > 0 {
			failures, backoff = 0, r.src.MinBackoff
		}
		failures++
		if r.src.MaxRestarts > 0 && failures > r.src.MaxRestarts {
			return fmt.Errorf("frames: %s: giving up after %d restarts: %w", redact(r.src.URL, r.src.URL), r.src.MaxRestarts, err)
		}
		r.log.Warn("frames: decoder failed, restarting", "err", err, "frames", got, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, r.src.MaxBackoff)
		r.mu.Lock()
		r.stats.Restarts++
		r.mu.Unlock()
	}
}

// fnError marks the callback's error so that Run returns it.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// run is one ffmpeg process: it returns how many frames it delivered and
// why it ended (nil for a clean end of input).
func (r *Reader) run(ctx context.Context, start time.Time, frame *Frame, fn func(*Frame) error) (int64, error) {
	if err := r.probe(ctx); err != nil {
		return 0, err
	}
	if frame.Img == nil {
		img, err := detect.NewRGB(r.w, r.h)
		if err != nil {
			return 0, err
		}
		frame.Img = img
	}
	cmd := exec.Command(r.ffmpeg, r.args()...)
	stderr := proctail.New(4096)
	cmd.Stderr = stderr
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting ffmpeg: %w", err)
	}
	r.mu.Lock()
	r.pid = cmd.Process.Pid
	r.stats.Runs++
	r.mu.Unlock()

	var (
		killMu sync.Mutex
		reason error
	)
	kill := func(why error) {
		killMu.Lock()
		if reason == nil {
			reason = why
		}
		killMu.Unlock()
		_ = cmd.Process.Kill()
	}
	stopCtx := context.AfterFunc(ctx, func() { kill(ctx.Err()) })
	stall := time.AfterFunc(r.src.StallTimeout, func() {
		kill(fmt.Errorf("no frame for %v", r.src.StallTimeout))
	})

	var got int64
	var readErr error
	for {
		n, err := io.ReadFull(out, frame.Img.Pix)
		if err == io.EOF {
			break
		}
		if err != nil {
			if err == io.ErrUnexpectedEOF {
				err = fmt.Errorf("%w: %d of %d bytes", ErrShortFrame, n, len(frame.Img.Pix))
			}
			readErr = err
			break
		}
		stall.Reset(r.src.StallTimeout)
		now := time.Now()
		r.mu.Lock()
		frame.Index = r.stats.Frames
		r.stats.Frames++
		r.mu.Unlock()
		if r.live {
			frame.Time, frame.Offset = now, now.Sub(start)
		} else {
			frame.Offset = time.Duration(float64(frame.Index) / r.fps * float64(time.Second))
			frame.Time = start.Add(frame.Offset)
		}
		got++
		if err := fn(frame); err != nil {
			readErr = fnError{err}
			break
		}
	}
	stall.Stop()
	stopCtx()
	if readErr != nil {
		kill(readErr)
	} else {
		// The pipe ended: the process is exiting; make sure it does.
		t := time.AfterFunc(5*time.Second, func() { kill(errors.New("ffmpeg did not exit after its output ended")) })
		defer t.Stop()
	}
	waitErr := cmd.Wait()
	r.mu.Lock()
	if ps := cmd.ProcessState; ps != nil {
		r.cpuDone += ps.UserTime() + ps.SystemTime()
	}
	r.pid = 0
	r.mu.Unlock()

	killMu.Lock()
	why := reason
	killMu.Unlock()
	switch {
	case readErr != nil:
		if _, ok := readErr.(fnError); ok {
			return got, readErr
		}
		return got, fmt.Errorf("reading frames: %w%s", readErr, r.hint(stderr))
	case why != nil:
		return got, fmt.Errorf("ffmpeg killed: %w%s", why, r.hint(stderr))
	case waitErr != nil:
		return got, fmt.Errorf("ffmpeg: %w%s", waitErr, r.hint(stderr))
	}
	return got, nil
}

// hint is ffmpeg's last error line, without the URL's password.
func (r *Reader) hint(t *proctail.Buffer) string {
	s := strings.TrimSpace(t.String())
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return ""
	}
	return ": " + redact(s, r.src.URL)
}

// args is ffmpeg's command line.
func (r *Reader) args() []string {
	th := strconv.Itoa(r.src.Threads)
	a := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-threads", th}
	if strings.HasPrefix(r.src.URL, "rtsp://") || strings.HasPrefix(r.src.URL, "rtsps://") {
		a = append(a, "-rtsp_transport", "tcp", "-timeout", strconv.FormatInt(r.src.StallTimeout.Microseconds(), 10), "-analyzeduration", "500000", "-probesize", "500000")
	}
	in := r.src.URL
	if !r.live && strings.HasPrefix(in, "-") {
		in = "file:" + in
	}
	a = append(a, "-i", in, "-an", "-sn", "-dn", "-map", "0:v:0")
	var vf []string
	if r.src.AllFrames {
		a = append(a, "-fps_mode", "passthrough")
	} else {
		vf = append(vf, "fps="+strconv.FormatFloat(r.src.FPS, 'g', -1, 64))
	}
	if !r.src.NativeSize {
		vf = append(vf, fmt.Sprintf("scale=%d:%d:flags=area", r.w, r.h))
	}
	if len(vf) > 0 {
		a = append(a, "-vf", strings.Join(vf, ","))
	}
	return append(a, "-filter_threads", th, "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1")
}

// probe finds what the command line needs from the input (its size for
// an unset height or native size, its rate for every-frame offsets) once.
func (r *Reader) probe(ctx context.Context) error {
	r.mu.Lock()
	need := r.h == 0 || r.w == 0 || r.fps == 0
	r.mu.Unlock()
	if !need {
		return nil
	}
	pctx, cancel := context.WithTimeout(ctx, r.src.StallTimeout)
	defer cancel()
	args := []string{"-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height,avg_frame_rate,r_frame_rate", "-of", "json"}
	if strings.HasPrefix(r.src.URL, "rtsp://") || strings.HasPrefix(r.src.URL, "rtsps://") {
		args = append(args, "-rtsp_transport", "tcp")
	}
	in := r.src.URL
	if !r.live && strings.HasPrefix(in, "-") {
		in = "file:" + in
	}
	cmd := exec.CommandContext(pctx, r.ffprobe, append(args, in)...)
	var out bytes.Buffer
	stderr := proctail.New(4096)
	cmd.Stdout = &limited{w: &out, n: 64 << 10}
	cmd.Stderr = stderr
	err := cmd.Run()
	if ps := cmd.ProcessState; ps != nil {
		r.mu.Lock()
		r.cpuDone += ps.UserTime() + ps.SystemTime()
		r.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("ffprobe: %w%s", err, r.hint(stderr))
	}
	p, err := parseProbe(out.Bytes())
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.src.NativeSize {
		r.w, r.h = p.Width, p.Height
	} else if r.h == 0 {
		r.h = max(2, int(math.Round(float64(r.w)*float64(p.Height)/float64(p.Width)/2))*2)
	}
	if r.fps == 0 {
		r.fps = p.FPS
	}
	if _, err := detect.NewRGB(r.w, r.h); err != nil {
		return err
	}
	return nil
}

// probed is what parseProbe extracts from ffprobe's JSON.
type probed struct {
	Width, Height int
	FPS           float64
}

// parseProbe reads ffprobe's JSON for the first video stream. Values are
// checked: a size within maxSide, a rate within (0, 1000] fps.
func parseProbe(b []byte) (probed, error) {
	var v struct {
		Streams []struct {
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			AvgFrameRate string `json:"avg_frame_rate"`
			RFrameRate   string `json:"r_frame_rate"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return probed{}, fmt.Errorf("ffprobe output: %w", err)
	}
	if len(v.Streams) == 0 {
		return probed{}, errors.New("ffprobe: no video stream")
	}
	s := v.Streams[0]
	if s.Width <= 0 || s.Height <= 0 || s.Width > maxSide || s.Height > maxSide {
		return probed{}, fmt.Errorf("ffprobe: video size %dx%d out of range", s.Width, s.Height)
	}
	p := probed{Width: s.Width, Height: s.Height}
	for _, r := range []string{s.AvgFrameRate, s.RFrameRate} {
		if f, ok := parseRate(r); ok {
			p.FPS = f
			break
		}
	}
	if p.FPS == 0 {
		return probed{}, fmt.Errorf("ffprobe: no usable frame rate (%.20q, %.20q)", s.AvgFrameRate, s.RFrameRate)
	}
	return p, nil
}

// parseRate parses "num/den" or a number into a rate in (0, 1000].
func parseRate(s string) (float64, bool) {
	num, den, frac := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, false
	}
	d := 1.0
	if frac {
		if d, err = strconv.ParseFloat(den, 64); err != nil || d == 0 {
			return 0, false
		}
	}
	f := n / d
	if !(f > 0 && f <= 1000) {
		return 0, false
	}
	return f, true
}

// procCPU reads a process's user+system time from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return 0, err
	}
	return parseStat(b)
}

// clockTick is USER_HZ, the unit of /proc's CPU times on Linux.
const clockTick = 100

// parseStat extracts utime+stime (fields 14 and 15) from a /proc/<pid>/stat
// line. The command name (field 2) may hold spaces and parentheses, so
// fields are counted after its last ')'.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("proc stat: too few fields")
	}
	var ticks uint64
	for _, s := range f[11:13] {
		v, err := strconv.ParseUint(s, 10, 40)
		if err != nil {
			return 0, fmt.Errorf("proc stat: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * (time.Second / clockTick), nil
}

// redact removes the password of u (a URL) from s.
func redact(s, u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return s
	}
	if pw, ok := p.User.Password(); ok && pw != "" {
		s = strings.ReplaceAll(s, pw, "xxxxx")
		if e := url.PathEscape(pw); e != pw {
			s = strings.ReplaceAll(s, e, "xxxxx")
		}
		if e := url.QueryEscape(pw); e != pw {
			s = strings.ReplaceAll(s, e, "xxxxx")
		}
	}
	return s
}

// limited writes at most n bytes to w and drops the rest.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	k := min(len(p), l.n)
	if k > 0 {
		if _, err := l.w.Write(p[:k]); err != nil {
			return 0, err
		}
		l.n -= k
	}
	return len(p), nil
}
