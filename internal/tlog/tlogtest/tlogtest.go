// Package tlogtest is the conformance suite for tlog.Storage and a small
// in-memory witness for tests of the log and its clients.
//
//	func TestStorage(t *testing.T) {
//		tlogtest.RunStorage(t, func(t *testing.T) tlog.Storage { return openEmptyStorage(t) })
//	}
package tlogtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"vigil/internal/tlog"
)

// RunStorage checks every contract of tlog.Storage on the storages open
// makes. open is called once per subtest and must return a new, empty
// storage (released with t.Cleanup).
func RunStorage(t *testing.T, open func(t *testing.T) tlog.Storage) {
	tests := []struct {
		name string
		f    func(*testing.T, tlog.Storage)
	}{
		{"Empty", testEmpty},
		{"PutTile", testPutTile},
		{"Immutable", testImmutable},
		{"Copies", testCopies},
		{"BadPaths", testBadPaths},
		{"Swap", testSwap},
		{"SwapSameSize", testSwapSameSize},
		{"ConcurrentSwap", testConcurrentSwap},
		{"ConcurrentPut", testConcurrentPut},
		{"Cancelled", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open(t)) })
	}
}

// checkpoint returns a checkpoint-shaped note of size n (the storage does
// not verify it; the bytes only have to be realistic).
func checkpoint(n int64, salt string) []byte {
	h := sha256.Sum256([]byte(fmt.Sprint(n, salt)))
	return []byte("example.com/conformance\n" + strconv.FormatInt(n, 10) + "\n" +
		base64.StdEncoding.EncodeToString(h[:]) + "\n\n— example.com/conformance " +
		base64.StdEncoding.EncodeToString(append([]byte{1, 2, 3, 4}, h[:]...)) + "\n")
}

var samplePaths = []string{
	"tile/0/000", "tile/0/001.p/7", "tile/0/x001/234", "tile/0/x001/234.p/255",
	"tile/1/000.p/1", "tile/2/x999/x999/999", "tile/entries/000", "tile/entries/000.p/5",
	"tile/entries/x123/456.p/1",
}

func testEmpty(t *testing.T, s tlog.Storage) {
	ctx := context.Background()
	if _, err := s.Checkpoint(ctx); !errors.Is(err, tlog.ErrNotFound) {
		t.Errorf("Checkpoint of an empty storage: %v, want ErrNotFound", err)
	}
	for _, p := range samplePaths {
		if _, err := s.Tile(ctx, p); !errors.Is(err, tlog.ErrNotFound) {
			t.Errorf("Tile(%q) of an empty storage: %v, want ErrNotFound", p, err)
		}
	}
}

func testPutTile(t *testing.T, s tlog.Storage) {
	ctx := context.Background()
	for i, p := range samplePaths {
		if err := s.PutTile(ctx, p, []byte(p+strings.Repeat("x", i))); err != nil {
			t.Fatalf("PutTile(%q): %v", p, err)
		}
	}
	for i, p := range samplePaths {
		got, err := s.Tile(ctx, p)
		if err != nil || string(got) != p+strings.Repeat("x", i) {
			t.Errorf("Tile(%q) = %q, %v; want what was put", p, got, err)
		}
	}
	// A partial tile and the full tile of the same coordinates are
	// different objects.
	if _, err := s.Tile(ctx, "tile/0/001"); !errors.Is(err, tlog.ErrNotFound) {
		t.Errorf("Tile(tile/0/001) after putting only tile/0/001.p/7: %v, want ErrNotFound", err)
	}
	big := bytes.Repeat([]byte{0xa5}, 256*(2+65535))
	if err := s.PutTile(ctx, "tile/entries/x999/000", big); err != nil {
		t.Fatalf("PutTile of the largest entry bundle: %v", err)
	}
	if got, err := s.Tile(ctx, "tile/entries/x999/000"); err != nil || !bytes.Equal(got, big) {
		t.Errorf("Tile of the largest entry bundle: %d bytes, %v", len(got), err)
	}
}

