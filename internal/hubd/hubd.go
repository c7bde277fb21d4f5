// Package hubd wires the hub from its configuration: the sealed segment
// store, the hub's signing key, one recorder per camera (package recorder:
// RTSP ingest -> segmenter -> seal -> store -> uploader; hubd only starts
// it and reads its counters) and, for a hub paired with a household, the
// verified membership chain it seals to and the uploader that copies sealed
// segments to the cloud. A paired hub accepts a chain only if it extends the
// one it verified and its head is in the transparency log it pinned
// (household.go), and tells the household what it verified and refused in
// sealed state records (state.go).
//
// It owns the hub's lifecycle: Start brings every component up, Close stops
// the cameras, seals and stores each open segment, and waits for every
// goroutine. It must never write plaintext media anywhere: each recorder
// seals a segment in memory, to the recipients hubd gives it, before it is
// handed to the store.
// It must never stop recording because the cloud or the log cannot be
// verified, nor change keys on a chain it has not verified.
package hubd

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vigil/internal/camera"
	"vigil/internal/client"
	"vigil/internal/config"
	"vigil/internal/doorbell"
	"vigil/internal/envelope"
	"vigil/internal/history"
	"vigil/internal/keydir"
	"vigil/internal/live"
	"vigil/internal/recorder"
	"vigil/internal/segstore"
	"vigil/internal/tlog/tloghttp"
	"vigil/internal/upload"
)

// Options are the hub's dependencies beyond its config.
type Options struct {
	Logger *slog.Logger     // nil discards
	Now    func() time.Time // nil means time.Now
	// StoreHooks injects storage faults in tests (see segstore.FaultHooks).
	StoreHooks segstore.FaultHooks
	// Camera overrides ingest timing (and the ONVIF doorbells' reconnect
	// backoff) for tests; zero values keep defaults.
	MinBackoff, MaxBackoff, ReadTimeout time.Duration
	// Cloud timing for tests; zero values keep defaults.
	UploadMinBackoff, UploadMaxBackoff, ChainRefresh time.Duration
	// LiveNet tunes live view's ICE gathering (tests: loopback only).
	LiveNet live.NetOptions
	// LogGrace is how long a new chain head may wait for the transparency
	// log before the hub reports it (default one minute).
	LogGrace time.Duration
	// StateEvery is how often a paired hub makes a state record when
	// nothing changes (default ten minutes).
	StateEvery time.Duration
	// HealthEvery is how often a paired hub sends its health report when
	// nothing changes (default one minute); HealthPoll how often it looks
	// for a change to report at once (default five seconds).
	HealthEvery, HealthPoll time.Duration
	// WatchPoll is how often the health checks look (default five
	// seconds; watch.go).
	WatchPoll time.Duration
	// DoorbellSubscribed, if set, is called each time the doorbells'
	// MQTT topics are subscribed (tests wait for it).
	DoorbellSubscribed func()
	// ONVIFSubscribed, if set, is called each time a doorbell camera's
	// ONVIF events are subscribed (tests wait for it).
	ONVIFSubscribed func(camera string)
	// Metrics is the registry the hub's metrics are registered on and
	// served from when the config has a metrics key; nil means one of the
	// hub's own.
	Metrics *prometheus.Registry
}

// Hub records every configured camera.
type Hub struct {
	cfg    *config.Hub
	opts   Options
	log    *slog.Logger
	store  *segstore.Store
	signer ed25519.PrivateKey
	recips []envelope.Recipient

	// Paired hubs only.
	household *householdChain
	uploader  *upload.Uploader
	outbox    *upload.Outbox // sealed events, snapshots and state records
	cloud     *client.Client
	live      *live.Hub
	chainKick chan struct{} // the cloud said the chain has a new link

	// What the hub verified and refused, for its state records (state.go).
	problems  problems
	stateKick chan struct{}
	stateSeq  atomic.Uint64
	// The retention settings the hub accepted last (retention.go).
	retentionMu sync.Mutex
	retention   *retentionFile

	detection    *detectionState // nil when no camera detects
	settings     appSettings     // zones and masks from the web app (settings.go)
	bell         *doorbell.Bell  // nil without doorbells (doorbell.go)
	alarms       *cameraAlarms   // nil without ONVIF event sources (onvifalarm.go)
	doorbellAddr net.Addr        // where signed presses are served, or nil

	added addedCameras // cameras added from the web app (addcamera.go)

	metrics *hubMetrics // nil without the metrics key (metrics.go)

	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
	recsMu    sync.Mutex
	recs      []*recorder.Recorder
	runCtx    context.Context // the recorders' context (set by Start)
	stopping  bool            // Close began: no recorder starts
}

