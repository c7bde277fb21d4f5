package auth

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"time"
)

// DefaultForgetFailures is LimiterConfig.ForgetFailures when zero.
const DefaultForgetFailures = 24 * time.Hour

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
	// ForgetFailures is how long a key's failures are remembered after it
	// was last seen (and after its backoff window ends); zero means
	// DefaultForgetFailures. Must be >= 0.
	ForgetFailures time.Duration
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
	case c.ForgetFailures < 0:
		return fmt.Errorf("auth: LimiterConfig.ForgetFailures %v: want >= 0", c.ForgetFailures)
	}
	return nil
}

// Buckets keeps a Limiter's state, one entry per key, where every replica
// of the service that limits the same keys finds it (the cloud's store:
// store.EphemeralStore has this method).
//
// Update changes key's entry atomically: fn gets the entry live at now (nil
// when there is none) and returns the entry to keep and until when; nil, or
// an expiry not after now, removes it. No other write of key comes between
// fn's read and its write. fn may run more than once; an error from fn
// aborts the update and is returned.
type Buckets interface {
	Update(ctx context.Context, key string, now time.Time, fn func(cur []byte) (next []byte, expires time.Time, err error)) error
}

// A Limiter rate-limits requests per key with a token bucket and, after
// repeated failures, an exponential backoff window during which every
// request of that key is refused. Its state is in Buckets, so replicas
// sharing them share the limits: failures on one replica count on every
// other. Each call is one atomic Buckets.Update of one key. A key's entry
// is kept only while it differs from a fresh key's (a full bucket and no
// failures), and failures for ForgetFailures after the key was last seen.
// It is safe for concurrent use.
type Limiter struct {
	cfg     LimiterConfig
	buckets Buckets
	prefix  string
}

// maxFailures bounds the failure count; the backoff has long reached
// MaxBackoff by then.
const maxFailures = 1 << 20

// NewLimiter returns a Limiter keeping its state in b, each key hashed and
// prefixed with prefix (so that Limiters can share b). It panics if c.Validate
// fails: the config is the program's, not the user's.
func NewLimiter(c LimiterConfig, b Buckets, prefix string) *Limiter {
	if err := c.Validate(); err != nil {
		panic(err)
	}
	if b == nil {
		panic("auth: NewLimiter: nil Buckets")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ForgetFailures == 0 {
		c.ForgetFailures = DefaultForgetFailures
	}
	return &Limiter{cfg: c, buckets: b, prefix: prefix}
}

// Allow takes one request from key's bucket. It returns false, and how
// long to wait before trying again, when the bucket is empty or key is in a
// backoff window; a refused request takes nothing from the bucket. An
// error is the Buckets' (the request is neither allowed nor refused).
func (l *Limiter) Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error) {
	now := l.cfg.Now()
	err = l.buckets.Update(ctx, l.key(key), now, func(cur []byte) ([]byte, time.Time, error) {
		b, err := l.decode(cur, now)
		if err != nil {
			return nil, time.Time{}, err
		}
		l.refill(&b, now)
		var wait time.Duration
		if now.Before(b.blockedUntil) {
			wait = b.blockedUntil.Sub(now)
		}
		if b.tokens < 1 {
			wait = max(wait, l.refillWait(b.tokens))
		}
		ok, retryAfter = wait <= 0, wait
		if ok {
			b.tokens--
		}
		return l.keep(b, now)
	})
	if err != nil {
		return false, 0, err
	}
	return ok, retryAfter, nil
}

// Fail records a failed attempt (a wrong password or code) for key. After
// FreeFailures failures, each one opens a backoff window of BaseBackoff,
// doubling with every further failure up to MaxBackoff.
func (l *Limiter) Fail(ctx context.Context, key string) error {
	now := l.cfg.Now()
	return l.buckets.Update(ctx, l.key(key), now, func(cur []byte) ([]byte, time.Time, error) {
		b, err := l.decode(cur, now)
		if err != nil {
			return nil, time.Time{}, err
		}
		b.failures = min(b.failures+1, maxFailures)
		if d := l.backoff(b.failures); d > 0 {
			if until := now.Add(d); until.After(b.blockedUntil) {
				b.blockedUntil = until
			}
		}
		return l.keep(b, now)
	})
}

