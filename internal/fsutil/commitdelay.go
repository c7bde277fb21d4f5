package fsutil

import (
	"sync"
	"time"
)

// CommitDelay is a group commit's wait for company. A group commit makes
// every record waiting when its leader starts durable with one fsync; on
// a virtual machine that fsync, and the thread hand-offs around it, cost
// far more CPU than writing the record. At a few hundred records a second
// each commit would otherwise carry one or two. So a leader waits a short
// while before taking its batch, letting the records that arrive meanwhile
// share its fsync — but only when records have lately been arriving faster
// than one per two waits, so that a wait is likely to gain one (a quiet
// store commits at once) and fewer than
// enoughBatch already wait (a busy store's batches are large without it).
// Its cost is latency: at most Max a commit.
//
// The zero value never waits. It is safe for concurrent use.
type CommitDelay struct {
	// Max is how long a leader waits; 0 never waits.
	Max time.Duration

	// now and sleep are time.Now and time.Sleep but in tests.
	now   func() time.Time
	sleep func(time.Duration)

	mu   sync.Mutex
	last time.Time     // the latest arrival
	gap  time.Duration // moving average of the gaps between arrivals
}

const (
	// enoughBatch is how many waiting records make a wait pointless.
	enoughBatch = 8
	// quietGap bounds the gaps the average takes in, so that a store
	// that was idle for hours is busy again after a few dozen records.
	quietGap = 100 * time.Millisecond
)

func (c *CommitDelay) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// Arrived notes that a record to commit has arrived.
func (c *CommitDelay) Arrived() {
	if c == nil || c.Max <= 0 {
		return
	}
	now := c.clock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.IsZero() {
		c.last, c.gap = now, quietGap // no history: assume quiet
		return
	}
	g := min(now.Sub(c.last), quietGap)
	c.last = now
	c.gap += (g - c.gap) / 8
}

// Wait is called by a leader before it takes its batch, with the number of
// records already waiting (its own among them); it returns after Max when
// company is likely, at once otherwise.
func (c *CommitDelay) Wait(pending int) {
	if c == nil || c.Max <= 0 || pending >= enoughBatch {
		return
	}
	c.mu.Lock()
	busy := !c.last.IsZero() && c.gap < 2*c.Max
	c.mu.Unlock()
	if !busy {
		return
	}
	if c.sleep != nil {
		c.sleep(c.Max)
		return
	}
	time.Sleep(c.Max)
}
