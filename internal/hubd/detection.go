package hubd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"vigil/internal/config"
	"vigil/internal/detect"
	"vigil/internal/detect/cvdet"
	"vigil/internal/detect/events"
	"vigil/internal/detect/frames"
	"vigil/internal/detect/httpdet"
	"vigil/internal/detect/motion"
	"vigil/internal/detect/nanodet"
	"vigil/internal/detect/pipeline"
	"vigil/internal/eventrec"
	"vigil/internal/hubwatch"
	"vigil/internal/keydir"
	"vigil/internal/netguard"
	"vigil/internal/notify"
	"vigil/internal/notify/mqtt"
	"vigil/internal/notify/webhook"
	"vigil/internal/upload"
)

// Detection on the hub. Each camera with a detect section, and each camera
// added from the web app (addcamera.go: the defaults, on its sub stream),
// gets an ffmpeg decoder of its (sub)stream at a few frames per second and
// a pipeline (motion, regions, detector, tracker, events). What the
// pipeline reports leaves the hub only
//
//   - sealed to the household (event records and snapshots, envelope kinds
//     event and snapshot on the fixed streams "events" and "snapshots", so
//     the cloud learns that an event happened and when, nothing else), queued
//     in the outbox for the cloud of a paired hub; and
//   - to the sinks the household configured on its own network or servers
//     (MQTT with Home Assistant discovery, signed webhooks).
//
// Nothing here logs a label with a box, a frame or a snapshot.

// eventPadding is the recording kept before and after an event.
const eventPadding = 10 * time.Second

// DetectionStats are one camera's detection counters.
type DetectionStats struct {
	Camera     string
	Frames     int64
	Events     int64
	Alerts     int64
	DecodeCPU  time.Duration
	Pipeline   pipeline.Stats
	LastError  string
	Restarts   int
	Outbox     upload.OutboxStats
	Notified   []notify.SinkStats
	SealErrors int64
}

type detectionState struct {
	shared config.Detection

	detMu     sync.Mutex
	detector  detect.Detector // NanoDet or a detection server; nil until a camera needs it (objectDetector)
	detClosed bool            // the hub stopped: no detector is made any more

	outbox   *upload.Outbox
	dispatch *notify.Dispatcher
	mqtt     *mqtt.Publisher
	mode     events.Mode
	loc      *time.Location
	seq      atomic.Uint64 // last sequence used on the events and snapshots streams

	mu      sync.Mutex
	cameras map[string]*cameraDetection
}

type cameraDetection struct {
	name       string
	stop       context.CancelFunc // ends its goroutine
	done       chan struct{}      // closed when it ended
	gen        atomic.Uint64      // bumped when the camera's settings change
	reader     *frames.Reader
	frames     atomic.Int64
	events     atomic.Int64
	alerts     atomic.Int64
	sealErrors atomic.Int64
	mu         sync.Mutex
	stats      pipeline.Stats

	// A doorbell keeps a copy of its latest frame for its rings' snapshots.
	doorbell bool
	lastMu   sync.Mutex
	last     *detect.RGB
	lastAt   time.Time
	fresh    chan struct{} // closed by the next keepLast; nil when nobody waits
}

// keepLast copies f as the camera's latest frame.
func (cd *cameraDetection) keepLast(f *frames.Frame) {
	cd.lastMu.Lock()
	defer cd.lastMu.Unlock()
	if cd.last == nil || cd.last.W != f.Img.W || cd.last.H != f.Img.H {
		cd.last = &detect.RGB{W: f.Img.W, H: f.Img.H, Pix: make([]byte, len(f.Img.Pix))}
	}
	copy(cd.last.Pix, f.Img.Pix)
	cd.lastAt = f.Time
	if cd.fresh != nil {
		close(cd.fresh)
		cd.fresh = nil
	}
}

// snapshotWait is how long a ring or alarm waits for a frame when the
// camera has none recent: detection's first frame comes a few seconds after
// the camera connects (ffprobe, then ffmpeg), and a press in those seconds
// should still show who pressed.
const snapshotWait = 10 * time.Second

