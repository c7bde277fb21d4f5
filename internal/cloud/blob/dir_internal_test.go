package blob

import (
	"path"
	"strings"
	"testing"
)

// keyOfPath decodes an object path the way List's walk does, in one go.
func keyOfPath(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, objectsDir+"/")
	if !ok || !strings.HasSuffix(rest, string(objectSuffix)) {
		return "", false
	}
	rest = strings.TrimSuffix(rest, string(objectSuffix))
	var key, part strings.Builder
	for name := range strings.SplitSeq(rest, "/") {
		if w, ok := strings.CutSuffix(name, string(pieceSuffix)); ok {
			part.WriteString(w)
			continue
		}
		part.WriteString(name)
		key.WriteString(unescape(part.String()))
		key.WriteByte('/')
		part.Reset()
	}
	return strings.TrimSuffix(key.String(), "/"), true
}

// FuzzObjectPath checks that every valid key maps to a path of its own
// inside objects/, made only of names every filesystem accepts.
func FuzzObjectPath(f *testing.F) {
	for _, k := range []string{
		"a", "A", "a/b", "cam/Front/0001", "...", ".a", "a..b",
		strings.Repeat("k", MaxKeyLen), strings.Repeat("K", MaxKeyLen),
		strings.Repeat("x", 200) + "./z", strings.Repeat("x", 200) + "../z",
		strings.Repeat("X", 100) + "../z", strings.Repeat(".", 300) + "/a",
		strings.Repeat("a/", 255) + "ab", "../x", "a//b", "",
	} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if !ValidKey(key) {
			return
		}
		p := objectPath(key)
		if path.Clean(p) != p || !strings.HasPrefix(p, objectsDir+"/") {
			t.Fatalf("objectPath(%q) = %q: not a clean path under %s/", key, p, objectsDir)
		}
		names := strings.Split(p, "/")[1:]
		for i, name := range names {
			if len(name) > 255 || name == "" || name == "." || name == ".." {
				t.Fatalf("objectPath(%q) has the name %q", key, name)
			}
			if strings.HasPrefix(name, tempPrefix) {
				t.Fatalf("objectPath(%q) has %q, a temporary file's name", key, name)
			}
			if (i == len(names)-1) != strings.HasSuffix(name, string(objectSuffix)) {
				t.Fatalf("objectPath(%q) = %q: only the last name may, and must, end in %c", key, p, objectSuffix)
			}
			for j := 0; j < len(name); j++ {
				c := name[j]
				if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("._-^+@", c) >= 0) {
					t.Fatalf("objectPath(%q) = %q: byte %q", key, p, c)
				}
			}
		}
		if got, ok := keyOfPath(p); !ok || got != key {
			t.Fatalf("objectPath(%q) = %q, which decodes to %q", key, p, got)
		}
	})
}
