// Package mqtt publishes detection events to an MQTT broker on the
// household's own network, with Home Assistant MQTT discovery. It is opt-in:
// nothing is published unless the household configures a broker.
//
// On every connection the [Publisher] publishes, retained, "online" on the
// availability topic (its last will is "offline", so the broker marks the
// hub unavailable when the connection drops) and one Home Assistant
// discovery config per camera and label:
//
//	homeassistant/binary_sensor/vigil_<camera>_<label>/config
//
// a binary_sensor (device_class occupancy, or motion for the label "motion")
// whose state topic <prefix>/<camera>/<label>/state carries "ON" while an
// event with that label is in progress and "OFF" after. Each event phase is
// also published as JSON on <prefix>/<camera>/events (id, labels, zones,
// times, score, alert). It re-announces when Home Assistant comes online
// (homeassistant/status "online"), and reconnects with backoff.
//
// A doorbell camera ([Camera.Doorbell]) also gets a Home Assistant event
// entity (device_class doorbell, event type "ring"):
//
//	homeassistant/event/vigil_<camera>_doorbell/config
//
// whose state topic <prefix>/<camera>/doorbell carries {"event_type":
// "ring", "id": ..., "time": ...} at each ring (not retained: a ring is a
// moment, not a state). A ring ([notify.KindRing]) is published there and,
// like other events, as JSON on <prefix>/<camera>/events; it sets no
// binary_sensor.
//
// A health alert ([notify.KindHealth]) sets a Home Assistant problem
// binary_sensor per check (and camera, for a camera's checks), announced
// "OFF" on connect for the checks in Config.Health, with the first alert
// of any other, and again on every connection:
//
//	homeassistant/binary_sensor/vigil_health_<check>[_<camera>]/config
//
// whose retained state topic <prefix>/health/<check>[/<camera>]/state is
// "ON" from the problem to its resolution; each alert is also published
// as JSON (check, message, phase "start" or "end", times, flaps) on
// <prefix>/health, not retained.
//
// Plaintext on this broker is by design: it is the household's own LAN
// broker, configured by the household. Images are never published unless
// [Config.IncludeSnapshot] is set. Nothing here logs payloads or the broker
// password.
package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"vigil/internal/notify"
)

// Config configures a [Publisher].
type Config struct {
	// Broker is the broker's URL: mqtt://host:1883 or tls://host:8883 (also
	// tcp://, ssl://, mqtts://).
	Broker   string
	Username string
	Password string // never logged

	// ClientID identifies the hub to the broker; "" means "vigil-hub".
	ClientID string
	// TopicPrefix prefixes Vigil's topics; "" means "vigil".
	TopicPrefix string
	// DiscoveryPrefix is Home Assistant's discovery prefix; "" means
	// "homeassistant".
	DiscoveryPrefix string

	// Cameras are announced on connect. Cameras and labels first seen in an
	// event are announced when they appear.
	Cameras []Camera

	// IncludeSnapshot publishes each event's snapshot (JPEG) on
	// <prefix>/<camera>/<label>/snapshot. Off by default.
	IncludeSnapshot bool

	// KeepAlive is the MQTT keep-alive; 0 means 30s.
	KeepAlive time.Duration
	// RetryDelay is the wait between connection attempts; 0 means 5s.
	RetryDelay time.Duration
	// Health are the problem sensors announced, all clear, on connect,
	// before any alert.
	Health []HealthSensor
	// Logger gets connection errors; nil discards.
	Logger *slog.Logger
}

// HealthSensor is a health check's problem sensor: a camera's (Camera
// set) or the hub's own.
type HealthSensor struct{ Check, Camera string }

// Camera is a camera to announce to Home Assistant.
type Camera struct {
	ID     string   // camera id, as in events
	Name   string   // display name; "" means ID
	Labels []string // labels to create sensors for, e.g. "person", "car", "motion"
	// Doorbell announces the camera's doorbell event entity.
	Doorbell bool
}

// Publisher publishes events to the broker. It implements [notify.Notifier].
type Publisher struct {
	cfg       Config
	cm        *autopaho.ConnectionManager
	log       *slog.Logger
	ctx       context.Context
	cancel    context.CancelFunc
	announced chan struct{} // closed after the first announcement

	mu     sync.Mutex
	names  map[string]string             // camera id -> display name
	known  map[[2]string]bool            // (camera, label) announced
	bells  map[string]bool               // doorbell cameras announced
	health map[[2]string]bool            // (check, camera) health sensors announced -> problem on
	active map[[2]string]map[string]bool // (camera, label) -> event ids in progress
	once   sync.Once

	up atomic.Pointer[autopaho.ConnectionManager] // set once connected, for callbacks
}

