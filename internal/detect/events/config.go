package events

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits on a Config, so that a config from the web app cannot make the
// engine do unbounded work per frame.
const (
	MaxZones       = 64
	MaxZonePoints  = 256
	MaxRules       = 64
	MaxWindows     = 32
	MaxLabels      = 128
	MaxNameLen     = 64
	MaxInertia     = 100
	DefaultInertia = 3
	// DefaultEndAfter ends an event this long after its last activity.
	DefaultEndAfter = Duration(30 * time.Second)
	MinEndAfter     = Duration(time.Second)
	MaxEndAfter     = Duration(time.Hour)
)

// Config is one camera's zones, alert rules and event settings, as the
// hub's config file and the web app write it (JSON or YAML). Call Validate
// (New does) before use.
type Config struct {
	// Zones are named areas of the frame.
	Zones []Zone `json:"zones,omitempty" yaml:"zones,omitempty"`
	// Rules decide which events are alerts. Nil means DefaultRules
	// (person or car, anywhere, any time, any mode); an empty list means
	// no alerts at all.
	Rules []Rule `json:"rules" yaml:"rules"`
	// Labels are the labels whose true-positive tracks make events; empty
	// means every label the detector reports.
	Labels []string `json:"labels,omitempty" yaml:"labels,omitempty"`
	// RequireZone makes only objects that entered some zone count.
	RequireZone bool `json:"require_zone,omitempty" yaml:"require_zone,omitempty"`
	// EndAfter ends an event this long after its last activity (default
	// 30s).
	EndAfter Duration `json:"end_after,omitempty" yaml:"end_after,omitempty"`
}

// Zone is a named polygon in normalised frame coordinates: x and y in
// [0, 1], (0, 0) the top-left corner. An object is in the zone when the
// bottom-centre of its box has been inside the polygon for Inertia
// consecutive updates.
type Zone struct {
	Name   string       `json:"name" yaml:"name"`
	Points [][2]float64 `json:"points" yaml:"points"`
	// Labels limits the zone to these labels; empty means all.
	Labels []string `json:"labels,omitempty" yaml:"labels,omitempty"`
	// Inertia is the number of consecutive updates inside needed to
	// enter (default 3); leaving is immediate.
	Inertia int `json:"inertia,omitempty" yaml:"inertia,omitempty"`
}

// Rule makes an event an alert when one of its objects matches: a label in
// Labels (empty: any), in one of Zones (empty: anywhere), while Schedule
// is open (empty: always) and the household's mode suits Mode.
type Rule struct {
	Name     string   `json:"name" yaml:"name"`
	Labels   []string `json:"labels,omitempty" yaml:"labels,omitempty"`
	Zones    []string `json:"zones,omitempty" yaml:"zones,omitempty"`
	Schedule []Window `json:"schedule,omitempty" yaml:"schedule,omitempty"`
	Mode     RuleMode `json:"mode,omitempty" yaml:"mode,omitempty"`
}

// DefaultRules alert on people and cars, anywhere, at any time.
func DefaultRules() []Rule {
	return []Rule{{Name: "default", Labels: []string{"person", "car"}, Mode: Always}}
}

// Window is a weekly time range: from Start to End ("HH:MM", 24-hour, End
// may be "24:00") on each of Days ("mon".."sun"; empty means every day),
// in the engine's time zone. A window whose End is before its Start runs
// past midnight into the next day; Days name the day it starts.
type Window struct {
	Days  []string `json:"days,omitempty" yaml:"days,omitempty"`
	Start string   `json:"start" yaml:"start"`
	End   string   `json:"end" yaml:"end"`
}

// Mode is the household's current mode, an input to Engine.Update.
type Mode string

// The household's modes.
const (
	Home Mode = "home"
	Away Mode = "away"
)

// RuleMode says in which household modes a rule applies.
type RuleMode string

// Rule modes; the empty RuleMode means Always.
const (
	Always   RuleMode = "always"
	HomeOnly RuleMode = "home"
	AwayOnly RuleMode = "away"
)

// applies reports whether a rule with mode m applies in household mode cur.
func (m RuleMode) applies(cur Mode) bool {
	switch m {
	case "", Always:
		return true
	case HomeOnly:
		return cur == Home
	case AwayOnly:
		return cur == Away
	}
	return false
}

// Duration is a time.Duration written as "30s", "1m30s" in JSON and YAML.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	if len(b) > 32 {
		return errors.New("duration too long")
	}
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// FieldError is a config error at a field path such as
// "zones[1].points[3]".
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// ErrInvalid is wrapped by every error Validate returns.
var ErrInvalid = errors.New("invalid detection events config")