func testImmutable(t *testing.T, s tlog.Storage) {
	ctx := context.Background()
	p := "tile/0/x001/234.p/9"
	if err := s.PutTile(ctx, p, []byte("first")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTile(ctx, p, []byte("first")); err != nil {
		t.Errorf("PutTile of the same bytes again: %v, want nil", err)
	}
	for _, other := range []string{"other", "firs", "first!", "First"} {
		if err := s.PutTile(ctx, p, []byte(other)); !errors.Is(err, tlog.ErrConflict) {
			t.Errorf("PutTile(%q) over %q: %v, want ErrConflict", other, "first", err)
		}
	}
	if got, err := s.Tile(ctx, p); err != nil || string(got) != "first" {
		t.Errorf("Tile after refused overwrites = %q, %v; want %q", got, err, "first")
	}
}

func testCopies(t *testing.T, s tlog.Storage) {
	ctx := context.Background()
	data := []byte("abcdef")
	if err := s.PutTile(ctx, "tile/0/000.p/1", data); err != nil {
		t.Fatal(err)
	}
	data[0] = 'X'
	got, err := s.Tile(ctx, "tile/0/000.p/1")
	if err != nil || string(got) != "abcdef" {
		t.Fatalf("the storage kept the caller's slice: %q, %v", got, err)
	}
	got[1] = 'Y'
	if again, _ := s.Tile(ctx, "tile/0/000.p/1"); string(again) != "abcdef" {
		t.Errorf("the storage returned its own slice: %q", again)
	}
	cp := checkpoint(1, "a")
	if err := s.SwapCheckpoint(ctx, nil, cp); err != nil {
		t.Fatal(err)
	}
	cp[0] = 'X'
	if got, _ := s.Checkpoint(ctx); !bytes.Equal(got, checkpoint(1, "a")) {
		t.Errorf("the storage kept the caller's checkpoint slice")
	}
}

func testBadPaths(t *testing.T, s tlog.Storage) {
	ctx := context.Background()
	for _, p := range []string{"", "checkpoint", "tile", "tile/", "../tile/0/000", "tile/0/../000",
		"tile/0/000/", "/tile/0/000", "tile/0/0", "tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/007",
		"tile/data/000", "tile/8/0/000", "tile/-1/000", "tile/0/x000/000", "tile/entries/000.p/", "tile/0/1000"} {
		if err := s.PutTile(ctx, p, []byte("x")); err == nil {
			t.Errorf("PutTile(%q) succeeded; want an error (not a canonical tile path)", p)
		}
		if _, err := s.Tile(ctx, p); err == nil || errors.Is(err, tlog.ErrConflict) {
			t.Errorf("Tile(%q): %v; want an error", p, err)
		}
	}
	if err := s.PutTile(ctx, "tile/0/000", nil); err == nil {
		t.Errorf("PutTile of an empty tile succeeded")
	}
}

func testSwap(t *testing.T, s tlog.Storage) {
	ctx := context.Background()
	a, b, c := checkpoint(1, "a"), checkpoint(2, "b"), checkpoint(3, "c")
	if err := s.SwapCheckpoint(ctx, a, b); !errors.Is(err, tlog.ErrConflict) {
		t.Errorf("SwapCheckpoint from a checkpoint when none is stored: %v, want ErrConflict", err)
	}
	if err := s.SwapCheckpoint(ctx, nil, nil); err == nil {
		t.Errorf("SwapCheckpoint to an empty checkpoint succeeded")
	}
	if err := s.SwapCheckpoint(ctx, nil, a); err != nil {
		t.Fatalf("first SwapCheckpoint: %v", err)
	}
	if got, err := s.Checkpoint(ctx); err != nil || !bytes.Equal(got, a) {
		t.Fatalf("Checkpoint = %q, %v; want the first", got, err)
	}
	if err := s.SwapCheckpoint(ctx, nil, b); !errors.Is(err, tlog.ErrConflict) {
		t.Errorf("SwapCheckpoint from none when one is stored: %v, want ErrConflict", err)
	}
	if err := s.SwapCheckpoint(ctx, a[:len(a)-1], b); !errors.Is(err, tlog.ErrConflict) {
		t.Errorf("SwapCheckpoint from a prefix of the stored one: %v, want ErrConflict", err)
	}
	if err := s.SwapCheckpoint(ctx, a, b); err != nil {
		t.Fatalf("SwapCheckpoint(a, b): %v", err)
	}
	if err := s.SwapCheckpoint(ctx, a, c); !errors.Is(err, tlog.ErrConflict) {
		t.Errorf("SwapCheckpoint from the replaced checkpoint: %v, want ErrConflict", err)
	}
	if got, err := s.Checkpoint(ctx); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("Checkpoint = %q, %v; want the second", got, err)
	}
	for i := int64(3); i < 20; i++ {
		cur, _ := s.Checkpoint(ctx)
		if err := s.SwapCheckpoint(ctx, cur, checkpoint(i, "n")); err != nil {
			t.Fatalf("swap %d: %v", i, err)
		}
	}
	if got, _ := s.Checkpoint(ctx); !bytes.Equal(got, checkpoint(19, "n")) {
		t.Errorf("after many swaps Checkpoint = %q", got)
	}
}

