package tlog

import (
	"bytes"
	"context"
	"fmt"
	"sync"
)

// Storage holds one log's tiles and its checkpoint. Implementations are
// safe for concurrent use; every implementation passes tlogtest.RunStorage.
//
// A Storage never interprets what it holds beyond what its contract says;
// everything it returns is checked by the Log (against the checkpoint the
// Log signed) before it is relied on.
type Storage interface {
	// PutTile stores data under a C2SP tlog-tiles path relative to the
	// log ("tile/0/x001/234", "tile/entries/000.p/5"; see TilePath), which
	// must be canonical (ParseTilePath accepts it) or the call fails with
	// ErrMalformed. Tiles are immutable: the same bytes again succeed,
	// other bytes give ErrConflict and leave the stored ones. Durable on
	// return.
	PutTile(ctx context.Context, path string, data []byte) error
	// Tile returns the bytes stored at path, ErrNotFound when absent.
	Tile(ctx context.Context, path string) ([]byte, error)
	// Checkpoint returns the newest stored checkpoint (a signed note with
	// any cosignatures), ErrNotFound before the first.
	Checkpoint(ctx context.Context) ([]byte, error)
	// SwapCheckpoint stores next if the stored checkpoint is byte for byte
	// old (nil: none stored yet), else returns ErrConflict and changes
	// nothing. next is a checkpoint note (never empty). Durable on return.
	SwapCheckpoint(ctx context.Context, old, next []byte) error
}

// Operation names given to MemoryStorage.Fail.
const (
	OpPutTile        = "PutTile"
	OpTile           = "Tile"
	OpCheckpoint     = "Checkpoint"
	OpSwapCheckpoint = "SwapCheckpoint"
)

// MemoryStorage is a Storage in memory, for tests.
type MemoryStorage struct {
	// Fail, when set, is called before every operation with its name (one
	// of the Op constants) and path ("checkpoint" for the checkpoint
	// operations). An error it returns fails the operation, which then
	// changes nothing. Set it before the storage is shared; the function
	// itself must be safe for concurrent calls.
	Fail func(op, path string) error

	mu    sync.Mutex
	tiles map[string][]byte
	cp    []byte
}

var _ Storage = (*MemoryStorage)(nil)

// NewMemoryStorage returns an empty MemoryStorage.
func NewMemoryStorage() *MemoryStorage {
	return &MemoryStorage{tiles: map[string][]byte{}}
}

func (m *MemoryStorage) fail(op, path string) error {
	if m.Fail == nil {
		return nil
	}
	return m.Fail(op, path)
}

// PutTile implements Storage.
func (m *MemoryStorage) PutTile(ctx context.Context, path string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := ParseTilePath(path); err != nil {
		return err
	}
	if len(data) == 0 {
		return fmt.Errorf("%w: empty tile %s", ErrMalformed, path)
	}
	if err := m.fail(OpPutTile, path); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if have, ok := m.tiles[path]; ok {
		if !bytes.Equal(have, data) {
			return fmt.Errorf("%w: other bytes already stored at %s", ErrConflict, path)
		}
		return nil
	}
	m.tiles[path] = bytes.Clone(data)
	return nil
}

// Tile implements Storage.
func (m *MemoryStorage) Tile(ctx context.Context, path string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := ParseTilePath(path); err != nil {
		return nil, err
	}
	if err := m.fail(OpTile, path); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.tiles[path]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	return bytes.Clone(data), nil
}

// Checkpoint implements Storage.
func (m *MemoryStorage) Checkpoint(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := m.fail(OpCheckpoint, "checkpoint"); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cp == nil {
		return nil, fmt.Errorf("%w: no checkpoint yet", ErrNotFound)
	}
	return bytes.Clone(m.cp), nil
}

// SwapCheckpoint implements Storage.
func (m *MemoryStorage) SwapCheckpoint(ctx context.Context, old, next []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(next) == 0 {
		return fmt.Errorf("%w: empty checkpoint", ErrMalformed)
	}
	if err := m.fail(OpSwapCheckpoint, "checkpoint"); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !sameCheckpoint(m.cp, old) {
		return fmt.Errorf("%w: the stored checkpoint is not the one the swap started from", ErrConflict)
	}
	m.cp = bytes.Clone(next)
	return nil
}

// sameCheckpoint reports whether the stored checkpoint have (empty: none)
// is old (empty: none).
func sameCheckpoint(have, old []byte) bool {
	if len(have) == 0 || len(old) == 0 {
		return len(have) == 0 && len(old) == 0
	}
	return bytes.Equal(have, old)
}
