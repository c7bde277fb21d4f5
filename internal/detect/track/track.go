// Package track follows detected objects from frame to frame, as Frigate's
// tracker does: a constant-velocity Kalman filter per object over its box,
// association of new detections to tracks by IoU per label, a track
// confirmed after a few hits and ended after a few seconds unseen, a true
// positive when the median of its recent scores passes the label's
// threshold, stationary objects re-detected only now and then, and each
// track's best view kept for the event's snapshot.
//
// The package is pure logic: no I/O, no clock, no goroutines. Time comes
// from the frame timestamps the caller passes in, so a run is fully
// deterministic. A Tracker is not safe for concurrent use; the pipeline
// owns one per camera. Tracks are never logged here; the caller must not
// log boxes with labels either (see package detect).
package track

import (
	"image"
	"math"
	"sort"
	"time"

	"vigil/internal/detect"
)

// Defaults for Config's zero fields.
const (
	DefaultMinHits            = 3
	DefaultMaxUnseen          = 5 * time.Second
	DefaultTentativeMaxUnseen = time.Second
	DefaultMinIoU             = 0.1
	DefaultThreshold          = 0.7
	DefaultStationaryIoU      = 0.6
	DefaultStationaryFrames   = 50
	DefaultStationaryInterval = 10 * time.Second
	DefaultMaxTracks          = 256
	// ScoreHistory is how many recent scores a track keeps.
	ScoreHistory = 10
)

// Config tunes a Tracker; zero fields take the defaults above.
type Config struct {
	// MinHits is how many detections a track needs to be confirmed.
	MinHits int
	// MaxUnseen ends a confirmed track that no detection matched for this
	// long (frames on which it was not looked for do not count).
	MaxUnseen time.Duration
	// TentativeMaxUnseen drops an unconfirmed track unseen for this long.
	TentativeMaxUnseen time.Duration
	// MinIoU gates association: a detection joins a track only if its box
	// overlaps the track's predicted box by at least this much, or its
	// centre lies within half the predicted box's size of the predicted
	// centre (a fast mover whose velocity is not known yet).
	MinIoU float64
	// Thresholds maps a label to the median score that makes its tracks
	// true positives; labels not listed use DefaultThreshold.
	Thresholds map[string]float64
	// DefaultThreshold overrides DefaultThreshold for unlisted labels.
	DefaultThreshold float64
	// StationaryIoU: a detection overlapping the track's anchor box by at
	// least this much counts as not having moved.
	StationaryIoU float64
	// StationaryFrames is how many consecutive unmoved detections make a
	// track stationary.
	StationaryFrames int
	// StationaryInterval is how often a stationary track is re-detected.
	StationaryInterval time.Duration
	// MaxTracks bounds the tracks kept; detections beyond it start none.
	MaxTracks int
}

func (c Config) withDefaults() Config {
	if c.MinHits <= 0 {
		c.MinHits = DefaultMinHits
	}
	if c.MaxUnseen <= 0 {
		c.MaxUnseen = DefaultMaxUnseen
	}
	if c.TentativeMaxUnseen <= 0 {
		c.TentativeMaxUnseen = DefaultTentativeMaxUnseen
	}
	if c.MinIoU <= 0 {
		c.MinIoU = DefaultMinIoU
	}
	if c.DefaultThreshold <= 0 {
		c.DefaultThreshold = DefaultThreshold
	}
	if c.StationaryIoU <= 0 {
		c.StationaryIoU = DefaultStationaryIoU
	}
	if c.StationaryFrames <= 0 {
		c.StationaryFrames = DefaultStationaryFrames
	}
	if c.StationaryInterval <= 0 {
		c.StationaryInterval = DefaultStationaryInterval
	}
	if c.MaxTracks <= 0 {
		c.MaxTracks = DefaultMaxTracks
	}
	return c
}

// Threshold is the median score that makes a track of label a true
// positive.
func (c Config) Threshold(label string) float64 {
	if t, ok := c.Thresholds[label]; ok && t > 0 {
		return t
	}
	if c.DefaultThreshold > 0 {
		return c.DefaultThreshold
	}
	return DefaultThreshold
}

// Best is a track's best view so far, for the event's snapshot: the
// detection with the highest Quality (score weighted by the box's size, so
// a big, clear view wins over a small, far one).
type Best struct {
	Score float64
	Box   detect.Box // the detector's box, not the filtered one
	Time  time.Time
	Frame uint64 // the Tracker's update count when it was seen
}

// Quality is score x sqrt(area): the measure by which Best is chosen.
func Quality(score float64, b detect.Box) float64 { return score * math.Sqrt(b.Area()) }

