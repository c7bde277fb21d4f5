package bench

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
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
	"vigil/internal/upload"
)

// CloudOptions are what Cloud measures.
type CloudOptions struct {
	Hubs         int           // simulated hubs
	Duration     time.Duration // how long to upload
	Rate         float64       // offered uploads per second, all hubs together
	SegmentBytes int           // plaintext bytes per segment
	Warmup       time.Duration // uploads starting this early are left out of the latencies
	Config       string        // the cloud's configuration file; "" for the embedded defaults
	Replicas     int           // 'vigil cloud' processes of Config
	CPUProfile   string        // the cloud's CPU profile (FILE.i for replica i when more than one)
	LatencyLog   string        // each upload's start and latency in ms, a line each
	Exe          string        // the vigil executable the cloud processes run
	Progress     io.Writer     // progress lines, and the cloud processes' stderr
}

// ServiceCPU is the CPU a backing service used during the run.
type ServiceCPU struct {
	Name     string // postgres, s3, nats
	Measured bool
	Why      string // why it was not measured
	CPU      time.Duration
}

// CloudResult is what Cloud measured.
type CloudResult struct {
	Hubs, Replicas int
	Wall           time.Duration
	SealedBytes    int // bytes of one sealed segment
	Uploads        int64
	Bytes          int64
	Failures       int64
	LastError      string
	CPU            time.Duration   // every replica together
	ReplicaCPU     []time.Duration // each replica's
	Services       []ServiceCPU
	Self           time.Duration   // the simulated hubs' (this process's)
	Latencies      []time.Duration // sorted, of the uploads begun after Warmup
}

// Cloud runs 'vigil cloud' in child processes (so the CPU figures are the
// service's alone), pairs o.Hubs simulated hubs into one household through
// the API and has them upload sealed segments at an offered rate.
//
// Without o.Config it runs one process on the embedded defaults (SQLite
// and a directory in a temporary directory). With o.Config it runs
// o.Replicas processes of that configuration (for more than one, a shared
// store and blob store: PostgreSQL and S3); each simulated hub talks to one
// replica (hub i to replica i mod N), as behind a load balancer that keeps
// a hub's connection. The CPU of the backing services it finds on this
// machine (PostgreSQL's backends, the S3 server, NATS) is measured next to
// the cloud's.
func Cloud(ctx context.Context, o CloudOptions) (CloudResult, error) {
	var services []*service
	cfg := o.Config
	if cfg == "" {
		if o.Replicas > 1 {
			return CloudResult{}, fmt.Errorf("%w: --replicas %d needs --config FILE naming a shared store (store.driver: postgres) and blob store (blobs.driver: s3): replicas do not share the embedded SQLite file and directory", ErrUsage, o.Replicas)
		}
		tmp, err := os.MkdirTemp("", "vigil-bench-cloud-*")
		if err != nil {
			return CloudResult{}, err
		}
		defer os.RemoveAll(tmp)
		cfg = filepath.Join(tmp, "cloud.yaml")
		if err := os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\ndata: data\nlog_level: warn\n"), 0o600); err != nil {
			return CloudResult{}, err
		}
	} else {
		var err error
		if services, err = backingServices(ctx, cfg, o.Replicas); err != nil {
			return CloudResult{}, err
		}
		defer func() {
			for _, s := range services {
				s.close()
			}
		}()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	children, urls, err := startReplicas(ctx, o.Progress, o.Exe, cfg, o.Replicas, o.CPUProfile)
	defer func() {
		for _, c := range children {
			c.Process.Kill()
			<-c.done
		}
	}()
	if err != nil {
		return CloudResult{}, err
	}

	sim, keys, st, err := cloudHousehold(ctx, o, urls)
	if err != nil {
		return CloudResult{}, err
	}
	sealed, err := sealSegments(o, keys, st)
	if err != nil {
		return CloudResult{}, err
	}
	return uploadLoad(ctx, o, children, services, sim, sealed)
}

