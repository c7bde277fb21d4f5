package events

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"vigil/internal/detect"
	"vigil/internal/detect/track"
)

const (
	frameW, frameH = 1000, 500
	fps            = 5
)

// Monday 4 May 2026, noon UTC.
var t0 = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Second / fps) }

// obj is a true-positive track whose box's bottom-centre is at the
// normalised point (x, y).
func obj(id uint64, label string, x, y float64) *track.Track {
	b := detect.Box{X: x*frameW - 20, Y: y*frameH - 100, W: 40, H: 100}
	return &track.Track{ID: id, Label: label, Box: b, Score: 0.9, Confirmed: true, TruePositive: true,
		FirstSeen: t0, Best: track.Best{Score: 0.9, Box: b, Time: t0, Frame: 1}}
}

func newEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	e, err := New(Options{Camera: "front", Config: cfg, Width: frameW, Height: frameH})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func kinds(cs []Change) []Kind {
	var k []Kind
	for _, c := range cs {
		k = append(k, c.Kind)
	}
	return k
}

// A U shape: the notch between the arms (x 0.4..0.6, y 0..0.75) is outside.
var uShape = [][2]float64{{0.2, 0}, {0.4, 0}, {0.4, 0.75}, {0.6, 0.75}, {0.6, 0}, {0.8, 0}, {0.8, 1}, {0.2, 1}}

func TestContainsConcave(t *testing.T) {
	for _, tc := range []struct {
		x, y float64
		want bool
	}{
		{0.3, 0.1, true},  // left arm
		{0.7, 0.1, true},  // right arm
		{0.5, 0.3, false}, // in the notch
		{0.5, 0.9, true},  // the base
		{0.1, 0.5, false}, // left of it
		{0.9, 0.5, false}, // right of it
		{0.5, 0.74, false},
		{0.5, 0.76, true},
		{0.5, 1.01, false},
	} {
		if got := Contains(uShape, tc.x, tc.y); got != tc.want {
			t.Errorf("Contains(U, %v, %v) = %v, want %v", tc.x, tc.y, got, tc.want)
		}
	}
	if Contains(uShape[:2], 0.3, 0.0) {
		t.Error("a two-point polygon contains a point")
	}
}

func TestZoneBottomCentreAndInertia(t *testing.T) {
	e := newEngine(t, Config{Zones: []Zone{{Name: "yard", Points: uShape}}})
	// The box's centre is in the notch but its feet are in the base.
	tr := obj(1, "person", 0.5, 0.8) // box from y 0.6 to 0.8
	if cx, cy := (tr.Box.X+tr.Box.W/2)/frameW, (tr.Box.Y+tr.Box.H/2)/frameH; Contains(uShape, cx, cy) {
		t.Fatalf("test setup: box centre (%v, %v) should be outside", cx, cy)
	}
	for i := range 2 {
		e.Update(at(i), []*track.Track{tr}, Home)
		if z := e.InZones(1); len(z) != 0 {
			t.Fatalf("in %v after %d updates, inertia is 3", z, i+1)
		}
	}
	e.Update(at(2), []*track.Track{tr}, Home)
	if z := e.InZones(1); len(z) != 1 || z[0] != "yard" {
		t.Fatalf("after 3 updates in zones %v, want yard", z)
	}
	// Feet in the notch: out at once.
	e.Update(at(3), []*track.Track{obj(1, "person", 0.5, 0.3)}, Home)
	if z := e.InZones(1); len(z) != 0 {
		t.Fatalf("still in %v after leaving", z)
	}
	// In, out, in, in: the run restarts.
	for i, y := range []float64{0.8, 0.3, 0.8, 0.8} { // in, out, in, in
		e.Update(at(4+i), []*track.Track{obj(1, "person", 0.5, y)}, Home)
	}
	if z := e.InZones(1); len(z) != 0 {
		t.Fatalf("interrupted run entered %v", z)
	}
	ev, _ := e.Current()
	if len(ev.Zones) != 1 {
		t.Errorf("the event's zones %v, want the yard it entered", ev.Zones)
	}
}