// momentJPEG is the snapshot of a moment at: the camera's latest frame if it
// is no older than maxAge, or else the first frame to come within
// snapshotWait (or until ctx ends); ok is false when there is none.
func (cd *cameraDetection) momentJPEG(ctx context.Context, at time.Time, maxAge time.Duration) ([]byte, time.Time, bool) {
	timer := time.NewTimer(snapshotWait)
	defer timer.Stop()
	for {
		if jpg, t, ok := cd.lastJPEG(at, maxAge); ok {
			return jpg, t, true
		}
		cd.lastMu.Lock()
		if cd.fresh == nil {
			cd.fresh = make(chan struct{})
		}
		next := cd.fresh
		cd.lastMu.Unlock()
		select {
		case <-next:
		case <-timer.C:
			return nil, time.Time{}, false
		case <-ctx.Done():
			return nil, time.Time{}, false
		}
	}
}

// lastJPEG encodes the camera's latest frame if it is no older than maxAge
// at now.
func (cd *cameraDetection) lastJPEG(now time.Time, maxAge time.Duration) ([]byte, time.Time, bool) {
	cd.lastMu.Lock()
	defer cd.lastMu.Unlock()
	if cd.last == nil || now.Sub(cd.lastAt) > maxAge {
		return nil, time.Time{}, false
	}
	var buf bytes.Buffer
	if err := detect.EncodeJPEG(&buf, cd.last, 80); err != nil {
		return nil, time.Time{}, false
	}
	return buf.Bytes(), cd.lastAt, true
}

// startDetection prepares the detection shared by all cameras (the model
// when a camera needs it, the outbox and the notification sinks) and starts
// each detecting camera's with startCameraDetection, as a camera added from
// the web app later is. It is called once the household (if any) is known.
func (h *Hub) startDetection() error {
	var cams []config.Camera
	needModel, bells := false, false
	all := h.allCameras()
	for i, c := range all {
		if c.Detect != nil {
			cams = append(cams, c)
			// The config file's cameras need the model to start; one
			// added from the web app records without detection if the
			// model cannot be loaded.
			needModel = needModel || (i < len(h.cfg.Cameras) && !c.Detect.MotionOnly)
		}
		bells = bells || c.Doorbell != nil
	}
	shared := config.Detection{}
	if h.cfg.Detection != nil {
		shared = *h.cfg.Detection
	}
	ds := &detectionState{shared: shared, mode: events.Home, loc: time.Local, cameras: map[string]*cameraDetection{}}
	if shared.Mode == "away" {
		ds.mode = events.Away
	}
	if shared.Timezone != "" {
		loc, err := time.LoadLocation(shared.Timezone)
		if err != nil {
			return fmt.Errorf("detection.timezone: %w", err)
		}
		ds.loc = loc
	}
	if needModel {
		if _, err := ds.objectDetector(); err != nil {
			return err
		}
	}
	// Sequence numbers of the events and snapshots streams: wall-clock
	// nanoseconds, so they increase across restarts without a counter file.
	ds.seq.Store(uint64(h.opts.Now().UnixNano()))

	ds.outbox = h.outbox // a paired hub's (nil otherwise); Start runs it
	var sinks []notify.Sink
	if m := shared.MQTT; m != nil {
		var mc []mqtt.Camera
		var names []string // every camera's, for the health sensors
		for _, c := range all {
			names = append(names, c.Name)
			var labels []string
			if c.Detect != nil {
				labels = c.Detect.Labels
				if len(labels) == 0 {
					labels = detect.DefaultLabels()
				}
			}
			if c.Detect != nil || c.Doorbell != nil {
				mc = append(mc, mqtt.Camera{ID: c.Name, Labels: labels, Doorbell: c.Doorbell != nil})
			}
		}
		// The problem sensors of the health checks are on the dashboard,
		// all clear, before any problem.
		var health []mqtt.HealthSensor
		for _, s := range hubwatch.Sensors(names, h.uploader != nil) {
			health = append(health, mqtt.HealthSensor{Check: s.Check, Camera: s.Camera})
		}
		pub, err := mqtt.New(mqtt.Config{Broker: m.Broker, Username: m.Username, Password: m.Password,
			ClientID: mqttClientID(m), Cameras: mc, Health: health, Logger: h.log.With("component", "mqtt")})
		if err != nil {
			ds.closeDetector()
			return fmt.Errorf("detection.mqtt: %w", err)
		}
		ds.mqtt = pub
		sinks = append(sinks, notify.Sink{Name: "mqtt", Notifier: pub})
	}
	if w := shared.Webhooks; w != nil {
		wh, err := webhook.New(webhook.Config{URLs: w.URLs, Secret: []byte(w.Secret)})
		if err != nil {
			ds.closeDetector()
			return fmt.Errorf("detection.webhooks: %w", err)
		}
		sinks = append(sinks, notify.Sink{Name: "webhook", Notifier: wh})
	}
	if len(sinks) > 0 {
		ds.dispatch = notify.NewDispatcher(notify.DispatcherConfig{Logger: h.log.With("component", "notify")}, sinks...)
	}
	h.detection = ds

	for _, c := range cams {
		if err := h.startCameraDetection(c); err != nil {
			h.log.Warn("camera records without detection", "camera", c.Name, "err", err)
		}
	}
	switch {
	case len(cams) > 0:
		h.log.Info("detection running", "cameras", len(cams), "detector", ds.loadedDetector() != nil, "cloud_events", ds.outbox != nil, "sinks", len(sinks))
	case bells:
		h.log.Info("doorbells ring without detection", "cloud_events", ds.outbox != nil, "sinks", len(sinks))
	}
	return nil
}

