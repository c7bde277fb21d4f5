package tlog

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// edge is the right edge of the tree of n entries: everything needed to
// extend it and to compute its root without reading the tree.
//
// rows[L] holds the hashes at tree level 8L of the rightmost tile of tile
// level L that is not full yet: positions ((n>>8L)>>8)<<8 up to
// (n>>8L)-1, from 0 to 255 hashes. bundle holds the entries of the
// rightmost entry bundle that is not full yet (bundleCount entries, from
// (n>>8)<<8 to n-1), encoded as in the bundle.
type edge struct {
	n           int64
	rows        [][]tlog.Hash
	bundle      []byte
	bundleCount int
}

// tileData is a tile to write: full hash tiles keep their hashes as well
// (for the Log's tile cache).
type tileData struct {
	t      tlog.Tile
	data   []byte
	hashes []tlog.Hash
}

// extend returns the edge after appending entries (each 1 to
// MaxEntrySize bytes, at least one) and the tiles to write: the entry
// bundles in ascending order, then the hash tiles.
//
// next shares e's rows and bundle instead of copying them (an Append of
// one entry would otherwise copy the whole edge): it appends past their
// lengths only, so e stays valid to read, but e must not be extended
// again. The Log extends only its newest edge, and reloads the edge from
// the storage after a failed Append.
func (e *edge) extend(entries [][]byte) (next *edge, bundles, hashTiles []tileData) {
	next = &edge{n: e.n + int64(len(entries)), rows: slices.Clone(e.rows), bundle: e.bundle, bundleCount: e.bundleCount}

	tn := e.n >> TileHeight
	b, count := next.bundle, next.bundleCount
	hashes := make([]tlog.Hash, len(entries))
	for i, en := range entries {
		hashes[i] = tlog.RecordHash(en)
		if i == 0 || count == 0 {
			// Grow the bundle once for the entries that go into it.
			need := 0
			for _, e := range entries[i:min(len(entries), i+tileWidth-count)] {
				need += 2 + len(e)
			}
			b = slices.Grow(b, need)
		}
		b = appendEntry(b, en)
		count++
		if count == tileWidth {
			bundles = append(bundles, tileData{t: tlog.Tile{H: TileHeight, L: -1, N: tn, W: tileWidth}, data: b})
			tn++
			b, count = nil, 0
		}
	}
	if count > 0 {
		bundles = append(bundles, tileData{t: tlog.Tile{H: TileHeight, L: -1, N: tn, W: count}, data: b})
	}
	next.bundle, next.bundleCount = b, count

	for L := 0; len(hashes) > 0; L++ {
		if L == len(next.rows) {
			next.rows = append(next.rows, nil)
		}
		row := next.rows[L]
		tn := (e.n >> (TileHeight * L)) >> TileHeight
		var parents []tlog.Hash
		for _, h := range hashes {
			row = append(row, h)
			if len(row) == tileWidth {
				hashTiles = append(hashTiles, hashTile(tlog.Tile{H: TileHeight, L: L, N: tn, W: tileWidth}, row))
				parents = append(parents, merkleRoot(row))
				tn++
				row = make([]tlog.Hash, 0, tileWidth)
			}
		}
		if len(row) > 0 {
			hashTiles = append(hashTiles, hashTile(tlog.Tile{H: TileHeight, L: L, N: tn, W: len(row)}, row))
		}
		next.rows[L] = row
		hashes = parents
	}
	return next, bundles, hashTiles
}

// hashTile is the tile t of hashes. A full tile keeps hashes itself: a
// full row is never appended to again.
func hashTile(t tlog.Tile, hashes []tlog.Hash) tileData {
	data := make([]byte, 0, len(hashes)*tlog.HashSize)
	for _, h := range hashes {
		data = append(data, h[:]...)
	}
	td := tileData{t: t, data: data}
	if t.W == tileWidth {
		td.hashes = hashes
	}
	return td
}

