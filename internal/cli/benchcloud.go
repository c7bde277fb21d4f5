package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"vigil/internal/bench"
)

// benchCloud parses the flags of 'vigil bench cloud', runs bench.Cloud and
// prints what it measured. bench.Cloud runs 'vigil cloud' in child processes (so the CPU figures are
// the service's alone), pairs N simulated hubs into one household through
// the API and has them upload sealed segments at an offered rate.
//
// Without --config it runs one process on the embedded defaults (SQLite and
// a directory in a temporary directory). With --config it runs --replicas
// processes of that configuration (for more than one, a shared store and
// blob store: PostgreSQL and S3); each simulated hub talks to one replica
// (hub i to replica i mod N), as behind a load balancer that keeps a
// hub's connection. The CPU of the backing services it finds on this
// machine (PostgreSQL's backends, the S3 server, NATS) is reported next to
// the cloud's.
func benchCloud(e env, args []string) error {
	fs := newFlags(e, "bench cloud", "--hubs N --duration D [--rate R] [--segment-bytes B] [--warmup W] [--config cloud.yaml [--replicas N]]")
	hubs := fs.Int("hubs", 100, "simulated hubs")
	dur := fs.Duration("duration", 30*time.Second, "how long to upload")
	rate := fs.Float64("rate", 1000, "offered uploads per second, all hubs together (each hub uploads at rate/hubs)")
	segBytes := fs.Int("segment-bytes", 128<<10, "plaintext bytes per segment (a 4 s segment at 256 kbit/s is 128 KiB)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the cloud process to this file (with --replicas N > 1: FILE.0 ... FILE.N-1)")
	latencyLog := fs.String("latency-log", "", "write each upload's start (ms into the run) and latency (ms) to this file, a line each")
	warmup := fs.Duration("warmup", 0, "leave the uploads that start in this first part of the run out of the latency figures (they still count for throughput)")
	cfgFile := fs.String("config", "", "run the cloud with this configuration (docs/CONFIG.md, \"Cloud\") instead of the embedded defaults in a temporary directory; its listen address must have port 0")
	replicas := fs.Int("replicas", 1, "with --config: run this many 'vigil cloud' processes of it (more than one needs store.driver postgres and blobs.driver s3)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *hubs < 1 || *hubs > 10000 || *rate <= 0 || *segBytes < 1 || *segBytes > 64<<20 || *dur < 5*time.Second || *warmup < 0 || *warmup >= *dur {
		return fmt.Errorf("%w: --hubs 1..10000, --rate > 0, --segment-bytes 1..64MiB, --duration >= 5s, 0 <= --warmup < --duration", ErrUsage)
	}
	if *replicas < 1 || *replicas > 64 {
		return fmt.Errorf("%w: --replicas 1..64", ErrUsage)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	r, err := bench.Cloud(e.ctx, bench.CloudOptions{Hubs: *hubs, Duration: *dur, Rate: *rate, SegmentBytes: *segBytes, Warmup: *warmup,
		Config: *cfgFile, Replicas: *replicas, CPUProfile: *cpuProfile, LatencyLog: *latencyLog, Exe: exe, Progress: e.stderr})
	if err != nil {
		return usageFrom(err, bench.ErrUsage)
	}
	printCloudBench(e.stdout, r, *rate, *warmup)
	return nil
}

// printCloudBench prints what 'vigil bench cloud' measured, a figure a
// line.
func printCloudBench(w io.Writer, r bench.CloudResult, rate float64, warmup time.Duration) {
	wall := r.Wall
	cores := r.CPU.Seconds() / wall.Seconds()
	pct := func(p float64) time.Duration {
		if len(r.Latencies) == 0 {
			return 0
		}
		return r.Latencies[min(len(r.Latencies)-1, int(p*float64(len(r.Latencies))))]
	}
	ups := float64(r.Uploads) / wall.Seconds()
	mbs := float64(r.Bytes) / 1e6 / wall.Seconds()
	fmt.Fprintf(w, "hubs: %d\n", r.Hubs)
	fmt.Fprintf(w, "replicas: %d\n", r.Replicas)
	fmt.Fprintf(w, "duration_s: %.1f\n", wall.Seconds())
	fmt.Fprintf(w, "segment_bytes_sealed: %d\n", r.SealedBytes)
	fmt.Fprintf(w, "offered_uploads_per_s: %.0f\n", rate)
	fmt.Fprintf(w, "uploads_per_s: %.1f\n", ups)
	fmt.Fprintf(w, "mb_per_s: %.1f\n", mbs)
	fmt.Fprintf(w, "cloud_cpu_cores: %.2f\n", cores)
	if r.Replicas > 1 {
		perReplica := make([]string, len(r.ReplicaCPU))
		for i, d := range r.ReplicaCPU {
			perReplica[i] = fmt.Sprintf("%.2f", d.Seconds()/wall.Seconds())
		}
		fmt.Fprintf(w, "replica_cpu_cores: %s\n", strings.Join(perReplica, " "))
	}
	servers := cores
	for _, s := range r.Services {
		if !s.Measured {
			fmt.Fprintf(w, "%s_cpu_cores: n/a (%s)\n", s.Name, s.Why)
			continue
		}
		c := s.CPU.Seconds() / wall.Seconds()
		servers += c
		fmt.Fprintf(w, "%s_cpu_cores: %.2f\n", s.Name, c)
	}
	// The simulated hubs run on the same machine: what they use is not
	// there for the cloud.
	fmt.Fprintf(w, "bench_cpu_cores: %.2f\n", r.Self.Seconds()/wall.Seconds())
	if cores > 0 {
		fmt.Fprintf(w, "uploads_per_s_per_core: %.0f\n", ups/cores)
		fmt.Fprintf(w, "mb_per_s_per_core: %.1f\n", mbs/cores)
	}
	// Every server process together: the cloud and the services it uses.
	fmt.Fprintf(w, "servers_cpu_cores: %.2f\n", servers)
	if servers > 0 {
		fmt.Fprintf(w, "uploads_per_s_per_server_core: %.0f\n", ups/servers)
	}
	if n := r.Uploads; n > 0 {
		fmt.Fprintf(w, "cloud_cpu_ms_per_upload: %.3f\n", float64(r.CPU.Microseconds())/1000/float64(n))
	}
	if warmup > 0 {
		fmt.Fprintf(w, "latency_from_s: %.1f\n", warmup.Seconds())
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Fprintf(w, "latency_p50_ms: %.1f\n", ms(pct(0.50)))
	fmt.Fprintf(w, "latency_p90_ms: %.1f\n", ms(pct(0.90)))
	fmt.Fprintf(w, "latency_p99_ms: %.1f\n", ms(pct(0.99)))
	fmt.Fprintf(w, "latency_p999_ms: %.1f\n", ms(pct(0.999)))
	if len(r.Latencies) > 0 {
		fmt.Fprintf(w, "latency_max_ms: %.1f\n", ms(r.Latencies[len(r.Latencies)-1]))
	}
	fmt.Fprintf(w, "failures: %d\n", r.Failures)
	if r.LastError != "" {
		fmt.Fprintf(w, "last_error: %s\n", r.LastError)
	}
}
