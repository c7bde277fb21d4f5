package tlog_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"vigil/internal/blob"
	"vigil/internal/tlog"
	"vigil/internal/tlog/tlogtest"
)

func TestMemoryStorage(t *testing.T) {
	tlogtest.RunStorage(t, func(t *testing.T) tlog.Storage { return tlog.NewMemoryStorage() })
}

func openBlobStorage(t *testing.T, dir string) (*tlog.BlobStorage, *blob.Dir) {
	t.Helper()
	d, err := blob.OpenDir(dir, blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return tlog.NewBlobStorage(d, "tlog"), d
}

func TestBlobStorage(t *testing.T) {
	tlogtest.RunStorage(t, func(t *testing.T) tlog.Storage {
		s, _ := openBlobStorage(t, t.TempDir())
		return s
	})
}

// The blob layout: tiles at their paths under the prefix, checkpoints as
// versioned objects of which only the newest is kept once it is durable,
// and everything there after the store is reopened.
func TestBlobStorageLayout(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := blob.OpenDir(dir, blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := tlog.NewBlobStorage(d, "tlog")
	if err := s.PutTile(ctx, "tile/0/x001/234.p/5", []byte("hashes")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stat(ctx, "tlog/tile/0/x001/234.p/5"); err != nil {
		t.Errorf("tile not at prefix/path in the blob store: %v", err)
	}
	var prev []byte
	for i, cp := range [][]byte{[]byte("one\n"), []byte("two\n"), []byte("three\n")} {
		if err := s.SwapCheckpoint(ctx, prev, cp); err != nil {
			t.Fatalf("swap %d: %v", i, err)
		}
		prev = cp
	}
	keys, err := d.List(ctx, "tlog/checkpoint/")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != "tlog/checkpoint/00000000000000000003" {
		t.Errorf("checkpoint objects = %q, want only version 3", keys)
	}
	// A crash between storing a version and pruning the older ones leaves
	// two: the newest wins.
	if _, _, err := d.Put(ctx, "tlog/checkpoint/00000000000000000002", bytesReader("two\n"), 4); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Checkpoint(ctx); err != nil || string(got) != "three\n" {
		t.Errorf("Checkpoint with an older version left behind = %q, %v", got, err)
	}
	// A version a stale writer raced in under the next number is refused
	// by the store (other bytes under the same key), and the swap with it.
	if _, _, err := d.Put(ctx, "tlog/checkpoint/00000000000000000004", bytesReader("four\n"), 5); err != nil {
		t.Fatal(err)
	}
	if err := s.SwapCheckpoint(ctx, []byte("three\n"), []byte("mine\n")); !errors.Is(err, tlog.ErrConflict) {
		t.Errorf("swap from a checkpoint another writer replaced: %v, want ErrConflict", err)
	}
	d.Close()

	s2, _ := openBlobStorage(t, dir)
	if got, err := s2.Checkpoint(ctx); err != nil || string(got) != "four\n" {
		t.Errorf("after reopening, Checkpoint = %q, %v", got, err)
	}
	if got, err := s2.Tile(ctx, "tile/0/x001/234.p/5"); err != nil || string(got) != "hashes" {
		t.Errorf("after reopening, Tile = %q, %v", got, err)
	}
}

// openCounter counts the objects opened in a blob.Store.
type openCounter struct {
	blob.Store
	opens atomic.Int64
}

func (c *openCounter) Open(ctx context.Context, key string) (blob.Object, error) {
	c.opens.Add(1)
	return c.Store.Open(ctx, key)
}

// A swap from the checkpoint the BlobStorage stored last (every Append)
// does not read it back; a swap from any other is checked against the
// stored one.
func TestBlobStorageSwapFromItsOwn(t *testing.T) {
	ctx := context.Background()
	d, err := blob.OpenDir(t.TempDir(), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c := &openCounter{Store: d}
	s := tlog.NewBlobStorage(c, "tlog")
	a, b := []byte("a\n"), []byte("b\n")
	if err := s.SwapCheckpoint(ctx, nil, a); err != nil {
		t.Fatal(err)
	}
	c.opens.Store(0)
	if err := s.SwapCheckpoint(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	if n := c.opens.Load(); n != 0 {
		t.Errorf("a swap from the checkpoint it stored opened %d objects, want 0", n)
	}
	if err := s.SwapCheckpoint(ctx, a, []byte("c\n")); !errors.Is(err, tlog.ErrConflict) {
		t.Errorf("a swap from a replaced checkpoint: %v, want ErrConflict", err)
	}
	if c.opens.Load() == 0 {
		t.Errorf("a swap from another checkpoint than its own did not read the stored one")
	}
	if got, err := s.Checkpoint(ctx); err != nil || string(got) != "b\n" {
		t.Errorf("Checkpoint = %q, %v; want b", got, err)
	}
}
