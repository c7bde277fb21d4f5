// Package blobtest is the conformance suite for blob.Store: every
// implementation runs it from its own tests.
//
//	func TestConformance(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) blob.Store { return openEmptyStore(t) })
//	}
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"vigil/internal/blob"
)

// Run checks that the stores newStore makes keep every contract of
// blob.Store and blob.Object. newStore is called once per subtest; it must
// return a new, empty store and release it with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		f    func(*testing.T, blob.Store)
	}{
		{"PutStatOpen", testPutStatOpen},
		{"Empty", testEmpty},
		{"ReadAt", testReadAt},
		{"SeekRead", testSeekRead},
		{"IdempotentPut", testIdempotentPut},
		{"Conflict", testConflict},
		{"SizeMismatch", testSizeMismatch},
		{"ReaderError", testReaderError},
		{"TooLarge", testTooLarge},
		{"InvalidKeys", testInvalidKeys},
		{"ValidKeys", testValidKeys},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"List", testList},
		{"ConcurrentKeys", testConcurrentKeys},
		{"ConcurrentSameKey", testConcurrentSameKey},
		{"Large", testLarge},
		{"Cancelled", testCancelled},
		{"Hashed", testHashed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, newStore(t)) })
	}
}

// data returns n bytes that depend on seed.
func data(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{0: byte(seed), 1: byte(seed >> 8), 2: byte(seed >> 16), 3: byte(seed >> 24), 31: 'v'})
	r.Read(b)
	return b
}

// keyData returns bytes that depend on key.
func keyData(key string, n int) []byte {
	sum := sha256.Sum256([]byte(key))
	b := make([]byte, n)
	rand.NewChaCha8(sum).Read(b)
	return b
}

// mustPut stores b under key and checks that it is created and its Info.
func mustPut(t *testing.T, s blob.Store, key string, b []byte) blob.Info {
	t.Helper()
	info, created, err := s.Put(t.Context(), key, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(b), err)
	}
	if !created {
		t.Fatalf("Put(%q) of a new key: created=false", key)
	}
	checkInfo(t, "Put", info, key, b)
	return info
}

func checkInfo(t *testing.T, op string, info blob.Info, key string, b []byte) {
	t.Helper()
	want := blob.Info{Key: key, Size: int64(len(b)), SHA256: sha256.Sum256(b)}
	if info != want {
		t.Errorf("%s(%q) = {Key %q, Size %d, SHA256 %x}, want {Key %q, Size %d, SHA256 %x}",
			op, key, info.Key, info.Size, info.SHA256[:8], want.Key, want.Size, want.SHA256[:8])
	}
}

// mustHave checks that key holds exactly b, through Stat, Open and List.
func mustHave(t *testing.T, s blob.Store, key string, b []byte) {
	t.Helper()
	ctx := t.Context()
	info, err := s.Stat(ctx, key)
	if err != nil {
		t.Fatalf("Stat(%q): %v", key, err)
	}
	checkInfo(t, "Stat", info, key, b)
	o, err := s.Open(ctx, key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer o.Close()
	if o.Size() != int64(len(b)) {
		t.Errorf("Open(%q).Size() = %d, want %d", key, o.Size(), len(b))
	}
	got, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("reading %q: %v", key, err)
	}
	if !bytes.Equal(got, b) {
		t.Errorf("%q holds %d bytes (sha256 %x), want %d bytes (sha256 %x)", key, len(got), sha256.Sum256(got), len(b), sha256.Sum256(b))
	}
	keys, err := s.List(ctx, key)
	if err != nil {
		t.Fatalf("List(%q): %v", key, err)
	}
	if !slices.Contains(keys, key) {
		t.Errorf("List(%q) = %q, missing the key", key, keys)
	}
}

