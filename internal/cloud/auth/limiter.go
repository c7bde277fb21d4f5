package auth

import (
	"container/list"
	"fmt"
	"math"
	"sync"
	"time"
)

// LimiterConfig configures a Limiter. Keys are opaque strings: a client
// address, a normalised e-mail address (naming the account being signed
// in to, not proving anything), a token hash.
type LimiterConfig struct {
	// Rate is how many requests per second a key may make on average
	// (token bucket refill rate). Must be > 0.
	Rate float64
	// Burst is how many requests a key may make at once (bucket size).
	// Must be >= 1.
	Burst int
	// FreeFailures is how many failures a key may have before backoff
	// starts. Must be >= 0.
	FreeFailures int
	// BaseBackoff is the wait imposed by failure FreeFailures+1; each
	// further failure doubles it, up to MaxBackoff. Zero disables backoff.
	BaseBackoff time.Duration
	// MaxBackoff caps the wait. Must be >= BaseBackoff.
	MaxBackoff time.Duration
	// MaxKeys bounds memory: beyond it the least recently used keys are
	// forgotten, keys without failures first. Must be >= 1.
	MaxKeys int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Validate reports the first field of c that is out of range.
func (c LimiterConfig) Validate() error {
	switch {
	case !(c.Rate > 0) || math.IsInf(c.Rate, 1):
		return fmt.Errorf("auth: LimiterConfig.Rate %v: want a finite rate > 0", c.Rate)
	case c.Burst < 1:
		return fmt.Errorf("auth: LimiterConfig.Burst %d: want >= 1", c.Burst)
	case c.FreeFailures < 0:
		return fmt.Errorf("auth: LimiterConfig.FreeFailures %d: want >= 0", c.FreeFailures)
	case c.BaseBackoff < 0:
		return fmt.Errorf("auth: LimiterConfig.BaseBackoff %v: want >= 0", c.BaseBackoff)
	case c.MaxBackoff < c.BaseBackoff:
		return fmt.Errorf("auth: LimiterConfig.MaxBackoff %v: want >= BaseBackoff (%v)", c.MaxBackoff, c.BaseBackoff)
	case c.MaxKeys < 1:
		return fmt.Errorf("auth: LimiterConfig.MaxKeys %d: want >= 1", c.MaxKeys)
	}
	return nil
}

// A Limiter rate-limits requests per key with a token bucket and, after
// repeated failures, an exponential backoff window during which every
// request of that key is refused. State is in memory and bounded by
// MaxKeys; a restart forgets it. It is safe for concurrent use.
//
// Eviction forgets keys without failures before keys with failures, so
// flooding the limiter with fresh keys does not wipe the backoff of an
// account under attack; only more than MaxKeys keys with failures can.
type Limiter struct {
	cfg LimiterConfig

	mu   sync.Mutex
	keys map[string]*list.Element // value: *limiterEntry
	// Most recently used at the front. An entry is in penalized while it
	// has failures, in clean otherwise.
	clean, penalized list.List
}

type limiterEntry struct {
	key          string
	tokens       float64
	refilled     time.Time
	failures     int
	blockedUntil time.Time
	penalized    bool // which list holds the entry
}

// maxFailures bounds the failure count; the backoff has long reached
// MaxBackoff by then.
const maxFailures = 1 << 20

// NewLimiter returns a Limiter. It panics if c.Validate fails: the config
// is the program's, not the user's.
func NewLimiter(c LimiterConfig) *Limiter {
	if err := c.Validate(); err != nil {
		panic(err)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Limiter{cfg: c, keys: make(map[string]*list.Element)}
}

// Allow takes one request from key's bucket. It returns false, and how
// long to wait before trying again, when the bucket is empty or key is in a
// backoff window; a refused request takes nothing from the bucket.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	e := l.entry(key, now)
	l.refill(e, now)
	var wait time.Duration
	if now.Before(e.blockedUntil) {
		wait = e.blockedUntil.Sub(now)
	}
	if e.tokens < 1 {
		wait = max(wait, l.refillWait(e.tokens))
	}
	if wait > 0 {
		return false, wait
	}
	e.tokens--
	return true, 0
}

// Fail records a failed attempt (a wrong password or code) for key. After
// FreeFailures failures, each one opens a backoff window of BaseBackoff,
// doubling with every further failure up to MaxBackoff.
func (l *Limiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	e := l.entry(key, now)
	if !e.penalized {
		l.move(e, true)
	}
	e.failures = min(e.failures+1, maxFailures)
	if d := l.backoff(e.failures); d > 0 {
		if until := now.Add(d); until.After(e.blockedUntil) {
			e.blockedUntil = until
		}
	}
}

// Succeed forgets key's failures and ends its backoff window; its token
// bucket is unchanged.
func (l *Limiter) Succeed(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.keys[key]
	if !ok {
		return
	}
	e := el.Value.(*limiterEntry)
	e.failures = 0
	e.blockedUntil = time.Time{}
	if e.penalized {
		l.move(e, false)
	}
}

// Len returns how many keys the Limiter remembers.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// backoff returns the wait imposed by the failures-th failure.
func (l *Limiter) backoff(failures int) time.Duration {
	n := failures - l.cfg.FreeFailures
	if n <= 0 || l.cfg.BaseBackoff <= 0 {
		return 0
	}
	d := l.cfg.BaseBackoff
	for i := 1; i < n; i++ {
		if d > l.cfg.MaxBackoff/2 {
			return l.cfg.MaxBackoff
		}
		d *= 2
	}
	return min(d, l.cfg.MaxBackoff)
}

func (l *Limiter) refill(e *limiterEntry, now time.Time) {
	if el := now.Sub(e.refilled); el > 0 {
		e.tokens = min(float64(l.cfg.Burst), e.tokens+el.Seconds()*l.cfg.Rate)
	}
	e.refilled = now
}

// refillWait is how long until the bucket holds one whole token again,
// rounded up so that waiting exactly that long succeeds.
func (l *Limiter) refillWait(tokens float64) time.Duration {
	ns := math.Ceil((1 - tokens) / l.cfg.Rate * float64(time.Second))
	return max(time.Duration(ns), 1)
}

// entry returns key's state, creating it (with a full bucket) if needed and
// marking it most recently used; it evicts beyond MaxKeys.
func (l *Limiter) entry(key string, now time.Time) *limiterEntry {
	if el, ok := l.keys[key]; ok {
		e := el.Value.(*limiterEntry)
		l.listOf(e).MoveToFront(el)
		return e
	}
	e := &limiterEntry{key: key, tokens: float64(l.cfg.Burst), refilled: now}
	l.keys[key] = l.clean.PushFront(e)
	for len(l.keys) > l.cfg.MaxKeys {
		victim := l.clean.Back()
		if victim == nil || victim.Value.(*limiterEntry) == e {
			// Only the new entry is clean: forget the oldest penalized key.
			victim = l.penalized.Back()
		}
		if victim == nil {
			break
		}
		l.forget(victim)
	}
	return e
}

func (l *Limiter) listOf(e *limiterEntry) *list.List {
	if e.penalized {
		return &l.penalized
	}
	return &l.clean
}

// move puts e at the front of the penalized or the clean list.
func (l *Limiter) move(e *limiterEntry, penalized bool) {
	l.listOf(e).Remove(l.keys[e.key])
	e.penalized = penalized
	l.keys[e.key] = l.listOf(e).PushFront(e)
}

func (l *Limiter) forget(el *list.Element) {
	e := el.Value.(*limiterEntry)
	l.listOf(e).Remove(el)
	delete(l.keys, e.key)
}
