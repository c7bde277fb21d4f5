package dataset

import (
	"errors"
	"fmt"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"vigil/internal/dataset/coco"
	"vigil/internal/dataset/yolo"
)

// ErrInvalid is returned (wrapped) by Validate for a dataset directory
// whose files do not agree with each other.
var ErrInvalid = errors.New("dataset: invalid dataset")

// ReadCOCO reads and checks dir's COCO instances file.
func ReadCOCO(dir string) (*coco.File, error) {
	p := filepath.Join(dir, COCOFile)
	data, err := readBounded(p, coco.MaxFileSize)
	if err != nil {
		return nil, err
	}
	f, err := coco.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return f, nil
}

// Validate checks a dataset directory written by Export:
//
//   - manifest.json and marks.json (when present) parse, and every mark
//     names an item;
//   - annotations/instances.json is a valid COCO instances file (package
//     coco), its categories are the schema's labels with ids 1, 2, ...,
//     its images are exactly the manifest's, each item's boxes are as
//     many as the manifest says, and each image is a JPEG in images/ of
//     the size the file says;
//   - data.yaml names the schema's labels in order; every file in labels/
//     is <image>.txt for an image in images/ and parses (package yolo);
//     its boxes are the image's COCO boxes that are not crowd, class for
//     class and within 0.01 pixel;
//   - images/ holds nothing else.
//
// Errors wrap ErrInvalid or the format's error and name the file.
func Validate(dir string) error {
	m, err := ReadManifest(dir)
	if err != nil {
		return err
	}
	if _, err := ReadMarks(dir, m); err != nil {
		return err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: "+format, append([]any{ErrInvalid, dir}, args...)...)
	}
	cf, err := ReadCOCO(dir)
	if err != nil {
		return err
	}
	if len(cf.Categories) != len(m.Schema.Labels) {
		return bad("%s has %d categories, the schema %d labels", COCOFile, len(cf.Categories), len(m.Schema.Labels))
	}
	for i, c := range cf.Categories {
		if c.ID != int64(i+1) || c.Name != m.Schema.Labels[i] {
			return bad("%s: category %d is %d %q, want %d %q (the schema's labels in order)", COCOFile, i, c.ID, c.Name, i+1, m.Schema.Labels[i])
		}
	}
	listed := map[string]bool{}
	for _, it := range m.Items {
		for _, im := range it.Images {
			listed[im] = true
		}
	}
	byName := map[string]coco.Image{}
	for _, im := range cf.Images {
		if !listed[im.FileName] {
			return bad("%s: image %q is in no manifest item", COCOFile, im.FileName)
		}
		byName[im.FileName] = im
		if err := checkJPEG(filepath.Join(dir, ImagesDir, im.FileName), im.Width, im.Height); err != nil {
			return bad("%v", err)
		}
	}
	for name := range listed {
		if _, ok := byName[name]; !ok {
			return bad("manifest image %q is not in %s", name, COCOFile)
		}
	}
	perImage := map[string]int{}
	names := map[int64]string{}
	for _, im := range cf.Images {
		names[im.ID] = im.FileName
	}
	for _, a := range cf.Annotations {
		perImage[names[a.ImageID]]++
	}
	for _, it := range m.Items {
		n := 0
		for _, im := range it.Images {
			n += perImage[im]
		}
		if n != it.Boxes {
			return bad("manifest item %s says %d boxes, %s has %d in its images", it.Donation, it.Boxes, COCOFile, n)
		}
	}
	ents, err := os.ReadDir(filepath.Join(dir, ImagesDir))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if _, ok := byName[e.Name()]; !ok {
			return bad("%s/%s is not in %s", ImagesDir, e.Name(), COCOFile)
		}
	}

	data, err := readBounded(filepath.Join(dir, YOLOFile), yolo.MaxDataFile)
	if err != nil {
		return err
	}
	yd, err := yolo.ParseData(data)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, YOLOFile), err)
	}
	if !slices.Equal(yd.Names, m.Schema.Labels) {
		return bad("%s names %v, the schema %v", YOLOFile, yd.Names, m.Schema.Labels)
	}
	boxes := map[int64][]coco.Annotation{}
	for _, a := range cf.Annotations {
		if a.IsCrowd == 0 {
			boxes[a.ImageID] = append(boxes[a.ImageID], a)
		}
	}
	ents, err = os.ReadDir(filepath.Join(dir, LabelsDir))
	if err != nil {
		return err
	}
	labelled := map[int64]bool{}
	for _, e := range ents {
		base, ok := strings.CutSuffix(e.Name(), ".txt")
		im, paired := byName[base+".jpg"]
		if !ok || !paired || !e.Type().IsRegular() {
			return bad("%s/%s pairs no image in %s/", LabelsDir, e.Name(), ImagesDir)
		}
		data, err := readBounded(filepath.Join(dir, LabelsDir, e.Name()), yolo.MaxLabelFile)
		if err != nil {
			return err
		}
		ls, err := yolo.ParseLabels(data, len(yd.Names))
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, LabelsDir, e.Name()), err)
		}
		if err := sameBoxes(ls, boxes[im.ID], im); err != nil {
			return bad("%s/%s: %v", LabelsDir, e.Name(), err)
		}
		labelled[im.ID] = true
	}
	for _, im := range cf.Images {
		if len(boxes[im.ID]) > 0 && !labelled[im.ID] {
			return bad("image %s has boxes in %s but no %s file", im.FileName, COCOFile, LabelsDir)
		}
	}
	return nil
}

// sameBoxes checks that the YOLO labels of an image are its COCO boxes.
func sameBoxes(ls []yolo.Label, as []coco.Annotation, im coco.Image) error {
	if len(ls) != len(as) {
		return fmt.Errorf("%d boxes, %s has %d (not crowd) for image %d", len(ls), COCOFile, len(as), im.ID)
	}
	used := make([]bool, len(as))
	for i, l := range ls {
		p := l.Pixels(im.Width, im.Height)
		found := false
		for j, a := range as {
			if used[j] || a.CategoryID != int64(l.Class+1) {
				continue
			}
			d := 0.0
			for k := range p {
				d = math.Max(d, math.Abs(p[k]-a.BBox[k]))
			}
			if d <= 0.01 {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return fmt.Errorf("box %d (class %d, %v in pixels) matches no box of %s", i+1, l.Class, p, COCOFile)
		}
	}
	return nil
}

func checkJPEG(p string, w, h int) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := jpeg.DecodeConfig(f)
	if err != nil {
		return fmt.Errorf("%s: not a JPEG: %v", p, err)
	}
	if c.Width != w || c.Height != h {
		return fmt.Errorf("%s is %dx%d, %s says %dx%d", p, c.Width, c.Height, COCOFile, w, h)
	}
	return nil
}
