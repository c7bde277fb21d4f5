package hubd

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"vigil/internal/cloud"
	"vigil/internal/config"
	"vigil/internal/eventrec"
	"vigil/internal/member"
	"vigil/internal/netguard"
	"vigil/internal/notify"
	"vigil/internal/notify/webhook"
	"vigil/internal/notify/webpush"
	"vigil/internal/segstore"
	"vigil/internal/vigiltest"
)

// healthRig is a paired hub recording one software camera, with MQTT on a
// real Mosquitto and thresholds short enough for a test.
type healthRig struct {
	t      *testing.T
	cl     *testCloud
	m      *memberDevice
	cam    *camServer
	cfg    *config.Hub
	h      *Hub
	mq     *mqttClient
	camera string

	cloudLog, hubLog vigiltest.SyncBuffer // debug-level logs, scanned at the end

	hookMu sync.Mutex
	hooks  []webhook.Body // health alerts the household's webhook received, signatures checked
	pushes [][]byte       // Web Push bodies the member's push service received

	ua       *ecdh.PrivateKey // the member's push subscription keys
	pushAuth []byte
}

type camServer struct {
	addr string
	stop func()
}

// startHealthRig pairs and starts the hub; adjust edits its config and
// options first (and may mount a filesystem on cfg.Data).
func startHealthRig(t *testing.T, adjust func(cfg *config.Hub, o *Options)) *healthRig {
	t.Helper()
	r := &healthRig{t: t, camera: "frontporchzq"}
	r.cl = startCloudWith(t, func(o *cloud.Options) {
		o.Logger = r.cloudLog.Logger()
		// The member's push service is on loopback (plain HTTP, which a
		// cloud itself on plain-HTTP loopback accepts).
		o.PublicURL = "http://127.0.0.1"
		o.Outbound = netguard.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	})
	r.m = newMember(t, r.cl.url())
	pushSvc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		r.hookMu.Lock()
		r.pushes = append(r.pushes, b)
		r.hookMu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(pushSvc.Close)
	var err error
	if r.ua, err = ecdh.P256().GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	r.pushAuth = make([]byte, 16)
	rand.Read(r.pushAuth)
	if err := r.m.c.SubscribePush(context.Background(), r.m.st.HouseholdID, pushSvc.URL+"/push/member", r.ua.PublicKey().Bytes(), r.pushAuth); err != nil {
		t.Fatal(err)
	}
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	r.cam = &camServer{addr: cam.Addr(), stop: func() { cam.Close() }}
	r.cfg = pairedConfig(t, r.cl, r.camera, cam.URL("cam"))
	broker := vigiltest.Mosquitto(t)
	secret := []byte("the household's webhook secret")
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := webhook.Verify(secret, req.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			t.Errorf("webhook signature: %v", err)
		}
		var b webhook.Body
		if err := json.Unmarshal(body, &b); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		r.hookMu.Lock()
		r.hooks = append(r.hooks, b)
		r.hookMu.Unlock()
	}))
	t.Cleanup(recv.Close)
	r.cfg.Detection = &config.Detection{MQTT: &config.MQTT{Broker: "mqtt://" + broker},
		Webhooks: &config.Webhooks{URLs: []string{recv.URL}, Secret: string(secret)}}
	r.cfg.Health = config.Health{Hold: config.Duration(time.Second), NoVideo: config.Duration(2 * time.Second),
		CloudContact: config.Duration(2 * time.Second), MinFree: 1 << 20}
	opts := Options{Logger: r.hubLog.Logger(), WatchPoll: 100 * time.Millisecond, UploadMinBackoff: 100 * time.Millisecond, UploadMaxBackoff: 500 * time.Millisecond}
	if adjust != nil {
		adjust(r.cfg, &opts)
	}
	r.cfg.ApplyDefaults()
	if _, hubErr, memberErr := pair(t, r.cl.url(), r.cfg.Data, r.m); hubErr != nil || memberErr != nil {
		t.Fatalf("pairing: hub %v, member %v", hubErr, memberErr)
	}
	r.mq = dialMQTT(t, broker, "health-watcher", "vigil/health/#", "homeassistant/binary_sensor/#") // "#" takes vigil/health too
	r.h = startHub(t, r.cfg, opts)
	waitFor(t, "the camera to record", 30*time.Second, func() bool { return statsOf(r.h, r.camera).Segments >= 2 })
	return r
}

