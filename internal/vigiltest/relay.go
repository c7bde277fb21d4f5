package vigiltest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"
)

// Relay is an RTSP server on loopback that accepts one publisher (ffmpeg
// with -f rtsp) and serves what it publishes to readers, like a camera
// would. It offers TCP and UDP.
type Relay struct {
	srv *gortsplib.Server

	mu        sync.Mutex
	stream    *gortsplib.ServerStream
	publisher *gortsplib.ServerSession
}

// StartRelay starts a Relay; it stops when the test ends.
func StartRelay(t testing.TB) *Relay {
	t.Helper()
	r := &Relay{}
	rtpAddr, rtcpAddr := freeUDPPair(t)
	r.srv = &gortsplib.Server{Handler: r, RTSPAddress: "127.0.0.1:0", UDPRTPAddress: rtpAddr, UDPRTCPAddress: rtcpAddr}
	if err := r.srv.Start(); err != nil {
		t.Fatalf("relay: %v", err)
	}
	t.Cleanup(r.srv.Close)
	return r
}

func freeUDPPair(t testing.TB) (string, string) {
	t.Helper()
	for p := 20000 + time.Now().Nanosecond()%20000&^1; p < 60000; p += 2 {
		a, b := "127.0.0.1:"+strconv.Itoa(p), "127.0.0.1:"+strconv.Itoa(p+1)
		if ok := probeUDP(a) && probeUDP(b); ok {
			return a, b
		}
	}
	t.Fatal("no free UDP port pair")
	return "", ""
}

// URL is the address to publish to and read from.
func (r *Relay) URL(path string) string {
	return "rtsp://" + r.srv.NetListener().Addr().String() + "/" + path
}

// Publish runs ffmpeg publishing a test pattern to url for d: H.265 when
// hevc, else H.264, with AAC audio when audio. It returns once ffmpeg is
// publishing; ffmpeg is stopped when the test ends.
func Publish(t testing.TB, url string, d time.Duration, hevc, audio bool) *exec.Cmd {
	t.Helper()
	ff := RequireTool(t, "ffmpeg", "ffmpeg")
	secs := strconv.Itoa(int(d.Seconds()))
	args := []string{"-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=" + secs}
	if audio {
		args = append(args, "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration="+secs, "-c:a", "aac", "-b:a", "64k")
	}
	if hevc {
		args = append(args, "-c:v", "libx265", "-x265-params", "log-level=error:keyint=10:min-keyint=10:scenecut=0:bframes=0")
	} else {
		args = append(args, "-c:v", "libx264", "-g", "10", "-bf", "0")
	}
	args = append(args, "-pix_fmt", "yuv420p", "-f", "rtsp", "-rtsp_transport", "tcp", url)
	cmd := exec.CommandContext(context.Background(), ff, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// Publishing reports whether a publisher is streaming.
func (r *Relay) Publishing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stream != nil
}

func (r *Relay) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stream != nil && ctx.Session == r.publisher {
		r.stream.Close()
		r.stream = nil
	}
}

func (r *Relay) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, r.stream, nil
}

func (r *Relay) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stream != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, fmt.Errorf("already publishing")
	}
	st := &gortsplib.ServerStream{Server: r.srv, Desc: ctx.Description}
	if err := st.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, err
	}
	r.stream, r.publisher = st, ctx.Session
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (r *Relay) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stream == nil {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, r.stream, nil
}

func (r *Relay) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (r *Relay) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	r.mu.Lock()
	st := r.stream
	r.mu.Unlock()
	ctx.Session.OnPacketRTPAny(func(m *description.Media, _ format.Format, pkt *rtp.Packet) {
		st.WritePacketRTP(m, pkt)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func probeUDP(addr string) bool {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