// New checks the configuration and prepares a Hub; Start runs it.
func New(cfg *config.Hub, opts Options) (*Hub, error) {
	if err := cfg.Validate(checkRecipient); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Hub{cfg: cfg, opts: opts, log: opts.Logger, chainKick: make(chan struct{}, 1), stateKick: make(chan struct{}, 1)}
	for _, r := range cfg.Recipients {
		rc, err := envelope.ParseX25519Recipient(r)
		if err != nil {
			return nil, err
		}
		h.recips = append(h.recips, rc)
	}
	return h, nil
}

func checkRecipient(s string) error {
	_, err := envelope.ParseX25519Recipient(s)
	return err
}

// Start opens the store (repairing what a crash left behind), loads or
// creates the hub key and starts recording every camera.
func (h *Hub) Start(ctx context.Context) error {
	metricsLn, err := h.listenMetrics() // metrics.go; served once all runs
	if err != nil {
		return err
	}
	started := false
	defer func() {
		if !started && metricsLn != nil {
			metricsLn.Close()
		}
	}()
	if err := os.MkdirAll(h.cfg.Data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	key, created, err := keydir.LoadOrCreateSigner(h.cfg.Data)
	if err != nil {
		return err
	}
	h.signer = key
	pub := key.Public().(ed25519.PublicKey)
	if created {
		h.log.Info("created hub signing key", "hub", envelope.SignerID(pub))
	} else if err := keydir.CheckPrivate(filepath.Join(h.cfg.Data, keydir.SignerFile)); err != nil {
		h.log.Warn("hub signing key", "err", err)
	}

	limits := map[string]segstore.Limits{}
	for _, c := range h.cfg.Cameras {
		if c.Retention != nil {
			limits[c.Name] = segstore.Limits{MaxBytes: int64(c.Retention.MaxBytes), MaxAge: time.Duration(c.Retention.MaxAge),
				EventMaxAge: time.Duration(c.Retention.EventsMaxAge)}
		}
	}
	st, err := segstore.Open(ctx, h.cfg.Data, segstore.Options{
		MaxBytes:    int64(h.cfg.Retention.MaxBytes),
		MaxAge:      time.Duration(h.cfg.Retention.MaxAge),
		EventMaxAge: time.Duration(h.cfg.Retention.EventsMaxAge),
		Cameras:     limits,
		Logger:      h.log.With("component", "store"),
		Now:         h.opts.Now,
		FS:          h.opts.StoreHooks,
	})
	if err != nil {
		return err
	}
	h.store = st
	h.loadAddedCameras()
	h.loadSettings() // after the added cameras: theirs too
	if rec := st.Recovery(); rec != (segstore.Recovery{}) {
		h.log.Warn("recovered the store after an unclean stop", "orphans_removed", rec.OrphansRemoved,
			"garbage_finished", rec.GarbageFinished, "missing_rows", rec.MissingRows)
	}
	if err := h.startCloud(ctx); err != nil {
		st.Close()
		return err
	}
	if n, err := st.Enforce(ctx); err != nil {
		h.log.Error("retention", "err", err)
	} else if n > 0 {
		h.log.Info("retention deleted old segments", "count", n)
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.cancel = cancel
	h.runCtx = runCtx
	for _, c := range h.allCameras() {
		if err := h.startCamera(c); err != nil {
			cancel()
			h.wg.Wait()
			st.Close()
			return err
		}
	}
	if err := h.startDetection(); err != nil {
		cancel()
		h.wg.Wait()
		st.Close()
		return err
	}
	if err := h.startDoorbells(runCtx); err != nil {
		cancel()
		h.wg.Wait()
		h.stopDetection()
		st.Close()
		return err
	}
	h.wg.Add(1)
	go h.retentionLoop(runCtx)
	h.startWatch(runCtx) // watch.go
	if h.uploader != nil {
		h.wg.Add(4)
		go func() {
			defer h.wg.Done()
			if err := h.uploader.Run(runCtx); err != nil && runCtx.Err() == nil {
				h.log.Error("uploader stopped", "err", err)
			}
		}()
		go func() {
			defer h.wg.Done()
			h.outbox.Run(runCtx)
		}()
		h.startLive(runCtx) // before chainLoop, which ends revoked live sessions
		go h.chainLoop(runCtx)
		go h.stateLoop(runCtx)
		h.startHealth(runCtx) // health.go
	}
	started = true
	h.serveMetrics(metricsLn)
	h.log.Info("hub recording", "cameras", len(h.recorders()), "data", h.cfg.Data,
		"segment_duration", time.Duration(h.cfg.SegmentDuration).String(), "hub", envelope.SignerID(pub))
	return nil
}

// retentionLoop applies the age limits even when no segment arrives.
func (h *Hub) retentionLoop(ctx context.Context) {
	defer h.wg.Done()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := h.store.Enforce(ctx); err != nil && ctx.Err() == nil {
				h.log.Error("retention", "err", err)
			}
		}
	}
}

