package e2e

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"vigil/internal/browsertest"
	"vigil/internal/cloudtest"
	"vigil/internal/envelope"
	"vigil/internal/eventrec"
	"vigil/internal/hubd"
	"vigil/internal/keydir"
	"vigil/internal/live"
	"vigil/internal/member"
	"vigil/internal/recordings"
	"vigil/internal/segstore"
	"vigil/internal/vigiltest"
)

// steer sends the cloud's WebSockets and uploads to the replicas a test
// picks (cloudtest.Proxy.Prefer), by kind: "hub" (the hub's live
// signalling), "viewer" (a member's live signalling), "events" (a member's
// event notices), "upload" (PUT /v1/objects). Other requests go round
// robin.
type steer struct {
	c  *cloudtest.Cloud
	mu sync.Mutex
	to map[string]int
}

func newSteer(c *cloudtest.Cloud) *steer {
	s := &steer{c: c, to: map[string]int{}}
	c.Proxy.Prefer(func(r *http.Request) string {
		k := requestKind(r.Method, r.URL.Path)
		s.mu.Lock()
		i, ok := s.to[k]
		s.mu.Unlock()
		if !ok || i < 0 || i >= len(c.Replicas) {
			return ""
		}
		return c.Replicas[i].URL()
	})
	return s
}

// set steers kind to the replica of that index (-1: round robin).
func (s *steer) set(kind string, replica int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.to[kind] = replica
}

func requestKind(method, path string) string {
	switch {
	case path == "/v1/hub/live":
		return "hub"
	case strings.HasPrefix(path, "/v1/households/") && strings.HasSuffix(path, "/events/live"):
		return "events"
	case strings.HasPrefix(path, "/v1/households/") && strings.HasSuffix(path, "/live"):
		return "viewer"
	case method == "PUT" && path == "/v1/objects":
		return "upload"
	}
	return ""
}

// landed returns the replica the last WebSocket of kind landed on (-1 for
// none), from the proxy's record of upgrades.
func landed(t *testing.T, c *cloudtest.Cloud, kind string) int {
	t.Helper()
	up := c.Proxy.Upgrades()
	for i := len(up) - 1; i >= 0; i-- {
		if requestKind(up[i].Method, up[i].Path) != kind {
			continue
		}
		for _, r := range c.Replicas {
			if r.URL() == up[i].Backend {
				return r.Index
			}
		}
		t.Fatalf("a %s WebSocket landed on %s, which is no replica now", kind, up[i].Backend)
	}
	return -1
}

// TestScaledCluster runs on one scaled cloud (3 replicas, PostgreSQL, S3,
// NATS) what must hold across replicas, in order, then reads everything
// the cluster kept as an insider:
//   - live view in Chromium with the hub's signalling on one replica and
//     the browser's on another: the viewer's replica is killed (SIGKILL)
//     and the picture comes back through a third within 5 s; then the
//     hub's replica is killed and the picture is back within 5 s;
//   - events: a member's notice WebSocket on one replica receives the
//     events the hub uploads through another, and the member's push
//     subscription gets each event once (one replica of three sends it);
//   - the cross-tenant matrix: a member of household A calls every route
//     of the API with household B's IDs, each call going to the next
//     replica, and gets only 404s, byte-identical to those for random IDs;
//   - the insider scan of PostgreSQL tables, S3 objects, NATS streams and
//     store, the data directory and every replica's log.
func TestScaledCluster(t *testing.T) {
	browsertest.Require(t)
	c := cloudtest.Start(t, cloudtest.Scaled{Replicas: 3, OutboundAllow: []string{"127.0.0.0/8"}})
	st := newSteer(c)
	env := &cloudEnv{url: c.URL}
	st.set("hub", 0)
	hh := newHousehold(t, env, householdOptions{SegmentDuration: time.Second,
		Hub: func(o *hubd.Options) { o.LiveNet = live.NetOptions{Loopback: true} }})
	hh.waitSegments(t, hh.Camera, 2, 2*time.Minute)

	t.Run("live-failover", func(t *testing.T) { scaledLiveFailover(t, c, st, hh) })
	// Every replica serves again, whatever the subtest left.
	for _, r := range c.Replicas {
		if !r.Running() {
			r.Start(t)
		}
	}
	var records [][]byte
	t.Run("events", func(t *testing.T) { records = scaledEvents(t, c, st, hh) })
	t.Run("cross-tenant", func(t *testing.T) { scaledCrossTenant(t, c, hh) })
	t.Run("insider-scan", func(t *testing.T) { scaledScan(t, c, hh, records) })
}

