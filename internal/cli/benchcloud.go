package cli

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"go.yaml.in/yaml/v3"

	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/auth"
	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/units"
	"vigil/internal/upload"
)

// benchCloud runs 'vigil cloud' in child processes (so the CPU figures are
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
	var services []*benchService
	cfg := *cfgFile
	if cfg == "" {
		if *replicas > 1 {
			return fmt.Errorf("%w: --replicas %d needs --config FILE naming a shared store (store.driver: postgres) and blob store (blobs.driver: s3): replicas do not share the embedded SQLite file and directory", ErrUsage, *replicas)
		}
		tmp, err := os.MkdirTemp("", "vigil-bench-cloud-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		cfg = filepath.Join(tmp, "cloud.yaml")
		if err := os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\ndata: data\nlog_level: warn\n"), 0o600); err != nil {
			return err
		}
	} else {
		var err error
		if services, err = benchServices(e.ctx, cfg, *replicas); err != nil {
			return err
		}
		defer func() {
			for _, s := range services {
				s.close()
			}
		}()
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	children, urls, err := startBenchReplicas(ctx, e, exe, cfg, *replicas, *cpuProfile)
	defer func() {
		for _, c := range children {
			c.Process.Kill()
			<-c.done
		}
	}()
	if err != nil {
		return err
	}
	url := urls[0]

	// One household, its admin device, and N hubs added through the chain.
	fmt.Fprintf(e.stderr, "setting up a household with %d hubs at %s (%d replicas)…\n", *hubs, url, len(urls))
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
	// The simulated hubs send as hubs do (upload.Transport: a segment's
	// body in one write), each on a connection of its own.
	transport := upload.Transport()
	transport.Proxy = nil
	transport.MaxIdleConnsPerHost = *hubs + 10
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
		sim[i] = &client.Client{BaseURL: urls[i%len(urls)], HTTP: hc, DeviceID: keydir.DeviceID(pub), DeviceKey: k}
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
	cpu0 := make([]time.Duration, len(children))
	for i, c := range children {
		cpu0[i] = processCPU(c.Process.Pid)
	}
	for _, s := range services {
		s.begin(ctx)
	}
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
	var cpu time.Duration
	perReplica := make([]string, len(children))
	for i, c := range children {
		d := processCPU(c.Process.Pid) - cpu0[i]
		cpu += d
		perReplica[i] = fmt.Sprintf("%.2f", d.Seconds()/wall.Seconds())
	}
	svcCPU := make([]time.Duration, len(services))
	for i, s := range services {
		svcCPU[i] = s.end(ctx)
	}
	self := processCPU(os.Getpid()) - self0
	// Stop the cloud cleanly so a profile is written.
	for _, c := range children {
		c.Process.Signal(os.Interrupt)
	}
	for _, c := range children {
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
		}
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
	fmt.Fprintf(e.stdout, "replicas: %d\n", len(children))
	fmt.Fprintf(e.stdout, "duration_s: %.1f\n", wall.Seconds())
	fmt.Fprintf(e.stdout, "segment_bytes_sealed: %d\n", len(sealed[0][0]))
	fmt.Fprintf(e.stdout, "offered_uploads_per_s: %.0f\n", *rate)
	fmt.Fprintf(e.stdout, "uploads_per_s: %.1f\n", ups)
	fmt.Fprintf(e.stdout, "mb_per_s: %.1f\n", mbs)
	fmt.Fprintf(e.stdout, "cloud_cpu_cores: %.2f\n", cores)
	if len(children) > 1 {
		fmt.Fprintf(e.stdout, "replica_cpu_cores: %s\n", strings.Join(perReplica, " "))
	}
	servers := cores
	for i, s := range services {
		if s.pids == nil && s.pg == nil {
			fmt.Fprintf(e.stdout, "%s_cpu_cores: n/a (%s)\n", s.name, s.why)
			continue
		}
		c := svcCPU[i].Seconds() / wall.Seconds()
		servers += c
		fmt.Fprintf(e.stdout, "%s_cpu_cores: %.2f\n", s.name, c)
	}
	// The simulated hubs run on the same machine: what they use is not
	// there for the cloud.
	fmt.Fprintf(e.stdout, "bench_cpu_cores: %.2f\n", self.Seconds()/wall.Seconds())
	if cores > 0 {
		fmt.Fprintf(e.stdout, "uploads_per_s_per_core: %.0f\n", ups/cores)
		fmt.Fprintf(e.stdout, "mb_per_s_per_core: %.1f\n", mbs/cores)
	}
	// Every server process together: the cloud and the services it uses.
	fmt.Fprintf(e.stdout, "servers_cpu_cores: %.2f\n", servers)
	if servers > 0 {
		fmt.Fprintf(e.stdout, "uploads_per_s_per_server_core: %.0f\n", ups/servers)
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

// benchChild is a 'vigil cloud' process the bench started.
type benchChild struct {
	*exec.Cmd
	done chan struct{} // closed once it has exited
}

// startBenchReplicas starts n 'vigil cloud --config cfg' processes: the
// first alone (it makes the schema and the log's key), then the others
// together. It returns those it started, even on error, and their URLs.
func startBenchReplicas(ctx context.Context, e env, exe, cfg string, n int, cpuProfile string) ([]*benchChild, []string, error) {
	var children []*benchChild
	urls := make([]string, n)
	start := func(i int) (*benchChild, string, error) {
		cargs := []string{"cloud", "--config", cfg}
		if cpuProfile != "" {
			abs, err := filepath.Abs(cpuProfile)
			if err != nil {
				return nil, "", err
			}
			if n > 1 {
				abs += "." + strconv.Itoa(i)
			}
			cargs = append(cargs, "--cpuprofile", abs)
		}
		cmd := exec.CommandContext(ctx, exe, cargs...)
		cmd.Stderr = e.stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, "", err
		}
		if err := cmd.Start(); err != nil {
			return nil, "", err
		}
		c := &benchChild{Cmd: cmd, done: make(chan struct{})}
		line, err := bufio.NewReader(out).ReadString('\n')
		go func() {
			io.Copy(io.Discard, out)
			cmd.Wait()
			close(c.done)
		}()
		if err != nil {
			return c, "", fmt.Errorf("the cloud (replica %d) did not start: %w", i, err)
		}
		return c, strings.TrimSpace(line), nil
	}
	c, u, err := start(0)
	if c != nil {
		children = append(children, c)
	}
	if err != nil {
		return children, nil, err
	}
	urls[0] = u
	type started struct {
		c   *benchChild
		u   string
		err error
	}
	res := make([]started, n)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, u, err := start(i)
			res[i] = started{c, u, err}
		}()
	}
	wg.Wait()
	var errs []error
	for i := 1; i < n; i++ {
		if res[i].c != nil {
			children = append(children, res[i].c)
		}
		urls[i] = res[i].u
		errs = append(errs, res[i].err)
	}
	return children, urls, errors.Join(errs...)
}

