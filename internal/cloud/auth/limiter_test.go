package auth

import (
	"fmt"
	"math"
	"strconv"
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

func newTestLimiter(c LimiterConfig) (*Limiter, *fakeClock) {
	clk := newFakeClock()
	c.Now = clk.Now
	return NewLimiter(c), clk
}

func wantAllow(t *testing.T, l *Limiter, key string) {
	t.Helper()
	if ok, wait := l.Allow(key); !ok {
		t.Fatalf("Allow(%q) refused (retry after %v), want allowed", key, wait)
	}
}

func wantRefuse(t *testing.T, l *Limiter, key string, retry time.Duration) {
	t.Helper()
	ok, wait := l.Allow(key)
	if ok {
		t.Fatalf("Allow(%q) allowed, want refused with retry after %v", key, retry)
	}
	if wait != retry {
		t.Fatalf("Allow(%q) retry after %v, want %v", key, wait, retry)
	}
}

func TestLimiterBurst(t *testing.T) {
	l, clk := newTestLimiter(LimiterConfig{Rate: 2, Burst: 3, MaxBackoff: time.Minute, MaxKeys: 10})
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
	l, clk := newTestLimiter(LimiterConfig{Rate: 1, Burst: 1, MaxKeys: 10})
	wantAllow(t, l, "k")
	clk.Advance(-time.Hour)
	wantRefuse(t, l, "k", time.Second)
	clk.Advance(time.Second)
	wantAllow(t, l, "k")
}

func TestLimiterBackoff(t *testing.T) {
	l, clk := newTestLimiter(LimiterConfig{
		Rate: 1000, Burst: 1000, FreeFailures: 3,
		BaseBackoff: time.Second, MaxBackoff: 10 * time.Second, MaxKeys: 10,
	})
	for range 3 {
		l.Fail("acct")
		wantAllow(t, l, "acct")
	}
	for i, want := range []time.Duration{1, 2, 4, 8, 10, 10, 10} {
		l.Fail("acct")
		want *= time.Second
		wantRefuse(t, l, "acct", want)
		wantAllow(t, l, "other") // backoff is per key
		clk.Advance(want - time.Millisecond)
		wantRefuse(t, l, "acct", time.Millisecond)
		clk.Advance(time.Millisecond)
		if ok, _ := l.Allow("acct"); !ok {
			t.Fatalf("failure %d: still refused after the %v window", 3+i+1, want)
		}
	}
}

func TestLimiterBackoffNoOverflow(t *testing.T) {
	maxD := time.Duration(math.MaxInt64)
	l, _ := newTestLimiter(LimiterConfig{
		Rate: 1, Burst: 1, FreeFailures: 0,
		BaseBackoff: time.Nanosecond, MaxBackoff: maxD, MaxKeys: 10,
	})
	for range 200 {
		l.Fail("k")
	}
	if ok, wait := l.Allow("k"); ok || wait <= 0 {
		t.Fatalf("after 200 failures: Allow = %v, %v; want refused with a positive wait", ok, wait)
	}
	l2, _ := newTestLimiter(LimiterConfig{
		Rate: 1, Burst: 1, FreeFailures: 0,
		BaseBackoff: time.Second, MaxBackoff: time.Hour, MaxKeys: 10,
	})
	for range 100_000 {
		l2.Fail("k")
	}
	wantRefuse(t, l2, "k", time.Hour)
}

func TestLimiterSucceedResets(t *testing.T) {
	l, clk := newTestLimiter(LimiterConfig{
		Rate: 1000, Burst: 1000, FreeFailures: 2,
		BaseBackoff: time.Second, MaxBackoff: time.Minute, MaxKeys: 10,
	})
	for range 6 {
		l.Fail("acct")
	}
	wantRefuse(t, l, "acct", 8*time.Second)
	l.Succeed("acct")
	wantAllow(t, l, "acct")
	// The count starts over: FreeFailures free again, then BaseBackoff.
	l.Fail("acct")
	l.Fail("acct")
	wantAllow(t, l, "acct")
	l.Fail("acct")
	wantRefuse(t, l, "acct", time.Second)
	clk.Advance(time.Second)
	wantAllow(t, l, "acct")
	// Succeed on an unknown key does not create state.
	l.Succeed("never-seen")
	if l.Len() != 1 {
		t.Errorf("Len = %d after Succeed of an unknown key, want 1", l.Len())
	}
}

func TestLimiterMaxKeys(t *testing.T) {
	const maxKeys = 1000
	l, clk := newTestLimiter(LimiterConfig{
		Rate: 1, Burst: 2, FreeFailures: 0,
		BaseBackoff: time.Minute, MaxBackoff: time.Hour, MaxKeys: maxKeys,
	})
	// An account under attack is in backoff.
	l.Fail("victim")
	wantRefuse(t, l, "victim", time.Minute)
	// A key that has used its bucket.
	wantAllow(t, l, "busy")
	wantAllow(t, l, "busy")

	for i := range 100_000 {
		l.Allow("flood-" + strconv.Itoa(i))
		if i%500 == 0 {
			l.Allow("busy") // recently used (within MaxKeys-1 other keys): must survive
		}
		if n := l.Len(); n > maxKeys {
			t.Fatalf("after %d keys Len = %d > MaxKeys %d", i+1, n, maxKeys)
		}
	}
	// Flooding with fresh keys did not wipe the victim's backoff, nor the
	// busy key's empty bucket.
	wantRefuse(t, l, "victim", time.Minute)
	if ok, _ := l.Allow("busy"); ok {
		t.Error("a recently used key was forgotten: its empty bucket is full again")
	}
	// The oldest flood keys were forgotten: they start with a full bucket.
	wantAllow(t, l, "flood-0")
	wantAllow(t, l, "flood-0")

	// Failures on more than MaxKeys keys do evict, and the bound holds.
	for i := range 100_000 {
		l.Fail("fail-" + strconv.Itoa(i))
		if n := l.Len(); n > maxKeys {
			t.Fatalf("after %d failing keys Len = %d > MaxKeys %d", i+1, n, maxKeys)
		}
	}
	// The most recent failing key is remembered, the victim is not.
	wantRefuse(t, l, "fail-99999", time.Minute)
	clk.Advance(0)
	wantAllow(t, l, "victim")
}

func TestLimiterConfigValidate(t *testing.T) {
	good := LimiterConfig{Rate: 1, Burst: 1, FreeFailures: 0, BaseBackoff: time.Second, MaxBackoff: time.Second, MaxKeys: 1}
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
		"maxkeys 0":      func(c *LimiterConfig) { c.MaxKeys = 0 },
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
			NewLimiter(c)
		}()
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter(LimiterConfig{Rate: 10, Burst: 5, FreeFailures: 2, BaseBackoff: time.Millisecond, MaxBackoff: time.Second, MaxKeys: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := fmt.Sprintf("k%d", (g*7+i)%200)
				l.Allow(k)
				switch i % 3 {
				case 0:
					l.Fail(k)
				case 1:
					l.Succeed(k)
				}
			}
		})
	}
	wg.Wait()
	if n := l.Len(); n > 50 {
		t.Fatalf("Len = %d > MaxKeys", n)
	}
}

// BenchmarkLimiterAllow measures Allow with the cloud's sign-in config:
// "hot" cycles through 1000 remembered keys; "churn" through twice MaxKeys,
// so every call inserts a key and evicts another.
func BenchmarkLimiterAllow(b *testing.B) {
	for _, bc := range []struct {
		name string
		keys int
	}{{"hot", 1000}, {"churn", 200_000}} {
		b.Run(bc.name, func(b *testing.B) {
			l := NewLimiter(LimiterConfig{Rate: 5, Burst: 30, FreeFailures: 10, BaseBackoff: time.Second, MaxBackoff: 5 * time.Minute, MaxKeys: 100_000})
			keys := make([]string, bc.keys)
			for i := range keys {
				keys[i] = "198.51.100." + strconv.Itoa(i)
			}
			i := 0
			for b.Loop() {
				l.Allow(keys[i%len(keys)])
				i++
			}
		})
	}
}
