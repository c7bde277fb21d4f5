// Package coco reads, writes and checks object-detection datasets in the
// COCO "instances" format (the annotations JSON of cocodataset.org's
// detection task): info, images, annotations with bbox, area, iscrowd and
// category_id, and categories.
//
// [Parse] checks a file against the format's schema: every required key
// present with its JSON type, ids unique, every annotation's image_id and
// category_id naming an image and a category, bboxes finite, non-empty and
// inside their image, area consistent with the bbox. Files are hostile:
// their size is bounded before reading and their counts before use. The
// package only handles the JSON: which image files exist is the caller's
// to check (package dataset does). It never logs.
package coco

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"strings"
)

// Bounds on a file.
const (
	// MaxFileSize bounds an instances file's bytes.
	MaxFileSize = 256 << 20
	// MaxSide bounds an image's width and height.
	MaxSide = 1 << 15
)

// ErrFormat is returned (wrapped) for a file that is not a valid COCO
// instances file; the message names the element and the key.
var ErrFormat = errors.New("coco: bad instances file")

// Info is the dataset's description.
type Info struct {
	Description string `json:"description"`
	Version     string `json:"version"`
	Year        int    `json:"year"`
	DateCreated string `json:"date_created"`
	URL         string `json:"url"`
	Contributor string `json:"contributor"`
}

