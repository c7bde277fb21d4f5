// Package hubwatch watches the hub's health and decides when to tell the
// household that something is wrong: a camera that sends no video, keeps
// dropping its connection or sends far fewer frames than it normally does;
// recording that fails to reach the disk, a disk that runs out of room,
// retention forced to delete footage younger than its configured age; an
// upload backlog that keeps growing; a cloud the hub has not reached for a
// while.
//
// It owns the checks (what counts as a problem, from what the hub
// observes), one state machine per check and subject (a camera, or the hub
// itself) and the rate limit: a problem must last [Config.Hold] before it
// is raised, and must be gone for Hold before it is resolved (a problem
// that comes back meanwhile stays the same alert); a check and subject
// raise at most one alert per [Config.Repeat]; the episodes that came and
// went without an alert of their own are counted and reported in the next
// "resolved". Each problem is one [Alert] with State problem and, when it
// ends, one with State resolved and the same ID. The caller delivers
// alerts (sealed to the household, MQTT, webhooks): this package neither
// seals nor sends.
//
// What it must never do: log an alert's message (it names cameras; the log
// gets the check, the subject and the state), read or hold a frame, or
// block the hub: [Watcher.Step] only compares numbers the hub already
// keeps, and the caller's Alert callback must not block.
package hubwatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"vigil/internal/eventrec"
)

// States of an alert: eventrec's health record states.
const (
	StateProblem  = eventrec.StateProblem
	StateResolved = eventrec.StateResolved
)

// Config holds the thresholds. Zero fields take the defaults below.
type Config struct {
	// Hold is how long a problem must last before it is raised, and be
	// gone before it is resolved.
	Hold time.Duration
	// Repeat is the least time between two alerts of one check and subject.
	Repeat time.Duration
	// NoVideo: a camera that sent no frame this long has a problem.
	NoVideo time.Duration
	// Reconnects sessions ended within ReconnectWindow are a reconnect loop.
	Reconnects      int
	ReconnectWindow time.Duration
	// SlowRate: a frame rate below this fraction of the camera's own normal
	// (learnt while it is healthy) is a problem.
	SlowRate float64
	// MinFree is the free space on the hub's disk below which it has a
	// problem; FullWithin flags a disk whose free space, at the rate it
	// fell over the last TrendWindow, reaches MinFree within that time.
	MinFree    int64
	FullWithin time.Duration
	// RetentionWindow: footage deleted younger than its configured age
	// within this window is a problem.
	RetentionWindow time.Duration
	// Backlog: an upload backlog that grew over this long while the cloud
	// answered is a problem.
	Backlog time.Duration
	// CloudContact: no successful contact with the cloud for this long is a
	// problem.
	CloudContact time.Duration
}

// Defaults.
const (
	DefaultHold            = 30 * time.Second
	DefaultRepeat          = 30 * time.Minute
	DefaultNoVideo         = time.Minute
	DefaultReconnects      = 4
	DefaultReconnectWindow = 5 * time.Minute
	DefaultSlowRate        = 0.5
	DefaultMinFree         = 1 << 30
	DefaultFullWithin      = 6 * time.Hour
	DefaultRetentionWindow = 10 * time.Minute
	DefaultBacklog         = 10 * time.Minute
	DefaultCloudContact    = 5 * time.Minute

	// trendWindow is how far back the free-space trend looks.
	trendWindow = 10 * time.Minute
	// rateWindow is the span a frame rate is measured over.
	rateWindow = 30 * time.Second
	// rateWarmup is how long a camera must deliver before its normal rate
	// is known.
	rateWarmup = 2 * time.Minute
	// rateFresh: the rate check applies only while frames still arrive
	// (a camera that stopped is the NoVideo check's).
	rateFresh = 5 * time.Second
	// maxHistory bounds the samples kept per camera and for the disk.
	maxHistory = 4096
)

func (c *Config) applyDefaults() {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Hold, DefaultHold)
	def(&c.Repeat, DefaultRepeat)
	def(&c.NoVideo, DefaultNoVideo)
	def(&c.ReconnectWindow, DefaultReconnectWindow)
	def(&c.FullWithin, DefaultFullWithin)
	def(&c.RetentionWindow, DefaultRetentionWindow)
	def(&c.Backlog, DefaultBacklog)
	def(&c.CloudContact, DefaultCloudContact)
	if c.Reconnects <= 0 {
		c.Reconnects = DefaultReconnects
	}
	if c.SlowRate <= 0 || c.SlowRate >= 1 {
		c.SlowRate = DefaultSlowRate
	}
	if c.MinFree <= 0 {
		c.MinFree = DefaultMinFree
	}
}

