package dataset

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"vigil/internal/dataset/coco"
	"vigil/internal/dataset/yolo"
	"vigil/internal/detect"
	"vigil/internal/detect/frames"
)

// JPEGQuality is the quality of the frames written.
const JPEGQuality = 92

// Version says what to build: its number, the previous version (nil for
// the first), when it was made, the schema every item's annotation uses,
// and which frames become images.
type Version struct {
	// Number is the version's number, above the previous one's.
	Number int
	// Previous is the previous version's manifest, or nil: the donations
	// it held that the items lack are listed as removed.
	Previous *Manifest
	// Created is written into the manifest (the zero time means now).
	Created time.Time
	// Schema is the label schema of every item.
	Schema Schema
	// Stride adds every Stride-th frame (0, Stride, 2*Stride, ...) with its
	// interpolated boxes to the frames that carry an annotator's keyframe,
	// which are always taken. 0 takes the keyframe frames only.
	Stride int
}

// Item is one accepted annotation of a donated clip, with the redacted
// clip file it annotates and its lineage. Lineage.Annotator and
// Lineage.Reviewer may be left empty (they are taken from the annotation)
// and so may Lineage.Clip and Lineage.ClipDigest (taken from the
// annotation and computed from the file); when set, they must agree.
type Item struct {
	// Path is the redacted clip (an MP4, or anything ffmpeg reads).
	Path       string
	Annotation *Annotation
	Lineage    Lineage
}

// Export writes version v of a dataset made of items to dir, which must
// not exist yet (a version is never rewritten): the frames as JPEGs in
// images/, COCO's annotations/instances.json, YOLO's labels/ and
// data.yaml, and manifest.json. Every item's annotation must be accepted
// and valid under v.Schema, and its clip must have the annotation's frame
// size and at least the frames taken. On error the partly written dir is
// removed. Frames are decoded with ffmpeg (package detect/frames) at the
// clip's own size.
func Export(ctx context.Context, dir string, v Version, items []Item) (err error) {
	if err := v.Schema.Check(); err != nil {
		return err
	}
	if v.Stride < 0 {
		return fmt.Errorf("dataset: stride %d: want 0 (keyframes only) or more", v.Stride)
	}
	if v.Number <= 0 || v.Previous != nil && v.Number <= v.Previous.Version {
		return fmt.Errorf("dataset: version %d: want a positive number above the previous version's", v.Number)
	}
	if len(items) > MaxItems {
		return fmt.Errorf("dataset: %d items, more than %d", len(items), MaxItems)
	}
	m := Manifest{Format: ManifestFormat, FormatVersion: ManifestVersion, Version: v.Number, Created: v.Created.UTC(),
		Schema: v.Schema, Stride: v.Stride, Items: []ManifestItem{}, Removed: []string{}}
	if m.Created.IsZero() {
		m.Created = time.Now().UTC()
	}
	m.Created = m.Created.Truncate(time.Second)
	if v.Previous != nil {
		m.Previous = v.Previous.Version
	}
	lineages := make([]Lineage, len(items))
	for i, it := range items {
		l, err := it.lineage(v.Schema)
		if err != nil {
			return fmt.Errorf("dataset: item %d: %w", i, err)
		}
		for _, o := range lineages[:i] {
			if o.Donation == l.Donation || o.Clip == l.Clip {
				return fmt.Errorf("dataset: item %d: donation %q or clip %q twice", i, l.Donation, l.Clip)
			}
		}
		lineages[i] = l
	}
	if v.Previous != nil {
		for _, p := range v.Previous.Items {
			if !slices.ContainsFunc(lineages, func(l Lineage) bool { return l.Donation == p.Donation }) {
				m.Removed = append(m.Removed, p.Donation)
			}
		}
	}

	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("dataset: %w (a version is written to a new directory)", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	for _, d := range []string{ImagesDir, LabelsDir, filepath.Dir(COCOFile)} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	cf := coco.File{
		Info: coco.Info{Description: fmt.Sprintf("vigil dataset version %d", v.Number), Version: fmt.Sprint(v.Number),
			Year: m.Created.Year(), DateCreated: m.Created.Format(time.RFC3339)},
	}
	for i, l := range v.Schema.Labels {
		cf.Categories = append(cf.Categories, coco.Category{ID: int64(i + 1), Name: l, Supercategory: "object"})
	}
	for i, it := range items {
		mi, err := exportItem(ctx, dir, v, it, &cf)
		if err != nil {
			return fmt.Errorf("dataset: item %d (donation %s): %w", i, lineages[i].Donation, err)
		}
		mi.Lineage = lineages[i]
		m.Items = append(m.Items, mi)
	}
	data, err := cf.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, COCOFile), data, 0o600); err != nil {
		return err
	}
	data, err = yolo.MarshalData(yolo.Data{Path: ".", Train: ImagesDir, Val: ImagesDir, Names: v.Schema.Labels})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, YOLOFile), data, 0o600); err != nil {
		return err
	}
	if err := m.check(); err != nil {
		return err
	}
	data, err = json.MarshalIndent(&m, "", " ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, ManifestFile), append(data, '\n'))
}

