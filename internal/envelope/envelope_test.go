package envelope

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

type testKeys struct {
	signer ed25519.PrivateKey
	ids    []*X25519Identity
}

func (k *testKeys) pub() ed25519.PublicKey { return k.signer.Public().(ed25519.PublicKey) }

func (k *testKeys) verifier() Verifier { return TrustedKeys{k.pub()} }

func (k *testKeys) recipients() []Recipient {
	var rs []Recipient
	for _, id := range k.ids {
		rs = append(rs, id.Recipient())
	}
	return rs
}

func newTestKeys(t testing.TB, n int) *testKeys {
	t.Helper()
	s, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	k := &testKeys{signer: s}
	for range n {
		id, err := GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		k.ids = append(k.ids, id)
	}
	return k
}

var testStart = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

func testHeader(chunkSize int) Header {
	return Header{
		Kind:      KindSegment,
		Stream:    "cam-front-door",
		Sequence:  42,
		Start:     testStart,
		Epoch:     7,
		ChunkSize: chunkSize,
	}
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func seal(t testing.TB, k *testKeys, h Header, plaintext []byte) []byte {
	t.Helper()
	sealed, err := Seal(h, h.Start.Add(4*time.Second), k.signer, plaintext, k.recipients()...)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

func checkHeaderEqual(t *testing.T, got Header, want Header, signer ed25519.PublicKey) {
	t.Helper()
	if want.ChunkSize == 0 {
		want.ChunkSize = DefaultChunkSize
	}
	want.Signer = signer
	if got.Kind != want.Kind || got.Stream != want.Stream || got.Sequence != want.Sequence ||
		!got.Start.Equal(want.Start) || got.Epoch != want.Epoch || got.ChunkSize != want.ChunkSize ||
		!bytes.Equal(got.Signer, want.Signer) {
		t.Errorf("header = %+v, want %+v", got, want)
	}
	if got.Start.Location() != time.UTC {
		t.Errorf("header Start not in UTC")
	}
}

func roundTripSizes(cs int) []int {
	return []int{0, 1, cs - 1, cs, cs + 1, 2*cs - 1, 2 * cs, 3*cs + 7, 5 * cs}
}

func TestRoundTrip(t *testing.T) {
	k := newTestKeys(t, 1)
	for _, cs := range []int{MinChunkSize, 4096, DefaultChunkSize} {
		for _, size := range roundTripSizes(cs) {
			t.Run(fmt.Sprintf("cs=%d/size=%d", cs, size), func(t *testing.T) {
				h := testHeader(cs)
				if cs == DefaultChunkSize {
					h.ChunkSize = 0
				}
				pt := randBytes(uint64(size), size)
				sealed := seal(t, k, h, pt)
				if want := SealedSize(len(h.Stream), h.ChunkSize, 1, int64(size)); int64(len(sealed)) != want {
					t.Errorf("sealed size %d, SealedSize says %d", len(sealed), want)
				}
				checkOpen(t, k, h, sealed, pt, k.ids[0])
			})
		}
	}
}

func TestRoundTripLarge(t *testing.T) {
	k := newTestKeys(t, 1)
	h := testHeader(0)
	pt := randBytes(5, 5_000_003)
	sealed := seal(t, k, h, pt)
	gh, f, got, err := Open(sealed, k.verifier(), k.ids[0])
	if err != nil {
		t.Fatal(err)
	}
	checkHeaderEqual(t, gh, h, k.pub())
	if !bytes.Equal(got, pt) || f.Length != int64(len(pt)) {
		t.Fatalf("plaintext mismatch (len %d, footer %d)", len(got), f.Length)
	}
	r, err := NewReader(iotest.HalfReader(bytes.NewReader(sealed)), k.verifier(), k.ids[0])
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(r)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("streaming: err %v, equal %v", err, bytes.Equal(got, pt))
	}
	checkReaderAt(t, k, sealed, pt, k.ids[0], 100)
}

// checkOpen opens sealed every way there is and checks the result.
func checkOpen(t *testing.T, k *testKeys, h Header, sealed, pt []byte, id Identity) {
	t.Helper()
	gh, f, got, err := Open(sealed, k.verifier(), id)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	checkHeaderEqual(t, gh, h, k.pub())
	if !bytes.Equal(got, pt) {
		t.Fatalf("Open: plaintext mismatch")
	}
	if f.Length != int64(len(pt)) || !f.End.Equal(h.Start.Add(4*time.Second)) {
		t.Errorf("footer = %+v", f)
	}

	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"plain":   func(r io.Reader) io.Reader { return r },
		"onebyte": iotest.OneByteReader,
		"half":    iotest.HalfReader,
	} {
		r, err := NewReader(wrap(bytes.NewReader(sealed)), k.verifier(), id)
		if err != nil {
			t.Fatalf("%s: NewReader: %v", name, err)
		}
		checkHeaderEqual(t, r.Header(), h, k.pub())
		// Read through small buffers too.
		got, err := io.ReadAll(iotest.OneByteReader(r))
		if name == "plain" {
			r, _ = NewReader(bytes.NewReader(sealed), k.verifier(), id)
			got, err = io.ReadAll(r)
		}
		if err != nil {
			t.Fatalf("%s: Read: %v", name, err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("%s: plaintext mismatch", name)
		}
		if r.Footer() != f {
			t.Errorf("%s: footer %+v, want %+v", name, r.Footer(), f)
		}
		if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
			t.Errorf("%s: Read after EOF = %d, %v", name, n, err)
		}
	}
	checkReaderAt(t, k, sealed, pt, id, 50)
}

