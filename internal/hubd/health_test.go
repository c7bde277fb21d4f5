package hubd

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/buildinfo"
	"vigil/internal/cloud/hubhealth"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
	"vigil/internal/upload"
	"vigil/internal/vigiltest"
)

// cloudAccepts reports whether the cloud would keep a report with this
// error (hubhealth.Check, as POST /v1/hub/health applies it).
func cloudAccepts(e *cloudapi.HubError, now time.Time) error {
	r := store.HubReport{Version: "v1", Started: now.Add(-time.Hour), Sent: now, ErrorKind: e.Kind, ErrorStatus: e.Status,
		ErrorMessage: e.Message, ErrorAt: now}
	return hubhealth.Check(r, now)
}

// TestScrubError: what the uploader says about its latest failure reaches
// the report as a kind, a status and a message that names no URL, path,
// address or camera — and that the cloud's checks accept.
func TestScrubError(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		kind   string
		status int
		msg    string
		want   cloudapi.HubError
	}{
		{upload.ErrNetwork, 0, `Put "http://10.0.0.2:8443/v1/objects": dial tcp 10.0.0.2:8443: connect: connection refused`,
			cloudapi.HubError{Kind: "network", Message: "connection refused"}},
		{upload.ErrNetwork, 0, `Put "https://cloud.example/v1/objects": context deadline exceeded (Client.Timeout exceeded)`,
			cloudapi.HubError{Kind: "network", Message: "timed out"}},
		{upload.ErrNetwork, 0, `Put "https://owner:secret@cloud.example/v1/objects": something new`,
			cloudapi.HubError{Kind: "network", Message: "network error"}},
		{upload.ErrServer, 502, "502 Bad Gateway", cloudapi.HubError{Kind: "server", Status: 502, Message: "502 Bad Gateway"}},
		{upload.ErrServer, 503, "503 Service Unavailable: the object storage is temporarily unavailable; try again in 5 s",
			cloudapi.HubError{Kind: "server", Status: 503, Message: "503 Service Unavailable: the object storage is temporarily unavailable; try again in 5 s"}},
		{upload.ErrServer, 500, "500 Internal Server Error: see https://status.example/x or mail ops@example.com from [fe80::1]:443 10.1.2.3",
			cloudapi.HubError{Kind: "server", Status: 500, Message: "500 Internal Server Error: see … or mail … from …"}},
		{upload.ErrRefused, 401, "401 Unauthorized: device signature refused: clock off by 20m0s",
			cloudapi.HubError{Kind: "refused", Status: 401, Message: "401 Unauthorized: device signature refused: clock off by 20m0s"}},
		{upload.ErrRefused, 0, "devauth: bad key", cloudapi.HubError{Kind: "refused", Message: "the hub could not sign its request"}},
		{upload.ErrRejected, 409, "409 Conflict: other bytes under hub/front/17", cloudapi.HubError{Kind: "rejected", Status: 409, Message: "409 Conflict: other bytes under …"}},
		{upload.ErrRejected, 0, "segment /var/lib/vigil/segments/front/000017.seg: not a sealed segment",
			cloudapi.HubError{Kind: "rejected", Message: "a segment failed the hub's own checks before upload"}},
		{upload.ErrLocal, 0, "open /var/lib/vigil/segments/front/000017.seg: input/output error",
			cloudapi.HubError{Kind: "local", Message: "the hub could not read a segment or its upload queue"}},
		{upload.ErrServer, 504, "\x1b[31m\u202e", cloudapi.HubError{Kind: "server", Status: 504, Message: "[31m"}},
		{upload.ErrServer, 504, "\x1b \u202e", cloudapi.HubError{Kind: "server", Status: 504, Message: "504 Gateway Timeout"}},
		{upload.ErrServer, 500, strings.Repeat("word ", 100), cloudapi.HubError{Kind: "server", Status: 500,
			Message: strings.TrimSpace(strings.Repeat("word ", 100))[:maxHealthMessage-len("…")] + "…"}},
	} {
		got := scrubError(tc.kind, tc.status, tc.msg)
		if got == nil || *got != tc.want {
			t.Errorf("scrubError(%s, %d, %q) = %+v, want %+v", tc.kind, tc.status, tc.msg, got, tc.want)
			continue
		}
		if err := cloudAccepts(got, now); err != nil {
			t.Errorf("the cloud refuses the scrubbed %+v: %v", got, err)
		}
	}
	if e := scrubError("", 0, "whatever"); e != nil {
		t.Errorf("no failure gives %+v", e)
	}
}

