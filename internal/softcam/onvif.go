package softcam

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image/jpeg"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"vigil/internal/onvif"
)

// DiscoveryMulticast as Config.Discovery joins the WS-Discovery multicast
// group (onvif.DiscoveryAddr) on every interface.
const DiscoveryMulticast = "multicast"

// ONVIF device description of the software doorbell.
const (
	onvifManufacturer = "Vigil"
	onvifModel        = "software doorbell"
	// onvifInputToken is the digital input a press is raised on.
	onvifInputToken = "DIGIT_INPUT_000"
	// maxSnapshot bounds the snapshot JPEG read back from the cache.
	maxSnapshot = 8 << 20
)

// onvifDevice is the ONVIF side of a doorbell: the device's HTTP server,
// its discovery responder and the goroutine turning presses into events.
type onvifDevice struct {
	srv    *onvif.Server
	hs     *http.Server
	addr   string // host:port the device service listens on
	disc   *onvif.Responder
	unsub  func()
	pumped chan struct{} // closed when the press goroutine has returned
}

// deviceID is a stable identity for this camera: the same input served
// on the same address is the same device across restarts.
func (s *Server) deviceID() []byte {
	h := sha256.Sum256([]byte("softcam-onvif\x00" + s.cacheFile + "\x00" + s.cfg.Listen + "\x00" + strings.Join(s.cfg.Paths, "\x00")))
	return h[:]
}

// ONVIFSerial is the serial number the ONVIF device answers with.
func (s *Server) ONVIFSerial() string {
	return "VSD-" + strings.ToUpper(hex.EncodeToString(s.deviceID()[:6]))
}

// ONVIFAddr is the host:port of the ONVIF device service; "" when
// Config.ONVIF is empty or before Start.
func (s *Server) ONVIFAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.onvif == nil {
		return ""
	}
	return s.onvif.addr
}

// DiscoveryAddr is the UDP address WS-Discovery probes are answered at;
// "" when none are.
func (s *Server) DiscoveryAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.onvif == nil || s.onvif.disc == nil {
		return ""
	}
	return s.onvif.disc.Addr().String()
}

// prepareSnapshot returns the snapshot JPEG: the clip's first frame,
// extracted once with ffmpeg and cached next to the prepared clip.
func prepareSnapshot(cfg Config, cacheFile string) ([]byte, error) {
	out := strings.TrimSuffix(cacheFile, ".ts") + ".jpg"
	if b, err := readSnapshot(out); err == nil {
		return b, nil
	}
	ffmpeg, err := exec.LookPath(cfg.FFmpeg)
	if err != nil {
		return nil, fmt.Errorf("softcam: ffmpeg %q not found (the ONVIF snapshot is made with it): %w\nhint: apt-get install ffmpeg", cfg.FFmpeg, err)
	}
	tmp := out + ".tmp"
	cmd := exec.Command(ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", cacheFile,
		"-frames:v", "1", "-q:v", "3", "-f", "image2", "-c:v", "mjpeg", tmp)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("softcam: making the ONVIF snapshot with ffmpeg: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	b, err := readSnapshot(tmp)
	if err != nil {
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("softcam: caching the ONVIF snapshot: %w", err)
	}
	return b, nil
}

// readSnapshot reads a cached snapshot and checks that it is a JPEG.
func readSnapshot(name string) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxSnapshot {
		return nil, fmt.Errorf("softcam: snapshot %s is too large", name)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if _, err := jpeg.DecodeConfig(bytes.NewReader(b)); err != nil {
		return nil, fmt.Errorf("softcam: snapshot %s is not a JPEG: %w", name, err)
	}
	return b, nil
}

// onvifProfiles describes one profile per served path, with what it
// actually streams.
func (s *Server) onvifProfiles(rtspAddr string) []onvif.DeviceProfile {
	info := s.clip.info
	var audio *onvif.AudioEncoder
	switch s.cfg.Audio {
	case AudioPCMU:
		audio = &onvif.AudioEncoder{Token: "audio", Name: "G.711 µ-law", Encoding: "G711", Bitrate: 64, SampleRate: pcmuRate / 1000}
	case AudioAAC:
		audio = &onvif.AudioEncoder{Token: "audio", Name: "AAC-LC", Encoding: "AAC", Bitrate: 32, SampleRate: aacRate / 1000}
	}
	out := make([]onvif.DeviceProfile, 0, len(s.cfg.Paths))
	for i, p := range s.cfg.Paths {
		tok := fmt.Sprintf("profile_%d", i)
		name := p
		switch i {
		case 0:
			name = "main"
		case 1:
			name = "sub"
		}
		out = append(out, onvif.DeviceProfile{
			Profile: onvif.Profile{
				Token: tok, Name: name,
				Video: &onvif.VideoEncoder{
					Token: "video", Name: "H.264", Encoding: info.Codec,
					Width: info.Width, Height: info.Height,
					FrameRate: int(math.Round(info.FPS)), GovLength: info.GOP,
				},
				Audio:       audio,
				AudioOutput: s.cfg.BackChannel,
			},
			StreamURI: "rtsp://" + rtspAddr + "/" + p,
		})
	}
	return out
}

// xaddrs are the device service URLs discovery answers with: the listen
// address, or every interface's IPv4 address when it is unspecified.
func xaddrs(addr string) []string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsUnspecified() {
		return []string{"http://" + addr + onvif.DevicePath}
	}
	var out []string
	ifAddrs, _ := net.InterfaceAddrs()
	for _, a := range ifAddrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.To4() == nil {
			continue
		}
		out = append(out, "http://"+net.JoinHostPort(n.IP.String(), port)+onvif.DevicePath)
	}
	return out
}

