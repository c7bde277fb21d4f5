package dataset

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Names inside a dataset directory.
const (
	ManifestFile = "manifest.json"
	MarksFile    = "marks.json"
	ImagesDir    = "images"
	LabelsDir    = "labels"
	COCOFile     = "annotations/instances.json"
	YOLOFile     = "data.yaml"
)

// Format names and versions of the dataset's own files.
const (
	ManifestFormat  = "vigil-dataset"
	ManifestVersion = 1
	MarksFormat     = "vigil-dataset-marks"
	MarksVersion    = 1
)

// Bounds on a manifest and its marks.
const (
	// MaxManifestSize bounds manifest.json and marks.json.
	MaxManifestSize = 64 << 20
	// MaxItems bounds a version's items.
	MaxItems = 100000
	// MaxMarks bounds a version's marks.
	MaxMarks = 100000
	// MaxNote bounds a mark's note, in bytes.
	MaxNote = 1000
)

// ErrManifest is returned (wrapped) for a manifest or marks file that is
// not valid.
var ErrManifest = errors.New("dataset: bad manifest")

// Lineage says where an item came from: the donation and its signed
// consent record, the donor household, who annotated and who accepted the
// annotation, and the redacted clip the frames were taken from. Digests
// are "sha256:" and 64 lower-case hex digits.
type Lineage struct {
	Donation      string `json:"donation"`
	Consent       string `json:"consent"`
	ConsentDigest string `json:"consent_digest"`
	Household     string `json:"household"`
	Annotator     string `json:"annotator"`
	Reviewer      string `json:"reviewer"`
	Clip          string `json:"clip"`
	ClipDigest    string `json:"clip_digest"`
}

func (l Lineage) check() error {
	for _, f := range []struct{ what, v string }{
		{"donation", l.Donation}, {"consent", l.Consent}, {"household", l.Household},
		{"annotator", l.Annotator}, {"reviewer", l.Reviewer}, {"clip", l.Clip},
	} {
		if err := checkID(f.what, f.v); err != nil {
			return err
		}
	}
	if err := checkDigest("consent_digest", l.ConsentDigest); err != nil {
		return err
	}
	return checkDigest("clip_digest", l.ClipDigest)
}

func checkDigest(what, d string) error {
	h, ok := strings.CutPrefix(d, "sha256:")
	if _, err := hex.DecodeString(h); !ok || err != nil || len(h) != 64 || strings.ToLower(h) != h {
		return fmt.Errorf("%s %q: want sha256: and 64 lower-case hex digits", what, d)
	}
	return nil
}

// ManifestItem is one item of a version: its lineage, the image files
// (relative to images/) taken from its clip, and how many boxes they hold.
type ManifestItem struct {
	Lineage
	Images []string `json:"images"`
	Boxes  int      `json:"boxes"`
}

// Manifest is a version's manifest.json (docs/FORMAT.md, "Dataset
// manifest"). It lists exactly the version's items; Removed lists the
// donations of the previous version that this one no longer holds.
type Manifest struct {
	Format        string         `json:"format"`
	FormatVersion int            `json:"format_version"`
	Version       int            `json:"version"`
	Previous      int            `json:"previous,omitempty"`
	Created       time.Time      `json:"created"`
	Schema        Schema         `json:"schema"`
	Stride        int            `json:"stride"`
	Items         []ManifestItem `json:"items"`
	Removed       []string       `json:"removed"`
}

// Item returns the item of donation, or nil.
func (m *Manifest) Item(donation string) *ManifestItem {
	for i := range m.Items {
		if m.Items[i].Donation == donation {
			return &m.Items[i]
		}
	}
	return nil
}

// ParseManifest decodes and checks a manifest: format, a positive version
// after its previous one, the schema, every item's lineage, donations and
// clips unique, image names unique, removed donations unique and not among
// the items. Unknown fields are refused.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := decodeStrict(data, &m); err != nil {
		return nil, err
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return &m, nil
}

func decodeStrict(data []byte, v any) error {
	if len(data) > MaxManifestSize {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrManifest, len(data), MaxManifestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrManifest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the object", ErrManifest)
	}
	return nil
}

