// Package softcam is a software camera: it serves a video file as a live,
// looping H.264 RTSP stream on one or more paths, so the hub's ingest, the
// segmenter and the detectors can be exercised without real hardware.
//
// softcam owns three things: a one-time preparation of the input with ffmpeg
// (transcoded to H.264 in MPEG-TS, cached on disk keyed by the input's path,
// size and modification time), an in-memory copy of the prepared clip that
// every path and client shares read-only, and an RTSP server (gortsplib) that
// paces the clip at real time on each path and loops it forever with RTP
// timestamps that keep increasing, like a camera that never stops.
//
// As a doorbell (Config.Audio, BackChannel, Control) it also serves a looped
// audio track with the video (PCMU, or AAC encoded once with ffmpeg; a tone
// made in Go or a sound file), paced on the same clock; offers the ONVIF
// audio back channel and writes what the talker sends to a WAV file; and
// keeps the presses of its button, raised by Press or by the HTTP control
// endpoint, for subscribers such as an event service. With
// Config.AudioBursts its audio is silence with a tone burst on demand
// (Burst), whose onset a listener times. With Config.ONVIF it
// answers as an ONVIF device (internal/onvif's Server: a profile per path,
// a snapshot of the clip's first frame cached next to the clip, each press
// as a DigitalInput event) and, with Config.Discovery, WS-Discovery probes.
//
// It must never write anything outside its cache directory and the back
// channel file, never modify or delete the input files, never accept
// published media (ANNOUNCE/RECORD are refused: it is a camera, not a
// relay; only the back channel it offered receives audio, and only from one
// talker at a time, bounded in size), and never let one client slow down,
// stall or crash the stream other clients see.
//
// Typical use:
//
//	cam, err := softcam.New(softcam.Config{Listen: "127.0.0.1:0", Paths: []string{"front", "back"}})
//	if err != nil { ... }
//	if err := cam.Start(ctx); err != nil { ... }
//	defer cam.Close()
//	url := cam.URL("front") // rtsp://127.0.0.1:PORT/front
package softcam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
)

// DefaultFile is the footage served when Config.File is empty. It is shipped
// by the Debian package opencv-doc (768x576, 10 fps, 79.5 s, MPEG-4 Part 2).
const DefaultFile = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"

// DefaultListen is the RTSP address used when Config.Listen is empty.
const DefaultListen = "127.0.0.1:8554"

// DefaultPath is the single RTSP path served when Config.Paths is empty.
const DefaultPath = "cam"

// ErrClosed is returned by Start when the Server has already been closed.
var ErrClosed = errors.New("softcam: server closed")

