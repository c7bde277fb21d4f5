package cloud_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"vigil/internal/blob"
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/bus/natsbus"
	"vigil/internal/cloud/liveview"
	"vigil/internal/cloud/liveview/liveviewtest"
	"vigil/internal/cloud/store"
	"vigil/internal/devauth"
	"vigil/internal/keydir"
	"vigil/internal/natstest"
	"vigil/internal/tlog"
	"vigil/internal/vigiltest"
)

// A viewer's offer reaches the hub with the fields of the format only:
// ICE servers a viewer adds (a relay of its choosing) and unknown fields
// are dropped, and the only ICE servers the hub gets are the cloud's own.
func TestLiveOfferFieldsFromViewer(t *testing.T) {
	for _, withTURN := range []bool{false, true} {
		t.Run(fmt.Sprintf("turn=%v", withTURN), func(t *testing.T) {
			var turnSrv *liveview.TURN
			if withTURN {
				var err error
				if turnSrv, err = liveview.StartTURN(liveview.TURNConfig{Listen: "127.0.0.1:0"}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { turnSrv.Close() })
			}
			e := newEnvWith(t, func(o *cloud.Options) { o.TURN = turnSrv })
			alice := e.signUp("alice@example.com")
			st := e.household(alice, "Home")
			hubc, _ := e.addHub(alice, st)

			hubWS := dialHub(t, e, e.url, hubc, "front")
			viewerWS := dialViewer(t, e.url, st.HouseholdID, alice.c.Token)
			// The hub's hello is in once the household lists its camera.
			waitCameras(t, e.url, st.HouseholdID, alice.c.Token, true, "front")
			offer := map[string]any{"type": "offer", "session": "session-0123456789", "camera": "front",
				"device": "viewer-device", "ts": 1_800_000_000_000, "fingerprint": "sha-256 AA", "sig": "c2ln", "sdp": "v=0\r\n",
				"ice_servers": liveviewtest.ForgedICEServers(), liveviewtest.OutsideField: liveviewtest.OutsideValue}
			if err := viewerWS.WriteJSON(offer); err != nil {
				t.Fatal(err)
			}
			var got map[string]json.RawMessage
			hubWS.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				if err := hubWS.ReadJSON(&got); err != nil {
					t.Fatalf("the offer did not reach the hub: %v", err)
				}
				// A chain notice (the hub's link reached the log) may come first.
				if string(got["type"]) != `"chain"` {
					break
				}
			}

			var typ, cam string
			json.Unmarshal(got["type"], &typ)
			json.Unmarshal(got["camera"], &cam)
			if typ != "offer" || cam != "front" || string(got["sdp"]) != `"v=0\r\n"` || string(got["ts"]) != "1800000000000" {
				t.Errorf("the hub got %v, not the viewer's offer", got)
			}
			server, ok := liveviewtest.CheckOfferAtHub(t, got, withTURN)
			if !ok {
				return
			}
			want, _ := turnSrv.Credentials("x", time.Minute)
			if !slices.Equal(server.URLs, want.URLs) || server.Credential == "" {
				t.Errorf("ICE servers %+v, want the cloud's relay %v", server, want.URLs)
			}
		})
	}
}

// newReplicas returns n replicas of one cloud: cloud.Servers sharing one
// SQLite store, one blob directory and the NATS server at natsURL (each
// with its own connection), each behind its own HTTP server. A replica's
// env speaks to that replica.
func newBusReplicas(t *testing.T, n int, natsURL string) []*env {
	t.Helper()
	envs, _ := newReplicasBus(t, n, natsURL)
	return envs
}

