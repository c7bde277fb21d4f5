package mqtt

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"vigil/internal/notify"
	"vigil/internal/vigiltest"
)

type message struct {
	topic   string
	payload string
	retain  bool
}

// subscriber is a plain paho client recording what it receives.
type subscriber struct {
	mu   sync.Mutex
	msgs []message
	c    *paho.Client
}

func subscribe(t *testing.T, addr string, topics ...string) *subscriber {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &subscriber{}
	s.c = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			s.mu.Lock()
			s.msgs = append(s.msgs, message{pr.Packet.Topic, string(pr.Packet.Payload), pr.Packet.Retain})
			s.mu.Unlock()
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.c.Connect(ctx, &paho.Connect{ClientID: "test-sub-" + t.Name(), CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	var subs []paho.SubscribeOptions
	for _, tp := range topics {
		subs = append(subs, paho.SubscribeOptions{Topic: tp, QoS: 1})
	}
	if _, err := s.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.c.Disconnect(&paho.Disconnect{}) })
	return s
}

// wait returns the first message on topic (after skip earlier ones) matching
// pred, failing after 10s.
func (s *subscriber) wait(t *testing.T, topic string, pred func(message) bool) message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		for _, m := range s.msgs {
			if m.topic == topic && pred(m) {
				s.mu.Unlock()
				return m
			}
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no matching message on %s in 10s; got %v", topic, s.topics())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *subscriber) topics() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ts []string
	for _, m := range s.msgs {
		ts = append(ts, m.topic+"="+m.payload[:min(len(m.payload), 20)])
	}
	return ts
}

func anyMsg(message) bool { return true }

// connected is a publisher of cfg, connected to its broker (retrying every
// 100 ms unless cfg says otherwise), and a context for the test's calls
// that ends with the test.
func connected(t *testing.T, cfg Config) (*Publisher, context.Context) {
	t.Helper()
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = 100 * time.Millisecond
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	if err := p.AwaitConnection(ctx); err != nil {
		t.Fatal(err)
	}
	return p, ctx
}

