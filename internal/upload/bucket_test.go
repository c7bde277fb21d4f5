package upload

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that sleeping advances: a sleeper wakes at its
// deadline, and the clock shows the latest deadline reached.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return ctx.Err()
}

func TestBucketRate(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	start := clk.Now()
	b := newBucket(1<<20, clk.Now, clk.Sleep) // 1 MiB/s
	if b.chunk() != 256<<10 {
		t.Fatalf("burst %d, want 256 KiB", b.chunk())
	}
	const total = 2 << 20
	for sent := 0; sent < total; sent += 32 << 10 {
		if err := b.take(context.Background(), 32<<10); err != nil {
			t.Fatal(err)
		}
	}
	// 2 MiB at 1 MiB/s with a full 256 KiB bucket at the start: 1.75 s.
	if got, want := clk.Now().Sub(start), 1750*time.Millisecond; got < want-time.Millisecond || got > want+time.Millisecond {
		t.Errorf("2 MiB took %v, want %v", got, want)
	}
}

// Concurrent takers share the rate: each waits for everything reserved
// before it, so with all takes at one instant the last one waits until the
// whole amount, less the burst, is covered.
func TestBucketShared(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var longest time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		longest = max(longest, d)
		mu.Unlock()
		return nil
	}
	b := newBucket(100<<10, func() time.Time { return now }, sleep) // 100 KiB/s, 25 KiB burst
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				b.take(context.Background(), 10<<10)
			}
		})
	}
	wg.Wait()
	// 400 KiB at 100 KiB/s, less the 25 KiB burst: 3.75 s.
	if want := 3750 * time.Millisecond; longest < want-time.Millisecond || longest > want+time.Millisecond {
		t.Errorf("the last of 4 x 100 KiB waits %v, want %v", longest, want)
	}
}

func TestBucketCanceled(t *testing.T) {
	clk := &fakeClock{t: time.Now()}
	b := newBucket(1024, clk.Now, func(ctx context.Context, d time.Duration) error { return sleepCtx(ctx, d) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b.take(context.Background(), b.chunk()) // empty the bucket
	if err := b.take(ctx, b.chunk()); err == nil {
		t.Error("take on a canceled context waited instead of failing")
	}
}
