// Package events turns tracked objects into review items: zones (named
// polygons tested at the bottom-centre of an object's box, with inertia),
// alert rules (labels x zones x weekly schedule x home/away mode) and
// events that start when a true-positive object appears and end some
// seconds after the last activity, each with its best snapshot reference
// and time range; Retain turns events into the ranges of recording to keep
// longer.
//
// Like package track it is pure logic: no I/O, no clock, no goroutines;
// time comes from the frames. An Engine is not safe for concurrent use;
// the pipeline owns one per camera. Events carry labels, zones and boxes,
// which the household alone may read: they leave the hub only sealed, and
// are never logged (see package detect). Masks belong to package motion.
package events

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"vigil/internal/detect"
	"vigil/internal/detect/track"
)

// MaxEventTracks bounds how many track IDs one event lists.
const MaxEventTracks = 256

// Snapshot points at the best view of an event: which track, where and
// when (the frame at Time holds the picture).
type Snapshot struct {
	TrackID uint64     `json:"track_id"`
	Label   string     `json:"label"`
	Score   float64    `json:"score"`
	Box     detect.Box `json:"box"`
	Time    time.Time  `json:"time"`
	Frame   uint64     `json:"frame"`
}

// Event is a review item: one stretch of activity on a camera.
type Event struct {
	// ID is 128 random bits in hex.
	ID     string    `json:"id"`
	Camera string    `json:"camera"`
	Start  time.Time `json:"start"`
	// End is zero while the event is open; then the time of its last
	// activity.
	End    time.Time `json:"end,omitzero"`
	Labels []string  `json:"labels"`
	Zones  []string  `json:"zones,omitempty"`
	Tracks []uint64  `json:"tracks"`
	// Alert is set once one of the event's objects matched a rule; Rule
	// names the first rule that did.
	Alert bool     `json:"alert"`
	Rule  string   `json:"rule,omitempty"`
	Best  Snapshot `json:"best"`
}

func (e Event) clone() Event {
	e.Labels = slices.Clone(e.Labels)
	e.Zones = slices.Clone(e.Zones)
	e.Tracks = slices.Clone(e.Tracks)
	return e
}

// Kind says what happened to an event.
type Kind int

// Kinds of Change.
const (
	Started Kind = iota + 1
	Updated
	Ended
)