// alerts are the health alerts published on MQTT so far.
func (r *healthRig) alerts() []notify.Payload {
	var out []notify.Payload
	for _, s := range r.mq.got("vigil/health") {
		p, err := notify.ParsePayload([]byte(s))
		if err != nil {
			r.t.Fatalf("health alert on MQTT: %v: %s", err, s)
		}
		out = append(out, p)
	}
	return out
}

// records are the health records in the household's inbox in the cloud,
// opened with the member's keys.
func (r *healthRig) records() []eventrec.Record {
	r.t.Helper()
	ctx := context.Background()
	vs, err := member.VerifiedChain(ctx, r.m.c, r.m.st.HouseholdID, r.m.genesis)
	if err != nil {
		r.t.Fatal(err)
	}
	ids, err := vs.EpochIdentities(r.m.keys)
	if err != nil {
		r.t.Fatal(err)
	}
	objs, err := r.m.c.Objects(ctx, r.m.st.HouseholdID, eventrec.StreamEvents, time.Time{}, time.Time{})
	if err != nil {
		return nil // the cloud is away
	}
	var out []eventrec.Record
	for _, o := range objs {
		b, err := r.m.c.ReadObject(ctx, r.m.st.HouseholdID, o.Key, 1<<20)
		if err != nil {
			r.t.Fatal(err)
		}
		rec, _, err := eventrec.Open(b, vs.TrustedHubs(), ids...)
		if err != nil {
			r.t.Fatalf("the member cannot open a record: %v", err)
		}
		if rec.Kind == eventrec.KindHealth {
			out = append(out, rec)
		}
	}
	return out
}

// expect waits for exactly one problem of check on MQTT and in the cloud,
// then calls fix and waits for exactly one resolution of it, and checks
// that nothing else was told. It returns the problem's and resolution's
// records.
func (r *healthRig) expect(check, camera, wantProblem string, fix func()) (problem, resolved eventrec.Record) {
	t := r.t
	t.Helper()
	waitFor(t, check+" on MQTT", 60*time.Second, func() bool { return len(r.alerts()) >= 1 })
	if r.cl.hs != nil {
		waitFor(t, check+" in the cloud", 60*time.Second, func() bool { return len(r.records()) >= 1 })
	}
	fix()
	waitFor(t, check+" resolved on MQTT", 60*time.Second, func() bool { return len(r.alerts()) >= 2 })
	waitFor(t, check+" resolved in the cloud", 60*time.Second, func() bool { return len(r.records()) >= 2 })
	// Time for a second alert, had the watcher one to make.
	time.Sleep(3 * time.Second)

	as := r.alerts()
	if len(as) != 2 || as[0].Kind != notify.KindHealth || as[0].Check != check || as[0].Phase != "start" ||
		as[1].Check != check || as[1].Phase != "end" || as[0].ID != as[1].ID || as[0].Camera != camera {
		t.Fatalf("MQTT health alerts: want one problem and one resolution of %s, got %+v", check, as)
	}
	if !strings.HasPrefix(as[0].Message, wantProblem) {
		t.Errorf("MQTT problem %q, want it to start %q", as[0].Message, wantProblem)
	}
	// The household's webhook: the same two alerts, signed.
	waitFor(t, "the webhooks", 30*time.Second, func() bool {
		r.hookMu.Lock()
		defer r.hookMu.Unlock()
		return len(r.hooks) >= 2
	})
	r.hookMu.Lock()
	hooks := r.hooks
	r.hookMu.Unlock()
	if len(hooks) != 2 || hooks[0].ID != as[0].ID || hooks[0].Phase != "start" || hooks[0].Message != as[0].Message ||
		hooks[1].ID != as[0].ID || hooks[1].Phase != "end" || hooks[1].Check != check {
		t.Errorf("webhooks: want the problem and its resolution, got %+v", hooks)
	}
	// The member's browser: the same two records as Web Push, each the
	// sealed record, opened with the household's keys.
	var pushed []eventrec.Record
	waitFor(t, "two pushes", 30*time.Second, func() bool {
		pushed = r.pushed()
		return len(pushed) >= 2
	})
	if len(pushed) != 2 || pushed[0].ID != as[0].ID || pushed[0].State != eventrec.StateProblem || pushed[0].Message != as[0].Message ||
		pushed[1].ID != as[0].ID || pushed[1].State != eventrec.StateResolved {
		t.Errorf("pushes: want the problem and its resolution, got %+v", pushed)
	}
	state := r.mq.got(strings.TrimSuffix("vigil/health/"+strings.ReplaceAll(check, ".", "_")+"/"+camera, "/") + "/state")
	// The sensor was on the dashboard, all clear, from the hub's start.
	if on := slices.Index(state, "ON"); len(state) < 3 || state[0] != "OFF" || on < 0 || state[len(state)-1] != "OFF" {
		t.Errorf("Home Assistant problem sensor of %s went %v, want OFF from the start, then ON, then OFF", check, state)
	}
	var disc map[string]any
	cfgs := r.mq.got("homeassistant/binary_sensor/vigil_health_" + strings.ReplaceAll(check, ".", "_") + map[bool]string{true: "_" + camera, false: ""}[camera != ""] + "/config")
	if len(cfgs) == 0 || json.Unmarshal([]byte(cfgs[0]), &disc) != nil || disc["device_class"] != "problem" {
		t.Errorf("no Home Assistant problem sensor announced for %s: %v", check, cfgs)
	}

	recs := r.records()
	if len(recs) != 2 {
		t.Fatalf("%d health records in the cloud, want a problem and its resolution: %+v", len(recs), recs)
	}
	problem, resolved = recs[0], recs[1]
	if problem.State != eventrec.StateResolved && resolved.State == eventrec.StateProblem {
		problem, resolved = resolved, problem
	}
	if problem.State != eventrec.StateProblem || resolved.State != eventrec.StateResolved || problem.ID != resolved.ID ||
		problem.ID != as[0].ID || problem.Check != check || problem.Camera != camera || problem.Message != as[0].Message ||
		resolved.Message != as[1].Message || !resolved.End.After(resolved.Start) {
		t.Fatalf("health records in the cloud:\n  %+v\n  %+v\nMQTT %+v", problem, resolved, as)
	}
	t.Logf("told: %q; then %q", problem.Message, resolved.Message)
	return problem, resolved
}