// Observation is what the hub reads of itself at one moment: counters it
// already keeps. Counters only grow while the hub runs.
type Observation struct {
	Cameras []Camera
	Storage Storage
	// Cloud is nil for a hub that is not paired with a cloud.
	Cloud *Cloud
}

// Camera is one camera's counters.
type Camera struct {
	Name        string
	Frames      uint64 // video frames received
	Disconnects uint64 // sessions that ended
}

// Storage is the local store's state.
type Storage struct {
	Writes, WriteErrors uint64 // segments stored, and lost to store errors
	// Free is the free space on the store's disk in bytes, -1 if unknown.
	Free int64
	// Forced counts segments deleted for room while younger than the
	// configured age; ForcedAge is the age of the latest one, RetentionAge
	// the configured age it fell short of.
	Forced                  int64
	ForcedAge, RetentionAge time.Duration
}

// Cloud is the state of the hub's uploads.
type Cloud struct {
	Pending int64 // segments waiting for upload
	Away    bool  // the cloud is unreachable or refusing the hub
}

// Sensor is a check a Watcher may raise: a camera's (Camera set) or the
// hub's own.
type Sensor struct{ Check, Camera string }

// Sensors lists what a Watcher of cameras may raise, each camera's checks
// and then the hub's, the cloud's two only when the hub has a cloud (it
// watches them only then): what a dashboard shows, all clear, before any
// problem.
func Sensors(cameras []string, cloud bool) []Sensor {
	var out []Sensor
	for _, c := range cameras {
		for _, check := range eventrec.CameraChecks() {
			out = append(out, Sensor{check, c})
		}
	}
	for _, check := range eventrec.HubChecks() {
		if cloud || (check != eventrec.CheckCloudContact && check != eventrec.CheckUploadBacklog) {
			out = append(out, Sensor{Check: check})
		}
	}
	return out
}

// Alert is one message to the household: a problem, or its end.
type Alert struct {
	ID      string // 32 lower-case hex digits, shared by a problem and its resolution
	Check   string // an eventrec Check constant
	Camera  string // the camera of a camera check, else ""
	State   string // StateProblem or StateResolved
	Start   time.Time
	End     time.Time // the problem's end; zero for StateProblem
	Message string    // plain words for the household
	Flaps   int       // resolved: episodes that came and went without an alert of their own
}

// Record returns a as an event record of kind health.
func (a Alert) Record() eventrec.Record {
	return eventrec.Record{Kind: eventrec.KindHealth, ID: a.ID, Check: a.Check, Camera: a.Camera, State: a.State,
		Start: a.Start, End: a.End, Message: a.Message, Flaps: a.Flaps}
}

// key is a check and its subject.
type key struct{ check, camera string }

// phase of a check's state machine.
type phase uint8

const (
	idle     phase = iota // no problem
	pending               // a problem, not (yet) raised: holding, or held back by Repeat
	raised                // the household was told
	clearing              // raised, and the problem is gone: holding before resolving
)

type track struct {
	phase      phase
	since      time.Time // pending: when the problem was seen; clearing: when it went
	start      time.Time // when the problem began
	id         string
	lastRaised time.Time
	flaps      int // episodes since the last resolution that had no alert of their own
}

type sample struct {
	at time.Time
	n  uint64
}

type camState struct {
	firstSeen    time.Time
	frames       uint64
	lastFrame    time.Time // when Frames last grew; firstSeen until then
	disconnects  uint64
	ends         []time.Time // when Disconnects grew, within ReconnectWindow
	rates        []sample    // frame counts within rateWindow
	normal       float64     // learnt frames per second, 0 until warm
	learnt       time.Time   // when normal was last updated
	healthySince time.Time   // when the camera last started delivering steadily
}

type freeSample struct {
	at   time.Time
	free int64
}

type backlogSample struct {
	at      time.Time
	pending int64
}

// Watcher runs the checks; it is safe for concurrent use.
type Watcher struct {
	cfg Config
	now func() time.Time
	log *slog.Logger

	mu     sync.Mutex
	tracks map[key]*track
	cams   map[string]*camState

	writes, writeErrs    uint64
	lastWrite, lastError time.Time
	frees                []freeSample
	forced               int64
	forcedAt             time.Time
	backlog              []backlogSample
	lastContact          time.Time
}