// cloudHousehold signs up an account on the first replica, makes one
// household with its admin device and adds o.Hubs hubs to it through the
// chain; it returns the hubs' clients (hub i on replica i mod N), their
// signing keys and the household's state.
func cloudHousehold(ctx context.Context, o CloudOptions, urls []string) ([]*client.Client, []ed25519.PrivateKey, *keydir.State, error) {
	url := urls[0]
	// One household, its admin device, and N hubs added through the chain.
	fmt.Fprintf(o.Progress, "setting up a household with %d hubs at %s (%d replicas)…\n", o.Hubs, url, len(urls))
	c := client.New(url)
	res, err := c.SignUp(ctx, "bench@example.com", "bench password 0123")
	if err != nil {
		return nil, nil, nil, err
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(res.TOTPSecret)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := c.SignIn(ctx, "bench@example.com", "bench password 0123", auth.TOTPCode(secret, time.Now())); err != nil {
		return nil, nil, nil, err
	}
	admin, err := keydir.NewDeviceKeys()
	if err != nil {
		return nil, nil, nil, err
	}
	genesis, _, st, err := keydir.NewHousehold("bench", admin, "admin", time.Now())
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := c.CreateHousehold(ctx, genesis); err != nil {
		return nil, nil, nil, err
	}
	// The simulated hubs send as hubs do (upload.Transport: a segment's
	// body in one write), each on a connection of its own.
	transport := upload.Transport()
	transport.Proxy = nil
	transport.MaxIdleConnsPerHost = o.Hubs + 10
	hc := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	sim := make([]*client.Client, o.Hubs)
	keys := make([]ed25519.PrivateKey, o.Hubs)
	for i := range sim {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		pub := k.Public().(ed25519.PublicKey)
		link, err := st.AddHub(admin, keydir.DeviceKey{ID: keydir.DeviceID(pub), Role: keydir.RoleHub, Name: fmt.Sprintf("hub%d", i), SignPub: pub}, time.Now())
		if err != nil {
			return nil, nil, nil, err
		}
		if err := c.AppendLink(ctx, st.HouseholdID, link); err != nil {
			return nil, nil, nil, err
		}
		if err := st.Apply(link); err != nil {
			return nil, nil, nil, err
		}
		sim[i] = &client.Client{BaseURL: urls[i%len(urls)], HTTP: hc, DeviceID: keydir.DeviceID(pub), DeviceKey: k}
		keys[i] = k
	}

	return sim, keys, st, nil
}

// sealSegments has each hub seal its segments ahead of time (sealing is
// the hub's cost, not the cloud's): enough for the run at its rate, plus
// slack.
func sealSegments(o CloudOptions, keys []ed25519.PrivateKey, st *keydir.State) ([][][]byte, error) {
	perHub := o.Rate / float64(o.Hubs)
	n := int(perHub*o.Duration.Seconds()) + 2
	fmt.Fprintf(o.Progress, "sealing %d segments of %d bytes…\n", n*o.Hubs, o.SegmentBytes)
	plain := make([]byte, o.SegmentBytes)
	rand.Read(plain)
	sealed := make([][][]byte, o.Hubs)
	start := time.Now().Add(-time.Hour).UTC()
	for i := range sealed {
		for j := range n {
			b, err := envelope.Seal(envelope.Header{Kind: envelope.KindSegment, Stream: "cam", Sequence: uint64(j), Start: start.Add(time.Duration(j) * 4 * time.Second)},
				start.Add(time.Duration(j+1)*4*time.Second), keys[i], plain, st.EpochRecipient())
			if err != nil {
				return nil, err
			}
			sealed[i] = append(sealed[i], b)
		}
	}

	return sealed, nil
}

// uploadLoad has every simulated hub upload its sealed segments at its
// share of o.Rate until o.Duration is over, and measures the cloud's and
// its backing services' CPU meanwhile.
func uploadLoad(ctx context.Context, o CloudOptions, children []*child, services []*service, sim []*client.Client, sealed [][][]byte) (CloudResult, error) {
	perHub := o.Rate / float64(o.Hubs)
	fmt.Fprintf(o.Progress, "uploading at %.0f/s from %d hubs for %s…\n", o.Rate, o.Hubs, o.Duration)
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
	measureFrom := t0.Add(o.Warmup)
	deadline := t0.Add(o.Duration)
	interval := time.Duration(float64(time.Second) / perHub)
	for i := range sim {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the hubs' first uploads over one interval.
			next := t0.Add(time.Duration(float64(interval) * float64(i) / float64(o.Hubs)))
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
	perReplica := make([]time.Duration, len(children))
	for i, c := range children {
		perReplica[i] = processCPU(c.Process.Pid) - cpu0[i]
		cpu += perReplica[i]
	}
	svcCPU := make([]ServiceCPU, len(services))
	for i, s := range services {
		svcCPU[i] = ServiceCPU{Name: s.name, Why: s.why, Measured: s.pids != nil || s.pg != nil, CPU: s.end(ctx)}
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
	if o.LatencyLog != "" {
		var b strings.Builder
		for i := range latencies {
			fmt.Fprintf(&b, "%.1f %.1f\n", float64(starts[i].Microseconds())/1000, float64(latencies[i].Microseconds())/1000)
		}
		if err := os.WriteFile(o.LatencyLog, []byte(b.String()), 0o644); err != nil {
			return CloudResult{}, err
		}
	}
	slices.Sort(latencies)
	r := CloudResult{Hubs: o.Hubs, Replicas: len(children), Wall: wall, SealedBytes: len(sealed[0][0]),
		Uploads: sent.Load(), Bytes: bytesSent.Load(), Failures: failures.Load(),
		CPU: cpu, ReplicaCPU: perReplica, Services: svcCPU, Self: self, Latencies: latencies}
	if v := lastErr.Load(); v != nil {
		r.LastError = v.(string)
	}
	return r, nil
}

// child is a 'vigil cloud' process the benchmark started.
type child struct {
	*exec.Cmd
	done chan struct{} // closed once it has exited
}

// startReplicas starts n 'vigil cloud --config cfg' processes: the
// first alone (it makes the schema and the log's key), then the others
// together. It returns those it started, even on error, and their URLs.
func startReplicas(ctx context.Context, stderr io.Writer, exe, cfg string, n int, cpuProfile string) ([]*child, []string, error) {
	var children []*child
	urls := make([]string, n)
	start := func(i int) (*child, string, error) {
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
		cmd.Stderr = stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, "", err
		}
		if err := cmd.Start(); err != nil {
			return nil, "", err
		}
		c := &child{Cmd: cmd, done: make(chan struct{})}
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
		c   *child
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
