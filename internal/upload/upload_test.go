package upload

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/segstore"
)

func TestUploadsEverythingOnce(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	cams := []string{"front door", "garden"}
	segs := f.putMany(cams, 6, 3000)
	u := f.start(f.config())
	// Segments recorded while the uploader runs arrive through Enqueue.
	for i := range 3 {
		s := f.put("front door", baseTime.Add(time.Hour+time.Duration(i)*4*time.Second), 2000)
		segs = append(segs, s)
		u.Enqueue(s, nil)
	}
	waitFor(t, "every segment in the cloud", 10*time.Second, func() bool { return u.Stats().Pending == 0 && f.cloud.stored() == len(segs) })
	f.cloud.checkHolds(t, segs)
	st := u.Stats()
	var size int64
	for _, s := range segs {
		size += s.Bytes
	}
	if st.Uploaded != int64(len(segs)) || st.AlreadyThere != 0 || st.Failures != 0 || st.BytesSent != size || !st.OldestPending.IsZero() {
		t.Errorf("Stats = %+v, want %d uploaded, %d bytes sent, no failures", st, len(segs), size)
	}
	if f.cloud.dupes != 0 {
		t.Errorf("%d duplicate uploads", f.cloud.dupes)
	}

	// A restart finds everything done and sends nothing.
	u.stop(t)
	reqs := f.cloud.requestCount()
	u2 := f.start(f.config())
	if p := u2.Stats().Pending; p != 0 {
		t.Errorf("Pending after restart = %d, want 0", p)
	}
	time.Sleep(200 * time.Millisecond)
	if n := f.cloud.requestCount(); n != reqs {
		t.Errorf("%d requests after a restart with nothing to do", n-reqs)
	}
}

func TestCloudAwayThenBack(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	segs := f.putMany([]string{"cam-1", "cam-2"}, 10, 1000)
	f.cloud.setFault(func(objKey) (int, http.Header, string) { return http.StatusServiceUnavailable, nil, "maintenance" })
	u := f.start(f.config())

	waitFor(t, "503 retries", 5*time.Second, func() bool { return u.Stats().Failures >= 4 })
	if st := u.Stats(); st.Pending != 20 || !st.CloudAway || !st.OldestPending.Equal(baseTime) || !strings.Contains(st.LastError, "503") ||
		st.LastErrorKind != ErrServer || st.LastErrorStatus != 503 {
		t.Errorf("while the cloud answers 503: %+v", st)
	}
	// Then the cloud is gone altogether: connections are refused.
	f.cloud.down()
	n := u.Stats().Failures
	waitFor(t, "retries against a closed port", 5*time.Second, func() bool { return u.Stats().Failures >= n+3 })
	// A segment recorded during the outage is queued too.
	late := f.put("cam-1", baseTime.Add(time.Hour), 1000)
	u.Enqueue(late, nil)
	segs = append(segs, late)
	waitFor(t, "the late segment queued", 5*time.Second, func() bool { return u.Stats().Pending == 21 })

	f.cloud.setFault(nil)
	f.cloud.up()
	waitFor(t, "the backlog drained", 10*time.Second, func() bool { return u.Stats().Pending == 0 })
	f.cloud.checkHolds(t, segs)
	if f.cloud.dupes != 0 {
		t.Errorf("%d objects arrived twice", f.cloud.dupes)
	}
	for _, k := range f.cloud.arrivals {
		if f.cloud.attemptsOf(k) < 1 {
			t.Errorf("%v: no attempt recorded", k)
		}
	}
	st := u.Stats()
	if st.Uploaded != 21 || st.CloudAway {
		t.Errorf("after the outage: %+v", st)
	}
	// One warning when the cloud went away (however many attempts failed),
	// one line when it came back, one when the backlog started draining and
	// one when it was drained.
	for msg, want := range map[string]int{
		"cannot reach the cloud":       1,
		"the cloud is reachable again": 1,
		"uploading backlog: ":          1,
		"backlog drained":              1,
	} {
		if got := f.log.count(msg); got != want {
			t.Errorf("%d log lines with %q, want %d", got, msg, want)
		}
	}
	if st.Failures < 7 {
		t.Errorf("only %d failed attempts; the outage was not exercised", st.Failures)
	}
}