func TestHomeAssistantDiscoveryAndEvents(t *testing.T) {
	addr := vigiltest.Mosquitto(t)
	p, ctx := connected(t, Config{
		Broker:  "mqtt://" + addr,
		Cameras: []Camera{{ID: "Front Door", Name: "Front door", Labels: []string{"person", "motion"}}},
	})

	// A subscriber arriving later still sees the retained configs.
	s := subscribe(t, addr, "homeassistant/#", "vigil/#")
	m := s.wait(t, "homeassistant/binary_sensor/vigil_front_door_person/config", anyMsg)
	if !m.retain {
		t.Error("discovery config not retained")
	}
	var d Discovery
	if err := json.Unmarshal([]byte(m.payload), &d); err != nil {
		t.Fatal(err)
	}
	if d.DeviceClass != "occupancy" || d.UniqueID != "vigil_front_door_person" || d.StateTopic != "vigil/front_door/person/state" ||
		d.Device.Manufacturer != "Vigil" || d.Device.Name != "Front door" || len(d.Device.Identifiers) != 1 ||
		d.AvailabilityTopic != "vigil/availability" || d.PayloadNotAvailable != "offline" {
		t.Fatalf("discovery %+v", d)
	}
	m = s.wait(t, "homeassistant/binary_sensor/vigil_front_door_motion/config", anyMsg)
	json.Unmarshal([]byte(m.payload), &d)
	if d.DeviceClass != "motion" {
		t.Errorf("motion sensor device_class %q", d.DeviceClass)
	}
	s.wait(t, "vigil/availability", func(m message) bool { return m.payload == "online" })
	s.wait(t, "vigil/front_door/person/state", func(m message) bool { return m.payload == "OFF" })

	// An event starts, a new label appears, the event ends.
	start := time.Now()
	ev := notify.Event{ID: "e1", Camera: "Front Door", Labels: []string{"person", "dog"}, Zones: []string{"porch"},
		Score: 0.9, Start: start, FirstFrame: start, Snapshot: []byte("\xff\xd8jpeg")}
	if err := p.Notify(ctx, ev); err != nil {
		t.Fatal(err)
	}
	s.wait(t, "vigil/front_door/person/state", func(m message) bool { return m.payload == "ON" })
	s.wait(t, "homeassistant/binary_sensor/vigil_front_door_dog/config", anyMsg)
	s.wait(t, "vigil/front_door/dog/state", func(m message) bool { return m.payload == "ON" })
	m = s.wait(t, "vigil/front_door/events", anyMsg)
	var pl notify.Payload
	if err := json.Unmarshal([]byte(m.payload), &pl); err != nil {
		t.Fatal(err)
	}
	if pl.ID != "e1" || pl.Labels[0] != "person" || pl.Zones[0] != "porch" || pl.Score != 0.9 || pl.Phase != "start" {
		t.Fatalf("event JSON %+v", pl)
	}
	ev.Phase, ev.End = notify.PhaseEnd, start.Add(10*time.Second)
	if err := p.Notify(ctx, ev); err != nil {
		t.Fatal(err)
	}
	s.wait(t, "vigil/front_door/person/state", func(m message) bool { return m.payload == "OFF" && !m.retain })
	s.wait(t, "vigil/front_door/events", func(m message) bool { return strings.Contains(m.payload, `"phase":"end"`) })
	for _, tp := range s.topics() {
		if strings.Contains(tp, "snapshot") {
			t.Fatalf("snapshot published without IncludeSnapshot: %s", tp)
		}
	}

	// The connection drops without a DISCONNECT: the broker publishes the
	// will ("offline"); the publisher reconnects and says "online" again.
	s.mu.Lock()
	s.msgs = nil
	s.mu.Unlock()
	p.cm.TerminateConnectionForTest()
	s.wait(t, "vigil/availability", func(m message) bool { return m.payload == "offline" })
	s.wait(t, "vigil/availability", func(m message) bool { return m.payload == "online" })

	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	s.wait(t, "vigil/availability", func(m message) bool { return m.payload == "offline" })
}

