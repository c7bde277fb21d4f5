package softcam

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// Clock is a live software camera whose every frame shows the wall-clock
// time it was made, in milliseconds, as a machine-readable pattern (see
// ClockLayout) and as digits, for measuring glass-to-glass latency: the
// viewer's clock when a frame is shown minus the time in the frame.
//
// Frames are drawn in Go when they are due, piped raw into ffmpeg (libx264,
// zerolatency, no B-frames, one IDR a second) which publishes to an RTSP
// server of this package on a random private path; readers play Path.
type Clock struct {
	cfg    ClockConfig
	log    *slog.Logger
	secret string

	mu        sync.RWMutex
	rtsp      *gortsplib.Server
	stream    *gortsplib.ServerStream
	publisher *gortsplib.ServerSession
	published chan struct{}
	once      sync.Once
	addr      string

	cancel context.CancelFunc
	wg     sync.WaitGroup
	cmd    *exec.Cmd
}

// ClockConfig configures a Clock.
type ClockConfig struct {
	Listen string // RTSP host:port ("" is 127.0.0.1:0)
	Path   string // RTSP path ("" is "clock")
	FPS    int    // frames per second (0 is 30)
	// Bitrate of the H.264 stream in kbit/s (0 is 1500).
	Bitrate int
	FFmpeg  string // "" is "ffmpeg"
	Logger  *slog.Logger
}

// Clock frame geometry. The time (Unix milliseconds) is 48 bits, most
// significant first, in ClockRows rows of ClockCols blocks of ClockBlock
// pixels from the top-left corner: white is 1, black is 0. A fourth row
// holds a 16-bit check (ClockCheck). A reader samples the middle of each
// block of the decoded frame at its natural size.
const (
	ClockWidth  = 640
	ClockHeight = 360
	ClockBlock  = 40
	ClockCols   = 16
	ClockRows   = 3
)

// ClockCheck is the check row's value for a time: the three 16-bit words
// of the 48-bit time XORed.
func ClockCheck(ms uint64) uint16 {
	return uint16(ms) ^ uint16(ms>>16) ^ uint16(ms>>32)
}

// NewClock checks cfg and that ffmpeg can encode H.264.
func NewClock(cfg ClockConfig) (*Clock, error) {
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.Path == "" {
		cfg.Path = "clock"
	}
	cfg.Path = strings.Trim(cfg.Path, "/")
	if cfg.FPS <= 0 {
		cfg.FPS = 30
	}
	if cfg.Bitrate <= 0 {
		cfg.Bitrate = 1500
	}
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if _, err := exec.LookPath(cfg.FFmpeg); err != nil {
		return nil, fmt.Errorf("softcam: the clock camera needs ffmpeg with libx264 (hint: sudo apt-get install -y ffmpeg): %w", err)
	}
	b := make([]byte, 12)
	rand.Read(b)
	return &Clock{cfg: cfg, log: cfg.Logger, secret: "publish-" + hex.EncodeToString(b), published: make(chan struct{})}, nil
}

// URL is the rtsp:// URL readers play; valid after Start.
func (c *Clock) URL() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return "rtsp://" + c.addr + "/" + c.cfg.Path
}

// Start listens, starts ffmpeg and the frame generator, and returns once
// ffmpeg publishes (or after 15 s with an error).
func (c *Clock) Start(ctx context.Context) error {
	srv := &gortsplib.Server{Handler: &clockHandler{c}, RTSPAddress: c.cfg.Listen, WriteTimeout: 5 * time.Second}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("softcam: clock: listening on %s: %w", c.cfg.Listen, err)
	}
	c.mu.Lock()
	c.rtsp = srv
	c.addr = srv.NetListener().Addr().String()
	c.mu.Unlock()
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	cmd := exec.CommandContext(runCtx, c.cfg.FFmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", fmt.Sprintf("%dx%d", ClockWidth, ClockHeight),
		"-framerate", fmt.Sprint(c.cfg.FPS), "-i", "pipe:0",
		"-an", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
		"-g", fmt.Sprint(c.cfg.FPS), "-keyint_min", fmt.Sprint(c.cfg.FPS), "-bf", "0",
		"-b:v", fmt.Sprintf("%dk", c.cfg.Bitrate), "-maxrate", fmt.Sprintf("%dk", c.cfg.Bitrate), "-bufsize", fmt.Sprintf("%dk", c.cfg.Bitrate/2),
		"-bsf:v", "dump_extra", "-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://"+c.addr+"/"+c.secret)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		srv.Close()
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		cancel()
		srv.Close()
		return fmt.Errorf("softcam: clock: starting ffmpeg: %w", err)
	}
	c.cmd = cmd
	exited := make(chan error, 1)
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		exited <- cmd.Wait()
	}()
	go func() {
		defer c.wg.Done()
		c.generate(runCtx, stdin)
		stdin.Close()
	}()
	select {
	case <-c.published:
		c.log.Info("softcam: clock camera publishing", "url", c.URL(), "fps", c.cfg.FPS)
		return nil
	case err := <-exited:
		c.Close()
		return fmt.Errorf("softcam: clock: ffmpeg exited (%v): %s", err, strings.TrimSpace(stderr.String()))
	case <-time.After(15 * time.Second):
		c.Close()
		return errors.New("softcam: clock: ffmpeg did not publish within 15 s: " + strings.TrimSpace(stderr.String()))
	case <-ctx.Done():
		c.Close()
		return ctx.Err()
	}
}

