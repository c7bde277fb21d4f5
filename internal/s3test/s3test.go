// Package s3test gives tests a running S3 endpoint: the one named by
// VIGIL_TEST_S3, or else a private versitygw (its posix backend over a
// temporary directory) on a free loopback port, stopped when the test ends.
//
// versitygw is built from source once per machine with 'go install' into
// the user's cache directory (os.UserCacheDir()/vigil-test), then reused; a
// build takes minutes on two cores and says so on stderr while it runs.
//
// It owns the server processes it starts and the buckets and prefixes it
// hands out, nothing else. It never logs the credentials it makes or is
// given, and never starts a server on anything but loopback. It is
// imported only from tests, on Unix.
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// EnvVar names an S3 endpoint to test against instead of a private
// versitygw: "http://ACCESS:SECRET@host:port/bucket" (https for TLS; an
// optional ?region=NAME). Tests use only fresh prefixes and buckets of
// their own in it, and remove them when they end.
const EnvVar = "VIGIL_TEST_S3"

// VersityGW is the versitygw the private servers run, as 'go install'
// takes it.
const (
	versityModule  = "github.com/versity/versitygw"
	versityVersion = "v1.8.0"
	VersityGW      = versityModule + "/cmd/versitygw@" + versityVersion
)

// Server is an S3 endpoint for tests.
type Server struct {
	// Endpoint is host:port.
	Endpoint string
	// Secure: the endpoint speaks HTTPS.
	Secure    bool
	AccessKey string
	SecretKey string
	Region    string
	// Bucket exists when Start returns. Tests share it, each under a
	// prefix of its own (Prefix).
	Bucket string

	client *minio.Client
	tr     *http.Transport

	// A private server's process; nil for one named by EnvVar.
	bin, root string // what it runs, over which directory (Restart)
	cmd       *exec.Cmd
	exited    chan struct{}
	exitErr   error
	output    *syncBuffer
	stopOnce  sync.Once
}

// Start returns the endpoint named by EnvVar if it is set, else a private
// versitygw. Either way it is released when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	if v := os.Getenv(EnvVar); v != "" {
		return external(t, v)
	}
	return StartPrivate(t)
}

// StartPrivate starts a private versitygw on a free loopback port, with a
// posix backend in a temporary directory and fresh random credentials. It
// is stopped when the test ends, or earlier by Stop.
func StartPrivate(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	root := t.TempDir()
	s := &Server{
		AccessKey: "vigil-" + randomHex(6),
		SecretKey: randomHex(20),
		Region:    "us-east-1",
		Bucket:    "vigil-test",
	}
	var lastErr error
	for range 3 { // a port taken between choosing and binding: try another
		lastErr = s.startProcess(t, bin, root)
		if lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("s3test: starting versitygw: %v", lastErr)
	}
	t.Cleanup(s.Stop)
	s.connect(t)
	if err := s.client.MakeBucket(t.Context(), s.Bucket, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		t.Fatalf("s3test: making bucket %s at %s: %v", s.Bucket, s.Endpoint, err)
	}
	return s
}

// startProcess runs versitygw on a free port and waits until it answers.
func (s *Server) startProcess(t testing.TB, bin, root string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Endpoint = net.JoinHostPort("127.0.0.1", port)
	s.bin, s.root = bin, root
	return s.run()
}

// run runs versitygw on s.Endpoint over s.root and waits until it answers.
func (s *Server) run() error {
	bin, root := s.bin, s.root
	s.output = &syncBuffer{}
	// --keep-alive as object stores at scale do: without it versitygw
	// closes the connection after every response.
	cmd := exec.Command(bin, "--port", s.Endpoint, "--region", s.Region, "--quiet", "--keep-alive", "posix", root)
	// Credentials through the environment, not the command line.
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
	cmd.Stdout = s.output
	cmd.Stderr = s.output
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		s.exitErr = cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("versitygw exited at start (%v): %s", s.exitErr, s.output.String())
		default:
		}
		c, err := net.DialTimeout("tcp", s.Endpoint, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("versitygw did not listen on %s within 30s: %s", s.Endpoint, s.output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

// external uses the endpoint named by EnvVar.
func external(t testing.TB, v string) *Server {
	t.Helper()
	u, err := url.Parse(v)
	if err != nil {
		t.Fatalf("s3test: %s: not a URL (want http://ACCESS:SECRET@host:port/bucket)", EnvVar)
	}
	s := &Server{Endpoint: u.Host, Secure: u.Scheme == "https", Region: u.Query().Get("region")}
	if u.User != nil {
		s.AccessKey = u.User.Username()
		s.SecretKey, _ = u.User.Password()
	}
	s.Bucket = strings.Trim(u.Path, "/")
	if (u.Scheme != "http" && u.Scheme != "https") || s.Endpoint == "" || s.Bucket == "" || s.AccessKey == "" || s.SecretKey == "" {
		t.Fatalf("s3test: %s names %s://%s/%s; want http://ACCESS:SECRET@host:port/bucket (or https)", EnvVar, u.Scheme, u.Host, s.Bucket)
	}
	s.connect(t)
	ok, err := s.client.BucketExists(t.Context(), s.Bucket)
	if err != nil {
		t.Fatalf("s3test: %s: bucket %s at %s: %v", EnvVar, s.Bucket, s.Endpoint, err)
	}
	if !ok {
		t.Fatalf("s3test: %s: bucket %s does not exist at %s", EnvVar, s.Bucket, s.Endpoint)
	}
	return s
}

func (s *Server) connect(t testing.TB) {
	t.Helper()
	s.tr = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second}
	c, err := minio.New(s.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure:    s.Secure,
		Region:    s.Region,
		Transport: s.tr,
	})
	if err != nil {
		t.Fatalf("s3test: client for %s: %v", s.Endpoint, err)
	}
	s.client = c
	t.Cleanup(s.tr.CloseIdleConnections)
}

