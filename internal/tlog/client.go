package tlog

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// Fetcher is what a client reads from a log. Nothing it returns is trusted
// before it is verified.
type Fetcher interface {
	// Checkpoint returns the log's newest checkpoint note.
	Checkpoint(ctx context.Context) ([]byte, error)
	// ReadTiles returns the bytes of each tile: hash tiles (L >= 0) and
	// entry bundles (L == -1), all of height TileHeight.
	ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error)
}

// StorageFetcher is a Fetcher that reads a Storage directly (tests,
// benchmarks, and a process that holds the storage itself).
type StorageFetcher struct {
	Storage Storage
}

// Checkpoint implements Fetcher.
func (f StorageFetcher) Checkpoint(ctx context.Context) ([]byte, error) {
	return f.Storage.Checkpoint(ctx)
}

// ReadTiles implements Fetcher.
func (f StorageFetcher) ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		if t.H != TileHeight {
			return nil, fmt.Errorf("%w: tile of height %d", ErrMalformed, t.H)
		}
		data, err := f.Storage.Tile(ctx, TilePath(t))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

// Client follows one log: it keeps the last checkpoint it verified and
// accepts a new one only when it is consistent with it. Safe for
// concurrent use.
type Client struct {
	p Policy
	f Fetcher

	updateMu sync.Mutex // serialises Update (held across its fetches)
	mu       sync.Mutex // guards latest
	latest   Checkpoint

	cacheMu sync.Mutex
	tiles   map[tlog.Tile][]byte // verified tiles (an optimisation only: every read is verified again)
}

// NewClient starts a client of the log p describes, reading from f, from
// last: the note of the last checkpoint this client verified (nil for
// none), which is verified again with p.
func NewClient(p Policy, f Fetcher, last []byte) (*Client, error) {
	c := &Client{p: p, f: f, tiles: map[tlog.Tile][]byte{}}
	if last != nil {
		cp, err := p.Verify(last)
		if err != nil {
			return nil, fmt.Errorf("tlog: the last verified checkpoint given to the client: %w", err)
		}
		c.latest = cp
	}
	return c, nil
}

// Policy returns the policy the client verifies checkpoints with.
func (c *Client) Policy() Policy { return c.p }

// Latest returns the last checkpoint the client verified (the zero
// Checkpoint before the first).
func (c *Client) Latest() Checkpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.latest
}

// Update fetches the newest checkpoint, verifies it with the policy and
// proves it consistent with the last verified one, which it then
// replaces. A smaller one: the last verified checkpoint is returned
// unchanged with ErrOlder (never a rollback). The same size with another
// root: *SplitViewError. A larger one that does not extend the last
// verified one: *InconsistentError. Tiles that do not hash to the new
// checkpoint's root are an error that names them, never a verdict on the
// log.
func (c *Client) Update(ctx context.Context) (Checkpoint, error) {
	msg, err := c.f.Checkpoint(ctx)
	if err != nil {
		return c.Latest(), fmt.Errorf("tlog: fetching the checkpoint: %w", err)
	}
	next, err := c.p.Verify(msg)
	if err != nil {
		return c.Latest(), err
	}
	c.updateMu.Lock()
	defer c.updateMu.Unlock()
	old := c.Latest()
	switch {
	case old.Note == nil:
	case next.N < old.N:
		return old, fmt.Errorf("%w (size %d, after %d)", ErrOlder, next.N, old.N)
	case next.N == old.N:
		if next.Hash != old.Hash {
			return old, &SplitViewError{Old: old, New: next}
		}
	case old.N == 0:
		// Every tree extends the empty one.
	default:
		proof, err := tlog.ProveTree(next.N, old.N, c.hashReader(ctx, next.Tree()))
		if err != nil {
			return old, fmt.Errorf("tlog: proving size %d consistent with size %d: %w", next.N, old.N, err)
		}
		if err := tlog.CheckTree(proof, next.N, next.Hash, old.N, old.Hash); err != nil {
			return old, &InconsistentError{Old: old, New: next, Err: err}
		}
	}
	c.mu.Lock()
	c.latest = next
	c.mu.Unlock()
	return next, nil
}

