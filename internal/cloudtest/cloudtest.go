// Package cloudtest starts the cloud as it is deployed, for tests that run
// on both of its configurations: Embedded (one 'vigil cloud' process on
// SQLite and a directory) and Scaled (N 'vigil cloud' processes on
// PostgreSQL, an S3 server and optionally NATS, behind a round-robin
// reverse proxy). Both give a public URL and handles to the processes, the
// logs and the backing data, so a test writes its flow once:
//
//	for _, cfg := range cloudtest.Both() {
//		t.Run(cfg.Name(), func(t *testing.T) {
//			c := cloudtest.Start(t, cfg)
//			// ... clients talk to c.URL; c.Replicas[1].Kill(t); c.Scan(t, ...)
//		})
//	}
//
// The processes run the real binary, built once per machine and source
// tree (go build into the user's cache directory; VIGIL_TEST_BIN names a
// built one instead). PostgreSQL comes from internal/pgtest (a fresh
// database per cluster) and S3 from internal/s3test (a fresh bucket).
// Each process's output goes to a log file; a failed test shows where the
// logs are and their last lines.
//
// It owns the processes, directories, database and bucket it makes, and
// stops or removes them when the test ends. It never listens beyond
// loopback, never writes a secret (DSN with a password, S3 secret key)
// anywhere but a 0600 file in the cluster's directory, and is imported
// only from tests.
package cloudtest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"vigil/internal/natstest"
	"vigil/internal/pgtest"
	"vigil/internal/s3test"
)

// EnvBin names the environment variable that gives a built vigil binary
// to run instead of building one.
const EnvBin = "VIGIL_TEST_BIN"

// Config is a configuration of the cloud: Embedded or Scaled.
type Config interface {
	// Name names the configuration in test names: "embedded", "scaled-3".
	Name() string
	start(t testing.TB, c *Cloud)
}

// Embedded is the single-box configuration: one 'vigil cloud' process,
// SQLite and a blob directory under its data directory, behind the same
// proxy as Scaled (as a single box sits behind one for TLS), so a test
// reads the same record of answers (Proxy.Faults) on both.
type Embedded struct{}

// Scaled is the configuration for many homes: Replicas 'vigil cloud'
// processes sharing a PostgreSQL database, an S3 bucket and a NATS server
// (the bus between replicas), behind a round-robin reverse proxy whose URL
// is the public URL.
type Scaled struct {
	// Replicas is the number of processes; 0 means 3.
	Replicas int
	// NoBus leaves the bus key out of the configuration (the replicas then
	// signal only in-process): for a test of what the bus carries.
	NoBus bool
	// NATS is the bus's server URL; empty means a private in-process
	// server (Cloud.NATSServer) for this cluster alone. The cloud names its
	// streams alike in every cluster, so clusters must not share a server
	// while they run.
	NATS string
	// Postgres is the server the cluster's database is made on; nil means
	// the one pgtest.Open gives. An outage test passes pgtest.Private's.
	Postgres *pgtest.Server
	// OutboundAllow is the configuration's outbound_allow: networks the
	// replicas may post Web Push to although they are not public (a
	// test's push service on 127.0.0.0/8). Empty: public addresses only.
	OutboundAllow []string
}

// Both returns the two configurations a cloud test runs on: embedded and
// scaled with 3 replicas, PostgreSQL, S3 and NATS.
func Both() []Config { return []Config{Embedded{}, Scaled{Replicas: 3}} }

// Name implements Config.
func (Embedded) Name() string { return "embedded" }

// Name implements Config.
func (s Scaled) Name() string {
	if s.NoBus {
		return fmt.Sprintf("scaled-%d-nobus", s.replicas())
	}
	return fmt.Sprintf("scaled-%d", s.replicas())
}

func (s Scaled) replicas() int {
	if s.Replicas <= 0 {
		return 3
	}
	return s.Replicas
}

// Cloud is a running cloud.
type Cloud struct {
	// Config is the configuration it was started with.
	Config Config
	// URL is the public URL clients use: the proxy's.
	URL string
	// Dir holds the configuration, the logs and the data directory.
	Dir string
	// Data is the processes' data directory (shared by the replicas: the
	// outbox and the log key; the database and blobs too when embedded).
	Data string
	// Replicas are the processes (one when embedded).
	Replicas []*Replica
	// Proxy is in front of the replicas.
	Proxy *Proxy

	// DSN is the PostgreSQL database (scaled); it may hold a password.
	DSN string
	// S3 is the S3 server and Bucket the cloud's bucket in it (scaled).
	S3     *s3test.Server
	Bucket string
	// NATS is the bus's server URL (scaled, unless NoBus); NATSServer is
	// that server when it is the cluster's private one.
	NATS       string
	NATSServer *natstest.Server
	// Postgres is the database's server (scaled).
	Postgres *pgtest.Server
}

