package bus_test

import (
	"context"
	"testing"
	"time"

	"vigil/internal/cloud/bus"
	"vigil/internal/cloud/bus/bustest"
)

func TestLocal(t *testing.T) {
	bustest.Run(t, func(t *testing.T) (bus.Bus, bus.Bus) {
		b := bus.NewLocal(bus.LocalOptions{MaxDeliver: bustest.Options.MaxDeliver, RetryDelay: bustest.Options.RetryDelay})
		t.Cleanup(func() { b.Close() })
		return b, b
	})
}

func BenchmarkLocalRoundTrip(b *testing.B) {
	l := bus.NewLocal(bus.LocalOptions{})
	defer l.Close()
	bustest.BenchRoundTrip(b, l, l)
}

// A job ID is remembered for the dedup window only: after it, the same ID
// is a new job.
func TestLocalDedupWindow(t *testing.T) {
	b := bus.NewLocal(bus.LocalOptions{DedupWindow: 50 * time.Millisecond})
	defer b.Close()
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		if added, err := b.Enqueue(ctx, "q", "same", nil); err != nil || added != want {
			t.Fatalf("Enqueue %d: added %v, %v; want %v", i+1, added, err, want)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if added, err := b.Enqueue(ctx, "q", "same", nil); err != nil || !added {
		t.Fatalf("Enqueue after the window: added %v, %v", added, err)
	}
}