// newReplicasBus is newReplicas that also returns each replica's bus.
func newReplicasBus(t *testing.T, n int, natsURL string) ([]*env, []*natsbus.Bus) {
	t.Helper()
	dir := t.TempDir()
	prefix := natstest.Prefix(t, natsURL)
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "cloud.db"), store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	clk := &clock{t: time.Now()}
	// One log, as replicas share its storage.
	signer, vkey := logSigner(t, "vigil.test/tlog")
	logStorage := tlog.NewMemoryStorage()
	tl, err := tlog.Open(context.Background(), tlog.Config{Origin: "vigil.test/tlog", Signer: signer, Storage: logStorage, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	var out []*env
	var buses []*natsbus.Bus
	for i := range n {
		b, err := natsbus.Open(context.Background(), natsbus.Options{URL: natsURL, Prefix: prefix,
			Name: fmt.Sprintf("replica-%d", i), ReconnectWait: 50 * time.Millisecond, Logger: vigiltest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		hs := httptest.NewUnstartedServer(nil)
		url := "http://" + hs.Listener.Addr().String()
		outbox := filepath.Join(dir, fmt.Sprintf("outbox-%d", i))
		srv, err := cloud.New(cloud.Options{Store: st, Blobs: blobs, Logger: vigiltest.Logger(t), Now: clk.Now,
			Mailer: cloud.OutboxMailer{Dir: outbox}, Argon2: testArgon, PublicURL: url, Bus: b,
			Log: tl, LogStorage: logStorage, LogKey: vkey, Outbound: localPushOutbound})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		hs.Config.Handler = srv.Handler()
		hs.Start()
		t.Cleanup(hs.Close)
		out = append(out, &env{t: t, srv: srv, url: url, dir: dir, st: st, clock: clk, outbox: outbox})
		buses = append(buses, b)
	}
	return out, buses
}

// dialHub opens a hub's live WebSocket on the replica at base and says
// hello with its cameras.
func dialHub(t *testing.T, e *env, base string, hub *client.Client, cameras ...string) *websocket.Conn {
	t.Helper()
	req, err := http.NewRequest("GET", base+"/v1/hub/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := devauth.Sign(req, nil, hub.DeviceID, hub.DeviceKey, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/v1/hub/live", req.Header)
	if err != nil {
		t.Fatalf("hub dial: %v %v", err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	if err := ws.WriteJSON(map[string]any{"type": "hello", "cameras": cameras}); err != nil {
		t.Fatal(err)
	}
	return ws
}

// dialViewer opens a member's live WebSocket on the replica at base.
func dialViewer(t *testing.T, base, hh, token string) *websocket.Conn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/v1/households/"+hh+"/live",
		http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatalf("viewer dial: %v %v", err, resp)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

// liveAcross is a live session across two replicas: alice's hub connected
// for live view to replica a, her viewer to replica b, and the viewer's
// offer of session sess at the hub.
type liveAcross struct {
	alice       *member
	st          *keydir.State
	hh          string
	hubc        *client.Client
	hub, viewer *websocket.Conn
}

func startLiveAcross(t *testing.T, a, b *env, sess string) liveAcross {
	t.Helper()
	l := liveAcross{alice: a.signUp("alice@example.com")}
	l.st = a.household(l.alice, "Home")
	l.hh = l.st.HouseholdID
	l.hubc, _ = a.addHub(l.alice, l.st)
	l.hub = dialHub(t, a, a.url, l.hubc, "front")
	waitCameras(t, b.url, l.hh, l.alice.c.Token, true, "front")
	l.viewer = dialViewer(t, b.url, l.hh, l.alice.c.Token)
	if err := l.viewer.WriteJSON(map[string]any{"type": "offer", "session": sess, "camera": "front", "device": "viewer-device",
		"ts": 1_800_000_000_000, "fingerprint": "sha-256 AA", "sig": "c2ln", "sdp": "v=0\r\noffer\r\n"}); err != nil {
		t.Fatal(err)
	}
	if got := readLive(t, l.hub); got["type"] != "offer" || got["session"] != sess || got["sdp"] != "v=0\r\noffer\r\n" {
		t.Fatalf("the hub got %v, want the viewer's offer", got)
	}
	return l
}

// readLive reads the next signalling message, skipping chain notices.
func readLive(t *testing.T, ws *websocket.Conn) map[string]string {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		var m map[string]any
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("no message: %v", err)
		}
		out := map[string]string{}
		for k, v := range m {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
		if out["type"] != "chain" {
			return out
		}
	}
}

// waitCameras waits until the replica at base lists want among the
// household's live cameras.
func waitCameras(t *testing.T, base, hh, token string, want bool, camera string) {
	t.Helper()
	for i := 0; ; i++ {
		req, _ := http.NewRequest("GET", base+"/v1/households/"+hh+"/live/ice", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ice struct{ Cameras []string }
		json.NewDecoder(resp.Body).Decode(&ice)
		resp.Body.Close()
		if resp.StatusCode == 200 && slices.Contains(ice.Cameras, camera) == want {
			return
		}
		if i == 500 {
			t.Fatalf("%s: camera %q listed %v, want %v (status %d)", base, camera, ice.Cameras, want, resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A hub connected to replica A and a viewer connected to replica B: B lists
// the hub's camera, the viewer's offer reaches the hub and the hub's answer
// the viewer, both ways; when the hub's connection ends the viewer hears
// its session is gone, and when the hub reconnects to B a new session works
// there while A lists its camera from B's announcement.
func TestLiveAcrossReplicas(t *testing.T) {
	reps := newBusReplicas(t, 2, natstest.URL(t))
	a, b := reps[0], reps[1]
	const sess = "session-across-0123456789"
	l := startLiveAcross(t, a, b, sess)
	alice, hh, hubc, hubWS, viewer := l.alice, l.hh, l.hubc, l.hub, l.viewer
	if err := hubWS.WriteJSON(map[string]any{"type": "answer", "session": sess, "sdp": "v=0\r\nanswer\r\n", "sig": "aHVi"}); err != nil {
		t.Fatal(err)
	}
	if got := readLive(t, viewer); got["type"] != "answer" || got["session"] != sess || got["sdp"] != "v=0\r\nanswer\r\n" || got["sig"] != "aHVi" {
		t.Fatalf("the viewer got %v, want the hub's answer", got)
	}
	// Candidates both ways, in order.
	for i := range 5 {
		viewer.WriteJSON(map[string]any{"type": "candidate", "session": sess, "candidate": fmt.Sprint("v", i)})
		hubWS.WriteJSON(map[string]any{"type": "candidate", "session": sess, "candidate": fmt.Sprint("h", i)})
	}
	for i := range 5 {
		if got := readLive(t, hubWS); got["type"] != "candidate" {
			t.Fatalf("hub got %v", got)
		}
		if got := readLive(t, viewer); got["type"] != "candidate" || got["candidate"] != fmt.Sprint("h", i) {
			t.Fatalf("viewer got %v, want candidate h%d", got, i)
		}
	}

	// The hub's connection to A ends: the viewer on B hears it.
	hubWS.Close()
	if got := readLive(t, viewer); got["type"] != "error" || got["code"] != "session-gone" || got["session"] != sess {
		t.Fatalf("the viewer got %v, want session-gone", got)
	}
	waitCameras(t, b.url, hh, alice.c.Token, false, "front")

	// It reconnects to B: A lists its camera, a viewer on A reaches it.
	hubWS = dialHub(t, b, b.url, hubc, "front")
	waitCameras(t, a.url, hh, alice.c.Token, true, "front")
	viewerA := dialViewer(t, a.url, hh, alice.c.Token)
	const sess2 = "session-again-0123456789"
	viewerA.WriteJSON(map[string]any{"type": "offer", "session": sess2, "camera": "front", "sdp": "v=0\r\n"})
	if got := readLive(t, hubWS); got["type"] != "offer" || got["session"] != sess2 {
		t.Fatalf("the hub got %v, want the second offer", got)
	}
	// A message of a session the hub's new connection never saw is
	// answered as gone, so the viewer starts again.
	viewer.WriteJSON(map[string]any{"type": "candidate", "session": sess, "candidate": "late"})
	if got := readLive(t, viewer); got["type"] != "error" || got["code"] != "session-gone" {
		t.Fatalf("a message of an ended session: %v", got)
	}

	// Replica B shuts down with the hub on it: the viewer on A hears its
	// session is over.
	b.srv.Close()
	if got := readLive(t, viewerA); got["type"] != "error" || got["code"] != "session-gone" || got["session"] != sess2 {
		t.Fatalf("the viewer on A got %v, want session-gone", got)
	}
}

// Replica A dies with the hub's connection on it, saying nothing (its
// bus connection goes first): the hub reconnects to B, where the viewer's
// session through A ends at once with session-gone, and the session the
// viewer starts again reaches the hub.
func TestLiveReplicaKilled(t *testing.T) {
	reps, buses := newReplicasBus(t, 2, natstest.URL(t))
	a, b := reps[0], reps[1]
	const sess = "session-killed-0123456789"
	l := startLiveAcross(t, a, b, sess)
	hubc, hubWS, viewer := l.hubc, l.hub, l.viewer

	buses[0].Close() // A can no longer tell anyone
	a.srv.Close()
	hubWS.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := hubWS.ReadMessage(); err != nil {
			break // A closed the hub's connection
		}
	}
	start := time.Now()
	hubWS = dialHub(t, b, b.url, hubc, "front")
	if got := readLive(t, viewer); got["type"] != "error" || got["code"] != "session-gone" || got["session"] != sess {
		t.Fatalf("the viewer got %v, want session-gone", got)
	}
	t.Logf("the viewer heard its session was gone %v after the hub reconnected", time.Since(start))
	const again = "session-restart-0123456789"
	viewer.WriteJSON(map[string]any{"type": "offer", "session": again, "camera": "front", "sdp": "v=0\r\n"})
	if got := readLive(t, hubWS); got["type"] != "offer" || got["session"] != again {
		t.Fatalf("the hub got %v, want the new offer", got)
	}
	hubWS.WriteJSON(map[string]any{"type": "answer", "session": again, "sdp": "v=0\r\n"})
	if got := readLive(t, viewer); got["type"] != "answer" || got["session"] != again {
		t.Fatalf("the viewer got %v, want the answer", got)
	}
}

// A hub removed from the household's chain through replica B while it is
// connected for live view to replica A: A closes its connection (the
// liveview service asks the stored chain), and the viewer on B hears that
// its session ended because the hub was removed. The hub cannot connect
// again.
func TestLiveHubRemovedAcrossReplicas(t *testing.T) {
	reps := newBusReplicas(t, 2, natstest.URL(t))
	a, b := reps[0], reps[1]
	const sess = "session-removed-0123456789"
	l := startLiveAcross(t, a, b, sess)
	alice, st, hh, hubc, hubWS, viewer := l.alice, l.st, l.hh, l.hubc, l.hub, l.viewer

	link, err := st.RemoveDevice(alice.keys, hubc.DeviceID, a.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := on(b, alice).AppendLink(context.Background(), hh, link); err != nil {
		t.Fatalf("removing the hub through B: %v", err)
	}
	got := readLive(t, viewer)
	if got["type"] != "error" || got["code"] != "session-gone" || got["session"] != sess || got["error"] != "the hub was removed from the household" {
		t.Fatalf("the viewer got %v, want session-gone: the hub was removed", got)
	}
	hubWS.SetReadDeadline(time.Now().Add(15 * time.Second))
	var closeErr *websocket.CloseError
	for {
		_, _, err := hubWS.ReadMessage()
		if err == nil {
			continue // a chain notice
		}
		if !errors.As(err, &closeErr) || closeErr.Text != liveview.ReasonRemoved {
			t.Fatalf("the removed hub's connection ended with %v, want a close frame: %q", err, liveview.ReasonRemoved)
		}
		break
	}
	waitCameras(t, b.url, hh, alice.c.Token, false, "front")
	req, _ := http.NewRequest("GET", a.url+"/v1/hub/live", nil)
	if err := devauth.Sign(req, nil, hubc.DeviceID, hubc.DeviceKey, a.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(a.url, "http")+"/v1/hub/live", req.Header); err == nil {
		ws.Close()
		t.Fatal("the removed hub connected for live view again")
	} else if resp == nil || (resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden) {
		t.Fatalf("the removed hub's new connection: %v %v, want 401 or 403", err, resp)
	}
}
