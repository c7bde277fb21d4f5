package yamlconf

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"vigil/internal/units"
)

type inner struct {
	Driver string         `yaml:"driver"`
	Size   units.ByteSize `yaml:"size"`
	Secure *bool          `yaml:"secure"`
}

type item struct {
	Name  string `yaml:"name"`
	Count int    `yaml:"count"`
}

type doc struct {
	Listen string         `yaml:"listen"`
	Level  string         `yaml:"log_level"`
	Age    units.Duration `yaml:"max_age"`
	Score  float64        `yaml:"score"`
	Store  inner          `yaml:"store"`
	Opt    *inner         `yaml:"opt"`
	Items  []item         `yaml:"items"`
	Tags   []string       `yaml:"tags"`
	Point  [2]float64     `yaml:"point"`
	hidden string
}

func decodeErrs(t *testing.T, src string, opt Options) []string {
	t.Helper()
	var d doc
	s, err := Decode([]byte(src), &d, opt)
	if err == nil {
		if s == nil {
			t.Fatal("nil Source without an error")
		}
		return nil
	}
	var out []string
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("%T is not an *Error: %v", e, e)
		}
		out = append(out, ce.Error())
	}
	return out
}

func TestDecodeErrors(t *testing.T) {
	hints := map[string]string{"store.password": "put it in a file", "items[].secret": "never here"}
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"close key", "listen: a\nlistn: b\n", []string{`f.yaml:2: unknown key "listn" (hint: did you mean "listen"?)`}},
		{"nested, no close key", "store:\n  frobnicate: 1\n", []string{`f.yaml:2: store: unknown key "frobnicate" (known keys: driver, size, secure)`}},
		{"hint", "store:\n  password: hunter2\n", []string{`f.yaml:2: store.password: unknown key: put it in a file`}},
		{"hint in a list", "items:\n  - name: a\n  - secret: x\n", []string{`f.yaml:3: items[1].secret: unknown key: never here`}},
		{"unexported field is unknown", "hidden: x\n", []string{`f.yaml:1: unknown key "hidden" (known keys: listen, log_level, max_age, score, store, opt, items, tags, point)`}},
		{"twice", "listen: a\nlog_level: x\nlisten: b\n", []string{`f.yaml:3: listen: key appears twice (first on line 1)`}},
		{"twice nested", "opt:\n  driver: a\n  driver: b\n", []string{`f.yaml:3: opt.driver: key appears twice (first on line 2)`}},
		{"bool", "store:\n  secure: maybe\n", []string{`f.yaml:2: store.secure: expected true or false, got the string "maybe"`}},
		{"int", "items:\n  - count: 1.5\n", []string{`f.yaml:2: items[0].count: expected a whole number, got "1.5"`}},
		{"float", "score: high\n", []string{`f.yaml:1: score: expected a number, got the string "high"`}},
		{"unit", "store:\n  size: lots\n", []string{`f.yaml:2: store.size: "lots": not a size (use e.g. 500MB, 20GB)`}},
		{"mapping", "store: sqlite\n", []string{`f.yaml:1: store: expected a mapping of driver, size, secure, got the string "sqlite"`}},
		{"list", "tags: a\n", []string{`f.yaml:1: tags: expected a list, got the string "a"`}},
		{"array", "point: [1, 2, 3]\n", []string{`f.yaml:1: point: expected a list of 2 numbers, got a list`}},
		{"string", "listen: [a]\n", []string{`f.yaml:1: listen: expected a string, got a list`}},
		{"secret not echoed", "listen: [a]\nlog_level: {VIGIL-IDENTITY-1ABC: 1}\n", []string{`f.yaml:1: listen: expected a string, got a list`, `f.yaml:2: log_level: expected a string, got a mapping`}},
		{"password not echoed", "score: rtsp://u:hunter2@h/\n", []string{`f.yaml:1: score: expected a number, got the string "rtsp://u:xxxxx@h/"`}},
		{"all at once", "listn: a\nscore: x\n", []string{`f.yaml:1: unknown key "listn" (hint: did you mean "listen"?)`, `f.yaml:2: score: expected a number, got the string "x"`}},
		{"two documents", "listen: a\n---\nlisten: b\n", []string{`f.yaml:2: more than one YAML document; a config file holds exactly one`}},
		{"syntax", "listen: [a\n", nil},
		{"merge of unknown", "base: &b {driver: x}\nstore:\n  <<: *b\n", []string{`f.yaml:1: unknown key "base" (known keys: listen, log_level, max_age, score, store, opt, items, tags, point)`}},
	} {
		got := decodeErrs(t, tc.src, Options{File: "f.yaml", Hints: hints})
		if tc.want == nil {
			if len(got) == 0 {
				t.Errorf("%s: no error", tc.name)
			}
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestDecodeValuesAndLines(t *testing.T) {
	var d doc
	src := "listen: 127.0.0.1:1\nbase: &s\n  driver: x\n"
	if _, err := Decode([]byte(src), &d, Options{}); err == nil || !strings.HasPrefix(err.Error(), "line 2: ") {
		t.Errorf("without a file name: %v", err)
	}
	src = "listen: 127.0.0.1:1\nmax_age: 30d\nstore: &s\n  driver: pg\n  size: 2GB\nopt:\n  <<: *s\n  secure: false\nitems:\n  - name: a\n    count: 3\ntags: [x, y]\npoint: [0.5, 1]\n"
	s, err := Decode([]byte(src), &d, Options{File: "c.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Listen != "127.0.0.1:1" || d.Age != units.Duration(30*24*3600e9) || d.Store.Driver != "pg" || d.Store.Size != 2e9 ||
		d.Opt == nil || d.Opt.Driver != "pg" || d.Opt.Secure == nil || *d.Opt.Secure || d.Items[0].Count != 3 ||
		!slices.Equal(d.Tags, []string{"x", "y"}) || d.Point != [2]float64{0.5, 1} {
		t.Errorf("decoded %+v opt %+v", d, d.Opt)
	}
	for path, line := range map[string]int{"listen": 1, "store.size": 5, "opt.secure": 8, "items[0]": 10, "items[0].count": 11, "items[0].name.x": 10, "nothing": 0} {
		if got := s.Line(path); got != line {
			t.Errorf("Line(%q) = %d, want %d", path, got, line)
		}
	}
	if e := s.Errorf("store.size", "too big"); e.Error() != "c.yaml:5: store.size: too big" {
		t.Errorf("Errorf: %v", e)
	}
	var nilSrc *Source
	if e := nilSrc.Errorf("listen", "bad"); e.Error() != "listen: bad" || nilSrc.File() != "" {
		t.Errorf("nil Source: %v", e)
	}

	var empty doc
	if s, err := Decode(nil, &empty, Options{}); err != nil || s == nil || !reflect.DeepEqual(empty, doc{}) {
		t.Errorf("empty document: %v %+v", err, empty)
	}
}

func TestApplyDefaults(t *testing.T) {
	defs := []Default{
		{Key: "log_level", Value: "info"},
		{Key: "max_age", Value: "30d"},
		{Key: "score", Value: "0.4"},
		{Key: "tags", Value: "[a, b]"},
		{Key: "store.driver", Value: "sqlite"},
		{Key: "store.size", Value: "1GiB"},
		{Key: "opt.driver", Value: "dir"},
		{Key: "items[].count", Value: "7"},
	}
	d := doc{Level: "debug", Items: []item{{Name: "a"}, {Name: "b", Count: 2}}, Store: inner{Size: 5}}
	if err := ApplyDefaults(&d, defs); err != nil {
		t.Fatal(err)
	}
	if d.Level != "debug" || d.Age != units.Duration(30*24*3600e9) || d.Score != 0.4 || !slices.Equal(d.Tags, []string{"a", "b"}) ||
		d.Store.Driver != "sqlite" || d.Store.Size != 5 || d.Opt != nil || d.Items[0].Count != 7 || d.Items[1].Count != 2 {
		t.Errorf("after defaults: %+v", d)
	}
	d.Opt = &inner{}
	if err := ApplyDefaults(&d, defs); err != nil || d.Opt.Driver != "dir" {
		t.Errorf("present section: %v %+v", err, d.Opt)
	}
	for _, bad := range []Default{
		{Key: "nosuch", Value: "x"},
		{Key: "store.nosuch", Value: "x"},
		{Key: "score", Value: "high"},
		{Key: "store.size", Value: "lots"},
		{Key: "items[]", Value: "x"},
		{Key: "listen[].x", Value: "x"},
		{Key: "listen.x", Value: "x"},
	} {
		if err := ApplyDefaults(&doc{Items: []item{{}}}, []Default{bad}); err == nil {
			t.Errorf("default %+v applied without an error", bad)
		}
	}
}

// FuzzDecode: any input either decodes or fails with *Error values; the
// walk never panics on what yaml.v3 parses.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"listen: a\nstore:\n  driver: x\n  size: 1GB\nitems:\n  - name: a\n    count: 2\n",
		"a: &a [*a]\n", "store: &s {driver: x}\nopt: *s\n", "opt:\n  <<: [{driver: a}, {size: 3}]\n",
		"point: [1, 2]\ntags: [a, b]\n", "---\n", "listen: a\nlisten: b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d doc
		_, err := Decode(data, &d, Options{File: "f"})
		if err == nil {
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				var ce *Error
				if !errors.As(e, &ce) {
					t.Fatalf("%T: %v", e, e)
				}
			}
		} else if !errors.As(err, new(*Error)) {
			t.Fatalf("%T: %v", err, err)
		}
	})
}

func TestPlace(t *testing.T) {
	var d doc
	s, err := Decode([]byte("listen: x\nstore:\n  driver: pg\n  size: 1GB\nitems:\n  - name: a\n"), &d, Options{File: "c.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	got := s.Place(errors.Join(
		errors.New("store.driver: \"pg\" is not sqlite or postgres"),
		errors.New("store.size, listen: give one of them"),
		errors.New("items[0].name: too short: a: b"),
		errors.New("log_level: required"),
		errors.New("something went wrong"),
	)).Error()
	want := "c.yaml:3: store.driver: \"pg\" is not sqlite or postgres\n" +
		"c.yaml:4: store.size, listen: give one of them\n" +
		"c.yaml:6: items[0].name: too short: a: b\n" +
		"c.yaml: log_level: required\n" +
		"c.yaml: something went wrong"
	if got != want {
		t.Errorf("Place:\n%s\nwant\n%s", got, want)
	}
	if s.Place(nil) != nil {
		t.Error("Place(nil) is not nil")
	}
}