func TestZoneCustomInertiaAndLabels(t *testing.T) {
	square := [][2]float64{{0, 0}, {1, 0}, {1, 1}, {0, 1}}
	e := newEngine(t, Config{Zones: []Zone{
		{Name: "drive", Points: square, Labels: []string{"car"}, Inertia: 1},
		{Name: "all", Points: square, Inertia: 2},
	}})
	e.Update(at(0), []*track.Track{obj(1, "person", 0.5, 0.5), obj(2, "car", 0.5, 0.5)}, Home)
	if z := e.InZones(2); len(z) != 1 || z[0] != "drive" {
		t.Errorf("car in %v, want drive", z)
	}
	if z := e.InZones(1); len(z) != 0 {
		t.Errorf("person in %v after one update", z)
	}
	e.Update(at(1), []*track.Track{obj(1, "person", 0.5, 0.5), obj(2, "car", 0.5, 0.5)}, Home)
	if z := e.InZones(1); len(z) != 1 || z[0] != "all" {
		t.Errorf("person in %v, want only all (drive is for cars)", z)
	}
}

func TestScheduleWindows(t *testing.T) {
	day := func(wd time.Weekday, hhmm string) time.Time {
		d := time.Date(2026, 5, 3, 0, 0, 0, 0, time.UTC) // a Sunday
		c, err := clock(hhmm, false)
		if err != nil {
			t.Fatal(err)
		}
		return d.AddDate(0, 0, int(wd)).Add(time.Duration(c) * time.Minute)
	}
	office, err := Window{Days: []string{"mon", "Tuesday", "wed", "thu", "FRI"}, Start: "08:00", End: "17:00"}.parse()
	if err != nil {
		t.Fatal(err)
	}
	night, err := Window{Days: []string{"fri"}, Start: "22:00", End: "06:00"}.parse()
	if err != nil {
		t.Fatal(err)
	}
	evening, err := Window{Start: "18:00", End: "24:00"}.parse()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		w    window
		t    time.Time
		want bool
	}{
		{"before opening", office, day(time.Monday, "07:59"), false},
		{"at opening", office, day(time.Monday, "08:00"), true},
		{"last minute", office, day(time.Friday, "16:59"), true},
		{"at closing", office, day(time.Friday, "17:00"), false},
		{"weekend", office, day(time.Saturday, "12:00"), false},
		{"night starts", night, day(time.Friday, "22:00"), true},
		{"before night", night, day(time.Friday, "21:59"), false},
		{"after midnight", night, day(time.Saturday, "00:00"), true},
		{"last minute of night", night, day(time.Saturday, "05:59"), true},
		{"night over", night, day(time.Saturday, "06:00"), false},
		{"saturday night is not friday's", night, day(time.Saturday, "23:00"), false},
		{"friday early morning is thursday's night", night, day(time.Friday, "03:00"), false},
		{"until midnight", evening, day(time.Sunday, "23:59"), true},
		{"not after midnight", evening, day(time.Monday, "00:00"), false},
	} {
		if got := tc.w.open(tc.t); got != tc.want {
			t.Errorf("%s: open(%s) = %v, want %v", tc.name, tc.t.Format("Mon 15:04"), got, tc.want)
		}
	}
}

