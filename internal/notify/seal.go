package notify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// MaxPayload bounds a [Payload]'s JSON as [Payload.Marshal] writes it and
// [ParsePayload] reads it: an event's labels and zones are few and short.
const MaxPayload = 2048

// Payload is the notification content that MQTT and webhooks carry on the
// household's own network: event metadata only, never an image. What
// leaves the home is the sealed event record instead (package eventrec).
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