// mustNotHave checks that key holds nothing, through Stat, Open and List.
func mustNotHave(t *testing.T, s blob.Store, key string) {
	t.Helper()
	ctx := t.Context()
	if info, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat(%q) = size %d, %v; want ErrNotFound", key, info.Size, err)
	}
	if o, err := s.Open(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		if err == nil {
			o.Close()
		}
		t.Errorf("Open(%q): %v, want ErrNotFound", key, err)
	}
	keys, err := s.List(ctx, key)
	if err != nil {
		t.Fatalf("List(%q): %v", key, err)
	}
	if slices.Contains(keys, key) {
		t.Errorf("List(%q) = %q, want it without the key", key, keys)
	}
}

func mustList(t *testing.T, s blob.Store, prefix string) []string {
	t.Helper()
	keys, err := s.List(t.Context(), prefix)
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return keys
}

// noRead is a reader a Put must not read from.
type noRead struct{ t *testing.T }

func (r noRead) Read([]byte) (int, error) {
	r.t.Helper()
	r.t.Error("Put read the body of a request it had to reject")
	return 0, io.EOF
}

// countingReader counts what it yields.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func testPutStatOpen(t *testing.T, s blob.Store) {
	b := data(1, 100_000)
	info := mustPut(t, s, "cam/1/seg-000001", b)
	mustHave(t, s, "cam/1/seg-000001", b)
	st, err := s.Stat(t.Context(), "cam/1/seg-000001")
	if err != nil {
		t.Fatal(err)
	}
	if st != info {
		t.Errorf("Stat = %+v, Put returned %+v", st, info)
	}
	// Readers of every shape.
	readers := []struct {
		key string
		r   func([]byte) io.Reader
	}{
		{"readers/one-byte", func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }},
		{"readers/half", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
		{"readers/data-with-eof", func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
		{"readers/no-writeto", func(b []byte) io.Reader { return struct{ io.Reader }{bytes.NewReader(b)} }},
	}
	for _, rc := range readers {
		b := keyData(rc.key, 5000)
		info, created, err := s.Put(t.Context(), rc.key, rc.r(b), int64(len(b)))
		if err != nil || !created {
			t.Fatalf("Put(%q): created=%v, %v", rc.key, created, err)
		}
		checkInfo(t, "Put", info, rc.key, b)
		mustHave(t, s, rc.key, b)
	}
}

func testEmpty(t *testing.T, s blob.Store) {
	mustPut(t, s, "empty", nil)
	mustHave(t, s, "empty", nil)
	o, err := s.Open(t.Context(), "empty")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if n, err := o.ReadAt(make([]byte, 1), 0); n != 0 || err != io.EOF {
		t.Errorf("ReadAt(1 byte, 0) of an empty object = %d, %v; want 0, EOF", n, err)
	}
	if n, err := o.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read of an empty object = %d, %v; want 0, EOF", n, err)
	}
	_, created, err := s.Put(t.Context(), "empty", bytes.NewReader(nil), 0)
	if err != nil || created {
		t.Errorf("second Put of an empty object: created=%v, %v; want false, nil", created, err)
	}
}

