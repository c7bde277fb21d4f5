package bus_test

import (
	"testing"

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
