package yamlconf

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

// Options tune Decode.
type Options struct {
	// File names the file in every *Error ("" when decoding bytes).
	File string
	// Hints answer a key that must not be there with what to write
	// instead, by key path with list indices written [] (e.g.
	// "blobs.s3.secret_key", "cameras[].password"). Keys without a hint
	// get the closest known key or the list of known keys.
	Hints map[string]string
}

// Decode decodes one YAML document from data into dst, a pointer to a
// struct whose fields carry yaml tags. It refuses unknown keys at every
// level, a key given twice in one mapping, a value of the wrong kind or
// type, and more than one document; every problem found is an *Error,
// joined with errors.Join. An empty document leaves dst as it is.
//
// The returned Source holds the line of every key path found, for the
// caller's validation messages; it is non-nil whenever err is nil.
//
// The walk handles the field types configurations use: strings, bools,
// ints, floats, fixed-size arrays, slices, pointers, structs, and types
// that implement yaml.Unmarshaler or encoding.TextUnmarshaler. Any other
// type panics, so that a new field of an unhandled type fails its tests.
func Decode(data []byte, dst any, opt Options) (*Source, error) {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		panic("yamlconf: Decode needs a pointer to a struct")
	}
	src := &Source{file: opt.File, lines: map[string]int{}}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return src, nil // empty file: validation reports what is missing
		}
		return nil, syntaxError(opt.File, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, syntaxError(opt.File, err)
		}
		return nil, &Error{File: opt.File, Line: extra.Line, Msg: "more than one YAML document; a config file holds exactly one"}
	}

	w := &walker{src: src, hints: opt.Hints}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	w.walk(doc, rv.Elem().Type(), "")
	if len(w.errs) > 0 {
		return nil, errors.Join(w.errs...)
	}

	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(dst); err != nil && !errors.Is(err, io.EOF) {
		return nil, syntaxError(opt.File, err)
	}
	return src, nil
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
	src   *Source
	hints map[string]string
	errs  []error
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
		// yaml.v3 truncates 1.5 into an int without a word: a whole
		// number must be written as one.
		isInt := t.Kind() == reflect.Int || t.Kind() == reflect.Int64
		if n.Kind != yaml.ScalarNode || n.Decode(reflect.New(t).Interface()) != nil || (isInt && n.ShortTag() != "!!int") {
			w.errorf(at, path, "expected %s, got %s", typeName(t), kindName(n))
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
		panic("yamlconf: the walk does not handle " + t.String())
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
		p := k.Value
		if path != "" {
			p = path + "." + k.Value
		}
		f, ok := fieldByKey(t, k.Value)
		if !ok {
			if h := w.hints[indexless(p)]; h != "" {
				w.errorf(k, p, "unknown key: %s", h)
			} else {
				w.errorf(k, path, "unknown key %s %s", Quote(k.Value), keyHint(k.Value, keys))
			}
			continue
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

var indexRE = regexp.MustCompile(`\[\d+\]`)

// indexless writes a key path's list indices as [].
func indexless(path string) string { return indexRE.ReplaceAllString(path, "[]") }

// typeName names a scalar type for an error message.
func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	}
	return "a number"
}

// kindName describes a node for an error message, quoting a scalar with
// Quote.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	}
	if n.ShortTag() == "!!str" {
		return "the string " + Quote(n.Value)
	}
	return Quote(n.Value)
}

// Keys lists the YAML keys of struct type t in field order.
func yamlKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		if k := Key(f); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// Key is the YAML key of a struct field, as Decode and yaml.v3 read it:
// its yaml tag's name, else the lower-cased field name; "" for a field
// that has none (unexported, or tagged "-").
func Key(f reflect.StructField) string {
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
		if Key(f) == key {
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