func scaledLiveFailover(t *testing.T, c *cloudtest.Cloud, st *steer, hh *testHousehold) {
	ctx := context.Background()
	// The hub's live signalling is up (a Go viewer gets a frame).
	lh := &liveHousehold{cloud: hh.Cloud, c: hh.Owner.API, admin: hh.Admin, genesis: hh.Genesis}
	var err error
	if lh.st, err = member.VerifiedChain(ctx, hh.Owner.API, hh.ID, hh.Genesis); err != nil {
		t.Fatal(err)
	}
	st.set("viewer", 2)
	w, _ := watch(t, lh, hh.Admin, live.NetOptions{Loopback: true}, nil)
	w.Close()
	if h, v := landed(t, c, "hub"), landed(t, c, "viewer"); h != 0 || v != 2 {
		t.Fatalf("the hub's signalling is on replica %d and the Go viewer's on %d, want 0 and 2", h, v)
	}

	browser := newAccount(t, hh.Cloud)
	addMemberSigned(t, hh.Owner.API, hh.ID, hh.Admin, browser.Email, keydir.RoleMember)
	st.set("viewer", 1)
	type kill struct {
		Which, Victim, Hub, Viewer int
	}
	var mu sync.Mutex
	var kills []kill
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/enrol":
			if err := hh.enrol(strings.TrimSpace(string(b)), keydir.RoleMember, "browser"); err != nil {
				http.Error(w, err.Error(), 400)
			}
		case "/kill":
			hub, viewer := landed(t, c, "hub"), landed(t, c, "viewer")
			k := kill{Hub: hub, Viewer: viewer}
			switch r.URL.Query().Get("which") {
			case "viewer":
				// The viewer's next connection goes to the replica
				// holding neither connection.
				k.Victim = viewer
				st.set("viewer", 3-hub-viewer)
			case "hub":
				k.Which = 1
				k.Victim = hub
				// The replica killed first serves again; the hub's
				// next connection goes there.
				for _, rep := range c.Replicas {
					if !rep.Running() {
						rep.Start(t)
						st.set("hub", rep.Index)
					}
				}
			default:
				http.Error(w, "which?", 400)
				return
			}
			mu.Lock()
			kills = append(kills, k)
			mu.Unlock()
			at := time.Now()
			c.Replicas[k.Victim].Kill(t)
			json.NewEncoder(w).Encode(map[string]int64{"killedAt": at.UnixMilli()})
		}
	}))
	t.Cleanup(hook.Close)

	type phase struct {
		Which          string  `json:"which"`
		NewStreamMs    float64 `json:"newStreamMs"`
		FirstFrameMs   float64 `json:"firstFrameAfterMs"`
		MaxGapMs       float64 `json:"maxGapMs"`
		FramesLast2s   int     `json:"framesLast2s"`
		ConnectsBefore int     `json:"connectsBefore"`
		ConnectsAfter  int     `json:"connectsAfter"`
		State          string  `json:"state"`
	}
	var out struct {
		Viewer phase `json:"viewer"`
		Hub    phase `json:"hub"`
	}
	browsertest.Run(t, 3*time.Minute, "scaled-live.mjs", map[string]string{
		"BASE_URL": c.URL, "HOOK_URL": hook.URL, "EMAIL": browser.Email, "PASSWORD": browser.Password,
		"TOTP_SECRET": browser.TOTPSecret, "HOUSEHOLD": hh.ID, "CAMERA": hh.Camera,
	}, &out)

	if len(kills) != 2 {
		t.Fatalf("%d kills, want 2", len(kills))
	}
	for _, k := range kills {
		if k.Hub == k.Viewer || k.Hub < 0 || k.Viewer < 0 {
			t.Errorf("at the kill of the %s's replica the hub's signalling was on replica %d and the viewer's on %d: want two replicas",
				[]string{"viewer", "hub"}[k.Which], k.Hub, k.Viewer)
		}
	}
	if kills[0].Victim != 1 || kills[1].Victim != 0 {
		t.Errorf("killed replicas %d and %d, want 1 (the viewer's) and 0 (the hub's)", kills[0].Victim, kills[1].Victim)
	}
	if v, h := landed(t, c, "viewer"), landed(t, c, "hub"); v == kills[0].Victim || h == kills[1].Victim || v == h {
		t.Errorf("after the kills the viewer's signalling is on replica %d and the hub's on %d", v, h)
	}
	const limit = 5000
	for _, p := range []phase{out.Viewer, out.Hub} {
		t.Logf("kill of the %s's replica: new session's first frame %.0f ms after the kill (-1: the session survived), first frame after the kill %.0f ms, longest gap between frames %.0f ms, %d frames in the last 2 s, sessions %d -> %d, tile %s",
			p.Which, p.NewStreamMs, p.FirstFrameMs, p.MaxGapMs, p.FramesLast2s, p.ConnectsBefore, p.ConnectsAfter, p.State)
		if p.MaxGapMs > limit || p.FirstFrameMs > limit {
			t.Errorf("kill of the %s's replica: the picture stopped for %.0f ms (first frame after the kill at %.0f ms), want <= %d ms",
				p.Which, p.MaxGapMs, p.FirstFrameMs, limit)
		}
		if p.FramesLast2s < 5 || p.State != "live" {
			t.Errorf("kill of the %s's replica: %d frames in the last 2 s, tile %q: the picture is not live", p.Which, p.FramesLast2s, p.State)
		}
	}
	// The viewer's signalling connection closed with its replica: the page
	// started a new session, whose first frame counts.
	if out.Viewer.NewStreamMs < 0 || out.Viewer.NewStreamMs > limit {
		t.Errorf("kill of the viewer's replica: the new session's first frame %.0f ms after the kill, want <= %d ms", out.Viewer.NewStreamMs, limit)
	}
}

