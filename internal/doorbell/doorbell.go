// Package doorbell turns doorbell presses into rings on the hub.
//
// It owns:
//   - the [Press] (camera, time, source) and the small [Source] interface
//     every press source implements, so that new sources (an ONVIF
//     PullPoint subscription, in package hubd) plug in beside the ones here;
//   - two sources for doorbells that are not ONVIF: a topic on the
//     household's MQTT broker ([MQTTSource]; any message on it is a press)
//     and an HTTP call signed with a per-button secret ([HTTPSource];
//     HMAC-SHA-256 over camera, timestamp and nonce, with a replay window);
//   - the [Bell]: the rate limit that makes at most one [Ring] per doorbell
//     per interval out of presses (a stuck button or a flood of presses
//     rings once; later presses in the window are counted into it).
//
// What becomes of a ring (a sealed event record, notifications) is the
// hub's (package hubd): this package seals nothing and talks to no cloud.
//
// What the package must never do: log or echo a button's secret, accept
// an unsigned, badly signed, stale or replayed HTTP press, compare MACs in
// variable time, or let presses ring faster than the Bell's interval.
package doorbell

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// Press is one press of a doorbell's button, as a source reports it.
type Press struct {
	Camera string    // the doorbell camera's name in the hub's config
	Time   time.Time // when the hub received it (the hub's clock)
	Source string    // "mqtt", "http", "onvif", ...: for logs and stats
}

// Source reports presses. Run calls press for every press until ctx ends
// (or the source fails for good) and returns once nothing more is called;
// press must not block for long. A source that cannot start returns its
// error at once.
type Source interface {
	Run(ctx context.Context, press func(Press)) error
}

// DefaultInterval is the Bell's interval when none is given.
const DefaultInterval = 5 * time.Second

// Ring is a press that rang: the first of its doorbell's window.
type Ring struct {
	ID     string // 32 lower-case hex digits, random
	Camera string
	Time   time.Time
	Source string
}

// BellStats are one doorbell's counters.
type BellStats struct {
	Presses    int64 // every press received
	Rings      int64 // presses that rang
	Suppressed int64 // presses counted into an earlier ring's window
}

// Bell rate-limits presses per doorbell: a press rings unless the same
// doorbell rang less than Interval before it, in which case it is counted
// into that ring. Safe for concurrent use.
type Bell struct {
	interval time.Duration

	mu        sync.Mutex
	intervals map[string]time.Duration // camera -> its own interval
	last      map[string]time.Time     // camera -> time of its last ring
	stats     map[string]*BellStats
}

// NewBell returns a Bell ringing at most once per interval per doorbell
// (0 means [DefaultInterval]).
func NewBell(interval time.Duration) *Bell {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Bell{interval: interval, intervals: map[string]time.Duration{}, last: map[string]time.Time{}, stats: map[string]*BellStats{}}
}

// SetInterval gives camera's doorbell an interval of its own (0 means the
// Bell's).
func (b *Bell) SetInterval(camera string, d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d <= 0 {
		delete(b.intervals, camera)
		return
	}
	b.intervals[camera] = d
}

// Press reports p and returns the ring it makes, or false when it falls in
// the window of its doorbell's last ring.
func (b *Bell) Press(p Press) (Ring, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats[p.Camera]
	if s == nil {
		s = &BellStats{}
		b.stats[p.Camera] = s
	}
	s.Presses++
	// A press before the window's end (out of order ones too) is counted
	// into the last ring.
	iv, ok := b.intervals[p.Camera]
	if !ok {
		iv = b.interval
	}
	if last, ok := b.last[p.Camera]; ok && p.Time.Before(last.Add(iv)) {
		s.Suppressed++
		return Ring{}, false
	}
	b.last[p.Camera] = p.Time
	s.Rings++
	return Ring{ID: newID(), Camera: p.Camera, Time: p.Time, Source: p.Source}, true
}

// Stats returns each doorbell's counters.
func (b *Bell) Stats() map[string]BellStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]BellStats, len(b.stats))
	for k, v := range b.stats {
		out[k] = *v
	}
	return out
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Serve runs every source, passes their presses through bell and calls
// ring for each ring, until ctx ends; it returns once every source has
// returned, with the errors of those that failed for another reason than
// ctx ending. ring is called from the sources' goroutines, never
// concurrently with itself.
func Serve(ctx context.Context, bell *Bell, ring func(Ring), sources ...Source) error {
	var mu sync.Mutex
	press := func(p Press) {
		if r, ok := bell.Press(p); ok {
			mu.Lock()
			defer mu.Unlock()
			ring(r)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(sources))
	for i, s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx, press); err != nil && !errors.Is(err, context.Canceled) {
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
