package upload

import (
	"bytes"
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// bucket is a token bucket of bytes shared by all uploads: it refills at
// rate bytes per second up to burst. Takers reserve tokens and then wait out
// their deficit, so concurrent uploads share the rate fairly.
type bucket struct {
	rate  float64 // bytes per second
	burst float64
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

const (
	minBurst = 1 << 10
	maxBurst = 256 << 10
)

// newBucket returns a bucket for rate bytes per second (rate > 0), starting
// full. The burst is a quarter second of traffic, within [1 KiB, 256 KiB].
func newBucket(rate int64, now func() time.Time, sleep func(context.Context, time.Duration) error) *bucket {
	burst := min(max(float64(rate)/4, minBurst), maxBurst)
	return &bucket{rate: float64(rate), burst: burst, now: now, sleep: sleep, tokens: burst, last: now()}
}

// chunk is the most a single take may ask for.
func (b *bucket) chunk() int { return int(b.burst) }

// take reserves n bytes (n <= chunk) and waits until the bucket has
// covered them. It returns ctx's error if ctx ends first.
func (b *bucket) take(ctx context.Context, n int) error {
	b.mu.Lock()
	now := b.now()
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(b.burst, b.tokens+el.Seconds()*b.rate)
	}
	b.last = now
	b.tokens -= float64(n)
	var wait time.Duration
	if b.tokens < 0 {
		wait = time.Duration(-b.tokens / b.rate * float64(time.Second))
	}
	b.mu.Unlock()
	if wait > 0 {
		return b.sleep(ctx, wait)
	}
	return ctx.Err()
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// bodyReader is a request body over sealed bytes that counts what the
// transport reads and, when b is set, paces it through the bucket.
type bodyReader struct {
	ctx  context.Context
	b    *bucket // nil: unlimited
	r    *bytes.Reader
	sent *atomic.Int64
}

func (br *bodyReader) Read(p []byte) (int, error) {
	if br.r.Len() == 0 {
		return 0, io.EOF
	}
	if br.b != nil {
		n := min(len(p), br.b.chunk(), br.r.Len())
		if err := br.b.take(br.ctx, n); err != nil {
			return 0, err
		}
		p = p[:n]
	}
	n, err := br.r.Read(p)
	br.sent.Add(int64(n))
	return n, err
}
