package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"vigil/internal/blob"
	"vigil/internal/blob/blobtest"
)

// tWriter routes log output to t.Log.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func openDir(t testing.TB, root string, opts blob.DirOptions) *blob.Dir {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	d, err := blob.OpenDir(root, opts)
	if err != nil {
		t.Fatalf("OpenDir: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// filesOnly stores every object in a file of its own, as a Dir did before
// it had packs (and does for large objects).
var filesOnly = blob.DirOptions{PackObjectMax: -1}

func TestDirConformance(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts blob.DirOptions
	}{
		{"packs", blob.DirOptions{}},
		// Small packs: most records land in sealed packs.
		{"small-packs", blob.DirOptions{PackSize: 64 << 10}},
		{"files", filesOnly},
		// Objects over 10 KiB in files, smaller ones in packs.
		{"mixed", blob.DirOptions{PackObjectMax: 10 << 10}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			blobtest.Run(t, func(t *testing.T) blob.Store {
				return openDir(t, t.TempDir(), mode.opts)
			})
		})
	}
}

func put(t *testing.T, s blob.Store, key string, b []byte) {
	t.Helper()
	if _, _, err := s.Put(t.Context(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	o, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	return b
}

func list(t *testing.T, s blob.Store, prefix string) []string {
	t.Helper()
	keys, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys
}

// tree returns every path under dir, relative to it, with "/" after
// directories.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if e.IsDir() {
			rel += "/"
		}
		paths = append(paths, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// TestDirLayout pins the documented layout of objects in files: plain
// files an operator can copy.
func TestDirLayout(t *testing.T) {
	root := t.TempDir()
	d := openDir(t, root, filesOnly)
	put(t, d, "cam/Front/0001", []byte("front"))
	put(t, d, "cam", []byte("cam"))
	long := strings.Repeat("x", 201) + "." // 202 bytes: one piece of 199, then "xx."
	put(t, d, "l/"+long+"/z", []byte("long"))
	want := []string{
		"lock",
		"objects/",
		"objects/cam/",
		"objects/cam/^front/",
		"objects/cam/^front/0001@",
		"objects/cam@",
		"objects/l/",
		"objects/l/" + strings.Repeat("x", 199) + "+/",
		"objects/l/" + strings.Repeat("x", 199) + "+/xx./",
		"objects/l/" + strings.Repeat("x", 199) + "+/xx./z@",
		"packs/",
		"packs/0000000000000001.pack",
	}
	if got := tree(t, root); !slices.Equal(got, want) {
		t.Errorf("layout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	b, err := os.ReadFile(filepath.Join(root, "objects", "cam", "^front", "0001@"))
	if err != nil || string(b) != "front" {
		t.Errorf("object file = %q, %v; want its bytes", b, err)
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(filepath.Join(root, "objects", "cam@"))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("object file mode %v, want no access for group and others", fi.Mode().Perm())
		}
	}
}

func TestDirReopen(t *testing.T) {
	root := t.TempDir()
	d := openDir(t, root, blob.DirOptions{})
	objs := map[string][]byte{"a": []byte("one"), "a/b": []byte("two"), "Z/" + strings.Repeat("q", 400): bytes.Repeat([]byte{7}, 100_000)}
	for k, b := range objs {
		put(t, d, k, b)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = openDir(t, root, blob.DirOptions{})
	for k, b := range objs {
		if got := get(t, d, k); !bytes.Equal(got, b) {
			t.Errorf("after reopen %q holds %d bytes, want %d", k, len(got), len(b))
		}
		_, created, err := d.Put(t.Context(), k, bytes.NewReader(b), int64(len(b)))
		if err != nil || created {
			t.Errorf("after reopen, Put of the same bytes under %q: created=%v, %v", k, created, err)
		}
	}
	want := slices.Sorted(func(yield func(string) bool) {
		for k := range objs {
			if !yield(k) {
				return
			}
		}
	})
	if got := list(t, d, ""); !slices.Equal(got, want) {
		t.Errorf("after reopen List = %q, want %q", got, want)
	}
}

// TestDirCrashLeftovers plants what a crash leaves (temporary files,
// empty directories) and checks OpenDir removes it and nothing else.
func TestDirCrashLeftovers(t *testing.T) {
	root := t.TempDir()
	d := openDir(t, root, filesOnly)
	put(t, d, "a/b/c", []byte("abc"))
	put(t, d, "x", []byte("x"))
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	objects := filepath.Join(root, "objects")
	plant := func(rel string, b []byte) {
		t.Helper()
		p := filepath.Join(objects, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	plant("#3kq9z0", nil)
	plant("a/b/#x1y2", bytes.Repeat([]byte{1}, 1000)) // a torn write next to an object
	plant("new/dir/#half", bytes.Repeat([]byte{2}, 10))
	if err := os.MkdirAll(filepath.Join(objects, "empty", "dirs"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Not Put's: kept, and not listed.
	plant("junk", []byte("j"))
	plant("UPPER@", []byte("u"))

	packs := filepath.Join(root, "packs")
	if err := os.WriteFile(filepath.Join(packs, "#sidecar-tmp"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	d = openDir(t, root, filesOnly)
	want := []string{"lock", "objects/", "objects/UPPER@", "objects/a/", "objects/a/b/", "objects/a/b/c@", "objects/junk", "objects/x@",
		"packs/", "packs/0000000000000001.pack"}
	if got := tree(t, root); !slices.Equal(got, want) {
		t.Errorf("after reopen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := list(t, d, ""); !slices.Equal(got, []string{"a/b/c", "x"}) {
		t.Errorf("List = %q, want [a/b/c x]", got)
	}
	if got := get(t, d, "a/b/c"); string(got) != "abc" {
		t.Errorf("a/b/c = %q", got)
	}
}

// TestDirFailedPutLeavesNothing checks that failed Puts of a key in new
// directories leave no file and no directory behind.
func TestDirFailedPutLeavesNothing(t *testing.T) {
	t.Run("files", func(t *testing.T) { testFailedPutLeavesNothing(t, filesOnly) })
	t.Run("packs", func(t *testing.T) { testFailedPutLeavesNothing(t, blob.DirOptions{}) })
}

func testFailedPutLeavesNothing(t *testing.T, opts blob.DirOptions) {
	root := t.TempDir()
	d := openDir(t, root, opts)
	ctx := t.Context()
	pack := filepath.Join(root, "packs", "0000000000000001.pack")
	packSize := func() int64 {
		t.Helper()
		fi, err := os.Stat(pack)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	empty := packSize()
	b := bytes.Repeat([]byte{3}, 10_000)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for name, f := range map[string]func() error{
		"short": func() error {
			_, _, err := d.Put(ctx, "p/q/r", bytes.NewReader(b[:10]), 10_000)
			return err
		},
		"long": func() error {
			_, _, err := d.Put(ctx, "p/q/r", bytes.NewReader(b), 10)
			return err
		},
		"failing reader": func() error {
			_, _, err := d.Put(ctx, "p/q/r", io.MultiReader(bytes.NewReader(b), errReader{}), 20_000)
			return err
		},
		"cancelled": func() error {
			_, _, err := d.Put(cancelled, "p/q/r", bytes.NewReader(b), 10_000)
			return err
		},
	} {
		if err := f(); err == nil {
			t.Errorf("%s: Put succeeded", name)
		}
		if got := tree(t, filepath.Join(root, "objects")); len(got) != 0 {
			t.Errorf("%s: left %q", name, got)
		}
		if got := packSize(); got != empty {
			t.Errorf("%s: the pack grew to %d bytes", name, got)
		}
	}
	put(t, d, "p/q/r", b)
	if err := d.Delete(ctx, "p/q/r"); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, filepath.Join(root, "objects")); len(got) != 0 {
		t.Errorf("Delete left %q", got)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestDirIdempotentPutKeepsFile checks that a repeated Put does not
// rewrite the object.
func TestDirIdempotentPutKeepsFile(t *testing.T) {
	root := t.TempDir()
	d := openDir(t, root, filesOnly)
	put(t, d, "k", []byte("same"))
	p := filepath.Join(root, "objects", "k@")
	before, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	put(t, d, "k", []byte("same"))
	after, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("a Put of identical bytes replaced the file")
	}
}

// TestDirSymlinks plants symbolic links that point outside the root, as a
// directory, as an object and as objects/ itself: none is followed, for
// reading or writing. Links planted after OpenDir are not objects (the
// index does not know them): a Put of a small object goes to a pack, and
// one of a file writes inside the root or fails.
func TestDirSymlinks(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("symbolic links need privileges on Windows")
	}
	for _, mode := range []struct {
		name string
		opts blob.DirOptions
	}{{"files", filesOnly}, {"packs", blob.DirOptions{}}} {
		for _, relative := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/relative=%v", mode.name, relative), func(t *testing.T) {
				testSymlinks(t, mode.opts, relative)
			})
		}
	}
}

func testSymlinks(t *testing.T, opts blob.DirOptions, relative bool) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	if err := os.Mkdir(outside, 0o700); err != nil {
		t.Fatal(err)
	}
	secret := []byte("not the store's")
	if err := os.WriteFile(filepath.Join(outside, "secret@"), secret, 0o600); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, root, opts)
	link := func(target, name string) {
		t.Helper()
		name = filepath.Join(root, "objects", name)
		if relative {
			var err error
			if target, err = filepath.Rel(filepath.Dir(name), target); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	link(outside, "evil")
	link(filepath.Join(outside, "secret@"), "leak@")
	ctx := t.Context()

	stored := map[string][]byte{}
	for _, key := range []string{"evil/secret", "leak", "evil/new"} {
		if o, err := d.Open(ctx, key); err == nil {
			b, _ := io.ReadAll(o)
			o.Close()
			t.Errorf("Open(%q) followed the link: read %d bytes", key, len(b))
		}
		if info, err := d.Stat(ctx, key); err == nil {
			t.Errorf("Stat(%q) followed the link: %d bytes", key, info.Size)
		}
		other := []byte("written for " + key)
		if _, created, err := d.Put(ctx, key, bytes.NewReader(other), int64(len(other))); err == nil {
			if !created {
				t.Errorf("Put(%q) took the outside file for the stored object", key)
			}
			stored[key] = other
		}
	}
	for key, b := range stored {
		if got := get(t, d, key); !bytes.Equal(got, b) {
			t.Errorf("%q holds %q, want %q", key, got, b)
		}
	}
	if err := d.Delete(ctx, "evil/secret"); err != nil {
		t.Logf(`Delete("evil/secret"): %v`, err)
	}
	if err := d.Delete(ctx, "leak"); err != nil {
		t.Logf(`Delete("leak"): %v`, err)
	}
	// Outside is as it was.
	if got := tree(t, outside); !slices.Equal(got, []string{"secret@"}) {
		t.Errorf("outside the root: %q, want [secret@]", got)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "secret@")); err != nil || !bytes.Equal(b, secret) {
		t.Errorf("outside file now %q, %v", b, err)
	}

	// objects/ itself a link out of the root.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, "objects")); err != nil {
		t.Fatal(err)
	}
	target := outside
	if relative {
		target = "../outside"
	}
	if err := os.Symlink(target, filepath.Join(root, "objects")); err != nil {
		t.Fatal(err)
	}
	if d, err := blob.OpenDir(root, blob.DirOptions{Logger: testLogger(t)}); err == nil {
		d.Close()
		t.Error("OpenDir with objects/ a link out of the root: no error")
	}
	if got := tree(t, outside); !slices.Equal(got, []string{"secret@"}) {
		t.Errorf("outside the root: %q, want [secret@]", got)
	}
}

// infinite yields zeros without end, counting them.
type infinite struct{ n atomic.Int64 }

func (r *infinite) Read(p []byte) (int, error) {
	clear(p)
	r.n.Add(int64(len(p)))
	return len(p), nil
}

func TestDirTooLarge(t *testing.T) {
	d := openDir(t, t.TempDir(), blob.DirOptions{MaxObjectSize: 1000})
	ctx := t.Context()
	r := &infinite{}
	if _, _, err := d.Put(ctx, "big", r, 1001); !errors.Is(err, blob.ErrTooLarge) {
		t.Errorf("Put of 1001 bytes with MaxObjectSize 1000: %v, want ErrTooLarge", err)
	}
	if r.n.Load() != 0 {
		t.Errorf("Put read %d bytes of an object it refused", r.n.Load())
	}
	// Announcing 1000 and sending more: refused, having read at most one
	// byte past the announced size.
	r = &infinite{}
	if _, _, err := d.Put(ctx, "big", io.LimitReader(r, 1<<30), 1000); err == nil || errors.Is(err, blob.ErrTooLarge) {
		t.Errorf("Put announcing 1000 bytes and sending more: %v, want a size error", err)
	}
	if n := r.n.Load(); n > 64<<10 {
		t.Errorf("Put read %d bytes from a reader that lied about its size", n)
	}
	put(t, d, "fits", bytes.Repeat([]byte{1}, 1000))
	if got := list(t, d, ""); !slices.Equal(got, []string{"fits"}) {
		t.Errorf("List = %q, want [fits]", got)
	}

	d = openDir(t, t.TempDir(), blob.DirOptions{})
	if _, _, err := d.Put(ctx, "big", &infinite{}, blob.DefaultMaxObjectSize+1); !errors.Is(err, blob.ErrTooLarge) {
		t.Errorf("Put of 1 GiB + 1 by default: %v, want ErrTooLarge", err)
	}
	if _, err := blob.OpenDir(t.TempDir(), blob.DirOptions{MaxObjectSize: -1}); err == nil {
		t.Error("OpenDir with MaxObjectSize -1: no error")
	}
}

func TestDirLocked(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("no flock")
	}
	root := t.TempDir()
	d := openDir(t, root, blob.DirOptions{})
	if d2, err := blob.OpenDir(root, blob.DirOptions{}); !errors.Is(err, blob.ErrLocked) {
		if err == nil {
			d2.Close()
		}
		t.Fatalf("second OpenDir: %v, want ErrLocked", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = openDir(t, root, blob.DirOptions{})
	put(t, d, "k", []byte("k"))
}

func TestDirRootIsAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.OpenDir(f, blob.DirOptions{}); err == nil {
		t.Error("OpenDir of a file: no error")
	}
	d := openDir(t, filepath.Join(t.TempDir(), "new", "root"), blob.DirOptions{})
	put(t, d, "k", []byte("k"))
}

// TestDirPutDeleteSameDirectory races Puts and Deletes of keys that share
// directories, which Delete removes when they become empty.
func TestDirPutDeleteSameDirectory(t *testing.T) {
	d := openDir(t, t.TempDir(), blob.DirOptions{})
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				key := fmt.Sprintf("shared/dir/%d/%d", i%3, g)
				b := []byte(key)
				if _, created, err := d.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil || !created {
					t.Errorf("Put(%q): created=%v, %v", key, created, err)
					return
				}
				if err := d.Delete(ctx, key); err != nil {
					t.Errorf("Delete(%q): %v", key, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := list(t, d, ""); len(got) != 0 {
		t.Errorf("List = %q, want nothing", got)
	}
}

// TestDirOpenAfterDelete: an open Object stays readable (it is the file).
func TestDirOpenAfterDelete(t *testing.T) {
	d := openDir(t, t.TempDir(), blob.DirOptions{})
	put(t, d, "k", []byte("still here"))
	o, err := d.Open(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := d.Delete(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(o); err != nil || string(b) != "still here" {
		t.Errorf("read after Delete = %q, %v", b, err)
	}
}

func benchData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

// BenchmarkDirPut stores 2 MiB objects, each under a new key, fsynced.
func BenchmarkDirPut(b *testing.B) {
	d := openDir(b, b.TempDir(), blob.DirOptions{})
	data := benchData(2 << 20)
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	i := 0
	for b.Loop() {
		key := fmt.Sprintf("h/cam/%06d", i)
		i++
		if _, _, err := d.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDirPutParallel is BenchmarkDirPut from GOMAXPROCS goroutines.
func BenchmarkDirPutParallel(b *testing.B) {
	d := openDir(b, b.TempDir(), blob.DirOptions{})
	data := benchData(2 << 20)
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Sprintf("h/cam/%06d", n.Add(1))
			if _, _, err := d.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkDirPutExisting repeats a Put of a stored 2 MiB object.
func BenchmarkDirPutExisting(b *testing.B) {
	d := openDir(b, b.TempDir(), blob.DirOptions{})
	data := benchData(2 << 20)
	ctx := context.Background()
	if _, _, err := d.Put(ctx, "k", bytes.NewReader(data), int64(len(data))); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, created, err := d.Put(ctx, "k", bytes.NewReader(data), int64(len(data))); err != nil || created {
			b.Fatal(created, err)
		}
	}
}

// BenchmarkDirStat hashes a 2 MiB object per call.
func BenchmarkDirStat(b *testing.B) {
	d := openDir(b, b.TempDir(), blob.DirOptions{})
	data := benchData(2 << 20)
	ctx := context.Background()
	if _, _, err := d.Put(ctx, "k", bytes.NewReader(data), int64(len(data))); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := d.Stat(ctx, "k"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDirPutSmallParallel stores 128 KiB objects (a 4 s segment at
// 256 kbit/s), each under a new key, from 16 goroutines: the cloud's
// upload load, which packs and group commit are for.
func BenchmarkDirPutSmallParallel(b *testing.B) {
	for _, mode := range []struct {
		name string
		opts blob.DirOptions
	}{{"packs", blob.DirOptions{}}, {"files", blob.DirOptions{PackObjectMax: -1}}} {
		b.Run(mode.name, func(b *testing.B) {
			d := openDir(b, b.TempDir(), mode.opts)
			data := benchData(128 << 10)
			ctx := context.Background()
			b.SetBytes(int64(len(data)))
			b.SetParallelism(8)
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := fmt.Sprintf("h/dev/cam/%016x", n.Add(1))
					if _, _, err := d.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkDirPutRate offers 128 KiB Puts at a fixed rate (500/s, as the
// cloud's upload target) from 100 goroutines for b.N seconds and reports
// the latency percentiles: the store's share of an upload's latency.
func BenchmarkDirPutRate(b *testing.B) {
	b.Run("packs", func(b *testing.B) { benchPutRate(b, blob.DirOptions{}) })
	b.Run("packs-nodelay", func(b *testing.B) { benchPutRate(b, blob.DirOptions{CommitDelay: -1}) })
	b.Run("files", func(b *testing.B) { benchPutRate(b, filesOnly) })
}

func benchPutRate(b *testing.B, opts blob.DirOptions) {
	const rate, workers = 500, 100
	d := openDir(b, b.TempDir(), opts)
	data := benchData(128 << 10)
	ctx := context.Background()
	var (
		mu   sync.Mutex
		lats []time.Duration
		seq  atomic.Int64
		wg   sync.WaitGroup
	)
	interval := time.Second * workers / rate
	cpu0 := cpuTime(b)
	t0 := time.Now()
	end := t0.Add(time.Duration(b.N) * time.Second)
	b.ResetTimer()
	for w := range workers {
		wg.Go(func() {
			next := t0.Add(interval * time.Duration(w) / workers)
			for ; next.Before(end); next = next.Add(interval) {
				time.Sleep(time.Until(next))
				began := time.Now()
				key := fmt.Sprintf("h/dev/cam/%016x", seq.Add(1))
				if _, _, err := d.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
					b.Error(err)
					return
				}
				took := time.Since(began)
				mu.Lock()
				lats = append(lats, took)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(lats)
	pct := func(p float64) float64 {
		return float64(lats[min(len(lats)-1, int(p*float64(len(lats))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(0.999), "p999-ms")
	b.ReportMetric(float64(len(lats))/time.Since(t0).Seconds(), "puts/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(len(lats)), "cpu-us/put")
}

// cpuTime is the process's CPU time so far (user and system).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
