package e2e

import (
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/cli"
)

// TestJourney is a household member's first evening with 'vigil demo' on
// a phone (390x844, touch), as web/test/journey.mjs tells it: watch live,
// invite a partner's phone and approve it, change retention, open a person
// event and find it highlighted on the timeline, play a recording from
// minutes ago by tapping the timeline, share that moment and watch it as a
// guest, and read in the verified history that the guest watched. The
// script asserts what the person sees at each step; here the result is
// checked once more and logged.
func TestJourney(t *testing.T) {
	d, link := startDemo(t, cli.DemoOptions{})
	var res struct {
		Household  string           `json:"household"`
		Steps      map[string]int64 `json:"steps"`
		TapMs      int64            `json:"tapMs"`
		PlayedAtMs int64            `json:"playedAtMs"`
		MsPerPx    float64          `json:"msPerPx"`
		ShareLink  string           `json:"shareLink"`
		Guest      bool             `json:"guestPlayed"`
		History    string           `json:"historyLine"`
		Retention  map[string]any   `json:"retention"`
	}
	browsertest.Run(t, 8*time.Minute, "journey.mjs", map[string]string{"DEMO_URL": link}, &res)
	if res.Household != d.HouseholdID {
		t.Errorf("the journey ran in household %q, the demo's is %q", res.Household, d.HouseholdID)
	}
	if diff := res.PlayedAtMs - res.TapMs; diff < -2000 || diff > 2000 {
		t.Errorf("playback started %d ms from where the timeline was tapped", diff)
	}
	if !res.Guest || res.History == "" {
		t.Errorf("the guest did not play the share (%v) or the history did not say so (%q)", res.Guest, res.History)
	}
	t.Logf("steps (ms since the link opened): %v; tap to playback %d ms apart at %.0f ms per pixel; history: %q",
		res.Steps, res.PlayedAtMs-res.TapMs, res.MsPerPx, res.History)
}
