package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"vigil/internal/detect/events"
)

// AppDetect is the part of a camera's detection settings that the web
// app's zones page edits and sends to the hub: motion masks, zones, the
// labels tracked and the lowest score kept. On the hub it replaces the
// config file's detect.mask and detect.events.zones for that camera, and
// detect.labels and detect.min_score when it sets them (empty labels and a
// zero score leave the config file's); alert rules and everything else stay
// the config file's.
//
// It arrives from a browser, so it is parsed strictly (unknown fields,
// invalid UTF-8 and oversized input refused) and bounded before use.
type AppDetect struct {
	Mask     [][][2]float64 `json:"mask"`
	Zones    []events.Zone  `json:"zones"`
	Labels   []string       `json:"labels,omitempty"`
	MinScore float64        `json:"min_score,omitempty"`
}

// Bounds of an AppDetect.
const (
	MaxAppDetectBytes = 64 << 10
	MaxMasks          = 64
	MaxMaskPoints     = 256
)

// ParseAppDetect parses an AppDetect's JSON.
func ParseAppDetect(b []byte) (AppDetect, error) {
	var a AppDetect
	if len(b) > MaxAppDetectBytes {
		return a, fmt.Errorf("settings of %d bytes, at most %d", len(b), MaxAppDetectBytes)
	}
	if !utf8.Valid(b) {
		return a, errors.New("settings are not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return AppDetect{}, fmt.Errorf("settings: %w", err)
	}
	if dec.More() {
		return AppDetect{}, errors.New("settings: trailing data after the JSON object")
	}
	// encoding/json fills a [2]float64 from an array of any length; a
	// point must be exactly [x, y].
	var shape struct {
		Mask  [][][]float64 `json:"mask"`
		Zones []struct {
			Points [][]float64 `json:"points"`
		} `json:"zones"`
	}
	if err := json.Unmarshal(b, &shape); err != nil {
		return AppDetect{}, fmt.Errorf("settings: %w", err)
	}
	for i, p := range shape.Mask {
		for j, pt := range p {
			if len(pt) != 2 {
				return AppDetect{}, fmt.Errorf("settings: mask[%d][%d] has %d numbers; a point is [x, y]", i, j, len(pt))
			}
		}
	}
	for i, z := range shape.Zones {
		for j, pt := range z.Points {
			if len(pt) != 2 {
				return AppDetect{}, fmt.Errorf("settings: zones[%d].points[%d] has %d numbers; a point is [x, y]", i, j, len(pt))
			}
		}
	}
	return a.Clone(), nil
}

// AppDetect returns the masks and zones d holds (empty for a nil d).
func (d *Detect) AppDetect() AppDetect {
	if d == nil {
		return AppDetect{}.Clone()
	}
	return AppDetect{Mask: d.Mask, Zones: d.Events.Zones, Labels: d.Labels, MinScore: d.MinScore}.Clone()
}

// Clone returns a deep copy of a, with empty (not nil) lists.
func (a AppDetect) Clone() AppDetect {
	c := AppDetect{Mask: [][][2]float64{}, Zones: []events.Zone{}, Labels: slices.Clone(a.Labels), MinScore: a.MinScore}
	for _, p := range a.Mask {
		c.Mask = append(c.Mask, slices.Clone(p))
	}
	for _, z := range a.Zones {
		z.Points = slices.Clone(z.Points)
		z.Labels = slices.Clone(z.Labels)
		c.Zones = append(c.Zones, z)
	}
	return c
}

// With returns a copy of d whose masks and zones are a's, or every problem
// of the result: a's own (bounds, coordinates, names) and the config
// file's rules that name a zone a no longer has.
func (d Detect) With(a AppDetect) (Detect, error) {
	var errs []error
	if len(a.Mask) > MaxMasks {
		errs = append(errs, fmt.Errorf("mask: %d polygons, at most %d", len(a.Mask), MaxMasks))
	}
	for i, p := range a.Mask {
		if len(p) > MaxMaskPoints {
			errs = append(errs, fmt.Errorf("mask[%d]: %d points, at most %d", i, len(p), MaxMaskPoints))
		}
	}
	if len(errs) > 0 {
		return Detect{}, errors.Join(errs...)
	}
	c := a.Clone()
	out := d
	out.Mask, out.Events.Zones = c.Mask, c.Zones
	if len(c.Labels) > 0 {
		out.Labels = c.Labels
	}
	if c.MinScore != 0 {
		out.MinScore = c.MinScore
	}
	if ve := out.validate(nil, "detect"); len(ve) > 0 {
		errs := make([]error, len(ve))
		for i, e := range ve {
			errs[i] = e
		}
		return Detect{}, errors.Join(errs...)
	}
	return out, nil
}
