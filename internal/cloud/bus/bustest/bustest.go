// Package bustest is the conformance suite of bus.Bus: every
// implementation runs it (bus.Local in one process, natsbus against a real
// nats-server). Only tests import it.
package bustest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/cloud/bus"
)

// Options are the work-queue settings Open must give the buses it opens,
// so that retries happen within a test's time.
var Options = struct {
	MaxDeliver int
	RetryDelay time.Duration
}{MaxDeliver: 3, RetryDelay: 50 * time.Millisecond}

// Open returns two handles on one bus, as two replicas hold (the same
// value twice for an in-process bus), closed at t's cleanup. The buses
// must use Options.
type Open func(t *testing.T) (a, b bus.Bus)

// wait is how long a message may take to arrive.
const wait = 10 * time.Second

// Run runs the suite.
func Run(t *testing.T, open Open) {
	t.Run("PublishSubscribe", func(t *testing.T) { testPublishSubscribe(t, open) })
	t.Run("Order", func(t *testing.T) { testOrder(t, open) })
	t.Run("Stop", func(t *testing.T) { testStop(t, open) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, open) })
	t.Run("WorkOnce", func(t *testing.T) { testWorkOnce(t, open) })
	t.Run("WorkRetry", func(t *testing.T) { testWorkRetry(t, open) })
	t.Run("Close", func(t *testing.T) { testClose(t, open) })
}

type got struct {
	mu   sync.Mutex
	msgs []string // subject " " data
	ch   chan struct{}
}

func newGot() *got { return &got{ch: make(chan struct{}, 1<<16)} }

func (g *got) handle(subject string, data []byte) {
	g.mu.Lock()
	g.msgs = append(g.msgs, subject+" "+string(data))
	g.mu.Unlock()
	g.ch <- struct{}{}
}

// waitFor waits until n messages have arrived in all.
func (g *got) waitFor(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.After(wait)
	for {
		g.mu.Lock()
		if len(g.msgs) >= n {
			out := slices.Clone(g.msgs)
			g.mu.Unlock()
			return out
		}
		g.mu.Unlock()
		select {
		case <-g.ch:
		case <-deadline:
			g.mu.Lock()
			defer g.mu.Unlock()
			t.Fatalf("%d messages arrived, want %d: %q", len(g.msgs), n, g.msgs)
		}
	}
}

func (g *got) snapshot() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.msgs)
}

func subscribe(t *testing.T, b bus.Bus, pattern string, h bus.Handler) bus.Sub {
	t.Helper()
	s, err := b.Subscribe(pattern, h)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", pattern, err)
	}
	t.Cleanup(s.Stop)
	return s
}

func publish(t *testing.T, b bus.Bus, subject, data string) {
	t.Helper()
	if err := b.Publish(context.Background(), subject, []byte(data)); err != nil {
		t.Fatalf("Publish(%q): %v", subject, err)
	}
}

// A message reaches the subscriptions whose patterns match, on the other
// handle too, with its subject, and no other.
func testPublishSubscribe(t *testing.T, open Open) {
	a, b := open(t)
	star, tail, exact, other := newGot(), newGot(), newGot(), newGot()
	subscribe(t, a, "live.*.x", star.handle)
	subscribe(t, a, "live.>", tail.handle)
	subscribe(t, b, "live.h1.x", exact.handle)
	subscribe(t, b, "events.*", other.handle)
	publish(t, b, "live.h1.x", "one")
	publish(t, a, "live.h2.y", "two")
	publish(t, a, "live.h3.x.deep", "three")
	publish(t, b, "events.h1", "four")

	if g := star.waitFor(t, 1); !slices.Equal(g, []string{"live.h1.x one"}) {
		t.Errorf("live.*.x got %q", g)
	}
	g := tail.waitFor(t, 3)
	slices.Sort(g)
	if !slices.Equal(g, []string{"live.h1.x one", "live.h2.y two", "live.h3.x.deep three"}) {
		t.Errorf("live.> got %q", g)
	}
	if g := exact.waitFor(t, 1); !slices.Equal(g, []string{"live.h1.x one"}) {
		t.Errorf("live.h1.x got %q", g)
	}
	if g := other.waitFor(t, 1); !slices.Equal(g, []string{"events.h1 four"}) {
		t.Errorf("events.* got %q", g)
	}
	// Nothing more arrives for the exact subscription after a last probe.
	publish(t, b, "live.h1.x", "five")
	if g := exact.waitFor(t, 2); len(g) != 2 || g[1] != "live.h1.x five" {
		t.Errorf("live.h1.x got %q", g)
	}
	if g := star.waitFor(t, 2); len(g) != 2 {
		t.Errorf("live.*.x got %q", g)
	}
}

