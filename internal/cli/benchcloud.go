package cli

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"vigil/internal/client"
	"vigil/internal/cloud/auth"
	"vigil/internal/envelope"
	"vigil/internal/keydir"
)

// benchCloud runs 'vigil cloud' in a child process (so the CPU figures are
// the service's alone), pairs N simulated hubs into one household through
// the API and has them upload sealed segments at an offered rate.
func benchCloud(e env, args []string) error {
	fs := newFlags(e, "bench cloud", "--hubs N --duration D [--rate R] [--segment-bytes B] [--warmup W]")
	hubs := fs.Int("hubs", 100, "simulated hubs")
	dur := fs.Duration("duration", 30*time.Second, "how long to upload")
	rate := fs.Float64("rate", 1000, "offered uploads per second, all hubs together (each hub uploads at rate/hubs)")
	segBytes := fs.Int("segment-bytes", 128<<10, "plaintext bytes per segment (a 4 s segment at 256 kbit/s is 128 KiB)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the cloud process to this file")
	latencyLog := fs.String("latency-log", "", "write each upload's start (ms into the run) and latency (ms) to this file, a line each")
	warmup := fs.Duration("warmup", 0, "leave the uploads that start in this first part of the run out of the latency figures (they still count for throughput)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *hubs < 1 || *hubs > 10000 || *rate <= 0 || *segBytes < 1 || *segBytes > 64<<20 || *dur < 5*time.Second || *warmup < 0 || *warmup >= *dur {
		return fmt.Errorf("%w: --hubs 1..10000, --rate > 0, --segment-bytes 1..64MiB, --duration >= 5s, 0 <= --warmup < --duration", ErrUsage)
	}
	tmp, err := os.MkdirTemp("", "vigil-bench-cloud-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cfg := filepath.Join(tmp, "cloud.yaml")
	if err := os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\ndata: data\nlog_level: warn\n"), 0o600); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	cargs := []string{"cloud", "--config", cfg}
	if *cpuProfile != "" {
		abs, err := filepath.Abs(*cpuProfile)
		if err != nil {
			return err
		}
		cargs = append(cargs, "--cpuprofile", abs)
	}
	child := exec.CommandContext(ctx, exe, cargs...)
	child.Stderr = e.stderr
	out, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return err
	}
	defer child.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("the cloud did not start: %w", err)
	}
	url := strings.TrimSpace(line)

	// One household, its admin device, and N hubs added through the chain.
	fmt.Fprintf(e.stderr, "setting up a household with %d hubs at %s…\n", *hubs, url)
	c := client.New(url)
	res, err := c.SignUp(ctx, "bench@example.com", "bench password 0123")
	if err != nil {
		return err
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(res.TOTPSecret)
	if err != nil {
		return err
	}
	if _, err := c.SignIn(ctx, "bench@example.com", "bench password 0123", auth.TOTPCode(secret, time.Now())); err != nil {
		return err
	}
	admin, err := keydir.NewDeviceKeys()
	if err != nil {
		return err
	}
	genesis, _, st, err := keydir.NewHousehold("bench", admin, "admin", time.Now())
	if err != nil {
		return err
	}
	if _, err := c.CreateHousehold(ctx, genesis); err != nil {
		return err
	}
	transport := &http.Transport{MaxIdleConnsPerHost: *hubs + 10, MaxConnsPerHost: 0}
	hc := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	sim := make([]*client.Client, *hubs)
	keys := make([]ed25519.PrivateKey, *hubs)
	for i := range sim {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		pub := k.Public().(ed25519.PublicKey)
		link, err := st.AddHub(admin, keydir.DeviceKey{ID: keydir.DeviceID(pub), Role: keydir.RoleHub, Name: fmt.Sprintf("hub%d", i), SignPub: pub}, time.Now())
		if err != nil {
			return err
		}
		if err := c.AppendLink(ctx, st.HouseholdID, link); err != nil {
			return err
		}
		if err := st.Apply(link); err != nil {
			return err
		}
		sim[i] = &client.Client{BaseURL: url, HTTP: hc, DeviceID: keydir.DeviceID(pub), DeviceKey: k}
		keys[i] = k
	}

	// Each hub seals its segments ahead of time (sealing is the hub's cost,
	// not the cloud's): enough for the run at its rate, plus slack.
	perHub := *rate / float64(*hubs)
	n := int(perHub*dur.Seconds()) + 2
	fmt.Fprintf(e.stderr, "sealing %d segments of %d bytes…\n", n**hubs, *segBytes)
	plain := make([]byte, *segBytes)
	rand.Read(plain)
	sealed := make([][][]byte, *hubs)
	start := time.Now().Add(-time.Hour).UTC()
	for i := range sealed {
		for j := range n {
			b, err := envelope.Seal(envelope.Header{Kind: envelope.KindSegment, Stream: "cam", Sequence: uint64(j), Start: start.Add(time.Duration(j) * 4 * time.Second)},
				start.Add(time.Duration(j+1)*4*time.Second), keys[i], plain, st.EpochRecipient())
			if err != nil {
				return err
			}
			sealed[i] = append(sealed[i], b)
		}
	}

	fmt.Fprintf(e.stderr, "uploading at %.0f/s from %d hubs for %s…\n", *rate, *hubs, *dur)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		starts    []time.Duration // with every latency, when its upload began
		sent      atomic.Int64
		bytesSent atomic.Int64
		failures  atomic.Int64
		lastErr   atomic.Value
		wg        sync.WaitGroup
	)
	cpu0 := processCPU(child.Process.Pid)
	self0 := processCPU(os.Getpid())
	t0 := time.Now()
	measureFrom := t0.Add(*warmup)
	deadline := t0.Add(*dur)
	interval := time.Duration(float64(time.Second) / perHub)
	for i := range sim {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the hubs' first uploads over one interval.
			next := t0.Add(time.Duration(float64(interval) * float64(i) / float64(*hubs)))
			for j := 0; j < len(sealed[i]); j++ {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				if time.Now().After(deadline) {
					return
				}
				began := time.Now()
				_, _, err := sim[i].Upload(ctx, sealed[i][j])
				took := time.Since(began)
				if err != nil {
					failures.Add(1)
					lastErr.Store(err.Error())
				} else {
					sent.Add(1)
					bytesSent.Add(int64(len(sealed[i][j])))
					if !began.Before(measureFrom) {
						mu.Lock()
						latencies = append(latencies, took)
						starts = append(starts, began.Sub(t0))
						mu.Unlock()
					}
				}
				next = next.Add(interval)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	cpu := processCPU(child.Process.Pid) - cpu0
	self := processCPU(os.Getpid()) - self0
	// Stop the cloud cleanly so a profile is written.
	child.Process.Signal(os.Interrupt)
	waited := make(chan struct{})
	go func() { child.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
	}
	cores := cpu.Seconds() / wall.Seconds()

	if *latencyLog != "" {
		var b strings.Builder
		for i := range latencies {
			fmt.Fprintf(&b, "%.1f %.1f\n", float64(starts[i].Microseconds())/1000, float64(latencies[i].Microseconds())/1000)
		}
		if err := os.WriteFile(*latencyLog, []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	ups := float64(sent.Load()) / wall.Seconds()
	mbs := float64(bytesSent.Load()) / 1e6 / wall.Seconds()
	fmt.Fprintf(e.stdout, "hubs: %d\n", *hubs)
	fmt.Fprintf(e.stdout, "duration_s: %.1f\n", wall.Seconds())
	fmt.Fprintf(e.stdout, "segment_bytes_sealed: %d\n", len(sealed[0][0]))
	fmt.Fprintf(e.stdout, "offered_uploads_per_s: %.0f\n", *rate)
	fmt.Fprintf(e.stdout, "uploads_per_s: %.1f\n", ups)
	fmt.Fprintf(e.stdout, "mb_per_s: %.1f\n", mbs)
	fmt.Fprintf(e.stdout, "cloud_cpu_cores: %.2f\n", cores)
	// The simulated hubs run on the same machine: what they use is not
	// there for the cloud.
	fmt.Fprintf(e.stdout, "bench_cpu_cores: %.2f\n", self.Seconds()/wall.Seconds())
	if cores > 0 {
		fmt.Fprintf(e.stdout, "uploads_per_s_per_core: %.0f\n", ups/cores)
		fmt.Fprintf(e.stdout, "mb_per_s_per_core: %.1f\n", mbs/cores)
	}
	if n := sent.Load(); n > 0 {
		fmt.Fprintf(e.stdout, "cloud_cpu_ms_per_upload: %.3f\n", float64(cpu.Microseconds())/1000/float64(n))
	}
	if *warmup > 0 {
		fmt.Fprintf(e.stdout, "latency_from_s: %.1f\n", warmup.Seconds())
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Fprintf(e.stdout, "latency_p50_ms: %.1f\n", ms(pct(0.50)))
	fmt.Fprintf(e.stdout, "latency_p90_ms: %.1f\n", ms(pct(0.90)))
	fmt.Fprintf(e.stdout, "latency_p99_ms: %.1f\n", ms(pct(0.99)))
	fmt.Fprintf(e.stdout, "latency_p999_ms: %.1f\n", ms(pct(0.999)))
	if len(latencies) > 0 {
		fmt.Fprintf(e.stdout, "latency_max_ms: %.1f\n", ms(latencies[len(latencies)-1]))
	}
	fmt.Fprintf(e.stdout, "failures: %d\n", failures.Load())
	if v := lastErr.Load(); v != nil {
		fmt.Fprintf(e.stdout, "last_error: %s\n", v)
	}
	return nil
}

// processCPU returns the CPU time (user+system) a process has used.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}
