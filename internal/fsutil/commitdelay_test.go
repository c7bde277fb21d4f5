package fsutil

import (
	"testing"
	"time"
)

// delayWith returns a CommitDelay of max on a clock the test moves, and
// the sleeps it asked for.
func delayWith(max time.Duration) (*CommitDelay, *time.Time, *[]time.Duration) {
	now := time.Unix(1_700_000_000, 0)
	var slept []time.Duration
	c := &CommitDelay{Max: max}
	c.now = func() time.Time { return now }
	c.sleep = func(d time.Duration) { slept = append(slept, d) }
	return c, &now, &slept
}

func TestCommitDelayWaitsOnlyWhenBusy(t *testing.T) {
	c, now, slept := delayWith(3 * time.Millisecond)
	c.Arrived()
	c.Wait(1)
	if len(*slept) != 0 {
		t.Fatalf("the first record waited %v; with no history a store is quiet", *slept)
	}
	// A record every 20 ms: slower than one per two waits, so no wait.
	for range 50 {
		*now = now.Add(20 * time.Millisecond)
		c.Arrived()
		c.Wait(1)
	}
	if len(*slept) != 0 {
		t.Fatalf("records 20 ms apart waited %v; want no wait when they come slower than one per 6 ms", *slept)
	}
	// A record every 1 ms: the average gap falls under the wait, and
	// leaders then wait Max.
	for range 50 {
		*now = now.Add(time.Millisecond)
		c.Arrived()
		c.Wait(1)
	}
	if len(*slept) == 0 {
		t.Fatal("records 1 ms apart never waited; want leaders to wait for company")
	}
	for _, d := range *slept {
		if d != 3*time.Millisecond {
			t.Fatalf("waited %v, want Max (3ms)", d)
		}
	}
	// A full batch does not wait, however busy.
	n := len(*slept)
	c.Wait(enoughBatch)
	if len(*slept) != n {
		t.Fatal("a leader with enoughBatch records waiting waited; want it to commit at once")
	}
	// Quiet again: after a long gap the average rises above the wait.
	for range 30 {
		*now = now.Add(time.Second)
		c.Arrived()
	}
	n = len(*slept)
	c.Wait(1)
	if len(*slept) != n {
		t.Fatal("after records a second apart a leader still waited; want the delay to follow the rate down")
	}
}

func TestCommitDelayZeroNeverWaits(t *testing.T) {
	var nilDelay *CommitDelay
	nilDelay.Arrived()
	nilDelay.Wait(1)
	c, now, slept := delayWith(0)
	for range 20 {
		*now = now.Add(time.Microsecond)
		c.Arrived()
		c.Wait(1)
	}
	if len(*slept) != 0 {
		t.Fatalf("Max 0 waited %v", *slept)
	}
}
