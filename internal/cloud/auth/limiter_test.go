package auth

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"
)

// fakeClock is a manual clock for the Limiter.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// mapBuckets keeps a Limiter's buckets in a map, to test the Limiter's
// arithmetic alone; the stores that keep them in production pass the
// store conformance suite (storetest), which runs a Limiter over each.
type mapBuckets struct {
	mu sync.Mutex
	m  map[string]mapEntry
}

type mapEntry struct {
	v       []byte
	expires time.Time
}

func (b *mapBuckets) Update(_ context.Context, key string, now time.Time, fn func([]byte) ([]byte, time.Time, error)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]mapEntry{}
	}
	var cur []byte
	if e, ok := b.m[key]; ok && e.expires.After(now) {
		cur = e.v
	}
	next, exp, err := fn(cur)
	if err != nil {
		return err
	}
	if next == nil || !exp.After(now) {
		delete(b.m, key)
		return nil
	}
	b.m[key] = mapEntry{v: next, expires: exp}
	return nil
}

// live is the number of entries live at now.
func (b *mapBuckets) live(now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, e := range b.m {
		if e.expires.After(now) {
			n++
		}
	}
	return n
}

type testLimiter struct {
	*Limiter
	b *mapBuckets
}

func (l testLimiter) allow(key string) (bool, time.Duration) {
	ok, wait, err := l.Allow(context.Background(), key)
	if err != nil {
		panic(err)
	}
	return ok, wait
}

func (l testLimiter) fail(key string) {
	if err := l.Fail(context.Background(), key); err != nil {
		panic(err)
	}
}

func (l testLimiter) succeed(key string) {
	if err := l.Succeed(context.Background(), key); err != nil {
		panic(err)
	}
}

func newTestLimiter(c LimiterConfig) (testLimiter, *fakeClock) {
	clk := newFakeClock()
	c.Now = clk.Now
	b := &mapBuckets{}
	return testLimiter{NewLimiter(c, b, "t/"), b}, clk
}

func wantAllow(t *testing.T, l testLimiter, key string) {
	t.Helper()
	if ok, wait := l.allow(key); !ok {
		t.Fatalf("Allow(%q) refused (retry after %v), want allowed", key, wait)
	}
}

func wantRefuse(t *testing.T, l testLimiter, key string, retry time.Duration) {
	t.Helper()
	ok, wait := l.allow(key)
	if ok {
		t.Fatalf("Allow(%q) allowed, want refused with retry after %v", key, retry)
	}
	if wait != retry {
		t.Fatalf("Allow(%q) retry after %v, want %v", key, wait, retry)
	}
}

func TestLimiterBurst(t *testing.T) {
	l, clk := newTestLimiter(LimiterConfig{Rate: 2, Burst: 3, MaxBackoff: time.Minute})
	for range 3 {
		wantAllow(t, l, "ip")
	}
	// Empty bucket at 2/s: one token in 500 ms.
	wantRefuse(t, l, "ip", 500*time.Millisecond)
	// Refusals take nothing: the wait shrinks with time only.
	wantRefuse(t, l, "ip", 500*time.Millisecond)
	clk.Advance(200 * time.Millisecond)
	wantRefuse(t, l, "ip", 300*time.Millisecond)
	clk.Advance(300 * time.Millisecond)
	wantAllow(t, l, "ip")
	wantRefuse(t, l, "ip", 500*time.Millisecond)
	// Other keys have their own bucket.
	wantAllow(t, l, "other")
	// A long idle period refills to Burst, not beyond.
	clk.Advance(time.Hour)
	for range 3 {
		wantAllow(t, l, "ip")
	}
	wantRefuse(t, l, "ip", 500*time.Millisecond)
}

func TestLimiterClockBackwards(t *testing.T) {
	l, clk := newTestLimiter(LimiterConfig{Rate: 1, Burst: 1})
	wantAllow(t, l, "k")
	clk.Advance(-time.Hour)
	wantRefuse(t, l, "k", time.Second)
	clk.Advance(time.Second)
	wantAllow(t, l, "k")
}

func TestLimiterBackoff(t *testing.T) {
	l, clk := newTestLimiter(LimiterConfig{
		Rate: 1000, Burst: 1000, FreeFailures: 3,
		BaseBackoff: time.Second, MaxBackoff: 10 * time.Second,
	})
	for range 3 {
		l.fail("acct")
		wantAllow(t, l, "acct")
	}
	for i, want := range []time.Duration{1, 2, 4, 8, 10, 10, 10} {
		l.fail("acct")
		want *= time.Second
		wantRefuse(t, l, "acct", want)
		wantAllow(t, l, "other") // backoff is per key
		clk.Advance(want - time.Millisecond)
		wantRefuse(t, l, "acct", time.Millisecond)
		clk.Advance(time.Millisecond)
		if ok, _ := l.allow("acct"); !ok {
			t.Fatalf("failure %d: still refused after the %v window", 3+i+1, want)
		}
	}
}