func (m *Manifest) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrManifest}, args...)...)
	}
	if m.Format != ManifestFormat || m.FormatVersion != ManifestVersion {
		return bad("format %q version %d, this build reads %q version %d", m.Format, m.FormatVersion, ManifestFormat, ManifestVersion)
	}
	if m.Version <= 0 || m.Previous < 0 || m.Previous >= m.Version {
		return bad("version %d, previous %d: want 0 <= previous < version", m.Version, m.Previous)
	}
	if m.Created.IsZero() {
		return bad("created is missing")
	}
	if err := m.Schema.Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrManifest, err)
	}
	if m.Stride < 0 || m.Stride > MaxFrames {
		return bad("stride %d", m.Stride)
	}
	if len(m.Items) > MaxItems || len(m.Removed) > MaxItems {
		return bad("%d items, %d removed: at most %d each", len(m.Items), len(m.Removed), MaxItems)
	}
	donations, clips, images := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, it := range m.Items {
		if err := it.check(); err != nil {
			return bad("item %d: %v", i, err)
		}
		if donations[it.Donation] || clips[it.Clip] {
			return bad("item %d: donation %q or clip %q listed twice", i, it.Donation, it.Clip)
		}
		donations[it.Donation], clips[it.Clip] = true, true
		if it.Boxes < 0 {
			return bad("item %d: boxes %d", i, it.Boxes)
		}
		for _, im := range it.Images {
			if !strings.HasPrefix(im, it.Clip+"_") || !strings.HasSuffix(im, ".jpg") || strings.ContainsAny(im, "/\\") {
				return bad("item %d: image %q: want %s_<frame>.jpg", i, im, it.Clip)
			}
			if images[im] {
				return bad("item %d: image %q listed twice", i, im)
			}
			images[im] = true
		}
	}
	for _, d := range m.Removed {
		if err := checkID("removed donation", d); err != nil {
			return bad("%v", err)
		}
		if donations[d] {
			return bad("donation %q is both an item and removed", d)
		}
		donations[d] = true
	}
	return nil
}

// MarkKind says why a version was marked.
type MarkKind string

// The kinds of mark.
const (
	// Revoked: the donor revoked the donation; later versions lack it.
	Revoked MarkKind = "revoked"
	// Expired: the donation's consent expired.
	Expired MarkKind = "expired"
)

// Mark records, after a version was written, that one of its items may no
// longer be used: "contains revoked donation X since T". Marks never change
// the version's items or manifest; they live in marks.json.
type Mark struct {
	Kind     MarkKind  `json:"kind"`
	Donation string    `json:"donation"`
	Since    time.Time `json:"since"`
	Marked   time.Time `json:"marked"`
	Note     string    `json:"note,omitempty"`
}

// Marks is a version's marks.json.
type Marks struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Marks   []Mark `json:"marks"`
}

// ParseMarks decodes and checks marks.json against the version's manifest:
// each mark of a known kind, on a donation among the items, with its
// times. Unknown fields are refused.
func ParseMarks(data []byte, m *Manifest) (*Marks, error) {
	var ms Marks
	if err := decodeStrict(data, &ms); err != nil {
		return nil, err
	}
	if ms.Format != MarksFormat || ms.Version != MarksVersion {
		return nil, fmt.Errorf("%w: marks: format %q version %d, this build reads %q version %d", ErrManifest, ms.Format, ms.Version, MarksFormat, MarksVersion)
	}
	if len(ms.Marks) > MaxMarks {
		return nil, fmt.Errorf("%w: marks: %d, more than %d", ErrManifest, len(ms.Marks), MaxMarks)
	}
	for i, k := range ms.Marks {
		if err := k.check(m); err != nil {
			return nil, fmt.Errorf("%w: mark %d: %v", ErrManifest, i, err)
		}
	}
	return &ms, nil
}

func (k Mark) check(m *Manifest) error {
	if k.Kind != Revoked && k.Kind != Expired {
		return fmt.Errorf("kind %q: want revoked or expired", k.Kind)
	}
	if m.Item(k.Donation) == nil {
		return fmt.Errorf("donation %q is not an item of version %d", k.Donation, m.Version)
	}
	if k.Since.IsZero() || k.Marked.IsZero() {
		return errors.New("since and marked are required")
	}
	if len(k.Note) > MaxNote {
		return fmt.Errorf("note of %d bytes, more than %d", len(k.Note), MaxNote)
	}
	return nil
}

// ReadManifest reads and checks dir's manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	data, err := readBounded(filepath.Join(dir, ManifestFile), MaxManifestSize)
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestFile), err)
	}
	return m, nil
}

// ReadMarks reads and checks dir's marks.json; a version never marked has
// no marks (and no file).
func ReadMarks(dir string, m *Manifest) ([]Mark, error) {
	p := filepath.Join(dir, MarksFile)
	data, err := readBounded(p, MaxManifestSize)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ms, err := ParseMarks(data, m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return ms.Marks, nil
}

// AddMark records k in the version at dir: marks.json is rewritten with k
// appended (a new file, renamed over the old one), and nothing else in dir
// changes. The donation must be an item of the version; marking it twice
// with the same kind is refused.
func AddMark(dir string, k Mark) error {
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	if err := k.check(m); err != nil {
		return fmt.Errorf("%w: %v", ErrManifest, err)
	}
	marks, err := ReadMarks(dir, m)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(marks, func(o Mark) bool { return o.Kind == k.Kind && o.Donation == k.Donation }) {
		return fmt.Errorf("dataset: version %d already marks donation %q %s", m.Version, k.Donation, k.Kind)
	}
	data, err := json.MarshalIndent(Marks{Format: MarksFormat, Version: MarksVersion, Marks: append(marks, k)}, "", " ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, MarksFile), append(data, '\n'))
}

func writeAtomic(p string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

func readBounded(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: more than %d bytes", p, limit)
	}
	return data, nil
}