// lineage checks an item and returns its completed lineage.
func (it Item) lineage(s Schema) (Lineage, error) {
	a := it.Annotation
	if a == nil {
		return Lineage{}, errors.New("no annotation")
	}
	if err := a.Check(s); err != nil {
		return Lineage{}, err
	}
	if a.Review.State != Accepted {
		return Lineage{}, fmt.Errorf("annotation is %s: only accepted annotations enter a dataset", a.Review.State)
	}
	l := it.Lineage
	for _, f := range []struct {
		what   string
		p      *string
		actual string
	}{{"annotator", &l.Annotator, a.Annotator}, {"reviewer", &l.Reviewer, a.Review.Reviewer}, {"clip", &l.Clip, a.Clip}} {
		if *f.p == "" {
			*f.p = f.actual
		}
		if *f.p != f.actual {
			return Lineage{}, fmt.Errorf("lineage %s %q differs from the annotation's %q", f.what, *f.p, f.actual)
		}
	}
	d, err := fileDigest(it.Path)
	if err != nil {
		return Lineage{}, err
	}
	if l.ClipDigest == "" {
		l.ClipDigest = d
	}
	if l.ClipDigest != d {
		return Lineage{}, fmt.Errorf("clip %s: digest %s, the lineage says %s: not the clip that was donated", it.Path, d, l.ClipDigest)
	}
	if err := l.check(); err != nil {
		return Lineage{}, fmt.Errorf("lineage: %w", err)
	}
	return l, nil
}

func fileDigest(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// imageName is the file name of a clip's frame in images/.
func imageName(clip string, frame int) string { return fmt.Sprintf("%s_%06d.jpg", clip, frame) }

// exportItem writes one item's frames, COCO images and annotations, and
// YOLO labels.
func exportItem(ctx context.Context, dir string, v Version, it Item, cf *coco.File) (ManifestItem, error) {
	a := it.Annotation
	want := a.keyframeFrames()
	if v.Stride > 0 {
		for f := 0; f < a.Frames; f += v.Stride {
			want = append(want, f)
		}
		slices.Sort(want)
		want = slices.Compact(want)
	}
	mi := ManifestItem{Images: []string{}}
	if len(want) == 0 {
		return mi, nil
	}
	r, err := frames.File(it.Path, 0, 0, 0)
	if err != nil {
		return mi, err
	}
	next := 0
	errDone := errors.New("done")
	err = r.Run(ctx, func(f *frames.Frame) error {
		if f.Img.W != a.Width || f.Img.H != a.Height {
			return fmt.Errorf("clip %s is %dx%d, the annotation %dx%d", it.Path, f.Img.W, f.Img.H, a.Width, a.Height)
		}
		if int(f.Index) != want[next] {
			return nil
		}
		name := imageName(a.Clip, want[next])
		if err := writeJPEG(filepath.Join(dir, ImagesDir, name), f.Img); err != nil {
			return err
		}
		id := int64(len(cf.Images) + 1)
		cf.Images = append(cf.Images, coco.Image{ID: id, FileName: name, Width: a.Width, Height: a.Height})
		var labels []yolo.Label
		for _, b := range a.Boxes(want[next]) {
			class := v.Schema.Class(b.Label)
			crowd := 0
			if b.Occluded {
				crowd = 1
			} else {
				labels = append(labels, yolo.FromPixels(class, b.X, b.Y, b.W, b.H, a.Width, a.Height))
			}
			cf.Annotations = append(cf.Annotations, coco.Annotation{
				ID: int64(len(cf.Annotations) + 1), ImageID: id, CategoryID: int64(class + 1),
				BBox: [4]float64{b.X, b.Y, b.W, b.H}, Area: b.W * b.H, IsCrowd: crowd,
			})
			mi.Boxes++
		}
		txt := filepath.Join(dir, LabelsDir, name[:len(name)-len(".jpg")]+".txt")
		if err := os.WriteFile(txt, yolo.FormatLabels(labels), 0o600); err != nil {
			return err
		}
		mi.Images = append(mi.Images, name)
		next++
		if next == len(want) {
			return errDone
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDone) {
		return mi, err
	}
	if next < len(want) {
		return mi, fmt.Errorf("clip %s ended before frame %d (the annotation says %d frames)", it.Path, want[next], a.Frames)
	}
	return mi, nil
}

func writeJPEG(p string, img *detect.RGB) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := detect.EncodeJPEG(w, img, JPEGQuality); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
