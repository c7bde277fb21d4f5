package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"vigil/internal/config"
	"vigil/internal/envelope"
	"vigil/internal/hubd"
	"vigil/internal/softcam"
)

// RecordOptions are what Record measures.
type RecordOptions struct {
	Streams      int           // camera streams
	Duration     time.Duration // how long to record
	File         string        // video for the software cameras ("" for softcam's default)
	Segment      time.Duration // segment duration
	Data         string        // the hub's data directory ("" for a temporary one, removed afterwards)
	MemProfile   string        // a heap profile of the hub at the end of recording
	Exe          string        // the vigil executable the cameras run in
	Logger       *slog.Logger  // the hub's logs
	Progress     io.Writer     // progress lines
	CameraStderr io.Writer     // the cameras' stderr (nil: discarded)
}

// RecordResult is what Record measured: the hub's own costs (the cameras
// run in a child process).
type RecordResult struct {
	Streams          int
	Wall             time.Duration
	CPU              time.Duration // this process's user and system time while recording
	SealedBytes      uint64
	Segments         uint64
	FramesSent       uint64 // by the cameras
	FramesDecodable  uint64 // sent frames a decoder could use
	FramesRecorded   uint64
	FramesDropped    uint64 // by the hub, including those before the first keyframe
	WaitingKey       uint64 // frames before a stream's first keyframe
	BaseRSS, PeakRSS uint64 // bytes, before the hub and at its most while recording
}

// Dropped is the frames lost: dropped by the hub after a keyframe, and
// decodable frames the cameras sent that were not recorded.
func (r RecordResult) Dropped() uint64 {
	return (r.FramesDropped - r.WaitingKey) + sub0(r.FramesDecodable, r.FramesRecorded)
}

// Record serves o.Streams software camera streams from a child process
// (so the figures are the hub's alone), records them into sealed segments
// with a hub in this process for o.Duration, and measures its CPU, memory,
// writes and frames.
func Record(ctx context.Context, o RecordOptions) (RecordResult, error) {
	tmp, err := os.MkdirTemp("", "vigil-bench-*")
	if err != nil {
		return RecordResult{}, err
	}
	defer os.RemoveAll(tmp)
	data := filepath.Join(tmp, "hub")
	if o.Data != "" {
		data = o.Data
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	statsPath := filepath.Join(tmp, "camera-stats.json")
	cams, urls, err := startCameras(ctx, o, statsPath)
	if err != nil {
		return RecordResult{}, err
	}
	defer cams.Process.Kill()

	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		return RecordResult{}, err
	}
	cfg := &config.Hub{Data: data, Recipients: []string{id.Recipient().String()}, SegmentDuration: config.Duration(o.Segment)}
	for i, u := range urls {
		cfg.Cameras = append(cfg.Cameras, config.Camera{Name: fmt.Sprintf("s%d", i), URL: u, Transport: "tcp"})
	}
	cfg.ApplyDefaults()
	runtime.GC()
	r := RecordResult{Streams: o.Streams, BaseRSS: currentRSS()}
	h, err := hubd.New(cfg, hubd.Options{Logger: o.Logger})
	if err != nil {
		return RecordResult{}, err
	}
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	t0 := time.Now()
	if err := h.Start(ctx); err != nil {
		return RecordResult{}, err
	}
	fmt.Fprintf(o.Progress, "recording %d streams for %s…\n", o.Streams, o.Duration)
	r.PeakRSS = watchRSS(ctx, o.Duration, r.BaseRSS)
	if o.MemProfile != "" {
		if err := writeHeapProfile(o.MemProfile); err != nil {
			return RecordResult{}, err
		}
	}
	var ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	r.Wall = time.Since(t0)
	r.CPU = time.Duration(tvNs(ru1.Utime) + tvNs(ru1.Stime) - tvNs(ru0.Utime) - tvNs(ru0.Stime))

	// Stop the cameras first so every frame they sent can arrive, then the hub.
	cams.Process.Signal(syscall.SIGTERM)
	waitErr := make(chan error, 1)
	go func() { waitErr <- cams.Wait() }()
	select {
	case <-waitErr:
	case <-time.After(10 * time.Second):
		cams.Process.Kill()
	}
	time.Sleep(500 * time.Millisecond)
	if err := h.Close(); err != nil {
		return RecordResult{}, err
	}

	var camStats []softcam.PathStats
	if b, err := os.ReadFile(statsPath); err == nil {
		_ = json.Unmarshal(b, &camStats)
	}
	for _, p := range camStats {
		for _, s := range append(p.Sessions, p.ClosedSessions...) {
			r.FramesSent += s.Frames
			r.FramesDecodable += s.DecodableFrames
		}
	}
	for _, s := range h.Stats() {
		r.FramesRecorded += s.FramesRecorded
		r.FramesDropped += s.FramesDropped
		r.WaitingKey += s.WaitingKey
		r.SealedBytes += s.SealedBytes
		r.Segments += s.Segments
	}
	return r, nil
}