// Config configures a Server. The zero value serves DefaultFile on
// rtsp://127.0.0.1:8554/cam over TCP only: set UDP to offer UDP as well
// (command-line front ends should default it to true).
type Config struct {
	// File is the input video. Any format ffmpeg can read; an H.264 video
	// track is copied, anything else is transcoded once. "" means DefaultFile.
	File string
	// Listen is the RTSP (TCP) host:port. "" means DefaultListen. Use
	// "127.0.0.1:0" to pick a free port; Addr reports the one chosen.
	Listen string
	// Paths are the RTSP paths served, without a leading slash, e.g. "cam"
	// or "garden/east". Each path is an independent live stream of the same
	// clip; the first starts at the clip's beginning, the others at evenly
	// spread positions, like cameras that were not switched on together.
	// Empty means []string{DefaultPath}.
	Paths []string
	// CacheDir holds prepared clips. "" means os.UserCacheDir()/vigil/softcam.
	CacheDir string
	// FFmpeg is the ffmpeg binary: a name looked up in PATH or a path. ""
	// means "ffmpeg". ffprobe is expected next to it (same directory, or in
	// PATH when FFmpeg is a bare name). Neither is run on a cache hit.
	FFmpeg string
	// UDP also offers the UDP transport (unicast). The server then listens
	// on a free even/odd UDP port pair for RTP/RTCP on the Listen host.
	// TCP (interleaved) is always offered.
	UDP bool
	// Audio adds an audio track to every path: AudioPCMU (G.711 µ-law,
	// 8 kHz) or AudioAAC (AAC-LC, 16 kHz, encoded once with ffmpeg).
	// AudioNone serves video only.
	Audio string
	// AudioFile is the sound served, looped (a WAV file or anything ffmpeg
	// reads; at most its first minute). "" is a ToneHz sine.
	AudioFile string
	// AudioBursts serves silence instead of the sound, and BurstDuration
	// of the ToneHz tone whenever Burst is called (or POST /burst on the
	// control endpoint): an onset a listener can time. PCMU only, without
	// AudioFile.
	AudioBursts bool
	// BackChannel offers the ONVIF audio back channel (PCMU, 8 kHz) to
	// clients that require it; one client talks at a time.
	BackChannel bool
	// BackChannelFile receives the back channel's audio as a 16-bit 8 kHz
	// mono WAV file, truncated at Start and valid after every packet. ""
	// counts the audio and discards it.
	BackChannelFile string
	// BackChannelMax caps the samples written to BackChannelFile; 0 means
	// DefaultBackChannelMax. Later audio is refused.
	BackChannelMax uint64
	// Control is the host:port of the HTTP control endpoint (POST /press,
	// GET /presses, GET /backchannel). "" runs none. It has no
	// authentication: keep it on loopback.
	Control string
	// ONVIF is the host:port of the ONVIF device service (device, media
	// and PullPoint events services at onvif.DevicePath and the like, and
	// a snapshot): one profile per path with its RTSP URI, the snapshot a
	// JPEG of the clip's first frame (made once with ffmpeg and cached),
	// and every press published as a tns1:Device/Trigger/DigitalInput
	// event with LogicalState true. "" serves none.
	ONVIF string
	// ONVIFUser and ONVIFPassword are the ONVIF account (WS-UsernameToken
	// digest for the services, HTTP digest for the snapshot). An empty
	// ONVIFUser leaves the device service open.
	ONVIFUser, ONVIFPassword string
	// Discovery is the UDP address WS-Discovery probes are answered at
	// when ONVIF is served, with the device service's URL:
	// DiscoveryMulticast joins the multicast group; "127.0.0.1:0" and the
	// like answer unicast probes only (tests). "" answers none.
	Discovery string
	// Logger receives progress and client events. nil discards them. Log
	// lines never contain media data.
	Logger *slog.Logger
}

// MediaInfo describes the prepared clip, as served on every path.
type MediaInfo struct {
	Codec    string        // always "H264"
	Width    int           // pixels, after SPS cropping
	Height   int           // pixels, after SPS cropping
	FPS      float64       // mean frame rate of the clip
	Frames   int           // access units per loop
	Duration time.Duration // one loop, including the last frame's duration
	GOP      int           // longest distance between two IDR frames, in frames
}

// PathStats reports one RTSP path.
type PathStats struct {
	Path string
	// FramesSent counts access units written to the path's stream since
	// Start, whether or not anyone was reading.
	FramesSent uint64
	// AudioPacketsSent counts audio RTP packets written likewise.
	AudioPacketsSent uint64
	// Sessions are the reading sessions currently in PLAY (or paused after
	// a PLAY), oldest first.
	Sessions []SessionStats
	// ClosedSessions are the most recent ended sessions (at most 64 per
	// path, oldest first), with their final counts.
	ClosedSessions []SessionStats
}

// SessionStats reports what one reading session was given.
//
// Frames counts access units whose every RTP packet was handed to the
// session's outbound queue. It is measured, not assumed from the PLAY state:
// after writing each access unit the path checks how much the session's
// outbound byte counter grew, so frames written before gortsplib activated
// the session, or an access unit it joined half way through, are not
// counted. An access unit during which the session's queue dropped packets
// (a client that does not read) does not count either. Loss after the queue
// remains possible (UDP on the wire, frames in flight when the client
// disconnects), so a client sees at most Frames frames; over TCP it sees
// exactly Frames unless it hangs up while a frame is in flight. A client may
// also decode one extra, partial frame at the join that Frames leaves out.
//
// DecodableFrames counts the subset from the first complete IDR access unit
// the session received; after a dropped packet it restarts counting only at
// the next complete IDR, as a decoder would.
type SessionStats struct {
	Remote          string // client's host:port of the RTSP connection
	Transport       string // "TCP" or "UDP"
	Frames          uint64
	DecodableFrames uint64
	DroppedPackets  uint64 // RTP packets the session's write queue rejected
	Started         time.Time
	Ended           time.Time // zero while the session is open
}

