package upload

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/devauth"
	"vigil/internal/envelope"
	"vigil/internal/segstore"
)

const testDevice = "hub-test"

// baseTime is the start of seq 0.
var baseTime = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// logRecorder is a slog handler that writes to t.Log and keeps the lines.
type logRecorder struct {
	t     testing.TB
	mu    *sync.Mutex
	lines *[]string
	attrs []slog.Attr
}

func newLogRecorder(t testing.TB) *logRecorder {
	return &logRecorder{t: t, mu: new(sync.Mutex), lines: new([]string)}
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	for _, a := range h.attrs {
		b.WriteString(" " + a.String())
	}
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	h.mu.Lock()
	*h.lines = append(*h.lines, b.String())
	h.mu.Unlock()
	h.t.Log(b.String())
	return nil
}

func (h *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr{}, h.attrs...), as...)
	return &c
}

func (h *logRecorder) WithGroup(string) slog.Handler { return h }

// count returns how many lines contain s.
func (h *logRecorder) count(s string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, l := range *h.lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

func (h *logRecorder) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string{}, *h.lines...)
}

// fixture is a hub (store, keys) and a cloud (a test server).
type fixture struct {
	t       *testing.T
	dir     string
	store   *segstore.Store
	key     ed25519.PrivateKey // the hub's device key, also its sealing key
	recip   envelope.Recipient
	log     *logRecorder
	cloud   *cloud
	nextSeq map[string]uint64
}

func newFixture(t *testing.T, opts segstore.Options) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), log: newLogRecorder(t), nextSeq: map[string]uint64{}}
	var err error
	if f.key, err = envelope.GenerateSigningKey(); err != nil {
		t.Fatal(err)
	}
	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	f.recip = id.Recipient()
	f.store, err = segstore.Open(context.Background(), f.dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	f.cloud = newCloud(t, f.key.Public().(ed25519.PublicKey))
	t.Cleanup(f.checkLogs)
	return f
}

// checkLogs fails the test if a log line holds the key or a signature.
func (f *fixture) checkLogs() {
	seed := f.key.Seed()
	for _, l := range f.log.all() {
		for _, secret := range []string{hex.EncodeToString(seed), base64.RawURLEncoding.EncodeToString(seed),
			base64.StdEncoding.EncodeToString(seed), "sig=", devauth.Scheme + " id="} {
			if strings.Contains(l, secret) {
				f.t.Errorf("log line holds key or signature material: %s", l)
			}
		}
	}
}

// seal returns a sealed segment for camera and seq with size random bytes
// of plaintext.
func (f *fixture) seal(camera string, seq uint64, start time.Time, size int) []byte {
	f.t.Helper()
	plain := make([]byte, size)
	rand.Read(plain)
	sealed, err := envelope.Seal(envelope.Header{Kind: envelope.KindSegment, Stream: camera, Sequence: seq, Start: start},
		start.Add(4*time.Second), f.key, plain, f.recip)
	if err != nil {
		f.t.Fatal(err)
	}
	return sealed
}

// put stores the camera's next segment, starting at start, sealed over size
// random bytes.
func (f *fixture) put(camera string, start time.Time, size int) segstore.Segment {
	f.t.Helper()
	seq := f.nextSeq[camera]
	f.nextSeq[camera]++
	return f.putData(camera, seq, start, f.seal(camera, seq, start, size))
}

func (f *fixture) putData(camera string, seq uint64, start time.Time, data []byte) segstore.Segment {
	f.t.Helper()
	seg, err := f.store.Put(context.Background(), segstore.Meta{Camera: camera, Seq: seq, Start: start,
		End: start.Add(4 * time.Second), Codec: "H264", Keyframes: 1, Frames: 100}, data)
	if err != nil {
		f.t.Fatalf("Put %s %d: %v", camera, seq, err)
	}
	return seg
}

// putMany stores n segments per camera, 4 s apart, cameras interleaved.
func (f *fixture) putMany(cameras []string, n, size int) []segstore.Segment {
	var segs []segstore.Segment
	for i := range n {
		for c, cam := range cameras {
			segs = append(segs, f.put(cam, baseTime.Add(time.Duration(i)*4*time.Second+time.Duration(c)*time.Second), size))
		}
	}
	return segs
}

func (f *fixture) config() Config {
	return Config{
		CloudURL:   f.cloud.URL(),
		DeviceID:   testDevice,
		Key:        f.key,
		Logger:     slog.New(f.log),
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 80 * time.Millisecond,
	}
}

// uploader is an Uploader running in the background.
type uploader struct {
	*Uploader
	cancel context.CancelFunc
	done   chan error
}

func (f *fixture) start(cfg Config) *uploader {
	f.t.Helper()
	u, err := New(cfg, f.store)
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &uploader{Uploader: u, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- u.Run(ctx) }()
	f.t.Cleanup(func() { r.stop(f.t) })
	return r
}

// stop cancels Run, waits for it and closes the Uploader (once).
func (r *uploader) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was canceled")
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type objKey struct {
	camera string
	seq    uint64
}

func keyOf(s segstore.Segment) objKey { return objKey{s.Camera, s.Seq} }