// benchService is a backing service whose CPU the bench reports: the
// processes listening on its port, or PostgreSQL's processes serving the
// cloud's database (read at every sample, as backends come and go).
type benchService struct {
	name string
	why  string // why it is not measured (no pids, no pg)
	pids []int
	pg   *pgx.Conn

	// Written by the sampler goroutine alone between begin and end.
	first map[int]time.Duration // CPU of each process when first seen in the run
	last  map[int]time.Duration
	stop  chan struct{}
	done  chan struct{}
}

// benchServices finds the backing services of the configuration at path on
// this machine: PostgreSQL (store.driver postgres), the S3 server
// (blobs.driver s3) and NATS (bus.url). It checks that replicas processes
// can share the configuration.
func benchServices(ctx context.Context, path string, replicas int) ([]*benchService, error) {
	cfg, err := cloud.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	if _, port, _ := net.SplitHostPort(cfg.Listen); replicas > 1 && port != "0" {
		return nil, fmt.Errorf("%w: --replicas %d: %s listens on %s; each replica needs a port of its own: set listen to 127.0.0.1:0", ErrUsage, replicas, path, cfg.Listen)
	}
	if replicas > 1 && (cfg.Store.Driver != cloud.StorePostgres || cfg.Blobs.Driver != cloud.BlobsS3) {
		return nil, fmt.Errorf("%w: --replicas %d: %s has store %s and blobs %s; replicas share only store.driver postgres and blobs.driver s3", ErrUsage, replicas, path, cfg.Store.Driver, cfg.Blobs.Driver)
	}
	var out []*benchService
	if cfg.Store.Driver == cloud.StorePostgres {
		s := &benchService{name: "postgres"}
		pc, err := pgx.ParseConfig(cfg.Store.ConnString())
		switch {
		case err != nil:
			s.why = "the DSN does not parse"
		case !strings.HasPrefix(pc.Host, "/") && !units.IsLoopbackHost(pc.Host):
			s.why = "not on this machine"
		default:
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			s.pg, err = pgx.ConnectConfig(cctx, pc)
			cancel()
			if err != nil {
				s.why = "cannot connect: " + cfg.Redact(err.Error())
			}
		}
		out = append(out, s)
	}
	if cfg.Blobs.Driver == cloud.BlobsS3 {
		out = append(out, listeningService("s3", cfg.Blobs.S3.Endpoint))
	}
	if u := busURL(path); u != "" {
		host := u
		if pu, err := neturl.Parse(u); err == nil && pu.Host != "" {
			host = pu.Host
		}
		out = append(out, listeningService("nats", host))
	}
	return out, nil
}