// generate writes one frame when each is due, stamped with the time it is
// drawn. A late frame is drawn with the current time, and the frames missed
// while late are dropped (never a burst); two frames never show the same
// millisecond (a frame drawn within the millisecond of the one before
// shows the next).
func (c *Clock) generate(ctx context.Context, w io.Writer) {
	bw := bufio.NewWriterSize(w, ClockWidth*ClockHeight*3/2)
	frame := make([]byte, ClockWidth*ClockHeight*3/2)
	period := time.Second / time.Duration(c.cfg.FPS)
	next := time.Now()
	var last uint64
	for n := 0; ; n++ {
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		} else if ctx.Err() != nil {
			return
		}
		ms := max(uint64(time.Now().UnixMilli()), last+1)
		last = ms
		DrawClockFrame(frame, ms, n)
		if _, err := bw.Write(frame); err != nil {
			return
		}
		if err := bw.Flush(); err != nil {
			return
		}
		next = next.Add(period)
		if now := time.Now(); next.Before(now) {
			next = now
		}
	}
}

// DrawClockFrame draws frame n (YUV 4:2:0, ClockWidth x ClockHeight) showing
// ms: the block code, a check row, the time as digits, and a bar that moves
// every frame.
func DrawClockFrame(f []byte, ms uint64, n int) {
	y := f[:ClockWidth*ClockHeight]
	uv := f[ClockWidth*ClockHeight:]
	for i := range y {
		y[i] = 96
	}
	for i := range uv {
		uv[i] = 128
	}
	rect := func(x0, y0, w, h int, v byte) {
		for yy := max(y0, 0); yy < min(y0+h, ClockHeight); yy++ {
			row := y[yy*ClockWidth:]
			for xx := max(x0, 0); xx < min(x0+w, ClockWidth); xx++ {
				row[xx] = v
			}
		}
	}
	bit := func(row, col int, on bool) {
		v := byte(16)
		if on {
			v = 235
		}
		rect(col*ClockBlock, row*ClockBlock, ClockBlock, ClockBlock, v)
	}
	for i := 0; i < ClockRows*ClockCols; i++ {
		bit(i/ClockCols, i%ClockCols, ms>>(47-i)&1 == 1)
	}
	chk := ClockCheck(ms)
	for i := 0; i < ClockCols; i++ {
		bit(ClockRows, i, chk>>(15-i)&1 == 1)
	}
	// The time of day as seven-segment digits: HH:MM:SS.mmm (UTC).
	t := time.UnixMilli(int64(ms)).UTC()
	text := fmt.Sprintf("%02d:%02d:%02d.%03d", t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1e6)
	x := 40
	for _, ch := range text {
		x += drawDigit(rect, x, 200, ch)
	}
	// A bar sweeping across the bottom.
	rect((n*8)%ClockWidth, 320, 48, 24, 200)
}

// segments of the digits 0-9 (a, b, c, d, e, f, g as bits 0-6).
var sevenSeg = [10]byte{0x3f, 0x06, 0x5b, 0x4f, 0x66, 0x6d, 0x7d, 0x07, 0x7f, 0x6f}

