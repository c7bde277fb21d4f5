package e2e

import (
	"testing"
	"time"

	"vigil/internal/browsertest"
)

// TestAppLoads: the built app loads in Chromium under the cloud's strict
// CSP without a single violation or script error.
func TestAppLoads(t *testing.T) {
	c := startCloud(t, nil)
	var res struct {
		Title      string   `json:"title"`
		Violations []string `json:"violations"`
		Errors     []string `json:"errors"`
	}
	browsertest.Run(t, time.Minute, "smoke.mjs", map[string]string{"BASE_URL": c.url}, &res)
	if res.Title != "Vigil" {
		t.Errorf("title %q, want Vigil", res.Title)
	}
	if len(res.Violations) > 0 || len(res.Errors) > 0 {
		t.Errorf("CSP violations %q, page errors %q", res.Violations, res.Errors)
	}
}