// Start starts the cloud in configuration cfg; it is stopped, and what
// it made removed, when t ends.
func Start(t testing.TB, cfg Config) *Cloud {
	t.Helper()
	dir := t.TempDir()
	c := &Cloud{Config: cfg, Dir: dir, Data: filepath.Join(dir, "data")}
	t.Cleanup(func() {
		if t.Failed() {
			c.reportLogs(t)
		}
	})
	cfg.start(t, c)
	return c
}

func (Embedded) start(t testing.TB, c *Cloud) {
	t.Helper()
	bin := Binary(t)
	c.Proxy = NewProxy(t, c.liveURLs)
	c.URL = c.Proxy.URL
	path := filepath.Join(c.Dir, "cloud.yaml")
	writeFile(t, path, fmt.Sprintf("listen: 127.0.0.1:0\npublic_url: %s\ndata: data\nlog_level: info\n", c.URL), 0o600)
	r := &Replica{Index: 0, LogFile: filepath.Join(c.Dir, "cloud.log"), bin: bin, config: path}
	c.Replicas = []*Replica{r}
	t.Cleanup(r.stop)
	r.Start(t)
}

func (s Scaled) start(t testing.TB, c *Cloud) {
	t.Helper()
	bin := Binary(t)
	c.Postgres = s.Postgres
	if c.Postgres == nil {
		c.Postgres = pgtest.Open(t)
	}
	c.DSN = c.Postgres.NewDB(t)
	c.S3 = s3test.Start(t)
	c.Bucket = c.S3.NewBucket(t)
	if !s.NoBus {
		c.NATS = s.NATS
		if c.NATS == "" {
			c.NATSServer = natstest.Start(t)
			c.NATS = c.NATSServer.URL()
		}
	}
	c.Proxy = NewProxy(t, c.liveURLs)
	c.URL = c.Proxy.URL

	writeFile(t, filepath.Join(c.Dir, "pg.dsn"), c.DSN+"\n", 0o600)
	writeFile(t, filepath.Join(c.Dir, "s3.secret"), c.S3.SecretKey+"\n", 0o600)
	var y strings.Builder
	fmt.Fprintf(&y, "listen: 127.0.0.1:0\npublic_url: %s\ndata: data\nlog_level: info\n", c.URL)
	fmt.Fprintf(&y, "store:\n  driver: postgres\n  dsn_file: pg.dsn\n")
	fmt.Fprintf(&y, "blobs:\n  driver: s3\n  s3:\n    endpoint: %q\n    secure: %t\n    region: %q\n    bucket: %q\n    access_key: %q\n    secret_key_file: s3.secret\n",
		c.S3.Endpoint, c.S3.Secure, c.S3.Region, c.Bucket, c.S3.AccessKey)
	if c.NATS != "" {
		fmt.Fprintf(&y, "bus:\n  driver: nats\n  url: %q\n", c.NATS)
	}
	for i, a := range s.OutboundAllow {
		if i == 0 {
			y.WriteString("outbound_allow:\n")
		}
		fmt.Fprintf(&y, "  - %q\n", a)
	}
	path := filepath.Join(c.Dir, "cloud.yaml")
	writeFile(t, path, y.String(), 0o600)

	for i := range s.replicas() {
		r := &Replica{Index: i, LogFile: filepath.Join(c.Dir, fmt.Sprintf("replica-%d.log", i)), bin: bin, config: path}
		c.Replicas = append(c.Replicas, r)
		t.Cleanup(r.stop)
	}
	// The first replica alone makes the schema and the log's key; the
	// others then start together.
	c.Replicas[0].Start(t)
	var wg sync.WaitGroup
	errs := make([]error, len(c.Replicas))
	for i, r := range c.Replicas[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i+1] = r.start()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("cloudtest: %v", err)
		}
	}
}

// liveURLs are the URLs of the replicas running now.
func (c *Cloud) liveURLs() []string {
	var out []string
	for _, r := range c.Replicas {
		if u := r.URL(); u != "" && r.Running() {
			out = append(out, u)
		}
	}
	return out
}

// String names the configuration and where it runs, for messages.
func (c *Cloud) String() string {
	if c.DSN == "" {
		return fmt.Sprintf("embedded cloud behind %s", c.URL)
	}
	return fmt.Sprintf("%d replicas behind %s", len(c.Replicas), c.URL)
}

// Outbox is the directory the cloud writes its mail to.
func (c *Cloud) Outbox() string { return filepath.Join(c.Data, "outbox") }

// Stop stops every replica gracefully (SIGTERM), for a test that reads
// the data at rest afterwards.
func (c *Cloud) Stop() {
	for _, r := range c.Replicas {
		r.stop()
	}
}

