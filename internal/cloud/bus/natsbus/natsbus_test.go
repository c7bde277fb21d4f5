package natsbus_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"vigil/internal/cloud/bus"
	"vigil/internal/cloud/bus/bustest"
	"vigil/internal/cloud/bus/natsbus"
	"vigil/internal/natstest"
)

func open(t *testing.T, url, prefix string) *natsbus.Bus {
	t.Helper()
	b, err := natsbus.Open(context.Background(), natsbus.Options{URL: url, Prefix: prefix, Name: t.Name(),
		MaxDeliver: bustest.Options.MaxDeliver, RetryDelay: bustest.Options.RetryDelay, ReconnectWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestNATS(t *testing.T) {
	url := natstest.URL(t)
	bustest.Run(t, func(t *testing.T) (bus.Bus, bus.Bus) {
		p := natstest.Prefix(t, url)
		return open(t, url, p), open(t, url, p)
	})
}

// While the server is away the bus says so at once (ErrUnavailable), and
// carries messages and jobs again when it returns, without a new Open.
func TestNATSOutage(t *testing.T) {
	srv := natstest.Start(t)
	a, b := open(t, srv.URL(), "o"), open(t, srv.URL(), "o")
	ctx := context.Background()
	got := make(chan string, 16)
	if _, err := a.Subscribe("s", func(_ string, d []byte) { got <- string(d) }); err != nil {
		t.Fatal(err)
	}
	jobs := make(chan string, 16)
	if _, err := a.Work("q", func(_ context.Context, d []byte) error { jobs <- string(d); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Enqueue(ctx, "q", "before", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if j := recv(t, jobs); j != "before" {
		t.Fatalf("job %q", j)
	}

	srv.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for b.Ready() == nil {
		if time.Now().After(deadline) {
			t.Fatal("Ready is nil with the server stopped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.Ready(); !errors.Is(err, bus.ErrUnavailable) {
		t.Errorf("Ready: %v, want ErrUnavailable", err)
	}
	start := time.Now()
	if err := b.Publish(ctx, "s", []byte("lost")); !errors.Is(err, bus.ErrUnavailable) {
		t.Errorf("Publish while the server is away: %v, want ErrUnavailable", err)
	}
	if _, err := b.Enqueue(ctx, "q", "during", []byte("during")); !errors.Is(err, bus.ErrUnavailable) {
		t.Errorf("Enqueue while the server is away: %v, want ErrUnavailable", err)
	}
	if _, err := b.Subscribe("s2", func(string, []byte) {}); !errors.Is(err, bus.ErrUnavailable) {
		t.Errorf("Subscribe while the server is away: %v, want ErrUnavailable", err)
	}
	t.Logf("refusals while away took %v", time.Since(start))

	srv.Restart()
	deadline = time.Now().Add(15 * time.Second)
	for a.Ready() != nil || b.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not reconnected: %v, %v", a.Ready(), b.Ready())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The subscription made before the outage carries messages again.
	for {
		if err := b.Publish(ctx, "s", []byte("after")); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if m != "after" {
				t.Fatalf("got %q", m)
			}
		case <-time.After(100 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("the subscription carries nothing after the outage")
			}
			continue
		}
		break
	}
	if _, err := b.Enqueue(ctx, "q", "after", []byte("after")); err != nil {
		t.Fatal(err)
	}
	if j := recv(t, jobs); j != "after" {
		t.Fatalf("job %q after the outage", j)
	}
}

func recv(t *testing.T, ch chan string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatal("nothing arrived")
		return ""
	}
}

// A server without JetStream is refused at Open, saying how to fix it.
func TestOpenErrors(t *testing.T) {
	_, err := natsbus.Open(context.Background(), natsbus.Options{URL: "nats://127.0.0.1:1", ConnectTimeout: time.Second})
	if err == nil {
		t.Fatal("Open of a closed port succeeded")
	}
	t.Log(err)
	if _, err := natsbus.Open(context.Background(), natsbus.Options{URL: "nats://x", Prefix: "a.b"}); err == nil {
		t.Error("a prefix with a dot was accepted")
	}
}

func BenchmarkNATSRoundTrip(b *testing.B) {
	url := natstest.URL(b)
	p := natstest.Prefix(b, url)
	x, err := natsbus.Open(context.Background(), natsbus.Options{URL: url, Prefix: p})
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	y, err := natsbus.Open(context.Background(), natsbus.Options{URL: url, Prefix: p})
	if err != nil {
		b.Fatal(err)
	}
	defer y.Close()
	bustest.BenchRoundTrip(b, x, y)
}

func BenchmarkNATSEnqueue(b *testing.B) {
	url := natstest.URL(b)
	x, err := natsbus.Open(context.Background(), natsbus.Options{URL: url, Prefix: natstest.Prefix(b, url)})
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	data := make([]byte, 3000) // a sealed event record pushed
	b.ResetTimer()
	for i := range b.N {
		if _, err := x.Enqueue(context.Background(), "bench", fmt.Sprint("job-", i), data); err != nil {
			b.Fatal(err)
		}
	}
}