func TestScheduleUsesLocation(t *testing.T) {
	cfg := Config{Rules: []Rule{{Name: "night", Labels: []string{"person"}, Schedule: []Window{{Start: "22:00", End: "06:00"}}}}}
	// 23:00 UTC is 01:00 the next day at UTC+2, and 21:00 at UTC-2.
	now := time.Date(2026, 5, 4, 23, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		loc  *time.Location
		want bool
	}{
		{time.UTC, true},
		{time.FixedZone("east", 2*3600), true},
		{time.FixedZone("west", -2*3600), false},
	} {
		e, err := New(Options{Config: cfg, Width: frameW, Height: frameH, Location: tc.loc})
		if err != nil {
			t.Fatal(err)
		}
		cs := e.Update(now, []*track.Track{obj(1, "person", 0.5, 0.5)}, Home)
		if len(cs) != 1 || cs[0].Event.Alert != tc.want {
			t.Errorf("%s: changes %+v, want alert %v", tc.loc, cs, tc.want)
		}
	}
}

func TestHomeAway(t *testing.T) {
	rules := []Rule{
		{Name: "away", Labels: []string{"person"}, Mode: AwayOnly},
		{Name: "home-car", Labels: []string{"car"}, Mode: HomeOnly},
		{Name: "dog", Labels: []string{"dog"}, Mode: Always},
	}
	for _, tc := range []struct {
		label string
		mode  Mode
		rule  string
	}{
		{"person", Away, "away"},
		{"person", Home, ""},
		{"car", Home, "home-car"},
		{"car", Away, ""},
		{"dog", Home, "dog"},
		{"dog", Away, "dog"},
		{"person", "", ""},
		{"dog", "", "dog"},
	} {
		e := newEngine(t, Config{Rules: rules})
		cs := e.Update(t0, []*track.Track{obj(1, tc.label, 0.5, 0.5)}, tc.mode)
		if len(cs) != 1 || cs[0].Kind != Started {
			t.Fatalf("%s/%s: changes %v", tc.label, tc.mode, kinds(cs))
		}
		if ev := cs[0].Event; ev.Alert != (tc.rule != "") || ev.Rule != tc.rule {
			t.Errorf("%s in mode %q: alert %v rule %q, want rule %q", tc.label, tc.mode, ev.Alert, ev.Rule, tc.rule)
		}
	}
}

func TestRuleZones(t *testing.T) {
	cfg := Config{
		Zones: []Zone{{Name: "porch", Points: [][2]float64{{0, 0.5}, {0.5, 0.5}, {0.5, 1}, {0, 1}}}},
		Rules: []Rule{{Name: "porch", Labels: []string{"person"}, Zones: []string{"porch"}}},
	}
	e := newEngine(t, cfg)
	var alertAt = -1
	for i := range 10 {
		x := 0.9 - 0.1*float64(i) // walks left into the porch at x < 0.5
		for _, c := range e.Update(at(i), []*track.Track{obj(1, "person", x, 0.9)}, Away) {
			if c.Event.Alert && alertAt < 0 {
				alertAt = i
			}
		}
	}
	// Inside from i = 5 (x = 0.4); three updates in make the alert at i = 7.
	if alertAt != 7 {
		t.Errorf("alert at update %d, want 7", alertAt)
	}
}

func TestEventEndsAfterQuiet(t *testing.T) {
	e := newEngine(t, Config{})
	var started Event
	for i := range 10 {
		cs := e.Update(at(i), []*track.Track{obj(1, "person", 0.5, 0.5)}, Home)
		if i == 0 {
			if len(cs) != 1 || cs[0].Kind != Started {
				t.Fatalf("first update: %v", kinds(cs))
			}
			started = cs[0].Event
		}
	}
	last := at(9)
	for i := 10; ; i++ {
		cs := e.Update(at(i), nil, Home)
		quiet := at(i).Sub(last)
		if len(cs) == 0 {
			if quiet >= 30*time.Second {
				t.Fatalf("still open after %s quiet", quiet)
			}
			continue
		}
		if len(cs) != 1 || cs[0].Kind != Ended {
			t.Fatalf("changes %v", kinds(cs))
		}
		if quiet < 30*time.Second {
			t.Fatalf("ended after only %s quiet", quiet)
		}
		ev := cs[0].Event
		if ev.ID != started.ID || !ev.Start.Equal(t0) || !ev.End.Equal(last) {
			t.Errorf("ended event %s %s..%s, want %s %s..%s", ev.ID, ev.Start, ev.End, started.ID, t0, last)
		}
		break
	}
	if _, open := e.Current(); open {
		t.Error("event still current after it ended")
	}
	// The next activity is a new event.
	cs := e.Update(at(1000), []*track.Track{obj(2, "person", 0.5, 0.5)}, Home)
	if len(cs) != 1 || cs[0].Kind != Started || cs[0].Event.ID == started.ID {
		t.Errorf("new activity: %v", cs)
	}
}