// reportLogs names each process's log and shows its last lines.
func (c *Cloud) reportLogs(t testing.TB) {
	for _, r := range c.Replicas {
		b, err := os.ReadFile(r.LogFile)
		if err != nil {
			t.Logf("cloudtest: replica %d: no log %s: %v", r.Index, r.LogFile, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		lines = lines[max(0, len(lines)-40):]
		t.Logf("cloudtest: replica %d (%s): log %s, last %d lines:\n%s", r.Index, c.Config.Name(), r.LogFile, len(lines), strings.Join(lines, "\n"))
	}
}

// Replica is one 'vigil cloud' process.
type Replica struct {
	// Index is its place in Cloud.Replicas.
	Index int
	// LogFile holds its output (stderr, and stdout after the URL line),
	// over restarts.
	LogFile string

	bin, config string

	mu   sync.Mutex
	url  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and its output is read
}

// URL is the replica's own URL (empty before it first started). A
// restarted replica listens on a new port.
func (r *Replica) URL() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.url
}

// PID is the process's ID (0 when it is not running).
func (r *Replica) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || !r.running() {
		return 0
	}
	return r.cmd.Process.Pid
}

// Running reports whether the process runs.
func (r *Replica) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running()
}

func (r *Replica) running() bool {
	if r.done == nil {
		return false
	}
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// Start starts the process (again, after Kill), and returns once it
// serves.
func (r *Replica) Start(t testing.TB) {
	t.Helper()
	if err := r.start(); err != nil {
		t.Fatalf("cloudtest: %v", err)
	}
}

func (r *Replica) start() error {
	r.mu.Lock()
	if r.running() {
		r.mu.Unlock()
		return fmt.Errorf("replica %d is running already", r.Index)
	}
	r.mu.Unlock()
	logf, err := os.OpenFile(r.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- cloudtest: starting replica %d at %s\n", r.Index, time.Now().Format(time.RFC3339Nano))
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command(r.bin, "cloud", "--config", r.config)
	cmd.Dir = filepath.Dir(r.config)
	cmd.Stdout, cmd.Stderr = pw, logf
	// The process must not outlive the test, even a killed one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return fmt.Errorf("starting %s: %w", r.bin, err)
	}
	pw.Close()
	first := make(chan string, 1)
	done := make(chan struct{})
	// A copy of the log for the rest of stdout: logf is closed on return.
	out, err := os.OpenFile(r.LogFile, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		cmd.Process.Kill()
		return err
	}
	go func() {
		defer close(done)
		defer out.Close()
		sc := bufio.NewScanner(pr)
		if sc.Scan() {
			first <- strings.TrimSpace(sc.Text())
		}
		close(first)
		for sc.Scan() {
			fmt.Fprintln(out, sc.Text())
		}
		pr.Close()
		cmd.Wait()
	}()
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
	select {
	case u, ok := <-first:
		if !ok || !strings.HasPrefix(u, "http") {
			<-done
			return fmt.Errorf("replica %d exited at start (%v); its log: %s\n%s", r.Index, cmd.ProcessState, r.LogFile, tail(r.LogFile, 30))
		}
		r.mu.Lock()
		r.url = u
		r.mu.Unlock()
		return nil
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("replica %d did not serve within 2 minutes; its log: %s\n%s", r.Index, r.LogFile, tail(r.LogFile, 30))
	}
}

// Kill kills the process with SIGKILL, as a crash or an out-of-memory
// kill would, and waits for it to be gone.
func (r *Replica) Kill(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil {
		t.Fatalf("cloudtest: replica %d was never started", r.Index)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// stop stops the process gracefully (SIGTERM; SIGKILL after 10 s).
func (r *Replica) stop() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// Binary returns a vigil binary built from this source tree: $VIGIL_TEST_BIN
// when set, else 'go build ./cmd/vigil' into the user's cache directory
// (os.UserCacheDir()/vigil-test/vigil-HASH, HASH naming the source tree).
// go build rebuilds only what changed, so a second call takes a second;
// concurrent test processes build one at a time.
func Binary(t testing.TB) string {
	t.Helper()
	if b := os.Getenv(EnvBin); b != "" {
		if fi, err := os.Stat(b); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			t.Fatalf("cloudtest: %s=%s is not an executable file (%v); hint: go build -o /tmp/vigil ./cmd/vigil, or unset it", EnvBin, b, err)
		}
		return b
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("cloudtest: building vigil needs the go command on PATH (or set %s to a built binary): %v", EnvBin, err)
	}
	mod, err := exec.Command(gobin, "env", "GOMOD").Output()
	root := filepath.Dir(strings.TrimSpace(string(mod)))
	if err != nil || strings.TrimSpace(string(mod)) == "" || strings.TrimSpace(string(mod)) == os.DevNull {
		t.Fatalf("cloudtest: not inside the vigil module (go env GOMOD: %q, %v)", mod, err)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(base, "vigil-test", "vigil-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockFile(filepath.Join(dir, "build.lock"))
	if err != nil {
		t.Fatalf("cloudtest: locking %s: %v", dir, err)
	}
	defer unlock()
	bin := filepath.Join(dir, "vigil")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", bin, "./cmd/vigil")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cloudtest: go build ./cmd/vigil in %s: %v\n%s", root, err, out)
	}
	return bin
}

// lockFile takes an exclusive lock on path, waiting for it.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