// busURL is the bus.url of the configuration file, if any.
func busURL(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var doc struct {
		Bus struct {
			URL string `yaml:"url"`
		} `yaml:"bus"`
	}
	if yaml.Unmarshal(b, &doc) != nil {
		return ""
	}
	return doc.Bus.URL
}

// listeningService is the service of the processes listening on hostport,
// when that is on this machine.
func listeningService(name, hostport string) *benchService {
	s := &benchService{name: name}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		s.why = hostport + " is not host:port"
		return s
	}
	if !units.IsLoopbackHost(host) {
		s.why = "not on this machine"
		return s
	}
	if s.pids = listeningPIDs(port); len(s.pids) == 0 {
		s.why = "no process found listening on " + hostport
	}
	return s
}

// listeningPIDs returns the processes with a TCP socket listening on port
// (from /proc/net/tcp{,6} and /proc/PID/fd; Linux, and the bench must be
// allowed to read the other processes' descriptors).
func listeningPIDs(port string) []int {
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil
	}
	want := fmt.Sprintf(":%04X", p)
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fl := strings.Fields(line)
			if len(fl) > 9 && fl[3] == "0A" && strings.HasSuffix(fl[1], want) { // 0A: LISTEN
				inodes["socket:["+fl[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	procs, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range procs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir("/proc/" + d.Name() + "/fd")
		for _, fd := range fds {
			if l, err := os.Readlink("/proc/" + d.Name() + "/fd/" + fd.Name()); err == nil && inodes[l] {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// begin takes the first sample and samples every half second until end.
func (s *benchService) begin(ctx context.Context) {
	if s.pids == nil && s.pg == nil {
		return
	}
	s.first, s.last = map[int]time.Duration{}, map[int]time.Duration{}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	s.sample(ctx)
	go func() {
		defer close(s.done)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tick.C:
				s.sample(ctx)
			}
		}
	}()
}

// end takes the last sample and returns the CPU the service used since
// begin.
func (s *benchService) end(ctx context.Context) time.Duration {
	if s.stop == nil {
		return 0
	}
	close(s.stop)
	<-s.done
	s.sample(ctx)
	var d time.Duration
	for pid, c := range s.last {
		d += c - s.first[pid]
	}
	return d
}

func (s *benchService) sample(ctx context.Context) {
	pids := s.pids
	if s.pg != nil {
		pids = s.pgPIDs(ctx)
	}
	for _, pid := range pids {
		c, ok := processCPUOK(pid)
		if !ok {
			continue
		}
		if _, seen := s.first[pid]; !seen {
			s.first[pid] = c
		}
		s.last[pid] = c
	}
}

// pgPIDs are PostgreSQL's processes at work for the cloud: the backends
// connected to its database (the bench's own left out) and the server's
// background processes (WAL writer, checkpointer, ...), which a dedicated
// server runs for it alone.
func (s *benchService) pgPIDs(ctx context.Context) []int {
	rows, err := s.pg.Query(ctx, `SELECT pid FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND (datname = current_database() OR backend_type <> 'client backend' AND datname IS NULL)`)
	if err != nil {
		return nil
	}
	pids, _ := pgx.CollectRows(rows, pgx.RowTo[int32])
	out := make([]int, len(pids))
	for i, p := range pids {
		out[i] = int(p)
	}
	return out
}

func (s *benchService) close() {
	if s.pg != nil {
		s.pg.Close(context.Background())
	}
}

// processCPU returns the CPU time (user+system) a process has used.
func processCPU(pid int) time.Duration {
	d, _ := processCPUOK(pid)
	return d
}

// processCPUOK is processCPU, and whether the process was there to read.
func processCPUOK(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+2:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0, false
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, true // USER_HZ is 100 on Linux
}