func TestConfiguredEndAfter(t *testing.T) {
	e := newEngine(t, Config{EndAfter: Duration(5 * time.Second)})
	e.Update(at(0), []*track.Track{obj(1, "person", 0.5, 0.5)}, Home)
	if cs := e.Update(at(24), nil, Home); len(cs) != 0 {
		t.Fatalf("ended after 4.8 s: %v", kinds(cs))
	}
	if cs := e.Update(at(25), nil, Home); len(cs) != 1 || cs[0].Kind != Ended {
		t.Fatalf("not ended after 5 s: %v", kinds(cs))
	}
}

func TestOverlappingTracksFormOneEvent(t *testing.T) {
	e := newEngine(t, Config{})
	var evs []Event
	for i := range 400 {
		var ts []*track.Track
		if i < 25 {
			ts = append(ts, obj(1, "person", 0.2, 0.5))
		}
		if i >= 15 && i < 50 {
			ts = append(ts, obj(2, "car", 0.7, 0.5))
		}
		for _, c := range e.Update(at(i), ts, Home) {
			if c.Kind == Ended {
				evs = append(evs, c.Event)
			}
		}
	}
	if len(evs) != 1 {
		t.Fatalf("%d events, want one", len(evs))
	}
	ev := evs[0]
	if len(ev.Tracks) != 2 || strings.Join(ev.Labels, ",") != "person,car" || !ev.End.Equal(at(49)) {
		t.Errorf("event %+v", ev)
	}
	if !ev.Alert || ev.Rule != "default" {
		t.Errorf("a person makes an alert under the default rules: %+v", ev)
	}
}

func TestNonAlertLabel(t *testing.T) {
	e := newEngine(t, Config{Rules: []Rule{{Name: "people", Labels: []string{"person"}}}})
	cs := e.Update(t0, []*track.Track{obj(1, "car", 0.5, 0.5)}, Away)
	if len(cs) != 1 || cs[0].Kind != Started {
		t.Fatalf("a car made no event: %v", kinds(cs))
	}
	if cs[0].Event.Alert {
		t.Error("a car is an alert when the rule says person")
	}
	// A person joining the event makes it one.
	cs = e.Update(at(1), []*track.Track{obj(1, "car", 0.5, 0.5), obj(2, "person", 0.2, 0.5)}, Away)
	if len(cs) != 1 || cs[0].Kind != Updated || !cs[0].Event.Alert || cs[0].Event.Rule != "people" {
		t.Errorf("a person joined: %+v", cs)
	}
	// No rules at all: events but never alerts.
	e = newEngine(t, Config{Rules: []Rule{}})
	if cs := e.Update(t0, []*track.Track{obj(1, "person", 0.5, 0.5)}, Away); len(cs) != 1 || cs[0].Event.Alert {
		t.Errorf("empty rules: %+v", cs)
	}
}

