package softcam

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
)

// Compile-time checks that handler implements the callbacks gortsplib
// looks for (a typo in a method name would silently disable it).
func TestHandlerInterfaces(t *testing.T) {
	var h any = &handler{}
	for name, ok := range map[string]bool{
		"OnDescribe":         is[gortsplib.ServerHandlerOnDescribe](h),
		"OnSetup":            is[gortsplib.ServerHandlerOnSetup](h),
		"OnPlay":             is[gortsplib.ServerHandlerOnPlay](h),
		"OnSessionClose":     is[gortsplib.ServerHandlerOnSessionClose](h),
		"OnStreamWriteError": is[gortsplib.ServerHandlerOnStreamWriteError](h),
		"OnConnClose":        is[gortsplib.ServerHandlerOnConnClose](h),
		"OnDecodeError":      is[gortsplib.ServerHandlerOnDecodeError](h),
	} {
		if !ok {
			t.Errorf("handler does not implement %s", name)
		}
	}
}

func is[T any](v any) bool { _, ok := v.(T); return ok }

// testLogger routes slog to t.Logf.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func needFFmpeg(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (hint: apt-get install ffmpeg)", bin)
		}
	}
}

func needVtest(t testing.TB) {
	t.Helper()
	needFFmpeg(t)
	if _, err := os.Stat(DefaultFile); err != nil {
		t.Skipf("%s missing (hint: apt-get install opencv-doc)", DefaultFile)
	}
}