// Succeed forgets key's failures and ends its backoff window; its token
// bucket is unchanged. A key without state stays without.
func (l *Limiter) Succeed(ctx context.Context, key string) error {
	now := l.cfg.Now()
	err := l.buckets.Update(ctx, l.key(key), now, func(cur []byte) ([]byte, time.Time, error) {
		if cur == nil {
			return nil, time.Time{}, nil
		}
		b, err := l.decode(cur, now)
		if err != nil {
			return nil, time.Time{}, err
		}
		if b.failures == 0 && b.blockedUntil.IsZero() {
			return nil, time.Time{}, errUnchanged // no write: the usual case
		}
		b.failures, b.blockedUntil = 0, time.Time{}
		return l.keep(b, now)
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

// errUnchanged aborts an update that would write what is stored.
var errUnchanged = errors.New("auth: limiter: unchanged")

// key is where key's bucket is kept: the prefix and the SHA-256 of key, so
// that the addresses and e-mail addresses being limited are not kept as
// they are.
func (l *Limiter) key(key string) string {
	h := sha256.Sum256([]byte(key))
	return l.prefix + hex.EncodeToString(h[:])
}

// bucket is one key's state.
type bucket struct {
	tokens       float64
	refilled     time.Time
	failures     int
	blockedUntil time.Time
}

// bucketSize is the length of an encoded bucket: tokens (float64 bits),
// refilled and blockedUntil (Unix nanoseconds, 0 for the zero time) and
// failures, each 8 bytes big-endian.
const bucketSize = 32

var errBadBucket = errors.New("auth: limiter: a stored bucket is not 32 bytes")

func encodeBucket(b bucket) []byte {
	out := make([]byte, bucketSize)
	binary.BigEndian.PutUint64(out[0:], math.Float64bits(b.tokens))
	binary.BigEndian.PutUint64(out[8:], uint64(unixNanos(b.refilled)))
	binary.BigEndian.PutUint64(out[16:], uint64(b.failures))
	binary.BigEndian.PutUint64(out[24:], uint64(unixNanos(b.blockedUntil)))
	return out
}

// decode returns the bucket in cur, or a fresh one (full) for nil.
func (l *Limiter) decode(cur []byte, now time.Time) (bucket, error) {
	if cur == nil {
		return bucket{tokens: float64(l.cfg.Burst), refilled: now}, nil
	}
	if len(cur) != bucketSize {
		return bucket{}, errBadBucket
	}
	b := bucket{
		tokens:       math.Float64frombits(binary.BigEndian.Uint64(cur[0:])),
		refilled:     fromUnixNanos(int64(binary.BigEndian.Uint64(cur[8:]))),
		failures:     int(min(binary.BigEndian.Uint64(cur[16:]), maxFailures)),
		blockedUntil: fromUnixNanos(int64(binary.BigEndian.Uint64(cur[24:]))),
	}
	if math.IsNaN(b.tokens) || b.tokens > float64(l.cfg.Burst) {
		b.tokens = float64(l.cfg.Burst)
	}
	return b, nil
}

// unixNanos is t in Unix nanoseconds (0 for the zero time), clamped to the
// years 1678..2262 that int64 nanoseconds hold.
func unixNanos(t time.Time) int64 {
	const maxSec = math.MaxInt64/int64(time.Second) - 1
	switch {
	case t.IsZero():
		return 0
	case t.Unix() > maxSec:
		return math.MaxInt64
	case t.Unix() < -maxSec:
		return math.MinInt64 + 1
	}
	return t.UnixNano()
}

func fromUnixNanos(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// keep returns b encoded and how long to keep it: until its bucket is
// full again and its backoff window over, and while it has failures for
// ForgetFailures more. A bucket that a fresh one equals is not kept.
func (l *Limiter) keep(b bucket, now time.Time) ([]byte, time.Time, error) {
	until := b.refilled
	if missing := float64(l.cfg.Burst) - b.tokens; missing > 0 {
		until = until.Add(time.Duration(math.Ceil(missing / l.cfg.Rate * float64(time.Second))))
	}
	if b.blockedUntil.After(until) {
		until = b.blockedUntil
	}
	if b.failures > 0 {
		if f := now.Add(l.cfg.ForgetFailures); f.After(until) {
			until = f
		}
	}
	if !until.After(now) {
		return nil, time.Time{}, nil
	}
	return encodeBucket(b), until, nil
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

func (l *Limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.refilled); el > 0 {
		b.tokens = min(float64(l.cfg.Burst), b.tokens+el.Seconds()*l.cfg.Rate)
	}
	b.refilled = now
}

// refillWait is how long until the bucket holds one whole token again,
// rounded up so that waiting exactly that long succeeds.
func (l *Limiter) refillWait(tokens float64) time.Duration {
	ns := math.Ceil((1 - tokens) / l.cfg.Rate * float64(time.Second))
	return max(time.Duration(ns), 1)
}