func TestWhatStartsAnEvent(t *testing.T) {
	notTP := obj(1, "person", 0.5, 0.5)
	notTP.TruePositive = false
	parked := obj(2, "car", 0.5, 0.5)
	parked.Stationary = true
	ended := obj(3, "person", 0.5, 0.5)
	ended.Ended = true
	e := newEngine(t, Config{Labels: []string{"person", "car"}})
	for i := range 10 {
		if cs := e.Update(at(i), []*track.Track{notTP, parked, ended, obj(4, "bird", 0.5, 0.5)}, Away); len(cs) != 0 {
			t.Fatalf("false positive, parked car, ended track or unlisted label made %v", kinds(cs))
		}
	}

	// With RequireZone, only objects that entered a zone count.
	e = newEngine(t, Config{RequireZone: true, Zones: []Zone{{Name: "gate", Points: [][2]float64{{0, 0}, {0.3, 0}, {0.3, 1}, {0, 1}}}}})
	for i := range 10 {
		if cs := e.Update(at(i), []*track.Track{obj(1, "person", 0.6, 0.5)}, Away); len(cs) != 0 {
			t.Fatalf("object outside every zone made %v", kinds(cs))
		}
	}
	var got []Kind
	for i := 10; i < 13; i++ {
		got = append(got, kinds(e.Update(at(i), []*track.Track{obj(1, "person", 0.2, 0.5)}, Away))...)
	}
	if len(got) != 1 || got[0] != Started {
		t.Errorf("entering the zone made %v, want one start at the third update", got)
	}
}

func TestStationaryObjectLetsEventEnd(t *testing.T) {
	e := newEngine(t, Config{})
	car := obj(1, "car", 0.5, 0.5)
	e.Update(at(0), []*track.Track{car}, Home)
	parked := *car
	parked.Stationary = true
	var ended bool
	for i := 1; i < 200 && !ended; i++ {
		for _, c := range e.Update(at(i), []*track.Track{&parked}, Home) {
			ended = ended || c.Kind == Ended
		}
	}
	if !ended {
		t.Error("a parked car keeps its event open")
	}
}

func TestBestSnapshotAndIDs(t *testing.T) {
	e := newEngine(t, Config{})
	small := obj(1, "person", 0.2, 0.5)
	big := obj(2, "person", 0.7, 0.5)
	big.Best.Box.W, big.Best.Box.H, big.Best.Score, big.Best.Frame = 80, 200, 0.8, 7
	e.Update(t0, []*track.Track{small, big}, Home)
	ev, ok := e.Current()
	if !ok || ev.Best.TrackID != 2 || ev.Best.Frame != 7 || ev.Best.Label != "person" {
		t.Errorf("best %+v, want track 2's big view", ev.Best)
	}
	if b, err := hex.DecodeString(ev.ID); err != nil || len(b) != 16 {
		t.Errorf("ID %q is not 128 bits of hex", ev.ID)
	}
	ids := map[string]bool{}
	for range 100 {
		ids[newID()] = true
	}
	if len(ids) != 100 {
		t.Error("event IDs repeat")
	}
	if ev.Camera != "front" {
		t.Errorf("camera %q", ev.Camera)
	}
}

// TestWithTracker runs a person walking across the frame through the
// tracker and the engine.
func TestWithTracker(t *testing.T) {
	tr := track.New(track.Config{})
	e := newEngine(t, Config{
		Zones: []Zone{{Name: "path", Points: [][2]float64{{0.4, 0}, {0.6, 0}, {0.6, 1}, {0.4, 1}}}},
		Rules: []Rule{{Name: "path", Labels: []string{"person"}, Zones: []string{"path"}}},
	})
	var log []Change
	for i := range 300 {
		var dets []detect.Detection
		if i < 50 {
			dets = append(dets, detect.Detection{Label: "person", Score: 0.8, Box: detect.Box{X: 50 + 18*float64(i), Y: 300, W: 40, H: 100}})
		}
		log = append(log, e.Update(at(i), tr.Update(at(i), dets), Away)...)
	}
	if len(log) < 2 || log[0].Kind != Started || log[len(log)-1].Kind != Ended {
		t.Fatalf("changes %v", kinds(log))
	}
	ev := log[len(log)-1].Event
	if !ev.Alert || len(ev.Zones) != 1 || ev.Zones[0] != "path" || len(ev.Tracks) != 1 {
		t.Errorf("event %+v", ev)
	}
	if ev.Start.After(at(3)) || ev.End.Before(at(45)) || ev.End.After(at(49)) {
		t.Errorf("event spans %s..%s, the person was there 0..%s", ev.Start.Sub(t0), ev.End.Sub(t0), at(49).Sub(t0))
	}
}