// merkleRoot is the root of a complete subtree whose leaves (at any level)
// are hs; len(hs) is a power of two.
func merkleRoot(hs []tlog.Hash) tlog.Hash {
	if len(hs) == 1 {
		return hs[0]
	}
	m := len(hs) / 2
	return tlog.NodeHash(merkleRoot(hs[:m]), merkleRoot(hs[m:]))
}

// treeHash is the root of the tree of e.n entries (RFC 6962): the right
// fold of the complete subtrees the tree splits into, largest first. The
// subtrees at levels 8L to 8L+7 are the power-of-two runs of rows[L].
func (e *edge) treeHash() tlog.Hash {
	if e.n == 0 {
		return emptyTreeHash
	}
	var nodes []tlog.Hash
	for L := len(e.rows) - 1; L >= 0; L-- {
		row := e.rows[L]
		for len(row) > 0 {
			k := 1
			for k*2 <= len(row) {
				k *= 2
			}
			nodes = append(nodes, merkleRoot(row[:k]))
			row = row[k:]
		}
	}
	h := nodes[len(nodes)-1]
	for i := len(nodes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(nodes[i], h)
	}
	return h
}

// tileCache keeps full hash tiles (which never change) recently written or
// read, so that witness proofs rarely read the storage.
type tileCache struct {
	mu    sync.Mutex
	max   int
	tiles map[[2]int64][]tlog.Hash
	order [][2]int64
}

func newTileCache(max int) *tileCache {
	return &tileCache{max: max, tiles: map[[2]int64][]tlog.Hash{}}
}

func (c *tileCache) get(L int, n int64) []tlog.Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tiles[[2]int64{int64(L), n}]
}

func (c *tileCache) put(L int, n int64, hs []tlog.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := [2]int64{int64(L), n}
	if _, ok := c.tiles[k]; ok {
		return
	}
	c.tiles[k] = hs
	c.order = append(c.order, k)
	for len(c.order) > c.max {
		delete(c.tiles, c.order[0])
		c.order = c.order[1:]
	}
}

// edgeReader is a tlog.HashReader over the tree of e.n entries: the edge's
// rows, then full tiles from the cache, then from the storage (which the
// log wrote itself).
type edgeReader struct {
	ctx   context.Context
	e     *edge
	cache *tileCache
	st    Storage
}

func (r edgeReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, err := r.hash(x)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

func (r edgeReader) hash(x int64) (tlog.Hash, error) {
	if x < 0 {
		return tlog.Hash{}, fmt.Errorf("tlog: stored hash index %d", x)
	}
	level, k := tlog.SplitStoredHashIndex(x)
	L := level / TileHeight
	sub := level - L*TileHeight
	lo, hi := k<<sub, (k+1)<<sub // positions at level 8L
	if hi > r.e.n>>(TileHeight*L) {
		return tlog.Hash{}, fmt.Errorf("tlog: hash %d/%d is not in the tree of size %d", level, k, r.e.n)
	}
	tn := lo >> TileHeight
	off := tn << TileHeight
	var hs []tlog.Hash
	if edgeTile := (r.e.n >> (TileHeight * L)) >> TileHeight; tn == edgeTile {
		hs = r.e.rows[L]
	} else if hs = r.cache.get(L, tn); hs == nil {
		t := tlog.Tile{H: TileHeight, L: L, N: tn, W: tileWidth}
		data, err := r.st.Tile(r.ctx, TilePath(t))
		if err != nil {
			return tlog.Hash{}, fmt.Errorf("tlog: reading tile %s: %w", TilePath(t), err)
		}
		if len(data) != tileWidth*tlog.HashSize {
			return tlog.Hash{}, fmt.Errorf("%w: stored tile %s has %d bytes", ErrMalformed, TilePath(t), len(data))
		}
		hs = make([]tlog.Hash, tileWidth)
		for j := range hs {
			copy(hs[j][:], data[j*tlog.HashSize:])
		}
		r.cache.put(L, tn, hs)
	}
	if int(hi-off) > len(hs) {
		return tlog.Hash{}, fmt.Errorf("tlog: hash %d/%d is past the edge tile", level, k)
	}
	return merkleRoot(hs[lo-off : hi-off]), nil
}
