package dataset

import (
	"errors"
	"fmt"
	"slices"

	"vigil/internal/detect"
)

// MaxLabels bounds a schema's labels.
const MaxLabels = 1000

// ErrSchema is returned (wrapped) for a schema that cannot be used.
var ErrSchema = errors.New("dataset: bad label schema")

// Schema is a versioned list of the labels annotators may use. A label's
// place in Labels is its class: COCO category id index+1, YOLO class index.
// A schema version is never changed once used; a new label makes a new
// version.
type Schema struct {
	Version int      `json:"version"`
	Labels  []string `json:"labels"`
}

// DefaultSchema returns schema version 1: the objects the hub alerts on.
// The labels are COCO's names, so COCO-trained detectors are scored on
// them directly ("package" has no COCO class).
func DefaultSchema() Schema {
	return Schema{Version: 1, Labels: []string{"person", "car", "dog", "cat", "bicycle", "package"}}
}

// Check reports whether s is usable: a positive version and 1 to MaxLabels
// distinct labels, each a valid detector label (detect.ValidLabel).
func (s Schema) Check() error {
	if s.Version <= 0 {
		return fmt.Errorf("%w: version %d: want a positive number", ErrSchema, s.Version)
	}
	if len(s.Labels) == 0 || len(s.Labels) > MaxLabels {
		return fmt.Errorf("%w: %d labels: want 1 to %d", ErrSchema, len(s.Labels), MaxLabels)
	}
	for i, l := range s.Labels {
		if !detect.ValidLabel(l) {
			return fmt.Errorf("%w: label %d %q: want 1 to %d printable bytes without outer spaces", ErrSchema, i, l, detect.MaxLabel)
		}
		if slices.Index(s.Labels, l) != i {
			return fmt.Errorf("%w: label %q twice", ErrSchema, l)
		}
	}
	return nil
}

// Has reports whether label is one of s's labels.
func (s Schema) Has(label string) bool { return slices.Contains(s.Labels, label) }

// Class returns label's index in s, or -1.
func (s Schema) Class(label string) int { return slices.Index(s.Labels, label) }
