package notify

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"vigil/internal/envelope"
	"vigil/internal/eventrec"
)

// MaxPayload bounds a [Payload]'s JSON as [Payload.Marshal] writes it and
// [ParsePayload] reads it: an event's labels and zones are few and short.
const MaxPayload = 2048

// Payload is the notification content that MQTT and webhooks carry on the
// household's own network: event metadata only, never an image. Pushes
// that leave the home carry the sealed event record instead ([Sealer]).
type Payload struct {
	ID     string    `json:"id"`
	Kind   string    `json:"kind,omitempty"` // "ring" for a doorbell's ring; absent for a detection
	Camera string    `json:"camera"`
	Labels []string  `json:"labels"`
	Zones  []string  `json:"zones"`
	Score  float64   `json:"score"`
	Alert  bool      `json:"alert"`
	Phase  string    `json:"phase"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end,omitzero"`
	// Health alerts only (kind "health"): the check, the message and, in
	// a resolution (phase "end"), the flaps counted.
	Check   string `json:"check,omitempty"`
	Message string `json:"message,omitempty"`
	Flaps   int    `json:"flaps,omitempty"`
}

// PayloadOf returns ev's payload.
func PayloadOf(ev Event) Payload {
	labels, zones := ev.Labels, ev.Zones
	if labels == nil {
		labels = []string{}
	}
	if zones == nil {
		zones = []string{}
	}
	return Payload{
		ID: ev.ID, Kind: ev.Kind, Camera: ev.Camera, Labels: labels, Zones: zones,
		Score: ev.Score, Alert: ev.Alert, Phase: ev.Phase.String(),
		Start: ev.Start.UTC(), End: ev.End.UTC(),
		Check: ev.Check, Message: ev.Message, Flaps: ev.Flaps,
	}
}

// Marshal returns p's JSON, or an error if it is longer than [MaxPayload].
func (p Payload) Marshal() ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxPayload {
		return nil, fmt.Errorf("notify: payload is %d bytes, more than %d (too many labels or zones)", len(b), MaxPayload)
	}
	return b, nil
}

// ParsePayload parses a payload's JSON. It rejects input longer than
// [MaxPayload], unknown fields and invalid UTF-8.
func ParsePayload(b []byte) (Payload, error) {
	var p Payload
	if len(b) > MaxPayload {
		return p, fmt.Errorf("notify: payload is %d bytes, more than %d", len(b), MaxPayload)
	}
	if !utf8.Valid(b) {
		return p, errors.New("notify: payload is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Payload{}, fmt.Errorf("notify: parse payload: %w", err)
	}
	if dec.More() {
		return Payload{}, errors.New("notify: parse payload: trailing data")
	}
	return p, nil
}

// Keys returns the household's current epoch and its recipients. It is called
// for every notification, so that a new epoch (a member removed) takes effect
// at once.
type Keys func() (epoch uint32, recipients []envelope.Recipient, err error)

// Sealer seals notifications to the household as event records
// (package eventrec), the one format the cloud relays and the web app's
// service worker opens.
type Sealer struct {
	Signer ed25519.PrivateKey // the hub's signing key
	Keys   Keys               // the household's current epoch recipients

	seq atomic.Uint64
}

// Seal returns ev as an event record (a health record for [KindHealth]) sealed to the household's current
// epoch: an [envelope.KindEvent] object on stream [eventrec.StreamEvents],
// whose public header names no camera. An event still open (no End) is a
// "start" record, an ended one an "end" record; a notification carries no
// box and no snapshot. Its envelope sequence number is the Sealer's own
// counter: a pushed record is not an object the cloud stores.
func (s *Sealer) Seal(ev Event) ([]byte, error) {
	if s == nil || s.Signer == nil || s.Keys == nil {
		return nil, errors.New("notify: sealer has no signing key or household keys")
	}
	epoch, rcpts, err := s.Keys()
	if err != nil {
		return nil, fmt.Errorf("notify: household keys: %w", err)
	}
	if len(rcpts) == 0 {
		return nil, errors.New("notify: no household recipients (hint: the hub has not joined a household yet)")
	}
	start := ev.Start
	if start.IsZero() {
		start = ev.FirstFrame
	}
	rec := eventrec.Record{
		ID: ev.ID, Camera: ev.Camera, State: eventrec.StateStart, Start: start,
		Labels: ev.Labels, Zones: ev.Zones, Alert: ev.Alert, Score: min(max(ev.Score, 0), 1),
	}
	if !ev.End.IsZero() {
		rec.State, rec.End = eventrec.StateEnd, ev.End
	}
	if ev.Kind == KindHealth {
		rec = eventrec.Record{Kind: eventrec.KindHealth, ID: ev.ID, Check: ev.Check, Camera: ev.Camera,
			State: eventrec.StateProblem, Start: start, Message: ev.Message}
		if !ev.End.IsZero() {
			rec.State, rec.End, rec.Flaps = eventrec.StateResolved, ev.End, ev.Flaps
		}
	}
	sealed, err := eventrec.Seal(rec, s.seq.Add(1), epoch, s.Signer, rcpts...)
	if err != nil {
		return nil, fmt.Errorf("notify: seal: %w", err)
	}
	return sealed, nil
}
