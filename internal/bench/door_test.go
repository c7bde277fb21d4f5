package bench

import (
	"testing"
	"time"
)

// TestDoorSummary: percentiles are nearest-rank over the sorted samples,
// the samples keep their order, and no samples give only the target.
func TestDoorSummary(t *testing.T) {
	ms := time.Millisecond
	var samples []time.Duration
	for i := 20; i >= 1; i-- { // 20, 19, ..., 1 ms
		samples = append(samples, time.Duration(i)*ms)
	}
	l := DoorSummary(samples, 400*ms)
	if l.N != 20 || l.P50Ms != 10 || l.P95Ms != 19 || l.MaxMs != 20 || l.TargetMs != 400 {
		t.Errorf("summary %+v, want n 20, p50 10, p95 19, max 20, target 400", l)
	}
	if l.SamplesMs[0] != 20 || l.SamplesMs[19] != 1 {
		t.Errorf("samples %v, want them in the order measured", l.SamplesMs)
	}
	if e := DoorSummary(nil, time.Second); e.N != 0 || e.SamplesMs != nil || e.TargetMs != 1000 {
		t.Errorf("no samples: %+v", e)
	}
	if got := DoorMs(1234567 * time.Nanosecond); got != 1.23 {
		t.Errorf("DoorMs(1.234567 ms) = %v, want 1.23", got)
	}
}