// cloud is a minimal cloud: it verifies device signatures and keeps the
// objects it is sent in a map keyed by their sealed header. Its fault hook
// can answer in its place.
type cloud struct {
	t        *testing.T
	verifier *devauth.Verifier
	addr     string
	srv      *httptest.Server

	mu       sync.Mutex
	objects  map[objKey][]byte
	arrivals []objKey // every PUT that passed authentication, in order
	attempts map[objKey]int
	dupes    int // PUTs answered 200
	requests int // every request, authenticated or not
	fault    func(k objKey) (status int, header http.Header, body string)
	delay    time.Duration
	// afterStore runs after an object is stored, before the answer.
	afterStore func(k objKey)
}

func newCloud(t *testing.T, hubPub ed25519.PublicKey) *cloud {
	c := &cloud{t: t, objects: map[objKey][]byte{}, attempts: map[objKey]int{}}
	c.verifier = &devauth.Verifier{Lookup: func(_ context.Context, id string) (ed25519.PublicKey, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if id == testDevice && hubPub != nil {
			return hubPub, nil
		}
		return nil, fmt.Errorf("device %s: %w", id, devauth.ErrUnknownDevice)
	}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.addr = l.Addr().String()
	c.serve(l)
	t.Cleanup(func() { c.down() })
	return c
}

func (c *cloud) URL() string { return "http://" + c.addr }

func (c *cloud) serve(l net.Listener) {
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(c.handle))
	c.srv.Listener.Close()
	c.srv.Listener = l
	c.srv.Start()
}

// down closes the listener and every connection: the cloud is unreachable.
func (c *cloud) down() {
	if c.srv != nil {
		c.srv.CloseClientConnections()
		c.srv.Close()
		c.srv = nil
	}
}

// up listens again on the same address.
func (c *cloud) up() {
	c.t.Helper()
	var l net.Listener
	var err error
	for range 100 {
		if l, err = net.Listen("tcp", c.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("listen again on %s: %v", c.addr, err)
	}
	c.serve(l)
}

func (c *cloud) setFault(f func(k objKey) (int, http.Header, string)) {
	c.mu.Lock()
	c.fault = f
	c.mu.Unlock()
}

func (c *cloud) setLookup(pub ed25519.PublicKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.verifier.Lookup = func(_ context.Context, id string) (ed25519.PublicKey, error) {
		if id == testDevice && pub != nil {
			return pub, nil
		}
		return nil, fmt.Errorf("device %s: %w", id, devauth.ErrUnknownDevice)
	}
}

func jsonError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"error\": %q}\n", msg)
}

func (c *cloud) handle(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.requests++
	delay := c.delay
	c.mu.Unlock()
	if r.Method != http.MethodPut || r.URL.Path != ObjectsPath {
		jsonError(w, http.StatusNotFound, "no such endpoint")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != ContentType {
		jsonError(w, http.StatusUnsupportedMediaType, "content type "+ct)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<20))
	if err != nil {
		jsonError(w, http.StatusRequestEntityTooLarge, "too large")
		return
	}
	if int64(len(body)) != r.ContentLength {
		c.t.Errorf("body of %d bytes, Content-Length %d", len(body), r.ContentLength)
	}
	if _, err := c.verifier.Verify(r, body); err != nil {
		jsonError(w, http.StatusUnauthorized, err.Error())
		return
	}
	h, err := envelope.Inspect(bytes.NewReader(body))
	if err != nil {
		c.t.Errorf("cloud received something that is not a sealed object: %v", err)
		jsonError(w, http.StatusUnprocessableEntity, "not a sealed object")
		return
	}
	k := objKey{h.Stream, h.Sequence}
	if delay > 0 {
		time.Sleep(delay)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts[k]++
	if c.fault != nil {
		if status, hdr, msg := c.fault(k); status != 0 {
			for name, v := range hdr {
				w.Header()[name] = v
			}
			jsonError(w, status, msg)
			return
		}
	}
	c.arrivals = append(c.arrivals, k)
	if old, ok := c.objects[k]; ok {
		if !bytes.Equal(old, body) {
			jsonError(w, http.StatusConflict, "a different object is stored under this key")
			return
		}
		c.dupes++
		w.WriteHeader(http.StatusOK)
		return
	}
	c.objects[k] = body
	if c.afterStore != nil {
		c.afterStore(k) // holds c.mu: the cloud answers nothing meanwhile
	}
	w.WriteHeader(http.StatusCreated)
}

func (c *cloud) stored() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.objects)
}

func (c *cloud) attemptsOf(k objKey) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attempts[k]
}

func (c *cloud) requestCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests
}

// checkHolds fails unless the cloud holds exactly segs, byte for byte.
func (c *cloud) checkHolds(t *testing.T, segs []segstore.Segment) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.objects) != len(segs) {
		t.Errorf("cloud holds %d objects, want %d", len(c.objects), len(segs))
	}
	for _, s := range segs {
		got, ok := c.objects[keyOf(s)]
		if !ok {
			t.Errorf("cloud lacks %s seq %d", s.Camera, s.Seq)
			continue
		}
		want, err := os.ReadFile(s.Path)
		if errors.Is(err, os.ErrNotExist) {
			continue // evicted since; the bytes were checked at upload
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s seq %d: cloud bytes differ from the store's", s.Camera, s.Seq)
		}
	}
}

func removeFile(p string) error { return os.Remove(p) }
