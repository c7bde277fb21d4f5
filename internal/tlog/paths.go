package tlog

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// The C2SP paths are x/mod's tile paths (go.dev/design/25530-sumdb) with
// "tile/8/" replaced by "tile/" and "tile/8/data/" by "tile/entries/", as
// torchwood.TilePath does. torchwood itself is not imported here: its
// root package reaches for net/http, which this package must not.

// TileHeight is the height of every tile of the log (C2SP tlog-tiles).
const TileHeight = 8

// tileWidth is the number of hashes (or entries) in a full tile.
const tileWidth = 1 << TileHeight

// MaxEntrySize is the largest entry the log takes (an entry bundle stores
// each entry's length in two bytes).
const MaxEntrySize = 0xFFFF

// maxTreeSize bounds the tree sizes this package accepts from a
// checkpoint. x/mod's stored-hash index arithmetic overflows int64 near
// 2^62; no log here comes anywhere near 2^48 entries.
const maxTreeSize = 1 << 48

// TilePath returns the C2SP tlog-tiles path of t relative to the log
// ("tile/0/x001/234", "tile/entries/000.p/5"). t.H must be TileHeight and
// t.L at least -1 (entry bundles).
func TilePath(t tlog.Tile) string {
	t.H = TileHeight
	if t.L == -1 {
		return "tile/entries/" + strings.TrimPrefix(t.Path(), "tile/8/data/")
	}
	return "tile/" + strings.TrimPrefix(t.Path(), "tile/8/")
}

// ParseTilePath parses a C2SP tlog-tiles path relative to the log. Only
// the canonical form of a tile of height 8 is accepted (the one TilePath
// gives), so that one tile has exactly one path.
func ParseTilePath(path string) (tlog.Tile, error) {
	if len(path) > 256 {
		return tlog.Tile{}, fmt.Errorf("%w: tile path too long", ErrMalformed)
	}
	var t tlog.Tile
	var err error
	switch {
	case strings.HasPrefix(path, "tile/entries/"):
		t, err = tlog.ParseTilePath("tile/8/data/" + strings.TrimPrefix(path, "tile/entries/"))
	case strings.HasPrefix(path, "tile/"):
		t, err = tlog.ParseTilePath("tile/8/" + strings.TrimPrefix(path, "tile/"))
	default:
		err = fmt.Errorf("not under tile/")
	}
	if err != nil || t.H != TileHeight || t.L < -1 || t.L > 63 || t.N < 0 || t.W < 1 || t.W > tileWidth {
		return tlog.Tile{}, fmt.Errorf("%w: tile path %q", ErrMalformed, path)
	}
	if TilePath(t) != path {
		return tlog.Tile{}, fmt.Errorf("%w: tile path %q is not canonical", ErrMalformed, path)
	}
	return t, nil
}

// ParseEntryBundle splits an entry bundle (each entry as a 2-byte
// big-endian length and its bytes) into exactly count entries. Extra
// bytes, a short bundle, an empty entry or a count outside 1..256 are
// ErrMalformed. The entries alias bundle.
func ParseEntryBundle(bundle []byte, count int) ([][]byte, error) {
	if count < 1 || count > tileWidth {
		return nil, fmt.Errorf("%w: entry bundle of %d entries (want 1 to %d)", ErrMalformed, count, tileWidth)
	}
	entries := make([][]byte, 0, count)
	rest := bundle
	for len(entries) < count {
		e, r, err := readEntry(rest)
		if err != nil {
			return nil, fmt.Errorf("%w: entry bundle: entry %d: %v", ErrMalformed, len(entries), err)
		}
		if len(e) == 0 {
			return nil, fmt.Errorf("%w: entry bundle: entry %d is empty", ErrMalformed, len(entries))
		}
		entries = append(entries, e[:len(e):len(e)])
		rest = r
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: entry bundle has %d bytes after its %d entries", ErrMalformed, len(rest), count)
	}
	return entries, nil
}

// bundlePrefixLen returns the length of the first count entries of bundle
// (for a full bundle served in place of a partial one).
func bundlePrefixLen(bundle []byte, count int) (int, error) {
	rest := bundle
	for i := 0; i < count; i++ {
		e, r, err := readEntry(rest)
		if err != nil {
			return 0, fmt.Errorf("%w: entry bundle: entry %d: %v", ErrMalformed, i, err)
		}
		if len(e) == 0 {
			return 0, fmt.Errorf("%w: entry bundle: entry %d is empty", ErrMalformed, i)
		}
		rest = r
	}
	return len(bundle) - len(rest), nil
}

// TruncateTile cuts data, the bytes of a full tile (hash tile or entry
// bundle), down to the partial tile t (t.W entries or hashes). C2SP
// tlog-tiles lets a log serve only full tiles; a client that asked for a
// partial one and got 404 reads the full one and truncates it.
func TruncateTile(t tlog.Tile, full []byte) ([]byte, error) {
	if t.W < 1 || t.W > tileWidth {
		return nil, fmt.Errorf("%w: tile width %d", ErrMalformed, t.W)
	}
	if t.L >= 0 {
		if len(full) != tileWidth*tlog.HashSize {
			return nil, fmt.Errorf("%w: full hash tile of %d bytes", ErrMalformed, len(full))
		}
		return full[:t.W*tlog.HashSize], nil
	}
	n, err := bundlePrefixLen(full, t.W)
	if err != nil {
		return nil, err
	}
	return full[:n], nil
}

// readEntry reads the next entry of an entry bundle (a 2-byte big-endian
// length and the entry) and returns the rest.
func readEntry(b []byte) (entry, rest []byte, err error) {
	if len(b) < 2 {
		return nil, nil, fmt.Errorf("%d bytes left, too few for a length", len(b))
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b)-2 < n {
		return nil, nil, fmt.Errorf("entry of %d bytes with %d left", n, len(b)-2)
	}
	return b[2 : 2+n], b[2+n:], nil
}

// appendEntry appends entry (at most MaxEntrySize bytes, checked before
// integration) to an entry bundle.
func appendEntry(bundle, entry []byte) []byte {
	bundle = binary.BigEndian.AppendUint16(bundle, uint16(len(entry)))
	return append(bundle, entry...)
}