const exampleJSON = `{
  "zones": [{"name": "driveway", "points": [[0.1,0.5],[0.9,0.5],[0.9,1],[0.1,1]], "labels": ["person","car"], "inertia": 3}],
  "rules": [{"name": "night", "labels": ["person"], "zones": ["driveway"], "mode": "away",
             "schedule": [{"days": ["mon","tue"], "start": "22:00", "end": "06:00"}]}],
  "end_after": "40s"
}`

const exampleYAML = `
zones:
  - name: driveway
    points: [[0.1, 0.5], [0.9, 0.5], [0.9, 1], [0.1, 1]]
    labels: [person, car]
    inertia: 3
rules:
  - name: night
    labels: [person]
    zones: [driveway]
    mode: away
    schedule:
      - days: [mon, tue]
        start: "22:00"
        end: "06:00"
end_after: 40s
`

func TestConfigJSONAndYAML(t *testing.T) {
	var fromJSON, fromYAML Config
	if err := json.Unmarshal([]byte(exampleJSON), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(exampleYAML), &fromYAML); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{"json": fromJSON, "yaml": fromYAML} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if len(c.Zones) != 1 || len(c.Zones[0].Points) != 4 || c.Zones[0].Points[2] != [2]float64{0.9, 1} ||
			c.EndAfter != Duration(40*time.Second) || c.Rules[0].Mode != AwayOnly || c.Rules[0].Schedule[0].End != "06:00" {
			t.Errorf("%s decoded as %+v", name, c)
		}
	}
	out, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var again Config
	if err := json.Unmarshal(out, &again); err != nil || again.EndAfter != fromYAML.EndAfter {
		t.Errorf("round trip: %s: %v", out, err)
	}
}

var badConfigs = []struct {
	name, field string
	cfg         Config
}{
	{"two points", "zones[0].points", Config{Zones: []Zone{{Name: "a", Points: [][2]float64{{0, 0}, {1, 1}}}}}},
	{"outside the frame", "zones[0].points[1]", Config{Zones: []Zone{{Name: "a", Points: [][2]float64{{0, 0}, {1.2, 0}, {1, 1}}}}}},
	{"negative", "zones[0].points[2]", Config{Zones: []Zone{{Name: "a", Points: [][2]float64{{0, 0}, {1, 0}, {-0.1, 1}}}}}},
	{"no zone name", "zones[0].name", Config{Zones: []Zone{{Points: [][2]float64{{0, 0}, {1, 0}, {1, 1}}}}}},
	{"duplicate zone", "zones[1].name", Config{Zones: []Zone{{Name: "a", Points: [][2]float64{{0, 0}, {1, 0}, {1, 1}}}, {Name: "a", Points: [][2]float64{{0, 0}, {1, 0}, {1, 1}}}}}},
	{"inertia", "zones[0].inertia", Config{Zones: []Zone{{Name: "a", Points: [][2]float64{{0, 0}, {1, 0}, {1, 1}}, Inertia: -1}}}},
	{"unknown mode", "rules[0].mode", Config{Rules: []Rule{{Name: "r", Mode: "vacation"}}}},
	{"unknown zone", "rules[0].zones[0]", Config{Rules: []Rule{{Name: "r", Zones: []string{"garden"}}}}},
	{"25:00", "rules[0].schedule[0].start", Config{Rules: []Rule{{Name: "r", Schedule: []Window{{Start: "25:00", End: "06:00"}}}}}},
	{"minutes", "rules[0].schedule[0].end", Config{Rules: []Rule{{Name: "r", Schedule: []Window{{Start: "22:00", End: "06:60"}}}}}},
	{"24:00 start", "rules[0].schedule[0].start", Config{Rules: []Rule{{Name: "r", Schedule: []Window{{Start: "24:00", End: "06:00"}}}}}},
	{"empty window", "rules[0].schedule[0].end", Config{Rules: []Rule{{Name: "r", Schedule: []Window{{Start: "06:00", End: "06:00"}}}}}},
	{"bad day", "rules[0].schedule[0].days[1]", Config{Rules: []Rule{{Name: "r", Schedule: []Window{{Days: []string{"mon", "funday"}, Start: "06:00", End: "07:00"}}}}}},
	{"no rule name", "rules[0].name", Config{Rules: []Rule{{}}}},
	{"end_after", "end_after", Config{EndAfter: Duration(time.Millisecond)}},
	{"label", "labels[0]", Config{Labels: []string{""}}},
}

