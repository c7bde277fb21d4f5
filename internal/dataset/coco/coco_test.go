package coco

import (
	"errors"
	"strings"
	"testing"
)

const valid = `{
 "info": {"description": "test", "version": "1", "year": 2026},
 "licenses": [],
 "images": [
  {"id": 1, "file_name": "a_000000.jpg", "width": 100, "height": 80},
  {"id": 2, "file_name": "a_000010.jpg", "width": 100, "height": 80, "extra": true}
 ],
 "annotations": [
  {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 30, 40], "area": 1200, "iscrowd": 0},
  {"id": 2, "image_id": 2, "category_id": 2, "bbox": [70, 40, 30, 40], "area": 1200, "iscrowd": 1},
  {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 50, "iscrowd": 0, "segmentation": [[0,0,10,0,0,10]]}
 ],
 "categories": [{"id": 1, "name": "person", "supercategory": "object"}, {"id": 2, "name": "dog"}]
}`

func TestParse(t *testing.T) {
	f, err := Parse([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Images) != 2 || len(f.Annotations) != 3 || f.Annotations[1].IsCrowd != 1 || f.Annotations[0].BBox != [4]float64{10, 20, 30, 40} || f.Categories[1].Name != "dog" {
		t.Fatalf("parsed %+v", f)
	}
	out, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	g, err := Parse(out)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, out)
	}
	if len(g.Annotations) != 3 || g.Images[1].FileName != "a_000010.jpg" {
		t.Fatalf("round trip %+v", g)
	}
}

var bad = []struct{ name, old, new, want string }{
	{"no images", `"images": [`, `"imagez": [`, `"images" is missing`},
	{"info not object", `"info": {"description": "test", "version": "1", "year": 2026}`, `"info": []`, `"info" is an array, want an object`},
	{"categories not array", `"categories": [{"id": 1, "name": "person", "supercategory": "object"}, {"id": 2, "name": "dog"}]`, `"categories": {}`, `"categories" is an object`},
	{"image without file_name", `"file_name": "a_000000.jpg", `, ``, `images[0]: "file_name" is missing`},
	{"image id string", `{"id": 1, "file_name"`, `{"id": "1", "file_name"`, `images[0]: "id" is a string, want a number`},
	{"image id fraction", `{"id": 1, "file_name"`, `{"id": 1.5, "file_name"`, "images[0]"},
	{"image id twice", `{"id": 2, "file_name"`, `{"id": 1, "file_name"`, "images[1]: id 1 used twice"},
	{"image id zero", `{"id": 1, "file_name"`, `{"id": 0, "file_name"`, "id 0"},
	{"file name escapes", `"a_000000.jpg"`, `"../a.jpg"`, "relative path"},
	{"file name absolute", `"a_000000.jpg"`, `"/etc/passwd"`, "relative path"},
	{"file name twice", `"a_000010.jpg"`, `"a_000000.jpg"`, "used twice"},
	{"image width", `"width": 100, "height": 80}`, `"width": 0, "height": 80}`, "size 0x80"},
	{"image null", `{"id": 1, "file_name": "a_000000.jpg", "width": 100, "height": 80}`, `null`, "not an object"},
	{"annotation without bbox", `"bbox": [10, 20, 30, 40], `, ``, `"bbox" is missing`},
	{"annotation without area", `"area": 1200, "iscrowd": 0}`, `"iscrowd": 0}`, `"area" is missing`},
	{"annotation without iscrowd", `"area": 1200, "iscrowd": 0}`, `"area": 1200}`, `"iscrowd" is missing`},
	{"bbox three numbers", `[10, 20, 30, 40]`, `[10, 20, 30]`, "four numbers"},
	{"bbox five numbers", `[10, 20, 30, 40]`, `[10, 20, 30, 40, 5]`, "four numbers"},
	{"bbox strings", `[10, 20, 30, 40]`, `["10", 20, 30, 40]`, "four numbers"},
	{"bbox outside", `[70, 40, 30, 40]`, `[71, 40, 30, 40]`, "not inside image 2"},
	{"bbox below", `[70, 40, 30, 40]`, `[70, 41, 30, 40]`, "not inside"},
	{"bbox negative", `[10, 20, 30, 40]`, `[-1, 20, 30, 40]`, "not inside"},
	{"bbox empty", `[10, 20, 30, 40]`, `[10, 20, 0, 40]`, "empty"},
	{"area wrong", `"area": 1200, "iscrowd": 0}`, `"area": 1100, "iscrowd": 0}`, "differs from the bbox"},
	{"area over bbox", `"area": 50`, `"area": 101`, "at most the bbox"},
	{"area zero", `"area": 50`, `"area": 0`, "area 0"},
	{"iscrowd 2", `"iscrowd": 1`, `"iscrowd": 2`, "iscrowd 2"},
	{"image_id unknown", `"image_id": 2, "category_id": 2`, `"image_id": 3, "category_id": 2`, "image_id 3 names no image"},
	{"category_id unknown", `"category_id": 2`, `"category_id": 9`, "category_id 9 names no category"},
	{"annotation id twice", `{"id": 3, "image_id"`, `{"id": 2, "image_id"`, "id 2 used twice"},
	{"category id twice", `{"id": 2, "name": "dog"}`, `{"id": 1, "name": "dog"}`, "used twice"},
	{"category name twice", `{"id": 2, "name": "dog"}`, `{"id": 2, "name": "person"}`, "used twice"},
	{"category without name", `{"id": 2, "name": "dog"}`, `{"id": 2}`, `"name" is missing`},
	{"not an object", `{`, `[{`, "coco"},
}

func TestParseRefuses(t *testing.T) {
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			in := strings.Replace(valid, c.old, c.new, 1)
			if in == valid {
				t.Fatalf("edit %q not applied", c.old)
			}
			_, err := Parse([]byte(in))
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want ErrFormat containing %q", err, c.want)
			}
		})
	}
	for _, in := range []string{"null", "[]", "1", `{"info": {}, "images": [], "annotations": [], "categories": []}`} {
		if _, err := Parse([]byte(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	for _, c := range bad {
		f.Add([]byte(strings.Replace(valid, c.old, c.new, 1)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error not ErrFormat: %v", err)
			}
			return
		}
		out, err := g.Marshal()
		if err != nil {
			t.Fatalf("marshal of a parsed file: %v", err)
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
	})
}
