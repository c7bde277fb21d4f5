// Package yolo reads, writes and checks object-detection labels in the
// YOLO format (Darknet's, as Ultralytics reads it): one text file per
// image under labels/, named as the image with .txt, one object a line,
// "class cx cy w h" with the box's centre and size divided by the image's
// width and height; and data.yaml, which names the classes in order.
//
// Files are hostile: sizes are bounded before reading, every value is
// checked (five fields, an integer class among the names, finite values
// in [0, 1], a box inside the image). The package only handles the text:
// pairing label files with images is the caller's (package dataset). It
// never logs.
package yolo

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Bounds on the files.
const (
	// MaxLabelFile bounds a label file's bytes.
	MaxLabelFile = 4 << 20
	// MaxDataFile bounds data.yaml's bytes.
	MaxDataFile = 1 << 20
	// MaxClasses bounds the names in data.yaml.
	MaxClasses = 10000
)

// ErrFormat is returned (wrapped) for a label file or data.yaml that is
// not valid; the message names the line or key.
var ErrFormat = errors.New("yolo: bad format")

// Label is one object of an image: its class index and its box, centre
// and size, as fractions of the image's width and height.
type Label struct {
	Class        int
	CX, CY, W, H float64
}

// FromPixels returns the label of a box [x, y, w, h] in the pixels of a
// width x height image.
func FromPixels(class int, x, y, w, h float64, width, height int) Label {
	W, H := float64(width), float64(height)
	return Label{Class: class, CX: (x + w/2) / W, CY: (y + h/2) / H, W: w / W, H: h / H}
}

// Pixels returns l's box as [x, y, w, h] in the pixels of a width x height
// image.
func (l Label) Pixels(width, height int) [4]float64 {
	W, H := float64(width), float64(height)
	return [4]float64{(l.CX - l.W/2) * W, (l.CY - l.H/2) * H, l.W * W, l.H * H}
}

// FormatLabels writes labels one a line, values with 6 decimals.
func FormatLabels(ls []Label) []byte {
	var b bytes.Buffer
	for _, l := range ls {
		fmt.Fprintf(&b, "%d %.6f %.6f %.6f %.6f\n", l.Class, l.CX, l.CY, l.W, l.H)
	}
	return b.Bytes()
}

// slack is how far a box may stick out of the image: the rounding of six
// decimals.
const slack = 1e-5

// ParseLabels reads a label file for a dataset of classes classes. An
// empty file is an image with no object; blank lines are skipped.
func ParseLabels(data []byte, classes int) ([]Label, error) {
	if len(data) > MaxLabelFile {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFormat, len(data), MaxLabelFile)
	}
	var out []Label
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 5 {
			return nil, fmt.Errorf("%w: line %d: %d fields, want 5 (class cx cy w h)", ErrFormat, n+1, len(fs))
		}
		c, err := strconv.Atoi(fs[0])
		if err != nil || c < 0 || c >= classes {
			return nil, fmt.Errorf("%w: line %d: class %q: want an integer from 0 to %d (the names in data.yaml)", ErrFormat, n+1, clip(fs[0]), classes-1)
		}
		var v [4]float64
		for i := range v {
			v[i], err = strconv.ParseFloat(fs[i+1], 64)
			if err != nil || math.IsNaN(v[i]) || v[i] < 0 || v[i] > 1 {
				return nil, fmt.Errorf("%w: line %d: value %d %q: want a number in [0, 1]", ErrFormat, n+1, i+1, clip(fs[i+1]))
			}
		}
		l := Label{Class: c, CX: v[0], CY: v[1], W: v[2], H: v[3]}
		if l.W <= 0 || l.H <= 0 || l.CX-l.W/2 < -slack || l.CY-l.H/2 < -slack || l.CX+l.W/2 > 1+slack || l.CY+l.H/2 > 1+slack {
			return nil, fmt.Errorf("%w: line %d: box %v empty or not inside the image", ErrFormat, n+1, v)
		}
		out = append(out, l)
	}
	return out, nil
}

