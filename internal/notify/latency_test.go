package notify_test

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"vigil/internal/envelope"
	"vigil/internal/eventrec"
	"vigil/internal/notify"
	"vigil/internal/notify/webhook"
	"vigil/internal/notify/webpush"
	"vigil/internal/notify/webpushsink"
)

// BenchmarkLatency measures, through a Dispatcher on loopback, the time from
// an event's first frame to its delivery: for Web Push until a push service
// that verifies VAPID and decrypts the message has accepted it, for a webhook
// until a receiver that verifies the signature has answered. Each iteration
// is one event delivered to both sinks; p50/p95 are reported per sink.
//
//	go test -run '^$' -bench Latency -benchtime 200x ./internal/notify/
func BenchmarkLatency(b *testing.B) {
	household, _ := envelope.GenerateX25519Identity()
	hub, _ := envelope.GenerateSigningKey()
	trusted := envelope.TrustedKeys{hub.Public().(ed25519.PublicKey)}
	sealer := &notify.Sealer{Signer: hub, Keys: func() (uint32, []envelope.Recipient, error) {
		return 1, []envelope.Recipient{household.Recipient()}, nil
	}}

	// Push service: checks VAPID, decrypts with the subscription's key and
	// (standing in for the service worker) opens the sealed payload.
	vapid, _ := webpush.GenerateVAPIDKey()
	ua, _ := ecdh.P256().GenerateKey(rand.Reader)
	auth := make([]byte, 16)
	rand.Read(auth)
	delivered := make(chan string, 2)
	var push *httptest.Server
	push = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, err := webpush.VerifyAuthorization(r.Header.Get("Authorization"), push.URL, time.Now()); err != nil {
			b.Error(err)
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, webpush.RecordSize))
		sealed, err := webpush.Decrypt(body, ua, auth)
		if err != nil {
			b.Error(err)
		}
		if _, _, err := eventrec.Open(sealed, trusted, household); err != nil {
			b.Error(err)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer push.Close()
	var sub webpush.Subscription
	sub.Endpoint = push.URL + "/sub"
	sub.Keys.P256dh = base64.RawURLEncoding.EncodeToString(ua.PublicKey().Bytes())
	sub.Keys.Auth = base64.RawURLEncoding.EncodeToString(auth)
	wp := &webpushsink.Notifier{
		Sender:        &webpush.Sender{VAPID: vapid, Subject: "mailto:hub@example.org"},
		Sealer:        sealer,
		Subscriptions: func(context.Context) ([]webpush.Subscription, error) { return []webpush.Subscription{sub}, nil },
	}

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
	d := notify.NewDispatcher(notify.DispatcherConfig{QueueSize: 4}, signal("webpush", wp), signal("webhook", wh))
	defer d.Close()

	b.ResetTimer()
	for i := range b.N {
		now := time.Now()
		d.Notify(context.Background(), notify.Event{
			ID: fmt.Sprintf("%032x", i), Camera: "front-door", Labels: []string{"person"}, Zones: []string{"porch"},
			Alert: true, Start: now, FirstFrame: now, Score: float64(i%100) / 100,
		})
		<-delivered
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
