package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"vigil/internal/detect"
	"vigil/internal/detect/events"
	"vigil/internal/detect/pipeline"
	"vigil/internal/yamlconf/yamlconftest"
)

// TestDefaultsTable applies the table to a Hub with every section it reaches
// and checks each key got its value, and that a value the file gave is
// kept.
func TestDefaultsTable(t *testing.T) {
	h := &Hub{
		Cameras: []Camera{
			{Name: "a", Detect: &Detect{Events: events.Config{Zones: []events.Zone{{Name: "z"}}, Rules: []events.Rule{{Name: "r"}}}}, Doorbell: &Doorbell{}},
			{Name: "b", Transport: TransportTCP, Detect: &Detect{Width: 320, Labels: []string{"cat"}, MinScore: 0.7}},
			{Name: "c"},
		},
		Detection: &Detection{},
		Cloud:     &Cloud{},
	}
	h.ApplyDefaults()
	a, b, c := h.Cameras[0], h.Cameras[1], h.Cameras[2]
	for _, tc := range []struct {
		key       string
		got, want any
	}{
		{"segment_duration", h.SegmentDuration, DefaultSegmentDuration},
		{"log_level", h.LogLevel, "info"},
		{"cameras[0].transport", a.Transport, TransportAuto},
		{"cameras[1].transport", b.Transport, TransportTCP},
		{"cameras[2].transport", c.Transport, TransportAuto},
		{"cameras[0].detect.width", a.Detect.Width, 640},
		{"cameras[1].detect.width", b.Detect.Width, 320},
		{"cameras[0].detect.fps", a.Detect.FPS, 5.0},
		{"cameras[0].detect.min_score", a.Detect.MinScore, pipeline.DefaultMinScore},
		{"cameras[1].detect.min_score", b.Detect.MinScore, 0.7},
		{"cameras[0].detect.labels", a.Detect.Labels, detect.DefaultLabels()},
		{"cameras[1].detect.labels", b.Detect.Labels, []string{"cat"}},
		{"cameras[0].detect.events.zones[0].inertia", a.Detect.Events.Zones[0].Inertia, events.DefaultInertia},
		{"cameras[0].detect.events.end_after", a.Detect.Events.EndAfter, events.DefaultEndAfter},
		{"cameras[0].detect.events.rules[0].mode", a.Detect.Events.Rules[0].Mode, events.Always},
		{"cameras[0].doorbell.interval", a.Doorbell.Interval, DefaultDoorbellInterval},
		{"cameras[2].detect", c.Detect, (*Detect)(nil)},
		{"detection.onnx_input", h.Detection.ONNXInput, 640},
		{"detection.detector", h.Detection.Detector, "nanodet"},
		{"detection.mode", h.Detection.Mode, "home"},
		{"cloud.upload_order", h.Cloud.UploadOrder, UploadOldest},
		{"log", h.Log, (*Log)(nil)},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.key, tc.got, tc.want)
		}
	}
	// The defaults give a Hub that validates.
	v := &Hub{Data: "/d", Recipients: []string{"vigr1x"}, Detection: &Detection{}, Cloud: &Cloud{URL: "https://cloud.example.com"},
		Cameras: []Camera{{Name: "a", URL: "rtsp://h/", Detect: &Detect{}}}}
	v.ApplyDefaults()
	if err := v.Validate(nil); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
}

// TestDefaultsDocumented checks docs/CONFIG.md's Default column against
// the table: each default's row shows its value, and every row of the
// hub's keys whose default is a plain value (`4s`, `home`) is a key of
// the table, so a default added in code or in the docs alone fails here.
func TestDefaultsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	hub, _, _ := strings.Cut(string(doc), "\n## Cloud service")
	rows := map[string]string{} // key (lists without the trailing []) -> default cell
	row := regexp.MustCompile("(?m)^\\| `([a-z_.\\[\\]]+)` \\| [^|]* \\| ([^|]*) \\|")
	for _, m := range row.FindAllStringSubmatch(hub, -1) {
		rows[strings.TrimSuffix(m[1], "[]")] = strings.TrimSpace(m[2])
	}
	if len(rows) < 50 {
		t.Fatalf("found %d key rows in docs/CONFIG.md; has the table's layout changed?", len(rows))
	}
	inTable := map[string]bool{}
	for _, d := range Defaults() {
		inTable[d.Key] = true
		cell, ok := rows[d.Key]
		if !ok {
			t.Errorf("docs/CONFIG.md has no row for `%s` (default %s)", d.Key, d.Value)
			continue
		}
		want := strings.Trim(d.Value, "[]")
		if !strings.Contains(strings.ReplaceAll(cell, "`", ""), want) {
			t.Errorf("docs/CONFIG.md: `%s`'s default is %q, the table's is %q", d.Key, cell, d.Value)
		}
	}
	// Plain-value defaults: one backquoted value, not zero or false
	// (the zero value needs no default) and not "required".
	plain := regexp.MustCompile("^`([^`]+)`$")
	for key, cell := range rows {
		m := plain.FindStringSubmatch(cell)
		if m == nil || m[1] == "0" || m[1] == "false" || inTable[key] {
			continue
		}
		t.Errorf("docs/CONFIG.md gives `%s` the default %s, which config.Defaults does not have", key, cell)
	}
}

// TestWebDefaultLabels checks the web app's zones page against the one
// list of default labels and the default lowest score: its ticked labels
// and score are what a camera without settings uses.
func TestWebDefaultLabels(t *testing.T) {
	src, err := os.ReadFile("../../web/src/zones/model.ts")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`export const COMMON_LABELS = \[([^\]]*)\]`).FindSubmatch(src)
	if m == nil {
		t.Fatal("web/src/zones/model.ts has no COMMON_LABELS")
	}
	var web []string
	for l := range strings.SplitSeq(string(m[1]), ",") {
		web = append(web, strings.Trim(strings.TrimSpace(l), `'"`))
	}
	if !slices.Equal(web, detect.DefaultLabels()) {
		t.Errorf("web COMMON_LABELS = %v, detect.DefaultLabels() = %v", web, detect.DefaultLabels())
	}
	s := regexp.MustCompile(`export const DEFAULT_MIN_SCORE = ([0-9.]+);`).FindSubmatch(src)
	if s == nil || string(s[1]) != strconv.FormatFloat(pipeline.DefaultMinScore, 'g', -1, 64) {
		t.Errorf("web DEFAULT_MIN_SCORE = %s, pipeline.DefaultMinScore = %g", s, pipeline.DefaultMinScore)
	}
}

// TestDefaultsTableKeys: every key of the table is a key of the file.
func TestDefaultsTableKeys(t *testing.T) {
	keys := yamlconftest.Keys(reflect.TypeFor[Hub]())
	for _, d := range Defaults() {
		if !slices.Contains(keys, d.Key) && !slices.Contains(keys, d.Key+"[]") {
			t.Errorf("default %s names no key of Hub", d.Key)
		}
	}
}