// FuzzScrubText: whatever a failure's text, the scrubbed message is one
// the cloud accepts.
func FuzzScrubText(f *testing.F) {
	f.Add(`Put "http://10.0.0.2:8443/v1/objects": EOF`)
	f.Add("500 x\\y a@b ::1 12:34 \u202e \xff")
	now := time.Now()
	f.Fuzz(func(t *testing.T, msg string) {
		e := scrubError(upload.ErrServer, 500, msg)
		if err := cloudAccepts(e, now); err != nil {
			t.Fatalf("scrubbed %q to %q, which the cloud refuses: %v", msg, e.Message, err)
		}
	})
}

// countingLog counts warnings and infos whose message has a prefix.
type countingLog struct {
	slog.Handler
	mu     sync.Mutex
	counts map[string]int
}

func (c *countingLog) Handle(ctx context.Context, r slog.Record) error {
	c.mu.Lock()
	c.counts[r.Level.String()+" "+r.Message]++
	c.mu.Unlock()
	return c.Handler.Handle(ctx, r)
}

func (c *countingLog) count(level slog.Level, prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.counts {
		if strings.HasPrefix(k, level.String()+" "+prefix) {
			n += v
		}
	}
	return n
}

// TestHealthSender: a report at once; another promptly when the backlog
// or the latest failure changes (and none while nothing does); a report
// that cannot be sent is logged once until one goes through; the sender
// stops with its context.
func TestHealthSender(t *testing.T) {
	var mu sync.Mutex
	stats := healthStats{Cameras: 2, Recording: 2}
	set := func(f func(s *healthStats)) { mu.Lock(); f(&stats); mu.Unlock() }
	sent := make(chan cloudapi.HubHealth, 100)
	var fail atomic.Bool
	var attempts atomic.Int32
	log := &countingLog{Handler: vigiltest.Logger(t).Handler(), counts: map[string]int{}}
	s := &healthSender{
		send: func(ctx context.Context, h cloudapi.HubHealth) error {
			attempts.Add(1)
			if fail.Load() {
				return errors.New("503 Service Unavailable")
			}
			sent <- h
			return nil
		},
		stats:   func() healthStats { mu.Lock(); defer mu.Unlock(); return stats },
		now:     time.Now,
		log:     slog.New(log),
		every:   time.Hour, // only changes send, in this test
		poll:    10 * time.Millisecond,
		started: time.Now().UTC(),
		version: "v-test",
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); s.run(ctx) }()
	next := func(what string) cloudapi.HubHealth {
		t.Helper()
		select {
		case h := <-sent:
			return h
		case <-time.After(20 * time.Second):
			t.Fatalf("no report: %s", what)
		}
		panic("unreachable")
	}

	first := next("at start")
	if first.Version != "v-test" || first.Cameras != 2 || first.Recording != 2 || first.Uploads.Pending != 0 || first.Uploads.LastError != nil {
		t.Errorf("first report: %+v", first)
	}
	// A backlog and a failure: reported at once, with the time the hub
	// first saw the failure.
	oldest := time.Now().Add(-time.Minute)
	set(func(s *healthStats) {
		s.Uploads = upload.Stats{Pending: 4, OldestPending: oldest, Failures: 3, CloudAway: true,
			LastError: `Put "http://10.0.0.2/v1/objects": dial tcp 10.0.0.2:80: connect: connection refused`, LastErrorKind: upload.ErrNetwork}
	})
	h := next("the backlog")
	if h.Uploads.Pending != 4 || !h.Uploads.OldestPending.Equal(oldest) || !h.Uploads.CloudAway || h.Uploads.LastError == nil ||
		h.Uploads.LastError.Message != "connection refused" || h.Uploads.LastError.At.IsZero() {
		t.Errorf("backlog report: %+v %+v", h.Uploads, h.Uploads.LastError)
	}
	errAt := h.Uploads.LastError.At
	// A little more of the same backlog is not a change (4 to 7); a
	// doubled backlog is, and a new failure.
	set(func(s *healthStats) { s.Uploads.Pending, s.Uploads.Failures = 7, 7 })
	set(func(s *healthStats) { s.Uploads.Pending = 9 })
	if h := next("a doubled backlog"); h.Uploads.Pending != 9 {
		t.Errorf("doubled backlog report: %+v", h.Uploads)
	}
	set(func(s *healthStats) {
		s.Uploads.LastError, s.Uploads.LastErrorKind, s.Uploads.LastErrorStatus = "502 Bad Gateway", upload.ErrServer, 502
	})
	h = next("a new failure")
	if h.Uploads.LastError == nil || h.Uploads.LastError.Status != 502 || !h.Uploads.LastError.At.After(errAt) || h.Uploads.Pending != 9 {
		t.Errorf("new failure report: %+v %+v", h.Uploads, h.Uploads.LastError)
	}
	if n := len(sent); n != 0 {
		t.Errorf("%d reports more than the changes", n)
	}

	// The cloud refuses reports: logged once however many fail.
	fail.Store(true)
	for i := range 3 {
		before := attempts.Load()
		set(func(s *healthStats) { s.Recording = i % 2 })
		waitFor(t, "an attempt", 20*time.Second, func() bool { return attempts.Load() > before })
	}
	if n := log.count(slog.LevelWarn, "health report not sent"); n != 1 {
		t.Errorf("%d warnings for failed reports, want 1", n)
	}
	fail.Store(false)
	set(func(s *healthStats) { s.Uploads = upload.Stats{} })
	h = next("after the failures")
	if h.Uploads.Pending != 0 || h.Uploads.LastError != nil || !h.Uploads.OldestPending.IsZero() {
		t.Errorf("drained report: %+v", h.Uploads)
	}
	cancel()
	<-done
	if n := log.count(slog.LevelInfo, "health reports reach the cloud again"); n != 1 {
		t.Errorf("%d recovery notes, want 1", n)
	}
}

