// Package webpushsink is the hub's Web Push sink: a [notify.Notifier] that
// seals each event to the household ([notify.Sealer]) and pushes it to the
// household's browser subscriptions with a [webpush.Sender].
//
// The package owns only the sink: which subscriptions get an event, its
// urgency and TTL, and what a gone subscription means. The Web Push
// protocol (RFC 8291 encryption, VAPID, the Sender) is package webpush,
// which the cloud uses too and which imports nothing of the hub.
//
// What the package must never do: push a payload that is not sealed (a
// Notifier without a Sealer refuses to send), or log payloads, keys or
// subscription secrets (an endpoint URL is a capability).
package webpushsink

import (
	"context"
	"errors"
	"fmt"
	"time"

	"vigil/internal/notify"
	"vigil/internal/notify/webpush"
)

// Notifier sends every event, sealed to the household, to every subscription.
type Notifier struct {
	Sender *webpush.Sender
	Sealer *notify.Sealer // seals the payload; required: plaintext is never pushed

	// Subscriptions returns the household's current subscriptions.
	Subscriptions func(ctx context.Context) ([]webpush.Subscription, error)
	// Gone, if set, is called for a subscription the push service reported
	// gone; the caller deletes it.
	Gone func(sub webpush.Subscription)

	// TTL of pushes; 0 means 1 hour.
	TTL time.Duration
}

// Notify seals ev and pushes it to every subscription concurrently. Alerts
// are sent with high urgency, other events with normal. It returns the
// errors of the pushes that failed, joined; a gone subscription is reported
// to Gone and not counted as a failure.
func (n *Notifier) Notify(ctx context.Context, ev notify.Event) error {
	if n.Sealer == nil || n.Sender == nil || n.Subscriptions == nil {
		return errors.New("webpush: notifier needs a sender, a sealer and subscriptions")
	}
	subs, err := n.Subscriptions(ctx)
	if err != nil {
		return fmt.Errorf("webpush: subscriptions: %w", err)
	}
	if len(subs) == 0 {
		return nil
	}
	sealed, err := n.Sealer.Seal(ev)
	if err != nil {
		return err
	}
	m := webpush.Message{Payload: sealed, TTL: n.TTL, Urgency: webpush.UrgencyNormal}
	if m.TTL == 0 {
		m.TTL = time.Hour
	}
	if ev.Alert {
		m.Urgency = webpush.UrgencyHigh
	}
	errs := make([]error, len(subs))
	done := make(chan struct{})
	for i, sub := range subs {
		go func() {
			defer func() { done <- struct{}{} }()
			err := n.Sender.Send(ctx, sub, m)
			if errors.Is(err, webpush.ErrGone) {
				if n.Gone != nil {
					n.Gone(sub)
				}
				return
			}
			errs[i] = err
		}()
	}
	for range subs {
		<-done
	}
	return errors.Join(errs...)
}