// New validates cfg and starts connecting; it does not wait for the broker
// (see [Publisher.AwaitConnection]). Close stops it.
func New(cfg Config) (*Publisher, error) {
	u, err := url.Parse(cfg.Broker)
	if err != nil || u.Host == "" {
		return nil, errors.New("mqtt: broker must be a URL such as mqtt://192.168.1.10:1883")
	}
	switch u.Scheme {
	case "mqtt", "tcp", "tls", "ssl", "mqtts":
	default:
		return nil, fmt.Errorf("mqtt: broker URL scheme %q not supported (want mqtt:// or tls://)", u.Scheme)
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "vigil-hub"
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = "vigil"
	}
	if cfg.DiscoveryPrefix == "" {
		cfg.DiscoveryPrefix = "homeassistant"
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 30 * time.Second
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 5 * time.Second
	}
	p := &Publisher{
		cfg:       cfg,
		log:       cfg.Logger,
		announced: make(chan struct{}),
		names:     map[string]string{},
		known:     map[[2]string]bool{},
		bells:     map[string]bool{},
		health:    map[[2]string]bool{},
		active:    map[[2]string]map[string]bool{},
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	for _, c := range cfg.Cameras {
		p.names[c.ID] = c.Name
		for _, l := range c.Labels {
			p.known[[2]string{c.ID, l}] = true
		}
		if c.Doorbell {
			p.bells[c.ID] = true
		}
	}
	for _, h := range cfg.Health {
		p.health[[2]string{h.Check, h.Camera}] = false
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	ac := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     uint16(cfg.KeepAlive / time.Second),
		CleanStartOnInitialConnection: true,
		ConnectRetryDelay:             cfg.RetryDelay,
		ReconnectBackoff:              func(int) time.Duration { return cfg.RetryDelay },
		ConnectTimeout:                10 * time.Second,
		WillMessage:                   &paho.WillMessage{Topic: p.availabilityTopic(), Payload: []byte("offline"), QoS: 1, Retain: true},
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go p.onUp(cm)
		},
		OnConnectError: func(err error) { p.log.Warn("mqtt: cannot connect", "broker", u.Host, "err", err) },
		ClientConfig: paho.ClientConfig{
			ClientID: cfg.ClientID,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) {
					if pr.Packet.Topic == p.cfg.DiscoveryPrefix+"/status" && string(pr.Packet.Payload) == "online" {
						if cm := p.up.Load(); cm != nil {
							go p.announce(cm)
						}
					}
					return true, nil
				},
			},
			OnClientError: func(err error) { p.log.Warn("mqtt: connection error", "broker", u.Host, "err", err) },
		},
	}
	if cfg.Username != "" {
		ac.ConnectUsername = cfg.Username
		ac.ConnectPassword = []byte(cfg.Password)
	}
	cm, err := autopaho.NewConnection(p.ctx, ac)
	if err != nil {
		p.cancel()
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	p.cm = cm
	return p, nil
}

// AwaitConnection waits until the publisher is connected and has announced
// its sensors once, or ctx is done.
func (p *Publisher) AwaitConnection(ctx context.Context) error {
	if err := p.cm.AwaitConnection(ctx); err != nil {
		return err
	}
	select {
	case <-p.announced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Publisher) onUp(cm *autopaho.ConnectionManager) {
	p.up.Store(cm)
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if _, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: p.cfg.DiscoveryPrefix + "/status", QoS: 1},
	}}); err != nil {
		p.log.Warn("mqtt: subscribe to Home Assistant status", "err", err)
	}
	p.announce(cm)
}

// announce publishes availability, discovery configs and current states.
func (p *Publisher) announce(cm *autopaho.ConnectionManager) {
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	err := p.publish(ctx, cm, p.availabilityTopic(), []byte("online"), true)
	p.mu.Lock()
	var pairs [][2]string
	for k := range p.known {
		pairs = append(pairs, k)
	}
	var bells []string
	for c := range p.bells {
		bells = append(bells, c)
	}
	var checks [][2]string
	for k := range p.health {
		checks = append(checks, k)
	}
	p.mu.Unlock()
	for _, k := range pairs {
		err = errors.Join(err, p.announceSensor(ctx, cm, k))
	}
	for _, c := range bells {
		err = errors.Join(err, p.announceDoorbell(ctx, cm, c))
	}
	for _, k := range checks {
		err = errors.Join(err, p.announceHealth(ctx, cm, k))
	}
	if err != nil {
		p.log.Warn("mqtt: announce", "err", err)
		return
	}
	p.once.Do(func() { close(p.announced) })
}