// Track is a snapshot of one tracked object, as of the update that
// returned it; the Tracker never changes a Track it has handed out.
type Track struct {
	ID    uint64 // unique within the Tracker, never reused
	Label string
	// Box is the Kalman-filtered box in the frame's pixels.
	Box detect.Box
	// Score is the median of the last ScoreHistory scores (padded with
	// zeros to three while the track is young, as Frigate does).
	Score float64
	// TopScore is the highest Score the track has reached.
	TopScore float64
	// Confirmed is set once the track has MinHits detections.
	Confirmed bool
	// TruePositive is set once a confirmed track's Score has passed its
	// label's threshold; it stays set.
	TruePositive bool
	// Stationary is set while the object has not moved for
	// StationaryFrames detections.
	Stationary bool
	Hits       int
	FirstSeen  time.Time
	LastSeen   time.Time
	Best       Best
	// Ended is set on the last snapshot of a track: unseen for too long.
	Ended bool
}

type state struct {
	Track
	kf         *kalman
	at         time.Time // time of the filter's state
	alive      time.Time // last time the track was seen or not looked for
	checked    time.Time // last time a detection was matched
	scores     []float64
	anchor     detect.Box
	motionless int
}

// Tracker follows objects across frames. Create it with New.
type Tracker struct {
	cfg    Config
	tracks []*state
	nextID uint64
	frame  uint64
}

// New returns a Tracker with cfg's zero fields set to the defaults.
func New(cfg Config) *Tracker {
	return &Tracker{cfg: cfg.withDefaults(), nextID: 1}
}

// Config returns the tracker's configuration with defaults applied.
func (t *Tracker) Config() Config { return t.cfg }

// due reports whether s should be looked for at now: moving tracks always,
// stationary ones every StationaryInterval.
func (t *Tracker) due(s *state, now time.Time) bool {
	return !s.Stationary || now.Sub(s.checked) >= t.cfg.StationaryInterval
}

// NeedsDetection returns the filtered boxes of the live tracks the detector
// should look at in the frame at now: every moving track, and stationary
// ones only every StationaryInterval. Pass them, with the motion boxes, to
// detect.Regions.
func (t *Tracker) NeedsDetection(now time.Time) []detect.Box {
	var out []detect.Box
	for _, s := range t.tracks {
		if t.due(s, now) {
			out = append(out, t.predicted(s, now))
		}
	}
	return out
}

// predicted is s's box predicted to now, without changing s.
func (t *Tracker) predicted(s *state, now time.Time) detect.Box {
	kf := *s.kf
	kf.predict(now.Sub(s.at).Seconds())
	return kf.box()
}

