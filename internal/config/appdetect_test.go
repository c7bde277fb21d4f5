package config

import (
	"strings"
	"testing"

	"vigil/internal/detect/events"
)

// TestAppDetect: the zones and masks the web app sends are parsed strictly,
// bounded, checked like the config file's, and must keep every zone a rule
// of the config file names.
func TestAppDetect(t *testing.T) {
	tri := [][2]float64{{0, 0}, {1, 0}, {1, 1}}
	d := Detect{Mask: [][][2]float64{tri}}
	d.Events.Zones = []events.Zone{{Name: "porch", Points: tri}}
	d.Events.Rules = []events.Rule{{Name: "porch people", Labels: []string{"person"}, Zones: []string{"porch"}}}

	if got := d.AppDetect(); len(got.Mask) != 1 || len(got.Zones) != 1 || got.Zones[0].Name != "porch" {
		t.Fatalf("AppDetect of the config: %+v", got)
	}
	if got := (*Detect)(nil).AppDetect(); got.Mask == nil || got.Zones == nil || len(got.Mask)+len(got.Zones) != 0 {
		t.Fatalf("AppDetect of no detection: %+v", got)
	}

	moved, err := d.With(AppDetect{Zones: []events.Zone{{Name: "porch", Points: [][2]float64{{0, 0}, {0.5, 0}, {0.5, 1}}}}})
	if err != nil {
		t.Fatalf("a moved porch: %v", err)
	}
	if len(moved.Mask) != 0 || moved.Events.Zones[0].Points[1][0] != 0.5 || len(moved.Events.Rules) != 1 || d.Events.Zones[0].Points[1][0] != 1 {
		t.Fatalf("With: %+v (config now %+v)", moved, d)
	}

	// Labels and the score replace the config file's only when set.
	d.Labels, d.MinScore = []string{"person", "car"}, 0.5
	if kept, err := d.With(AppDetect{Zones: d.Events.Zones}); err != nil || len(kept.Labels) != 2 || kept.MinScore != 0.5 {
		t.Fatalf("unset labels and score: %+v, %v", kept, err)
	}
	if set, err := d.With(AppDetect{Zones: d.Events.Zones, Labels: []string{"cat"}, MinScore: 0.7}); err != nil || len(set.Labels) != 1 || set.Labels[0] != "cat" || set.MinScore != 0.7 {
		t.Fatalf("set labels and score: %+v, %v", set, err)
	}

	for name, tc := range map[string]struct {
		a    AppDetect
		want string
	}{
		"the rule's zone dropped": {AppDetect{Zones: []events.Zone{{Name: "garden", Points: tri}}}, `no zone is named "porch"`},
		"a point off the frame":   {AppDetect{Mask: [][][2]float64{{{0, 0}, {1, 2}, {1, 1}}}, Zones: d.Events.Zones}, "mask[0][1]"},
		"a two-point mask":        {AppDetect{Mask: [][][2]float64{{{0, 0}, {1, 1}}}, Zones: d.Events.Zones}, "at least 3 points"},
		"too many masks":          {AppDetect{Mask: make([][][2]float64, MaxMasks+1), Zones: d.Events.Zones}, "at most 64"},
		"too many mask points":    {AppDetect{Mask: [][][2]float64{make([][2]float64, MaxMaskPoints+1)}, Zones: d.Events.Zones}, "at most 256"},
		"a score of 1":            {AppDetect{Zones: d.Events.Zones, MinScore: 1}, "min_score"},
		"a negative score":        {AppDetect{Zones: d.Events.Zones, MinScore: -0.2}, "min_score"},
		"an empty label":          {AppDetect{Zones: d.Events.Zones, Labels: []string{"person", ""}}, "labels[1]"},
		"too many labels":         {AppDetect{Zones: d.Events.Zones, Labels: make([]string, 200)}, "labels"},
	} {
		if _, err := d.With(tc.a); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, tc.want)
		}
	}

	for name, in := range map[string]string{
		"unknown field":  `{"mask":[],"zones":[],"rules":[]}`,
		"trailing data":  `{"mask":[],"zones":[]} {}`,
		"invalid UTF-8":  "{\"mask\":[],\"zones\":[{\"name\":\"\xff\"}]}",
		"not an object":  `[1,2]`,
		"too large":      `{"mask":[],"zones":[],"x":"` + strings.Repeat("a", MaxAppDetectBytes) + `"}`,
		"point of three": `{"mask":[[[0,0,0]]],"zones":[]}`,
		"point of one":   `{"mask":[],"zones":[{"name":"a","points":[[0.5],[1,0],[1,1]]}]}`,
	} {
		if _, err := ParseAppDetect([]byte(in)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
	a, err := ParseAppDetect([]byte(`{"zones":[{"name":"porch","points":[[0,0],[1,0],[1,1]],"labels":["person"],"inertia":2}],"labels":["dog"],"min_score":0.6}`))
	if err != nil || a.Mask == nil || len(a.Zones) != 1 || a.Zones[0].Inertia != 2 || a.Zones[0].Labels[0] != "person" || a.Labels[0] != "dog" || a.MinScore != 0.6 {
		t.Fatalf("parse: %+v, %v", a, err)
	}
}

func FuzzParseAppDetect(f *testing.F) {
	f.Add([]byte(`{"mask":[[[0,0],[1,0],[1,1]]],"zones":[{"name":"porch","points":[[0,0],[1,0],[1,1]]}]}`))
	f.Add([]byte(`{"zones":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAppDetect(b)
		if err != nil {
			return
		}
		if _, err := (Detect{}).With(a); err == nil {
			for _, p := range a.Mask {
				if len(p) < 3 || len(p) > MaxMaskPoints {
					t.Fatalf("accepted a mask of %d points", len(p))
				}
			}
		}
	})
}
