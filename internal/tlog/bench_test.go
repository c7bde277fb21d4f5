package tlog_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	sumtlog "golang.org/x/mod/sumdb/tlog"

	"vigil/internal/tlog"
)

func benchEntries(from, n int) [][]byte {
	es := make([][]byte, n)
	for i := range es {
		e := make([]byte, 200)
		binary.BigEndian.PutUint64(e, uint64(from+i))
		es[i] = e
	}
	return es
}

// BenchmarkAppend: one Append of a batch on MemoryStorage with one
// witness (the integration's own cost, no disk).
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			tl := openLog(b, tlog.NewMemoryStorage(), 1)
			es := benchEntries(0, batch)
			b.SetBytes(int64(200 * batch))
			b.ResetTimer()
			for b.Loop() {
				if _, err := tl.Append(context.Background(), es); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// benchLog is a log of n entries and a client that verified it.
func benchLog(b *testing.B, n int) (*tlog.Client, *tlog.MemoryStorage, tlog.Checkpoint) {
	b.Helper()
	st := tlog.NewMemoryStorage()
	tl := openLog(b, st, 0)
	for i := 0; i < n; i += 1 << 16 {
		if _, err := tl.Append(context.Background(), benchEntries(i, min(1<<16, n-i))); err != nil {
			b.Fatal(err)
		}
	}
	c, err := tlog.NewClient(tl.policy(b, 0), tlog.StorageFetcher{Storage: st}, nil)
	if err != nil {
		b.Fatal(err)
	}
	cp, err := c.Update(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return c, st, cp
}

// BenchmarkProveEntry: a client proves one entry of a log of 10^6 (tiles
// cached after the first).
func BenchmarkProveEntry(b *testing.B) {
	c, _, cp := benchLog(b, 1_000_000)
	ctx := context.Background()
	idx := cp.N/2 + 17
	e := benchEntries(int(idx), 1)[0]
	b.ResetTimer()
	for b.Loop() {
		if err := c.ProveEntry(ctx, idx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckProofs: verifying an inclusion and a consistency proof in
// a log of 10^6 (the hashing only).
func BenchmarkCheckProofs(b *testing.B) {
	_, st, cp := benchLog(b, 1_000_000)
	hr := sumtlog.TileHashReader(cp.Tree(), tileReader{st})
	idx := cp.N/2 + 17
	leaf := sumtlog.RecordHash(benchEntries(int(idx), 1)[0])
	incl, err := sumtlog.ProveRecord(cp.N, idx, hr)
	if err != nil {
		b.Fatal(err)
	}
	from := cp.N / 3
	oldRoot, err := sumtlog.TreeHash(from, hr)
	if err != nil {
		b.Fatal(err)
	}
	cons, err := sumtlog.ProveTree(cp.N, from, hr)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("inclusion", func(b *testing.B) {
		for b.Loop() {
			if err := sumtlog.CheckRecord(incl, cp.N, cp.Hash, idx, leaf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("consistency", func(b *testing.B) {
		for b.Loop() {
			if err := sumtlog.CheckTree(cons, cp.N, cp.Hash, from, oldRoot); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type tileReader struct{ st tlog.Storage }

func (r tileReader) Height() int { return tlog.TileHeight }
func (r tileReader) ReadTiles(tiles []sumtlog.Tile) ([][]byte, error) {
	return tlog.StorageFetcher{Storage: r.st}.ReadTiles(context.Background(), tiles)
}
func (r tileReader) SaveTiles([]sumtlog.Tile, [][]byte) {}