// Predict advances every track to now without detections, for frames on
// which the detector did not run (no motion). Nothing is counted as missed
// and no track ends. It returns the live tracks.
func (t *Tracker) Predict(now time.Time) []*Track {
	t.frame++
	out := make([]*Track, 0, len(t.tracks))
	for _, s := range t.tracks {
		t.advance(s, now)
		s.alive = later(s.alive, now)
		out = append(out, s.snapshot())
	}
	return out
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (t *Tracker) advance(s *state, now time.Time) {
	if dt := now.Sub(s.at).Seconds(); dt > 0 {
		s.kf.predict(dt)
		s.at = now
		s.Box = s.kf.box()
	}
}

func (s *state) snapshot() *Track {
	c := s.Track
	return &c
}

type pair struct {
	ti, di int
	iou    float64
	dist   float64
}

// Update folds in the detections found in the whole frame at now (boxes in
// the frame's pixels, already filtered and NMS'd) and returns every track:
// live ones, and those that ended on this update (Ended set, reported
// once). Times must not go backwards; a frame older than the last is
// treated as simultaneous with it.
func (t *Tracker) Update(now time.Time, dets []detect.Detection) []*Track {
	return t.UpdateRegions(now, dets, nil)
}

// UpdateRegions is Update for a frame in which the detector looked only
// inside the regions looked (nil: the whole frame): a track whose
// predicted centre lies outside every region is not counted as missed.
func (t *Tracker) UpdateRegions(now time.Time, dets []detect.Detection, looked []image.Rectangle) []*Track {
	t.frame++
	for _, s := range t.tracks {
		t.advance(s, now)
	}

	// Candidate pairs per label, best overlap first.
	var pairs []pair
	for ti, s := range t.tracks {
		if s.Ended {
			continue
		}
		p := s.Box
		size := math.Max(p.W, p.H)
		pcx, pcy := p.X+p.W/2, p.Y+p.H/2
		for di, d := range dets {
			if d.Label != s.Label || !validBox(d.Box) {
				continue
			}
			iou := p.IoU(d.Box)
			dist := math.Hypot(d.Box.X+d.Box.W/2-pcx, d.Box.Y+d.Box.H/2-pcy) / math.Max(size, 1)
			if iou >= t.cfg.MinIoU || dist <= 0.5 {
				pairs = append(pairs, pair{ti, di, iou, dist})
			}
		}
	}
	sort.SliceStable(pairs, func(i, j int) bool {
		if pairs[i].iou != pairs[j].iou {
			return pairs[i].iou > pairs[j].iou
		}
		return pairs[i].dist < pairs[j].dist
	})
	usedT := make([]bool, len(t.tracks))
	usedD := make([]bool, len(dets))
	for _, p := range pairs {
		if usedT[p.ti] || usedD[p.di] {
			continue
		}
		usedT[p.ti], usedD[p.di] = true, true
		t.hit(t.tracks[p.ti], now, dets[p.di])
	}

	// Tracks nobody matched: missed if they were looked for.
	out := make([]*Track, 0, len(t.tracks)+len(dets))
	live := t.tracks[:0]
	for i, s := range t.tracks {
		if !usedT[i] {
			if !t.due(s, now) || !lookedAt(s.Box, looked) {
				s.alive = later(s.alive, now)
			}
			limit := t.cfg.MaxUnseen
			if !s.Confirmed {
				limit = t.cfg.TentativeMaxUnseen
			}
			if now.Sub(s.alive) > limit {
				s.Ended = true
			}
		}
		out = append(out, s.snapshot())
		if !s.Ended {
			live = append(live, s)
		}
	}
	clear(t.tracks[len(live):])
	t.tracks = live

	// Detections nobody claimed start tentative tracks.
	for di, d := range dets {
		if usedD[di] || !validBox(d.Box) || len(t.tracks) >= t.cfg.MaxTracks {
			continue
		}
		s := &state{kf: newKalman(d.Box), at: now}
		s.ID = t.nextID
		t.nextID++
		s.Label = d.Label
		s.FirstSeen = now
		s.anchor = d.Box
		t.hit(s, now, d)
		t.tracks = append(t.tracks, s)
		out = append(out, s.snapshot())
	}
	return out
}

// validBox refuses boxes a broken or hostile detector could produce.
func validBox(b detect.Box) bool {
	for _, v := range []float64{b.X, b.Y, b.W, b.H} {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e6 {
			return false
		}
	}
	return b.W > 0 && b.H > 0
}

// hit records detection d on s at now.
func (t *Tracker) hit(s *state, now time.Time, d detect.Detection) {
	if s.Hits > 0 {
		s.kf.correct(d.Box)
	}
	s.Box = s.kf.box()
	s.Hits++
	s.LastSeen = now
	s.alive = now
	s.checked = now

	score := d.Score
	if math.IsNaN(score) {
		score = 0
	}
	score = math.Max(0, math.Min(1, score))
	if len(s.scores) == ScoreHistory {
		copy(s.scores, s.scores[1:])
		s.scores = s.scores[:ScoreHistory-1]
	}
	s.scores = append(s.scores, score)
	s.Score = median(s.scores)
	s.TopScore = math.Max(s.TopScore, s.Score)
	if s.Hits >= t.cfg.MinHits {
		s.Confirmed = true
	}
	if s.Confirmed && s.TopScore >= t.cfg.Threshold(s.Label) {
		s.TruePositive = true
	}

	if s.Hits > 1 && s.anchor.IoU(d.Box) >= t.cfg.StationaryIoU {
		s.motionless++
	} else if s.Hits > 1 {
		s.anchor = d.Box
		s.motionless = 0
	}
	s.Stationary = s.motionless >= t.cfg.StationaryFrames

	if q := Quality(score, d.Box); s.Best.Time.IsZero() || q > Quality(s.Best.Score, s.Best.Box) {
		s.Best = Best{Score: score, Box: d.Box, Time: now, Frame: t.frame}
	}
}

// median of the scores, padded with zeros to at least three (one or two
// high scores alone are not enough).
func median(scores []float64) float64 {
	v := make([]float64, len(scores), max(len(scores), 3))
	copy(v, scores)
	for len(v) < 3 {
		v = append(v, 0)
	}
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// lookedAt reports whether b's centre is inside one of the regions (nil
// regions: the whole frame).
func lookedAt(b detect.Box, looked []image.Rectangle) bool {
	if looked == nil {
		return true
	}
	cx, cy := b.X+b.W/2, b.Y+b.H/2
	for _, r := range looked {
		if cx >= float64(r.Min.X) && cx < float64(r.Max.X) && cy >= float64(r.Min.Y) && cy < float64(r.Max.Y) {
			return true
		}
	}
	return false
}
