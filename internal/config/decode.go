package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decode parses data into a Hub. It first walks the YAML node tree against
// Hub's type so that every unknown key, duplicate key and malformed value is
// reported with its line and key path; only when the walk finds nothing does
// it decode with yaml.v3 in strict mode (KnownFields), which then cannot fail
// on anything the walk checks.
func decode(data []byte, file string) (*Hub, error) {
	src := &source{file: file, lines: map[string]int{}}
	h := &Hub{src: src}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return h, nil // empty file: Validate reports what is missing
		}
		return nil, syntaxError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(file, err)
		}
		return nil, &Error{File: file, Line: extra.Line, Msg: "more than one YAML document; a config file holds exactly one"}
	}

	w := &walker{src: src}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	w.walk(doc, reflect.TypeFor[Hub](), "")
	if len(w.errs) > 0 {
		return nil, errors.Join(w.errs...)
	}

	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(h); err != nil && !errors.Is(err, io.EOF) {
		return nil, syntaxError(file, err)
	}
	h.src = src
	return h, nil
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// syntaxError turns a yaml.v3 error into *Error values with the line moved
// into the position prefix.
func syntaxError(file string, err error) error {
	var lines []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		lines = te.Errors
	} else {
		lines = []string{err.Error()}
	}
	var errs []error
	for _, l := range lines {
		e := &Error{File: file, Msg: strings.TrimPrefix(l, "yaml: ")}
		if m := yamlLineRE.FindStringSubmatch(l); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = m[2]
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

type walker struct {
	src  *source
	errs []error
}

func (w *walker) errorf(n *yaml.Node, path, format string, args ...any) {
	w.errs = append(w.errs, &Error{File: w.src.file, Line: n.Line, Key: path, Msg: fmt.Sprintf(format, args...)})
}

var (
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// walk checks n against type t, recording the line of every key path.
// Errors about an alias's target are reported at the alias.
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	at := n
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.ShortTag() == "!!null" {
		return // yaml.v3 leaves the zero value
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if err := reflect.New(t).Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			w.errorf(at, path, "%v", err)
		}
		return
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		if n.Kind != yaml.ScalarNode {
			w.errorf(at, path, "expected a value such as 30s, got %s", kindName(n))
		}
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		w.walk(n, t.Elem(), path)
	case reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64:
		if n.Kind != yaml.ScalarNode {
			w.errorf(at, path, "expected a %s, got %s", t.Kind(), kindName(n))
		}
	case reflect.Array:
		if n.Kind != yaml.SequenceNode || len(n.Content) != t.Len() {
			w.errorf(at, path, "expected a list of %d numbers, got %s", t.Len(), kindName(n))
			return
		}
		for i, item := range n.Content {
			w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			w.errorf(at, path, "expected a string, got %s", kindName(n))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.errorf(at, path, "expected a list, got %s", kindName(n))
			return
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			w.src.lines[p] = item.Line
			w.walk(item, t.Elem(), p)
		}
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.errorf(at, path, "expected a mapping of %s, got %s", strings.Join(yamlKeys(t), ", "), kindName(n))
			return
		}
		w.walkMapping(n, t, path, map[string]int{})
	default:
		panic("config: walker does not handle " + t.String())
	}
}

func (w *walker) walkMapping(n *yaml.Node, t reflect.Type, path string, seen map[string]int) {
	keys := yamlKeys(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			w.walkMerge(v, t, path)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			w.errorf(k, path, "expected a key such as %q, got %s", keys[0], kindName(k))
			continue
		}
		f, ok := fieldByKey(t, k.Value)
		if !ok {
			w.errorf(k, path, "unknown key %q %s", k.Value, keyHint(k.Value, keys))
			continue
		}
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		if first, dup := seen[k.Value]; dup {
			w.errorf(k, p, "key appears twice (first on line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		w.src.lines[p] = k.Line
		w.walk(v, f.Type, p)
	}
}

// walkMerge checks the value of a "<<" merge key: a mapping or a list of
// mappings whose keys become keys of the enclosing mapping.
func (w *walker) walkMerge(v *yaml.Node, t reflect.Type, path string) {
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.MappingNode:
		w.walkMapping(v, t, path, map[string]int{})
	case yaml.SequenceNode:
		for _, item := range v.Content {
			w.walkMerge(item, t, path)
		}
	default:
		w.errorf(v, path, "a merge key (<<) needs a mapping, got %s", kindName(v))
	}
}

// yamlKeys lists the YAML keys of struct type t in field order.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		if k := yamlKey(f); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

func yamlKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if yamlKey(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// keyHint suggests the known key closest to an unknown one, or lists them
// all when none is close.
func keyHint(key string, known []string) string {
	best, bestDist := "", -1
	for _, k := range known {
		d := editDistance(strings.ToLower(key), k)
		if bestDist < 0 || d < bestDist {
			best, bestDist = k, d
		}
	}
	if bestDist >= 0 && (bestDist <= 2 || bestDist <= len(key)/3) {
		return fmt.Sprintf("(hint: did you mean %q?)", best)
	}
	return fmt.Sprintf("(known keys: %s)", strings.Join(known, ", "))
}

// editDistance is the Levenshtein distance between a and b, by bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
