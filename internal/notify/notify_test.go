package notify

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestDispatcherFansOutAndMeasures(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]string{}
	sink := func(name string, fail bool) Sink {
		return Sink{Name: name, Notifier: NotifierFunc(func(_ context.Context, ev Event) error {
			mu.Lock()
			got[name] = append(got[name], ev.ID)
			mu.Unlock()
			if fail {
				return errors.New("down")
			}
			return nil
		})}
	}
	clock := time.Unix(1000, 0)
	d := NewDispatcher(DispatcherConfig{Now: func() time.Time { return clock }}, sink("a", false), sink("b", true))
	for i, id := range []string{"e1", "e2", "e3", "e4"} {
		// First frames 1, 2, 3, 4 seconds before the (fixed) delivery time.
		d.Notify(context.Background(), Event{ID: id, FirstFrame: clock.Add(-time.Duration(i+1) * time.Second)})
	}
	waitFor(t, func() bool {
		s := d.Stats()
		return s[0].Delivered == 4 && s[1].Failed == 4
	})
	d.Close()
	if got["a"][0] != "e1" || len(got["a"]) != 4 || len(got["b"]) != 4 {
		t.Fatalf("deliveries: %v", got)
	}
	s := d.Stats()
	if s[0].Samples != 4 || s[0].P50 != 2*time.Second || s[0].P95 != 4*time.Second {
		t.Fatalf("sink a stats %+v", s[0])
	}
	if s[1].Samples != 0 || s[1].Delivered != 0 {
		t.Fatalf("failed deliveries were measured: %+v", s[1])
	}
}

func TestDispatcherDropsOldestWithoutBlocking(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var got []string
	slow := NotifierFunc(func(ctx context.Context, ev Event) error {
		<-release
		mu.Lock()
		got = append(got, ev.ID)
		mu.Unlock()
		return nil
	})
	d := NewDispatcher(DispatcherConfig{QueueSize: 2}, Sink{Name: "slow", Notifier: slow})
	defer d.Close()
	d.Notify(context.Background(), Event{ID: "first"})
	waitFor(t, func() bool { return len(d.sinks[0].ch) == 0 }) // "first" is in flight
	for _, id := range []string{"x1", "x2", "x3", "x4", "x5"} {
		d.Notify(context.Background(), Event{ID: id}) // must not block
	}
	if s := d.Stats()[0]; s.Dropped != 3 {
		t.Fatalf("dropped %d, want 3", s.Dropped)
	}
	close(release)
	waitFor(t, func() bool { return d.Stats()[0].Delivered == 3 })
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || got[0] != "first" || got[1] != "x4" || got[2] != "x5" {
		t.Fatalf("delivered %v, want [first x4 x5]", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	if p := Percentile(ds, 0.5); p != 5 {
		t.Errorf("p50 = %v", p)
	}
	if p := Percentile(ds, 0.95); p != 10 {
		t.Errorf("p95 = %v", p)
	}
	if p := Percentile(nil, 0.5); p != 0 {
		t.Errorf("empty p50 = %v", p)
	}
}