func (p *Publisher) announceSensor(ctx context.Context, cm *autopaho.ConnectionManager, k [2]string) error {
	cfg, err := json.Marshal(p.discovery(k[0], k[1]))
	if err != nil {
		return err
	}
	p.mu.Lock()
	on := len(p.active[k]) > 0
	p.mu.Unlock()
	return errors.Join(
		p.publish(ctx, cm, p.DiscoveryTopic(k[0], k[1]), cfg, true),
		p.publish(ctx, cm, p.StateTopic(k[0], k[1]), onOff(on), true))
}

func (p *Publisher) announceDoorbell(ctx context.Context, cm *autopaho.ConnectionManager, camera string) error {
	cfg, err := json.Marshal(p.doorbellDiscovery(camera))
	if err != nil {
		return err
	}
	return p.publish(ctx, cm, p.DoorbellDiscoveryTopic(camera), cfg, true)
}

// DoorbellDiscovery is a Home Assistant MQTT discovery config for a
// doorbell's event entity.
type DoorbellDiscovery struct {
	Name                string   `json:"name"`
	UniqueID            string   `json:"unique_id"`
	DeviceClass         string   `json:"device_class"`
	EventTypes          []string `json:"event_types"`
	StateTopic          string   `json:"state_topic"`
	AvailabilityTopic   string   `json:"availability_topic"`
	PayloadAvailable    string   `json:"payload_available"`
	PayloadNotAvailable string   `json:"payload_not_available"`
	Device              Device   `json:"device"`
}

// DoorbellEvent is what the doorbell's state topic carries at a ring.
type DoorbellEvent struct {
	EventType string    `json:"event_type"` // "ring"
	ID        string    `json:"id"`
	Time      time.Time `json:"time"`
}

func (p *Publisher) doorbellDiscovery(camera string) DoorbellDiscovery {
	d := p.discovery(camera, "doorbell")
	return DoorbellDiscovery{
		Name: "doorbell", UniqueID: d.UniqueID, DeviceClass: "doorbell", EventTypes: []string{notify.KindRing},
		StateTopic: p.DoorbellTopic(camera), AvailabilityTopic: d.AvailabilityTopic,
		PayloadAvailable: d.PayloadAvailable, PayloadNotAvailable: d.PayloadNotAvailable, Device: d.Device,
	}
}

// DoorbellDiscoveryTopic is the retained discovery config's topic of
// camera's doorbell event entity.
func (p *Publisher) DoorbellDiscoveryTopic(camera string) string {
	return p.cfg.DiscoveryPrefix + "/event/vigil_" + Sanitize(camera) + "_doorbell/config"
}

// DoorbellTopic is the topic camera's rings are published on.
func (p *Publisher) DoorbellTopic(camera string) string {
	return p.cfg.TopicPrefix + "/" + Sanitize(camera) + "/doorbell"
}

// ring publishes a doorbell's ring: the entity's discovery if it is new,
// the ring on the doorbell topic and the event JSON.
func (p *Publisher) ring(ctx context.Context, ev notify.Event) error {
	p.mu.Lock()
	fresh := !p.bells[ev.Camera]
	p.bells[ev.Camera] = true
	p.mu.Unlock()
	var err error
	if fresh {
		err = p.announceDoorbell(ctx, p.cm, ev.Camera)
	}
	at := ev.Start
	if at.IsZero() {
		at = ev.FirstFrame
	}
	ring, jerr := json.Marshal(DoorbellEvent{EventType: notify.KindRing, ID: ev.ID, Time: at.UTC()})
	if jerr != nil {
		return jerr
	}
	body, jerr := json.Marshal(notify.PayloadOf(ev))
	if jerr != nil {
		return jerr
	}
	return errors.Join(err,
		p.publish(ctx, p.cm, p.DoorbellTopic(ev.Camera), ring, false),
		p.publish(ctx, p.cm, p.EventsTopic(ev.Camera), body, false))
}