// Close stops every camera, seals and stores the segments in progress and
// closes the store. Calls after the first return the first one's result.
func (h *Hub) Close() error {
	if h.cancel == nil {
		return nil
	}
	h.closeOnce.Do(func() { h.closeErr = h.close() })
	return h.closeErr
}

func (h *Hub) close() error {
	h.recsMu.Lock()
	h.stopping = true
	h.recsMu.Unlock()
	h.stopMetrics()
	h.cancel()
	if h.live != nil {
		h.live.Close()
	}
	h.wg.Wait()
	h.stopDetection()
	for cam, s := range h.DoorbellStats() {
		h.log.Info("doorbell stopped", "camera", cam, "presses", s.Presses, "rings", s.Rings, "presses_in_a_ring", s.Suppressed)
	}
	var errs []error
	for _, r := range h.recorders() {
		h.logStopped(r)
	}
	if h.uploader != nil {
		if err := h.uploader.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := h.store.Close(); err != nil {
		errs = append(errs, err)
	}
	h.log.Info("hub stopped")
	return errors.Join(errs...)
}

// Store returns the hub's segment store (valid between Start and Close).
func (h *Hub) Store() *segstore.Store { return h.store }

// SignerPublic returns the hub's public signing key (valid after Start).
func (h *Hub) SignerPublic() ed25519.PublicKey { return h.signer.Public().(ed25519.PublicKey) }

// CameraStats are one camera's recording counters.
type CameraStats = recorder.Stats

// Stats returns the counters of every camera.
func (h *Hub) Stats() []CameraStats {
	recs := h.recorders()
	out := make([]CameraStats, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.Stats())
	}
	return out
}

// startCamera starts recording c, between Start and Close: at Start for
// each camera, and for a camera added from the web app at once.
func (h *Hub) startCamera(c config.Camera) error {
	h.recsMu.Lock()
	defer h.recsMu.Unlock()
	if h.stopping {
		return errors.New("the hub is stopping")
	}
	r, err := h.startRecorder(c)
	if err != nil {
		return err
	}
	h.recs = append(h.recs, r)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		<-r.Done()
	}()
	return nil
}

// stopCamera stops recording the camera named name (removed from the web
// app): the segment in progress is sealed and stored, as when the hub
// stops. It returns false when no such camera is recorded.
func (h *Hub) stopCamera(name string) bool {
	h.recsMu.Lock()
	i := slices.IndexFunc(h.recs, func(r *recorder.Recorder) bool { return r.Name() == name })
	if i < 0 {
		h.recsMu.Unlock()
		return false
	}
	r := h.recs[i]
	h.recs = slices.Delete(h.recs, i, i+1)
	h.recsMu.Unlock()
	r.Close()
	h.logStopped(r)
	return true
}

// logStopped logs what a camera's recorder did, once it has stopped.
func (h *Hub) logStopped(r *recorder.Recorder) {
	s := r.Stats()
	h.log.Info("camera stopped", "camera", r.Name(), "frames_in", s.FramesIn, "frames_recorded", s.FramesRecorded,
		"frames_dropped", s.FramesDropped, "segments", s.Segments, "store_errors", s.StoreErrors)
}

// recorders returns the cameras being recorded.
func (h *Hub) recorders() []*recorder.Recorder {
	h.recsMu.Lock()
	defer h.recsMu.Unlock()
	return slices.Clone(h.recs)
}

// recorderOf returns the recorder of the camera named name, or nil.
func (h *Hub) recorderOf(name string) *recorder.Recorder {
	for _, r := range h.recorders() {
		if r.Name() == name {
			return r
		}
	}
	return nil
}