func testSwapSameSize(t *testing.T, s tlog.Storage) {
	ctx := context.Background()
	a, a2 := checkpoint(5, "one"), checkpoint(5, "two")
	if err := s.SwapCheckpoint(ctx, nil, a); err != nil {
		t.Fatal(err)
	}
	if err := s.SwapCheckpoint(ctx, a, a2); err != nil {
		t.Fatalf("SwapCheckpoint to another note of the same size: %v", err)
	}
	if err := s.SwapCheckpoint(ctx, a2, a2); err != nil {
		t.Fatalf("SwapCheckpoint to the same bytes: %v", err)
	}
	if got, _ := s.Checkpoint(ctx); !bytes.Equal(got, a2) {
		t.Errorf("Checkpoint = %q, want the re-signed one", got)
	}
}

func testConcurrentSwap(t *testing.T, s tlog.Storage) {
	ctx := context.Background()
	cur := checkpoint(0, "start")
	if err := s.SwapCheckpoint(ctx, nil, cur); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		const writers = 8
		var wins atomic.Int32
		var winner atomic.Value
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				next := checkpoint(int64(round+1), fmt.Sprint("w", w))
				err := s.SwapCheckpoint(ctx, cur, next)
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store(next)
				case !errors.Is(err, tlog.ErrConflict):
					t.Errorf("round %d writer %d: %v, want nil or ErrConflict", round, w, err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d writers swapped from the same checkpoint, want exactly 1", round, wins.Load())
		}
		got, err := s.Checkpoint(ctx)
		if err != nil || !bytes.Equal(got, winner.Load().([]byte)) {
			t.Fatalf("round %d: Checkpoint is not the winner's: %q, %v", round, got, err)
		}
		cur = got
	}
}

func testConcurrentPut(t *testing.T, s tlog.Storage) {
	ctx := context.Background()
	var wins atomic.Int32
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.PutTile(ctx, "tile/0/x005/000", []byte(fmt.Sprint("writer ", w)))
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, tlog.ErrConflict):
				t.Errorf("writer %d: %v", w, err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d writers stored different bytes at one path, want exactly 1", wins.Load())
	}
	// Many paths at once.
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := fmt.Sprintf("tile/1/%03d", i)
			if err := s.PutTile(ctx, p, []byte(p)); err != nil {
				t.Errorf("PutTile(%q): %v", p, err)
			}
		}()
	}
	wg.Wait()
	for i := range 64 {
		p := fmt.Sprintf("tile/1/%03d", i)
		if got, err := s.Tile(ctx, p); err != nil || string(got) != p {
			t.Errorf("Tile(%q) = %q, %v", p, got, err)
		}
	}
}