func openObject(t *testing.T, s blob.Store, key string) blob.Object {
	t.Helper()
	o, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// checkReadAt reads n bytes at off and checks them against b and the
// io.ReaderAt contract.
func checkReadAt(t *testing.T, o blob.Object, b []byte, off int64, n int) {
	t.Helper()
	var want []byte
	if off < int64(len(b)) {
		want = b[off:min(off+int64(n), int64(len(b)))]
	}
	p := make([]byte, n)
	got, err := o.ReadAt(p, off)
	if got != len(want) || !bytes.Equal(p[:got], want) {
		t.Fatalf("ReadAt(%d bytes, off %d) = %d bytes (match %v), want %d", n, off, got, bytes.Equal(p[:got], want), len(want))
	}
	switch {
	case got < n && err != io.EOF:
		t.Fatalf("ReadAt(%d bytes, off %d) = %d, %v; a short read must return io.EOF at the end", n, off, got, err)
	case got == n && err != nil && err != io.EOF:
		t.Fatalf("ReadAt(%d bytes, off %d) = %d, %v", n, off, got, err)
	}
}

func testReadAt(t *testing.T, s blob.Store) {
	const size = 300_001
	b := data(2, size)
	mustPut(t, s, "r", b)
	o := openObject(t, s, "r")
	if o.Size() != size {
		t.Fatalf("Size() = %d, want %d", o.Size(), size)
	}
	offsets := []int64{0, 1, 7, 4095, 4096, 4097, 65535, 65536, size / 2, size - 4097, size - 2, size - 1, size, size + 1, size + 100_000}
	lengths := []int{1, 2, 13, 4096, 65537, size - 1, size, size + 10}
	for _, off := range offsets {
		for _, n := range lengths {
			checkReadAt(t, o, b, off, n)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		checkReadAt(t, o, b, rng.Int64N(size+10), 1+rng.IntN(70_000))
	}
	if _, err := o.ReadAt(make([]byte, 10), -1); err == nil {
		t.Error("ReadAt at offset -1: no error")
	}

	// ReadAt neither uses nor moves the Read offset.
	if _, err := o.Seek(1000, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	checkReadAt(t, o, b, 0, 500)
	p := make([]byte, 100)
	if _, err := io.ReadFull(o, p); err != nil || !bytes.Equal(p, b[1000:1100]) {
		t.Errorf("Read after Seek(1000) and a ReadAt(0): %v, bytes match %v", err, bytes.Equal(p, b[1000:1100]))
	}

	// Parallel ReadAt calls on one Object (allowed by io.ReaderAt).
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			p := make([]byte, 40_000)
			for range 50 {
				off := rng.Int64N(size)
				n := 1 + rng.IntN(len(p))
				got, err := o.ReadAt(p[:n], off)
				end := min(off+int64(n), size)
				if got != int(end-off) || !bytes.Equal(p[:got], b[off:end]) || (got < n && err != io.EOF) {
					errs <- fmt.Errorf("parallel ReadAt(%d bytes, off %d) = %d, %v", n, off, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testSeekRead(t *testing.T, s blob.Store) {
	const size = 70_000
	b := data(3, size)
	mustPut(t, s, "s", b)
	o := openObject(t, s, "s")
	read := func(n int) []byte {
		t.Helper()
		p := make([]byte, n)
		m, err := io.ReadFull(o, p)
		if err != nil && err != io.ErrUnexpectedEOF {
			t.Fatalf("Read: %v", err)
		}
		return p[:m]
	}
	seek := func(off int64, whence int, want int64) {
		t.Helper()
		pos, err := o.Seek(off, whence)
		if err != nil || pos != want {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d", off, whence, pos, err, want)
		}
	}
	if got := read(10); !bytes.Equal(got, b[:10]) {
		t.Error("first Read does not start at offset 0")
	}
	seek(0, io.SeekCurrent, 10)
	seek(100, io.SeekStart, 100)
	if got := read(50); !bytes.Equal(got, b[100:150]) {
		t.Error("Read after Seek(100, SeekStart) is wrong")
	}
	seek(10, io.SeekCurrent, 160)
	if got := read(1000); !bytes.Equal(got, b[160:1160]) {
		t.Error("Read after Seek(10, SeekCurrent) is wrong")
	}
	seek(-10, io.SeekEnd, size-10)
	if got := read(100); !bytes.Equal(got, b[size-10:]) {
		t.Errorf("Read after Seek(-10, SeekEnd) = %d bytes, want the last 10", len(got))
	}
	if n, err := o.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read at the end = %d, %v; want 0, EOF", n, err)
	}
	seek(size, io.SeekStart, size)
	if n, err := o.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read after Seek(size) = %d, %v; want 0, EOF", n, err)
	}
	if _, err := o.Seek(-1, io.SeekStart); err == nil {
		t.Error("Seek(-1, SeekStart): no error")
	}
	seek(0, io.SeekStart, 0)
	if got, err := io.ReadAll(o); err != nil || !bytes.Equal(got, b) {
		t.Errorf("ReadAll after Seek(0) = %d bytes, %v", len(got), err)
	}
}

func testIdempotentPut(t *testing.T, s blob.Store) {
	ctx := t.Context()
	b := data(4, 10_000)
	first := mustPut(t, s, "k", b)
	for i, r := range []io.Reader{bytes.NewReader(b), iotest.OneByteReader(bytes.NewReader(b)), iotest.DataErrReader(bytes.NewReader(b))} {
		info, created, err := s.Put(ctx, "k", r, int64(len(b)))
		if err != nil || created {
			t.Fatalf("Put #%d of the same bytes: created=%v, %v; want false, nil", i+2, created, err)
		}
		if info != first {
			t.Errorf("Put #%d of the same bytes returned %+v, want %+v", i+2, info, first)
		}
	}
	mustHave(t, s, "k", b)
}

func testConflict(t *testing.T, s blob.Store) {
	ctx := t.Context()
	b := data(5, 10_000)
	mustPut(t, s, "k", b)
	other := bytes.Clone(b)
	other[len(other)-1] ^= 1
	cases := map[string][]byte{
		"same size, last byte differs": other,
		"same size, all differ":        data(6, len(b)),
		"shorter":                      b[:len(b)-1],
		"prefix of it":                 b[:100],
		"longer":                       append(bytes.Clone(b), 0),
		"empty":                        {},
	}
	for name, c := range cases {
		_, created, err := s.Put(ctx, "k", bytes.NewReader(c), int64(len(c)))
		if !errors.Is(err, blob.ErrConflict) {
			t.Errorf("Put of other bytes (%s): created=%v, %v; want ErrConflict", name, created, err)
		}
	}
	mustHave(t, s, "k", b)
}

func testSizeMismatch(t *testing.T, s blob.Store) {
	ctx := t.Context()
	b := data(7, 10_000)
	cases := []struct {
		name string
		r    func() io.Reader
		size int64
	}{
		{"short", func() io.Reader { return bytes.NewReader(b[:5000]) }, 10_000},
		{"short by one", func() io.Reader { return bytes.NewReader(b[:9999]) }, 10_000},
		{"short, one byte at a time", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(b[:5000])) }, 10_000},
		{"empty", func() io.Reader { return bytes.NewReader(nil) }, 10_000},
		{"long", func() io.Reader { return bytes.NewReader(b) }, 5000},
		{"long by one", func() io.Reader { return bytes.NewReader(b) }, 9999},
		{"long, size 0", func() io.Reader { return bytes.NewReader(b[:1]) }, 0},
		{"endless", func() io.Reader { return &countingReader{r: zeros{}} }, 10_000},
	}
	for _, c := range cases {
		_, created, err := s.Put(ctx, "new/key", c.r(), c.size)
		if err == nil {
			t.Errorf("Put with a %s reader (size %d): no error (created=%v)", c.name, c.size, created)
		}
		mustNotHave(t, s, "new/key")
	}
	if keys := mustList(t, s, ""); len(keys) != 0 {
		t.Errorf("after failed Puts, List = %q; want nothing", keys)
	}
	if _, _, err := s.Put(ctx, "neg", bytes.NewReader(nil), -1); err == nil {
		t.Error("Put with size -1: no error")
	}
	mustNotHave(t, s, "neg")

	// The same against an object already stored: an error, never created=false.
	mustPut(t, s, "k", b)
	for _, c := range []struct {
		name string
		r    io.Reader
	}{
		{"short", bytes.NewReader(b[:5000])},
		{"short by one", bytes.NewReader(b[:9999])},
		{"long", io.MultiReader(bytes.NewReader(b), strings.NewReader("more"))},
		{"long by one", io.MultiReader(bytes.NewReader(b), strings.NewReader("m"))},
	} {
		_, created, err := s.Put(ctx, "k", c.r, int64(len(b)))
		if err == nil {
			t.Errorf("Put of the stored key with a %s reader: no error (created=%v)", c.name, created)
		}
	}
	mustHave(t, s, "k", b)
}

// zeros is an endless reader.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func testReaderError(t *testing.T, s blob.Store) {
	ctx := t.Context()
	b := data(8, 50_000)
	boom := errors.New("boom")
	cases := map[string]io.Reader{
		"at once":    iotest.ErrReader(boom),
		"half way":   io.MultiReader(bytes.NewReader(b[:25_000]), iotest.ErrReader(boom)),
		"at the end": io.MultiReader(bytes.NewReader(b), iotest.ErrReader(boom)),
		"timeout":    iotest.TimeoutReader(bytes.NewReader(b)),
	}
	for name, r := range cases {
		_, created, err := s.Put(ctx, "e", r, int64(len(b)))
		if err == nil {
			t.Errorf("Put with a reader failing %s: no error (created=%v)", name, created)
		}
		mustNotHave(t, s, "e")
	}
}

func testTooLarge(t *testing.T, s blob.Store) {
	for _, size := range []int64{math.MaxInt64, 1 << 62} {
		_, _, err := s.Put(t.Context(), "huge", noRead{t}, size)
		if !errors.Is(err, blob.ErrTooLarge) {
			t.Errorf("Put of %d bytes: %v, want ErrTooLarge", size, err)
		}
	}
	mustNotHave(t, s, "huge")
}

// invalidKeys are keys ValidKey rejects; every method must too.
var invalidKeys = []string{
	"", "/", "//", "/a", "a/", "a//b", "a/b/",
	".", "..", "./a", "../x", "a/..", "a/../b", "a/./b", "a/.", "../../../etc/passwd",
	"\x00", "a\x00b", "a\\b", "\\", "..\\x", "C:\\x", "a:b",
	"a b", " a", "a ", "a\nb", "a\tb", "a\r",
	"a*b", "a?b", "a%2fb", "%2e%2e", "~", "~/x", "a~", "a+b", "a@b", "#a", "a^b", "a'b", "a\"b", "a|b", "a<b",
	"é", "ключ", "日本/語", "a/é", "\xff", "a\u200bb", "\u202eab",
	strings.Repeat("a", blob.MaxKeyLen+1),
	strings.Repeat("a", 600),
	strings.Repeat("ab/", 170) + "abc", // 513 bytes of valid segments
	strings.Repeat("x/", 300),
}

func testInvalidKeys(t *testing.T, s blob.Store) {
	ctx := t.Context()
	mustPut(t, s, "a", []byte("a"))
	for _, key := range invalidKeys {
		if blob.ValidKey(key) {
			t.Fatalf("ValidKey(%q) = true; the table is wrong", key)
		}
		if _, _, err := s.Put(ctx, key, noRead{t}, 1); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Put(%q): %v, want ErrInvalidKey", key, err)
		}
		if o, err := s.Open(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			if err == nil {
				o.Close()
			}
			t.Errorf("Open(%q): %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Stat(%q): %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Delete(%q): %v, want ErrInvalidKey", key, err)
		}
	}
	// A prefix no valid key starts with lists nothing (or is refused).
	for _, prefix := range []string{"/", "../", "./a", "a\\", "\x00", "é", "/a", "a//"} {
		keys, err := s.List(ctx, prefix)
		if err != nil && !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("List(%q): %v, want no error or ErrInvalidKey", prefix, err)
		}
		if len(keys) != 0 {
			t.Errorf("List(%q) = %q, want nothing", prefix, keys)
		}
	}
	if keys := mustList(t, s, ""); !slices.Equal(keys, []string{"a"}) {
		t.Errorf("List(\"\") = %q, want [a]", keys)
	}
	mustHave(t, s, "a", []byte("a"))
}

