package yamlconf

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Default is one key's default value: what a configuration's loader puts
// in the key when the file leaves it missing, empty or zero.
type Default struct {
	// Key is the key path, with [] for every element of a list
	// ("cameras[].transport"). A default under a section that is a
	// pointer (detection.mode) applies only when the file has that
	// section.
	Key string
	// Value is the default as a config file writes it ("4s", "info",
	// "[person, car]"); ApplyDefaults decodes it as the key's own type,
	// so the table and the files read alike.
	Value string
}

// ApplyDefaults sets every key of defs that is zero (or an empty list) in
// dst, a pointer to a struct, to its Value. It fails on a Key that names
// no field of dst or a Value that does not decode as the key's type: a
// table's own test calls it on a value with every section present, so
// such a mistake fails there.
func ApplyDefaults(dst any, defs []Default) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("yamlconf: ApplyDefaults needs a pointer to a struct, got %T", dst)
	}
	for _, d := range defs {
		if err := applyDefault(rv.Elem(), strings.Split(d.Key, "."), d); err != nil {
			return err
		}
	}
	return nil
}

func applyDefault(v reflect.Value, parts []string, d Default) error {
	name, list := strings.CutSuffix(parts[0], "[]")
	f, ok := fieldByKey(v.Type(), name)
	if !ok {
		return fmt.Errorf("yamlconf: default %s: %s has no key %q", d.Key, v.Type(), name)
	}
	fv := v.FieldByIndex(f.Index)
	if list {
		if fv.Kind() != reflect.Slice {
			return fmt.Errorf("yamlconf: default %s: %q is not a list", d.Key, name)
		}
		if len(parts) == 1 {
			return fmt.Errorf("yamlconf: default %s: a default names a key inside the list's elements", d.Key)
		}
		for i := range fv.Len() {
			if err := descend(fv.Index(i), parts[1:], d); err != nil {
				return err
			}
		}
		return nil
	}
	if len(parts) > 1 {
		return descend(fv, parts[1:], d)
	}
	if !fv.IsZero() && (fv.Kind() != reflect.Slice || fv.Len() > 0) {
		return nil
	}
	nv := reflect.New(fv.Type())
	if err := yaml.Unmarshal([]byte(d.Value), nv.Interface()); err != nil {
		return fmt.Errorf("yamlconf: default %s: %q: %v", d.Key, d.Value, err)
	}
	fv.Set(nv.Elem())
	return nil
}

// descend applies d below v, a struct or a pointer to one (nil: the
// section is absent, and so is its default).
func descend(v reflect.Value, parts []string, d Default) error {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return fmt.Errorf("yamlconf: default %s: %s is not a mapping", d.Key, v.Type())
	}
	return applyDefault(v, parts, d)
}
