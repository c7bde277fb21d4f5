package fsutil

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplaces(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", "f")
	if err := WriteFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Fatalf("content %q", b)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(p), ".tmp-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

func TestWriteNewNeverReplaces(t *testing.T) {
	for name, link := range map[string]func(string, string) error{
		"hard links":    os.Link,
		"no hard links": func(string, string) error { return &os.LinkError{Op: "link", Err: os.ErrPermission} },
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "k")
			if err := write(p, []byte("key"), 0o600, true, link); err != nil {
				t.Fatal(err)
			}
			if err := write(p, []byte("other"), 0o600, true, link); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("second write: %v, want fs.ErrExist", err)
			}
			if b, _ := os.ReadFile(p); string(b) != "key" {
				t.Fatalf("the file was replaced: %q", b)
			}
		})
	}
}

func TestLockDir(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	f, err := LockDir(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockDir(p); !errors.Is(err, ErrLocked) {
		t.Fatalf("second lock: %v, want ErrLocked", err)
	}
	f.Close()
	g, err := LockDir(p)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	g.Close()
}