func checkReaderAt(t *testing.T, k *testKeys, sealed, pt []byte, id Identity, n int) {
	t.Helper()
	ra, err := NewReaderAt(bytes.NewReader(sealed), int64(len(sealed)), k.verifier(), id)
	if err != nil {
		t.Fatalf("NewReaderAt: %v", err)
	}
	if ra.Size() != int64(len(pt)) {
		t.Fatalf("Size = %d, want %d", ra.Size(), len(pt))
	}
	if err := ra.Verify(); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	rnd := rand.New(rand.NewPCG(uint64(len(pt)), 1))
	for range n {
		off := rnd.IntN(len(pt) + 10)
		l := rnd.IntN(min(len(pt)+10, 3*ra.chunkSize))
		if rnd.IntN(4) == 0 {
			off = rnd.IntN(len(pt)/ra.chunkSize+1) * ra.chunkSize // chunk aligned
		}
		p := make([]byte, l)
		got, err := ra.ReadAt(p, int64(off))
		want := max(0, min(l, len(pt)-off))
		if got != want {
			t.Fatalf("ReadAt(%d, %d) = %d, want %d (%v)", l, off, got, want, err)
		}
		if got < l && err != io.EOF || got == l && err != nil {
			t.Fatalf("ReadAt(%d, %d) = %d, %v", l, off, got, err)
		}
		if got > 0 && !bytes.Equal(p[:got], pt[off:off+got]) {
			t.Fatalf("ReadAt(%d, %d): wrong bytes", l, off)
		}
	}
	if len(pt) > 0 && len(pt)*ra.chunkSize <= 32<<20 { // TestReader makes many tiny reads
		if err := iotest.TestReader(io.NewSectionReader(ra, 0, ra.Size()), pt); err != nil {
			t.Fatalf("iotest.TestReader: %v", err)
		}
	}
	if _, err := ra.ReadAt(make([]byte, 1), -1); err == nil {
		t.Errorf("ReadAt negative offset succeeded")
	}
}

func TestMultipleRecipients(t *testing.T) {
	k := newTestKeys(t, 3)
	h := testHeader(MinChunkSize)
	pt := randBytes(3, 3000)
	sealed := seal(t, k, h, pt)
	for i, id := range k.ids {
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkOpen(t, k, h, sealed, pt, id) })
	}
	// A list of identities where only the last matches.
	other := newTestKeys(t, 2)
	if _, _, got, err := Open(sealed, k.verifier(), other.ids[0], other.ids[1], k.ids[2]); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Open with several identities: %v", err)
	}
}

