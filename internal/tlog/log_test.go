package tlog_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"vigil/internal/tlog"
	"vigil/internal/tlog/tlogtest"
)

// Batches of many sizes (across tile and level boundaries) keep the log
// consistent for a client that follows it, every tile x/mod expects is
// there, and the witnesses cosign every checkpoint.
func TestAppendVariedBatches(t *testing.T) {
	ctx := context.Background()
	st := tlog.NewMemoryStorage()
	tl := openLog(t, st, 2)
	p := tl.policy(t, 2)
	c, err := tlog.NewClient(p, tlog.StorageFetcher{Storage: st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := c.Update(ctx); err != nil || cp.N != 0 {
		t.Fatalf("the empty log's checkpoint: %+v, %v", cp, err)
	}
	var n int64
	var checkpoints []tlog.Checkpoint
	for _, size := range []int64{1, 1, 3, 250, 1, 256, 255, 257, 1, 511, 4000, 65536 - 5283, 1, 2, 300} {
		start := tl.append(t, entries(n, size))
		if start != n {
			t.Fatalf("Append returned index %d, want %d", start, n)
		}
		for _, tile := range sumtlog.NewTiles(tlog.TileHeight, n, n+size) {
			if _, err := st.Tile(ctx, tlog.TilePath(tile)); err != nil {
				t.Fatalf("after appending %d..%d: %v", n, n+size, err)
			}
			if tile.L == 0 {
				tile.L = -1
				if _, err := st.Tile(ctx, tlog.TilePath(tile)); err != nil {
					t.Fatalf("after appending %d..%d: %v", n, n+size, err)
				}
			}
		}
		n += size
		if tl.Size() != n {
			t.Fatalf("Size = %d, want %d", tl.Size(), n)
		}
		cp, err := c.Update(ctx)
		if err != nil {
			t.Fatalf("Update at size %d: %v", n, err)
		}
		if cp.N != n || !bytes.Equal(cp.Note, tl.Checkpoint()) {
			t.Fatalf("client has size %d, log %d", cp.N, n)
		}
		checkpoints = append(checkpoints, cp)
	}
	if c.Latest().Hash != rootOf(entries(0, n)) {
		t.Errorf("the log's root is not the RFC 6962 root of its entries")
	}
	for _, w := range tl.witnesses {
		if w.Size(origin) != n {
			t.Errorf("witness %s last cosigned size %d, want %d", w.Name(), w.Size(origin), n)
		}
	}
	// Every earlier checkpoint's root is the root of that prefix of the
	// latest tree.
	for _, old := range checkpoints {
		h, err := c.TreeHash(ctx, old.N)
		if err != nil || h != old.Hash {
			t.Errorf("TreeHash(%d) = %s, %v; the checkpoint said %s", old.N, h, err, old.Hash)
		}
	}
	for _, i := range []int64{0, 1, 255, 256, 257, 65535, 65536, n - 1} {
		got, err := c.Entry(ctx, i)
		if err != nil || !bytes.Equal(got, entry(i)) {
			t.Errorf("Entry(%d) = %q, %v", i, got, err)
		}
		if err := c.ProveEntry(ctx, i, entry(i)); err != nil {
			t.Errorf("ProveEntry(%d): %v", i, err)
		}
		if err := c.ProveEntry(ctx, i, entry(i+1)); !errors.Is(err, tlog.ErrNotIncluded) {
			t.Errorf("ProveEntry(%d) of another entry: %v, want ErrNotIncluded", i, err)
		}
	}
	for _, i := range []int64{-1, n} {
		if _, err := c.Entry(ctx, i); err == nil {
			t.Errorf("Entry(%d) of a tree of %d succeeded", i, n)
		}
	}
	if _, err := c.TreeHash(ctx, n+1); err == nil {
		t.Errorf("TreeHash beyond the tree succeeded")
	}
}

// Steady appends never read the tree back: the edge and the tiles just
// written are enough for the root and for the witnesses' proofs.
func TestAppendReadsNothing(t *testing.T) {
	st := tlog.NewMemoryStorage()
	tl := openLog(t, st, 2)
	tl.append(t, entries(0, 1000))
	var reads atomic.Int64
	st.Fail = func(op, path string) error {
		if op == tlog.OpTile || op == tlog.OpCheckpoint {
			reads.Add(1)
		}
		return nil
	}
	n := int64(1000)
	for _, size := range []int64{1, 7, 300, 70000, 1, 255} {
		tl.append(t, entries(n, size))
		n += size
	}
	if reads.Load() != 0 {
		t.Errorf("appends read the storage %d times, want 0", reads.Load())
	}
	st.Fail = nil
	verifyAll(t, st, tl.policy(t, 2), entry)
}

func TestAppendRefusesBadEntries(t *testing.T) {
	st := tlog.NewMemoryStorage()
	tl := openLog(t, st, 0)
	tl.append(t, entries(0, 3))
	cp := tl.Checkpoint()
	var writes atomic.Int64
	st.Fail = func(op, path string) error {
		if op == tlog.OpPutTile || op == tlog.OpSwapCheckpoint {
			writes.Add(1)
		}
		return nil
	}
	for _, bad := range [][][]byte{
		{entry(3), {}},
		{entry(3), make([]byte, tlog.MaxEntrySize+1)},
		{nil},
	} {
		if _, err := tl.Append(context.Background(), bad); !errors.Is(err, tlog.ErrMalformed) {
			t.Errorf("Append of a bad batch: %v, want ErrMalformed", err)
		}
	}
	if writes.Load() != 0 || !bytes.Equal(cp, tl.Checkpoint()) {
		t.Errorf("refused batches wrote %d times", writes.Load())
	}
	// The largest entry is fine.
	big := bytes.Repeat([]byte{7}, tlog.MaxEntrySize)
	if i, err := tl.Append(context.Background(), [][]byte{big}); err != nil || i != 3 {
		t.Fatalf("Append of a %d-byte entry: %d, %v", len(big), i, err)
	}
	st.Fail = nil
	verifyAll(t, st, tl.policy(t, 0), func(i int64) []byte {
		if i == 3 {
			return big
		}
		return entry(i)
	})
	// An empty batch changes nothing.
	if i, err := tl.Append(context.Background(), nil); err != nil || i != 4 {
		t.Errorf("Append(nil) = %d, %v", i, err)
	}
}

func TestReopen(t *testing.T) {
	st := tlog.NewMemoryStorage()
	tl := openLog(t, st, 1)
	tl.append(t, entries(0, 700))
	cp := tl.Checkpoint()
	tl.Close()
	if _, err := tl.Append(context.Background(), entries(700, 1)); !errors.Is(err, tlog.ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	tl.reopen(t)
	if tl.Size() != 700 || !bytes.Equal(tl.Checkpoint(), cp) {
		t.Fatalf("reopened at size %d", tl.Size())
	}
	calls := tl.witnesses[0].Calls()
	tl.append(t, entries(700, 100))
	if tl.witnesses[0].Calls() != calls+1 {
		t.Errorf("the witness was asked %d times for one append after reopening (it had cosigned the stored checkpoint)", tl.witnesses[0].Calls()-calls)
	}
	verifyAll(t, st, tl.policy(t, 1), entry)
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	st := tlog.NewMemoryStorage()
	tl := openLog(t, st, 0)
	tl.append(t, entries(0, 300))

	_, _, other := newKeys(t)
	cfg := tl.config(t)
	cfg.Signer = other
	if _, err := tlog.Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "not signed by this log's key") {
		t.Errorf("Open with another key of the same name: %v", err)
	}
	cfg = tl.config(t)
	cfg.Origin = "other.test/tlog"
	if _, err := tlog.Open(ctx, cfg); err == nil {
		t.Errorf("Open with an origin that is not the signer's name succeeded")
	}

	// Damaged edge tiles are found.
	for _, path := range []string{"tile/0/001.p/44", "tile/entries/001.p/44", "tile/1/000.p/1", "tile/0/000"} {
		bad := tlog.NewMemoryStorage()
		copyStorage(t, st, bad, func(p string, data []byte) []byte {
			if p == path {
				data[len(data)-1] ^= 1
			}
			return data
		})
		cfg := tl.config(t)
		cfg.Storage = bad
		if _, err := tlog.Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "damaged") && !strings.Contains(err.Error(), "malformed") {
			t.Errorf("Open with %s damaged: %v", path, err)
		}
	}
}

// copyStorage copies every tile of the tree in src (and the checkpoint)
// to dst, through edit.
func copyStorage(t *testing.T, src *tlog.MemoryStorage, dst tlog.Storage, edit func(path string, data []byte) []byte) {
	t.Helper()
	ctx := context.Background()
	cp, err := src.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := sizeOf(t, cp)
	var sizes []int64
	for s := int64(1); s <= n; s++ {
		sizes = append(sizes, s)
	}
	seen := map[string]bool{}
	for _, s := range sizes {
		for _, tile := range sumtlog.NewTiles(tlog.TileHeight, s-1, s) {
			for _, tt := range []sumtlog.Tile{tile, {H: tile.H, L: -1, N: tile.N, W: tile.W}} {
				if tt.L == -1 && tile.L != 0 {
					continue
				}
				p := tlog.TilePath(tt)
				if seen[p] {
					continue
				}
				seen[p] = true
				data, err := src.Tile(ctx, p)
				if err != nil {
					continue // a partial tile of a size never published
				}
				if err := dst.PutTile(ctx, p, edit(p, data)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := dst.SwapCheckpoint(ctx, nil, cp); err != nil {
		t.Fatal(err)
	}
}

func sizeOf(t testing.TB, cp []byte) int64 {
	t.Helper()
	n, err := note.Open(cp, note.VerifierList())
	var unv *note.UnverifiedNoteError
	if errors.As(err, &unv) {
		n = unv.Note
	} else if err != nil {
		t.Fatal(err)
	}
	var size int64
	lines := strings.Split(n.Text, "\n")
	for _, c := range lines[1] {
		size = size*10 + int64(c-'0')
	}
	return size
}

// A witness that fails or hangs is left out of the checkpoint; the append
// still succeeds. A witness the log thinks is at the wrong size is asked
// again from its own. A witness returning a bad signature has it dropped.
func TestWitnessFailures(t *testing.T) {
	ctx := context.Background()
	st := tlog.NewMemoryStorage()
	tl := openLog(t, st, 3)
	hang, fail := tl.witnesses[0], tl.witnesses[1]
	var hanging, failing atomic.Bool
	hang.Fail = func(ctx context.Context) error {
		if hanging.Load() {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	fail.Fail = func(context.Context) error {
		if failing.Load() {
			return errors.New("down for maintenance")
		}
		return nil
	}
	cfg := tl.config(t)
	cfg.WitnessTimeout = 200 * time.Millisecond
	l, err := tlog.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(ctx, entries(0, 10)); err != nil {
		t.Fatal(err)
	}
	hanging.Store(true)
	failing.Store(true)
	if _, err := l.Append(ctx, entries(10, 10)); err != nil {
		t.Fatalf("Append with two witnesses down: %v", err)
	}
	if _, err := tl.policy(t, 1).Verify(l.Checkpoint()); err != nil {
		t.Errorf("1 of 3: %v", err)
	}
	var qe *tlog.QuorumError
	if _, err := tl.policy(t, 2).Verify(l.Checkpoint()); !errors.As(err, &qe) || qe.Have != 1 || qe.Need != 2 {
		t.Errorf("2 of 3 with one witness answering: %v, want QuorumError{1, 2}", err)
	}
	// Back up: the log still believes they are at size 10; they are.
	hanging.Store(false)
	failing.Store(false)
	if _, err := l.Append(ctx, entries(20, 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := tl.policy(t, 3).Verify(l.Checkpoint()); err != nil {
		t.Errorf("3 of 3 after the witnesses came back: %v", err)
	}
	l.Close()

	// The stored checkpoint lacks witness 1's cosignature, so a reopened
	// log believes it has cosigned nothing: the witness answers with its
	// size and is asked again.
	failing.Store(true)
	l2, err := tlog.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l2.Append(ctx, entries(30, 1)); err != nil {
		t.Fatal(err)
	}
	l2.Close()
	failing.Store(false)
	l3, err := tlog.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l3.Close()
	before := fail.Calls()
	if _, err := l3.Append(ctx, entries(31, 1)); err != nil {
		t.Fatal(err)
	}
	if fail.Calls()-before != 2 {
		t.Errorf("the witness at another size was asked %d times, want 2 (mismatch, retry)", fail.Calls()-before)
	}
	if _, err := tl.policy(t, 3).Verify(l3.Checkpoint()); err != nil {
		t.Errorf("3 of 3 after a size mismatch: %v", err)
	}
	verifyAll(t, st, tl.policy(t, 3), entry)
}

// badWitness returns a signature that does not verify (a faulty or
// hostile witness); the log drops it so clients that know the witness
// still accept the checkpoint.
type badWitness struct{ *tlogtest.Witness }

func (w badWitness) AddCheckpoint(ctx context.Context, old int64, proof sumtlog.TreeProof, cp []byte) ([]byte, error) {
	sigs, err := w.Witness.AddCheckpoint(ctx, old, proof, cp)
	if err != nil {
		return nil, err
	}
	sigs[len(sigs)-3] ^= 1 // inside the base64 of the signature
	return sigs, nil
}

func TestWitnessBadSignatureDropped(t *testing.T) {
	ctx := context.Background()
	st := tlog.NewMemoryStorage()
	tl := openLog(t, st, 2)
	cfg := tl.config(t)
	cfg.Witnesses = []tlog.Witness{tl.witnesses[0], badWitness{tl.witnesses[1]}}
	l, err := tlog.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(ctx, entries(0, 5)); err != nil {
		t.Fatal(err)
	}
	cp, err := tl.policy(t, 1).Verify(l.Checkpoint())
	if err != nil {
		t.Fatalf("a checkpoint with a faulty witness listed: %v", err)
	}
	if strings.Count(string(cp.Note), "\n— ") != 2 {
		t.Errorf("checkpoint note has %d signatures, want the log's and one witness's:\n%s", strings.Count(string(cp.Note), "\n— "), cp.Note)
	}
}

// Concurrent appenders are serialised, each batch contiguous.
func TestConcurrentAppends(t *testing.T) {
	st := tlog.NewMemoryStorage()
	tl := openLog(t, st, 1)
	var mu sync.Mutex
	got := map[int64][]byte{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 10 {
				batch := [][]byte{[]byte(strings.Repeat("g", g+1) + string(rune('a'+b))), []byte("second")}
				start, err := tl.Append(context.Background(), batch)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got[start], got[start+1] = batch[0], batch[1]
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if tl.Size() != 160 || len(got) != 160 {
		t.Fatalf("size %d with %d indexes returned", tl.Size(), len(got))
	}
	verifyAll(t, st, tl.policy(t, 1), func(i int64) []byte { return got[i] })
}
