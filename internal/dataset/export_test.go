package dataset_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"vigil/internal/dataset"
	"vigil/internal/dataset/coco"
	"vigil/internal/dataset/datasettest"
	"vigil/internal/dataset/yolo"
	"vigil/internal/detect/detecttest"
)

// smallClip writes a 64x48 MP4 of n frames (ffmpeg's test pattern).
func smallClip(t *testing.T, dir string, n int) string {
	return datasettest.SmallClip(t, dir, 64, 48, n)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// smallAnnotation annotates the small clip: one person moving from
// [0 0 10 10] at frame 2 to [20 10 20 20] at frame 6, leaving at 8, and an
// occluded dog at frame 4.
func smallAnnotation(frames int) *dataset.Annotation {
	r := func(x, y, w, h float64) *dataset.Rect { return &dataset.Rect{x, y, w, h} }
	return &dataset.Annotation{
		Format: dataset.AnnotationFormat, Version: dataset.AnnotationVersion, Clip: "small",
		FPS: 10, Width: 64, Height: 48, Frames: frames, SchemaVersion: 1,
		Tracks: []dataset.Track{
			{ID: 1, Label: "person", Keyframes: []dataset.Keyframe{{Frame: 2, Box: r(0, 0, 10, 10)}, {Frame: 6, Box: r(20, 10, 20, 20)}, {Frame: 8, Outside: true}}},
			{ID: 2, Label: "dog", Keyframes: []dataset.Keyframe{{Frame: 4, Box: r(40, 30, 24, 18), Occluded: true}, {Frame: 5, Outside: true}}},
		},
		Annotator: "a1", Review: dataset.Review{State: dataset.Accepted, Reviewer: "r1"},
	}
}

func TestExportSmall(t *testing.T) {
	dir := t.TempDir()
	clip := smallClip(t, dir, 20)
	out := filepath.Join(dir, "v1")
	created := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	items := []dataset.Item{{Path: clip, Annotation: smallAnnotation(20), Lineage: datasettest.Lineage("don-1")}}
	err := dataset.Export(context.Background(), out, dataset.Version{Number: 1, Created: created, Schema: dataset.DefaultSchema(), Stride: 5}, items)
	if err != nil {
		t.Fatal(err)
	}
	if err := dataset.Validate(out); err != nil {
		t.Fatal(err)
	}
	m, err := dataset.ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	// Keyframe frames 2, 4, 6 and every 5th: 0, 5, 10, 15.
	want := []string{"small_000000.jpg", "small_000002.jpg", "small_000004.jpg", "small_000005.jpg", "small_000006.jpg", "small_000010.jpg", "small_000015.jpg"}
	it := m.Items[0]
	clipBytes, err := os.ReadFile(clip)
	if err != nil {
		t.Fatal(err)
	}
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256(clipBytes))
	if !slices.Equal(it.Images, want) || it.Donation != "don-1" || it.Annotator != "a1" || it.Reviewer != "r1" || it.ClipDigest != digest ||
		it.Clip != "small" || it.Household != "household-1" || !m.Created.Equal(created) || m.Version != 1 || len(m.Removed) != 0 {
		t.Fatalf("manifest %+v", m)
	}
	// Boxes: frame 2 [0 0 10 10]; frame 4 halfway [10 5 15 15] and the
	// occluded dog (crowd in COCO, absent from YOLO); frame 5 three
	// quarters [15 7.5 17.5 17.5]; frame 6 [20 10 20 20]; none at 0, 10, 15.
	f, err := dataset.ReadCOCO(out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][][5]float64{}
	names := map[int64]string{}
	for _, im := range f.Images {
		names[im.ID] = im.FileName
	}
	for _, a := range f.Annotations {
		got[names[a.ImageID]] = append(got[names[a.ImageID]], [5]float64{a.BBox[0], a.BBox[1], a.BBox[2], a.BBox[3], float64(a.CategoryID*10 + int64(a.IsCrowd))})
	}
	wantBoxes := map[string][][5]float64{
		"small_000002.jpg": {{0, 0, 10, 10, 10}},
		"small_000004.jpg": {{10, 5, 15, 15, 10}, {40, 30, 24, 18, 31}},
		"small_000005.jpg": {{15, 7.5, 17.5, 17.5, 10}},
		"small_000006.jpg": {{20, 10, 20, 20, 10}},
	}
	if len(got) != len(wantBoxes) {
		t.Fatalf("boxes %v, want %v", got, wantBoxes)
	}
	for k, w := range wantBoxes {
		if !slices.Equal(got[k], w) {
			t.Errorf("%s: %v, want %v", k, got[k], w)
		}
	}
	// YOLO of frame 4: the person only, centre (17.5, 12.5) of 64x48.
	b, err := os.ReadFile(filepath.Join(out, "labels", "small_000004.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "0 0.273438 0.260417 0.234375 0.312500\n" {
		t.Fatalf("labels of frame 4: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "labels", "small_000010.txt")); len(b) != 0 {
		t.Fatalf("labels of frame 10: %q", b)
	}
	y, err := os.ReadFile(filepath.Join(out, "data.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := yolo.ParseData(y)
	if err != nil || !slices.Equal(d.Names, dataset.DefaultSchema().Labels) {
		t.Fatalf("data.yaml %v %v", d, err)
	}

	// Version 2 without the donation lists it as removed.
	out2 := filepath.Join(dir, "v2")
	if err := dataset.Export(context.Background(), out2, dataset.Version{Number: 2, Previous: m, Schema: dataset.DefaultSchema()}, nil); err != nil {
		t.Fatal(err)
	}
	if err := dataset.Validate(out2); err != nil {
		t.Fatal(err)
	}
	m2, _ := dataset.ReadManifest(out2)
	if len(m2.Items) != 0 || !slices.Equal(m2.Removed, []string{"don-1"}) || m2.Previous != 1 {
		t.Fatalf("version 2: %+v", m2)
	}
	// A version is never rewritten, and numbers go up.
	if err := dataset.Export(context.Background(), out, dataset.Version{Number: 3, Schema: dataset.DefaultSchema()}, items); err == nil {
		t.Fatal("export over an existing version")
	}
	if err := dataset.Export(context.Background(), filepath.Join(dir, "v0"), dataset.Version{Number: 1, Previous: m, Schema: dataset.DefaultSchema()}, items); err == nil {
		t.Fatal("version 1 after version 1")
	}

	// Marking version 1 leaves its manifest and items alone.
	before, _ := os.ReadFile(filepath.Join(out, dataset.ManifestFile))
	mark := dataset.Mark{Kind: dataset.Revoked, Donation: "don-1", Since: created.Add(time.Hour), Marked: created.Add(2 * time.Hour)}
	if err := dataset.AddMark(out, mark); err != nil {
		t.Fatal(err)
	}
	if err := dataset.AddMark(out, mark); err == nil {
		t.Fatal("the same mark twice")
	}
	if err := dataset.AddMark(out, dataset.Mark{Kind: dataset.Revoked, Donation: "don-9", Since: created, Marked: created}); !errors.Is(err, dataset.ErrManifest) {
		t.Fatalf("mark of a donation not in the version: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(out, dataset.ManifestFile))
	if !bytes.Equal(before, after) {
		t.Fatal("marking changed the manifest")
	}
	marks, err := dataset.ReadMarks(out, m)
	if err != nil || len(marks) != 1 || marks[0].Donation != "don-1" || !marks[0].Since.Equal(mark.Since) {
		t.Fatalf("marks %+v %v", marks, err)
	}
	if err := dataset.Validate(out); err != nil {
		t.Fatalf("a marked version: %v", err)
	}
}

func TestExportRefuses(t *testing.T) {
	dir := t.TempDir()
	clip := smallClip(t, dir, 20)
	v := dataset.Version{Number: 1, Schema: dataset.DefaultSchema()}
	n := 0
	try := func(name string, v dataset.Version, it dataset.Item, want string) {
		t.Helper()
		n++
		out := filepath.Join(dir, "out"+itoa(n))
		err := dataset.Export(context.Background(), out, v, []dataset.Item{it})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, want)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a refused export left %s behind", name, out)
		}
	}
	ok := func() dataset.Item {
		return dataset.Item{Path: clip, Annotation: smallAnnotation(20), Lineage: datasettest.Lineage("don-1")}
	}
	it := ok()
	it.Annotation.Review = dataset.Review{State: dataset.InReview}
	try("in review", v, it, "only accepted annotations")
	it = ok()
	it.Lineage.ClipDigest = "sha256:" + strings.Repeat("0", 64)
	try("other clip", v, it, "not the clip that was donated")
	it = ok()
	it.Lineage.Reviewer = "someone-else"
	try("other reviewer", v, it, "lineage reviewer")
	it = ok()
	it.Lineage.ConsentDigest = "md5:00"
	try("consent digest", v, it, "consent_digest")
	it = ok()
	it.Annotation = smallAnnotation(40)
	it.Annotation.Tracks[1].Keyframes[0].Frame, it.Annotation.Tracks[1].Keyframes[1].Frame = 30, 31
	try("clip too short", v, it, "ended before frame 30")
	it = ok()
	it.Annotation.Width = 640
	try("other size", v, it, "is 64x48, the annotation 640x48")
	it = ok()
	try("schema", dataset.Version{Number: 1, Schema: dataset.Schema{Version: 2, Labels: []string{"person"}}}, it, "schema_version 1")
	it = ok()
	it.Path = filepath.Join(dir, "missing.mp4")
	try("no clip", v, it, "no such file")
	two := []dataset.Item{ok(), ok()}
	two[1].Lineage.Donation = "don-2"
	if err := dataset.Export(context.Background(), filepath.Join(dir, "twice"), v, two); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("the same clip twice: %v", err)
	}
}

// exportVtest exports the vtest donation once for the tests below.
func exportVtest(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	clip := datasettest.Clip(t, dir)
	out := filepath.Join(dir, "v1")
	items := []dataset.Item{{Path: clip, Annotation: datasettest.Annotation(t, "vtest"), Lineage: datasettest.Lineage("don-vtest")}}
	if err := dataset.Export(context.Background(), out, dataset.Version{Number: 1, Schema: dataset.DefaultSchema()}, items); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestExportVtest exports the real footage and checks the COCO boxes
// against the hand-checked ground truth and the frames against the
// original video.
func TestExportVtest(t *testing.T) {
	out := exportVtest(t)
	if err := dataset.Validate(out); err != nil {
		t.Fatal(err)
	}
	gt := datasettest.Truth(t)
	f, err := dataset.ReadCOCO(out)
	if err != nil {
		t.Fatal(err)
	}
	nonEmpty := 0
	for _, k := range gt.FrameIndices() {
		if len(gt.Frames[k]) > 0 {
			nonEmpty++
		}
	}
	if len(f.Images) != nonEmpty || len(f.Annotations) != 178 {
		t.Fatalf("%d images, %d annotations; want %d and 178", len(f.Images), len(f.Annotations), nonEmpty)
	}
	byName := map[string]coco.Image{}
	for _, im := range f.Images {
		byName[im.FileName] = im
	}
	crowd := 0
	for _, k := range gt.FrameIndices() {
		if len(gt.Frames[k]) == 0 {
			continue
		}
		im, ok := byName["vtest_"+pad6(k)+".jpg"]
		if !ok || im.Width != 768 || im.Height != 576 {
			t.Fatalf("frame %d: image %+v", k, im)
		}
		var got [][4]float64
		for _, a := range f.Annotations {
			if a.ImageID == im.ID {
				got = append(got, a.BBox)
				if a.IsCrowd == 1 {
					crowd++
				}
			}
		}
		var want [][4]float64
		for _, p := range gt.Frames[k] {
			want = append(want, p.Box)
		}
		if !slices.Equal(got, want) {
			t.Errorf("frame %d: boxes %v, want %v", k, got, want)
		}
	}
	if crowd != 14 {
		t.Errorf("%d crowd boxes, want the 14 hidden people", crowd)
	}
	// The hand-worked YOLO line of frame 0's first person, [252 222 30 86].
	b, err := os.ReadFile(filepath.Join(out, "labels", "vtest_000000.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if first, _, _ := strings.Cut(string(b), "\n"); first != "0 0.347656 0.460069 0.039062 0.149306" {
		t.Fatalf("first label of frame 0: %q", first)
	}
	// The image of frame 400 is frame 400 of the original, not a neighbour.
	img := readJPEG(t, filepath.Join(out, "images", "vtest_000400.jpg"))
	diff := func(n int) float64 {
		o := detecttest.Frame(t, "vtest.avi", n, 768, 576)
		s := 0.0
		for i := range o.Pix {
			s += math.Abs(float64(o.Pix[i]) - float64(img[i]))
		}
		return s / float64(len(o.Pix))
	}
	at, before, after := diff(400), diff(399), diff(401)
	if !(at < before && at < after && at < 8) {
		t.Fatalf("mean difference to frames 399, 400, 401: %.2f %.2f %.2f", before, at, after)
	}
}

func pad6(n int) string {
	s := itoa(n)
	return strings.Repeat("0", 6-len(s)) + s
}

func readJPEG(t *testing.T, p string) []byte {
	t.Helper()
	fh, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	m, err := jpeg.Decode(fh)
	if err != nil {
		t.Fatal(err)
	}
	b := m.Bounds()
	out := make([]byte, 0, b.Dx()*b.Dy()*3)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := m.At(x, y).RGBA()
			out = append(out, byte(r>>8), byte(g>>8), byte(bl>>8))
		}
	}
	return out
}