func TestRateLimitedWarnings(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	f.putMany([]string{"cam"}, 2, 500)
	f.cloud.down()
	u, err := New(f.config(), f.store)
	if err != nil {
		t.Fatal(err)
	}
	u.warn = 150 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- u.Run(ctx) }()
	time.Sleep(500 * time.Millisecond)
	cancel()
	<-done
	u.Close()
	failures := u.Stats().Failures
	first, still := f.log.count("cannot reach the cloud"), f.log.count("still unreachable")
	if first != 1 || still < 1 || still > 4 || int64(first+still) >= failures {
		t.Errorf("%d failed attempts gave %d first and %d repeated warnings, want 1 and one per 150 ms", failures, first, still)
	}
}

func TestRetryAfter(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	f.putMany([]string{"cam"}, 1, 500)
	var times []time.Time
	f.cloud.setFault(func(objKey) (int, http.Header, string) {
		times = append(times, time.Now())
		if len(times) == 1 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"1"}}, "slow down"
		}
		return 0, nil, ""
	})
	u := f.start(f.config()) // MaxBackoff is 80 ms: only Retry-After explains a longer wait
	waitFor(t, "the upload", 5*time.Second, func() bool { return u.Stats().Uploaded == 1 })
	f.cloud.mu.Lock()
	defer f.cloud.mu.Unlock()
	if len(times) != 2 {
		t.Fatalf("%d attempts, want 2", len(times))
	}
	if d := times[1].Sub(times[0]); d < 900*time.Millisecond {
		t.Errorf("retried after %v, before Retry-After's 1 s", d)
	}
}

func TestRestartMidBacklog(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	segs := f.putMany([]string{"a", "b", "c"}, 10, 1500)
	f.cloud.delay = 10 * time.Millisecond
	cfg := f.config()
	cfg.Concurrency = 3
	u := f.start(cfg)
	waitFor(t, "part of the backlog", 10*time.Second, func() bool { return f.cloud.stored() >= 10 })
	u.stop(t) // uploads in flight are cut off
	if got := f.cloud.stored(); got >= len(segs) {
		t.Fatalf("the whole backlog (%d) was uploaded before the restart; the test proves nothing", got)
	}

	// While no uploader runs, more segments are stored and never Enqueued:
	// a crash between the store's Put and Enqueue.
	for i := range 3 {
		segs = append(segs, f.put("a", baseTime.Add(time.Hour+time.Duration(i)*4*time.Second), 1500))
	}
	u2 := f.start(cfg)
	waitFor(t, "the rest of the backlog", 10*time.Second, func() bool { return u2.Stats().Pending == 0 && f.cloud.stored() == len(segs) })
	f.cloud.checkHolds(t, segs)
	// A segment whose upload was cut off may have been stored by the cloud
	// without the hub hearing it: it is sent again and answered 200. There
	// can be no more of those than uploads in flight.
	if f.cloud.dupes > cfg.Concurrency {
		t.Errorf("%d segments sent again after the restart, more than the %d in flight", f.cloud.dupes, cfg.Concurrency)
	}
	if got := u2.Stats().AlreadyThere; got != int64(f.cloud.dupes) {
		t.Errorf("AlreadyThere = %d, cloud answered 200 %d times", got, f.cloud.dupes)
	}
}

func TestOrder(t *testing.T) {
	for _, order := range []string{"", OrderOldest, OrderNewest} {
		t.Run("order="+order, func(t *testing.T) {
			f := newFixture(t, segstore.Options{})
			segs := f.putMany([]string{"x", "y"}, 5, 800)
			cfg := f.config()
			cfg.Order = order
			cfg.Concurrency = 1
			u := f.start(cfg)
			waitFor(t, "all uploads", 10*time.Second, func() bool { return f.cloud.stored() == len(segs) })
			u.stop(t)
			slices.SortFunc(segs, func(a, b segstore.Segment) int { return a.Start.Compare(b.Start) })
			if order == OrderNewest {
				slices.Reverse(segs)
			}
			var want []objKey
			for _, s := range segs {
				want = append(want, keyOf(s))
			}
			if !slices.Equal(f.cloud.arrivals, want) {
				t.Errorf("arrival order %v, want %v", f.cloud.arrivals, want)
			}
		})
	}
}