// Entry returns the entry at index, read from its entry bundle and proven
// included in Latest.
func (c *Client) Entry(ctx context.Context, index int64) ([]byte, error) {
	latest := c.Latest()
	if index < 0 || index >= latest.N {
		return nil, fmt.Errorf("tlog: entry %d is not in the verified tree of size %d", index, latest.N)
	}
	tn := index >> TileHeight
	t := tlog.Tile{H: TileHeight, L: -1, N: tn, W: int(min(tileWidth, latest.N-tn<<TileHeight))}
	data, err := c.f.ReadTiles(ctx, []tlog.Tile{t})
	if err != nil {
		return nil, fmt.Errorf("tlog: fetching entry bundle %s: %w", TilePath(t), err)
	}
	if len(data) != 1 {
		return nil, fmt.Errorf("tlog: fetching entry bundle %s: got %d tiles for 1", TilePath(t), len(data))
	}
	entries, err := ParseEntryBundle(data[0], t.W)
	if err != nil {
		return nil, fmt.Errorf("tlog: entry bundle %s: %w", TilePath(t), err)
	}
	entry := bytes.Clone(entries[index-tn<<TileHeight])
	if err := c.prove(ctx, latest, index, entry); err != nil {
		return nil, fmt.Errorf("tlog: entry bundle %s: %w", TilePath(t), err)
	}
	return entry, nil
}

// ProveEntry checks that the entry at index in Latest is exactly entry
// (its RFC 6962 leaf hash, with an inclusion proof to the root).
// ErrNotIncluded when it is another.
func (c *Client) ProveEntry(ctx context.Context, index int64, entry []byte) error {
	return c.prove(ctx, c.Latest(), index, entry)
}

func (c *Client) prove(ctx context.Context, cp Checkpoint, index int64, entry []byte) error {
	if index < 0 || index >= cp.N {
		return fmt.Errorf("tlog: entry %d is not in the verified tree of size %d", index, cp.N)
	}
	proof, err := tlog.ProveRecord(cp.N, index, c.hashReader(ctx, cp.Tree()))
	if err != nil {
		return fmt.Errorf("tlog: proving entry %d included in the tree of size %d: %w", index, cp.N, err)
	}
	if err := tlog.CheckRecord(proof, cp.N, cp.Hash, index, tlog.RecordHash(entry)); err != nil {
		return fmt.Errorf("%w: entry %d in the tree of size %d", ErrNotIncluded, index, cp.N)
	}
	return nil
}

// TreeHash returns the root of the first n entries of Latest, computed
// from tiles proven against Latest (n <= Latest.N). A device checks
// another party's checkpoint of size n with it.
func (c *Client) TreeHash(ctx context.Context, n int64) (tlog.Hash, error) {
	latest := c.Latest()
	if n < 0 || n > latest.N {
		return tlog.Hash{}, fmt.Errorf("tlog: size %d is beyond the verified tree of size %d", n, latest.N)
	}
	if n == latest.N {
		return latest.Hash, nil
	}
	h, err := tlog.TreeHash(n, c.hashReader(ctx, latest.Tree()))
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("tlog: computing the root of size %d from the tree of size %d: %w", n, latest.N, err)
	}
	return h, nil
}

// hashReader reads hashes of tree, from tiles it checks against tree's
// root (x/mod's TileHashReader).
func (c *Client) hashReader(ctx context.Context, tree tlog.Tree) tlog.HashReader {
	return tlog.TileHashReader(tree, &clientTiles{c: c, ctx: ctx})
}

// maxCachedTiles bounds the client's cache of verified hash tiles.
const maxCachedTiles = 4096

type clientTiles struct {
	c   *Client
	ctx context.Context
}

func (r *clientTiles) Height() int { return TileHeight }

func (r *clientTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	var missing []tlog.Tile
	var where []int
	r.c.cacheMu.Lock()
	for i, t := range tiles {
		if d, ok := r.c.tiles[t]; ok {
			out[i] = d
		} else {
			missing = append(missing, t)
			where = append(where, i)
		}
	}
	r.c.cacheMu.Unlock()
	if len(missing) == 0 {
		return out, nil
	}
	data, err := r.c.f.ReadTiles(r.ctx, missing)
	if err != nil {
		return nil, fmt.Errorf("fetching tiles: %w", err)
	}
	if len(data) != len(missing) {
		return nil, fmt.Errorf("fetching tiles: got %d for %d", len(data), len(missing))
	}
	for j, i := range where {
		if want := missing[j].W * tlog.HashSize; len(data[j]) != want {
			return nil, fmt.Errorf("%w: tile %s has %d bytes, want %d", ErrMalformed, TilePath(missing[j]), len(data[j]), want)
		}
		out[i] = data[j]
	}
	return out, nil
}

// SaveTiles keeps the tiles TileHashReader verified. They are verified
// again on every later read, so the cache saves fetching only.
func (r *clientTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	r.c.cacheMu.Lock()
	defer r.c.cacheMu.Unlock()
	if len(r.c.tiles)+len(tiles) > maxCachedTiles {
		clear(r.c.tiles)
	}
	for i, t := range tiles {
		r.c.tiles[t] = bytes.Clone(data[i])
	}
}
