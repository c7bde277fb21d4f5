package blob

import (
	"bytes"
	"crypto/sha256"
	"hash/crc32"
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

// FuzzPackRecords feeds arbitrary bytes to the pack and sidecar parsers
// as the rest of a pack file and as a sidecar: they must not panic, and
// what they accept must be records that lie inside the file and encode
// back to the same bytes.
func FuzzPackRecords(f *testing.F) {
	var good []byte
	for i, key := range []string{"a", "cam/0001", "x/y/z"} {
		data := bytes.Repeat([]byte{byte(i)}, i*100)
		rec := make([]byte, recordLen(key, int64(len(data))))
		copy(rec[recHeaderLen+len(key):], data)
		sum := sha256.Sum256(data)
		putHeader(rec, kindPut, key, int64(len(data)), &sum, crc32.Checksum(data, castagnoli))
		good = append(good, rec...)
	}
	good = append(good, tombstone("a")...)
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte{})
	f.Add(encodeSidecar(1, packHeaderLen+int64(len(good)), nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		file := append(packHeader(1), b...)
		end, err := scanPack(bytes.NewReader(file), int64(len(file)), true, func(r record) {
			if r.off < packHeaderLen || r.off+r.len() > int64(len(file)) {
				t.Fatalf("record %q at %d, %d bytes, outside the file of %d", r.key, r.off, r.len(), len(file))
			}
			rec := make([]byte, recHeaderLen+len(r.key))
			sum := &r.sum
			if r.kind == kindDelete {
				sum = nil
			}
			putHeader(rec, r.kind, r.key, r.size, sum, r.crc)
			if !bytes.Equal(rec, file[r.off:r.off+int64(len(rec))]) {
				t.Fatalf("record %q at %d does not encode back to its bytes", r.key, r.off)
			}
		})
		if end > int64(len(file)) || (err == nil && end != int64(len(file))) {
			t.Fatalf("scan ended at %d of %d, %v", end, len(file), err)
		}
		if recs, err := decodeSidecar(b, 1, int64(len(file))); err == nil {
			if enc := encodeSidecar(1, int64(len(file)), recs); !bytes.Equal(enc, b) {
				t.Fatalf("sidecar does not encode back to its bytes")
			}
		}
	})
}
