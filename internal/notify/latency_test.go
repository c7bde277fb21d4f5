package notify_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"vigil/internal/notify"
	"vigil/internal/notify/webhook"
)

// BenchmarkLatency measures, through a Dispatcher on loopback, the time from
// an event's first frame to its delivery to a webhook receiver that
// verifies the signature. p50/p95 are reported per sink.
//
//	go test -run '^$' -bench Latency -benchtime 200x ./internal/notify/
func BenchmarkLatency(b *testing.B) {
	delivered := make(chan string, 1)
	secret := []byte("0123456789abcdef0123456789abcdef")
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			b.Error(err)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	wh, err := webhook.New(webhook.Config{URLs: []string{recv.URL}, Secret: secret})
	if err != nil {
		b.Fatal(err)
	}

	signal := func(name string, n notify.Notifier) notify.Sink {
		return notify.Sink{Name: name, Notifier: notify.NotifierFunc(func(ctx context.Context, ev notify.Event) error {
			err := n.Notify(ctx, ev)
			delivered <- name
			return err
		})}
	}
	d := notify.NewDispatcher(notify.DispatcherConfig{QueueSize: 4}, signal("webhook", wh))
	defer d.Close()

	b.ResetTimer()
	for i := range b.N {
		now := time.Now()
		d.Notify(context.Background(), notify.Event{
			ID: fmt.Sprintf("%032x", i), Camera: "front-door", Labels: []string{"person"}, Zones: []string{"porch"},
			Alert: true, Start: now, FirstFrame: now, Score: float64(i%100) / 100,
		})
		<-delivered
	}
	b.StopTimer()
	for _, s := range d.Stats() {
		if s.Failed > 0 || s.Dropped > 0 {
			b.Fatalf("%s: %d failed, %d dropped", s.Name, s.Failed, s.Dropped)
		}
		b.ReportMetric(float64(s.P50.Microseconds())/1000, s.Name+"-p50-ms")
		b.ReportMetric(float64(s.P95.Microseconds())/1000, s.Name+"-p95-ms")
	}
}