func TestRejectedNotRetried(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	segs := f.putMany([]string{"cam"}, 6, 1000)
	conflict, invalid := keyOf(segs[2]), keyOf(segs[4])
	// The cloud already holds other bytes under segs[2]'s key.
	f.cloud.objects[conflict] = f.seal("cam", 2, segs[2].Start, 1000)
	f.cloud.setFault(func(k objKey) (int, http.Header, string) {
		if k == invalid {
			return http.StatusUnprocessableEntity, nil, "epoch 0 is not a key epoch of this household"
		}
		return 0, nil, ""
	})
	u := f.start(f.config())
	waitFor(t, "the uploads", 10*time.Second, func() bool { st := u.Stats(); return st.Uploaded+st.Rejected == 6 })
	time.Sleep(150 * time.Millisecond) // more than MaxBackoff: a retry would show
	st := u.Stats()
	if st.Uploaded != 4 || st.Rejected != 2 || st.Pending != 0 || st.CloudAway {
		t.Errorf("Stats = %+v, want 4 uploaded, 2 rejected, none pending", st)
	}
	for _, k := range []objKey{conflict, invalid} {
		if n := f.cloud.attemptsOf(k); n != 1 {
			t.Errorf("%v sent %d times, want once", k, n)
		}
	}
	if f.log.count("epoch 0 is not a key epoch of this household") != 1 || f.log.count("409 Conflict") != 1 {
		t.Errorf("the server's messages were not logged once each")
	}
	// Nor after a restart.
	u.stop(t)
	f.start(f.config())
	time.Sleep(200 * time.Millisecond)
	for _, k := range []objKey{conflict, invalid} {
		if n := f.cloud.attemptsOf(k); n != 1 {
			t.Errorf("after a restart, %v sent %d times, want once", k, n)
		}
	}
}

// A hub the cloud does not (yet) know is not an object problem: nothing is
// dropped, and once the cloud accepts the hub everything goes up.
func TestRefusedHubKeepsSegments(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	segs := f.putMany([]string{"cam"}, 4, 1000)
	f.cloud.setLookup(nil)
	u := f.start(f.config())
	waitFor(t, "refused attempts", 5*time.Second, func() bool { return u.Stats().Failures >= 2 })
	if st := u.Stats(); st.Pending != 4 || st.Rejected != 0 || !strings.Contains(st.LastError, "unknown device") || st.LastErrorKind != ErrRefused {
		t.Errorf("while refused: %+v", st)
	}
	// The failure is counted before it is logged (after a look at the
	// backlog), and uploads run side by side: the count can reach 2 first.
	waitFor(t, "an error logged for a refused hub", 5*time.Second, func() bool { return f.log.count("refuses this hub") >= 1 })
	f.cloud.setLookup(f.key.Public().(ed25519.PublicKey))
	waitFor(t, "uploads once paired", 10*time.Second, func() bool { return u.Stats().Pending == 0 })
	f.cloud.checkHolds(t, segs)
}