func TestSnapshotOnlyWhenEnabled(t *testing.T) {
	addr := vigiltest.Mosquitto(t)
	p, ctx := connected(t, Config{Broker: "mqtt://" + addr, IncludeSnapshot: true})
	defer p.Close(ctx)
	s := subscribe(t, addr, "vigil/#")
	ev := notify.Event{ID: "e", Camera: "yard", Labels: []string{"cat"}, Start: time.Now(), Snapshot: []byte("\xff\xd8jpeg")}
	if err := p.Notify(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if m := s.wait(t, "vigil/yard/cat/snapshot", anyMsg); m.payload != "\xff\xd8jpeg" {
		t.Fatalf("snapshot payload %q", m.payload)
	}
}

func TestNewRejects(t *testing.T) {
	for _, b := range []string{"", "http://h:1883", "mqtt://", "file:///x"} {
		if _, err := New(Config{Broker: b}); err == nil {
			t.Errorf("accepted broker %q", b)
		}
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"Front Door": "front_door", "cam/+/#": "cam____", "": "_", "ok-1_x": "ok-1_x",
		strings.Repeat("a", 100): strings.Repeat("a", 64), "caméra": "cam_ra",
	} {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDoorbellEventEntity: a doorbell camera gets a Home Assistant event
// entity (device class doorbell, event type ring), announced retained on
// connect; a ring is published on its state topic (not retained) and as
// event JSON with kind "ring", and turns on no binary_sensor. A camera
// first seen ringing is announced then.
func TestDoorbellEventEntity(t *testing.T) {
	addr := vigiltest.Mosquitto(t)
	p, ctx := connected(t, Config{Broker: "mqtt://" + addr,
		Cameras: []Camera{{ID: "Front Door", Labels: []string{"person"}, Doorbell: true}}})
	defer p.Close(ctx)
	s := subscribe(t, addr, "homeassistant/#", "vigil/#")
	m := s.wait(t, "homeassistant/event/vigil_front_door_doorbell/config", anyMsg)
	var d DoorbellDiscovery
	if err := json.Unmarshal([]byte(m.payload), &d); err != nil {
		t.Fatal(err)
	}
	if !m.retain || d.DeviceClass != "doorbell" || len(d.EventTypes) != 1 || d.EventTypes[0] != "ring" ||
		d.StateTopic != "vigil/front_door/doorbell" || d.UniqueID != "vigil_front_door_doorbell" || d.Device.Identifiers[0] != "vigil_front_door" {
		t.Fatalf("doorbell discovery %+v (retained %v)", d, m.retain)
	}
	at := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	ring := notify.Event{ID: "0123456789abcdef0123456789abcdef", Kind: notify.KindRing, Camera: "Front Door",
		Labels: []string{"ring"}, Start: at, FirstFrame: at}
	if err := p.Notify(ctx, ring); err != nil {
		t.Fatal(err)
	}
	m = s.wait(t, "vigil/front_door/doorbell", anyMsg)
	var de DoorbellEvent
	if err := json.Unmarshal([]byte(m.payload), &de); err != nil || m.retain || de.EventType != "ring" || de.ID != ring.ID || !de.Time.Equal(at) {
		t.Fatalf("ring %q (retained %v): %v", m.payload, m.retain, err)
	}
	m = s.wait(t, "vigil/front_door/events", anyMsg)
	var pl notify.Payload
	if err := json.Unmarshal([]byte(m.payload), &pl); err != nil || pl.Kind != "ring" || pl.Labels[0] != "ring" {
		t.Fatalf("event JSON %q: %v", m.payload, err)
	}
	// A camera not announced as a doorbell gets its entity at its first ring.
	ring.Camera, ring.ID = "back", "fedcba9876543210fedcba9876543210"
	if err := p.Notify(ctx, ring); err != nil {
		t.Fatal(err)
	}
	s.wait(t, "homeassistant/event/vigil_back_doorbell/config", anyMsg)
	s.wait(t, "vigil/back/doorbell", anyMsg)
	for _, tp := range s.topics() {
		if strings.Contains(tp, "/ring/") || strings.Contains(tp, "binary_sensor/vigil_back") {
			t.Fatalf("a ring made a binary_sensor: %s", tp)
		}
	}
}

// TestHealthProblemSensor: a health alert makes a Home Assistant problem
// sensor for its check (on the camera's device for a camera's check, the
// hub's otherwise), ON from the problem to its resolution, the alerts as
// JSON on vigil/health.
func TestHealthProblemSensor(t *testing.T) {
	addr := vigiltest.Mosquitto(t)
	p, ctx := connected(t, Config{Broker: "mqtt://" + addr,
		Cameras: []Camera{{ID: "Front Door", Name: "Front door", Labels: []string{"person"}}}})
	defer p.Close(ctx)
	s := subscribe(t, addr, "homeassistant/#", "vigil/#")
	at := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	ev := notify.Event{ID: "0123456789abcdef0123456789abcdef", Kind: notify.KindHealth, Camera: "Front Door",
		Check: "camera.frames", Message: "Front Door camera: no video for 1 minute", Alert: true, Phase: notify.PhaseStart, Start: at}
	if err := p.Notify(ctx, ev); err != nil {
		t.Fatal(err)
	}
	m := s.wait(t, "homeassistant/binary_sensor/vigil_health_camera_frames_front_door/config", anyMsg)
	var d Discovery
	if err := json.Unmarshal([]byte(m.payload), &d); err != nil {
		t.Fatal(err)
	}
	if d.DeviceClass != "problem" || d.StateTopic != "vigil/health/camera_frames/front_door/state" ||
		d.UniqueID != "vigil_health_camera_frames_front_door" || d.Device.Identifiers[0] != "vigil_front_door" || d.Device.Name != "Front door" {
		t.Fatalf("health discovery %+v", d)
	}
	s.wait(t, d.StateTopic, func(m message) bool { return m.payload == "ON" })
	m = s.wait(t, "vigil/health", anyMsg)
	var pl notify.Payload
	if err := json.Unmarshal([]byte(m.payload), &pl); err != nil || m.retain || pl.Kind != "health" || pl.Check != "camera.frames" ||
		pl.Message != ev.Message || pl.Phase != "start" {
		t.Fatalf("health JSON %q (retained %v): %v", m.payload, m.retain, err)
	}
	ev.Phase, ev.End, ev.Flaps, ev.Message = notify.PhaseEnd, at.Add(time.Minute), 2, "Front Door camera is back (after 1 minute)"
	if err := p.Notify(ctx, ev); err != nil {
		t.Fatal(err)
	}
	s.wait(t, d.StateTopic, func(m message) bool { return m.payload == "OFF" })
	s.wait(t, "vigil/health", func(m message) bool {
		return strings.Contains(m.payload, `"phase":"end"`) && strings.Contains(m.payload, `"flaps":2`)
	})

	// A hub check: on the hub's device, no camera in its topics.
	hub := notify.Event{ID: "fedcba9876543210fedcba9876543210", Kind: notify.KindHealth, Check: "cloud.contact",
		Message: "The hub has not reached the cloud for 5 minutes", Phase: notify.PhaseStart, Start: at}
	if err := p.Notify(ctx, hub); err != nil {
		t.Fatal(err)
	}
	m = s.wait(t, "homeassistant/binary_sensor/vigil_health_cloud_contact/config", anyMsg)
	if err := json.Unmarshal([]byte(m.payload), &d); err != nil || d.Device.Identifiers[0] != "vigil_hub" || d.StateTopic != "vigil/health/cloud_contact/state" {
		t.Fatalf("hub health discovery %+v: %v", d, err)
	}
	s.wait(t, d.StateTopic, func(m message) bool { return m.payload == "ON" })

}

// TestHealthSensorsAnnouncedOnConnect: the problem sensors in
// Config.Health are on the dashboard, "OFF", as soon as the hub connects,
// before any alert; an alert then turns its sensor ON.
func TestHealthSensorsAnnouncedOnConnect(t *testing.T) {
	addr := vigiltest.Mosquitto(t)
	p, ctx := connected(t, Config{Broker: "mqtt://" + addr,
		Health: []HealthSensor{{Check: "camera.frames", Camera: "Front Door"}, {Check: "storage.space"}}})
	defer p.Close(ctx)
	s := subscribe(t, addr, "homeassistant/#", "vigil/#")
	for _, h := range []HealthSensor{{Check: "camera.frames", Camera: "Front Door"}, {Check: "storage.space"}} {
		m := s.wait(t, p.HealthDiscoveryTopic(h.Check, h.Camera), anyMsg)
		var d Discovery
		if err := json.Unmarshal([]byte(m.payload), &d); err != nil || d.DeviceClass != "problem" || !m.retain {
			t.Fatalf("discovery of %+v: %q (retained %v): %v", h, m.payload, m.retain, err)
		}
		s.wait(t, d.StateTopic, func(m message) bool { return m.payload == "OFF" && m.retain })
	}
	if err := p.Notify(ctx, notify.Event{ID: "0123456789abcdef0123456789abcdef", Kind: notify.KindHealth, Check: "storage.space",
		Message: "The disk is nearly full", Phase: notify.PhaseStart, Start: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s.wait(t, p.HealthStateTopic("storage.space", ""), func(m message) bool { return m.payload == "ON" })
}
