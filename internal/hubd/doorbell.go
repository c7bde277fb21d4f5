package hubd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"vigil/internal/config"
	"vigil/internal/doorbell"
	"vigil/internal/eventrec"
	"vigil/internal/notify"
	"vigil/internal/onvif"
)

// Doorbells on the hub. A camera with a doorbell section gets press
// sources (its MQTT topic on the household's broker, signed HTTP presses
// on doorbell_listen, its own ONVIF events: onvifpress.go, which also
// carry the camera's own motion and tamper alarms: onvifalarm.go); a
// doorbell.Bell lets one press per interval ring.
// A ring leaves the hub as detections do (detection.go): an event record
// with the label "ring", sealed to the household and queued for the cloud
// (which pushes it, sealed, to the household's devices), with a sealed
// snapshot of the camera's latest frame when the camera also detects; and
// to the household's own sinks (MQTT with a Home Assistant doorbell event,
// webhooks). Nothing here logs a button's secret.

// ringSnapshotAge is the oldest latest frame a ring's snapshot is made of.
const ringSnapshotAge = 5 * time.Second

// ringLabel is a ring's one label in its event record.
const ringLabel = "ring"

// startDoorbells starts the press sources of every doorbell camera. It
// runs after startDetection, whose sinks rings share.
func (h *Hub) startDoorbells(ctx context.Context) error {
	var sources []doorbell.Source
	secrets := map[string][]byte{}
	topics := map[string]string{}
	interval := map[string]time.Duration{}
	var onvifs []doorbell.Source
	for _, c := range h.cfg.Cameras {
		d := c.Doorbell
		if d == nil {
			continue
		}
		interval[c.Name] = time.Duration(d.Interval)
		if d.Secret != "" {
			secrets[c.Name] = []byte(d.Secret)
		}
		if d.MQTTTopic != "" {
			topics[d.MQTTTopic] = c.Name
		}
		if o := d.ONVIF; o != nil {
			if h.alarms == nil {
				h.alarms = newCameraAlarms(h.log.With("component", "alarms"))
			}
			ca, cam := h.alarms, c.Name
			onvifs = append(onvifs, &onvifSource{camera: c.Name, url: o.URL, username: o.Username, password: o.Password,
				now: h.opts.Now, log: h.log.With("component", "doorbell"), minBackoff: h.opts.MinBackoff, maxBackoff: h.opts.MaxBackoff,
				subscribed: h.opts.ONVIFSubscribed,
				alarm:      func(k onvif.Kind, t time.Time) { h.alarm(ca, cam, k, t) }})
		}
	}
	if len(interval) == 0 {
		return nil
	}
	log := h.log.With("component", "doorbell")
	if len(topics) > 0 {
		m := h.cfg.Detection.MQTT // config requires it for a topic
		sources = append(sources, &doorbell.MQTTSource{Broker: m.Broker, Username: m.Username, Password: m.Password,
			ClientID: mqttClientID(m) + "-doorbells", Topics: topics, Now: h.opts.Now, Logger: log,
			Subscribed: h.opts.DoorbellSubscribed})
	}
	if len(secrets) > 0 {
		l, err := net.Listen("tcp", h.cfg.DoorbellListen)
		if err != nil {
			return fmt.Errorf("doorbell_listen: %w", err)
		}
		h.doorbellAddr = l.Addr()
		sources = append(sources, &doorbell.HTTPSource{Listener: l, Secrets: secrets, Now: h.opts.Now, Logger: log})
	}
	sources = append(sources, onvifs...)
	bell := doorbell.NewBell(doorbell.DefaultInterval)
	for cam, iv := range interval {
		bell.SetInterval(cam, iv)
	}
	h.bell = bell
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		err := doorbell.Serve(ctx, bell, func(r doorbell.Ring) { h.ring(r, log) }, sources...)
		if err != nil && ctx.Err() == nil {
			log.Error("doorbell presses stopped", "err", err)
		}
	}()
	log.Info("doorbells listening", "doorbells", len(interval), "mqtt_topics", len(topics), "http", h.doorbellAddr != nil, "onvif", len(onvifs))
	return nil
}

// DoorbellAddr is the address signed HTTP presses are served on (nil
// without any).
func (h *Hub) DoorbellAddr() net.Addr { return h.doorbellAddr }

// DoorbellStats reports each doorbell's presses and rings.
func (h *Hub) DoorbellStats() map[string]doorbell.BellStats {
	if h.bell == nil {
		return nil
	}
	return h.bell.Stats()
}

// ring turns a ring into a sealed event record (and snapshot) for the
// cloud and a notification for the household's sinks.
func (h *Hub) ring(r doorbell.Ring, log *slog.Logger) {
	ds := h.detection
	log.Info("doorbell rang", "camera", r.Camera, "source", r.Source)
	if err := h.store.Keep(context.Background(), r.Camera, r.Time.Add(-eventPadding), r.Time.Add(eventPadding)); err != nil {
		log.Warn("recording around a ring not marked to keep", "err", err)
	}
	if ds == nil {
		return
	}
	// The household's own sinks first: they carry no snapshot, so they
	// need not wait for a frame as the cloud's record may (momentJPEG).
	if ds.dispatch != nil {
		ds.dispatch.Notify(context.Background(), notify.Event{ID: r.ID, Kind: notify.KindRing, Camera: r.Camera,
			Labels: []string{ringLabel}, Score: 1, Alert: true, Phase: notify.PhaseStart, Start: r.Time, FirstFrame: r.Time})
	}
	if ds.outbox != nil {
		if err := h.uploadRing(r); err != nil {
			log.Warn("ring not queued for the cloud", "err", err)
		}
	}
}

// uploadRing seals the ring's snapshot (when the camera detects: its
// latest frame if recent, else the next one, momentJPEG) and its record,
// and queues both.
func (h *Hub) uploadRing(r doorbell.Ring) error {
	ds := h.detection
	// A ring is a moment: one record, ended when it began.
	rec := eventrec.Record{ID: r.ID, Camera: r.Camera, State: eventrec.StateEnd, Start: r.Time, End: r.Time,
		Labels: []string{ringLabel}, Alert: true, Score: 1}
	ds.mu.Lock()
	cd := ds.cameras[r.Camera]
	ds.mu.Unlock()
	var snap []byte
	var snapAt time.Time
	if cd != nil {
		if jpg, at, ok := cd.momentJPEG(h.runCtx, r.Time, ringSnapshotAge); ok {
			snap, snapAt = jpg, at
		}
	}
	return h.queueEvent(rec, snap, snapAt)
}

// mqttClientID is the hub's client ID at the household's broker: the
// configured one, or "vigil-hub-" and the host's name, so that two hubs on
// one broker do not disconnect each other (a broker drops a client when
// another connects with its ID).
func mqttClientID(m *config.MQTT) string {
	if m.ClientID != "" {
		return m.ClientID
	}
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return -1
	}, host)
	if host == "" {
		return "vigil-hub"
	}
	return "vigil-hub-" + host[:min(len(host), 40)]
}