// pushed are the health records the member's push service received,
// decrypted (RFC 8291) and opened with the household's keys.
func (r *healthRig) pushed() []eventrec.Record {
	r.t.Helper()
	vs, err := member.VerifiedChain(context.Background(), r.m.c, r.m.st.HouseholdID, r.m.genesis)
	if err != nil {
		r.t.Fatal(err)
	}
	ids, err := vs.EpochIdentities(r.m.keys)
	if err != nil {
		r.t.Fatal(err)
	}
	r.hookMu.Lock()
	bodies := slices.Clone(r.pushes)
	r.hookMu.Unlock()
	var out []eventrec.Record
	for _, b := range bodies {
		plain, err := webpush.Decrypt(b, r.ua, r.pushAuth)
		if err != nil {
			r.t.Fatalf("push body: %v", err)
		}
		rec, _, err := eventrec.Open(plain, vs.TrustedHubs(), ids...)
		if err != nil {
			r.t.Fatalf("the member cannot open a pushed record: %v", err)
		}
		if rec.Kind == eventrec.KindHealth {
			out = append(out, rec)
		}
	}
	return out
}

// insiderScan stops the hub and scans everything the cloud keeps for the
// records' words: messages, check and camera (G1, G2).
func (r *healthRig) insiderScan(recs ...eventrec.Record) {
	r.t.Helper()
	r.h.Close()
	var leaks, named vigiltest.LeakScan
	for _, l := range []*vigiltest.LeakScan{&leaks, &named} {
		for _, rec := range recs {
			l.Secret("health message", []byte(rec.Message))
			l.Secret("health check", []byte(`"`+rec.Check+`"`))
			l.Secret("alert ID", []byte(rec.ID))
		}
	}
	named.Secret("camera name", []byte(r.camera))
	scanCloudFiles(r.t, r.cl.dir, &leaks, &named)
	// The cloud's own log (debug level), and the hub's: the hub logs a
	// problem's check and camera, never its message.
	for _, f := range leaks.Check("the cloud's log", []byte(r.cloudLog.String())) {
		r.t.Error(f)
	}
	var msgs vigiltest.LeakScan
	for _, rec := range recs {
		msgs.Secret("health message", []byte(rec.Message))
	}
	for _, f := range msgs.Check("the hub's log", []byte(r.hubLog.String())) {
		r.t.Error(f)
	}
	if !strings.Contains(r.hubLog.String(), `msg="health problem"`) {
		r.t.Error("the hub's log does not say a health problem was raised")
	}
}

