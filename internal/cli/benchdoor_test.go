package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"vigil/internal/bench"
	"vigil/internal/browsertest"
)

// TestBenchDoor runs 'vigil bench door' with two presses, two tone bursts
// and two talks: each press is timed to its push (a ring the household
// opens), each burst to the browser hearing it, and each talk burst from
// the page's microphone to the doorbell's back channel hearing it.
func TestBenchDoor(t *testing.T) {
	browsertest.Require(t)
	var out, errOut bytes.Buffer
	code := Run(context.Background(), []string{"bench", "door", "--presses", "2", "--bursts", "2", "--talks", "2", "--interval", "1s",
		"--web", browsertest.WebDir(t), "--json"}, &out, &errOut)
	t.Logf("stderr:\n%s", errOut.String())
	if code != 0 {
		t.Fatalf("bench door exited %d", code)
	}
	var r bench.DoorResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("result %q: %v", out.String(), err)
	}
	for name, l := range map[string]bench.DoorLatency{"press to push": r.PressToPush, "audio to browser": r.AudioToBrowser, "talk": r.Talk} {
		if l.N != 2 || len(l.SamplesMs) != 2 || l.P50Ms <= 0 || l.P95Ms < l.P50Ms || l.MaxMs < l.P95Ms {
			t.Errorf("%s: %+v, want 2 positive samples", name, l)
		}
	}
	if !strings.Contains(errOut.String(), "press 2/2") || !strings.Contains(errOut.String(), "burst 2/2") || !strings.Contains(errOut.String(), "talk 2/2") {
		t.Error("no progress on stderr")
	}
}