// startCameras starts 'vigil camera' serving o.Streams paths on a free
// loopback port, writing its frame counts to statsPath when it exits, and
// returns it with the streams' URLs once it serves them all.
func startCameras(ctx context.Context, o RecordOptions, statsPath string) (*exec.Cmd, []string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	camArgs := []string{"camera", "--listen", addr, "--udp=false", "--stats-json", statsPath}
	if o.File != "" {
		camArgs = append(camArgs, "--file", o.File)
	}
	for i := range o.Streams {
		camArgs = append(camArgs, "--path", fmt.Sprintf("s%d", i))
	}
	child := exec.CommandContext(ctx, o.Exe, camArgs...)
	child.Stderr = o.CameraStderr
	out, err := child.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(o.Progress, "starting %d software camera streams (the first run transcodes the clip once)…\n", o.Streams)
	if err := child.Start(); err != nil {
		return nil, nil, err
	}
	urls, err := readURLs(out, o.Streams, 5*time.Minute)
	if err != nil {
		child.Process.Kill()
		return nil, nil, fmt.Errorf("software camera: %w", err)
	}
	return child, urls, nil
}

// watchRSS samples this process's resident set every second for d (or
// until ctx ends) and returns the largest, at least base.
func watchRSS(ctx context.Context, d time.Duration, base uint64) uint64 {
	peak := base
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.After(d)
	for {
		select {
		case <-tick.C:
			peak = max(peak, currentRSS())
		case <-deadline:
			return peak
		case <-ctx.Done():
			return peak
		}
	}
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func sub0(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}

func tvNs(tv syscall.Timeval) int64 { return tv.Sec*1e9 + int64(tv.Usec)*1e3 }

// currentRSS returns the resident set size of this process in bytes.
func currentRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb uint64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), "%d", &kb)
			return kb * 1024
		}
	}
	return 0
}

// readURLs reads the n rtsp:// URLs the camera process prints when ready.
func readURLs(r io.Reader, n int, timeout time.Duration) ([]string, error) {
	type res struct {
		urls []string
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		sc := bufio.NewScanner(r)
		var urls []string
		for len(urls) < n && sc.Scan() {
			if strings.HasPrefix(sc.Text(), "rtsp://") {
				urls = append(urls, strings.TrimSpace(sc.Text()))
			}
		}
		if len(urls) < n {
			ch <- res{nil, fmt.Errorf("exited before serving %d streams (run 'vigil camera' to see why)", n)}
			return
		}
		ch <- res{urls, nil}
		// Keep draining so the child never blocks on a full pipe.
		for sc.Scan() {
		}
	}()
	select {
	case r := <-ch:
		return r.urls, r.err
	case <-time.After(timeout):
		return nil, fmt.Errorf("not ready after %s", timeout)
	}
}
