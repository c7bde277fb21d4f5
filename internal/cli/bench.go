package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
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

func runBench(e env) error {
	return runSubcommand(e, "bench", "record | cloud | web | detect | tlog | door\n\nMeasures the hub's recording, the cloud's uploads, the web app, detection, the transparency log or the front door.",
		benchSubs())
}

// benchSubs is the table of vigil bench's subcommands; its help lists them from it.
func benchSubs() []subcommand {
	return []subcommand{{"record", benchRecord, nil}, {"cloud", benchCloud, nil}, {"web", benchWeb, nil}, {"detect", benchDetect, nil}, {"tlog", benchTlog, nil}, {"door", benchDoor, nil}}
}

func benchRecord(e env, args []string) error {
	fs := newFlags(e, "bench record", "--streams N --duration D")
	streams := fs.Int("streams", 10, "number of camera streams")
	dur := fs.Duration("duration", 30*time.Second, "how long to record")
	file := fs.String("file", "", "video for the software cameras (default "+softcam.DefaultFile+")")
	segDur := fs.Duration("segment", 4*time.Second, "segment duration")
	keep := fs.String("data", "", "hub data directory (default: a temporary directory, removed afterwards)")
	verbose := fs.Bool("v", false, "hub logs on stderr")
	memProfile := fs.String("memprofile", "", "write a heap profile of the hub at the end of recording to this file")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *streams < 1 || *streams > 1000 {
		return fmt.Errorf("%w: --streams must be between 1 and 1000", ErrUsage)
	}
	if *dur < 5*time.Second {
		return fmt.Errorf("%w: --duration must be at least 5s", ErrUsage)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := newLogger(e.stderr, level)

	tmp, err := os.MkdirTemp("", "vigil-bench-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	data := filepath.Join(tmp, "hub")
	if *keep != "" {
		data = *keep
	}

	// The cameras run in a child process so that the figures below are the
	// hub's alone.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	statsPath := filepath.Join(tmp, "camera-stats.json")
	camArgs := []string{"camera", "--listen", addr, "--udp=false", "--stats-json", statsPath}
	if *file != "" {
		camArgs = append(camArgs, "--file", *file)
	}
	for i := range *streams {
		camArgs = append(camArgs, "--path", fmt.Sprintf("s%d", i))
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	child := exec.CommandContext(ctx, exe, camArgs...)
	child.Stderr = e.stderr
	if !*verbose {
		child.Stderr = nil
	}
	out, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "starting %d software camera streams (the first run transcodes the clip once)…\n", *streams)
	if err := child.Start(); err != nil {
		return err
	}
	defer child.Process.Kill()
	urls, err := readURLs(out, *streams, 5*time.Minute)
	if err != nil {
		return fmt.Errorf("software camera: %w", err)
	}

	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		return err
	}
	cfg := &config.Hub{Data: data, Recipients: []string{id.Recipient().String()}, SegmentDuration: config.Duration(*segDur)}
	for i, u := range urls {
		cfg.Cameras = append(cfg.Cameras, config.Camera{Name: fmt.Sprintf("s%d", i), URL: u, Transport: "tcp"})
	}
	cfg.ApplyDefaults()
	runtime.GC()
	baseRSS := currentRSS()
	h, err := hubd.New(cfg, hubd.Options{Logger: log})
	if err != nil {
		return err
	}
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	t0 := time.Now()
	if err := h.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "recording %d streams for %s…\n", *streams, *dur)
	peakRSS := baseRSS
	tick := time.NewTicker(time.Second)
	deadline := time.After(*dur)
loop:
	for {
		select {
		case <-tick.C:
			peakRSS = max(peakRSS, currentRSS())
		case <-deadline:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	tick.Stop()
	if *memProfile != "" {
		f, err := os.Create(*memProfile)
		if err != nil {
			return err
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			return err
		}
		f.Close()
	}
	var ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	wall := time.Since(t0)

	// Stop the cameras first so every frame they sent can arrive, then the hub.
	child.Process.Signal(syscall.SIGTERM)
	waitErr := make(chan error, 1)
	go func() { waitErr <- child.Wait() }()
	select {
	case <-waitErr:
	case <-time.After(10 * time.Second):
		child.Process.Kill()
	}
	time.Sleep(500 * time.Millisecond)
	if err := h.Close(); err != nil {
		return err
	}

	var camStats []softcam.PathStats
	if b, err := os.ReadFile(statsPath); err == nil {
		_ = json.Unmarshal(b, &camStats)
	}
	var sent, decodable uint64
	for _, p := range camStats {
		for _, s := range append(p.Sessions, p.ClosedSessions...) {
			sent += s.Frames
			decodable += s.DecodableFrames
		}
	}
	var recorded, dropped, waiting, sealed, segs uint64
	for _, s := range h.Stats() {
		recorded += s.FramesRecorded
		dropped += s.FramesDropped
		waiting += s.WaitingKey
		sealed += s.SealedBytes
		segs += s.Segments
	}
	cpu := time.Duration(tvNs(ru1.Utime)+tvNs(ru1.Stime)-tvNs(ru0.Utime)-tvNs(ru0.Stime)) * 1
	n := float64(*streams)
	fmt.Fprintf(e.stdout, "streams: %d\n", *streams)
	fmt.Fprintf(e.stdout, "duration_s: %.1f\n", wall.Seconds())
	fmt.Fprintf(e.stdout, "cpu_percent_of_one_core_total: %.2f\n", 100*cpu.Seconds()/wall.Seconds())
	fmt.Fprintf(e.stdout, "cpu_percent_of_one_core_per_stream: %.3f\n", 100*cpu.Seconds()/wall.Seconds()/n)
	fmt.Fprintf(e.stdout, "write_mb_per_s: %.3f\n", float64(sealed)/1e6/wall.Seconds())
	fmt.Fprintf(e.stdout, "segments_written: %d\n", segs)
	fmt.Fprintf(e.stdout, "frames_sent: %d\n", sent)
	fmt.Fprintf(e.stdout, "frames_sent_decodable: %d\n", decodable)
	fmt.Fprintf(e.stdout, "frames_recorded: %d\n", recorded)
	fmt.Fprintf(e.stdout, "frames_before_first_keyframe: %d\n", waiting)
	fmt.Fprintf(e.stdout, "dropped_frames: %d\n", (dropped-waiting)+sub0(decodable, recorded))
	fmt.Fprintf(e.stdout, "peak_rss_mb: %.1f\n", float64(peakRSS)/1e6)
	fmt.Fprintf(e.stdout, "rss_mb_per_stream: %.2f\n", float64(peakRSS-min(baseRSS, peakRSS))/1e6/n)
	return nil
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
func readURLs(r interface{ Read([]byte) (int, error) }, n int, timeout time.Duration) ([]string, error) {
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