// validKeys are unusual keys ValidKey accepts: each must be its own object.
func validKeys() []string {
	return []string{
		"a", "A", "a/b", "A/b", "a/B", "a/b/c", "ab", "aB", "Ab", "AB",
		"...", ".a", "a.", "a..b", "-", "_", "a-b_c.d", "x/.../y", "x/.a/y", "x/a./y",
		"0", "00", "9/9/9", "seg-000001", "h/H/h",
		strings.Repeat("k", blob.MaxKeyLen),
		strings.Repeat("K", blob.MaxKeyLen),
		strings.Repeat("Ab", blob.MaxKeyLen/2),
		strings.Repeat("a/", blob.MaxKeyLen/2-1) + "ab",
		strings.Repeat("x", 200) + "./z",
		strings.Repeat("x", 200) + "../z",
		strings.Repeat("x", 199) + ".../z",
		strings.Repeat("X", 100) + "./z",
		strings.Repeat("X", 100) + "../z",
		strings.Repeat("X", 99) + "x../z",
		strings.Repeat("y", 300) + "/" + strings.Repeat("Y", 200),
		strings.Repeat(".", 255),
		strings.Repeat(".", 256) + "/" + strings.Repeat(".", 255),
	}
}

func testValidKeys(t *testing.T, s blob.Store) {
	keys := validKeys()
	for _, key := range keys {
		if !blob.ValidKey(key) {
			t.Fatalf("ValidKey(%q) = false; the table is wrong", key)
		}
		mustPut(t, s, key, keyData(key, 64))
	}
	for _, key := range keys {
		mustHave(t, s, key, keyData(key, 64))
	}
	want := slices.Sorted(slices.Values(keys))
	if got := mustList(t, s, ""); !slices.Equal(got, want) {
		t.Errorf("List(\"\") = %q\nwant %q", got, want)
	}
	for _, key := range keys {
		if err := s.Delete(t.Context(), key); err != nil {
			t.Fatalf("Delete(%q): %v", key, err)
		}
		mustNotHave(t, s, key)
	}
	if got := mustList(t, s, ""); len(got) != 0 {
		t.Errorf("after deleting every key, List = %q", got)
	}
}

