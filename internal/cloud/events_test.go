package cloud_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"vigil/internal/cloud"
	"vigil/internal/cloudapi"
	"vigil/internal/envelope"
	"vigil/internal/eventrec"
	"vigil/internal/history"
	"vigil/internal/keydir"
	"vigil/internal/natstest"
	"vigil/internal/notify/webpush"
)

// Distinctive plaintext that must never reach the cloud's disk.
const (
	secretCamera = "cam-XYZZY-porch"
	secretLabel  = "person-XYZZY"
	secretZone   = "driveway-XYZZY"
	secretJPEG   = "JPEG-MARKER-XYZZY"
)

// eventHub is a hub of a household that seals events as a hub does.
type eventHub struct {
	t   *testing.T
	e   *env
	st  *keydir.State
	key ed25519.PrivateKey
	id  string // device ID
	up  func(sealed []byte) (string, error)
	seq map[string]uint64
}

func newEventHub(t *testing.T, e *env, m *member, st *keydir.State) *eventHub {
	c, key := e.addHub(m, st)
	return &eventHub{t: t, e: e, st: st, key: key, id: c.DeviceID, seq: map[string]uint64{},
		up: func(b []byte) (string, error) {
			k, _, err := c.Upload(context.Background(), b)
			return k, err
		}}
}

func (h *eventHub) next(stream string) uint64 { h.seq[stream]++; return h.seq[stream] }

func (h *eventHub) snapshot(at time.Time) string {
	h.t.Helper()
	jpeg := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, []byte(secretJPEG+strings.Repeat(" pixels", 200))...)
	seq := h.next(eventrec.StreamSnapshots)
	b, err := eventrec.SealSnapshot(jpeg, at, seq, uint32(h.st.Epoch), h.key, h.st.EpochRecipient())
	if err != nil {
		h.t.Fatal(err)
	}
	key, err := h.up(b)
	if err != nil {
		h.t.Fatalf("snapshot upload: %v", err)
	}
	if want := eventrec.ObjectKey(h.st.HouseholdID, h.id, eventrec.StreamSnapshots, seq); key != want {
		h.t.Fatalf("snapshot key %q, want eventrec.ObjectKey %q", key, want)
	}
	return key
}

func (h *eventHub) event(r eventrec.Record) (string, []byte) {
	h.t.Helper()
	b, err := eventrec.Seal(r, h.next(eventrec.StreamEvents), uint32(h.st.Epoch), h.key, h.st.EpochRecipient())
	if err != nil {
		h.t.Fatal(err)
	}
	key, err := h.up(b)
	if err != nil {
		h.t.Fatalf("event upload: %v", err)
	}
	return key, b
}

func record(start time.Time, state string) eventrec.Record {
	r := eventrec.Record{ID: fmt.Sprintf("%032x", start.UnixNano()), Camera: secretCamera, State: state, Start: start,
		Labels: []string{secretLabel}, Zones: []string{secretZone}, Alert: true, Score: 0.91, Box: [4]float64{0.25, 0.5, 0.125, 0.25}}
	if state == eventrec.StateEnd {
		r.End = start.Add(9 * time.Second)
	}
	return r
}

func getJSON(t *testing.T, m *member, path string, v any) int {
	t.Helper()
	status, body := call(t, m.c, "GET", path, nil)
	if status == 200 && v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return status
}

type eventList struct {
	Events []cloud.EventJSON `json:"events"`
	More   bool              `json:"more"`
}