func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// Data is data.yaml: the dataset's root, its image directories and the
// class names in class order.
type Data struct {
	Path  string   `yaml:"path"`
	Train string   `yaml:"train"`
	Val   string   `yaml:"val"`
	Names []string `yaml:"-"`
}

// MarshalData writes d as data.yaml, the names as a mapping from class
// index to name.
func MarshalData(d Data) ([]byte, error) {
	if err := checkNames(d.Names); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "path: %s\ntrain: %s\nval: %s\nnc: %d\nnames:\n", quote(d.Path), quote(d.Train), quote(d.Val), len(d.Names))
	for i, n := range d.Names {
		fmt.Fprintf(&b, "  %d: %s\n", i, quote(n))
	}
	return b.Bytes(), nil
}

func quote(s string) string { return strconv.Quote(s) }

// ParseData reads data.yaml. names is a list or a mapping from 0..n-1 to
// names; nc, when present, must equal the number of names; train and val
// are required.
func ParseData(data []byte) (*Data, error) {
	if len(data) > MaxDataFile {
		return nil, fmt.Errorf("%w: data.yaml: %d bytes, more than %d", ErrFormat, len(data), MaxDataFile)
	}
	var raw struct {
		Path  string    `yaml:"path"`
		Train string    `yaml:"train"`
		Val   string    `yaml:"val"`
		Test  string    `yaml:"test"`
		NC    *int      `yaml:"nc"`
		Names yaml.Node `yaml:"names"`
	}
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%w: data.yaml: %v", ErrFormat, err)
	}
	if raw.Train == "" || raw.Val == "" {
		return nil, fmt.Errorf("%w: data.yaml: train and val are required", ErrFormat)
	}
	var names []string
	switch raw.Names.Kind {
	case yaml.SequenceNode:
		if len(raw.Names.Content) > MaxClasses {
			return nil, fmt.Errorf("%w: data.yaml: more than %d names", ErrFormat, MaxClasses)
		}
		if err := raw.Names.Decode(&names); err != nil {
			return nil, fmt.Errorf("%w: data.yaml: names: %v", ErrFormat, err)
		}
	case yaml.MappingNode:
		if len(raw.Names.Content)/2 > MaxClasses {
			return nil, fmt.Errorf("%w: data.yaml: more than %d names", ErrFormat, MaxClasses)
		}
		var m map[int]string
		if err := raw.Names.Decode(&m); err != nil {
			return nil, fmt.Errorf("%w: data.yaml: names: %v", ErrFormat, err)
		}
		names = make([]string, len(m))
		for i := range names {
			n, ok := m[i]
			if !ok {
				return nil, fmt.Errorf("%w: data.yaml: names: class %d missing (want 0 to %d)", ErrFormat, i, len(m)-1)
			}
			names[i] = n
		}
	default:
		return nil, fmt.Errorf("%w: data.yaml: names is missing or neither a list nor a mapping", ErrFormat)
	}
	if err := checkNames(names); err != nil {
		return nil, err
	}
	if raw.NC != nil && *raw.NC != len(names) {
		return nil, fmt.Errorf("%w: data.yaml: nc %d but %d names", ErrFormat, *raw.NC, len(names))
	}
	return &Data{Path: raw.Path, Train: raw.Train, Val: raw.Val, Names: names}, nil
}

func checkNames(names []string) error {
	if len(names) == 0 || len(names) > MaxClasses {
		return fmt.Errorf("%w: data.yaml: %d names: want 1 to %d", ErrFormat, len(names), MaxClasses)
	}
	seen := map[string]bool{}
	for i, n := range names {
		if n == "" || seen[n] {
			return fmt.Errorf("%w: data.yaml: name %d %q empty or used twice", ErrFormat, i, n)
		}
		seen[n] = true
	}
	return nil
}