// Validate checks c and returns every problem, each a *FieldError naming
// the field, joined and wrapping ErrInvalid; nil when c is usable.
func (c *Config) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	names := map[string]bool{}
	if len(c.Zones) > MaxZones {
		add("zones", "%d zones, at most %d allowed", len(c.Zones), MaxZones)
	}
	for i, z := range c.Zones[:min(len(c.Zones), MaxZones)] {
		f := fmt.Sprintf("zones[%d]", i)
		if err := checkName(z.Name); err != nil {
			add(f+".name", "%v", err)
		} else if names[z.Name] {
			add(f+".name", "%q is used by another zone", z.Name)
		}
		names[z.Name] = true
		switch n := len(z.Points); {
		case n < 3:
			add(f+".points", "%d points, a zone needs at least 3", n)
		case n > MaxZonePoints:
			add(f+".points", "%d points, at most %d allowed", n, MaxZonePoints)
		default:
			for j, p := range z.Points {
				if !unit(p[0]) || !unit(p[1]) {
					add(fmt.Sprintf("%s.points[%d]", f, j), "[%g, %g] is outside the frame: coordinates are fractions of its width and height, from 0 to 1", p[0], p[1])
				}
			}
		}
		checkLabels(f+".labels", z.Labels, add)
		if z.Inertia < 0 || z.Inertia > MaxInertia {
			add(f+".inertia", "%d is out of range: use 1 to %d (0 means %d)", z.Inertia, MaxInertia, DefaultInertia)
		}
	}
	if len(c.Rules) > MaxRules {
		add("rules", "%d rules, at most %d allowed", len(c.Rules), MaxRules)
	}
	for i, r := range c.Rules[:min(len(c.Rules), MaxRules)] {
		f := fmt.Sprintf("rules[%d]", i)
		if err := checkName(r.Name); err != nil {
			add(f+".name", "%v", err)
		}
		checkLabels(f+".labels", r.Labels, add)
		if len(r.Zones) > MaxZones {
			add(f+".zones", "%d zones, at most %d allowed", len(r.Zones), MaxZones)
		}
		for j, z := range r.Zones[:min(len(r.Zones), MaxZones)] {
			if !names[z] {
				add(fmt.Sprintf("%s.zones[%d]", f, j), "no zone is named %q", z)
			}
		}
		if !r.Mode.valid() {
			add(f+".mode", "unknown mode %q: use always, home or away", r.Mode)
		}
		if len(r.Schedule) > MaxWindows {
			add(f+".schedule", "%d windows, at most %d allowed", len(r.Schedule), MaxWindows)
		}
		for j, w := range r.Schedule[:min(len(r.Schedule), MaxWindows)] {
			if _, err := w.parse(); err != nil {
				var fe *FieldError
				if errors.As(err, &fe) {
					add(fmt.Sprintf("%s.schedule[%d].%s", f, j, fe.Field), "%s", fe.Msg)
				}
			}
		}
	}
	checkLabels("labels", c.Labels, add)
	if c.EndAfter != 0 && (c.EndAfter < MinEndAfter || c.EndAfter > MaxEndAfter) {
		add("end_after", "%s is out of range: use %s to %s", time.Duration(c.EndAfter), time.Duration(MinEndAfter), time.Duration(MaxEndAfter))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
}

func (m RuleMode) valid() bool {
	switch m {
	case "", Always, HomeOnly, AwayOnly:
		return true
	}
	return false
}

func unit(v float64) bool { return v >= 0 && v <= 1 } // false for NaN

func checkName(s string) error {
	if s == "" {
		return errors.New("missing: give it a name")
	}
	if len(s) > MaxNameLen {
		return fmt.Errorf("longer than %d bytes", MaxNameLen)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return fmt.Errorf("%q holds a control character or invalid UTF-8", s)
		}
	}
	return nil
}

func checkLabels(field string, labels []string, add func(string, string, ...any)) {
	if len(labels) > MaxLabels {
		add(field, "%d labels, at most %d allowed", len(labels), MaxLabels)
		return
	}
	for i, l := range labels {
		if err := checkName(l); err != nil {
			add(fmt.Sprintf("%s[%d]", field, i), "%v", err)
		}
	}
}

// window is a parsed Window: minutes since midnight, days as a bit set
// indexed by time.Weekday.
type window struct {
	days       uint8
	start, end int
}

var (
	dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	dayFull  = [7]string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}
)

func (w Window) parse() (window, error) {
	var p window
	if len(w.Days) == 0 {
		p.days = 0x7f
	}
	if len(w.Days) > 7*4 {
		return p, &FieldError{"days", "too many days"}
	}
	for i, d := range w.Days {
		day := -1
		l := strings.ToLower(strings.TrimSpace(d))
		for n := range dayNames {
			if l == dayNames[n] || l == dayFull[n] {
				day = n
			}
		}
		if day < 0 {
			return p, &FieldError{fmt.Sprintf("days[%d]", i), fmt.Sprintf("unknown day %q: use mon, tue, wed, thu, fri, sat or sun", d)}
		}
		p.days |= 1 << day
	}
	var err error
	if p.start, err = clock(w.Start, false); err != nil {
		return p, &FieldError{"start", err.Error()}
	}
	if p.end, err = clock(w.End, true); err != nil {
		return p, &FieldError{"end", err.Error()}
	}
	if p.start == p.end {
		return p, &FieldError{"end", fmt.Sprintf("%q is the same as start: for a whole day use 00:00 to 24:00", w.End)}
	}
	return p, nil
}

// clock parses "HH:MM" into minutes since midnight; "24:00" only when
// allow24.
func clock(s string, allow24 bool) (int, error) {
	bad := fmt.Errorf("%q is not a time of day: use HH:MM, 00:00 to 23:59", s)
	if len(s) != 5 || s[2] != ':' {
		return 0, bad
	}
	h, err1 := strconv.Atoi(s[:2])
	m, err2 := strconv.Atoi(s[3:])
	if err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || s[0] == '+' || s[3] == '+' {
		return 0, bad
	}
	if h == 24 && m == 0 && allow24 {
		return 24 * 60, nil
	}
	if h > 23 {
		return 0, bad
	}
	return h*60 + m, nil
}

// open reports whether the window is open at t (already in the engine's
// time zone).
func (w window) open(t time.Time) bool {
	m := t.Hour()*60 + t.Minute()
	day := t.Weekday()
	on := func(d time.Weekday) bool { return w.days&(1<<d) != 0 }
	if w.start < w.end {
		return on(day) && m >= w.start && m < w.end
	}
	// Runs past midnight.
	return on(day) && m >= w.start || on((day+6)%7) && m < w.end
}