// New returns a watcher with cfg's thresholds (defaults for zero fields)
// on clock now (nil means time.Now), logging state changes to log (nil
// discards).
func New(cfg Config, now func() time.Time, log *slog.Logger) *Watcher {
	cfg.applyDefaults()
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{cfg: cfg, now: now, log: log, tracks: map[key]*track{}, cams: map[string]*camState{}}
}

// Config returns the thresholds in use.
func (w *Watcher) Config() Config { return w.cfg }

// finding is one check's verdict for one subject now.
type finding struct {
	key
	bad      bool
	began    time.Time // when the problem began, if before the check saw it (zero: when it was seen); the Hold counts from when it was seen
	problem  string    // the message if raised now
	resolved string    // the message when it ends
}

// Step takes an observation made now and returns the alerts it causes, in
// a stable order (camera checks by camera, then the hub's).
func (w *Watcher) Step(o Observation) []Alert {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	var fs []finding
	fs = append(fs, w.cameraFindings(now, o.Cameras)...)
	fs = append(fs, w.storageFindings(now, o.Storage)...)
	fs = append(fs, w.cloudFindings(now, o.Cloud)...)
	var out []Alert
	for _, f := range fs {
		if a, ok := w.advance(now, f); ok {
			out = append(out, a)
		}
	}
	// A camera that is gone (removed from the hub): its problems go with it.
	for k := range w.tracks {
		if k.camera != "" && w.cams[k.camera] == nil {
			delete(w.tracks, k)
		}
	}
	return out
}