// scaledEvents returns the event records it uploaded, in the clear.
func scaledEvents(t *testing.T, c *cloudtest.Cloud, st *steer, hh *testHousehold) [][]byte {
	st.set("events", 1)
	st.set("upload", 2)
	defer st.set("upload", -1)
	wsURL := "ws" + strings.TrimPrefix(c.URL, "http") + "/v1/households/" + hh.ID + "/events/live"
	ws, resp, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Authorization": {"Bearer " + hh.Owner.API.Token}})
	if err != nil {
		t.Fatalf("events WebSocket: %v %v", err, resp)
	}
	defer ws.Close()
	if r := landed(t, c, "events"); r != 1 {
		t.Fatalf("the events WebSocket landed on replica %d, want 1", r)
	}
	// A push subscription of the owner's: its push service counts what
	// the cloud sends it.
	var pushes atomic.Int64
	pushSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		pushes.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(pushSrv.Close)
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	authSecret := make([]byte, 16)
	rand.Read(authSecret)
	sub, _ := json.Marshal(map[string]any{"endpoint": pushSrv.URL + "/push/owner",
		"keys": map[string]string{"p256dh": base64.RawURLEncoding.EncodeToString(ua.PublicKey().Bytes()), "auth": base64.RawURLEncoding.EncodeToString(authSecret)}})
	if status, body, err := hh.Owner.API.Raw(context.Background(), "POST", "/v1/households/"+hh.ID+"/push", sub); err != nil || status != http.StatusCreated {
		t.Fatalf("push subscription: %d %s %v", status, body, err)
	}

	hub := newEventHub(t, hh)
	keys := map[string]bool{}
	var clear [][]byte
	for i := range 3 {
		rec := eventrec.Record{ID: eventID(t), Camera: hh.Camera, State: eventrec.StateStart, Start: time.Now().Add(-time.Duration(i) * time.Second),
			Labels: []string{"person"}, Zones: []string{"porch"}, Alert: true, Score: 0.9}
		key, _, err := hub.record(rec)
		if err != nil {
			t.Fatal(err)
		}
		keys[key] = true
		b, err := eventrec.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		clear = append(clear, b)
	}
	ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	for len(keys) > 0 {
		var note struct {
			Key string `json:"key"`
		}
		if err := ws.ReadJSON(&note); err != nil {
			t.Fatalf("waiting for %d event notices through another replica: %v", len(keys), err)
		}
		delete(keys, note.Key)
	}
	// Each event is pushed once, by one replica of three.
	deadline := time.Now().Add(15 * time.Second)
	for pushes.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a second delivery of one would come now
	if n := pushes.Load(); n != 3 {
		t.Errorf("3 events made %d pushes, want 3 (one each)", n)
	}
	t.Logf("3 events uploaded through replica 2 reached the notice WebSocket on replica 1 and were pushed once each (%d pushes)", pushes.Load())
	return clear
}

