// Package notify delivers detection events, doorbell rings (events of
// kind [KindRing]) and the hub's health alerts ([KindHealth]) to sinks on
// the household's own network: MQTT (package mqtt) and signed webhooks
// (package webhook), fanned out by a
// [Dispatcher] that never blocks the detection pipeline. Web Push to the
// household's devices goes through the cloud: the hub uploads the sealed
// event record (package eventrec) and the cloud pushes it.
//
// The package owns:
//   - the [Event] a notification is made from, and the [Payload] JSON that
//     MQTT and webhooks carry on the household's own network;
//   - the [Notifier] contract every sink implements;
//   - the [Dispatcher]: one bounded queue per sink (the oldest event is
//     dropped, and counted, when a sink falls behind), concurrent delivery,
//     and the latency from an event's first frame to its delivery (p50/p95).
//
// Sealing. What crosses a party outside the home (the push service, the
// cloud) is not sent by this package: it is an event record (package eventrec) sealed with the
// envelope format to the household's current epoch recipients and signed by
// the hub: the same object the hub uploads for its inbox, which the cloud
// forwards as a Web Push and the web app's service worker opens with the
// keys it already has. The envelope's public header says only that an event
// exists for the household at a time: its Stream is the fixed
// [eventrec.StreamEvents] (never a camera id). Neither the cloud nor the
// push service can read "person at the front door".
//
// What the package must never do:
//   - block the caller of [Dispatcher.Notify];
//   - send a label, zone, camera name or image to a party outside the home
//     in the clear (MQTT and webhooks go to endpoints the household
//     configures; they carry metadata in the clear by the household's choice,
//     and no image unless explicitly enabled);
//   - log payloads, keys, tokens or images.
package notify

import (
	"context"
	"time"
)

// Phase says which moment of an event a notification is about.
type Phase uint8

// Event phases.
const (
	PhaseStart  Phase = iota // the event began (the first true positive)
	PhaseUpdate              // a new label, zone or better score during the event
	PhaseEnd                 // the event ended (some seconds after the last activity)
)

// String returns "start", "update" or "end".
func (p Phase) String() string {
	switch p {
	case PhaseStart:
		return "start"
	case PhaseUpdate:
		return "update"
	case PhaseEnd:
		return "end"
	}
	return "unknown"
}

// Kinds of events. A detection has no kind ("").
const (
	// KindRing is a doorbell's ring: a press of its button, with the
	// label "ring", no score and a single phase (start).
	KindRing = "ring"
	// KindHealth is a health alert of the hub (package hubwatch): Check
	// and Message are set, Camera only for a camera's check; PhaseStart
	// when the problem is told, PhaseEnd when it is resolved.
	KindHealth = "health"
)

// Event is a detection event or a doorbell's ring as notifications see it.
type Event struct {
	ID     string   // event id, unique per hub
	Kind   string   // "" for a detection, KindRing for a ring
	Camera string   // camera id
	Labels []string // object labels in the event, e.g. "person"
	Zones  []string // zones the objects entered
	Score  float64  // best score so far, 0..1
	Alert  bool     // whether the household's alert rules matched
	Phase  Phase

	Start time.Time // start of the event
	End   time.Time // end of the event; zero while it is ongoing

	// FirstFrame is the capture time of the first frame that showed the
	// object; delivery latency is measured from it.
	FirstFrame time.Time

	// Snapshot is an optional JPEG of the event's best frame. Sinks send it
	// only when explicitly configured to; it is never part of a [Payload].
	Snapshot []byte

	// Health alerts only: the check (an eventrec Check constant), what
	// happened in plain words, and in a resolution the flaps counted.
	Check   string
	Message string
	Flaps   int
}

// Notifier is a notification sink.
//
// Notify delivers ev and returns once it has been delivered (or has failed
// for good); it may block, retry and honours ctx. Implementations must be
// safe for concurrent use. The [Dispatcher] calls each sink from a single
// goroutine.
type Notifier interface {
	Notify(ctx context.Context, ev Event) error
}

// NotifierFunc adapts a function to [Notifier].
type NotifierFunc func(ctx context.Context, ev Event) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, ev Event) error { return f(ctx, ev) }