func TestLimiterBackoffNoOverflow(t *testing.T) {
	maxD := time.Duration(math.MaxInt64)
	l, _ := newTestLimiter(LimiterConfig{
		Rate: 1, Burst: 1, FreeFailures: 0,
		BaseBackoff: time.Nanosecond, MaxBackoff: maxD,
	})
	for range 200 {
		l.fail("k")
	}
	if ok, wait := l.allow("k"); ok || wait <= 0 {
		t.Fatalf("after 200 failures: Allow = %v, %v; want refused with a positive wait", ok, wait)
	}
	l2, _ := newTestLimiter(LimiterConfig{
		Rate: 1, Burst: 1, FreeFailures: 0,
		BaseBackoff: time.Second, MaxBackoff: time.Hour,
	})
	for range 100_000 {
		l2.fail("k")
	}
	wantRefuse(t, l2, "k", time.Hour)
}

func TestLimiterSucceedResets(t *testing.T) {
	l, clk := newTestLimiter(LimiterConfig{
		Rate: 1000, Burst: 1000, FreeFailures: 2,
		BaseBackoff: time.Second, MaxBackoff: time.Minute,
	})
	for range 6 {
		l.fail("acct")
	}
	wantRefuse(t, l, "acct", 8*time.Second)
	l.succeed("acct")
	wantAllow(t, l, "acct")
	// The count starts over: FreeFailures free again, then BaseBackoff.
	l.fail("acct")
	l.fail("acct")
	wantAllow(t, l, "acct")
	l.fail("acct")
	wantRefuse(t, l, "acct", time.Second)
	clk.Advance(time.Second)
	wantAllow(t, l, "acct")
	// Succeed on an unknown key does not create state.
	l.succeed("never-seen")
	if n := l.b.live(clk.Now()); n != 1 {
		t.Errorf("%d entries after Succeed of an unknown key, want 1", n)
	}
}

// TestLimiterForgets: an entry is kept while it differs from a fresh key's
// (a bucket not yet full, a backoff window), and failures for
// ForgetFailures; then it is gone, and the key starts afresh.
func TestLimiterForgets(t *testing.T) {
	l, clk := newTestLimiter(LimiterConfig{
		Rate: 1, Burst: 2, FreeFailures: 1,
		BaseBackoff: time.Minute, MaxBackoff: time.Hour, ForgetFailures: 2 * time.Hour,
	})
	wantAllow(t, l, "busy")
	wantAllow(t, l, "busy")
	if n := l.b.live(clk.Now()); n != 1 {
		t.Fatalf("%d entries after using a bucket, want 1", n)
	}
	clk.Advance(2 * time.Second) // full again: nothing to remember
	if n := l.b.live(clk.Now()); n != 0 {
		t.Errorf("%d entries once the bucket is full again, want 0", n)
	}
	// A fresh key allowed once is remembered only until its token is back.
	wantAllow(t, l, "once")
	clk.Advance(time.Second)
	if n := l.b.live(clk.Now()); n != 0 {
		t.Errorf("%d entries a second after one request, want 0", n)
	}

	l.fail("acct")
	l.fail("acct") // the second failure opens a minute's window
	wantRefuse(t, l, "acct", time.Minute)
	clk.Advance(time.Hour)
	wantAllow(t, l, "acct")
	// Failures are remembered: the next one doubles the window.
	l.fail("acct")
	wantRefuse(t, l, "acct", 2*time.Minute)
	// Two hours after the key was last seen, its failures are forgotten.
	clk.Advance(2*time.Hour + time.Second)
	if n := l.b.live(clk.Now()); n != 0 {
		t.Errorf("%d entries after ForgetFailures, want 0", n)
	}
	l.fail("acct") // the first failure again: free
	wantAllow(t, l, "acct")
}

func TestLimiterConfigValidate(t *testing.T) {
	good := LimiterConfig{Rate: 1, Burst: 1, FreeFailures: 0, BaseBackoff: time.Second, MaxBackoff: time.Second}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	bad := map[string]func(*LimiterConfig){
		"rate 0":         func(c *LimiterConfig) { c.Rate = 0 },
		"rate NaN":       func(c *LimiterConfig) { c.Rate = math.NaN() },
		"rate +Inf":      func(c *LimiterConfig) { c.Rate = math.Inf(1) },
		"burst 0":        func(c *LimiterConfig) { c.Burst = 0 },
		"free -1":        func(c *LimiterConfig) { c.FreeFailures = -1 },
		"base -1":        func(c *LimiterConfig) { c.BaseBackoff = -1 },
		"max below base": func(c *LimiterConfig) { c.MaxBackoff = c.BaseBackoff - 1 },
		"forget -1":      func(c *LimiterConfig) { c.ForgetFailures = -1 },
	}
	for name, mod := range bad {
		c := good
		mod(&c)
		if c.Validate() == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: NewLimiter did not panic", name)
				}
			}()
			NewLimiter(c, &mapBuckets{}, "")
		}()
	}
}

// A stored entry that is not a bucket is an error, not a fresh bucket.
func TestLimiterBadEntry(t *testing.T) {
	b := &mapBuckets{}
	clk := newFakeClock()
	l := NewLimiter(LimiterConfig{Rate: 1, Burst: 1, Now: clk.Now}, b, "p/")
	b.m = map[string]mapEntry{l.key("k"): {v: []byte("junk"), expires: clk.Now().Add(time.Hour)}}
	if _, _, err := l.Allow(context.Background(), "k"); err == nil {
		t.Error("Allow over a 4-byte entry: no error")
	}
}