func testCancelled(t *testing.T, s tlog.Storage) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.PutTile(ctx, "tile/0/000", []byte("x")); err == nil {
		t.Errorf("PutTile with a cancelled context succeeded")
	}
	if err := s.SwapCheckpoint(ctx, nil, checkpoint(1, "")); err == nil {
		t.Errorf("SwapCheckpoint with a cancelled context succeeded")
	}
	if _, err := s.Checkpoint(context.Background()); !errors.Is(err, tlog.ErrNotFound) {
		t.Errorf("a cancelled SwapCheckpoint stored a checkpoint: %v", err)
	}
}

// Witness is an in-memory C2SP witness for tests: it keeps the last
// checkpoint it cosigned per log, cosigns a new one only with a valid
// consistency proof from it, and answers *tlog.SizeMismatch when the log
// has the wrong old size.
type Witness struct {
	name   string
	signer *torchwood.CosignatureSigner
	vkey   string
	logs   note.Verifiers

	// Fail, when set, is called at the start of every AddCheckpoint; an
	// error it returns is the call's.
	Fail func(ctx context.Context) error

	mu    sync.Mutex
	last  map[string]sumtlog.Tree
	calls int
}

// Calls returns how many times AddCheckpoint was called.
func (w *Witness) Calls() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls
}

// Verifier returns the witness's cosignature verifier (the log uses it to
// check what the witness returns).
func (w *Witness) Verifier() note.Verifier { return w.signer.Verifier() }

// NewWitness returns a witness named name that cosigns the logs whose
// verifier keys are logVKeys.
func NewWitness(t testing.TB, name string, logVKeys ...string) *Witness {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := torchwood.NewCosignatureSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	var vs []note.Verifier
	for _, k := range logVKeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return &Witness{name: name, signer: s, vkey: s.Verifier().String(), logs: note.VerifierList(vs...), last: map[string]sumtlog.Tree{}}
}

// Name implements tlog.Witness.
func (w *Witness) Name() string { return w.name }

// VKey is the witness's cosignature verifier key.
func (w *Witness) VKey() string { return w.vkey }

// Signer is the witness's cosignature signer (to forge tests with).
func (w *Witness) Signer() note.Signer { return w.signer }

// Size returns the size of the last checkpoint of origin it cosigned.
func (w *Witness) Size(origin string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last[origin].N
}

// AddCheckpoint implements tlog.Witness.
func (w *Witness) AddCheckpoint(ctx context.Context, oldSize int64, proof sumtlog.TreeProof, checkpoint []byte) ([]byte, error) {
	w.mu.Lock()
	w.calls++
	w.mu.Unlock()
	if w.Fail != nil {
		if err := w.Fail(ctx); err != nil {
			return nil, err
		}
	}
	n, err := note.Open(checkpoint, w.logs)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", w.name, err)
	}
	c, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		return nil, fmt.Errorf("witness %s: %w", w.name, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	last := w.last[c.Origin]
	if oldSize != last.N {
		return nil, &tlog.SizeMismatch{Size: last.N}
	}
	switch {
	case c.N < last.N:
		return nil, fmt.Errorf("witness %s: checkpoint of size %d is older than %d", w.name, c.N, last.N)
	case last.N == 0 || c.N == last.N:
		if c.N == last.N && last.N != 0 && c.Hash != last.Hash {
			return nil, fmt.Errorf("witness %s: two checkpoints of size %d", w.name, c.N)
		}
		if len(proof) != 0 {
			return nil, fmt.Errorf("witness %s: a proof where none is due", w.name)
		}
	default:
		if err := sumtlog.CheckTree(proof, c.N, c.Hash, last.N, last.Hash); err != nil {
			return nil, fmt.Errorf("witness %s: inconsistent: %w", w.name, err)
		}
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	if err != nil {
		return nil, err
	}
	w.last[c.Origin] = c.Tree
	_, sigs, _ := bytes.Cut(signed, []byte("\n\n"))
	return sigs, nil
}