// objectDetector returns the hub's object detector (NanoDet, a detection
// server or OpenCV's, as detection configures), made the first time a
// camera needs it: at start, or when a camera added from the web app is
// the first that does. Every camera shares it.
func (ds *detectionState) objectDetector() (detect.Detector, error) {
	ds.detMu.Lock()
	defer ds.detMu.Unlock()
	if ds.detClosed {
		return nil, errors.New("the hub is stopping")
	}
	if ds.detector != nil {
		return ds.detector, nil
	}
	shared := ds.shared
	switch {
	case shared.DetectorURL != "":
		hd, err := httpdet.New(httpdet.Config{URL: shared.DetectorURL, APIKey: shared.DetectorAPIKey,
			Dial: detectorDial(shared, nil)})
		if err != nil {
			return nil, fmt.Errorf("detection.detector_url: %w", err)
		}
		ds.detector = hd
	case shared.Detector == "opencv-onnx":
		m, err := cvdet.NewDNN(cvdet.DNNConfig{Model: shared.ONNXModel, Labels: shared.ONNXLabels, InputSize: shared.ONNXInput})
		if err != nil {
			return nil, fmt.Errorf("detection.detector: %w", err)
		}
		ds.detector = m
	case shared.Detector == "opencv-hog":
		m, err := cvdet.NewHOG(cvdet.HOGConfig{})
		if err != nil {
			return nil, fmt.Errorf("detection.detector: %w", err)
		}
		ds.detector = m
	default:
		dir := shared.Models
		if dir == "" {
			dir = nanodet.DefaultDir()
		}
		m, err := nanodet.Load(dir)
		if err != nil {
			return nil, fmt.Errorf("detection: %w", err)
		}
		ds.detector = m
	}
	return ds.detector, nil
}

// loadedDetector returns the object detector if one was made, or nil.
func (ds *detectionState) loadedDetector() detect.Detector {
	ds.detMu.Lock()
	defer ds.detMu.Unlock()
	return ds.detector
}

// closeDetector closes the object detector, if one was made; none is made
// after.
func (ds *detectionState) closeDetector() {
	ds.detMu.Lock()
	defer ds.detMu.Unlock()
	ds.detClosed = true
	if ds.detector != nil {
		ds.detector.Close()
		ds.detector = nil
	}
}