// HealthDiscoveryTopic is the retained discovery config's topic of the
// problem sensor of check (and camera, for a camera's check; else "").
func (p *Publisher) HealthDiscoveryTopic(check, camera string) string {
	id := "vigil_health_" + Sanitize(check)
	if camera != "" {
		id += "_" + Sanitize(camera)
	}
	return p.cfg.DiscoveryPrefix + "/binary_sensor/" + id + "/config"
}

// HealthStateTopic is the "ON"/"OFF" topic of check's problem sensor.
func (p *Publisher) HealthStateTopic(check, camera string) string {
	t := p.cfg.TopicPrefix + "/health/" + Sanitize(check)
	if camera != "" {
		t += "/" + Sanitize(camera)
	}
	return t + "/state"
}

// HealthTopic is the topic health alerts are published on as JSON.
func (p *Publisher) HealthTopic() string { return p.cfg.TopicPrefix + "/health" }

func (p *Publisher) healthDiscovery(check, camera string) Discovery {
	d := Discovery{
		Name: check, DeviceClass: "problem", StateTopic: p.HealthStateTopic(check, camera), PayloadOn: "ON", PayloadOff: "OFF",
		AvailabilityTopic: p.availabilityTopic(), PayloadAvailable: "online", PayloadNotAvailable: "offline",
		Device: Device{Identifiers: []string{"vigil_hub"}, Name: "Vigil hub", Manufacturer: "Vigil", Model: "Vigil hub"},
	}
	d.UniqueID = strings.TrimSuffix(strings.TrimPrefix(p.HealthDiscoveryTopic(check, camera), p.cfg.DiscoveryPrefix+"/binary_sensor/"), "/config")
	if camera != "" {
		d.Device = p.discovery(camera, "").Device
	}
	return d
}

func (p *Publisher) announceHealth(ctx context.Context, cm *autopaho.ConnectionManager, k [2]string) error {
	cfg, err := json.Marshal(p.healthDiscovery(k[0], k[1]))
	if err != nil {
		return err
	}
	p.mu.Lock()
	on := p.health[k]
	p.mu.Unlock()
	return errors.Join(
		p.publish(ctx, cm, p.HealthDiscoveryTopic(k[0], k[1]), cfg, true),
		p.publish(ctx, cm, p.HealthStateTopic(k[0], k[1]), onOff(on), true))
}

// healthAlert publishes a health alert: the sensor's discovery if it is
// new, its state and the alert's JSON.
func (p *Publisher) healthAlert(ctx context.Context, ev notify.Event) error {
	k := [2]string{ev.Check, ev.Camera}
	p.mu.Lock()
	_, known := p.health[k]
	p.health[k] = ev.Phase != notify.PhaseEnd
	p.mu.Unlock()
	var err error
	if !known {
		err = p.announceHealth(ctx, p.cm, k) // publishes the state too
	} else {
		err = p.publish(ctx, p.cm, p.HealthStateTopic(k[0], k[1]), onOff(ev.Phase != notify.PhaseEnd), true)
	}
	body, jerr := json.Marshal(notify.PayloadOf(ev))
	if jerr != nil {
		return jerr
	}
	return errors.Join(err, p.publish(ctx, p.cm, p.HealthTopic(), body, false))
}

func onOff(on bool) []byte {
	if on {
		return []byte("ON")
	}
	return []byte("OFF")
}

func (p *Publisher) publish(ctx context.Context, cm *autopaho.ConnectionManager, topic string, payload []byte, retain bool) error {
	_, err := cm.Publish(ctx, &paho.Publish{Topic: topic, Payload: payload, QoS: 1, Retain: retain})
	if err != nil {
		return fmt.Errorf("mqtt: publish %s: %w", topic, err)
	}
	return nil
}

// Discovery is a Home Assistant MQTT discovery config for a binary_sensor.
type Discovery struct {
	Name                string `json:"name"`
	UniqueID            string `json:"unique_id"`
	DeviceClass         string `json:"device_class"`
	StateTopic          string `json:"state_topic"`
	PayloadOn           string `json:"payload_on"`
	PayloadOff          string `json:"payload_off"`
	AvailabilityTopic   string `json:"availability_topic"`
	PayloadAvailable    string `json:"payload_available"`
	PayloadNotAvailable string `json:"payload_not_available"`
	Device              Device `json:"device"`
}

// Device is the Home Assistant device a sensor belongs to (one per camera).
type Device struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
}