// drawDigit draws one character at (x, y) and returns its advance.
func drawDigit(rect func(x, y, w, h int, v byte), x, y int, ch rune) int {
	const w, h, t = 28, 56, 6
	const on = 235
	switch {
	case ch == ':':
		rect(x+4, y+14, t, t, on)
		rect(x+4, y+h-20, t, t, on)
		return 16
	case ch == '.':
		rect(x+4, y+h-t, t, t, on)
		return 16
	case ch < '0' || ch > '9':
		return w + 8
	}
	s := sevenSeg[ch-'0']
	seg := func(i int, sx, sy, sw, sh int) {
		if s>>i&1 == 1 {
			rect(x+sx, y+sy, sw, sh, on)
		}
	}
	seg(0, 0, 0, w, t)       // a
	seg(1, w-t, 0, t, h/2)   // b
	seg(2, w-t, h/2, t, h/2) // c
	seg(3, 0, h-t, w, t)     // d
	seg(4, 0, h/2, t, h/2)   // e
	seg(5, 0, 0, t, h/2)     // f
	seg(6, 0, h/2-t/2, w, t) // g
	return w + 8
}

// ReadClockFrame decodes the time from a decoded frame's luma plane (at
// least ClockWidth x ClockHeight, stride bytes a row); ok is false when the
// check row does not match.
func ReadClockFrame(luma []byte, stride int) (ms uint64, ok bool) {
	sample := func(row, col int) bool {
		sum, n := 0, 0
		cy, cx := row*ClockBlock+ClockBlock/2, col*ClockBlock+ClockBlock/2
		for yy := cy - 8; yy < cy+8; yy++ {
			for xx := cx - 8; xx < cx+8; xx++ {
				sum += int(luma[yy*stride+xx])
				n++
			}
		}
		return sum/n > 125
	}
	for i := 0; i < ClockRows*ClockCols; i++ {
		ms <<= 1
		if sample(i/ClockCols, i%ClockCols) {
			ms |= 1
		}
	}
	var chk uint16
	for i := 0; i < ClockCols; i++ {
		chk <<= 1
		if sample(ClockRows, i) {
			chk |= 1
		}
	}
	return ms, chk == ClockCheck(ms)
}

// Close stops ffmpeg and the server.
func (c *Clock) Close() error {
	c.once.Do(func() {
		if c.cancel != nil {
			c.cancel()
		}
		c.wg.Wait()
		c.mu.Lock()
		srv := c.rtsp
		st := c.stream
		c.stream = nil
		c.mu.Unlock()
		if st != nil {
			st.Close()
		}
		if srv != nil {
			srv.Close()
		}
	})
	return nil
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// clockHandler accepts one publisher (ffmpeg, on the secret path) and any
// number of readers on the public path.
type clockHandler struct{ c *Clock }

func (h *clockHandler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	c := h.c
	if strings.Trim(ctx.Path, "/") != c.secret {
		return &base.Response{StatusCode: base.StatusForbidden}, errors.New("publishing is not allowed")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stream != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, errors.New("already publishing")
	}
	st := &gortsplib.ServerStream{Server: c.rtsp, Desc: ctx.Description}
	if err := st.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, err
	}
	c.stream, c.publisher = st, ctx.Session
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *clockHandler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	c := h.c
	if ctx.Session != c.publisher {
		return &base.Response{StatusCode: base.StatusForbidden}, errors.New("not the publisher")
	}
	ctx.Session.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		c.mu.RLock()
		st := c.stream
		c.mu.RUnlock()
		if st != nil {
			st.WritePacketRTP(m, pkt)
		}
	})
	h.c.once2()
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (c *Clock) once2() {
	select {
	case <-c.published:
	default:
		close(c.published)
	}
}

func (h *clockHandler) readable(path string) (*gortsplib.ServerStream, bool) {
	c := h.c
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.stream, strings.Trim(path, "/") == c.cfg.Path && c.stream != nil
}

func (h *clockHandler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	st, ok := h.readable(ctx.Path)
	if !ok {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, errors.New("no such path")
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

func (h *clockHandler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		if ctx.Session != h.c.publisher {
			return &base.Response{StatusCode: base.StatusForbidden}, nil, errors.New("not the publisher")
		}
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	st, ok := h.readable(ctx.Path)
	if !ok {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, errors.New("no such path")
	}
	return &base.Response{StatusCode: base.StatusOK}, st, nil
}

func (h *clockHandler) OnPlay(ctx *gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *clockHandler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	c := h.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctx.Session == c.publisher && c.stream != nil {
		c.stream.Close()
		c.stream, c.publisher = nil, nil
	}
}

func (h *clockHandler) OnStreamWriteError(*gortsplib.ServerHandlerOnStreamWriteErrorCtx) {}