// startCameraDetection starts the detection of camera c (one with a detect
// section; others are left alone): at start for each detecting camera, and
// for a camera added from the web app when it is added. It runs until the
// camera is removed (stopCameraDetection) or the hub closes. An error
// (the hub is stopping, the model cannot be loaded) leaves the camera's
// recording alone.
func (h *Hub) startCameraDetection(c config.Camera) error {
	ds := h.detection
	if ds == nil || c.Detect == nil {
		return nil
	}
	if !c.Detect.MotionOnly {
		if _, err := ds.objectDetector(); err != nil {
			return err
		}
	}
	h.recsMu.Lock() // as startCamera: no goroutine starts once Close began
	defer h.recsMu.Unlock()
	if h.stopping {
		return errors.New("the hub is stopping")
	}
	ds.mu.Lock()
	if ds.cameras[c.Name] != nil {
		ds.mu.Unlock()
		return fmt.Errorf("camera %q detects already", c.Name)
	}
	ctx, cancel := context.WithCancel(h.runCtx)
	cd := &cameraDetection{name: c.Name, doorbell: c.Doorbell != nil, stop: cancel, done: make(chan struct{})}
	ds.cameras[c.Name] = cd
	ds.mu.Unlock()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		defer close(cd.done)
		defer cancel()
		h.runDetection(ctx, c, cd)
	}()
	return nil
}

// stopCameraDetection stops the detection of the camera named name (removed
// from the web app) and waits for it to end: the events in progress end.
func (h *Hub) stopCameraDetection(name string) {
	ds := h.detection
	if ds == nil {
		return
	}
	ds.mu.Lock()
	cd := ds.cameras[name]
	delete(ds.cameras, name)
	ds.mu.Unlock()
	if cd == nil {
		return
	}
	cd.stop()
	<-cd.done
	h.log.Info("detection stopped", "camera", name, "frames", cd.frames.Load(), "events", cd.events.Load())
}

// stopDetection releases what startDetection made, after the goroutines
// ended.
func (h *Hub) stopDetection() {
	ds := h.detection
	if ds == nil {
		return
	}
	if ds.dispatch != nil {
		ds.dispatch.Close()
	}
	if ds.mqtt != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ds.mqtt.Close(ctx)
		cancel()
	}
	ds.closeDetector()
}

// DetectionStats reports every detecting camera.
func (h *Hub) DetectionStats() []DetectionStats {
	ds := h.detection
	if ds == nil {
		return nil
	}
	all := h.allCameras()
	ds.mu.Lock()
	defer ds.mu.Unlock()
	var out []DetectionStats
	for _, c := range all {
		cd := ds.cameras[c.Name]
		if cd == nil {
			continue
		}
		s := DetectionStats{Camera: c.Name, Frames: cd.frames.Load(), Events: cd.events.Load(), Alerts: cd.alerts.Load(), SealErrors: cd.sealErrors.Load()}
		cd.mu.Lock()
		s.Pipeline = cd.stats
		if cd.reader != nil {
			s.DecodeCPU = cd.reader.CPU()
			rs := cd.reader.Stats()
			s.LastError, s.Restarts = rs.LastError, rs.Restarts
		}
		cd.mu.Unlock()
		if ds.outbox != nil {
			s.Outbox = ds.outbox.Stats()
		}
		if ds.dispatch != nil {
			s.Notified = ds.dispatch.Stats()
		}
		out = append(out, s)
	}
	return out
}