func TestValidateNamesTheField(t *testing.T) {
	for _, tc := range badConfigs {
		err := tc.cfg.Validate()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v does not wrap ErrInvalid", tc.name, err)
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: %v, want the field %s named", tc.name, err, tc.field)
		}
		if _, err := New(Options{Config: tc.cfg, Width: 10, Height: 10}); err == nil {
			t.Errorf("%s: New accepted it", tc.name)
		}
	}
	var ok Config
	if err := json.Unmarshal([]byte(exampleJSON), &ok); err != nil {
		t.Fatal(err)
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	if _, err := New(Options{Config: ok}); !errors.Is(err, detect.ErrFrameSize) {
		t.Errorf("no frame size: %v", err)
	}
}

func TestStaleTrackStartsNoEvent(t *testing.T) {
	e := newEngine(t, Config{EndAfter: Duration(2 * time.Second)})
	stale := obj(1, "person", 0.5, 0.5)
	stale.LastSeen = t0
	for i := range 10 {
		if cs := e.Update(t0.Add(3*time.Second+time.Duration(i)*time.Second), []*track.Track{stale}, Away); len(cs) != 0 {
			t.Fatalf("a track unseen for longer than EndAfter made %v", kinds(cs))
		}
	}
	// Seen 1 s ago: the event starts no later than that, and ends 2 s
	// after it.
	stale.FirstSeen, stale.LastSeen = t0.Add(-time.Hour), t0.Add(-time.Second)
	cs := e.Update(t0, []*track.Track{stale}, Away)
	if len(cs) != 1 || cs[0].Kind != Started {
		t.Fatalf("changes %v", kinds(cs))
	}
	if ev := cs[0].Event; ev.Start.Before(t0.Add(-2*time.Second)) || ev.Start.After(t0.Add(-time.Second)) {
		t.Errorf("event starts %s before now, want between 1 s and EndAfter", t0.Sub(ev.Start))
	}
	cs = e.Update(t0.Add(time.Second), []*track.Track{stale}, Away)
	if len(cs) != 1 || cs[0].Kind != Ended || cs[0].Event.End.Before(cs[0].Event.Start) {
		t.Fatalf("changes %+v", cs)
	}
}

func TestFlushEndsOpenEvent(t *testing.T) {
	e := newEngine(t, Config{})
	if cs := e.Flush(); len(cs) != 0 {
		t.Fatalf("flush with no event: %v", kinds(cs))
	}
	e.Update(at(0), []*track.Track{obj(1, "person", 0.5, 0.5)}, Home)
	e.Update(at(3), []*track.Track{obj(1, "person", 0.5, 0.5)}, Home)
	cs := e.Flush()
	if len(cs) != 1 || cs[0].Kind != Ended || !cs[0].Event.End.Equal(at(3)) {
		t.Fatalf("flush: %+v", cs)
	}
	if _, open := e.Current(); open {
		t.Error("event still open after Flush")
	}
}