func TestEvicted(t *testing.T) {
	size := len(newFixture(t, segstore.Options{}).seal("cam", 0, baseTime, 1000))
	f := newFixture(t, segstore.Options{MaxBytes: int64(5 * size)})
	// The cloud is away and asks for a 1 s pause: the time to evict
	// segments while they wait in the queue.
	f.cloud.setFault(func(objKey) (int, http.Header, string) {
		return http.StatusServiceUnavailable, http.Header{"Retry-After": {"1"}}, ""
	})
	cfg := f.config()
	cfg.Concurrency = 1
	u := f.start(cfg)
	var segs []segstore.Segment
	for i := range 5 {
		s := f.put("cam", baseTime.Add(time.Duration(i)*4*time.Second), 1000)
		segs = append(segs, s)
		u.Enqueue(s, nil)
	}
	waitFor(t, "5 queued and a failed attempt", 5*time.Second, func() bool { st := u.Stats(); return st.Pending == 5 && st.Failures > 0 })
	// Retention makes room for two more by deleting the two oldest, still
	// queued: they are found gone at upload time.
	for i := 5; i < 7; i++ {
		s := f.put("cam", baseTime.Add(time.Duration(i)*4*time.Second), 1000)
		segs = append(segs, s)
		u.Enqueue(s, nil)
	}
	f.cloud.setFault(nil)
	waitFor(t, "the queue drained", 10*time.Second, func() bool { return u.Stats().Pending == 0 })
	if st := u.Stats(); st.Evicted != 2 || st.Uploaded != 5 {
		t.Errorf("Stats = %+v, want 2 evicted, 5 uploaded", st)
	}
	f.cloud.checkHolds(t, segs[2:])
	if f.log.count("retention deleted segments before they could be uploaded") != 1 {
		t.Error("eviction before upload was not reported")
	}

	// Evicted while no uploader runs: the index remembers them for the
	// next uploader.
	u.stop(t)
	f.cloud.setFault(func(objKey) (int, http.Header, string) { return http.StatusBadGateway, nil, "" })
	u2 := f.start(f.config())
	for i := 7; i < 10; i++ {
		s := f.put("cam", baseTime.Add(time.Duration(i)*4*time.Second), 1000)
		segs = append(segs, s)
		u2.Enqueue(s, nil)
	}
	waitFor(t, "3 queued", 5*time.Second, func() bool { return u2.Stats().Pending == 3 })
	u2.stop(t)
	for i := 10; i < 15; i++ { // evicts the 3 queued ones and the 2 oldest uploaded ones
		segs = append(segs, f.put("cam", baseTime.Add(time.Duration(i)*4*time.Second), 1000))
	}
	f.cloud.setFault(nil)
	u3 := f.start(f.config())
	waitFor(t, "the queue drained", 10*time.Second, func() bool { return u3.Stats().Pending == 0 && u3.Stats().Uploaded == 5 })
	if st := u3.Stats(); st.Evicted != 3 {
		t.Errorf("after a restart: %+v, want 3 evicted", st)
	}
	// The state of every segment is in the index, and only there.
	left, err := f.store.List(context.Background(), segstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 5 {
		t.Errorf("store holds %d segments, want 5", len(left))
	}
	if b, err := f.store.UploadBacklog(context.Background(), time.Time{}); err != nil || b.Count != 0 {
		t.Errorf("backlog %+v, %v; want none pending", b, err)
	}
	if lost, err := f.store.TakeLostUploads(context.Background()); err != nil || len(lost) != 0 {
		t.Errorf("lost uploads left after they were counted: %v, %v", lost, err)
	}
	checkNoQueueFile(t, f.dir)
}

// checkNoQueueFile fails if a database other than the index is in dir.
func checkNoQueueFile(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".db") && e.Name() != "index.db" {
			t.Errorf("a second database %s beside the segment index", e.Name())
		}
	}
}