// runDetection decodes one camera's frames and runs its pipeline until ctx
// ends.
func (h *Hub) runDetection(ctx context.Context, c config.Camera, cd *cameraDetection) {
	ds := h.detection
	d := c.Detect
	log := h.log.With("camera", c.Name, "component", "detect")
	url := d.URL
	if url == "" {
		url = c.URL
	}
	width := d.Width
	if width == 0 {
		width = config.DefaultDetectWidth
	}
	r, err := frames.New(frames.Source{Name: c.Name, URL: url, Width: width, FPS: d.FPS, Logger: log,
		MinBackoff: h.opts.MinBackoff, MaxBackoff: h.opts.MaxBackoff})
	if err != nil {
		log.Error("detection cannot start", "err", err)
		return
	}
	cd.mu.Lock()
	cd.reader = r
	cd.mu.Unlock()

	var p *pipeline.Pipeline
	var gen uint64
	em := &eventEmitter{h: h, cam: c.Name, log: log, cd: cd}
	stages := h.metrics.stageObservers(c.Name) // nil without metrics
	err = r.Run(ctx, func(f *frames.Frame) error {
		if p != nil && cd.gen.Load() != gen {
			// New zones or masks from the web app: the open events end
			// and a pipeline with the new settings takes over.
			for _, ch := range p.Flush() {
				em.emit(ch, p)
			}
			p = nil
			log.Info("detection uses the new zones and masks")
		}
		if p == nil {
			gen = cd.gen.Load()
			var err error
			if p, err = h.newPipeline(c, f.Img.W, f.Img.H); err != nil {
				return err
			}
		}
		if cd.doorbell {
			cd.keepLast(f)
		}
		res, err := p.Process(ctx, f.Time, f.Img, ds.mode)
		if err != nil {
			return err
		}
		cd.frames.Add(1)
		if stages != nil {
			stages.observe(res.Took)
		}
		if cd.frames.Load()%25 == 0 {
			cd.mu.Lock()
			cd.stats = p.Stats()
			cd.mu.Unlock()
		}
		for _, ch := range res.Changes {
			em.emit(ch, p)
		}
		return nil
	})
	if p != nil {
		for _, ch := range p.Flush() {
			em.emit(ch, p)
		}
		cd.mu.Lock()
		cd.stats = p.Stats()
		cd.mu.Unlock()
	}
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		log.Error("detection stopped", "err", err)
	}
}

// newPipeline builds camera c's pipeline for frames of w x h with its
// current settings (the config file's, with the web app's zones and masks).
func (h *Hub) newPipeline(c config.Camera, w, hgt int) (*pipeline.Pipeline, error) {
	ds := h.detection
	d := h.effectiveDetect(c)
	var mask [][]motion.Point
	for _, poly := range d.Mask {
		var pts []motion.Point
		for _, p := range poly {
			pts = append(pts, motion.Point{X: p[0], Y: p[1]})
		}
		mask = append(mask, pts)
	}
	var det detect.Detector
	if !d.MotionOnly {
		det = ds.loadedDetector()
	}
	return pipeline.New(pipeline.Config{Camera: c.Name, Motion: motion.Config{Mask: mask}, MotionOnly: d.MotionOnly,
		Labels: d.Labels, MinScore: d.MinScore, Events: d.Events, Location: ds.loc}, det, w, hgt)
}

// eventEmitter turns event changes into sealed records and snapshots for
// the cloud and notifications for the household's sinks.
type eventEmitter struct {
	h   *Hub
	cam string
	log *slog.Logger
	cd  *cameraDetection
	// announced: event IDs already uploaded as alerts.
	announced map[string]bool
}

func (em *eventEmitter) emit(ch events.Change, p *pipeline.Pipeline) {
	ds := em.h.detection
	ev := ch.Event
	if em.announced == nil {
		em.announced = map[string]bool{}
	}
	// Records go out when an event starts, when it first becomes an alert,
	// and when it ends; other updates stay on the hub.
	state := ""
	switch ch.Kind {
	case events.Started:
		state = eventrec.StateStart
		em.cd.events.Add(1)
	case events.Updated:
		if ev.Alert && !em.announced[ev.ID] {
			state = eventrec.StateStart
		}
	case events.Ended:
		state = eventrec.StateEnd
	}
	if state == "" {
		return
	}
	if ev.Alert && !em.announced[ev.ID] {
		em.announced[ev.ID] = true
		em.cd.alerts.Add(1)
	}
	if ch.Kind == events.Ended {
		delete(em.announced, ev.ID)
	}
	// The recording around the event is kept for retention.events_max_age.
	end := ev.End
	if end.IsZero() {
		end = ev.Start
	}
	if err := em.h.store.Keep(context.Background(), em.cam, ev.Start.Add(-eventPadding), end.Add(eventPadding)); err != nil {
		em.log.Warn("recording around an event not marked to keep", "err", err)
	}
	snap, _ := p.Snapshot(ev)
	if ds.outbox != nil {
		if err := em.upload(ev, state, snap, p); err != nil {
			em.cd.sealErrors.Add(1)
			em.log.Warn("event not queued for the cloud", "err", err)
		}
	}
	if ds.dispatch != nil {
		// Latency is measured from the first frame showing the object to
		// delivery, for the notification that an event started only.
		phase, first := notify.PhaseStart, ev.Start
		if state == eventrec.StateEnd {
			phase, first = notify.PhaseEnd, time.Time{}
		} else if ch.Kind == events.Updated {
			first = time.Time{}
		}
		ds.dispatch.Notify(context.Background(), notify.Event{ID: ev.ID, Camera: em.cam, Labels: ev.Labels, Zones: ev.Zones,
			Score: ev.Best.Score, Alert: ev.Alert, Phase: phase, Start: ev.Start, End: ev.End, FirstFrame: first})
	}
}

