package blob_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/blob"
)

// objData returns n bytes that depend on key.
func objData(key string, n int) []byte {
	sum := sha256.Sum256([]byte(key))
	b := make([]byte, n)
	rand.NewChaCha8(sum).Read(b)
	return b
}

func del(t *testing.T, s blob.Store, key string) {
	t.Helper()
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
}

// mustHold checks that d holds exactly want: every key with its bytes, and
// no other key.
func mustHold(t *testing.T, d blob.Store, want map[string][]byte) {
	t.Helper()
	for key, b := range want {
		if got := get(t, d, key); !bytes.Equal(got, b) {
			t.Errorf("%q holds %d bytes, want %d (match %v)", key, len(got), len(b), bytes.Equal(got, b))
		}
		info, err := d.Stat(t.Context(), key)
		if err != nil || info.Size != int64(len(b)) || info.SHA256 != sha256.Sum256(b) {
			t.Errorf("Stat(%q) = %d bytes, %v", key, info.Size, err)
		}
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	})
	if got := list(t, d, ""); !slices.Equal(got, keys) {
		t.Errorf("List = %q\nwant %q", got, keys)
	}
}

// copyTree copies the files of a store's root, as a crash would leave
// them (without the lock).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "lock" {
			return nil
		}
		to := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func packFiles(t *testing.T, root, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(root, "packs", "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func TestDirPackLayout(t *testing.T) {
	root := t.TempDir()
	d := openDir(t, root, blob.DirOptions{PackObjectMax: 1000})
	put(t, d, "cam/Front/0001", []byte("front"))
	put(t, d, "big", bytes.Repeat([]byte{1}, 1001))
	want := []string{"lock", "objects/", "objects/big@", "packs/", "packs/0000000000000001.pack"}
	if got := tree(t, root); !slices.Equal(got, want) {
		t.Errorf("layout:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	b, err := os.ReadFile(filepath.Join(root, "packs", "0000000000000001.pack"))
	if err != nil {
		t.Fatal(err)
	}
	// File header, then the record: header, key, data.
	if !bytes.HasPrefix(b, []byte("vigilpk1")) || !bytes.HasSuffix(b, []byte("cam/Front/0001front")) || len(b) != 24+56+len("cam/Front/0001front") {
		t.Errorf("pack = %q", b)
	}
}

// TestDirPackTornTail damages the end of the newest pack as a crash in
// the middle of a write would, and checks that opening cuts off exactly
// the damaged record and keeps every other.
func TestDirPackTornTail(t *testing.T) {
	root := t.TempDir()
	d := openDir(t, root, blob.DirOptions{})
	want := map[string][]byte{}
	for i := range 20 {
		key := fmt.Sprintf("cam/%04d", i)
		want[key] = objData(key, 1+i*300)
		put(t, d, key, want[key])
	}
	del(t, d, "cam/0003")
	delete(want, "cam/0003")
	pack := filepath.Join(root, "packs", "0000000000000001.pack")
	good := fileSize(t, pack)
	last := objData("last", 5000)
	put(t, d, "last", last) // the record a crash tears
	full := fileSize(t, pack)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	recStart := good
	dataStart := good + 56 + int64(len("last"))

	damage := map[string]func(f *os.File) error{
		"garbage appended": func(f *os.File) error {
			_, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, 100), full)
			return err
		},
		"zeros appended": func(f *os.File) error { return f.Truncate(full + 8192) },
		"record cut in its data": func(f *os.File) error {
			return f.Truncate(dataStart + 1000)
		},
		"record cut in its header": func(f *os.File) error { return f.Truncate(recStart + 30) },
		"data byte flipped": func(f *os.File) error {
			_, err := f.WriteAt([]byte{^last[2000]}, dataStart+2000)
			return err
		},
		"header byte flipped": func(f *os.File) error {
			_, err := f.WriteAt([]byte{0xff}, recStart+9)
			return err
		},
	}
	for name, f := range damage {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			copyTree(t, root, dir)
			fh, err := os.OpenFile(filepath.Join(dir, "packs", "0000000000000001.pack"), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := f(fh); err != nil {
				t.Fatal(err)
			}
			fh.Close()
			expect := maps(want)
			if strings.HasSuffix(name, "appended") {
				expect["last"] = last // only what follows it is damaged
			}
			d := openDir(t, dir, blob.DirOptions{})
			mustHold(t, d, expect)
			if got, want := fileSize(t, filepath.Join(dir, "packs", "0000000000000001.pack")), map[bool]int64{true: full, false: good}[expect["last"] != nil]; got != want {
				t.Errorf("pack is %d bytes after opening, want %d", got, want)
			}
			// It takes writes again, which stay.
			expect["after"] = []byte("after")
			put(t, d, "after", expect["after"])
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			mustHold(t, openDir(t, dir, blob.DirOptions{}), expect)
		})
	}
}