// maxClosedSessions bounds PathStats.ClosedSessions so that memory does not
// grow with the number of clients over a long run.
const maxClosedSessions = 64

// Server is a software camera. Create it with New, then Start; Close stops
// it. Its methods are safe for concurrent use.
type Server struct {
	cfg       Config
	log       *slog.Logger
	clip      *clip
	audio     *audioClip // nil without Config.Audio
	presses   presses
	alarms    alarms
	cacheFile string
	// ffmpegRuns counts ffmpeg transcode/copy runs made by New (0 on a cache hit).
	ffmpegRuns int
	// snapshot is the ONVIF snapshot JPEG; nil without Config.ONVIF.
	snapshot []byte

	mu      sync.Mutex
	started bool
	closed  bool
	rtsp    *gortsplib.Server
	paths   map[string]*camPath
	order   []*camPath
	addr    string
	cancel  context.CancelFunc
	// stopped is closed when the pacers are told to stop.
	stopped <-chan struct{}
	pacers  sync.WaitGroup // one goroutine per path
	wg      sync.WaitGroup // everything else Start started
	handler *handler
	// back is the back channel; set by Start before any client can
	// connect, read-only after.
	back        *backChannel
	control     *http.Server
	controlAddr string
	onvif       *onvifDevice // nil without Config.ONVIF
}

// New validates cfg and prepares the media: on the first use of an input it
// runs ffmpeg once (which can take several seconds for a long clip) and
// caches the result; later calls load the cached clip. The clip is held in
// memory for the Server's life and shared by all paths and clients.
func New(cfg Config) (*Server, error) {
	if cfg.File == "" {
		cfg.File = DefaultFile
	}
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if len(cfg.Paths) == 0 {
		cfg.Paths = []string{DefaultPath}
	}
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = logger

	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("softcam: Listen %q: want host:port: %w", cfg.Listen, err)
	}
	paths, err := cleanPaths(cfg.Paths)
	if err != nil {
		return nil, err
	}
	cfg.Paths = paths

	if cfg.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, fmt.Errorf("softcam: no CacheDir given and no user cache directory: %w", err)
		}
		cfg.CacheDir = filepath.Join(base, "vigil", "softcam")
	}

	s := &Server{cfg: cfg, log: logger}
	cacheFile, runs, err := prepare(cfg, logger)
	if err != nil {
		return nil, err
	}
	s.cacheFile = cacheFile
	s.ffmpegRuns = runs

	t0 := time.Now()
	c, err := loadClip(cacheFile, logger)
	if err != nil {
		return nil, fmt.Errorf("softcam: loading prepared clip %s (delete it to prepare again): %w", cacheFile, err)
	}
	s.clip = c
	if cfg.ONVIF != "" {
		if s.snapshot, err = prepareSnapshot(cfg, cacheFile); err != nil {
			return nil, err
		}
	} else if cfg.Discovery != "" {
		return nil, errors.New("softcam: Discovery given without ONVIF")
	}
	if cfg.Audio != AudioNone {
		if s.audio, err = loadAudio(cfg, logger); err != nil {
			return nil, err
		}
	} else if cfg.AudioFile != "" || cfg.AudioBursts {
		return nil, errors.New("softcam: AudioFile or AudioBursts given without Audio")
	}
	logger.Info("softcam: clip loaded", "file", cacheFile, "frames", c.info.Frames,
		"duration", c.info.Duration, "fps", c.info.FPS, "width", c.info.Width, "height", c.info.Height,
		"gop", c.info.GOP, "bytes", c.bytes, "took", time.Since(t0).Round(time.Millisecond))
	return s, nil
}

// cleanPaths trims slashes from each path and rejects empty, duplicate and
// unusable ones.
func cleanPaths(in []string) ([]string, error) {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, p := range in {
		c := strings.Trim(p, "/")
		switch {
		case c == "":
			return nil, fmt.Errorf("softcam: Paths: empty path %q", p)
		case strings.ContainsAny(c, "?#\\ \t\r\n"):
			return nil, fmt.Errorf("softcam: Paths: %q contains a character not allowed in an RTSP path", p)
		case strings.Contains(c, "trackID="):
			return nil, fmt.Errorf("softcam: Paths: %q must not contain \"trackID=\"", p)
		case seen[c]:
			return nil, fmt.Errorf("softcam: Paths: %q listed twice", p)
		}
		seen[c] = true
		out = append(out, c)
	}
	return out, nil
}