func TestMaxRecipients(t *testing.T) {
	k := newTestKeys(t, 1)
	id := k.ids[0]
	rs := make([]Recipient, MaxStanzas)
	for i := range rs {
		other, _ := GenerateX25519Identity()
		rs[i] = other.Recipient()
	}
	rs[MaxStanzas-1] = id.Recipient()
	sealed, err := Seal(testHeader(0), time.Time{}, k.signer, []byte("hi"), rs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, f, got, err := Open(sealed, k.verifier(), id); err != nil || string(got) != "hi" || !f.End.Equal(testStart) {
		t.Fatalf("Open = %q, %+v, %v", got, f, err)
	}
	if _, err := Seal(testHeader(0), time.Time{}, k.signer, nil, append(rs, id.Recipient())...); err == nil {
		t.Fatal("sealed to 65 recipients")
	}
}

func TestWriterOddWrites(t *testing.T) {
	k := newTestKeys(t, 1)
	for _, cs := range []int{MinChunkSize, 5000} {
		h := testHeader(cs)
		pt := randBytes(9, 7*cs+123)
		rnd := rand.New(rand.NewPCG(1, 2))
		var buf bytes.Buffer
		w, err := NewWriter(&buf, h, k.signer, k.recipients()...)
		if err != nil {
			t.Fatal(err)
		}
		w.SetEnd(h.Start.Add(4 * time.Second))
		for rest := pt; len(rest) > 0; {
			n := min(len(rest), rnd.IntN(3*cs)+1)
			if rnd.IntN(5) == 0 {
				n = min(len(rest), cs)
			}
			if m, err := w.Write(rest[:n]); m != n || err != nil {
				t.Fatalf("Write = %d, %v", m, err)
			}
			w.Write(nil)
			rest = rest[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		if _, err := w.Write([]byte("x")); err == nil {
			t.Fatal("Write after Close succeeded")
		}
		// The Writer's output does not depend on how the input was split.
		_, _, got, err := Open(buf.Bytes(), k.verifier(), k.ids[0])
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Open: %v", err)
		}
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}

func TestWriterErrors(t *testing.T) {
	k := newTestKeys(t, 1)
	if _, err := NewWriter(&failWriter{0}, testHeader(0), k.signer, k.recipients()...); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("NewWriter on failing writer: %v", err)
	}
	w, err := NewWriter(&failWriter{1}, testHeader(MinChunkSize), k.signer, k.recipients()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 3*MinChunkSize)); err == nil {
		t.Fatal("Write on failing writer succeeded")
	}
	if _, err := w.Write([]byte{1}); err == nil {
		t.Fatal("error not sticky")
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after failed write succeeded")
	}
}

func TestSealInvalid(t *testing.T) {
	k := newTestKeys(t, 1)
	other := newTestKeys(t, 0)
	for name, h := range map[string]Header{
		"kind 0":         {Kind: 0, Start: testStart},
		"kind 6":         {Kind: 6, Start: testStart},
		"chunk small":    {Kind: KindClip, Start: testStart, ChunkSize: MinChunkSize - 1},
		"chunk big":      {Kind: KindClip, Start: testStart, ChunkSize: MaxChunkSize + 1},
		"chunk neg":      {Kind: KindClip, Start: testStart, ChunkSize: -1},
		"stream long":    {Kind: KindClip, Start: testStart, Stream: strings.Repeat("x", 256)},
		"stream utf8":    {Kind: KindClip, Start: testStart, Stream: "\xff"},
		"no start":       {Kind: KindClip},
		"start range":    {Kind: KindClip, Start: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)},
		"signer differs": {Kind: KindClip, Start: testStart, Signer: other.pub()},
	} {
		if _, err := Seal(h, time.Time{}, k.signer, nil, k.recipients()...); err == nil {
			t.Errorf("%s: Seal succeeded", name)
		}
	}
	if _, err := Seal(testHeader(0), time.Time{}, k.signer, nil); err == nil {
		t.Error("Seal without recipients succeeded")
	}
	if _, err := Seal(testHeader(0), time.Time{}, nil, nil, k.recipients()...); err == nil {
		t.Error("Seal without signing key succeeded")
	}
	if _, err := Seal(testHeader(0), time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC), k.signer, nil, k.recipients()...); err == nil {
		t.Error("Seal with unrepresentable end succeeded")
	}
	// Limits are inclusive.
	h := testHeader(MaxChunkSize)
	h.Stream = strings.Repeat("é", 127) + "x"
	h.Signer = k.pub()
	sealed, err := Seal(h, time.Time{}, k.signer, []byte("x"), k.recipients()...)
	if err != nil {
		t.Fatal(err)
	}
	if gh, _, _, err := Open(sealed, k.verifier(), k.ids[0]); err != nil || gh.Stream != h.Stream || gh.ChunkSize != MaxChunkSize {
		t.Fatalf("Open: %v", err)
	}
}

