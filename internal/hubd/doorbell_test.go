package hubd

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"vigil/internal/cloud"
	"vigil/internal/config"
	"vigil/internal/doorbell"
	"vigil/internal/eventrec"
	"vigil/internal/member"
	"vigil/internal/netguard"
	"vigil/internal/notify"
	"vigil/internal/notify/webhook"
	"vigil/internal/notify/webpush"
	"vigil/internal/vigiltest"
)

// mqttClient is a plain paho client recording what it receives on topics.
type mqttClient struct {
	c    *paho.Client
	mu   sync.Mutex
	msgs map[string][]string
}

func dialMQTT(t *testing.T, addr, id string, topics ...string) *mqttClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	m := &mqttClient{msgs: map[string][]string{}}
	m.c = paho.NewClient(paho.ClientConfig{Conn: conn, ClientID: id,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			m.mu.Lock()
			m.msgs[pr.Packet.Topic] = append(m.msgs[pr.Packet.Topic], string(pr.Packet.Payload))
			m.mu.Unlock()
			return true, nil
		}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m.c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	if len(topics) > 0 {
		var subs []paho.SubscribeOptions
		for _, tp := range topics {
			subs = append(subs, paho.SubscribeOptions{Topic: tp, QoS: 1})
		}
		if _, err := m.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { m.c.Disconnect(&paho.Disconnect{}) })
	return m
}

func (m *mqttClient) got(topic string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.msgs[topic]...)
}

