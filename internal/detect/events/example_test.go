package events_test

import (
	"fmt"
	"time"

	"vigil/internal/detect"
	"vigil/internal/detect/events"
	"vigil/internal/detect/track"
)

// A person walks along the driveway at 5 frames a second while the
// household is away: the tracker confirms them, the engine starts an
// alert, and the event ends 30 s after they were last seen.
func Example() {
	tracker := track.New(track.Config{})
	engine, err := events.New(events.Options{
		Camera: "front",
		Width:  640, Height: 360,
		Config: events.Config{
			Zones: []events.Zone{{Name: "driveway", Points: [][2]float64{{0, 0.5}, {1, 0.5}, {1, 1}, {0, 1}}}},
			Rules: []events.Rule{{Name: "intruder", Labels: []string{"person"}, Zones: []string{"driveway"}, Mode: events.AwayOnly}},
		},
	})
	if err != nil {
		panic(err)
	}
	start := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC)
	for i := range 300 {
		now := start.Add(time.Duration(i) * 200 * time.Millisecond)
		var dets []detect.Detection
		if i < 40 {
			dets = []detect.Detection{{Label: "person", Score: 0.8, Box: detect.Box{X: 10 + 10*float64(i), Y: 200, W: 40, H: 100}}}
		}
		for _, c := range engine.Update(now, tracker.Update(now, dets), events.Away) {
			if c.Kind == events.Updated {
				continue
			}
			fmt.Println(c.Kind, now.Sub(start), "alert:", c.Event.Alert, c.Event.Zones)
		}
	}
	// Output:
	// started 400ms alert: true [driveway]
	// ended 37.8s alert: true [driveway]
}