func TestTimes(t *testing.T) {
	k := newTestKeys(t, 1)
	for _, start := range []time.Time{
		time.Unix(0, 1).In(time.FixedZone("x", 3600)),
		time.Unix(0, -5), // before 1970
		time.Unix(0, 1<<62),
	} {
		h := testHeader(0)
		h.Start = start
		end := start.Add(-time.Hour) // the format does not order start and end
		sealed, err := Seal(h, end, k.signer, nil, k.recipients()...)
		if err != nil {
			t.Fatal(err)
		}
		gh, f, _, err := Open(sealed, k.verifier(), k.ids[0])
		if err != nil {
			t.Fatal(err)
		}
		if !gh.Start.Equal(start) || !f.End.Equal(end) || gh.Start.Location() != time.UTC || f.End.Location() != time.UTC {
			t.Errorf("start %v end %v, want %v %v", gh.Start, f.End, start, end)
		}
	}
}

func TestInspect(t *testing.T) {
	k := newTestKeys(t, 2)
	h := testHeader(MinChunkSize)
	h.Kind = KindSnapshot
	sealed := seal(t, k, h, []byte("jpeg"))
	r := bytes.NewReader(sealed)
	got, err := Inspect(r)
	if err != nil {
		t.Fatal(err)
	}
	checkHeaderEqual(t, got, h, k.pub())
	if consumed := len(sealed) - r.Len(); consumed != headerSize(len(h.Stream), 2) {
		t.Errorf("Inspect consumed %d bytes, header is %d", consumed, headerSize(len(h.Stream), 2))
	}
	if _, err := Inspect(bytes.NewReader(sealed[:20])); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Inspect truncated: %v", err)
	}
	if _, err := Inspect(strings.NewReader("hello world, this is not an object at all")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Inspect garbage: %v", err)
	}
	bad := bytes.Clone(sealed)
	bad[8] = 2
	if _, err := Inspect(bytes.NewReader(bad)); !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("Inspect v2: %v", err)
	}
	ioErr := errors.New("network down")
	if _, err := Inspect(iotest.ErrReader(ioErr)); !errors.Is(err, ioErr) || errors.Is(err, ErrCorrupt) {
		t.Errorf("Inspect I/O error: %v", err)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindSegment: "segment", KindSnapshot: "snapshot", KindEvent: "event", KindClip: "clip", 0: "Kind(0)", 9: "Kind(9)"} {
		if k.String() != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, k.String(), want)
		}
	}
}

func TestReaderIOError(t *testing.T) {
	k := newTestKeys(t, 1)
	sealed := seal(t, k, testHeader(MinChunkSize), randBytes(1, 5000))
	ioErr := errors.New("connection reset")
	src := io.MultiReader(bytes.NewReader(sealed[:3000]), iotest.ErrReader(ioErr))
	r, err := NewReader(src, k.verifier(), k.ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, ioErr) {
		t.Fatalf("ReadAll = %v, want the I/O error", err)
	}
}

func TestReaderAtConcurrent(t *testing.T) {
	k := newTestKeys(t, 1)
	pt := randBytes(8, 20*MinChunkSize+5)
	sealed := seal(t, k, testHeader(MinChunkSize), pt)
	ra, err := NewReaderAt(bytes.NewReader(sealed), int64(len(sealed)), k.verifier(), k.ids[0])
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 0))
			for range 200 {
				off := rnd.IntN(len(pt))
				p := make([]byte, rnd.IntN(3*MinChunkSize))
				n, err := ra.ReadAt(p, int64(off))
				if err != nil && err != io.EOF || !bytes.Equal(p[:n], pt[off:off+n]) {
					errs <- fmt.Errorf("ReadAt(%d, %d) = %d, %v", len(p), off, n, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