// scaledCrossTenant is the core of the cloud's cross-tenant matrix
// (internal/cloud TestCrossTenant) through the proxy: every call goes to
// the next replica in turn.
func scaledCrossTenant(t *testing.T, c *cloudtest.Cloud, hhB *testHousehold) {
	ctx := context.Background()
	routes := startCloud(t, nil).srv.Routes()
	alice := newAccount(t, hhB.Cloud)
	adminA, err := keydir.NewDeviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	g, _, stA, err := keydir.NewHousehold("A", adminA, "laptop", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.API.CreateHousehold(ctx, g); err != nil {
		t.Fatal(err)
	}
	objs, err := hhB.Owner.API.Objects(ctx, hhB.ID, hhB.Camera, time.Time{}, time.Time{})
	if err != nil || len(objs) == 0 {
		t.Fatalf("household B's objects: %d, %v", len(objs), err)
	}
	key := objs[0].Key
	randomHH := "h" + strings.Repeat("7", 31)
	randomKey := randomHH + "/d7777/front/0000000000000000"
	ids := map[string][2]string{"hh": {hhB.ID, randomHH}, "key": {key, randomKey}}
	bodies := map[string]string{
		"POST /v1/households/{hh}/chain":   `{"link":"AAAA"}`,
		"POST /v1/households/{hh}/members": fmt.Sprintf(`{"email":%q,"role":"admin"}`, alice.Email),
	}
	var reference []byte
	tested := 0
	backends := map[string]bool{}
	for _, route := range routes {
		method, pattern, _ := strings.Cut(route, " ")
		if !strings.Contains(pattern, "{hh}") {
			continue
		}
		for variant := range 2 {
			path := strings.ReplaceAll(pattern, "{hh}", ids["hh"][variant])
			path = strings.ReplaceAll(path, "{key...}", ids["key"][variant])
			var body []byte
			if b, ok := bodies[route]; ok {
				body = []byte(b)
			}
			before := len(c.Proxy.Faults())
			status, got, err := alice.API.Raw(ctx, method, path, body)
			if err != nil {
				t.Fatal(err)
			}
			if status != 404 {
				t.Errorf("%s as a member of A with %s: %d %s", route, []string{"B's IDs", "random IDs"}[variant], status, got)
			}
			if f := c.Proxy.Faults(); len(f) > before {
				backends[f[len(f)-1].Backend] = true
			}
			if reference == nil {
				reference = got
			} else if !bytes.Equal(got, reference) {
				t.Errorf("%s: answer %q differs from %q", route, got, reference)
			}
			tested++
		}
	}
	if status, got, _ := alice.API.Raw(ctx, "GET", "/v1/households/"+stA.HouseholdID+"/objects/"+key, nil); status != 404 || !bytes.Equal(got, reference) {
		t.Errorf("B's object through A's household: %d %s", status, got)
	}
	if tested < 14 {
		t.Errorf("only %d route calls tested", tested)
	}
	t.Logf("%d calls with B's or random IDs: 404, identical answers", tested)
}

func scaledScan(t *testing.T, c *cloudtest.Cloud, hh *testHousehold, records [][]byte) {
	ctx := context.Background()
	if err := hh.Hub.Close(); err != nil {
		t.Fatal(err)
	}
	objs, err := hh.Owner.API.Objects(ctx, hh.ID, hh.Camera, time.Time{}, time.Time{})
	if err != nil || len(objs) == 0 {
		t.Fatalf("objects: %d, %v", len(objs), err)
	}
	st, err := member.VerifiedChain(ctx, hh.Owner.API, hh.ID, hh.Genesis)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := st.EpochIdentities(hh.Admin)
	if err != nil {
		t.Fatal(err)
	}
	var leaks vigiltest.LeakScan
	leaks.Secret("admin device signing key", hh.Admin.Sign.Seed())
	leaks.Secret("admin device box key", hh.Admin.Box.Bytes())
	hubKey, err := os.ReadFile(filepath.Join(hh.HubDir, "hub.key"))
	if err != nil {
		t.Fatal(err)
	}
	leaks.Secret("hub signing key file", bytes.TrimSpace(hubKey))
	leaks.Secret("account password", []byte(hh.Owner.Password))
	leaks.Secret("account token", []byte(hh.Owner.API.Token))
	for i, id := range ids {
		if x, ok := id.(*envelope.X25519Identity); ok {
			leaks.Secret(fmt.Sprintf("epoch %d private key", i), x.Bytes())
		}
	}
	// The footage in the clear: the admin device's export of what the
	// cloud holds.
	dir := t.TempDir()
	var segs segmentList
	from, to := objs[0].Start, objs[0].End
	for i, o := range objs {
		b, err := hh.Owner.API.ReadObject(ctx, hh.ID, o.Key, 64<<20)
		if err != nil {
			t.Fatalf("reading %s: %v", o.Key, err)
		}
		p := filepath.Join(dir, strconv.Itoa(i)+".vseg")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		segs = append(segs, segstore.Segment{Meta: segstore.Meta{Camera: o.Camera, Seq: o.Seq, Start: o.Start, End: o.End}, Bytes: o.Size, Path: p})
		from, to = minTime(from, o.Start), maxTime(to, o.End)
	}
	clip := filepath.Join(dir, "clip.mp4")
	if _, err := recordings.ExportFile(ctx, segs, clip, recordings.ExportOptions{Camera: hh.Camera, From: from, To: to, Identities: ids, Trust: st.TrustedHubs()}); err != nil {
		t.Fatalf("export from the cloud: %v", err)
	}
	mp4, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	if leaks.Plaintext("exported footage", mp4) == 0 {
		t.Fatal("no sample of the footage to scan for")
	}
	for i, r := range records {
		if leaks.Plaintext(fmt.Sprintf("event record %d", i), r) == 0 {
			t.Fatalf("no sample of event record %d to scan for", i)
		}
	}
	c.Stop()
	if c.MaskLogEntries(t, &leaks) == 0 {
		t.Fatal("no log entry in the cloud's database to tell the scan about")
	}
	found := 0
	stats := c.Scan(t, func(where string, b []byte) {
		for _, f := range leaks.Check(where, b) {
			if found++; found <= 20 {
				t.Error(f)
			}
		}
	})
	if found > 20 {
		t.Errorf("... and %d more findings", found-20)
	}
	if stats.Cells < 20 || stats.Objects == 0 || stats.Logs != 3 || stats.Streams == 0 || stats.NATSFiles == 0 {
		t.Fatalf("the scan read too little to mean anything: %s", stats)
	}
	t.Logf("insider scan of the scaled cloud after live view and events: %s; no media, footage or key in the clear", stats)
}
