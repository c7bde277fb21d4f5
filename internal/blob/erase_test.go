package blob_test

import (
	"bytes"
	"crypto/rand"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"vigil/internal/blob"
)

// TestDirErase: an erased object leaves no byte in any file of the
// directory, whether it sat in a pack (the newest, or one sealed since) or
// in a file of its own; the other objects of its packs stay readable, also
// after the Dir is opened again (the packs still verify).
func TestDirErase(t *testing.T) {
	root := t.TempDir()
	d := openDir(t, root, blob.DirOptions{PackObjectMax: 1500, PackSize: 3000})
	obj := func() []byte {
		b := make([]byte, 1000)
		rand.Read(b)
		return b
	}
	// Pack 1 (sealed once full): sealed, other, other2; pack 2 (the
	// newest): head, other3. Each stays mostly live, so compaction does
	// not remove them.
	sealedOne, other, headOne, big := obj(), obj(), obj(), append(obj(), obj()...)
	put(t, d, "a/sealed", sealedOne)
	put(t, d, "a/other", other)
	put(t, d, "a/other2", obj())
	put(t, d, "a/head", headOne)
	put(t, d, "a/other3", obj())
	put(t, d, "a/big", big)
	for _, k := range []string{"a/sealed", "a/head", "a/big", "a/missing"} {
		if err := d.Erase(t.Context(), k); err != nil {
			t.Fatalf("erase %s: %v", k, err)
		}
	}
	scan := func() {
		t.Helper()
		filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			b, _ := os.ReadFile(p)
			for name, x := range map[string][]byte{"sealed-pack object": sealedOne, "head-pack object": headOne, "file object": big} {
				if bytes.Contains(b, x[500:564]) {
					t.Errorf("%s still holds bytes of the erased %s", p, name)
				}
			}
			return nil
		})
	}
	scan()
	if got := get(t, d, "a/other"); !bytes.Equal(got, other) {
		t.Fatal("the object sharing the pack changed")
	}
	d.Close()
	d = openDir(t, root, blob.DirOptions{PackObjectMax: 1500, PackSize: 3000})
	if got := get(t, d, "a/other"); !bytes.Equal(got, other) {
		t.Fatal("after reopening, the object sharing the pack changed")
	}
	if _, err := d.Stat(t.Context(), "a/head"); err == nil {
		t.Fatal("an erased object is back after reopening")
	}
	scan()
}