func (p *Publisher) discovery(camera, label string) Discovery {
	p.mu.Lock()
	name := p.names[camera]
	p.mu.Unlock()
	if name == "" {
		name = camera
	}
	class := "occupancy"
	if label == "motion" {
		class = "motion"
	}
	return Discovery{
		Name:                label,
		UniqueID:            "vigil_" + Sanitize(camera) + "_" + Sanitize(label),
		DeviceClass:         class,
		StateTopic:          p.StateTopic(camera, label),
		PayloadOn:           "ON",
		PayloadOff:          "OFF",
		AvailabilityTopic:   p.availabilityTopic(),
		PayloadAvailable:    "online",
		PayloadNotAvailable: "offline",
		Device: Device{
			Identifiers:  []string{"vigil_" + Sanitize(camera)},
			Name:         name,
			Manufacturer: "Vigil",
			Model:        "Vigil camera",
		},
	}
}

// Sanitize maps an id to the characters topics and Home Assistant object ids
// allow: lower-case letters, digits, '_' and '-' (anything else becomes '_'),
// at most 64 bytes; "" becomes "_".
func Sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() >= 64 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

func (p *Publisher) availabilityTopic() string { return p.cfg.TopicPrefix + "/availability" }

// DiscoveryTopic is the retained discovery config's topic for camera and label.
func (p *Publisher) DiscoveryTopic(camera, label string) string {
	return p.cfg.DiscoveryPrefix + "/binary_sensor/vigil_" + Sanitize(camera) + "_" + Sanitize(label) + "/config"
}

// StateTopic is the "ON"/"OFF" topic for camera and label.
func (p *Publisher) StateTopic(camera, label string) string {
	return p.cfg.TopicPrefix + "/" + Sanitize(camera) + "/" + Sanitize(label) + "/state"
}

// EventsTopic is the topic event JSON is published on for camera.
func (p *Publisher) EventsTopic(camera string) string {
	return p.cfg.TopicPrefix + "/" + Sanitize(camera) + "/events"
}

// Notify publishes ev: discovery for labels not yet announced, the states
// that changed, the event JSON and, if enabled, the snapshot. It fails if
// the broker is not connected; events are not queued here (the
// [notify.Dispatcher] queues).
func (p *Publisher) Notify(ctx context.Context, ev notify.Event) error {
	if ev.Kind == notify.KindRing {
		return p.ring(ctx, ev)
	}
	if ev.Kind == notify.KindHealth {
		return p.healthAlert(ctx, ev)
	}
	var fresh, changed [][2]string
	p.mu.Lock()
	for _, l := range ev.Labels {
		k := [2]string{ev.Camera, l}
		if !p.known[k] {
			p.known[k] = true
			fresh = append(fresh, k)
		}
		ids := p.active[k]
		was := len(ids) > 0
		if ev.Phase == notify.PhaseEnd {
			delete(ids, ev.ID)
		} else {
			if ids == nil {
				ids = map[string]bool{}
				p.active[k] = ids
			}
			ids[ev.ID] = true
		}
		if was != (len(ids) > 0) {
			changed = append(changed, k)
		}
	}
	p.mu.Unlock()

	var err error
	for _, k := range fresh {
		err = errors.Join(err, p.announceSensor(ctx, p.cm, k))
	}
	for _, k := range changed {
		p.mu.Lock()
		on := len(p.active[k]) > 0
		p.mu.Unlock()
		err = errors.Join(err, p.publish(ctx, p.cm, p.StateTopic(k[0], k[1]), onOff(on), true))
	}
	body, jerr := json.Marshal(notify.PayloadOf(ev))
	if jerr != nil {
		return jerr
	}
	err = errors.Join(err, p.publish(ctx, p.cm, p.EventsTopic(ev.Camera), body, false))
	if p.cfg.IncludeSnapshot && len(ev.Snapshot) > 0 && len(ev.Labels) > 0 {
		topic := p.cfg.TopicPrefix + "/" + Sanitize(ev.Camera) + "/" + Sanitize(ev.Labels[0]) + "/snapshot"
		err = errors.Join(err, p.publish(ctx, p.cm, topic, ev.Snapshot, false))
	}
	return err
}

// Close publishes "offline", disconnects cleanly and stops reconnecting.
func (p *Publisher) Close(ctx context.Context) error {
	perr := p.publish(ctx, p.cm, p.availabilityTopic(), []byte("offline"), true)
	derr := p.cm.Disconnect(ctx)
	p.cancel()
	<-p.cm.Done()
	if derr != nil {
		return fmt.Errorf("mqtt: disconnect: %w", derr)
	}
	return perr
}
