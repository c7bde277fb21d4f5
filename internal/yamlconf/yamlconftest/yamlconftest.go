// Package yamlconftest lists the keys of a configuration's type, for the
// tests that check a configuration's documentation (docs/CONFIG.md) names
// every key and every default. It is for tests only: it decodes nothing
// and no binary carries it.
package yamlconftest

import (
	"encoding"
	"reflect"

	"go.yaml.in/yaml/v3"

	"vigil/internal/yamlconf"
)

// Keys lists every key path of struct type t as yamlconf.Default.Key writes them
// (lists as []), depth first in field order.
func Keys(t reflect.Type) []string {
	var paths []string
	var walk func(reflect.Type, string)
	walk = func(t reflect.Type, prefix string) {
		for f := range t.Fields() {
			k := yamlconf.Key(f)
			if k == "" {
				continue
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
				if ft.Kind() == reflect.Slice {
					k += "[]"
				}
				ft = ft.Elem()
			}
			paths = append(paths, prefix+k)
			if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(reflect.TypeFor[yaml.Unmarshaler]()) && !reflect.PointerTo(ft).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) {
				walk(ft, prefix+k+".")
			}
		}
	}
	walk(t, "")
	return paths
}