// TestHealthReportToCloud: a paired hub's health report reaches the real
// cloud, signed as the hub, for its own household, with its build and
// cameras; Close stops the sender with everything else.
func TestHealthReportToCloud(t *testing.T) {
	t.Parallel()
	cl := startCloud(t)
	m := newMember(t, cl.url())
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	cfg := pairedConfig(t, cl, "front", cam.URL("cam"))
	if _, hubErr, memberErr := pair(t, cl.url(), cfg.Data, m); hubErr != nil || memberErr != nil {
		t.Fatalf("pairing: %v %v", hubErr, memberErr)
	}
	h := startHub(t, cfg, Options{UploadMinBackoff: 100 * time.Millisecond, UploadMaxBackoff: time.Second, HealthPoll: 50 * time.Millisecond})
	var got store.HubReport
	waitFor(t, "a health report in the cloud", 30*time.Second, func() bool {
		rs, err := cl.st.HubReports(t.Context(), m.st.HouseholdID)
		if err != nil || len(rs) != 1 {
			return false
		}
		got = rs[0]
		return got.Recording == 1
	})
	if got.HubID != h.cloud.DeviceID || got.Cameras != 1 || got.Version != buildinfo.Version() || got.Received.IsZero() {
		t.Errorf("the cloud keeps %+v", got)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
}