func maps(m map[string][]byte) map[string][]byte {
	c := make(map[string][]byte, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// TestDirPackEmptyHead: a crash just after a new pack file was created,
// before its header was synced, leaves it empty or short.
func TestDirPackEmptyHead(t *testing.T) {
	root := t.TempDir()
	d := openDir(t, root, blob.DirOptions{PackSize: 4096})
	want := map[string][]byte{}
	for i := range 10 {
		key := fmt.Sprintf("k%d", i)
		want[key] = objData(key, 1000)
		put(t, d, key, want[key])
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	packs := packFiles(t, root, ".pack")
	var next uint64
	fmt.Sscanf(packs[len(packs)-1], "%x", &next)
	for _, size := range []int{0, 10} {
		if err := os.WriteFile(filepath.Join(root, "packs", fmt.Sprintf("%016x.pack", next+1)), make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
		d = openDir(t, root, blob.DirOptions{PackSize: 4096})
		mustHold(t, d, want)
		key := fmt.Sprintf("after%d", size)
		want[key] = []byte(key)
		put(t, d, key, want[key])
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		next += 2
	}
	mustHold(t, openDir(t, root, blob.DirOptions{PackSize: 4096}), want)
}

// TestDirSidecarDamage damages, removes and swaps the sidecar indexes of
// sealed packs: opening rebuilds them from the packs.
func TestDirSidecarDamage(t *testing.T) {
	root := t.TempDir()
	opts := blob.DirOptions{PackSize: 4096}
	d := openDir(t, root, opts)
	want := map[string][]byte{}
	for i := range 60 {
		key := fmt.Sprintf("cam/%04d", i)
		want[key] = objData(key, 700+i)
		put(t, d, key, want[key])
	}
	for i := 0; i < 60; i += 7 { // too few to make a pack compactable
		key := fmt.Sprintf("cam/%04d", i)
		del(t, d, key)
		delete(want, key)
	}
	if err := d.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	idx := packFiles(t, root, ".idx")
	if len(idx) < 5 {
		t.Fatalf("sidecar indexes %q, want at least 5", idx)
	}
	p := func(name string) string { return filepath.Join(root, "packs", name) }
	if err := os.Truncate(p(idx[0]), 20); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p(idx[1]))
	if err != nil {
		t.Fatal(err)
	}
	b[40] ^= 1
	if err := os.WriteFile(p(idx[1]), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p(idx[2])); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(p(idx[4]))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p(idx[3]), b, 0o600); err != nil { // another pack's
		t.Fatal(err)
	}
	if err := os.WriteFile(p("00000000000000ff.idx"), b, 0o600); err != nil { // no such pack
		t.Fatal(err)
	}
	d = openDir(t, root, opts)
	mustHold(t, d, want)
	if err := d.Compact(t.Context()); err != nil { // rewrites the missing sidecars
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if got := packFiles(t, root, ".idx"); !slices.Equal(got, idx) {
		t.Errorf("sidecars after reopening %q, want %q", got, idx)
	}
	mustHold(t, openDir(t, root, opts), want)
}

// TestDirCrashCopy copies a store's files while Puts and Deletes run, as
// a crash would find them, and opens the copy: everything acknowledged
// before the copy began is there (deletes too), and every object there
// holds its own bytes. An object whose delete was under way when the copy
// ended may be either: the delete can be on disk, and copied, before the
// worker hears back from it.
func TestDirCrashCopy(t *testing.T) {
	root := t.TempDir()
	d := openDir(t, root, blob.DirOptions{})
	ctx := t.Context()
	var (
		mu      sync.Mutex
		acked   = map[string]bool{} // key -> stored (true) or deleting or deleted (false)
		deleted = map[string]bool{} // keys whose Delete returned
		stop    atomic.Bool
		wg      sync.WaitGroup
		counter atomic.Int64
	)
	size := func(key string) int { return 100 + int(sha256.Sum256([]byte(key))[0])*200 }
	for range 8 {
		wg.Go(func() {
			for !stop.Load() {
				key := fmt.Sprintf("c/%06d", counter.Add(1))
				b := objData(key, size(key))
				if _, _, err := d.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				acked[key] = true
				mu.Unlock()
				if b[0]%3 == 0 {
					mu.Lock()
					acked[key] = false // from here on the delete may be on disk
					mu.Unlock()
					if err := d.Delete(ctx, key); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					deleted[key] = true
					mu.Unlock()
				}
			}
		})
	}
	// Copy once the writers have done some work: at least 10 operations
	// (on a loaded machine 50 ms can hold fewer fsyncs than that).
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 10 {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	before, deletedBefore := maps2(acked), maps2(deleted)
	mu.Unlock()
	dir := t.TempDir()
	copyTree(t, root, dir)
	mu.Lock()
	after := maps2(acked) // a key deleted during the copy may be either
	mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if len(before) < 10 {
		t.Fatalf("only %d operations before the copy", len(before))
	}

	c := openDir(t, dir, blob.DirOptions{})
	for key, stored := range before {
		_, err := c.Stat(ctx, key)
		switch {
		case stored && after[key] && err != nil:
			t.Errorf("%q was stored before the crash; after it: %v", key, err)
		case deletedBefore[key] && !errors.Is(err, blob.ErrNotFound):
			t.Errorf("%q was deleted before the crash; after it: %v", key, err)
		}
	}
	for _, key := range list(t, c, "") {
		if got := get(t, c, key); !bytes.Equal(got, objData(key, size(key))) {
			t.Errorf("%q holds %d bytes that are not its own", key, len(got))
		}
	}
}

func maps2(m map[string]bool) map[string]bool {
	c := make(map[string]bool, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// TestDirCompaction deletes most objects and checks that compaction gives
// the space back and that what is left, and what is gone, stays so.
func TestDirCompaction(t *testing.T) {
	root := t.TempDir()
	opts := blob.DirOptions{PackSize: 16 << 10}
	d := openDir(t, root, opts)
	want := map[string][]byte{}
	for i := range 200 {
		key := fmt.Sprintf("h/cam/%04d", i)
		want[key] = objData(key, 1000)
		put(t, d, key, want[key])
	}
	packBytes := func() int64 {
		var n int64
		for _, name := range packFiles(t, root, ".pack") {
			n += fileSize(t, filepath.Join(root, "packs", name))
		}
		return n
	}
	full := packBytes()
	for i := range 200 {
		if i%10 != 0 {
			key := fmt.Sprintf("h/cam/%04d", i)
			del(t, d, key)
			delete(want, key)
		}
	}
	if err := d.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := packBytes(); got > full/4 {
		t.Errorf("after deleting 90%% and compacting, packs hold %d bytes; %d before", got, full)
	}
	mustHold(t, d, want)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	mustHold(t, openDir(t, root, opts), want)
}

// TestDirCompactionKeepsDeletes: a delete record must outlive compaction
// of its pack while an older pack still holds the object it deleted, or
// reopening would bring the object back.
func TestDirCompactionKeepsDeletes(t *testing.T) {
	root := t.TempDir()
	opts := blob.DirOptions{PackSize: 2000}
	d := openDir(t, root, opts)
	b := func(key string) []byte { return objData(key, 450) }
	// Pack 1: k, a1, a2, a3.
	for _, key := range []string{"k", "a1", "a2", "a3"} {
		put(t, d, key, b(key))
	}
	// Pack 2: the delete of k, and b1..b4.
	del(t, d, "k")
	for _, key := range []string{"b1", "b2", "b3", "b4"} {
		put(t, d, key, b(key))
	}
	for _, key := range []string{"b1", "b2", "b3", "b4"} {
		del(t, d, key)
	}
	// r: deleted, then stored again with other bytes.
	put(t, d, "r", b("r"))
	del(t, d, "r")
	rNew := objData("r again", 300)
	put(t, d, "r", rNew)
	if err := d.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	packs := packFiles(t, root, ".pack")
	if !slices.Contains(packs, "0000000000000001.pack") || slices.Contains(packs, "0000000000000002.pack") {
		t.Fatalf("packs %q: want pack 1 kept (3 of 4 live) and pack 2 removed (all dead)", packs)
	}
	want := map[string][]byte{"a1": b("a1"), "a2": b("a2"), "a3": b("a3"), "r": rNew}
	mustHold(t, d, want)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = openDir(t, root, opts)
	mustHold(t, d, want)

	// Once pack 1 goes too, nothing of k is left anywhere.
	for _, key := range []string{"a1", "a2", "a3"} {
		del(t, d, key)
		delete(want, key)
	}
	if err := d.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	if packs := packFiles(t, root, ".pack"); slices.Contains(packs, "0000000000000001.pack") {
		t.Errorf("packs %q: pack 1 is dead and should be gone", packs)
	}
	mustHold(t, d, want)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = openDir(t, root, opts)
	mustHold(t, d, want)
	if err := d.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	// No record of k survives: the packs hold r and little else.
	for _, name := range packFiles(t, root, ".pack") {
		raw, err := os.ReadFile(filepath.Join(root, "packs", name))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, b("k")) {
			t.Errorf("%s still holds k's bytes", name)
		}
	}
}

// TestDirCompactionOpenObject: an Object open while compaction moves its
// record, and removes the pack it was read from, reads on.
func TestDirCompactionOpenObject(t *testing.T) {
	root := t.TempDir()
	opts := blob.DirOptions{PackSize: 4000}
	d := openDir(t, root, opts)
	keep := objData("keep", 900)
	put(t, d, "keep", keep)
	for i := range 3 {
		put(t, d, fmt.Sprint("x", i), objData(fmt.Sprint("x", i), 900))
	}
	put(t, d, "next", []byte("in pack 2"))
	o, err := d.Open(t.Context(), "keep")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for i := range 3 {
		del(t, d, fmt.Sprint("x", i))
	}
	if err := d.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	if packs := packFiles(t, root, ".pack"); slices.Contains(packs, "0000000000000001.pack") {
		t.Fatalf("packs %q: pack 1 should have been compacted away", packs)
	}
	got := make([]byte, len(keep))
	if _, err := o.ReadAt(got, 0); err != nil || !bytes.Equal(got, keep) {
		t.Errorf("reading the open Object after compaction: %v, match %v", err, bytes.Equal(got, keep))
	}
	want := map[string][]byte{"keep": keep, "next": []byte("in pack 2")}
	mustHold(t, d, want)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.ReadAt(got, 0); err != nil || !bytes.Equal(got, keep) {
		t.Errorf("reading the open Object after Close: %v", err)
	}
	mustHold(t, openDir(t, root, opts), want)
}

// TestDirOldLayout opens a directory written before packs: its objects,
// files under objects/, are read, listed, compared and deleted as before,
// and new small objects go into packs.
func TestDirOldLayout(t *testing.T) {
	root := t.TempDir()
	plant := func(rel string, b []byte) {
		t.Helper()
		p := filepath.Join(root, "objects", filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string][]byte{
		"cam/Front/0001": []byte("front"),
		"x":              []byte("x"),
		"h/d/c/big":      objData("big", 300_000),
	}
	plant("cam/^front/0001@", want["cam/Front/0001"])
	plant("x@", want["x"])
	plant("h/d/c/big@", want["h/d/c/big"])
	if err := os.WriteFile(filepath.Join(root, "lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	d := openDir(t, root, blob.DirOptions{})
	mustHold(t, d, want)
	ctx := t.Context()
	for key, b := range want {
		if _, created, err := d.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil || created {
			t.Errorf("Put of the same bytes to %q: created=%v, %v", key, created, err)
		}
		other := append(bytes.Clone(b[:len(b)-1]), b[len(b)-1]^1)
		if _, _, err := d.Put(ctx, key, bytes.NewReader(other), int64(len(other))); !errors.Is(err, blob.ErrConflict) {
			t.Errorf("Put of other bytes to %q: %v, want ErrConflict", key, err)
		}
	}
	want["new"] = []byte("new")
	put(t, d, "new", want["new"])
	if _, err := os.Stat(filepath.Join(root, "objects", "new@")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a new small object went into a file: %v", err)
	}
	del(t, d, "cam/Front/0001")
	delete(want, "cam/Front/0001")
	if _, err := os.Stat(filepath.Join(root, "objects", "cam")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Delete left the old object's directory: %v", err)
	}
	mustHold(t, d, want)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	mustHold(t, openDir(t, root, blob.DirOptions{}), want)
}

// TestDirReopenManyPacks stores, deletes and stores again across many
// small packs, reopening between rounds, against a model.
func TestDirReopenManyPacks(t *testing.T) {
	root := t.TempDir()
	opts := blob.DirOptions{PackSize: 8 << 10, PackObjectMax: 3000}
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string][]byte{}
	for round := range 4 {
		d := openDir(t, root, opts)
		for i := range 150 {
			key := fmt.Sprintf("k/%d", rng.IntN(60))
			if _, ok := want[key]; ok && rng.IntN(2) == 0 {
				del(t, d, key)
				delete(want, key)
				continue
			}
			if _, ok := want[key]; ok {
				continue
			}
			b := objData(fmt.Sprint(key, round, i), rng.IntN(4000))
			put(t, d, key, b)
			want[key] = b
		}
		if round%2 == 1 {
			if err := d.Compact(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		mustHold(t, d, want)
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
	mustHold(t, openDir(t, root, opts), want)
}

// TestDirClosed: a closed Dir refuses work rather than hang.
func TestDirClosed(t *testing.T) {
	d, err := blob.OpenDir(t.TempDir(), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Put(t.Context(), "k", bytes.NewReader([]byte("k")), 1); err == nil {
		t.Error("Put on a closed Dir: no error")
	}
	if err := d.Delete(t.Context(), "k"); err == nil {
		t.Error("Delete on a closed Dir: no error")
	}
	if _, err := d.Open(t.Context(), "k"); err == nil {
		t.Error("Open on a closed Dir: no error")
	}
	if err := d.Compact(t.Context()); err == nil {
		t.Error("Compact on a closed Dir: no error")
	}
	var _ io.Closer = d
}