// startRecorder starts recording c until the hub stops or the camera is
// removed.
func (h *Hub) startRecorder(c config.Camera) (*recorder.Recorder, error) {
	cfg := recorder.Config{
		Camera: camera.Config{
			Name:        c.Name,
			URL:         c.URL,
			Transport:   c.Transport,
			MinBackoff:  h.opts.MinBackoff,
			MaxBackoff:  h.opts.MaxBackoff,
			ReadTimeout: h.opts.ReadTimeout,
		},
		SegmentDuration: time.Duration(h.cfg.SegmentDuration),
		Store:           h.store,
		Signer:          h.signer,
		Recipients:      h.sealRecipients,
		Logger:          h.log,
		Now:             h.opts.Now,
	}
	if h.uploader != nil {
		cfg.Uploader = h.uploader
	}
	if o := h.metrics.segmentObserver(c.Name); o != nil {
		cfg.StoreTime = o
	}
	return recorder.Start(h.runCtx, cfg)
}

// startCloud loads the paired household (if any) and prepares the uploader.
func (h *Hub) startCloud(ctx context.Context) error {
	if h.cfg.Cloud == nil {
		return nil
	}
	p, err := LoadPaired(h.cfg.Data)
	if err != nil {
		return err
	}
	if p == nil {
		if len(h.recips) == 0 {
			return fmt.Errorf("the hub is not paired with a household and has no recipients: nothing to seal to (hint: run 'vigil hub pair --config FILE', or add recipients)")
		}
		h.log.Warn("cloud is configured but the hub is not paired; recording locally only (hint: 'vigil hub pair --config FILE')")
		return nil
	}
	pub := h.signer.Public().(ed25519.PublicKey)
	h.cloud = &client.Client{BaseURL: h.cfg.Cloud.URL, HTTP: client.New(h.cfg.Cloud.URL).HTTP,
		DeviceID: keydir.DeviceID(pub), DeviceKey: h.signer}
	hh, err := openHousehold(h.cfg.Data, p, householdOptions{
		Log:     ConfigLog(h.cfg),
		Logger:  h.log.With("component", "household"),
		Now:     h.opts.Now,
		Grace:   h.opts.LogGrace,
		Report:  h.problem,
		Changed: h.kickState,
		Fetcher: &tloghttp.Fetcher{BaseURL: h.cloud.BaseURL, HTTP: h.cloud.HTTP},
	})
	if err != nil {
		return err
	}
	h.household = hh
	if err := h.loadRetention(); err != nil {
		return err
	}
	ob, err := upload.NewOutbox(upload.OutboxConfig{CloudURL: h.cfg.Cloud.URL, DeviceID: keydir.DeviceID(pub), Key: h.signer,
		Dir: filepath.Join(h.cfg.Data, "outbox"), MinBackoff: h.opts.UploadMinBackoff, MaxBackoff: h.opts.UploadMaxBackoff,
		Logger: h.log.With("component", "outbox")})
	if err != nil {
		return err
	}
	h.outbox = ob
	up, err := upload.New(upload.Config{
		CloudURL:       h.cfg.Cloud.URL,
		DeviceID:       keydir.DeviceID(pub),
		Key:            h.signer,
		Order:          h.cfg.Cloud.UploadOrder,
		MaxBytesPerSec: int64(h.cfg.Cloud.MaxUploadRate),
		Since:          p.PairedAt,
		Logger:         h.log.With("component", "upload"),
		MinBackoff:     h.opts.UploadMinBackoff,
		MaxBackoff:     h.opts.UploadMaxBackoff,
	}, h.store)
	if err != nil {
		return err
	}
	h.uploader = up
	st := hh.current()
	h.log.Info("paired with household", "household", p.HouseholdID, "epoch", st.Epoch, "cloud", h.cfg.Cloud.URL)
	return nil
}