// startONVIF listens on Config.ONVIF and Config.Discovery. It is called by
// Start once the RTSP server listens (at rtspAddr), with s.mu held.
func (s *Server) startONVIF(ctx context.Context, rtspAddr string) (*onvifDevice, error) {
	snap := s.snapshot
	srv := onvif.NewServer(onvif.Device{
		Info: onvif.DeviceInfo{
			Manufacturer: onvifManufacturer, Model: onvifModel, FirmwareVersion: "softcam",
			SerialNumber: s.ONVIFSerial(), HardwareID: "softcam",
		},
		Profiles: s.onvifProfiles(rtspAddr),
		Username: s.cfg.ONVIFUser, Password: s.cfg.ONVIFPassword,
		States: s.onvifStates,
		Snapshot: func(context.Context, string) (onvif.Snapshot, error) {
			return onvif.Snapshot{Data: snap, ContentType: "image/jpeg"}, nil
		},
	})
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.ONVIF)
	if err != nil {
		return nil, fmt.Errorf("softcam: ONVIF device service: %w", err)
	}
	d := &onvifDevice{srv: srv, addr: ln.Addr().String(), pumped: make(chan struct{})}
	if s.cfg.ONVIFUser == "" {
		s.log.Warn("softcam: the ONVIF device service has no account: anyone who reaches it may use it", "addr", d.addr)
	}
	if s.cfg.Discovery != "" {
		listen := s.cfg.Discovery
		if listen == DiscoveryMulticast {
			listen = ""
		}
		id := s.deviceID()
		d.disc, err = onvif.NewResponder(onvif.ResponderOptions{
			Listen:   listen,
			Endpoint: fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16]),
			XAddrs:   xaddrs(d.addr),
			Scopes: []string{
				"onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/type/audio_encoder",
				"onvif://www.onvif.org/hardware/software%20doorbell", "onvif://www.onvif.org/name/Vigil%20software%20doorbell",
			},
		})
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("softcam: WS-Discovery: %w", err)
		}
	}
	d.hs = &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		// PullMessages waits up to the timeout its caller asks for.
		WriteTimeout:   2 * time.Minute,
		MaxHeaderBytes: 16 << 10,
	}
	presses, unsub := s.SubscribePresses()
	d.unsub = unsub
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := d.hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("softcam: ONVIF device service stopped", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		defer close(d.pumped)
		for pr := range presses {
			srv.Publish(pressEvent(pr))
		}
	}()
	return d, nil
}

// pressEvent is a press as an ONVIF event: the doorbell's button is a
// digital input whose LogicalState turned true.
func pressEvent(pr Press) onvif.Event {
	return onvif.Event{
		Topic:     "Device/Trigger/DigitalInput",
		Time:      pr.Time,
		Operation: "Changed",
		Source:    []onvif.Item{{Name: "InputToken", Value: onvifInputToken}},
		Data:      []onvif.Item{{Name: "LogicalState", Value: "true"}},
	}
}

// close ends the device: waiting PullMessages calls, the HTTP server, the
// responder and the press subscription. The caller waits on s.wg.
func (d *onvifDevice) close() {
	d.srv.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := d.hs.Shutdown(sctx); err != nil {
		d.hs.Close()
	}
	cancel()
	if d.disc != nil {
		d.disc.Close()
	}
	d.unsub()
	<-d.pumped
}