// makeClip writes a synthetic clip with ffmpeg's testsrc.
func makeClip(t testing.TB, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("ffmpeg", append(append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, args...), out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	return out
}

func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type ffprobeStream struct {
	CodecName    string `json:"codec_name"`
	Profile      string `json:"profile"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	RFrameRate   string `json:"r_frame_rate"`
	NbReadFrames string `json:"nb_read_frames"`
	HasBFrames   int    `json:"has_b_frames"`
}

func ffprobeFile(t testing.TB, file string) ffprobeStream {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,profile,width,height,r_frame_rate,nb_read_frames,has_b_frames",
		"-of", "json", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var res struct{ Streams []ffprobeStream }
	if err := json.Unmarshal(out, &res); err != nil || len(res.Streams) != 1 {
		t.Fatalf("ffprobe %s: %v %s", file, err, out)
	}
	return res.Streams[0]
}

// readResult is what a client saw.
type readResult struct {
	frames      int // access units decoded from RTP
	decodable   int // access units from the first IDR on
	idrs        int
	idrNoParams int // IDR access units without in-band SPS+PPS
	sdpParams   bool
	tsNotRising int     // consecutive access units whose timestamp did not increase
	deltas      []int64 // timestamp deltas between consecutive access units
	packetsLost uint64  // reported by the client (UDP)
}

// readFor plays url with a gortsplib client over proto for d.
func readFor(t testing.TB, url string, proto gortsplib.Protocol, d time.Duration) readResult {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var res readResult
	c := &gortsplib.Client{
		Scheme: u.Scheme, Host: u.Host, Protocol: &proto,
		// An IDR frame of vtest is ~100 RTP packets sent back to back:
		// give the UDP socket room for a few, as a real player would.
		UDPReadBufferSize: 1 << 20,
		OnPacketsLost: func(lost uint64) {
			mu.Lock()
			res.packetsLost += lost
			mu.Unlock()
		},
		OnDecodeError: func(err error) { t.Logf("%s: client decode error: %v", url, err) },
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatalf("DESCRIBE %s: %v", url, err)
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil {
		t.Fatalf("%s: no H.264 media in %+v", url, desc)
	}
	dec, err := forma.CreateDecoder()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		t.Fatalf("SETUP %s: %v", url, err)
	}

	res.sdpParams = forma.SPS != nil && forma.PPS != nil
	var lastTS uint32
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		au, err := dec.Decode(pkt)
		if err != nil {
			return // more packets needed, or joined in the middle of a frame
		}
		mu.Lock()
		defer mu.Unlock()
		if res.frames > 0 {
			delta := int64(int32(pkt.Timestamp - lastTS))
			res.deltas = append(res.deltas, delta)
			if delta <= 0 {
				res.tsNotRising++
			}
		}
		lastTS = pkt.Timestamp
		res.frames++
		if h264.IsRandomAccess(au) {
			res.idrs++
			var sps, pps bool
			for _, n := range au {
				switch h264.NALUType(n[0] & 0x1f) {
				case h264.NALUTypeSPS:
					sps = true
				case h264.NALUTypePPS:
					pps = true
				}
			}
			if !sps || !pps {
				res.idrNoParams++
			}
		}
		if res.idrs > 0 {
			res.decodable++
		}
	})
	if _, err := c.Play(nil); err != nil {
		t.Fatalf("PLAY %s: %v", url, err)
	}
	select {
	case <-time.After(d):
	case <-waitErr(c):
		t.Errorf("%s: client stopped early", url)
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	return res
}

func waitErr(c *gortsplib.Client) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- c.Wait() }()
	return ch
}

// closedSession waits for path's first ended session to be reported.
func closedSession(t testing.TB, s *Server, path string) SessionStats {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, ps := range s.Stats() {
			if ps.Path == path && len(ps.ClosedSessions) > 0 {
				return ps.ClosedSessions[0]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("path %s: session never reported closed; stats %+v", path, s.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkRead asserts the behaviour of one read of d at fps.
func checkRead(t testing.TB, name string, r readResult, d time.Duration, fps float64) {
	t.Helper()
	want := d.Seconds() * fps
	t.Logf("%s: %d frames (%d decodable, %d IDR, %d RTP packets lost) in %v, expected ~%.0f",
		name, r.frames, r.decodable, r.idrs, r.packetsLost, d, want)
	if float64(r.frames) < 0.5*want || float64(r.frames) > 1.5*want {
		t.Errorf("%s: got %d frames, want %.0f ±50%%", name, r.frames, want)
	}
	if r.tsNotRising > 0 {
		t.Errorf("%s: %d timestamps did not increase: %v", name, r.tsNotRising, r.deltas)
	}
	if !r.sdpParams {
		t.Errorf("%s: SDP lacks SPS/PPS", name)
	}
	if r.idrs == 0 {
		t.Errorf("%s: no IDR received", name)
	}
	if r.idrNoParams > 0 {
		t.Errorf("%s: %d IDR access units without in-band SPS/PPS", name, r.idrNoParams)
	}
}

// checkStats compares what the client saw with what the server counted.
// The server counts a frame once its packets are queued for the session;
// the client can only see fewer (frames in flight at TEARDOWN, UDP loss,
// or one partial frame at the join counted by the client but not by us).
func checkStats(t testing.TB, name string, r readResult, st SessionStats, proto gortsplib.Protocol) {
	t.Helper()
	t.Logf("%s: client frames=%d decodable=%d; server Frames=%d DecodableFrames=%d DroppedPackets=%d transport=%s",
		name, r.frames, r.decodable, st.Frames, st.DecodableFrames, st.DroppedPackets, st.Transport)
	if st.Transport != proto.String() {
		t.Errorf("%s: server says transport %q, want %q", name, st.Transport, proto)
	}
	const tolerance = 2
	if d := int(st.Frames) - r.frames; d < -1 || d > tolerance {
		t.Errorf("%s: server Frames=%d, client got %d", name, st.Frames, r.frames)
	}
	if d := int(st.DecodableFrames) - r.decodable; d < 0 || d > tolerance {
		t.Errorf("%s: server DecodableFrames=%d, client got %d from its first IDR", name, st.DecodableFrames, r.decodable)
	}
}

// TestVtest prepares the default footage once and streams it.
func TestVtest(t *testing.T) {
	needVtest(t)
	cache := t.TempDir()
	log := testLogger(t)

	var first *Server
	t.Run("prepare", func(t *testing.T) {
		s, err := New(Config{CacheDir: cache, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		if s.ffmpegRuns != 1 {
			t.Errorf("ffmpeg runs = %d, want 1", s.ffmpegRuns)
		}
		p := ffprobeFile(t, s.cacheFile)
		if p.CodecName != "h264" || p.Width != 768 || p.Height != 576 || p.RFrameRate != "10/1" || p.NbReadFrames != "795" || p.HasBFrames != 0 {
			t.Errorf("prepared clip: %+v, want h264 768x576 10/1 fps, 795 frames, no B-frames", p)
		}
		info := s.Info()
		want := MediaInfo{Codec: "H264", Width: 768, Height: 576, FPS: 10, Frames: 795, Duration: 79500 * time.Millisecond, GOP: 20}
		if info != want {
			t.Errorf("Info() = %+v, want %+v", info, want)
		}
		first = s
	})
	if first == nil {
		t.FailNow()
	}

	t.Run("cached", func(t *testing.T) {
		var buf bytes.Buffer
		s, err := New(Config{CacheDir: cache, Logger: slog.New(slog.NewTextHandler(&buf, nil)), FFmpeg: "/nonexistent/ffmpeg"})
		if err != nil {
			t.Fatal(err)
		}
		if s.ffmpegRuns != 0 || s.cacheFile != first.cacheFile {
			t.Errorf("second New: ffmpeg runs %d, cache %s vs %s", s.ffmpegRuns, s.cacheFile, first.cacheFile)
		}
		if !strings.Contains(buf.String(), "from cache") {
			t.Errorf("log does not mention the cache:\n%s", buf.String())
		}
		if s.Info() != first.Info() {
			t.Errorf("Info differs: %+v vs %+v", s.Info(), first.Info())
		}
	})

	s := startServer(t, Config{
		CacheDir: cache, UDP: true,
		Paths: []string{"tcp", "udp", "multi/1", "multi/2", "multi/3", "hostile"},
	})
	if s.ffmpegRuns != 0 {
		t.Errorf("ffmpeg ran again")
	}
	fps := s.Info().FPS
	const d = 3 * time.Second

	t.Run("streams", func(t *testing.T) {
		for _, tc := range []struct {
			path  string
			proto gortsplib.Protocol
		}{
			{"tcp", gortsplib.ProtocolTCP},
			{"udp", gortsplib.ProtocolUDP},
			{"multi/1", gortsplib.ProtocolTCP},
			{"multi/2", gortsplib.ProtocolUDP},
			{"multi/3", gortsplib.ProtocolTCP},
		} {
			t.Run(strings.ReplaceAll(tc.path, "/", "_"), func(t *testing.T) {
				t.Parallel()
				r := readFor(t, s.URL(tc.path), tc.proto, d)
				checkRead(t, tc.path, r, d, fps)
				checkStats(t, tc.path, r, closedSession(t, s, tc.path), tc.proto)
			})
		}
		t.Run("hostile", func(t *testing.T) {
			t.Parallel()
			testHostile(t, s, "hostile", d, fps)
		})
	})

	t.Run("stats", func(t *testing.T) {
		// A client that stopped reading is only noticed when the server's
		// write to it times out; give sessions that long to close.
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			open := 0
			for _, ps := range s.Stats() {
				open += len(ps.Sessions)
			}
			if open == 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		for _, ps := range s.Stats() {
			if ps.FramesSent < uint64(fps*d.Seconds()*0.5) {
				t.Errorf("%s: FramesSent=%d", ps.Path, ps.FramesSent)
			}
			if len(ps.Sessions) != 0 {
				t.Errorf("%s: sessions still open: %+v", ps.Path, ps.Sessions)
			}
		}
	})

	t.Run("unknown path", func(t *testing.T) {
		u, _ := base.ParseURL(s.URL("nope"))
		c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, res, err := c.Describe(u); err == nil || res == nil || res.StatusCode != base.StatusNotFound {
			t.Errorf("DESCRIBE unknown path: res %v, err %v; want 404", res, err)
		}
	})
}

// testHostile streams path to a well-behaved client while other clients
// send garbage, hang mid-request, and play without ever reading.
func testHostile(t *testing.T, s *Server, path string, d time.Duration, fps float64) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Error(err)
			return nil
		}
		context.AfterFunc(ctx, func() { c.Close() })
		return c
	}
	hostile := func(name string, f func(c net.Conn)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c := dial(); c != nil {
				f(c)
			}
		}()
	}

	// The point is misbehaviour, not a flood: rates are kept modest so a
	// small CI machine is not simply starved of CPU.
	//
	// Random bytes on fresh connections.
	hostile("garbage", func(c net.Conn) {
		buf := make([]byte, 4<<10)
		for ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
			rand.Read(buf)
			if _, err := c.Write(buf); err != nil {
				c.Close()
				if c = dial(); c == nil {
					return
				}
			}
		}
	})
	// Requests that look almost right.
	hostile("malformed", func(c net.Conn) {
		reqs := []string{
			"DESCRIBE rtsp://x/" + path + " RTSP/1.0\r\nCSeq: nope\r\n\r\n",
			"SETUP rtsp://x/" + path + "/trackID=99 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;interleaved=0-1\r\n\r\n",
			"PLAY rtsp://x/" + path + " RTSP/1.0\r\nCSeq: 2\r\nSession: 12345\r\n\r\n",
			"ANNOUNCE rtsp://x/" + path + " RTSP/1.0\r\nCSeq: 3\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n",
			"OPTIONS * RTSP/1.0\r\nCSeq: 4\r\nX-Long: " + strings.Repeat("a", 64<<10) + "\r\n\r\n",
			"$\x00\xff\xff" + strings.Repeat("\x00", 100),
		}
		for ctx.Err() == nil {
			for _, r := range reqs {
				if _, err := io.WriteString(c, r); err != nil {
					c.Close()
					if c = dial(); c == nil {
						return
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	// Half a request, then silence.
	hostile("slowloris", func(c net.Conn) {
		io.WriteString(c, "DESCRIBE rtsp://x/"+path+" RTSP/1.0\r\nCSeq: 1\r\n")
		<-ctx.Done()
	})
	// A player that never reads what it asked for.
	var stalledOK bool
	hostile("stalled", func(c net.Conn) {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096)
		}
		session, err := rawPlay(c, s.URL(path))
		if err != nil {
			t.Errorf("stalled client: %v", err)
			return
		}
		stalledOK = session != ""
		<-ctx.Done() // never read again
	})

	time.Sleep(200 * time.Millisecond) // let the hostiles get going
	r := readFor(t, s.URL(path), gortsplib.ProtocolTCP, d)
	checkRead(t, "well-behaved client next to hostile ones", r, d, fps)

	for _, ps := range s.Stats() {
		if ps.Path == path {
			t.Logf("hostile path stats: %+v", ps)
		}
	}
	cancel()
	wg.Wait()
	if !stalledOK {
		t.Errorf("stalled client could not set up (test bug?)")
	}

	// The server still serves new clients.
	r = readFor(t, s.URL(path), gortsplib.ProtocolTCP, 500*time.Millisecond)
	if r.frames == 0 {
		t.Errorf("no frames after the hostile clients left")
	}
}

// rawPlay sets up and plays url over TCP interleaved on c by hand, reading
// nothing after the SETUP response, and returns the session ID.
func rawPlay(c net.Conn, url string) (string, error) {
	br := bufio.NewReader(c)
	if _, err := io.WriteString(c, "SETUP "+url+"/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"); err != nil {
		return "", err
	}
	session := ""
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("reading SETUP response: %w", err)
		}
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "Session: "); ok {
			session, _, _ = strings.Cut(v, ";")
		}
		if line == "" {
			break
		}
	}
	if session == "" {
		return "", errors.New("no session in SETUP response")
	}
	_, err := io.WriteString(c, "PLAY "+url+" RTSP/1.0\r\nCSeq: 2\r\nSession: "+session+"\r\n\r\n")
	return session, err
}

func TestLoop(t *testing.T) {
	needFFmpeg(t)
	// 1 s at 10 fps, MPEG-4 Part 2 like vtest.avi, so it is transcoded.
	in := makeClip(t, "short.avi", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "1", "-c:v", "mpeg4")
	s := startServer(t, Config{File: in})
	info := s.Info()
	if info.Frames != 10 || info.FPS != 10 || info.Duration != time.Second || info.Width != 320 || info.Height != 240 {
		t.Fatalf("Info() = %+v", info)
	}
	const d = 2500 * time.Millisecond
	r := readFor(t, s.URL("cam"), gortsplib.ProtocolTCP, d)
	checkRead(t, "loop", r, d, info.FPS)
	if r.frames < 15 {
		t.Fatalf("only %d frames: did not cross a loop boundary", r.frames)
	}
	for i, delta := range r.deltas {
		if delta != 9000 {
			t.Errorf("timestamp delta %d = %d ticks, want 9000 (one frame) everywhere, loop boundaries included", i, delta)
		}
	}
	if r.idrs < 2 {
		t.Errorf("got %d IDR frames across loops, want >= 2", r.idrs)
	}
	checkStats(t, "loop", r, closedSession(t, s, "cam"), gortsplib.ProtocolTCP)
}

func TestH264IsCopied(t *testing.T) {
	needFFmpeg(t)
	// High profile with B-frames: a transcode would give Main without them.
	in := makeClip(t, "in.mp4", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "2",
		"-c:v", "libx264", "-profile:v", "high", "-bf", "2", "-g", "25", "-pix_fmt", "yuv420p")
	cache := t.TempDir()
	s, err := New(Config{File: in, CacheDir: cache, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if s.ffmpegRuns != 1 {
		t.Errorf("ffmpeg runs = %d", s.ffmpegRuns)
	}
	// The elementary streams must be identical, but for the access unit
	// delimiters the MPEG-TS muxer adds.
	es := func(file string) [][]byte {
		out, err := exec.Command("ffmpeg", "-v", "error", "-i", file, "-map", "0:v:0", "-c", "copy",
			"-bsf:v", "h264_mp4toannexb", "-f", "h264", "-").Output()
		if err != nil {
			t.Fatalf("ffmpeg %s: %v", file, err)
		}
		var keep [][]byte
		for _, n := range bytes.Split(out, []byte{0, 0, 1}) {
			n = bytes.TrimRight(n, "\x00") // NALUs never end in a zero byte
			if len(n) > 0 && h264.NALUType(n[0]&0x1f) != h264.NALUTypeAccessUnitDelimiter {
				keep = append(keep, n)
			}
		}
		return keep
	}
	a, b := es(in), es(s.cacheFile)
	if len(a) != len(b) {
		t.Errorf("prepared H.264 has %d NALUs, input %d: transcoded instead of copied?", len(b), len(a))
	} else {
		for i := range a {
			if !bytes.Equal(a[i], b[i]) {
				t.Errorf("NALU %d differs: transcoded instead of copied?", i)
				break
			}
		}
	}
	p := ffprobeFile(t, s.cacheFile)
	if p.Profile != "High" || p.HasBFrames == 0 || p.NbReadFrames != "50" {
		t.Errorf("prepared clip: %+v", p)
	}
	info := s.Info()
	if info.Frames != 50 || info.FPS != 25 || info.Width != 160 || info.Height != 120 || info.GOP != 25 {
		t.Errorf("Info() = %+v", info)
	}
	// Cached: a second New runs nothing.
	s2, err := New(Config{File: in, CacheDir: cache, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if s2.ffmpegRuns != 0 {
		t.Errorf("second New ran ffmpeg")
	}
	// A modified input is prepared again.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(in, later, later); err != nil {
		t.Fatal(err)
	}
	s3, err := New(Config{File: in, CacheDir: cache, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if s3.ffmpegRuns != 1 || s3.cacheFile == s.cacheFile {
		t.Errorf("touched input not prepared again: runs %d, %s", s3.ffmpegRuns, s3.cacheFile)
	}

	// B-frames: PTS order differs from DTS order; the stream still plays.
	srv := startServer(t, Config{File: in, CacheDir: cache})
	r := readFor(t, srv.URL("cam"), gortsplib.ProtocolTCP, time.Second)
	if r.frames < 12 || r.idrNoParams > 0 || !r.sdpParams {
		t.Errorf("B-frame clip: %+v", r)
	}
}

// TestRestart simulates a camera outage: Close, then a new Server on the
// same address, while a client is connected.
func TestRestart(t *testing.T) {
	needFFmpeg(t)
	in := makeClip(t, "short.avi", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "2", "-c:v", "mpeg4")
	cache := t.TempDir()
	s1 := startServer(t, Config{File: in, CacheDir: cache})
	addr := s1.Addr()

	c := setUpTCP(t, s1.URL("cam"))
	if _, err := c.Play(nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)

	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waitErr(c):
		t.Logf("client saw the outage: %v", err)
	case <-time.After(5 * time.Second):
		t.Errorf("client did not notice the server closing")
	}
	if ps := s1.Stats(); len(ps) != 1 || len(ps[0].ClosedSessions) != 1 || ps[0].ClosedSessions[0].Frames == 0 {
		t.Errorf("stats after Close: %+v", ps)
	}

	s2 := startServer(t, Config{File: in, CacheDir: cache, Listen: addr})
	if s2.Addr() != addr {
		t.Fatalf("restarted on %s, want %s", s2.Addr(), addr)
	}
	r := readFor(t, s2.URL("cam"), gortsplib.ProtocolTCP, time.Second)
	if r.frames < 5 {
		t.Errorf("after restart: %+v", r)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := s2.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"missing file", Config{File: filepath.Join(dir, "nope.avi")}, []string{"nope.avi", "does not exist"}},
		{"missing ffmpeg", Config{File: writeFile(t, dir, "x.avi"), FFmpeg: filepath.Join(dir, "no-ffmpeg")}, []string{"hint: apt-get install ffmpeg"}},
		{"bad listen", Config{Listen: "8554"}, []string{"Listen"}},
		{"duplicate path", Config{Paths: []string{"a", "/a"}}, []string{"twice"}},
		{"empty path", Config{Paths: []string{"/"}}, []string{"empty path"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.CacheDir = dir
			_, err := New(tc.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	// The hint for the default file, checked without depending on whether
	// it is installed here.
	if _, err := os.Stat(DefaultFile); errors.Is(err, os.ErrNotExist) {
		_, err := New(Config{CacheDir: dir})
		if err == nil || !strings.Contains(err.Error(), "apt-get install opencv-doc") {
			t.Errorf("missing default file: %v", err)
		}
	}
}

func writeFile(t testing.TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("not a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCacheName(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "my video (1).avi")
	fi, _ := os.Stat(p)
	n := cacheName(p, fi)
	if !strings.HasPrefix(n, "my_video__1_-") || !strings.HasSuffix(n, ".ts") {
		t.Errorf("cacheName = %q", n)
	}
	if ffprobeFor("/opt/ff/bin/ffmpeg") != "/opt/ff/bin/ffprobe" || ffprobeFor("ffmpeg") != "ffprobe" || ffprobeFor("ffmpeg-7") != "ffprobe-7" {
		t.Error("ffprobeFor")
	}
	if r := parseRate("30000/1001"); fmt.Sprintf("%.3f", r) != "29.970" {
		t.Errorf("parseRate = %v", r)
	}
}

// setUpTCP describes url and sets up all its medias over TCP with a new
// client, closed when the test ends.
func setUpTCP(t *testing.T, url string) *gortsplib.Client {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	desc, _, err := c.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	return c
}
