// Package tlogbench measures the transparency log: how many entries per
// second it integrates (concurrent appenders, group commit, a blob store
// on disk with real fsync) and at what latency, and how large its proofs
// are and how long they take to verify, on a real log of a million
// entries and on a simulated log of a billion.
//
// It owns the measurements only: it never touches a log other than the
// ones it makes in a temporary directory or in memory.
package tlogbench

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"vigil/internal/blob"
	"vigil/internal/tlog"
)

// Options says what to measure. Zero fields take the defaults.
type Options struct {
	// Entries appended in the throughput run (default 20000).
	Entries int
	// Appenders submitting entries one at a time, concurrently (default 64).
	Appenders int
	// EntrySize in bytes (default 200, about a sealed access record).
	EntrySize int
	// MaxBatch bounds a group commit (default 4096).
	MaxBatch int
	// Dir holds the blob store of the throughput run (default: a
	// temporary directory, removed afterwards).
	Dir string
	// RealSize is the size of the real log for proofs (default 1e6).
	RealSize int64
	// SimSize is the size of the simulated log (default 1e9).
	SimSize int64
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Entries <= 0 {
		o.Entries = 20000
	}
	if o.Appenders <= 0 {
		o.Appenders = 64
	}
	if o.EntrySize <= 0 {
		o.EntrySize = 200
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 4096
	}
	if o.RealSize <= 0 {
		o.RealSize = 1_000_000
	}
	if o.SimSize <= 0 {
		o.SimSize = 1_000_000_000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Result is what Run measured.
type Result struct {
	Append    AppendResult `json:"append"`
	Real      ProofResult  `json:"real"`
	Simulated ProofResult  `json:"simulated"`
}

// AppendResult is the throughput run.
type AppendResult struct {
	Storage       string        `json:"storage"`
	Entries       int           `json:"entries"`
	EntrySize     int           `json:"entry_size"`
	Appenders     int           `json:"appenders"`
	Batches       int           `json:"batches"`
	MeanBatch     float64       `json:"mean_batch"`
	Seconds       float64       `json:"seconds"`
	EntriesPerSec float64       `json:"entries_per_sec"`
	P50           time.Duration `json:"p50_ns"`
	P99           time.Duration `json:"p99_ns"`
	Max           time.Duration `json:"max_ns"`
}

// ProofResult is the proofs of one log.
type ProofResult struct {
	TreeSize          int64         `json:"tree_size"`
	Simulated         bool          `json:"simulated"`
	BuildSeconds      float64       `json:"build_seconds,omitempty"`
	InclusionIndex    int64         `json:"inclusion_index"`
	InclusionHashes   int           `json:"inclusion_hashes"`
	InclusionBytes    int           `json:"inclusion_bytes"`
	InclusionVerify   time.Duration `json:"inclusion_verify_ns"`
	ConsistencyFrom   int64         `json:"consistency_from"`
	ConsistencyHashes int           `json:"consistency_hashes"`
	ConsistencyBytes  int           `json:"consistency_bytes"`
	ConsistencyVerify time.Duration `json:"consistency_verify_ns"`
	// A client that starts with no tiles: what it fetches to prove one
	// entry (tiles, bytes) and how long that takes (real log only).
	ClientTiles     int           `json:"client_tiles,omitempty"`
	ClientTileBytes int           `json:"client_tile_bytes,omitempty"`
	ClientProve     time.Duration `json:"client_prove_ns,omitempty"`
}

// Run measures. It takes tens of seconds with the defaults.
func Run(ctx context.Context, o Options) (Result, error) {
	o.defaults()
	var r Result
	var err error
	o.Logger.Info("appending", "entries", o.Entries, "appenders", o.Appenders)
	if r.Append, err = appendRun(ctx, o); err != nil {
		return r, fmt.Errorf("append run: %w", err)
	}
	o.Logger.Info("building a real log", "entries", o.RealSize)
	if r.Real, err = realProofs(ctx, o.RealSize); err != nil {
		return r, fmt.Errorf("proofs on a real log: %w", err)
	}
	o.Logger.Info("simulating a log", "entries", o.SimSize)
	if r.Simulated, err = simProofs(o.SimSize); err != nil {
		return r, fmt.Errorf("proofs on a simulated log: %w", err)
	}
	return r, nil
}

// newLog opens a log with a fresh key over st.
func newLog(ctx context.Context, st tlog.Storage) (*tlog.Log, string, error) {
	const origin = "bench.vigil.test/tlog"
	skey, vkey, err := tlog.GenerateKey(origin)
	if err != nil {
		return nil, "", err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", err
	}
	l, err := tlog.Open(ctx, tlog.Config{Origin: origin, Signer: signer, Storage: st})
	return l, vkey, err
}

// Batcher gathers entries submitted concurrently into one Append (group
// commit): while an Append runs, new entries queue up and go in the next.
type batcher struct {
	l   *tlog.Log
	max int
	in  chan req

	batches atomic.Int64
}

type req struct {
	entry []byte
	done  chan error
}

func (b *batcher) run(ctx context.Context) {
	for {
		var first req
		select {
		case first = <-b.in:
		case <-ctx.Done():
			return
		}
		batch := []req{first}
	drain:
		for len(batch) < b.max {
			select {
			case r := <-b.in:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		es := make([][]byte, len(batch))
		for i, r := range batch {
			es[i] = r.entry
		}
		_, err := b.l.Append(ctx, es)
		b.batches.Add(1)
		for _, r := range batch {
			r.done <- err
		}
	}
}

func appendRun(ctx context.Context, o Options) (AppendResult, error) {
	dir := o.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "vigil-bench-tlog-*")
		if err != nil {
			return AppendResult{}, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	store, err := blob.OpenDir(dir, blob.DirOptions{})
	if err != nil {
		return AppendResult{}, err
	}
	defer store.Close()
	l, _, err := newLog(ctx, tlog.NewBlobStorage(store, "tlog"))
	if err != nil {
		return AppendResult{}, err
	}
	defer l.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := &batcher{l: l, max: o.MaxBatch, in: make(chan req, o.Appenders)}
	var loop sync.WaitGroup
	loop.Add(1)
	go func() { defer loop.Done(); b.run(ctx) }()
	defer loop.Wait()
	defer cancel()

	lat := make([]time.Duration, o.Entries)
	var next atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	t0 := time.Now()
	for range o.Appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan error, 1)
			for {
				i := next.Add(1) - 1
				if i >= int64(o.Entries) {
					return
				}
				e := make([]byte, o.EntrySize)
				binary.BigEndian.PutUint64(e, uint64(i))
				s := time.Now()
				select {
				case b.in <- req{entry: e, done: done}:
				case <-ctx.Done():
					return
				}
				if err := <-done; err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				lat[i] = time.Since(s)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if firstErr != nil {
		return AppendResult{}, firstErr
	}
	if l.Size() != int64(o.Entries) {
		return AppendResult{}, fmt.Errorf("log has %d entries after appending %d", l.Size(), o.Entries)
	}
	slices.Sort(lat)
	n := b.batches.Load()
	return AppendResult{
		Storage: "blob.Dir (fsync)", Entries: o.Entries, EntrySize: o.EntrySize, Appenders: o.Appenders,
		Batches: int(n), MeanBatch: float64(o.Entries) / float64(n),
		Seconds: elapsed.Seconds(), EntriesPerSec: float64(o.Entries) / elapsed.Seconds(),
		P50: lat[len(lat)/2], P99: lat[len(lat)*99/100], Max: lat[len(lat)-1],
	}, nil
}

// countingFetcher counts the tiles a client fetches.
type countingFetcher struct {
	tlog.Fetcher
	tiles, bytes atomic.Int64
}

func (f *countingFetcher) ReadTiles(ctx context.Context, tiles []sumtlog.Tile) ([][]byte, error) {
	data, err := f.Fetcher.ReadTiles(ctx, tiles)
	for _, d := range data {
		f.tiles.Add(1)
		f.bytes.Add(int64(len(d)))
	}
	return data, err
}

func realProofs(ctx context.Context, size int64) (ProofResult, error) {
	st := tlog.NewMemoryStorage()
	l, vkey, err := newLog(ctx, st)
	if err != nil {
		return ProofResult{}, err
	}
	defer l.Close()
	entry := func(i int64) []byte {
		e := make([]byte, 64)
		binary.BigEndian.PutUint64(e, uint64(i))
		return e
	}
	t0 := time.Now()
	const batch = 1 << 16
	for n := int64(0); n < size; {
		k := min(batch, size-n)
		es := make([][]byte, k)
		for i := range es {
			es[i] = entry(n + int64(i))
		}
		if _, err := l.Append(ctx, es); err != nil {
			return ProofResult{}, err
		}
		n += k
	}
	build := time.Since(t0)
	p, err := tlog.NewPolicy(vkey, nil, 0)
	if err != nil {
		return ProofResult{}, err
	}
	cp, err := p.Verify(l.Checkpoint())
	if err != nil {
		return ProofResult{}, err
	}
	idx, from := probes(size)
	hr := sumtlog.TileHashReader(cp.Tree(), storageTiles{ctx: ctx, st: st})
	res, err := measure(hr, cp.N, cp.Hash, idx, sumtlog.RecordHash(entry(idx)), from)
	if err != nil {
		return res, err
	}
	res.BuildSeconds = build.Seconds()

	cf := &countingFetcher{Fetcher: tlog.StorageFetcher{Storage: st}}
	c, err := tlog.NewClient(p, cf, cp.Note)
	if err != nil {
		return res, err
	}
	t1 := time.Now()
	if err := c.ProveEntry(ctx, idx, entry(idx)); err != nil {
		return res, err
	}
	res.ClientProve = time.Since(t1)
	res.ClientTiles, res.ClientTileBytes = int(cf.tiles.Load()), int(cf.bytes.Load())
	return res, nil
}

// storageTiles is an x/mod TileReader over a Storage.
type storageTiles struct {
	ctx context.Context
	st  tlog.Storage
}

func (r storageTiles) Height() int { return tlog.TileHeight }
func (r storageTiles) ReadTiles(tiles []sumtlog.Tile) ([][]byte, error) {
	return tlog.StorageFetcher{Storage: r.st}.ReadTiles(r.ctx, tiles)
}
func (r storageTiles) SaveTiles([]sumtlog.Tile, [][]byte) {}

// measure makes an inclusion proof of leaf idx and a consistency proof
// from size from to n, checks both, and times their verification.
func measure(hr sumtlog.HashReader, n int64, root sumtlog.Hash, idx int64, leaf sumtlog.Hash, from int64) (ProofResult, error) {
	res := ProofResult{TreeSize: n, InclusionIndex: idx, ConsistencyFrom: from}
	incl, err := sumtlog.ProveRecord(n, idx, hr)
	if err != nil {
		return res, err
	}
	if err := sumtlog.CheckRecord(incl, n, root, idx, leaf); err != nil {
		return res, fmt.Errorf("the inclusion proof does not verify: %w", err)
	}
	oldRoot, err := sumtlog.TreeHash(from, hr)
	if err != nil {
		return res, err
	}
	cons, err := sumtlog.ProveTree(n, from, hr)
	if err != nil {
		return res, err
	}
	if err := sumtlog.CheckTree(cons, n, root, from, oldRoot); err != nil {
		return res, fmt.Errorf("the consistency proof does not verify: %w", err)
	}
	bad := leaf
	bad[0] ^= 1
	if sumtlog.CheckRecord(incl, n, root, idx, bad) == nil {
		return res, errors.New("the inclusion proof verifies a wrong leaf")
	}
	res.InclusionHashes, res.InclusionBytes = len(incl), len(incl)*sumtlog.HashSize
	res.ConsistencyHashes, res.ConsistencyBytes = len(cons), len(cons)*sumtlog.HashSize
	res.InclusionVerify = timePer(func() { _ = sumtlog.CheckRecord(incl, n, root, idx, leaf) })
	res.ConsistencyVerify = timePer(func() { _ = sumtlog.CheckTree(cons, n, root, from, oldRoot) })
	return res, nil
}

// probes returns the leaf whose inclusion is proven and the size the
// consistency proof starts from.
func probes(size int64) (idx, from int64) {
	return (size/2 + 12345) % size, max(1, (size/3+7)%size)
}

// timePer is the mean duration of f over about 100 ms of calls.
func timePer(f func()) time.Duration {
	n := 0
	t0 := time.Now()
	for time.Since(t0) < 100*time.Millisecond || n < 100 {
		f()
		n++
	}
	return time.Since(t0) / time.Duration(n)
}

// simTree is a HashReader for a tree too large to build: the subtrees on
// the paths to the marked leaves are computed from their children (so
// proofs about those leaves verify against a root computed the same way),
// every other subtree's hash is pseudo-random.
type simTree struct {
	marked []int64
	memo   map[[2]int64]sumtlog.Hash
}

func simLeaf(i int64) []byte {
	return binary.BigEndian.AppendUint64([]byte("simulated entry "), uint64(i))
}

func (s *simTree) hash(level int, k int64) sumtlog.Hash {
	key := [2]int64{int64(level), k}
	if h, ok := s.memo[key]; ok {
		return h
	}
	lo, hi := k<<level, (k+1)<<level
	onPath := false
	for _, m := range s.marked {
		if m >= lo && m < hi {
			onPath = true
		}
	}
	var h sumtlog.Hash
	switch {
	case onPath && level == 0:
		h = sumtlog.RecordHash(simLeaf(k))
	case onPath:
		h = sumtlog.NodeHash(s.hash(level-1, 2*k), s.hash(level-1, 2*k+1))
	default:
		var b [16]byte
		binary.BigEndian.PutUint64(b[:], uint64(level))
		binary.BigEndian.PutUint64(b[8:], uint64(k))
		h = sha256.Sum256(b[:])
	}
	s.memo[key] = h
	return h
}

func (s *simTree) ReadHashes(indexes []int64) ([]sumtlog.Hash, error) {
	out := make([]sumtlog.Hash, len(indexes))
	for i, x := range indexes {
		level, k := sumtlog.SplitStoredHashIndex(x)
		out[i] = s.hash(level, k)
	}
	return out, nil
}

func simProofs(size int64) (ProofResult, error) {
	idx, from := probes(size)
	s := &simTree{marked: []int64{idx, from - 1}, memo: map[[2]int64]sumtlog.Hash{}}
	root, err := sumtlog.TreeHash(size, s)
	if err != nil {
		return ProofResult{}, err
	}
	res, err := measure(s, size, root, idx, sumtlog.RecordHash(simLeaf(idx)), from)
	res.Simulated = true
	return res, err
}

// Print writes r as a table.
func Print(w io.Writer, r Result) {
	a := r.Append
	fmt.Fprintf(w, "append (%s, %d concurrent appenders, %d-byte entries, group commit)\n", a.Storage, a.Appenders, a.EntrySize)
	fmt.Fprintf(w, "  %-28s %d in %.2f s (%d batches, %.0f entries each on average)\n", "entries", a.Entries, a.Seconds, a.Batches, a.MeanBatch)
	fmt.Fprintf(w, "  %-28s %.0f\n", "entries/s", a.EntriesPerSec)
	fmt.Fprintf(w, "  %-28s p50 %s, p99 %s, max %s\n", "latency per entry", ms(a.P50), ms(a.P99), ms(a.Max))
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-30s %18s %18s\n", "proofs", "real", "simulated")
	fmt.Fprintf(w, "%-30s %18d %18d\n", "tree size", r.Real.TreeSize, r.Simulated.TreeSize)
	fmt.Fprintf(w, "%-30s %18s %18s\n", "inclusion proof", bytesHashes(r.Real.InclusionBytes, r.Real.InclusionHashes), bytesHashes(r.Simulated.InclusionBytes, r.Simulated.InclusionHashes))
	fmt.Fprintf(w, "%-30s %18s %18s\n", "  verification", us(r.Real.InclusionVerify), us(r.Simulated.InclusionVerify))
	fmt.Fprintf(w, "%-30s %18s %18s\n", "consistency proof (from n/3)", bytesHashes(r.Real.ConsistencyBytes, r.Real.ConsistencyHashes), bytesHashes(r.Simulated.ConsistencyBytes, r.Simulated.ConsistencyHashes))
	fmt.Fprintf(w, "%-30s %18s %18s\n", "  verification", us(r.Real.ConsistencyVerify), us(r.Simulated.ConsistencyVerify))
	fmt.Fprintf(w, "%-30s %18s %18s\n", "client from no tiles: fetched", fmt.Sprintf("%d tiles, %d B", r.Real.ClientTiles, r.Real.ClientTileBytes), "-")
	fmt.Fprintf(w, "%-30s %18s %18s\n", "  prove one entry", us(r.Real.ClientProve), "-")
	fmt.Fprintf(w, "%-30s %18.1f %18s\n", "build (s)", r.Real.BuildSeconds, "-")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d)/1e3) }
func bytesHashes(b, h int) string {
	return fmt.Sprintf("%d B (%d)", b, h)
}