// Image is one image of the dataset; FileName is relative to the images
// directory.
type Image struct {
	ID       int64  `json:"id"`
	FileName string `json:"file_name"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
}

// Annotation is one object's box in an image. BBox is [x, y, w, h] in
// the image's pixels, x, y the top-left corner; Area is the object's area
// (w*h for a box without segmentation); IsCrowd 1 marks a region a
// detector is neither rewarded nor penalised for.
type Annotation struct {
	ID           int64           `json:"id"`
	ImageID      int64           `json:"image_id"`
	CategoryID   int64           `json:"category_id"`
	BBox         [4]float64      `json:"bbox"`
	Area         float64         `json:"area"`
	IsCrowd      int             `json:"iscrowd"`
	Segmentation json.RawMessage `json:"segmentation,omitempty"`
}

// Category is one label.
type Category struct {
	ID            int64  `json:"id"`
	Name          string `json:"name"`
	Supercategory string `json:"supercategory"`
}

// File is an instances file.
type File struct {
	Info        Info         `json:"info"`
	Licenses    []any        `json:"licenses"`
	Images      []Image      `json:"images"`
	Annotations []Annotation `json:"annotations"`
	Categories  []Category   `json:"categories"`
}

// kinds of JSON value a required key must hold.
const (
	kObject = "an object"
	kArray  = "an array"
	kNumber = "a number"
	kString = "a string"
)

func kindOf(raw json.RawMessage) string {
	s := bytes.TrimLeft(raw, " \t\r\n")
	if len(s) == 0 {
		return ""
	}
	switch s[0] {
	case '{':
		return kObject
	case '[':
		return kArray
	case '"':
		return kString
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return kNumber
}

// required checks that raw has every key with its kind.
func required(where string, raw map[string]json.RawMessage, keys ...string) error {
	for i := 0; i < len(keys); i += 2 {
		v, ok := raw[keys[i]]
		if !ok {
			return fmt.Errorf("%w: %s: %q is missing", ErrFormat, where, keys[i])
		}
		if k := kindOf(v); k != keys[i+1] {
			return fmt.Errorf("%w: %s: %q is %s, want %s", ErrFormat, where, keys[i], k, keys[i+1])
		}
	}
	return nil
}

// Parse decodes and checks an instances file (see the package doc).
// Keys the format does not require are allowed, as in COCO's own files.
func Parse(data []byte) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFormat, len(data), MaxFileSize)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if top == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrFormat)
	}
	if err := required("file", top, "info", kObject, "images", kArray, "annotations", kArray, "categories", kArray); err != nil {
		return nil, err
	}
	var f File
	if err := json.Unmarshal(top["info"], &f.Info); err != nil {
		return nil, fmt.Errorf("%w: info: %v", ErrFormat, err)
	}
	var err error
	if f.Images, err = elements[Image](top["images"], "images", "id", kNumber, "file_name", kString, "width", kNumber, "height", kNumber); err != nil {
		return nil, err
	}
	if f.Annotations, err = elements[Annotation](top["annotations"], "annotations", "id", kNumber, "image_id", kNumber, "category_id", kNumber, "bbox", kArray, "area", kNumber, "iscrowd", kNumber); err != nil {
		return nil, err
	}
	if f.Categories, err = elements[Category](top["categories"], "categories", "id", kNumber, "name", kString); err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// elements decodes an array whose elements must hold the keys given.
func elements[T any](raw json.RawMessage, what string, keys ...string) ([]T, error) {
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, what, err)
	}
	out := make([]T, len(items))
	for i, it := range items {
		where := fmt.Sprintf("%s[%d]", what, i)
		if it == nil {
			return nil, fmt.Errorf("%w: %s is not an object", ErrFormat, where)
		}
		if err := required(where, it, keys...); err != nil {
			return nil, err
		}
		if bb, ok := it["bbox"]; ok {
			var nums []float64
			if err := json.Unmarshal(bb, &nums); err != nil || len(nums) != 4 {
				return nil, fmt.Errorf("%w: %s: bbox %s: want [x, y, w, h], four numbers", ErrFormat, where, clip(bb))
			}
		}
		b, _ := json.Marshal(it)
		if err := json.Unmarshal(b, &out[i]); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, where, err)
		}
	}
	return out, nil
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// Validate checks f as Parse does, after the keys: ids unique and
// positive, names and file names unique, file names relative paths
// inside the images directory, image sizes in range, annotations naming
// an existing image and category, bboxes finite, non-empty and inside the
// image (within 0.01 pixel), iscrowd 0 or 1, area positive, at most the
// bbox's, and equal to it (within 0.1 %) when there is no segmentation.
func (f *File) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrFormat}, args...)...)
	}
	if len(f.Categories) == 0 {
		return bad("no categories")
	}
	cats := make(map[int64]bool, len(f.Categories))
	names := make(map[string]bool, len(f.Categories))
	for i, c := range f.Categories {
		if c.ID <= 0 {
			return bad("categories[%d]: id %d: want a positive integer", i, c.ID)
		}
		if cats[c.ID] {
			return bad("categories[%d]: id %d used twice", i, c.ID)
		}
		if c.Name == "" || names[c.Name] {
			return bad("categories[%d]: name %q empty or used twice", i, c.Name)
		}
		cats[c.ID], names[c.Name] = true, true
	}
	images := make(map[int64]Image, len(f.Images))
	files := make(map[string]bool, len(f.Images))
	for i, im := range f.Images {
		if im.ID <= 0 {
			return bad("images[%d]: id %d: want a positive integer", i, im.ID)
		}
		if _, dup := images[im.ID]; dup {
			return bad("images[%d]: id %d used twice", i, im.ID)
		}
		if err := CheckFileName(im.FileName); err != nil {
			return bad("images[%d]: %v", i, err)
		}
		if files[im.FileName] {
			return bad("images[%d]: file_name %q used twice", i, im.FileName)
		}
		if im.Width <= 0 || im.Height <= 0 || im.Width > MaxSide || im.Height > MaxSide {
			return bad("images[%d]: size %dx%d: want 1 to %d pixels a side", i, im.Width, im.Height, MaxSide)
		}
		images[im.ID], files[im.FileName] = im, true
	}
	anns := make(map[int64]bool, len(f.Annotations))
	for i, a := range f.Annotations {
		if a.ID <= 0 {
			return bad("annotations[%d]: id %d: want a positive integer", i, a.ID)
		}
		if anns[a.ID] {
			return bad("annotations[%d]: id %d used twice", i, a.ID)
		}
		anns[a.ID] = true
		im, ok := images[a.ImageID]
		if !ok {
			return bad("annotations[%d] (id %d): image_id %d names no image", i, a.ID, a.ImageID)
		}
		if !cats[a.CategoryID] {
			return bad("annotations[%d] (id %d): category_id %d names no category", i, a.ID, a.CategoryID)
		}
		b := a.BBox
		for _, v := range append(b[:], a.Area) {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return bad("annotations[%d] (id %d): bbox %v or area %v not finite", i, a.ID, b, a.Area)
			}
		}
		const eps = 0.01
		if b[2] <= 0 || b[3] <= 0 {
			return bad("annotations[%d] (id %d): bbox %v is empty", i, a.ID, b)
		}
		if b[0] < -eps || b[1] < -eps || b[0]+b[2] > float64(im.Width)+eps || b[1]+b[3] > float64(im.Height)+eps {
			return bad("annotations[%d] (id %d): bbox %v is not inside image %d (%dx%d)", i, a.ID, b, im.ID, im.Width, im.Height)
		}
		if a.IsCrowd != 0 && a.IsCrowd != 1 {
			return bad("annotations[%d] (id %d): iscrowd %d: want 0 or 1", i, a.ID, a.IsCrowd)
		}
		box := b[2] * b[3]
		seg := bytes.TrimSpace(a.Segmentation)
		noSeg := len(seg) == 0 || string(seg) == "[]" || string(seg) == "null"
		switch {
		case a.Area <= 0 || a.Area > box*(1+1e-3):
			return bad("annotations[%d] (id %d): area %v: want more than 0 and at most the bbox's %v", i, a.ID, a.Area, box)
		case noSeg && math.Abs(a.Area-box) > box*1e-3:
			return bad("annotations[%d] (id %d): area %v differs from the bbox's w*h %v (no segmentation)", i, a.ID, a.Area, box)
		}
	}
	return nil
}

// CheckFileName checks that name is a clean relative path that stays
// inside the directory it is relative to.
func CheckFileName(name string) error {
	if name == "" || len(name) > 255 || strings.ContainsAny(name, "\\\x00") || path.IsAbs(name) ||
		path.Clean(name) != name || name == "." || name == ".." || strings.HasPrefix(name, "../") {
		return fmt.Errorf("file_name %q: want a relative path inside the images directory", name)
	}
	return nil
}

// Marshal encodes f, indented, after checking it.
func (f *File) Marshal() ([]byte, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	g := *f
	if g.Licenses == nil {
		g.Licenses = []any{}
	}
	if g.Images == nil {
		g.Images = []Image{}
	}
	if g.Annotations == nil {
		g.Annotations = []Annotation{}
	}
	return json.MarshalIndent(&g, "", " ")
}
