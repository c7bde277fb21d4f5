package dataset_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vigil/internal/dataset"
	"vigil/internal/dataset/datasettest"
)

// copyDir copies a dataset directory (two levels deep at most).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// edit replaces old with new in a file of dir, failing when old is absent.
func edit(t *testing.T, dir, name, old, new string) {
	t.Helper()
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s has no %q:\n%s", name, old, b)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestValidateRefuses breaks a valid export in one place at a time.
func TestValidateRefuses(t *testing.T) {
	dir := t.TempDir()
	clip := smallClip(t, dir, 20)
	good := filepath.Join(dir, "good")
	items := []dataset.Item{{Path: clip, Annotation: smallAnnotation(20), Lineage: datasettest.Lineage("don-1")}}
	if err := dataset.Export(context.Background(), good, dataset.Version{Number: 1, Schema: dataset.DefaultSchema()}, items); err != nil {
		t.Fatal(err)
	}
	if err := dataset.Validate(good); err != nil {
		t.Fatal(err)
	}
	// The COCO file is indented with one space; the labels of frame 2 are
	// "0 0.078125 0.104167 0.156250 0.208333" ([0 0 10 10] of 64x48), of
	// frame 6 "0 0.468750 0.416667 0.312500 0.416667" ([20 10 20 20]).
	const coco = "annotations/instances.json"
	cases := []struct {
		name   string
		break_ func(t *testing.T, d string)
		want   string
	}{
		{"no manifest", func(t *testing.T, d string) { os.Remove(filepath.Join(d, "manifest.json")) }, "manifest.json"},
		{"manifest unknown key", func(t *testing.T, d string) { edit(t, d, "manifest.json", `"stride"`, `"strid"`) }, "unknown field"},
		{"manifest image not exported", func(t *testing.T, d string) {
			edit(t, d, "manifest.json", `"small_000002.jpg",`, `"small_000002.jpg", "small_000003.jpg",`)
		}, `manifest image "small_000003.jpg" is not in`},
		{"manifest box count", func(t *testing.T, d string) { edit(t, d, "manifest.json", `"boxes": 4`, `"boxes": 3`) }, "says 3 boxes"},
		{"manifest digest", func(t *testing.T, d string) {
			edit(t, d, "manifest.json", `"clip_digest": "sha256:`, `"clip_digest": "sha1:`)
		}, "clip_digest"},
		{"no COCO file", func(t *testing.T, d string) { os.Remove(filepath.Join(d, coco)) }, "instances.json"},
		{"COCO not JSON", func(t *testing.T, d string) { write(t, d, coco, "{") }, "coco: bad instances file"},
		{"COCO area", func(t *testing.T, d string) { edit(t, d, coco, `"area": 100,`, `"area": 90,`) }, "differs from the bbox"},
		{"COCO bbox outside", func(t *testing.T, d string) { edit(t, d, coco, `"bbox": [`+"\n    0,", `"bbox": [`+"\n    60,") }, "not inside image"},
		{"COCO category renamed", func(t *testing.T, d string) { edit(t, d, coco, `"name": "dog"`, `"name": "wolf"`) }, `want 3 "dog"`},
		{"COCO image size", func(t *testing.T, d string) { edit(t, d, coco, `"width": 64`, `"width": 65`) }, "is 64x48"},
		{"COCO unknown image", func(t *testing.T, d string) { edit(t, d, coco, `"image_id": 1`, `"image_id": 99`) }, "image_id 99 names no image"},
		{"image missing", func(t *testing.T, d string) { os.Remove(filepath.Join(d, "images", "small_000004.jpg")) }, "small_000004.jpg"},
		{"image not a JPEG", func(t *testing.T, d string) { write(t, d, "images/small_000004.jpg", "GIF89a") }, "not a JPEG"},
		{"stray image", func(t *testing.T, d string) { write(t, d, "images/extra.jpg", "x") }, "images/extra.jpg is not in"},
		{"stray label file", func(t *testing.T, d string) { write(t, d, "labels/extra.txt", "") }, "labels/extra.txt pairs no image"},
		{"label missing", func(t *testing.T, d string) { os.Remove(filepath.Join(d, "labels", "small_000002.txt")) }, "no labels file"},
		{"label class", func(t *testing.T, d string) {
			write(t, d, "labels/small_000002.txt", "6 0.078125 0.104167 0.156250 0.208333\n")
		}, "class \"6\""},
		{"label four fields", func(t *testing.T, d string) { write(t, d, "labels/small_000002.txt", "0 0.078125 0.104167 0.156250\n") }, "4 fields"},
		{"label out of [0,1]", func(t *testing.T, d string) {
			write(t, d, "labels/small_000002.txt", "0 1.078125 0.104167 0.156250 0.208333\n")
		}, "value 1"},
		{"label x and y swapped", func(t *testing.T, d string) {
			write(t, d, "labels/small_000006.txt", "0 0.416667 0.468750 0.312500 0.416667\n")
		}, "matches no box"},
		{"label w and h swapped", func(t *testing.T, d string) {
			write(t, d, "labels/small_000006.txt", "0 0.468750 0.416667 0.416667 0.312500\n")
		}, "matches no box"},
		{"label other class", func(t *testing.T, d string) {
			write(t, d, "labels/small_000002.txt", "1 0.078125 0.104167 0.156250 0.208333\n")
		}, "matches no box"},
		{"label extra box", func(t *testing.T, d string) {
			write(t, d, "labels/small_000002.txt", "0 0.078125 0.104167 0.156250 0.208333\n0 0.5 0.5 0.1 0.1\n")
		}, "2 boxes"},
		{"data.yaml names", func(t *testing.T, d string) { edit(t, d, "data.yaml", `"dog"`, `"wolf"`) }, "data.yaml names"},
		{"data.yaml broken", func(t *testing.T, d string) { write(t, d, "data.yaml", "names: [") }, "data.yaml"},
		{"marks of an unknown donation", func(t *testing.T, d string) {
			write(t, d, "marks.json", `{"format": "vigil-dataset-marks", "version": 1, "marks": [{"kind": "revoked", "donation": "don-9", "since": "2026-12-01T00:00:00Z", "marked": "2026-12-01T00:00:00Z"}]}`)
		}, `donation "don-9" is not an item`},
		{"marks of an unknown kind", func(t *testing.T, d string) {
			write(t, d, "marks.json", `{"format": "vigil-dataset-marks", "version": 1, "marks": [{"kind": "lost", "donation": "don-1", "since": "2026-12-01T00:00:00Z", "marked": "2026-12-01T00:00:00Z"}]}`)
		}, `kind "lost"`},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := filepath.Join(dir, "broken", itoa(i))
			copyDir(t, good, d)
			if err := dataset.Validate(d); err != nil {
				t.Fatalf("copy invalid before breaking: %v", err)
			}
			c.break_(t, d)
			err := dataset.Validate(d)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want an error containing %q", err, c.want)
			}
		})
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"format":"vigil-dataset","format_version":1,"version":2,"previous":1,"created":"2026-12-04T10:00:00Z",
"schema":{"version":1,"labels":["person","car"]},"stride":0,
"items":[{"donation":"don-1","consent":"c-1","consent_digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
"household":"hh-1","annotator":"a","reviewer":"r","clip":"clip-1","clip_digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
"images":["clip-1_000000.jpg"],"boxes":1}],"removed":["don-0"]}`), []byte(`{"format":"vigil-dataset-marks","version":1,"marks":[{"kind":"revoked","donation":"don-1","since":"2026-12-05T09:00:00Z","marked":"2026-12-05T09:01:00Z"}]}`))
	f.Fuzz(func(t *testing.T, manifest, marks []byte) {
		m, err := dataset.ParseManifest(manifest)
		if err != nil {
			if !errors.Is(err, dataset.ErrManifest) {
				t.Fatalf("error not ErrManifest: %v", err)
			}
			return
		}
		for _, it := range m.Items {
			for _, im := range it.Images {
				if strings.ContainsAny(im, `/\`) || !strings.HasPrefix(im, it.Clip+"_") {
					t.Fatalf("accepted image name %q", im)
				}
			}
		}
		if _, err := dataset.ParseMarks(marks, m); err != nil && !errors.Is(err, dataset.ErrManifest) {
			t.Fatalf("marks error not ErrManifest: %v", err)
		}
	})
}