// Messages one handle publishes on one subject arrive in order.
func testOrder(t *testing.T, open Open) {
	a, b := open(t)
	g := newGot()
	subscribe(t, b, "order.s", g.handle)
	const n = 500
	for i := range n {
		publish(t, a, "order.s", fmt.Sprint(i))
	}
	msgs := g.waitFor(t, n)
	for i, m := range msgs {
		if m != fmt.Sprintf("order.s %d", i) {
			t.Fatalf("message %d is %q", i, m)
		}
	}
}

// After Stop returns the handler is not running and is not called again;
// Stop waits for the call in flight.
func testStop(t *testing.T, open Open) {
	a, b := open(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var calls, running atomic.Int32
	s, err := a.Subscribe("stop.s", func(string, []byte) {
		running.Add(1)
		defer running.Add(-1)
		if calls.Add(1) == 1 {
			close(entered)
			<-release
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, b, "stop.s", "1")
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("the message never arrived")
	}
	stopped := make(chan struct{})
	go func() {
		s.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
		t.Fatal("Stop returned while its handler ran")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-stopped
	if running.Load() != 0 {
		t.Fatal("the handler runs after Stop returned")
	}
	n := calls.Load()
	for range 10 {
		publish(t, b, "stop.s", "2")
	}
	// A probe on another subscription shows the messages went out.
	g := newGot()
	subscribe(t, a, "stop.probe", g.handle)
	publish(t, b, "stop.s", "3")
	publish(t, b, "stop.probe", "p")
	g.waitFor(t, 1)
	if calls.Load() != n {
		t.Fatalf("the handler was called %d times after Stop", calls.Load()-n)
	}
	s.Stop() // again: no effect
}

func testBadInput(t *testing.T, open Open) {
	a, _ := open(t)
	ctx := context.Background()
	for _, s := range []string{"", "a..b", "a.*", "a.>", "a b", ".a", "a.", "a/b"} {
		if err := a.Publish(ctx, s, nil); !errors.Is(err, bus.ErrSubject) {
			t.Errorf("Publish(%q): %v, want ErrSubject", s, err)
		}
	}
	for _, s := range []string{"", "a.>.b", "a b", "a.**", "a..b"} {
		if _, err := a.Subscribe(s, func(string, []byte) {}); !errors.Is(err, bus.ErrSubject) {
			t.Errorf("Subscribe(%q): %v, want ErrSubject", s, err)
		}
	}
	if err := a.Publish(ctx, "big", make([]byte, bus.MaxData+1)); !errors.Is(err, bus.ErrTooLarge) {
		t.Errorf("Publish of MaxData+1 bytes: %v, want ErrTooLarge", err)
	}
	if _, err := a.Enqueue(ctx, "Bad.Queue", "id", nil); !errors.Is(err, bus.ErrSubject) {
		t.Errorf("Enqueue on a bad queue name: %v", err)
	}
	if _, err := a.Enqueue(ctx, "q", "", nil); !errors.Is(err, bus.ErrSubject) {
		t.Errorf("Enqueue with no ID: %v", err)
	}
	if _, err := a.Work("q.x", func(context.Context, []byte) error { return nil }); !errors.Is(err, bus.ErrSubject) {
		t.Errorf("Work on a bad queue name: %v", err)
	}
	// Any string makes a token that names only itself.
	for _, s := range []string{"a.b", "*", ">", "x y", "", "~x", "h/1"} {
		tok := bus.Token(s)
		if err := bus.CheckSubject("t."+tok, false); err != nil {
			t.Errorf("Token(%q) = %q: %v", s, tok, err)
		}
		if tok == bus.Token(s+"!") {
			t.Errorf("Token(%q) = Token(%q)", s, s+"!")
		}
	}
	if bus.Token("hh_0123-abc") != "hh_0123-abc" {
		t.Error("a token is not itself")
	}
}

// Each job runs once, with workers on both handles, however often it is
// enqueued within the window; jobs enqueued before any worker wait for one.
func testWorkOnce(t *testing.T, open Open) {
	a, b := open(t)
	ctx := context.Background()
	const n = 40
	queue := "once"
	for i := range n / 2 {
		added, err := a.Enqueue(ctx, queue, fmt.Sprintf("job-%d", i), []byte(fmt.Sprint(i)))
		if err != nil || !added {
			t.Fatalf("Enqueue job %d: added %v, %v", i, added, err)
		}
	}
	var mu sync.Mutex
	runs := map[string]int{}
	byWorker := [2]int{}
	done := make(chan struct{}, 4*n)
	for w, h := range []bus.Bus{a, b} {
		s, err := h.Work(queue, func(_ context.Context, data []byte) error {
			mu.Lock()
			runs[string(data)]++
			byWorker[w]++
			mu.Unlock()
			time.Sleep(time.Millisecond)
			done <- struct{}{}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Stop)
	}
	for i := range n {
		for k, h := range []bus.Bus{a, b} { // every job twice, once from each replica
			added, err := h.Enqueue(ctx, queue, fmt.Sprintf("job-%d", i), []byte(fmt.Sprint(i)))
			if err != nil {
				t.Fatalf("Enqueue job %d: %v", i, err)
			}
			if want := k == 0 && i >= n/2; added != want {
				t.Errorf("job %d, enqueue %d: added %v, want %v", i, k+1, added, want)
			}
		}
	}
	for i := range n {
		select {
		case <-done:
		case <-time.After(wait):
			t.Fatalf("%d of %d jobs ran", i, n)
		}
	}
	// Jobs enqueued twice would run again by now: a last one runs after them.
	if _, err := b.Enqueue(ctx, queue, "last", []byte("last")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("the last job never ran")
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(runs) != n+1 {
		t.Errorf("%d distinct jobs ran, want %d", len(runs), n+1)
	}
	for k, v := range runs {
		if v != 1 {
			t.Errorf("job %s ran %d times", k, v)
		}
	}
	t.Logf("jobs run by worker: %v", byWorker)
}

// A job that fails is handed out again; one that fails every time is
// dropped after Options.MaxDeliver attempts.
func testWorkRetry(t *testing.T, open Open) {
	a, b := open(t)
	ctx := context.Background()
	var mu sync.Mutex
	attempts := map[string]int{}
	done := make(chan string, 16)
	s, err := a.Work("retry", func(_ context.Context, data []byte) error {
		mu.Lock()
		attempts[string(data)]++
		n := attempts[string(data)]
		mu.Unlock()
		if string(data) == "flaky" && n < 2 || string(data) == "bad" {
			return errors.New("not now")
		}
		done <- string(data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	for _, j := range []string{"flaky", "bad", "good"} {
		if _, err := b.Enqueue(ctx, "retry", j, []byte(j)); err != nil {
			t.Fatal(err)
		}
	}
	var finished []string
	for len(finished) < 2 {
		select {
		case j := <-done:
			finished = append(finished, j)
		case <-time.After(wait):
			t.Fatalf("jobs done: %v", finished)
		}
	}
	slices.Sort(finished)
	if !slices.Equal(finished, []string{"flaky", "good"}) {
		t.Errorf("done %v", finished)
	}
	deadline := time.Now().Add(wait)
	for {
		mu.Lock()
		n := attempts["bad"]
		mu.Unlock()
		if n >= Options.MaxDeliver || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(5 * Options.RetryDelay)
	mu.Lock()
	defer mu.Unlock()
	if attempts["bad"] != Options.MaxDeliver {
		t.Errorf("a job failing every time was tried %d times, want %d", attempts["bad"], Options.MaxDeliver)
	}
	if attempts["flaky"] != 2 || attempts["good"] != 1 {
		t.Errorf("attempts %v", attempts)
	}
}

// Close waits for the handlers in flight; afterwards the handle refuses
// work with ErrClosed. Closing twice is fine.
func testClose(t *testing.T, open Open) {
	a, b := open(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var returned atomic.Bool
	if _, err := a.Subscribe("close.s", func(string, []byte) {
		once.Do(func() { close(entered) })
		<-release
		returned.Store(true)
	}); err != nil {
		t.Fatal(err)
	}
	publish(t, b, "close.s", "x")
	select {
	case <-entered:
	case <-time.After(wait):
		t.Fatal("the message never arrived")
	}
	closed := make(chan struct{})
	go func() {
		a.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a handler ran")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-closed
	if !returned.Load() {
		t.Fatal("Close returned before the handler")
	}
	ctx := context.Background()
	if err := a.Publish(ctx, "close.s", nil); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after Close: %v", err)
	}
	if _, err := a.Subscribe("close.s", func(string, []byte) {}); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
	if _, err := a.Enqueue(ctx, "q", "id", nil); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Enqueue after Close: %v", err)
	}
	if err := a.Ready(); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Ready after Close: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// BenchRoundTrip measures a message's round trip between two handles: a
// publishes, b's subscription answers, a's subscription receives.
func BenchRoundTrip(b *testing.B, x, y bus.Bus) {
	ctx := context.Background()
	pong := make(chan struct{}, 1)
	sx, err := x.Subscribe("bench.pong", func(string, []byte) { pong <- struct{}{} })
	if err != nil {
		b.Fatal(err)
	}
	defer sx.Stop()
	sy, err := y.Subscribe("bench.ping", func(_ string, d []byte) { y.Publish(ctx, "bench.pong", d) })
	if err != nil {
		b.Fatal(err)
	}
	defer sy.Stop()
	msg := make([]byte, 1024) // a signalling message's size
	b.ResetTimer()
	for range b.N {
		if err := x.Publish(ctx, "bench.ping", msg); err != nil {
			b.Fatal(err)
		}
		<-pong
	}
}