func testNotFound(t *testing.T, s blob.Store) {
	mustNotHave(t, s, "missing")
	mustPut(t, s, "a/b", []byte("ab"))
	for _, key := range []string{"a", "A/b", "a/B", "a/b/c", "a/bc", "b", "a/b.", "ab"} {
		mustNotHave(t, s, key)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	ctx := t.Context()
	b := data(9, 1000)
	mustPut(t, s, "d/x", b)
	mustPut(t, s, "d/x/y", b)
	mustPut(t, s, "d", b)
	if err := s.Delete(ctx, "d/x"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustNotHave(t, s, "d/x")
	mustHave(t, s, "d/x/y", b)
	mustHave(t, s, "d", b)
	if err := s.Delete(ctx, "d/x"); err != nil {
		t.Errorf("Delete of a deleted key: %v", err)
	}
	if err := s.Delete(ctx, "never/there"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
	// The key is free again, for other bytes too.
	other := data(10, 500)
	mustPut(t, s, "d/x", other)
	mustHave(t, s, "d/x", other)
	for _, key := range []string{"d/x", "d/x/y", "d"} {
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("Delete(%q): %v", key, err)
		}
	}
	if got := mustList(t, s, ""); len(got) != 0 {
		t.Errorf("after deleting every key, List = %q", got)
	}
}

func testList(t *testing.T, s blob.Store) {
	ctx := t.Context()
	keys := []string{"a", "a/b", "a/b/c", "a/bc", "a/b.c", "ab", "ab/c", "a-", "a.b", "a0", "b", "B", "b/a", "A/a", "z", "h/hh/cam/000001", "h/hh/cam/000002", "h/hh2/cam/000001"}
	for _, key := range keys {
		mustPut(t, s, key, []byte(key))
	}
	check := func() {
		t.Helper()
		for _, prefix := range []string{"", "a", "a/", "a/b", "a/b/", "a/b/c", "a/b/c/", "ab", "b", "B", "A", "A/", "z", "zz", "a/c", "-", "a-", ".", "h/hh", "h/hh/", "h/hh/cam/00000", "h/hh/cam/000001", "h/hh/cam/0000011"} {
			var want []string
			for _, k := range keys {
				if strings.HasPrefix(k, prefix) {
					want = append(want, k)
				}
			}
			slices.Sort(want)
			got := mustList(t, s, prefix)
			if !slices.Equal(got, want) {
				t.Errorf("List(%q) = %q, want %q", prefix, got, want)
			}
		}
	}
	check()
	for _, key := range []string{"a/b", "b", "h/hh/cam/000001"} {
		if err := s.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		keys = slices.DeleteFunc(keys, func(k string) bool { return k == key })
	}
	check()
}

func testConcurrentKeys(t *testing.T, s blob.Store) {
	const goroutines, perG = 8, 8
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*perG)
	start := make(chan struct{})
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for i := range perG {
				key := fmt.Sprintf("c/%d/%d", i%2, g*perG+i)
				b := keyData(key, 32<<10)
				_, created, err := s.Put(t.Context(), key, bytes.NewReader(b), int64(len(b)))
				if err != nil || !created {
					errs <- fmt.Errorf("Put(%q): created=%v, %v", key, created, err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var want []string
	for g := range goroutines {
		for i := range perG {
			key := fmt.Sprintf("c/%d/%d", i%2, g*perG+i)
			want = append(want, key)
			mustHave(t, s, key, keyData(key, 32<<10))
		}
	}
	slices.Sort(want)
	if got := mustList(t, s, "c/"); !slices.Equal(got, want) {
		t.Errorf("List(\"c/\") = %d keys, want %d", len(got), len(want))
	}
}

func testConcurrentSameKey(t *testing.T, s blob.Store) {
	const goroutines = 8
	type result struct {
		g       int
		created bool
		err     error
	}
	race := func(key string, body func(g int) []byte) []result {
		var wg sync.WaitGroup
		res := make([]result, goroutines)
		start := make(chan struct{})
		for g := range goroutines {
			wg.Go(func() {
				b := body(g)
				<-start
				_, created, err := s.Put(t.Context(), key, bytes.NewReader(b), int64(len(b)))
				res[g] = result{g, created, err}
			})
		}
		close(start)
		wg.Wait()
		return res
	}
	for round := range 4 {
		key := fmt.Sprintf("same/%d", round)
		b := keyData(key, 256<<10)
		creators := 0
		for _, r := range race(key, func(int) []byte { return b }) {
			if r.err != nil {
				t.Errorf("round %d: concurrent Put of identical bytes: %v", round, r.err)
			}
			if r.created {
				creators++
			}
		}
		if creators != 1 {
			t.Errorf("round %d: %d of %d identical Puts report created, want exactly 1", round, creators, goroutines)
		}
		mustHave(t, s, key, b)
	}
	for round := range 4 {
		key := fmt.Sprintf("different/%d", round)
		body := func(g int) []byte {
			size := 256 << 10
			if round%2 == 1 {
				size += g * 1000 // different sizes too
			}
			return keyData(fmt.Sprintf("%s/%d", key, g), size)
		}
		winner := -1
		for _, r := range race(key, body) {
			switch {
			case r.err == nil && r.created:
				if winner >= 0 {
					t.Errorf("round %d: goroutines %d and %d both created %q", round, winner, r.g, key)
				}
				winner = r.g
			case errors.Is(r.err, blob.ErrConflict):
			default:
				t.Errorf("round %d: goroutine %d: created=%v, %v; want created or ErrConflict", round, r.g, r.created, r.err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no Put created %q", round, key)
		}
		mustHave(t, s, key, body(winner))
	}
}

func testLarge(t *testing.T, s blob.Store) {
	const size = 8 << 20
	b := data(11, size)
	info, created, err := s.Put(t.Context(), "large", struct{ io.Reader }{bytes.NewReader(b)}, size)
	if err != nil || !created {
		t.Fatalf("Put of %d bytes: created=%v, %v", size, created, err)
	}
	checkInfo(t, "Put", info, "large", b)
	mustHave(t, s, "large", b)
	o := openObject(t, s, "large")
	for _, off := range []int64{0, 1 << 20, size/2 - 7, size - 100, size - 1} {
		checkReadAt(t, o, b, off, 1<<20)
	}
	if _, err := o.Seek(5<<20, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 1<<20)
	if _, err := io.ReadFull(o, p); err != nil || !bytes.Equal(p, b[5<<20:6<<20]) {
		t.Errorf("Read after Seek(5 MiB): %v, match %v", err, bytes.Equal(p, b[5<<20:6<<20]))
	}
}

// cancelAfter yields r and cancels after n bytes.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
		return c.r.Read(p)
	}
	n, err := c.r.Read(p[:min(len(p), c.n)])
	c.n -= n
	return n, err
}

func testCancelled(t *testing.T, s blob.Store) {
	b := data(12, 1<<20)
	mustPut(t, s, "kept", b)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, _, err := s.Put(ctx, "k", bytes.NewReader(b), int64(len(b))); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: %v, want context.Canceled", err)
	}
	mustNotHave(t, s, "k")
	if _, err := s.Stat(ctx, "kept"); err == nil {
		t.Error("Stat with a cancelled context: no error")
	}
	if o, err := s.Open(ctx, "kept"); err == nil {
		o.Close()
		t.Error("Open with a cancelled context: no error")
	}
	if _, err := s.List(ctx, ""); err == nil {
		t.Error("List with a cancelled context: no error")
	}
	if err := s.Delete(ctx, "kept"); err == nil {
		t.Error("Delete with a cancelled context: no error")
	}
	mustHave(t, s, "kept", b)

	// Cancelled half way through the body.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	r := &cancelAfter{r: bytes.NewReader(b), n: len(b) / 2, cancel: cancel}
	if _, _, err := s.Put(ctx, "k", r, int64(len(b))); err == nil {
		t.Error("Put cancelled half way: no error")
	}
	mustNotHave(t, s, "k")
}

// testHashed: a Put whose reader is a blob.Hashed (the caller knows the
// SHA-256) stores and answers exactly as a plain Put, small or large, new
// or again; other bytes under the key are still a conflict, and a short
// reader still leaves nothing behind.
func testHashed(t *testing.T, s blob.Store) {
	ctx := t.Context()
	for _, size := range []int{10_000, 8 << 20} {
		key := fmt.Sprintf("hashed/%d", size)
		b := data(uint64(20+size), size)
		hashed := func(b []byte) blob.Hashed { return blob.Hashed{R: bytes.NewReader(b), SHA256: sha256.Sum256(b)} }
		info, created, err := s.Put(ctx, key, hashed(b), int64(size))
		if err != nil || !created {
			t.Fatalf("Put of %d bytes, hashed: created=%v, %v", size, created, err)
		}
		checkInfo(t, "Put", info, key, b)
		mustHave(t, s, key, b)
		for i, r := range []io.Reader{hashed(b), bytes.NewReader(b)} {
			again, created, err := s.Put(ctx, key, r, int64(size))
			if err != nil || created || again != info {
				t.Errorf("Put #%d of the same %d bytes: %+v created=%v, %v; want %+v, false, nil", i+2, size, again, created, err, info)
			}
		}
		other := bytes.Clone(b)
		other[size/2] ^= 1
		if _, _, err := s.Put(ctx, key, hashed(other), int64(size)); !errors.Is(err, blob.ErrConflict) {
			t.Errorf("Put of other %d bytes, hashed: %v; want ErrConflict", size, err)
		}
		mustHave(t, s, key, b)
		short := key + "-short"
		if _, _, err := s.Put(ctx, short, blob.Hashed{R: bytes.NewReader(b[:size-1]), SHA256: sha256.Sum256(b)}, int64(size)); err == nil {
			t.Errorf("Put of %d bytes from a hashed reader of %d: no error", size, size-1)
		}
		mustNotHave(t, s, short)
	}
}