// chainLoop keeps the household chain current: a new epoch (a member was
// removed) reaches the hub within ChainRefresh, or at once when the cloud
// says the chain has a new link. After each refresh the live sessions of
// devices no longer in the chain are ended.
//
// The cloud's word only makes the hub fetch sooner; what changed is what the
// verified chain says. A cloud that says so constantly makes the hub fetch
// at most once every chainKickEvery.
func (h *Hub) chainLoop(ctx context.Context) {
	defer h.wg.Done()
	every := h.opts.ChainRefresh
	if every == 0 {
		every = time.Minute
	}
	var lastErr string
	for {
		fetched := time.Now()
		err := h.household.refresh(ctx, h.cloud)
		if ctx.Err() != nil {
			return
		}
		switch {
		case errors.Is(err, errWaitingForLog):
			h.log.Debug("household chain", "err", err)
		case err != nil && err.Error() != lastErr:
			h.log.Warn("household chain not refreshed; the hub keeps sealing to the epoch key it verified", "err", err)
			lastErr = err.Error()
		case err == nil:
			lastErr = ""
		}
		h.checkRetention(ctx)
		if n := h.live.Revoke(); n > 0 {
			h.log.Info("live sessions of removed devices ended", "sessions", n)
		}
		next := every
		if errors.Is(err, errWaitingForLog) {
			// The head reaches the log within a second or so; past the
			// grace refresh reports it and the hub asks at the usual pace.
			next = min(every, chainKickEvery)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		case <-h.chainKick:
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(fetched.Add(chainKickEvery))):
			}
		}
	}
}

// ConfigLog returns the transparency log policy of the config file's log
// section (nil without one): what Pair and the hub pin instead of the
// cloud's.
func ConfigLog(cfg *config.Hub) *history.LogPolicy {
	if cfg == nil || cfg.Log == nil {
		return nil
	}
	key := strings.TrimSpace(cfg.Log.Key)
	origin, _, _ := strings.Cut(key, "+")
	ws := []string{}
	for _, w := range cfg.Log.Witnesses {
		ws = append(ws, strings.TrimSpace(w))
	}
	return &history.LogPolicy{Origin: origin, Key: key, Witnesses: ws, Quorum: cfg.Log.Quorum}
}

// chainKickEvery bounds how often the cloud's "the chain changed" makes the
// hub fetch it.
const chainKickEvery = time.Second

// Uploader returns the cloud uploader of a paired hub (nil otherwise).
func (h *Hub) Uploader() *upload.Uploader { return h.uploader }

// startLive answers live viewers of a paired hub: offers arrive over the
// hub's signalling connection to the cloud, and only devices of the
// household chain the hub verified are admitted (G8).
func (h *Hub) startLive(ctx context.Context) {
	p := h.household.pinned
	h.live = live.NewHub(live.HubConfig{
		Household: p.HouseholdID,
		Key:       h.signer,
		Chain:     h.household.current,
		Tap: func(c string) *live.Tap {
			if r := h.recorderOf(c); r != nil {
				return r.Tap()
			}
			return nil
		},
		Cameras: func() []string {
			var names []string
			for _, r := range h.recorders() {
				names = append(names, r.Name())
			}
			return names
		},
		Refresh: func(ctx context.Context) error {
			err := h.household.refresh(ctx, h.cloud)
			if err == nil {
				h.live.Revoke() // the chain may also have lost a device
			}
			return err
		},
		Settings:    h.handleSettings,
		BackChannel: h.openBackChannel,
		CameraAdmin: h.handleCameras,
		Redact:      h.redactClip,
		RedactDir:   redactDir(),
		ChainChanged: func() {
			select {
			case h.chainKick <- struct{}{}:
			default: // a fetch is already due
			}
		},
		Net:    h.opts.LiveNet,
		Now:    h.opts.Now,
		Logger: h.log.With("component", "live"),
	})
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		live.RunHub(ctx, h.live, h.cfg.Cloud.URL, h.cloud.DeviceID, h.signer, h.log.With("component", "live"))
	}()
}

// openBackChannel opens a camera's ONVIF audio back channel for a viewer
// who talks (live's talk path): a second RTSP session to the camera's
// URL, apart from the recording's.
func (h *Hub) openBackChannel(ctx context.Context, cam string) (live.BackChannel, error) {
	for _, c := range h.allCameras() { // cameras added from the web app talk too
		if c.Name != cam {
			continue
		}
		bc, err := camera.OpenBackChannel(ctx, camera.BackChannelConfig{URL: c.URL, Transport: c.Transport})
		if errors.Is(err, camera.ErrNoBackChannel) {
			return nil, errors.Join(live.ErrNoSpeaker, err)
		}
		if err != nil {
			return nil, err
		}
		return bc, nil
	}
	return nil, live.ErrNoSpeaker
}

// Live returns the live-view answerer of a paired hub (nil otherwise).
func (h *Hub) Live() *live.Hub { return h.live }