// A hub uploads an event's start and end records and its snapshot; a member
// lists the events of a range, fetches them with the object route and opens
// them with the household's identity; the cameras list and the plain object
// listing show no events; a non-member sees nothing.
func TestEventsUploadListOpen(t *testing.T) {
	e := newEnvWith(t, withLocalPush)
	alice, bob := e.signUp("alice@example.com"), e.signUp("bob@example.com")
	st := e.household(alice, "Home")
	e.household(bob, "Elsewhere")
	hub := newEventHub(t, e, alice, st)
	ctx := context.Background()
	start := time.Unix(1_800_000_000, 0).UTC()

	seg := seal(t, hub.key, st, "front", 1, start, 1000)
	if _, err := hub.up(seg); err != nil {
		t.Fatal(err)
	}
	startKey, _ := hub.event(record(start, eventrec.StateStart))
	end := record(start, eventrec.StateEnd)
	end.Snapshot = hub.snapshot(start.Add(2 * time.Second))
	endKey, _ := hub.event(end)
	hub.event(record(start.Add(time.Hour), eventrec.StateStart)) // outside the range below

	hh := "/v1/households/" + st.HouseholdID
	q := url.Values{"from": {start.Add(-time.Minute).Format(time.RFC3339)}, "to": {start.Add(time.Minute).Format(time.RFC3339)}}
	var list eventList
	if status := getJSON(t, alice, hh+"/events?"+q.Encode(), &list); status != 200 {
		t.Fatalf("events: %d", status)
	}
	keys := []string{}
	for _, ev := range list.Events {
		keys = append(keys, ev.Key)
	}
	if !slices.Equal(keys, []string{startKey, endKey}) || list.More {
		t.Fatalf("events in range = %q more=%v, want %q", keys, list.More, []string{startKey, endKey})
	}
	if ev := list.Events[1]; ev.Seq != 2 || !ev.Start.Equal(start) || !ev.End.Equal(end.End) || ev.Device != hub.id || ev.Size <= 0 {
		t.Errorf("end event listed as %+v", ev)
	}
	ids, err := st.EpochIdentities(alice.keys)
	if err != nil {
		t.Fatal(err)
	}
	b, err := alice.c.ReadObject(ctx, st.HouseholdID, endKey, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := eventrec.Open(b, st.TrustedHubs(), ids...)
	if err != nil {
		t.Fatalf("member cannot open the event: %v", err)
	}
	if got.Camera != secretCamera || !slices.Equal(got.Labels, end.Labels) || !slices.Equal(got.Zones, end.Zones) || got.Box != end.Box || got.Snapshot != end.Snapshot {
		t.Errorf("opened record %+v, want %+v", got, end)
	}
	snap, err := alice.c.ReadObject(ctx, st.HouseholdID, got.Snapshot, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if jpeg, _, err := eventrec.OpenSnapshot(snap, st.TrustedHubs(), ids...); err != nil || !bytes.Contains(jpeg, []byte(secretJPEG)) {
		t.Errorf("snapshot: %v", err)
	}

	var cams struct{ Cameras []string }
	if getJSON(t, alice, hh+"/cameras", &cams); !slices.Equal(cams.Cameras, []string{"front"}) {
		t.Errorf("cameras = %q, want only front", cams.Cameras)
	}
	var objs cloudapi.Objects
	if getJSON(t, alice, hh+"/objects", &objs); len(objs.Objects) != 1 || objs.Objects[0].Kind != "segment" {
		t.Errorf("object listing without a camera: %+v, want the segment only", objs.Objects)
	}

	for _, p := range []string{hh + "/events", hh + "/events/live", hh + "/objects/" + endKey} {
		if status, _ := call(t, bob.c, "GET", p, nil); status != 404 {
			t.Errorf("non-member GET %s: %d, want 404", p, status)
		}
	}
	if status, _ := post(t, bob.c, hh+"/push", []byte(`{}`)); status != 404 {
		t.Errorf("non-member subscribes: %d, want 404", status)
	}
	// Listing events is recorded like every household read.
	if !slices.ContainsFunc(e.history(alice, st), func(r history.Verified) bool { return r.Action == "events.list" }) {
		t.Error("events listing is not in the household's history")
	}
}

// The cloud admits event records and snapshots only on their fixed streams,
// so a public header never names a camera, and no camera may take those
// names.
func TestEventsWrongStream(t *testing.T) {
	e := newEnvWith(t, withLocalPush)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hub := newEventHub(t, e, alice, st)
	start := time.Unix(1_800_000_000, 0).UTC()
	for _, c := range []struct {
		kind   envelope.Kind
		stream string
		want   string
	}{
		{envelope.KindEvent, "front", `stream must be "events"`},
		{envelope.KindSnapshot, "front", `stream must be "snapshots"`},
		{envelope.KindSnapshot, "events", `stream must be "snapshots"`},
		{envelope.KindSegment, "events", "reserved"},
		{envelope.KindClip, "front", "not accepted"},
	} {
		b, err := envelope.Seal(envelope.Header{Kind: c.kind, Stream: c.stream, Sequence: 9, Start: start, Epoch: uint32(st.Epoch)},
			start, hub.key, []byte("x"), st.EpochRecipient())
		if err != nil {
			t.Fatal(err)
		}
		_, err = hub.up(b)
		if err == nil || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s on stream %q: %v, want 422 saying %q", c.kind, c.stream, err, c.want)
		}
	}
}

// A member's WebSocket receives the key of each event object uploaded after
// it connected.
func TestEventsLive(t *testing.T) {
	e := newEnvWith(t, withLocalPush)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hub := newEventHub(t, e, alice, st)
	start := time.Unix(1_800_000_000, 0).UTC()
	hub.event(record(start, eventrec.StateStart)) // before: not sent

	wsURL := "ws" + strings.TrimPrefix(e.url, "http") + "/v1/households/" + st.HouseholdID + "/events/live"
	hdr := http.Header{"Authorization": {"Bearer " + alice.c.Token}}
	ws, resp, err := websocket.DefaultDialer.Dial(wsURL, hdr)
	if err != nil {
		t.Fatalf("dial: %v %v", err, resp)
	}
	defer ws.Close()
	// Another site's page cannot open it with the member's credentials.
	hdr.Set("Origin", "https://evil.example")
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL, hdr); err == nil || resp == nil || resp.StatusCode != 403 {
		t.Errorf("cross-origin WebSocket: %v", err)
	}

	hub.snapshot(start) // not an event: not sent
	key, _ := hub.event(record(start.Add(time.Minute), eventrec.StateStart))
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var note struct {
		Key   string    `json:"key"`
		Start time.Time `json:"start"`
		Seq   uint64    `json:"seq"`
	}
	if err := ws.ReadJSON(&note); err != nil {
		t.Fatal(err)
	}
	if note.Key != key || note.Seq != 2 || !note.Start.Equal(start.Add(time.Minute)) {
		t.Errorf("live note %+v, want key %s seq 2", note, key)
	}
}