// TestDoorbellRingSealedToCloud: a paired hub with a doorbell camera
// (motion-only detection, so rings carry a snapshot of its latest frame).
// A press on the button's MQTT topic (real Mosquitto) and, after the
// interval, a signed HTTP press each make one ring: a sealed event record
// labelled "ring" with a sealed snapshot, which the member opens with its
// household keys from the cloud; a flood of presses (10 signed, 5 on
// MQTT) within the interval rings no more; unsigned, badly signed and
// replayed presses are refused; Home Assistant gets the doorbell event
// entity and the rings, the webhook a signed "ring"; and nothing the cloud
// keeps holds the label, a ring's ID, the snapshot or the camera's name.
func TestDoorbellRingSealedToCloud(t *testing.T) {
	t.Parallel()
	cl := startCloudWith(t, func(o *cloud.Options) {
		// The test's push service is on loopback (plain HTTP, which a
		// cloud itself on plain-HTTP loopback accepts).
		o.PublicURL = "http://127.0.0.1"
		o.Outbound = netguard.Options{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	})
	m := newMember(t, cl.url())
	// The member's browser: a Web Push subscription at a push service.
	var pushMu sync.Mutex
	var pushes [][]byte
	pushSvc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		pushMu.Lock()
		pushes = append(pushes, b)
		pushMu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer pushSvc.Close()
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pushAuth := make([]byte, 16)
	rand.Read(pushAuth)
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	const camName = "frontbellzq"
	cfg := pairedConfig(t, cl, camName, cam.URL("cam"))
	broker := vigiltest.Mosquitto(t)
	ha := dialMQTT(t, broker, "home-assistant", "homeassistant/#", "vigil/#")
	button := dialMQTT(t, broker, "button")

	hookSecret := []byte("a webhook secret of the household")
	var mu sync.Mutex
	var hooks []notify.Payload
	var hookErrs []error
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := webhook.Verify(hookSecret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute)
		var p notify.Payload
		if err == nil {
			p, err = notify.ParsePayload(body)
		}
		mu.Lock()
		hooks, hookErrs = append(hooks, p), append(hookErrs, err)
		mu.Unlock()
	}))
	defer recv.Close()

	const interval = 3 * time.Second
	buttonSecret := "the front button's secret, 32+ characters"
	cfg.Cameras[0].Detect = &config.Detect{MotionOnly: true, FPS: 5}
	cfg.Cameras[0].Doorbell = &config.Doorbell{MQTTTopic: "home/front/button", Secret: buttonSecret, Interval: config.Duration(interval)}
	cfg.DoorbellListen = "127.0.0.1:0"
	cfg.Detection = &config.Detection{MQTT: &config.MQTT{Broker: "mqtt://" + broker},
		Webhooks: &config.Webhooks{URLs: []string{recv.URL}, Secret: string(hookSecret)}}

	if _, hubErr, memberErr := pair(t, cl.url(), cfg.Data, m); hubErr != nil || memberErr != nil {
		t.Fatalf("pairing: hub %v, member %v", hubErr, memberErr)
	}
	if err := m.c.SubscribePush(context.Background(), m.st.HouseholdID, pushSvc.URL+"/push/member", ua.PublicKey().Bytes(), pushAuth); err != nil {
		t.Fatalf("push subscription: %v", err)
	}
	subscribed := make(chan struct{}, 8)
	logs := &lockedBuffer{}
	h := startHub(t, cfg, Options{UploadMinBackoff: 100 * time.Millisecond, UploadMaxBackoff: time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), DoorbellSubscribed: func() { subscribed <- struct{}{} }})
	ctx := context.Background()
	select {
	case <-subscribed:
	case <-time.After(30 * time.Second):
		t.Fatal("the hub did not subscribe to the button's topic")
	}
	// The camera's frames are decoded before the press, for the snapshot.
	waitFor(t, "frames decoded", 30*time.Second, func() bool {
		st := h.DetectionStats()
		return len(st) == 1 && st[0].Frames > 5
	})

	// 1. The MQTT button, pressed 6 times at once: one ring.
	for range 6 {
		if _, err := button.c.Publish(ctx, &paho.Publish{Topic: "home/front/button", Payload: []byte("single"), QoS: 1}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the MQTT presses counted", 20*time.Second, func() bool { return h.DoorbellStats()[camName].Presses == 6 })
	time.Sleep(interval)

	// 2. Signed HTTP presses: one good one, a flood within the interval,
	// and presses that must be refused.
	base := "http://" + h.DoorbellAddr().String() + doorbell.PressPath(camName)
	press := func(sig string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base, nil)
		if sig != "" {
			req.Header.Set(doorbell.PressSignatureHeader, sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	good := doorbell.SignPress([]byte(buttonSecret), camName, time.Now(), doorbell.NewNonce())
	if code := press(good); code != http.StatusNoContent {
		t.Fatalf("a signed press: %d", code)
	}
	for range 10 {
		if code := press(doorbell.SignPress([]byte(buttonSecret), camName, time.Now(), doorbell.NewNonce())); code != http.StatusNoContent {
			t.Fatalf("a signed press in the flood: %d", code)
		}
	}
	for name, c := range map[string]struct {
		sig  string
		want int
	}{
		"unsigned":   {"", 401},
		"bad secret": {doorbell.SignPress([]byte("not the button's secret at all!!"), camName, time.Now(), doorbell.NewNonce()), 401},
		"stale":      {doorbell.SignPress([]byte(buttonSecret), camName, time.Now().Add(-5*time.Minute), doorbell.NewNonce()), 401},
		"replayed":   {good, 409},
	} {
		if code := press(c.sig); code != c.want {
			t.Errorf("%s press: %d, want %d", name, code, c.want)
		}
	}

	// Two rings reach the cloud, each with a snapshot.
	var rings []eventrec.Record
	vs, err := member.VerifiedChain(ctx, m.c, m.st.HouseholdID, m.genesis)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := vs.EpochIdentities(m.keys)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two rings in the cloud", 60*time.Second, func() bool {
		evs, _ := m.c.Objects(ctx, m.st.HouseholdID, eventrec.StreamEvents, time.Time{}, time.Time{})
		rings = rings[:0]
		for _, o := range evs {
			b, err := m.c.ReadObject(ctx, m.st.HouseholdID, o.Key, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			r, _, err := eventrec.Open(b, vs.TrustedHubs(), ids...)
			if err != nil {
				t.Fatalf("the member cannot open an event record: %v", err)
			}
			if len(r.Labels) == 1 && r.Labels[0] == "ring" {
				rings = append(rings, r)
			}
		}
		return len(rings) >= 2
	})
	waitFor(t, "two rings at the webhook and on MQTT", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(hooks) >= 2 && len(ha.got("vigil/"+camName+"/doorbell")) >= 2
	})
	// The household's browser gets each ring as a Web Push whose payload,
	// decrypted (RFC 8291), is the sealed record it opens with its keys.
	pushed := map[string]bool{}
	waitFor(t, "two rings pushed", 30*time.Second, func() bool {
		pushMu.Lock()
		defer pushMu.Unlock()
		for _, b := range pushes {
			plain, err := webpush.Decrypt(b, ua, pushAuth)
			if err != nil {
				t.Fatalf("push body: %v", err)
			}
			if r, _, err := eventrec.Open(plain, vs.TrustedHubs(), ids...); err == nil && r.Labels[0] == "ring" {
				pushed[r.ID] = true
			}
		}
		return len(pushed) >= 2
	})
	if !pushed[rings[0].ID] || !pushed[rings[1].ID] {
		t.Errorf("pushed rings %v, want %s and %s", pushed, rings[0].ID, rings[1].ID)
	}
	time.Sleep(time.Second) // anything more would arrive by now
	h.Close()

	st := h.DoorbellStats()[camName]
	if st.Presses != 17 || st.Rings != 2 || st.Suppressed != 15 {
		t.Errorf("doorbell stats %+v: want 17 presses (6 MQTT, 11 signed HTTP), 2 rings", st)
	}
	if len(rings) != 2 {
		t.Fatalf("%d rings in the cloud, want 2", len(rings))
	}
	var jpgs [][]byte
	for _, r := range rings {
		if r.Camera != camName || !r.Alert || r.State != eventrec.StateEnd || !r.End.Equal(r.Start) || r.Snapshot == "" {
			t.Fatalf("ring record %+v", r)
		}
		sb, err := m.c.ReadObject(ctx, m.st.HouseholdID, r.Snapshot, 8<<20)
		if err != nil {
			t.Fatalf("the ring's snapshot %s: %v", r.Snapshot, err)
		}
		jpg, _, err := eventrec.OpenSnapshot(sb, vs.TrustedHubs(), ids...)
		if err != nil || !bytes.HasPrefix(jpg, []byte{0xff, 0xd8}) {
			t.Fatalf("snapshot: %v (%d bytes)", err, len(jpg))
		}
		jpgs = append(jpgs, jpg)
	}

	// Home Assistant: the doorbell's event entity and the two rings.
	disc := ha.got("homeassistant/event/vigil_" + camName + "_doorbell/config")
	if len(disc) == 0 || !strings.Contains(disc[0], `"device_class":"doorbell"`) || !strings.Contains(disc[0], `"event_types":["ring"]`) {
		t.Errorf("doorbell discovery %q", disc)
	}
	for _, p := range ha.got("vigil/" + camName + "/doorbell") {
		var e struct {
			EventType string `json:"event_type"`
			ID        string `json:"id"`
		}
		if err := json.Unmarshal([]byte(p), &e); err != nil || e.EventType != "ring" || (e.ID != rings[0].ID && e.ID != rings[1].ID) {
			t.Errorf("HA ring %q: %v", p, err)
		}
	}
	if n := len(ha.got("vigil/" + camName + "/doorbell")); n != 2 {
		t.Errorf("%d rings on MQTT, want 2", n)
	}
	mu.Lock()
	if len(hooks) != 2 {
		t.Errorf("%d webhooks, want 2", len(hooks))
	}
	for i, p := range hooks {
		if hookErrs[i] != nil || p.Kind != "ring" || len(p.Labels) != 1 || p.Labels[0] != "ring" || p.Camera != camName {
			t.Errorf("webhook %d: %+v %v", i, p, hookErrs[i])
		}
	}
	mu.Unlock()

	// The hub's logs name the ring but never the button's secret.
	if out := logs.String(); !strings.Contains(out, "doorbell rang") || strings.Contains(out, buttonSecret) || strings.Contains(out, good[strings.Index(good, "v1="):]) {
		t.Errorf("hub logs: a ring logged %v, the secret or a signature logged %v", strings.Contains(out, "doorbell rang"), strings.Contains(out, buttonSecret))
	}

	// The insider's view: every file of the cloud (database, WAL, blobs)
	// holds no label, ring ID, snapshot or button secret in the clear, and
	// no event or snapshot object names the camera (segments do, in their
	// public header).
	var leaks, named vigiltest.LeakScan
	for _, l := range []*vigiltest.LeakScan{&leaks, &named} {
		l.Secret("label", []byte(`"labels":["ring"]`))
		l.Secret("button secret", []byte(buttonSecret))
		for _, r := range rings {
			l.Secret("ring ID", []byte(r.ID))
		}
		for _, jpg := range jpgs {
			if l.Plaintext("snapshot", jpg) == 0 {
				t.Fatal("no sample of the snapshot to scan for")
			}
		}
	}
	named.Secret("camera name", []byte(camName))
	scanCloudFiles(t, cl.dir, &leaks, &named)
}

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDoorbellWithoutDetection: a hub not paired with a cloud, whose
// doorbell camera has no detect section, still rings: a signed press
// reaches the household's webhook as a ring (no snapshot: nothing decodes
// the camera), a second press within the interval does not, and one
// signed with another doorbell's name is refused.
func TestDoorbellWithoutDetection(t *testing.T) {
	t.Parallel()
	secret := []byte("a webhook secret of the household")
	recv, hooks := webhookReceiver(t, secret)
	_, rcpt := household(t)
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	cfg := hubConfig(t, rcpt, map[string]string{"gate": cam.URL("cam"), "yard": cam.URL("cam")}, time.Second)
	button := "the gate button's secret, 32+ characters"
	cfg.Cameras[0].Doorbell = &config.Doorbell{Secret: button, Interval: config.Duration(time.Minute)}
	cfg.DoorbellListen = "127.0.0.1:0"
	cfg.Detection = &config.Detection{Webhooks: &config.Webhooks{URLs: []string{recv.URL}, Secret: string(secret)}}
	h := startHub(t, cfg, Options{})
	press := func(camera string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, "http://"+h.DoorbellAddr().String()+doorbell.PressPath(camera), nil)
		req.Header.Set(doorbell.PressSignatureHeader, doorbell.SignPress([]byte(button), camera, time.Now(), doorbell.NewNonce()))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := press("gate"); code != http.StatusNoContent {
		t.Fatalf("press: %d", code)
	}
	select {
	case p := <-hooks:
		if p.Kind != "ring" || p.Camera != "gate" || p.Labels[0] != "ring" || !p.Alert {
			t.Fatalf("webhook %+v", p)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook for the ring")
	}
	if code := press("gate"); code != http.StatusNoContent {
		t.Fatalf("second press: %d", code)
	}
	if code := press("yard"); code != http.StatusNotFound {
		t.Fatalf("a press of a camera that is no doorbell: %d", code)
	}
	time.Sleep(time.Second)
	h.Close()
	if len(hooks) != 0 {
		t.Fatalf("%d more webhooks: the second press rang", len(hooks))
	}
	if st := h.DoorbellStats()["gate"]; st != (doorbell.BellStats{Presses: 2, Rings: 1, Suppressed: 1}) {
		t.Fatalf("stats %+v", st)
	}
	if st := h.DetectionStats(); len(st) != 0 {
		t.Fatalf("detection stats %+v for a hub that detects nothing", st)
	}
}

// webhookReceiver is the household's webhook receiver: it checks each
// call's signature with secret and passes on the payloads. Close is the
// test's cleanup.
func webhookReceiver(t *testing.T, secret []byte) (*httptest.Server, <-chan notify.Payload) {
	t.Helper()
	hooks := make(chan notify.Payload, 8)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			t.Errorf("webhook signature: %v", err)
		}
		p, err := notify.ParsePayload(body)
		if err != nil {
			t.Errorf("webhook body: %v", err)
		}
		hooks <- p
	}))
	t.Cleanup(recv.Close)
	return recv, hooks
}