// TestHealthCameraUnplugged: the software camera stops; the household is
// told once that it sends no video, and once that it is back.
func TestHealthCameraUnplugged(t *testing.T) {
	r := startHealthRig(t, nil)
	r.cam.stop()
	p, res := r.expect(eventrec.CheckCameraFrames, r.camera, r.camera+" camera: no video for ", func() {
		vigiltest.StartCamera(t, r.cam.addr, "cam")
	})
	if !strings.HasPrefix(res.Message, r.camera+" camera is back") {
		t.Errorf("resolution %q", res.Message)
	}
	r.insiderScan(p, res)
}

// TestHealthStoreFailsWrites: the disk refuses every segment for a while.
func TestHealthStoreFailsWrites(t *testing.T) {
	var failing atomic.Bool
	r := startHealthRig(t, func(cfg *config.Hub, o *Options) {
		o.StoreHooks = segstore.FaultHooks{WriteFile: func(f *os.File, data []byte) error {
			if failing.Load() {
				return syscall.EIO // a failing disk: no real part fails on demand
			}
			_, err := f.Write(data)
			return err
		}}
	})
	failing.Store(true)
	p, res := r.expect(eventrec.CheckStorageWrites, "", "The hub cannot save recordings to its disk", func() { failing.Store(false) })
	r.insiderScan(p, res)
}

// TestHealthDiskFills: the hub's data directory is a real 64 MiB tmpfs;
// another file fills it below health.min_free, and is deleted.
func TestHealthDiskFills(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("needs root to mount a small tmpfs (euid %d)", os.Geteuid())
	}
	var data string
	r := startHealthRig(t, func(cfg *config.Hub, o *Options) {
		data = cfg.Data
		if err := syscall.Mount("tmpfs", data, "tmpfs", 0, "size=64m"); err != nil {
			t.Skipf("cannot mount a 64 MiB tmpfs on %s: %v", data, err)
		}
		t.Cleanup(func() { syscall.Unmount(data, syscall.MNT_DETACH) })
		cfg.Health.MinFree = 24 << 20
	})
	ballast := filepath.Join(data, "ballast")
	free := freeBytes(t, data)
	if err := os.WriteFile(ballast, make([]byte, free-16<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d MiB free before, %d MiB after the ballast", free>>20, freeBytes(t, data)>>20)
	p, res := r.expect(eventrec.CheckStorageSpace, "", "The hub's disk is nearly full (", func() { os.Remove(ballast) })
	r.insiderScan(p, res)
}

func freeBytes(t *testing.T, dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// TestHealthCloudAway: the cloud stops. The hub keeps recording, alerts on
// MQTT while it is away, and the sealed problem reaches the household's
// inbox when the cloud returns, with its resolution.
func TestHealthCloudAway(t *testing.T) {
	r := startHealthRig(t, nil)
	addr := r.cl.addr
	r.cl.stop()
	p, res := r.expect(eventrec.CheckCloudContact, "", "The hub has not reached the cloud for ", func() {
		if n := len(r.alerts()); n != 1 {
			t.Errorf("%d alerts on MQTT while the cloud is away, want 1", n)
		}
		r.cl.start(addr)
	})
	if st := statsOf(r.h, r.camera); st.StoreErrors != 0 || st.Segments < 4 {
		t.Errorf("recording while the cloud was away: %+v", st)
	}
	r.insiderScan(p, res)
}

// TestHealthRetentionForced: a byte limit too small for the configured age
// makes the store delete recordings younger than it; the household is
// told once, and once more when no recording has had to go for
// health.retention_window (the camera stopped).
func TestHealthRetentionForced(t *testing.T) {
	r := startHealthRig(t, func(cfg *config.Hub, o *Options) {
		cfg.Retention = config.Retention{MaxAge: config.Duration(24 * time.Hour), MaxBytes: 1}
		cfg.Health.NoVideo = config.Duration(time.Hour) // the stopped camera is not this test's alert
		cfg.Health.RetentionWindow = config.Duration(3 * time.Second)
	})
	p, res := r.expect(eventrec.CheckStorageRetention, "", "The hub is deleting recordings younger than the 24 hours it should keep, to make room", r.cam.stop)
	r.insiderScan(p, res)
}