// Client is an S3 client for the server, for tests that look at the
// bucket directly.
func (s *Server) Client() *minio.Client { return s.client }

// Prefix returns a fresh prefix in Bucket, with nothing under it: "t-"
// and random hex. What a test leaves under it is removed when it ends.
func (s *Server) Prefix(t testing.TB) string {
	t.Helper()
	p := "t-" + randomHex(8)
	t.Cleanup(func() { s.empty(t, s.Bucket, p+"/") })
	return p
}

// NewBucket makes a fresh, empty bucket; it is emptied and removed when
// the test ends.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	b := "vigil-t-" + randomHex(8)
	if err := s.client.MakeBucket(t.Context(), b, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		t.Fatalf("s3test: making bucket %s at %s: %v", b, s.Endpoint, err)
	}
	t.Cleanup(func() {
		if s.empty(t, b, "") {
			if err := s.client.RemoveBucket(context.Background(), b); err != nil {
				t.Logf("s3test: removing bucket %s: %v", b, err)
			}
		}
	})
	return b
}

// empty removes every object and unfinished upload under prefix in
// bucket; it reports whether it could. A stopped private server has
// nothing to remove: its directory goes with the test.
func (s *Server) empty(t testing.TB, bucket, prefix string) bool {
	if s.stopped() {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for u := range s.client.ListIncompleteUploads(ctx, bucket, prefix, true) {
		if u.Err != nil {
			break
		}
		minio.Core{Client: s.client}.AbortMultipartUpload(ctx, bucket, u.Key, u.UploadID)
	}
	for o := range s.client.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Logf("s3test: listing %s/%s to remove it: %v", bucket, prefix, o.Err)
			return false
		}
		if err := s.client.RemoveObject(ctx, bucket, o.Key, minio.RemoveObjectOptions{}); err != nil {
			t.Logf("s3test: removing %s/%s: %v", bucket, o.Key, err)
			return false
		}
	}
	return true
}

// Stop stops a private server and waits for it to exit; connections to it
// are refused from then on. It is a no-op for the server named by EnvVar.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.stopOnce.Do(func() {
		if s.tr != nil {
			s.tr.CloseIdleConnections()
		}
		resume(s.cmd.Process) // in case it was paused
		terminate(s.cmd.Process)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			s.kill()
		}
	})
}

func (s *Server) kill() {
	s.cmd.Process.Kill()
	<-s.exited
}

func (s *Server) stopped() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return true
	default:
		return false
	}
}

// Restart starts a private server that Stop stopped again, on the same
// endpoint, credentials and data, and returns once it listens.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		t.Fatal("s3test: Restart needs a private server (StartPrivate)")
	}
	if !s.stopped() {
		t.Fatal("s3test: Restart: the server is running (Stop it first)")
	}
	s.stopOnce = sync.Once{}
	if err := s.run(); err != nil {
		t.Fatalf("s3test: restarting versitygw: %v", err)
	}
}

// Pause freezes a private server (SIGSTOP): it still accepts connections,
// as the kernel completes them, but answers nothing until Resume. It
// fails the test for the server named by EnvVar.
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	if s.cmd == nil {
		t.Fatal("s3test: Pause needs a private server (StartPrivate)")
	}
	if err := pause(s.cmd.Process); err != nil {
		t.Fatalf("s3test: pausing versitygw: %v", err)
	}
	t.Cleanup(func() { resume(s.cmd.Process) })
}

// Resume undoes Pause.
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	if err := resume(s.cmd.Process); err != nil {
		t.Fatalf("s3test: resuming versitygw: %v", err)
	}
}

// Binary returns the path of the versitygw executable, building it first
// if this machine has not yet: 'go install' of VersityGW into
// os.UserCacheDir()/vigil-test/versitygw-VERSION. Concurrent test
// processes build it once between them.
func Binary(t testing.TB) string {
	t.Helper()
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "vigil-test", "versitygw-"+versityVersion)
	bin := filepath.Join(dir, "versitygw")
	if isExecutable(bin) {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("s3test: %v", err)
	}
	unlock, err := lockFile(filepath.Join(dir, "build.lock"))
	if err != nil {
		t.Fatalf("s3test: locking %s: %v", dir, err)
	}
	defer unlock()
	if isExecutable(bin) { // another process built it while this one waited
		return bin
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("s3test: building versitygw needs the go command on PATH: %v", err)
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	defer os.RemoveAll(tmp)
	progress := func(format string, args ...any) {
		msg := fmt.Sprintf("s3test: "+format, args...)
		fmt.Fprintln(os.Stderr, msg)
		t.Log(msg)
	}
	progress("building versitygw %s into %s with 'go install' (once per machine; it takes a few minutes on 2 cores)...", versityVersion, dir)
	start := time.Now()
	cmd := exec.Command(gobin, "install", "-trimpath", "-ldflags=-s -w", VersityGW)
	cmd.Dir = tmp // outside any module: 'go install pkg@version' uses the package's own go.mod
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("s3test: go install %s: %v\n%s\n(hint: it needs the Go module proxy; or set %s to an S3 endpoint to test against)", VersityGW, err, out.Bytes(), EnvVar)
	}
	if err := os.Rename(filepath.Join(tmp, "versitygw"), bin); err != nil {
		t.Fatalf("s3test: %v", err)
	}
	progress("built versitygw in %s", time.Since(start).Round(time.Second))
	return bin
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Len() > 1<<20 { // keep the start, where startup errors are
		return len(p), nil
	}
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