// pushService is a push service: it records what it receives and answers
// with status.
type pushService struct {
	srv    *httptest.Server
	status atomic.Int32
	got    chan pushed
}

type pushed struct {
	path string
	body []byte
	auth string
}

func newPushService(t *testing.T) *pushService {
	p := &pushService{got: make(chan pushed, 16)}
	p.status.Store(201)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		p.got <- pushed{path: r.URL.Path, body: b, auth: r.Header.Get("Authorization")}
		w.WriteHeader(int(p.status.Load()))
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// A push subscription receives each small sealed event record, encrypted
// for the browser (RFC 8291): decrypted, it is exactly the sealed bytes. A
// 410 from the push service removes the subscription.
func TestEventsWebPush(t *testing.T) {
	e := newEnvWith(t, withLocalPush)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hub := newEventHub(t, e, alice, st)
	hh := "/v1/households/" + st.HouseholdID
	ps := newPushService(t)

	var vapid struct {
		PublicKey string `json:"public_key"`
	}
	if status := getJSON(t, alice, "/v1/push/vapid", &vapid); status != 200 {
		t.Fatalf("vapid: %d", status)
	}
	if pk, err := base64.RawURLEncoding.DecodeString(vapid.PublicKey); err != nil || len(pk) != 65 || pk[0] != 4 {
		t.Fatalf("VAPID public key %q is not an uncompressed P-256 point", vapid.PublicKey)
	}

	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 16)
	rand.Read(secret)
	b64 := base64.RawURLEncoding.EncodeToString
	sub := func(endpoint string) []byte {
		b, _ := json.Marshal(map[string]any{"endpoint": endpoint, "expirationTime": nil,
			"keys": map[string]string{"p256dh": b64(ua.PublicKey().Bytes()), "auth": b64(secret)}})
		return b
	}
	endpoint := ps.srv.URL + "/push/abc"
	for _, bad := range []string{"http://push.example/x", "https://10.0.0.1/x", "ftp://push.example/x"} {
		if status, _ := post(t, alice.c, hh+"/push", sub(bad)); status != 400 {
			t.Errorf("endpoint %s: %d, want 400", bad, status)
		}
	}
	if status, body := post(t, alice.c, hh+"/push", sub(endpoint)); status != 201 {
		t.Fatalf("subscribe: %d %s", status, body)
	}

	start := time.Unix(1_800_000_000, 0).UTC()
	_, sealed := hub.event(record(start, eventrec.StateStart))
	if len(sealed) > 3000 {
		t.Fatalf("a sealed event record is %d bytes, over the push limit", len(sealed))
	}
	var got pushed
	select {
	case got = <-ps.got:
	case <-time.After(20 * time.Second):
		t.Fatal("no push arrived")
	}
	plain, err := webpush.Decrypt(got.body, ua, secret)
	if err != nil {
		t.Fatalf("push body: %v", err)
	}
	if !bytes.Equal(plain, sealed) {
		t.Fatal("the push payload is not the sealed event record")
	}
	if !strings.Contains(got.auth, "k="+vapid.PublicKey) {
		t.Errorf("push not signed with the service's VAPID key: %q", got.auth)
	}
	if _, _, err := webpush.VerifyAuthorization(got.auth, ps.srv.URL, time.Now()); err != nil {
		t.Errorf("VAPID: %v", err)
	}

	// Snapshots are not pushed; a gone subscription is deleted.
	hub.snapshot(start)
	ps.status.Store(http.StatusGone)
	hub.event(record(start, eventrec.StateEnd))
	select {
	case <-ps.got:
	case <-time.After(20 * time.Second):
		t.Fatal("no push arrived")
	}
	for i := 0; ; i++ {
		subs, err := e.st.PushSubs(context.Background(), st.HouseholdID)
		if err != nil {
			t.Fatal(err)
		}
		if len(subs) == 0 {
			break
		}
		if i == 200 {
			t.Fatal("the subscription survived a 410")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if status, _ := call(t, alice.c, "DELETE", hh+"/push?endpoint="+url.QueryEscape(endpoint), nil); status != 404 {
		t.Errorf("deleting the removed subscription: %d, want 404", status)
	}
	if status, _ := post(t, alice.c, hh+"/push", sub(endpoint)); status != 201 {
		t.Fatalf("subscribe again: %d", status)
	}
	if status, _ := call(t, alice.c, "DELETE", hh+"/push?endpoint="+url.QueryEscape(endpoint), nil); status != 204 {
		t.Errorf("unsubscribe: %d, want 204", status)
	}
}

// G1/G2: after events and snapshots whose plaintext holds distinctive
// strings went through the cloud (uploads, listings, reads, pushes), no file
// under its data directory (database, WAL, blobs) holds any of them.
func TestEventsInsiderScan(t *testing.T) {
	e := newEnvWith(t, withLocalPush)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hub := newEventHub(t, e, alice, st)
	ps := newPushService(t)
	ua, _ := ecdh.P256().GenerateKey(rand.Reader)
	secret := make([]byte, 16)
	rand.Read(secret)
	body, _ := json.Marshal(map[string]any{"endpoint": ps.srv.URL + "/p", "keys": map[string]string{
		"p256dh": base64.RawURLEncoding.EncodeToString(ua.PublicKey().Bytes()), "auth": base64.RawURLEncoding.EncodeToString(secret)}})
	hh := "/v1/households/" + st.HouseholdID
	if status, got := post(t, alice.c, hh+"/push", body); status != 201 {
		t.Fatalf("subscribe: %d %s", status, got)
	}
	start := time.Unix(1_800_000_000, 0).UTC()
	var uploaded int64
	for i := range 5 {
		at := start.Add(time.Duration(i) * time.Minute)
		_, b := hub.event(record(at, eventrec.StateStart))
		uploaded += int64(len(b))
		<-ps.got
		r := record(at, eventrec.StateEnd)
		r.Snapshot = hub.snapshot(at)
		_, b = hub.event(r)
		uploaded += int64(len(b))
		<-ps.got
	}
	var list eventList
	getJSON(t, alice, hh+"/events", &list)
	for _, ev := range list.Events {
		if _, err := alice.c.ReadObject(context.Background(), st.HouseholdID, ev.Key, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	if len(list.Events) != 10 {
		t.Fatalf("%d events listed, want 10", len(list.Events))
	}

	needles := [][]byte{[]byte(secretCamera), []byte(secretLabel), []byte(secretZone), []byte(secretJPEG), []byte("XYZZY")}
	var scanned int64
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		scanned += int64(len(b))
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s holds plaintext %q", p, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < uploaded {
		t.Fatalf("scanned %d bytes, fewer than the %d uploaded: the objects are not where the scan looks", scanned, uploaded)
	}
	t.Logf("insider scan: %d bytes under the cloud's data directory, no event plaintext", scanned)
}

// A member removed from the household gets no more pushes: the
// subscription is deleted at the next event.
func TestEventsPushAfterRemoval(t *testing.T) {
	e := newEnvWith(t, withLocalPush)
	alice, bob := e.signUp("alice@example.com"), e.signUp("bob@example.com")
	st := e.household(alice, "Home")
	hub := newEventHub(t, e, alice, st)
	hh := "/v1/households/" + st.HouseholdID
	e.addMember(alice, st.HouseholdID, "bob@example.com", "member")
	ps := newPushService(t)
	ua, _ := ecdh.P256().GenerateKey(rand.Reader)
	secret := make([]byte, 16)
	rand.Read(secret)
	sub := func(m *member, path string) {
		body, _ := json.Marshal(map[string]any{"endpoint": ps.srv.URL + path, "keys": map[string]string{
			"p256dh": base64.RawURLEncoding.EncodeToString(ua.PublicKey().Bytes()), "auth": base64.RawURLEncoding.EncodeToString(secret)}})
		if status, got := post(t, m.c, hh+"/push", body); status != 201 {
			t.Fatalf("subscribe %s: %d %s", path, status, got)
		}
	}
	sub(bob, "/bob") // older: delivered first
	e.clock.Add(time.Second)
	sub(alice, "/alice")
	if err := alice.c.RemoveMember(context.Background(), st.HouseholdID, bob.accountID(t),
		e.action(alice.keys, st.HouseholdID, history.MemberRemoveParams{Account: bob.accountID(t)})); err != nil {
		t.Fatalf("remove bob: %v", err)
	}
	hub.event(record(time.Unix(1_800_000_000, 0).UTC(), eventrec.StateStart))
	select {
	case got := <-ps.got:
		if got.path != "/alice" {
			t.Fatalf("push to %s, want only /alice", got.path)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no push arrived")
	}
	subs, err := e.st.PushSubs(context.Background(), st.HouseholdID)
	if err != nil || len(subs) != 1 || !strings.HasSuffix(subs[0].Endpoint, "/alice") {
		t.Errorf("subscriptions after the event: %+v %v, want alice's only", subs, err)
	}
}

// dialEvents opens a member's event listener on the replica at base; on
// failure it returns the HTTP status.
func dialEvents(t *testing.T, base, hh, token string) (*websocket.Conn, int) {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/v1/households/"+hh+"/events/live",
		http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		if resp == nil {
			t.Fatalf("events dial: %v", err)
		}
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { ws.Close() })
	return ws, 101
}

// subscribePush subscribes m to the household's pushes at the push
// service's path.
func subscribePush(t *testing.T, m *member, hh string, ps *pushService, path string) {
	t.Helper()
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	rand.Read(auth)
	b64 := base64.RawURLEncoding.EncodeToString
	body, _ := json.Marshal(map[string]any{"endpoint": ps.srv.URL + path,
		"keys": map[string]string{"p256dh": b64(ua.PublicKey().Bytes()), "auth": b64(auth)}})
	if status, got := post(t, m.c, "/v1/households/"+hh+"/push", body); status != 201 {
		t.Fatalf("subscribe %s: %d %s", path, status, got)
	}
}

// pushesUntil collects pushes until n arrived or d passed.
func pushesUntil(ps *pushService, n int, d time.Duration) []pushed {
	var out []pushed
	deadline := time.After(d)
	for len(out) < n {
		select {
		case p := <-ps.got:
			out = append(out, p)
		case <-deadline:
			return out
		}
	}
	return out
}

// pushesWithin collects the pushes that arrive within d.
func pushesWithin(ps *pushService, d time.Duration) []pushed {
	var out []pushed
	deadline := time.After(d)
	for {
		select {
		case p := <-ps.got:
			out = append(out, p)
		case <-deadline:
			return out
		}
	}
}

// An event uploaded to replica A reaches a listener open on replica B, and
// its push goes out once, with both replicas working the push queue; a
// join request on A reaches the admin's listener on B and not a member's.
func TestEventsAcrossReplicas(t *testing.T) {
	reps := newBusReplicas(t, 2, natstest.URL(t))
	a, b := reps[0], reps[1]
	alice, carol := a.signUp("alice@example.com"), a.signUp("carol@example.com")
	bob := a.signUp("bob@example.com")
	st := a.household(alice, "Home")
	hh := st.HouseholdID
	a.addMember(alice, hh, "bob@example.com", "member")
	hub := newEventHub(t, a, alice, st)
	ps := newPushService(t)
	subscribePush(t, alice, hh, ps, "/alice")

	onB, status := dialEvents(t, b.url, hh, alice.c.Token)
	if onB == nil {
		t.Fatalf("listener on B: %d", status)
	}
	bobOnB, status := dialEvents(t, b.url, hh, bob.c.Token)
	if bobOnB == nil {
		t.Fatalf("member's listener on B: %d", status)
	}
	start := time.Unix(1_800_000_000, 0).UTC()
	key, _ := hub.event(record(start, eventrec.StateStart))
	onB.SetReadDeadline(time.Now().Add(10 * time.Second))
	var note struct {
		Key string `json:"key"`
		Seq uint64 `json:"seq"`
	}
	if err := onB.ReadJSON(&note); err != nil {
		t.Fatalf("no notice on B: %v", err)
	}
	if note.Key != key || note.Seq != 1 {
		t.Errorf("notice on B %+v, want %s", note, key)
	}
	if got := append(pushesUntil(ps, 1, 20*time.Second), pushesWithin(ps, time.Second)...); len(got) != 1 {
		t.Fatalf("%d pushes for one event with two replicas, want 1", len(got))
	}

	inv := a.invite(alice, hh, "member", time.Hour)
	joinRequest(t, carol, inv)
	var join cloud.JoinPush
	if err := onB.ReadJSON(&join); err != nil {
		t.Fatalf("no join notice on B: %v", err)
	}
	if join != (cloud.JoinPush{Type: "join-request", Household: hh}) {
		t.Errorf("join notice %+v", join)
	}
	// The member's listener got the event and nothing of the join.
	bobOnB.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := bobOnB.ReadJSON(&note); err != nil || note.Key != key {
		t.Fatalf("member's notice %+v: %v", note, err)
	}
	bobOnB.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	var more map[string]any
	if err := bobOnB.ReadJSON(&more); err == nil {
		t.Errorf("a member (not an admin) heard %v", more)
	}
}

// With NATS stopped, what needs the bus answers 503 with Retry-After
// (listeners, live view) at once, uploads still succeed, and an open
// listener is closed so that the app reconnects; once NATS is back the
// replicas carry notices and pushes again by themselves.
func TestBusOutage(t *testing.T) {
	nats := natstest.Start(t)
	reps := newBusReplicas(t, 2, nats.URL())
	a, b := reps[0], reps[1]
	alice := a.signUp("alice@example.com")
	st := a.household(alice, "Home")
	hh := st.HouseholdID
	hub := newEventHub(t, a, alice, st)
	ps := newPushService(t)
	subscribePush(t, alice, hh, ps, "/alice")
	open, status := dialEvents(t, b.url, hh, alice.c.Token)
	if open == nil {
		t.Fatalf("listener: %d", status)
	}

	nats.Stop()
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, status := dialEvents(t, b.url, hh, alice.c.Token)
		if status == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listener with NATS stopped: %d, want 503", status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	req, _ := http.NewRequest("GET", a.url+"/v1/households/"+hh+"/live", nil)
	req.Header.Set("Authorization", "Bearer "+alice.c.Token)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("live view with NATS stopped: %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	start := time.Unix(1_800_000_000, 0).UTC()
	hub.event(record(start, eventrec.StateStart)) // the upload itself succeeds
	open.SetReadDeadline(time.Now().Add(15 * time.Second))
	if _, _, err := open.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseTryAgainLater) {
		t.Errorf("the open listener: %v, want closed with 1013", err)
	}

	nats.Restart()
	// Each replica reconnects by itself: a listener opens on each again.
	var again *websocket.Conn
	for _, r := range []*env{a, b} {
		again = nil
		for deadline = time.Now().Add(20 * time.Second); again == nil; {
			again, status = dialEvents(t, r.url, hh, alice.c.Token)
			if again == nil && time.Now().After(deadline) {
				t.Fatalf("listener after NATS returned: %d", status)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	key, _ := hub.event(record(start.Add(time.Minute), eventrec.StateStart))
	again.SetReadDeadline(time.Now().Add(10 * time.Second))
	var note struct{ Key string }
	for note.Key != key {
		if err := again.ReadJSON(&note); err != nil {
			t.Fatalf("no notice after the outage: %v", err)
		}
	}
	// The event uploaded during the outage is pushed once its job could be
	// queued, and the new one: one push each.
	got := pushesUntil(ps, 2, 20*time.Second)
	got = append(got, pushesWithin(ps, time.Second)...) // and no more
	if len(got) != 2 {
		t.Errorf("%d pushes after the outage, want 2 (the event during it and the one after)", len(got))
	}
}