// Info describes the clip served on every path. It is valid after New.
func (s *Server) Info() MediaInfo { return s.clip.info }

// Addr is the RTSP host:port the server listens on; "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL is the rtsp:// URL of path (with or without a leading slash) on this
// server. It is only meaningful after Start.
func (s *Server) URL(path string) string {
	return "rtsp://" + s.Addr() + "/" + strings.TrimLeft(path, "/")
}

// Start listens on Config.Listen (and a UDP port pair when Config.UDP is
// set) and starts one pacing goroutine per path. ctx bounds only the start
// itself; the server runs until Close. Start can be called once.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.started:
		return errors.New("softcam: Start called twice")
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	if s.cfg.BackChannel {
		bc, err := newBackChannel(s.cfg.BackChannelFile, s.cfg.BackChannelMax)
		if err != nil {
			return err
		}
		s.back = bc
	}
	var (
		ctlLn net.Listener
		ctl   *http.Server
	)
	if s.cfg.Control != "" {
		var err error
		if ctlLn, ctl, err = s.startControl(ctx); err != nil {
			s.closeBack()
			return err
		}
	}
	fail := func(err error) error {
		if ctlLn != nil {
			ctlLn.Close()
		}
		s.closeBack()
		return err
	}

	h := &handler{s: s}
	srv, err := s.listen(ctx, h)
	if err != nil {
		return fail(err)
	}

	paths := make(map[string]*camPath, len(s.cfg.Paths))
	order := make([]*camPath, 0, len(s.cfg.Paths))
	for i, name := range s.cfg.Paths {
		p, err := newCamPath(name, srv, s.clip, i*len(s.clip.aus)/len(s.cfg.Paths), s.audio, s.cfg.BackChannel)
		if err != nil {
			for _, q := range order {
				q.stream.Close()
			}
			srv.Close()
			return fail(fmt.Errorf("softcam: path %q: %w", name, err))
		}
		paths[name] = p
		order = append(order, p)
	}
	var dev *onvifDevice
	if s.cfg.ONVIF != "" {
		if dev, err = s.startONVIF(ctx, srv.NetListener().Addr().String()); err != nil {
			for _, q := range order {
				q.stream.Close()
			}
			srv.Close()
			return fail(err)
		}
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s.rtsp = srv
	s.paths = paths
	s.order = order
	s.handler = h
	s.onvif = dev
	s.addr = srv.NetListener().Addr().String()
	s.cancel = cancel
	s.stopped = runCtx.Done()
	s.started = true
	h.ready.Store(true)

	start := time.Now()
	for _, p := range order {
		s.pacers.Add(1)
		go func() {
			defer s.pacers.Done()
			p.run(runCtx, start, s.log)
		}()
		if p.audio != nil {
			s.pacers.Add(1)
			go func() {
				defer s.pacers.Done()
				p.runAudio(runCtx, start, s.log)
			}()
		}
	}
	if ctl != nil {
		s.control = ctl
		s.controlAddr = ctlLn.Addr().String()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveControl(ctlLn, ctl)
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// Wait returns on Close or on a fatal listener error; only the
		// latter is worth reporting.
		if err := srv.Wait(); err != nil && runCtx.Err() == nil {
			s.log.Error("softcam: RTSP server stopped", "err", err)
		}
	}()

	udp := "off"
	if srv.UDPRTPAddress != "" {
		udp = srv.UDPRTPAddress + "," + srv.UDPRTCPAddress
	}
	audio := s.cfg.Audio
	if audio == AudioNone {
		audio = "off"
	}
	onvifAddr, discovery := "off", "off"
	if dev != nil {
		onvifAddr = dev.addr
		if dev.disc != nil {
			discovery = dev.disc.Addr().String()
		}
	}
	s.log.Info("softcam: serving", "addr", s.addr, "paths", s.cfg.Paths, "udp", udp,
		"audio", audio, "backchannel", s.cfg.BackChannel, "control", s.controlAddr,
		"onvif", onvifAddr, "discovery", discovery)
	return nil
}