func TestNeverSendsUnsealed(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	good := f.put("cam", baseTime, 1000)
	plain := make([]byte, 5000)
	rand.Read(plain)
	f.putData("cam", 1, baseTime.Add(4*time.Second), plain)
	// Sealed, but for another sequence number than the store's.
	f.putData("cam", 2, baseTime.Add(8*time.Second), f.seal("cam", 99, baseTime.Add(8*time.Second), 1000))
	u := f.start(f.config())
	waitFor(t, "the queue handled", 5*time.Second, func() bool { st := u.Stats(); return st.Uploaded+st.Rejected == 3 })
	st := u.Stats()
	if st.Uploaded != 1 || st.Rejected != 2 || st.BytesSent != good.Bytes {
		t.Errorf("Stats = %+v, want 1 uploaded, 2 rejected, only the sealed segment's bytes sent", st)
	}
	if n := f.cloud.requestCount(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
	if f.log.count("not a sealed object") != 1 || f.log.count("store indexed a segment") != 1 {
		t.Error("refusals not logged")
	}
}

func TestSince(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	segs := f.putMany([]string{"cam"}, 6, 500)
	cfg := f.config()
	cfg.Since = segs[3].Start
	u := f.start(cfg)
	u.Enqueue(segs[0], nil) // before pairing: ignored
	late := f.put("cam", baseTime.Add(time.Hour), 500)
	u.Enqueue(late, nil)
	want := append(segs[3:], late)
	waitFor(t, "uploads", 5*time.Second, func() bool { return f.cloud.stored() == len(want) && u.Stats().Pending == 0 })
	time.Sleep(100 * time.Millisecond)
	f.cloud.checkHolds(t, want)
}

func TestBandwidthCap(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	segs := f.putMany([]string{"cam"}, 2, 64<<10)
	var total int64
	for _, s := range segs {
		total += s.Bytes
	}
	cfg := f.config()
	cfg.MaxBytesPerSec = 64 << 10
	start := time.Now()
	u := f.start(cfg)
	waitFor(t, "uploads", 10*time.Second, func() bool { return u.Stats().Uploaded == 2 })
	// About 128 KiB at 64 KiB/s, less the 16 KiB burst: 1.75 s. Loose.
	if d := time.Since(start); d < 1400*time.Millisecond {
		t.Errorf("%d bytes at %d B/s took %v", total, cfg.MaxBytesPerSec, d)
	}
	if st := u.Stats(); st.BytesSent != total {
		t.Errorf("BytesSent = %d, want %d", st.BytesSent, total)
	}
}

// A pending segment whose file was deleted behind the store's back is
// counted as evicted once and never tried again, and one whose sealed bytes
// were handed to Enqueue is sent without its file being read.
func TestMissingFileAndHandoff(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	segs := f.putMany([]string{"a"}, 3, 500)
	if err := removeFile(segs[0].Path); err != nil {
		t.Fatal(err)
	}
	// segs[1]'s bytes are handed over before its file goes.
	data, err := os.ReadFile(segs[1].Path)
	if err != nil {
		t.Fatal(err)
	}
	u, err := New(f.config(), f.store)
	if err != nil {
		t.Fatal(err)
	}
	u.Enqueue(segs[1], data)
	if err := removeFile(segs[1].Path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	waitFor(t, "the queue handled", 5*time.Second, func() bool { return u.Stats().Pending == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	u.Close()
	if st := u.Stats(); st.Evicted != 1 || st.Uploaded != 2 {
		t.Errorf("Stats = %+v, want 1 evicted (the missing file), 2 uploaded (one from handed bytes)", st)
	}
	if got := f.cloud.objects[keyOf(segs[1])]; !bytes.Equal(got, data) {
		t.Error("the handed-over bytes did not reach the cloud")
	}
	// Not tried again by the next uploader.
	reqs := f.cloud.requestCount()
	u2 := f.start(f.config())
	time.Sleep(200 * time.Millisecond)
	if st := u2.Stats(); f.cloud.requestCount() != reqs || st.Pending != 0 || st.Evicted != 0 {
		t.Errorf("after a restart: %d requests, %+v", f.cloud.requestCount()-reqs, st)
	}
}

// Handed-over bytes are checked like a file: plaintext handed in place of
// a sealed segment is refused, never sent.
func TestHandoffChecked(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	seg := f.put("cam", baseTime, 1000)
	plain := make([]byte, seg.Bytes)
	rand.Read(plain)
	u, err := New(f.config(), f.store)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Enqueue(seg, plain) // before Run, so that no worker reads the file first
	go u.Run(context.Background())
	waitFor(t, "the segment handled", 5*time.Second, func() bool { return u.Stats().Pending == 0 })
	if st := u.Stats(); st.Rejected != 1 || st.BytesSent != 0 || f.cloud.requestCount() != 0 {
		t.Errorf("Stats = %+v after %d requests; want the handed plaintext refused unsent", st, f.cloud.requestCount())
	}
}

func TestRunAndClose(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	u, err := New(f.config(), f.store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- u.Run(ctx) }()
	waitFor(t, "Run to start", 5*time.Second, func() bool { u.mu.Lock(); defer u.mu.Unlock(); return u.running })
	if err := u.Run(ctx); err == nil {
		t.Error("a second concurrent Run was allowed")
	}
	// Close stops a running Run.
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	cancel()
	if err := u.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v", err)
	}
	if err := u.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
	u.Enqueue(f.put("cam", baseTime, 100), nil) // no panic, no effect
	_ = u.Stats()
}

func TestConfigErrors(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	tests := []struct {
		field string
		edit  func(*Config)
	}{
		{"CloudURL", func(c *Config) { c.CloudURL = "" }},
		{"CloudURL", func(c *Config) { c.CloudURL = "ftp://cloud.example" }},
		{"CloudURL", func(c *Config) { c.CloudURL = "https://user:pw@cloud.example" }},
		{"CloudURL", func(c *Config) { c.CloudURL = "https://cloud.example/?x=1" }},
		{"CloudURL", func(c *Config) { c.CloudURL = "https:///nohost" }},
		{"DeviceID", func(c *Config) { c.DeviceID = "hub one" }},
		{"Key", func(c *Config) { c.Key = c.Key[:32] }},
		{"Order", func(c *Config) { c.Order = "random" }},
		{"MaxBytesPerSec", func(c *Config) { c.MaxBytesPerSec = -1 }},
		{"MinBackoff", func(c *Config) { c.MinBackoff, c.MaxBackoff = time.Minute, time.Second }},
		{"Concurrency", func(c *Config) { c.Concurrency = 17 }},
	}
	for _, tt := range tests {
		cfg := f.config()
		tt.edit(&cfg)
		u, err := New(cfg, f.store)
		if err == nil {
			u.Close()
			t.Errorf("%s: bad value accepted", tt.field)
			continue
		}
		if !strings.Contains(err.Error(), tt.field) {
			t.Errorf("%s: error does not name the field: %v", tt.field, err)
		}
	}
	cfg := f.config()
	cfg.CloudURL = "http://cloud.example/base/"
	u, err := New(cfg, f.store)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if u.endpoint != "http://cloud.example/base/v1/objects" {
		t.Errorf("endpoint %q", u.endpoint)
	}
	if f.log.count("plain http") != 1 {
		t.Error("no warning for plain http to a remote host")
	}
}

func TestClassify(t *testing.T) {
	for status, want := range map[int]resultKind{
		200: resDone, 201: resDone,
		409: resRejected, 400: resRejected, 413: resRejected, 422: resRejected,
		401: resRefused, 403: resRefused, 404: resRefused,
		429: resRetry, 500: resRetry, 502: resRetry, 503: resRetry, 504: resRetry,
		301: resRetry, 307: resRetry, 405: resRetry, 202: resRetry,
	} {
		if got := classify(status); got != want {
			t.Errorf("classify(%d) = %d, want %d", status, got, want)
		}
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"":                              0,
		"5":                             5 * time.Second,
		" 7 ":                           7 * time.Second,
		"-3":                            0,
		"99999999999":                   time.Hour,
		"Sun, 01 Mar 2026 12:00:30 GMT": 30 * time.Second,
		"Sun, 01 Mar 2026 11:00:00 GMT": 0,
		"Mon, 02 Mar 2026 12:00:00 GMT": time.Hour,
		"soon":                          0,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	u := &Uploader{cfg: Config{MinBackoff: time.Second, MaxBackoff: time.Minute}}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 7: time.Minute, 100: time.Minute} {
		for range 20 {
			if got := u.backoff(n); got < want/2 || got > want {
				t.Errorf("backoff(%d) = %v, want within [%v, %v]", n, got, want/2, want)
			}
		}
	}
}

func TestCleanServerMessage(t *testing.T) {
	got := clean("bad\nthing\x1b[31m" + strings.Repeat("é", 400))
	if strings.ContainsAny(got, "\n\x1b") || len(got) > 304 || !strings.HasSuffix(got, "…") {
		t.Errorf("clean = %q", got)
	}
}

// TestDrainsSoonAfterOutage: after an outage long enough for the backoff to
// reach a minute, the backlog starts draining within seconds of the cloud
// listening again on its address (the probe), not when the backoff ends.
// A cloud that answers 503 itself is not probed: its backoff stands.
func TestDrainsSoonAfterOutage(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	segs := f.putMany([]string{"cam"}, 5, 1000)
	cfg := f.config()
	cfg.MinBackoff, cfg.MaxBackoff = time.Minute, time.Minute
	f.cloud.down()
	u := f.start(cfg)
	waitFor(t, "the cloud seen away", 5*time.Second, func() bool { return u.Stats().CloudAway })
	if p := u.pausedFor(); p < 25*time.Second {
		t.Fatalf("paused for %v after the failure; the test needs a backoff far past 5 s", p)
	}
	time.Sleep(time.Second)

	f.cloud.up()
	back := time.Now()
	waitFor(t, "the first upload after the outage", 10*time.Second, func() bool { return u.Stats().Uploaded > 0 })
	lag := time.Since(back)
	t.Logf("draining began %v after the cloud's return (backoff was a minute)", lag.Round(time.Millisecond))
	if lag > 5*time.Second {
		t.Errorf("draining began %v after the cloud's return, want within 5 s", lag)
	}
	waitFor(t, "the backlog drained", 10*time.Second, func() bool { return u.Stats().Pending == 0 })
	f.cloud.checkHolds(t, segs)

	// The cloud answers 503 (its own trouble, not a gateway's): the HEAD
	// probe would be answered, but it must not cut the backoff short.
	f.cloud.setFault(func(objKey) (int, http.Header, string) { return http.StatusServiceUnavailable, nil, "busy" })
	late := f.put("cam", baseTime.Add(time.Hour), 1000)
	u.Enqueue(late, nil)
	waitFor(t, "the 503", 5*time.Second, func() bool { return u.Stats().LastErrorStatus == 503 })
	reqs := f.cloud.requestCount()
	time.Sleep(3 * u.probe / 2)
	if n := f.cloud.requestCount() - reqs; n != 0 || u.Stats().Pending != 1 {
		t.Errorf("%d requests within %v of a 503 with a minute's backoff, want none", n, 3*u.probe/2)
	}
}