func (k Kind) String() string {
	switch k {
	case Started:
		return "started"
	case Updated:
		return "updated"
	case Ended:
		return "ended"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Change is one thing Update reports: an event as it stands after it
// started, changed (new object, label, zone, better snapshot, became an
// alert) or ended.
type Change struct {
	Kind  Kind
	Event Event
}

// Options configure an Engine.
type Options struct {
	// Camera names the camera in the events.
	Camera string
	// Config holds zones, rules and timing; New validates it.
	Config Config
	// Width and Height are the frame size the tracks' boxes are in.
	Width, Height int
	// Location is the time zone of the rules' schedules (nil: UTC).
	Location *time.Location
}

type rule struct {
	Rule
	windows []window
}

// Engine follows one camera's tracks and emits event changes.
type Engine struct {
	camera   string
	cfg      Config
	w, h     float64
	loc      *time.Location
	rules    []rule
	endAfter time.Duration

	zones map[uint64][]presence // per track, per zone
	cur   *Event
	last  time.Time // last activity of cur
}

// New validates o.Config and returns an Engine.
func New(o Options) (*Engine, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if o.Width <= 0 || o.Height <= 0 || o.Width > 1<<15 || o.Height > 1<<15 {
		return nil, fmt.Errorf("%w: %dx%d", detect.ErrFrameSize, o.Width, o.Height)
	}
	e := &Engine{
		camera:   o.Camera,
		cfg:      o.Config,
		w:        float64(o.Width),
		h:        float64(o.Height),
		loc:      o.Location,
		endAfter: time.Duration(o.Config.EndAfter),
		zones:    map[uint64][]presence{},
	}
	if e.loc == nil {
		e.loc = time.UTC
	}
	if e.endAfter == 0 {
		e.endAfter = time.Duration(DefaultEndAfter)
	}
	rules := o.Config.Rules
	if rules == nil {
		rules = DefaultRules()
	}
	for _, r := range rules {
		pr := rule{Rule: r}
		for _, w := range r.Schedule {
			pw, _ := w.parse() // Validate checked it
			pr.windows = append(pr.windows, pw)
		}
		e.rules = append(e.rules, pr)
	}
	return e, nil
}

// Current returns a copy of the open event, if any.
func (e *Engine) Current() (Event, bool) {
	if e.cur == nil {
		return Event{}, false
	}
	return e.cur.clone(), true
}

// InZones returns the zones the track is in now (after inertia), as of the
// last Update.
func (e *Engine) InZones(trackID uint64) []string {
	var out []string
	for i, p := range e.zones[trackID] {
		if p.in {
			out = append(out, e.cfg.Zones[i].Name)
		}
	}
	return out
}

// Update takes every track the tracker returned for the frame at now and
// the household's current mode, and returns what happened to events. An
// event's activity is the last detection (Track.LastSeen) of a moving,
// true-positive object that counts; the event ends EndAfter after it. At
// most one event is open per camera: objects that overlap in time share
// it. Times must not go backwards.
func (e *Engine) Update(now time.Time, tracks []*track.Track, mode Mode) []Change {
	seen := make(map[uint64]bool, len(tracks))
	var qual []*track.Track
	active := false
	var lastSeen time.Time // latest detection of an active object
	for _, t := range tracks {
		if t == nil {
			continue
		}
		if t.Ended {
			delete(e.zones, t.ID)
			continue
		}
		seen[t.ID] = true
		e.place(t)
		if !e.qualifies(t) {
			continue
		}
		qual = append(qual, t)
		seenAt := t.LastSeen
		if seenAt.IsZero() || seenAt.After(now) {
			seenAt = now
		}
		if !t.Stationary && now.Sub(seenAt) < e.endAfter {
			active = true
			lastSeen = later(lastSeen, seenAt)
		}
	}
	for id := range e.zones {
		if !seen[id] {
			delete(e.zones, id)
		}
	}

	var out []Change
	started := false
	if e.cur == nil && active {
		e.cur = &Event{ID: newID(), Camera: e.camera, Start: now}
		// The event starts when its first object was seen, but no earlier
		// than EndAfter ago (a car parked for hours that drives off).
		floor := now.Add(-e.endAfter)
		for _, t := range qual {
			if t.FirstSeen.Before(e.cur.Start) {
				e.cur.Start = later(t.FirstSeen, floor)
			}
		}
		if lastSeen.Before(e.cur.Start) {
			e.cur.Start = lastSeen
		}
		started = true
	}
	if e.cur == nil {
		return nil
	}
	if active {
		// Activity is when an object was last detected, not when the
		// tracker last predicted where it might be.
		e.last = later(e.last, lastSeen)
	}
	changed := false
	for _, t := range qual {
		changed = e.fold(t, now, mode) || changed
	}
	switch {
	case started:
		out = append(out, Change{Started, e.cur.clone()})
	case changed:
		out = append(out, Change{Updated, e.cur.clone()})
	}
	if now.Sub(e.last) >= e.endAfter {
		e.cur.End = e.last
		out = append(out, Change{Ended, e.cur.clone()})
		e.cur = nil
	}
	return out
}

// place updates t's presence in every zone from its box's bottom-centre.
func (e *Engine) place(t *track.Track) {
	ps := e.zones[t.ID]
	if ps == nil {
		if len(e.cfg.Zones) == 0 {
			return
		}
		ps = make([]presence, len(e.cfg.Zones))
		e.zones[t.ID] = ps
	}
	x, y := t.Box.BottomCentre()
	x, y = x/e.w, y/e.h
	for i, z := range e.cfg.Zones {
		p := &ps[i]
		if !z.accepts(t.Label) || !z.Contains(x, y) {
			p.run, p.in = 0, false
			continue
		}
		p.run = min(p.run+1, MaxInertia)
		if p.run >= z.inertia() {
			p.in, p.entered = true, true
		}
	}
}

// qualifies reports whether t takes part in events.
func (e *Engine) qualifies(t *track.Track) bool {
	if !t.TruePositive {
		return false
	}
	if len(e.cfg.Labels) > 0 && !slices.Contains(e.cfg.Labels, t.Label) {
		return false
	}
	if e.cfg.RequireZone {
		return slices.ContainsFunc(e.zones[t.ID], func(p presence) bool { return p.entered })
	}
	return true
}

// fold adds t to the open event and reports whether the event changed.
func (e *Engine) fold(t *track.Track, now time.Time, mode Mode) bool {
	ev := e.cur
	changed := false
	if !slices.Contains(ev.Tracks, t.ID) && len(ev.Tracks) < MaxEventTracks {
		ev.Tracks = append(ev.Tracks, t.ID)
		changed = true
	}
	if !slices.Contains(ev.Labels, t.Label) && len(ev.Labels) < MaxLabels {
		ev.Labels = append(ev.Labels, t.Label)
		changed = true
	}
	for i, p := range e.zones[t.ID] {
		if name := e.cfg.Zones[i].Name; p.entered && !slices.Contains(ev.Zones, name) {
			ev.Zones = append(ev.Zones, name)
			changed = true
		}
	}
	b := t.Best
	if !b.Time.IsZero() && (ev.Best.Time.IsZero() || track.Quality(b.Score, b.Box) > track.Quality(ev.Best.Score, ev.Best.Box)) {
		ev.Best = Snapshot{TrackID: t.ID, Label: t.Label, Score: b.Score, Box: b.Box, Time: b.Time, Frame: b.Frame}
		changed = true
	}
	if !ev.Alert {
		if r, ok := e.match(t, now, mode); ok {
			ev.Alert, ev.Rule = true, r
			changed = true
		}
	}
	return changed
}

// match returns the first rule t matches at now in mode.
func (e *Engine) match(t *track.Track, now time.Time, mode Mode) (string, bool) {
	local := now.In(e.loc)
	for _, r := range e.rules {
		if !r.Mode.applies(mode) {
			continue
		}
		if len(r.Labels) > 0 && !slices.Contains(r.Labels, t.Label) {
			continue
		}
		if len(r.Zones) > 0 && !e.inAny(t.ID, r.Zones) {
			continue
		}
		if len(r.windows) > 0 && !slices.ContainsFunc(r.windows, func(w window) bool { return w.open(local) }) {
			continue
		}
		return r.Name, true
	}
	return "", false
}

// inAny reports whether the track is in one of the named zones now.
func (e *Engine) inAny(id uint64, names []string) bool {
	for i, p := range e.zones[id] {
		if p.in && slices.Contains(names, e.cfg.Zones[i].Name) {
			return true
		}
	}
	return false
}

// newID returns 128 random bits in hex.
func newID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Flush ends the open event, if any, as of its last activity: for a camera
// that stops or a hub that shuts down. The engine forgets every track.
func (e *Engine) Flush() []Change {
	clear(e.zones)
	if e.cur == nil {
		return nil
	}
	e.cur.End = e.last
	c := Change{Ended, e.cur.clone()}
	e.cur = nil
	return []Change{c}
}