// closeBack closes the back channel file, logging a write error.
func (s *Server) closeBack() {
	if s.back == nil {
		return
	}
	if err := s.back.close(); err != nil {
		s.log.Error("softcam: back channel file", "err", err)
	}
}

// BackChannelStats reports what the back channel received; zero when it
// is not offered.
func (s *Server) BackChannelStats() BackChannelStats {
	s.mu.Lock()
	bc := s.back
	s.mu.Unlock()
	if bc == nil {
		return BackChannelStats{}
	}
	return bc.snapshot()
}

// listen starts the gortsplib server, retrying a few times when the UDP
// port pair picked at random was taken in the meantime.
func (s *Server) listen(ctx context.Context, h *handler) (*gortsplib.Server, error) {
	const attempts = 10
	var lastErr error
	for range attempts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		srv := &gortsplib.Server{
			Handler:     h,
			RTSPAddress: s.cfg.Listen,
			// A client that stops reading gets its queue dropped, never
			// blocks the pacer; cap how long a stuck write may hold a conn.
			WriteTimeout: 5 * time.Second,
		}
		if s.cfg.UDP {
			rtp, rtcp, err := freeUDPPair(s.cfg.Listen)
			if err != nil {
				return nil, fmt.Errorf("softcam: finding a free UDP port pair: %w", err)
			}
			srv.UDPRTPAddress, srv.UDPRTCPAddress = rtp, rtcp
		}
		err := srv.Start()
		if err == nil {
			return srv, nil
		}
		lastErr = err
		if !s.cfg.UDP || !isUDPBindErr(err) {
			break
		}
	}
	return nil, fmt.Errorf("softcam: listening on %s: %w", s.cfg.Listen, lastErr)
}

// isUDPBindErr reports whether err is a bind failure on a UDP socket, the
// one error that retrying with another port pair can fix.
func isUDPBindErr(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && strings.HasPrefix(opErr.Net, "udp")
}

// freeUDPPair returns host:even and host:even+1 addresses that were free a
// moment ago, on the host of listen.
func freeUDPPair(listen string) (string, string, error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return "", "", err
	}
	for range 50 {
		a, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", "", err
		}
		port := a.LocalAddr().(*net.UDPAddr).Port
		a.Close()
		even := port &^ 1
		if even < 1024 || even+1 > 65535 {
			continue
		}
		rtp := net.JoinHostPort(host, fmt.Sprint(even))
		rtcp := net.JoinHostPort(host, fmt.Sprint(even+1))
		// Check both are free right now; gortsplib binds them again.
		c1, err := net.ListenPacket("udp", rtp)
		if err != nil {
			continue
		}
		c2, err := net.ListenPacket("udp", rtcp)
		c1.Close()
		if err != nil {
			continue
		}
		c2.Close()
		return rtp, rtcp, nil
	}
	return "", "", errors.New("no free even/odd port pair found")
}

// Stats reports every path, in Config.Paths order. It returns nil before
// Start.
func (s *Server) Stats() []PathStats {
	s.mu.Lock()
	order := s.order
	s.mu.Unlock()
	out := make([]PathStats, 0, len(order))
	for _, p := range order {
		out = append(out, p.stats())
	}
	return out
}

// Close stops the pacing goroutines, disconnects every client, closes the
// listeners and waits for all goroutines to exit. When Close returns, the
// RTSP address can be listened on again. Close is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}

	s.handler.ready.Store(false)
	s.cancel()
	// Pacers first, so nothing writes to a closed stream; then the
	// streams (which end their sessions), then the server itself, which
	// closes the listeners and waits for its goroutines.
	s.pacers.Wait()
	for _, p := range s.order {
		p.stream.Close()
	}
	s.rtsp.Close()
	if s.control != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := s.control.Shutdown(sctx); err != nil {
			s.control.Close()
		}
		cancel()
	}
	if s.onvif != nil {
		s.onvif.close()
	}
	s.wg.Wait()
	s.closeBack()
	s.log.Info("softcam: closed", "addr", s.addr)
	return nil
}
