// Package canonjson is the canonical JSON of the records devices sign
// (household actions, consent records, release manifests): one encoding
// of a value, so that a signature is over bytes every reader rebuilds the
// same way, in Go and in the browser.
//
// It owns Marshal (no spaces, no HTML escaping: as JavaScript's
// JSON.stringify), Decode (one JSON object, no unknown field, nothing
// after it) and the time form of those records (UTC, milliseconds). A
// reader checks canonical form by encoding what it decoded again and
// comparing the bytes; Decode alone does not refuse key case, duplicate
// keys, order or spaces.
//
// What it must never do: accept what it cannot give back byte for byte,
// or depend on anything but the standard library (the records' packages,
// device side and cloud side, import it).
package canonjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"time"
)

// TimeLayout is how a record writes a time: RFC 3339 in UTC with
// milliseconds, as JavaScript's Date.toISOString.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Marshal encodes v without spaces and without HTML escaping.
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Decode decodes one JSON object into v, refusing unknown fields and
// trailing data.
func Decode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// FormatTime writes t in TimeLayout; false when t has no such form (a
// year outside 0..9999, or finer than a millisecond).
func FormatTime(t time.Time) (string, bool) {
	t = t.UTC()
	s := t.Format(TimeLayout)
	back, err := time.Parse(TimeLayout, s)
	return s, err == nil && back.Equal(t)
}

// ParseTime reads a time FormatTime wrote, and nothing else.
func ParseTime(s string) (time.Time, bool) {
	t, err := time.Parse(TimeLayout, s)
	return t, err == nil && t.Format(TimeLayout) == s
}