// upload seals the snapshot and the record and queues both, the snapshot
// first so that the record's reference is never dangling for long.
func (em *eventEmitter) upload(ev events.Event, state string, snap []byte, p *pipeline.Pipeline) error {
	h := em.h
	w, hgt := p.Size()
	rec := eventrec.Record{ID: ev.ID, Camera: em.cam, State: state, Start: ev.Start,
		Labels: ev.Labels, Zones: ev.Zones, Alert: ev.Alert, Score: ev.Best.Score,
		Box: [4]float64{ev.Best.Box.X / float64(w), ev.Best.Box.Y / float64(hgt), ev.Best.Box.W / float64(w), ev.Best.Box.H / float64(hgt)}}
	if state == eventrec.StateEnd {
		rec.End = ev.End
	}
	for i := range rec.Box {
		rec.Box[i] = min(max(rec.Box[i], 0), 1)
	}
	if len(rec.Labels) == 0 {
		rec.Labels = []string{ev.Best.Label}
	}
	return h.queueEvent(rec, snap, ev.Best.Time)
}

// queueEvent seals an event's snapshot (when snap is not nil: a JPEG taken
// at snapAt) and its record to the household, and queues both for the
// cloud, the snapshot first so that the record's reference is never
// dangling for long.
func (h *Hub) queueEvent(rec eventrec.Record, snap []byte, snapAt time.Time) error {
	ds := h.detection
	recips, epoch := h.sealRecipients()
	if snap != nil {
		seq := ds.seq.Add(1)
		sealed, err := eventrec.SealSnapshot(snap, snapAt, seq, epoch, h.signer, recips...)
		if err != nil {
			return err
		}
		if err := ds.outbox.Put(sealed); err != nil {
			return err
		}
		pub := h.signer.Public().(ed25519.PublicKey)
		rec.Snapshot = eventrec.ObjectKey(h.household.pinned.HouseholdID, keydir.DeviceID(pub), eventrec.StreamSnapshots, seq)
	}
	seq := ds.seq.Add(1)
	sealed, err := eventrec.Seal(rec, seq, epoch, h.signer, recips...)
	if err != nil {
		return err
	}
	return ds.outbox.Put(sealed)
}

// detectorDial makes the connections frames go to the detection server
// over. Unless d allows a remote server, it connects only to the
// household's own networks (loopback, private, link-local), checked on
// each address it connects to, so a name that resolves elsewhere is
// refused however the configuration was checked. resolver nil means the
// system's.
func detectorDial(d config.Detection, resolver *net.Resolver) func(ctx context.Context, network, address string) (net.Conn, error) {
	if d.DetectorAllowRemote {
		// An https server the household named elsewhere (config checks
		// the scheme): any address.
		return (&net.Dialer{Timeout: 10 * time.Second, Resolver: resolver}).DialContext
	}
	return netguard.NewDialer(netguard.Options{Scope: netguard.Private, Resolver: resolver}).DialContext
}