// advance moves f's state machine to now.
func (w *Watcher) advance(now time.Time, f finding) (Alert, bool) {
	t := w.tracks[f.key]
	if t == nil {
		if !f.bad {
			return Alert{}, false
		}
		t = &track{}
		w.tracks[f.key] = t
	}
	switch t.phase {
	case idle:
		if f.bad {
			t.phase, t.since, t.start = pending, now, now
			if !f.began.IsZero() && f.began.Before(now) {
				t.start = f.began
			}
		}
	case pending:
		if !f.bad {
			t.phase = idle
			t.flaps++
			return Alert{}, false
		}
		if now.Sub(t.since) >= w.cfg.Hold && (t.lastRaised.IsZero() || now.Sub(t.lastRaised) >= w.cfg.Repeat) {
			t.phase, t.id, t.lastRaised = raised, newID(), now
			w.log.Warn("health problem", "check", f.check, "camera", f.camera, "alert", t.id)
			return Alert{ID: t.id, Check: f.check, Camera: f.camera, State: StateProblem, Start: t.start, Message: f.problem}, true
		}
	case raised:
		if !f.bad {
			t.phase, t.since = clearing, now
		}
	case clearing:
		if f.bad {
			t.phase = raised
			t.flaps++
			return Alert{}, false
		}
		if now.Sub(t.since) >= w.cfg.Hold {
			if t.since.Before(t.start) {
				t.since = t.start
			}
			a := Alert{ID: t.id, Check: f.check, Camera: f.camera, State: StateResolved, Start: t.start, End: t.since,
				Message: resolvedMessage(f.resolved, t.since.Sub(t.start), t.flaps), Flaps: t.flaps}
			w.log.Info("health problem resolved", "check", f.check, "camera", f.camera, "alert", t.id, "flaps", t.flaps)
			t.phase, t.flaps, t.id = idle, 0, ""
			return a, true
		}
	}
	return Alert{}, false
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// prune drops the times before cut from a sorted slice.
func prune[T any](s []T, at func(T) time.Time, cut time.Time) []T {
	i := 0
	for i < len(s) && at(s[i]).Before(cut) {
		i++
	}
	s = s[i:]
	if len(s) > maxHistory {
		s = s[len(s)-maxHistory:]
	}
	return s
}

func (w *Watcher) cameraFindings(now time.Time, cams []Camera) []finding {
	seen := map[string]bool{}
	sorted := slices.Clone(cams)
	slices.SortFunc(sorted, func(a, b Camera) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	var fs []finding
	for _, c := range sorted {
		if seen[c.Name] {
			continue
		}
		seen[c.Name] = true
		s := w.cams[c.Name]
		if s == nil {
			s = &camState{firstSeen: now, lastFrame: now, frames: c.Frames, disconnects: c.Disconnects}
			w.cams[c.Name] = s
		}
		if c.Frames > s.frames {
			if s.healthySince.IsZero() || now.Sub(s.lastFrame) > rateFresh {
				s.healthySince = now
			}
			s.lastFrame = now
		}
		for range min(c.Disconnects-min(s.disconnects, c.Disconnects), uint64(w.cfg.Reconnects)+1) {
			s.ends = append(s.ends, now)
		}
		s.frames, s.disconnects = c.Frames, c.Disconnects
		s.ends = prune(s.ends, func(t time.Time) time.Time { return t }, now.Add(-w.cfg.ReconnectWindow))
		s.rates = append(prune(s.rates, func(x sample) time.Time { return x.at }, now.Add(-rateWindow)), sample{now, c.Frames})

		// No video.
		silent := now.Sub(s.lastFrame)
		fs = append(fs, finding{key: key{eventrec.CheckCameraFrames, c.Name}, bad: silent >= w.cfg.NoVideo, began: s.lastFrame,
			problem:  fmt.Sprintf("%s camera: no video for %s", c.Name, Words(silent)),
			resolved: fmt.Sprintf("%s camera is back", c.Name)})

		// Reconnect loop.
		fs = append(fs, finding{key: key{eventrec.CheckCameraReconnects, c.Name}, bad: len(s.ends) >= w.cfg.Reconnects,
			problem:  fmt.Sprintf("%s camera keeps losing its connection (%d times in %s)", c.Name, len(s.ends), Words(w.cfg.ReconnectWindow)),
			resolved: fmt.Sprintf("%s camera's connection is steady again", c.Name)})

		// Frame rate against its own normal.
		rate, ok := frameRate(s.rates)
		// The rate is judged once a whole window of it is steady delivery.
		flowing := silent <= rateFresh && !s.healthySince.IsZero() && now.Sub(s.healthySince) >= rateWindow
		slow := false
		if ok && flowing && s.normal > 0 {
			slow = rate < w.cfg.SlowRate*s.normal
		}
		if t := w.tracks[key{eventrec.CheckCameraRate, c.Name}]; ok && flowing && !slow && (t == nil || t.phase == idle) &&
			now.Sub(s.healthySince) >= rateWarmup {
			// Learn the normal rate while healthy: it follows a rise
			// within about a minute and a fall within about half an
			// hour, so a sudden drop does not pull it down.
			dt := now.Sub(s.learnt).Seconds()
			switch {
			case s.normal == 0:
				s.normal = rate
			case rate > s.normal:
				s.normal += (rate - s.normal) * min(dt/60, 1)
			default:
				s.normal += (rate - s.normal) * min(dt/1800, 1)
			}
			s.learnt = now
		}
		fs = append(fs, finding{key: key{eventrec.CheckCameraRate, c.Name}, bad: slow,
			problem:  fmt.Sprintf("%s camera: video at %s frames a second, far below its usual %s", c.Name, fps(rate), fps(s.normal)),
			resolved: fmt.Sprintf("%s camera's video is back to its usual rate", c.Name)})
	}
	for name := range w.cams {
		if !seen[name] {
			delete(w.cams, name)
		}
	}
	return fs
}

// frameRate is the frames per second over the samples, false with too
// little to tell.
func frameRate(s []sample) (float64, bool) {
	if len(s) < 2 {
		return 0, false
	}
	d := s[len(s)-1].at.Sub(s[0].at)
	if d < rateWindow/2 {
		return 0, false
	}
	return float64(s[len(s)-1].n-min(s[0].n, s[len(s)-1].n)) / d.Seconds(), true
}

func fps(r float64) string {
	if r >= 9.95 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.1f", r)
}

func (w *Watcher) storageFindings(now time.Time, st Storage) []finding {
	var fs []finding
	// Write errors: the latest outcome of a write is an error.
	if st.WriteErrors > w.writeErrs && st.Writes == w.writes {
		w.lastError = now
	} else if st.Writes > w.writes && st.WriteErrors == w.writeErrs {
		w.lastWrite = now
	} else if st.Writes > w.writes && st.WriteErrors > w.writeErrs {
		// Both in one step: the disk works, at times.
		w.lastError = now
	}
	w.writes, w.writeErrs = st.Writes, st.WriteErrors
	fs = append(fs, finding{key: key{check: eventrec.CheckStorageWrites},
		bad:      !w.lastError.IsZero() && !w.lastError.Before(w.lastWrite),
		problem:  "The hub cannot save recordings to its disk",
		resolved: "The hub is saving recordings to its disk again"})

	// Free space, and its trend.
	if st.Free >= 0 {
		w.frees = append(prune(w.frees, func(f freeSample) time.Time { return f.at }, now.Add(-trendWindow)), freeSample{now, st.Free})
		low := st.Free < w.cfg.MinFree
		msg := fmt.Sprintf("The hub's disk is nearly full (%s free)", Bytes(st.Free))
		// The trend must hold over the whole window and its recent half: a
		// one-off drop (a big file copied) is not a disk filling up.
		half := w.frees[len(w.frees)/2:]
		if perSec := max(freeSlope(w.frees), freeSlope(half)); !low && perSec < 0 && now.Sub(w.frees[0].at) >= trendWindow/2 {
			left := time.Duration(float64(st.Free-w.cfg.MinFree) / -perSec * float64(time.Second))
			if left < w.cfg.FullWithin {
				low = true
				msg = fmt.Sprintf("The hub's disk is filling up: at this rate it is full in about %s (%s free)", Words(left), Bytes(st.Free))
			}
		}
		fs = append(fs, finding{key: key{check: eventrec.CheckStorageSpace}, bad: low, problem: msg,
			resolved: fmt.Sprintf("The hub's disk has room again: %s free", Bytes(st.Free))})
	}

	// Retention forced below the configured age.
	if st.Forced > w.forced {
		w.forcedAt = now
	}
	w.forced = st.Forced
	fs = append(fs, finding{key: key{check: eventrec.CheckStorageRetention},
		bad: !w.forcedAt.IsZero() && now.Sub(w.forcedAt) < w.cfg.RetentionWindow,
		problem: fmt.Sprintf("The hub is deleting recordings younger than the %s it should keep, to make room (the latest was %s old)",
			Words(st.RetentionAge), Words(st.ForcedAge)),
		resolved: "The hub keeps recordings as long as configured again"})
	return fs
}

// freeSlope is the least-squares slope of free space over time, in bytes
// a second (negative while the disk fills); 0 with fewer than two samples.
func freeSlope(fs []freeSample) float64 {
	if len(fs) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	t0 := fs[0].at
	for _, f := range fs {
		x, y := f.at.Sub(t0).Seconds(), float64(f.free)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(fs))
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

func (w *Watcher) cloudFindings(now time.Time, c *Cloud) []finding {
	if c == nil {
		return nil
	}
	if w.lastContact.IsZero() {
		w.lastContact = now
	}
	if !c.Away {
		w.lastContact = now
	}
	var fs []finding
	gone := now.Sub(w.lastContact)
	fs = append(fs, finding{key: key{check: eventrec.CheckCloudContact}, bad: c.Away && gone >= w.cfg.CloudContact, began: w.lastContact,
		problem:  fmt.Sprintf("The hub has not reached the cloud for %s; it keeps recording and will upload when it can", Words(gone)),
		resolved: "The hub is in touch with the cloud again"})

	// A backlog that grows while the cloud answers: uploads cannot keep up.
	// (While the cloud is away, cloud.contact says why.)
	w.backlog = append(prune(w.backlog, func(b backlogSample) time.Time { return b.at }, now.Add(-w.cfg.Backlog)), backlogSample{now, c.Pending})
	growing := false
	if first := w.backlog[0]; !c.Away && now.Sub(first.at) >= w.cfg.Backlog*9/10 && c.Pending > first.pending && c.Pending > 2 {
		growing = true
		for i := 1; i < len(w.backlog); i++ {
			if w.backlog[i].pending == 0 {
				growing = false // it emptied meanwhile
			}
		}
	}
	fs = append(fs, finding{key: key{check: eventrec.CheckUploadBacklog}, bad: growing,
		problem:  fmt.Sprintf("Uploads to the cloud are falling behind (%d recordings waiting)", c.Pending),
		resolved: "Uploads to the cloud have caught up"})
	return fs
}

func resolvedMessage(base string, lasted time.Duration, flaps int) string {
	m := base + " (after " + Words(lasted) + ")"
	switch {
	case flaps == 1:
		m += "; it also came and went once more"
	case flaps > 1:
		m += fmt.Sprintf("; it also came and went %d more times", flaps)
	}
	return m
}

// Run calls observe every poll and Step with it, handing each alert to
// alert, until ctx ends. It returns when ctx ends.
func (w *Watcher) Run(ctx context.Context, poll time.Duration, observe func() Observation, alert func(Alert)) {
	if poll <= 0 {
		poll = 5 * time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		for _, a := range w.Step(observe()) {
			alert(a)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
