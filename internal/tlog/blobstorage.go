package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"vigil/internal/blob"
)

// maxTileBytes bounds what a tile read from a blob store may hold: a full
// entry bundle of the largest entries.
const maxTileBytes = tileWidth * (2 + MaxEntrySize)

// maxCheckpointBytes bounds a stored or served checkpoint note.
const maxCheckpointBytes = 1 << 20

// BlobStorage is a Storage in a blob.Store under a key prefix:
//
//	<prefix>/tile/...                        the tiles, at their C2SP paths
//	<prefix>/checkpoint/<20-digit version>   the checkpoints, newest wins
//
// A blob.Store has no compare-and-swap, so every checkpoint is a new,
// immutable object whose name is the next version number. SwapCheckpoint
// reads the newest, compares it with old, writes version+1 (a blob.Store
// refuses other bytes under an existing key, so two writers racing for the
// same version cannot both win), checks that its version is still the
// newest, and only then deletes the older versions. A crash at any point
// leaves at least one checkpoint, and the newest one stored is always the
// current one.
//
// A mutex serialises SwapCheckpoint within the process. Run one writer per
// prefix: a second writer in another process is detected by the version
// check (it gets ErrConflict) as long as the store refuses a second Put
// with other bytes, which every blob.Store does.
//
// A swap from the checkpoint this BlobStorage stored last (the Log's
// every Append) does not read it back: its version is known, and a writer
// that replaced it meanwhile holds that version + 1 already (the Put is
// refused) or a newer one (the check after the Put sees it).
type BlobStorage struct {
	b      blob.Store
	prefix string

	mu    sync.Mutex // serialises SwapCheckpoint; guards last, lastV
	last  []byte     // the checkpoint this BlobStorage stored last (nil: unknown)
	lastV uint64     // its version
}

var _ Storage = (*BlobStorage)(nil)

// NewBlobStorage returns the Storage of the log kept in b under prefix
// (e.g. "tlog": a valid blob key, see blob.ValidKey).
func NewBlobStorage(b blob.Store, prefix string) *BlobStorage {
	return &BlobStorage{b: b, prefix: strings.TrimSuffix(prefix, "/")}
}

func (s *BlobStorage) cpDir() string { return s.prefix + "/checkpoint/" }

// PutTile implements Storage.
func (s *BlobStorage) PutTile(ctx context.Context, path string, data []byte) error {
	if _, err := ParseTilePath(path); err != nil {
		return err
	}
	if len(data) == 0 {
		return fmt.Errorf("%w: empty tile %s", ErrMalformed, path)
	}
	_, _, err := s.b.Put(ctx, s.prefix+"/"+path, bytes.NewReader(data), int64(len(data)))
	if errors.Is(err, blob.ErrConflict) {
		return fmt.Errorf("%w: other bytes already stored at %s", ErrConflict, path)
	}
	if err != nil {
		return fmt.Errorf("tlog: storing tile %s: %w", path, err)
	}
	return nil
}

// Tile implements Storage.
func (s *BlobStorage) Tile(ctx context.Context, path string) ([]byte, error) {
	if _, err := ParseTilePath(path); err != nil {
		return nil, err
	}
	return s.read(ctx, s.prefix+"/"+path, maxTileBytes)
}

func (s *BlobStorage) read(ctx context.Context, key string, limit int64) ([]byte, error) {
	o, err := s.b.Open(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("tlog: reading %s: %w", key, err)
	}
	defer o.Close()
	if o.Size() > limit {
		return nil, fmt.Errorf("%w: %s holds %d bytes, more than the %d a log object can have", ErrMalformed, key, o.Size(), limit)
	}
	data := make([]byte, o.Size())
	if _, err := io.ReadFull(o, data); err != nil {
		return nil, fmt.Errorf("tlog: reading %s: %w", key, err)
	}
	return data, nil
}

// versions returns the checkpoint versions stored, ascending, with their
// keys. Keys under the checkpoint directory that are not a version are
// ignored.
func (s *BlobStorage) versions(ctx context.Context) ([]uint64, []string, error) {
	keys, err := s.b.List(ctx, s.cpDir())
	if err != nil {
		return nil, nil, fmt.Errorf("tlog: listing checkpoints: %w", err)
	}
	var vs []uint64
	var ks []string
	for _, k := range keys {
		name := strings.TrimPrefix(k, s.cpDir())
		if len(name) != 20 {
			continue
		}
		v, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		vs = append(vs, v)
		ks = append(ks, k)
	}
	// Zero-padded names list in numeric order.
	return vs, ks, nil
}

// current returns the newest checkpoint and its version (nil, 0: none).
func (s *BlobStorage) current(ctx context.Context) ([]byte, uint64, error) {
	// A concurrent SwapCheckpoint may delete the version listed as newest
	// once a newer one is durable: list again.
	for range 5 {
		vs, ks, err := s.versions(ctx)
		if err != nil {
			return nil, 0, err
		}
		if len(vs) == 0 {
			return nil, 0, nil
		}
		data, err := s.read(ctx, ks[len(ks)-1], maxCheckpointBytes)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		return data, vs[len(vs)-1], nil
	}
	return nil, 0, fmt.Errorf("tlog: the newest checkpoint kept disappearing while being read (another writer on the same prefix?)")
}

// Checkpoint implements Storage.
func (s *BlobStorage) Checkpoint(ctx context.Context) ([]byte, error) {
	data, _, err := s.current(ctx)
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, fmt.Errorf("%w: no checkpoint yet", ErrNotFound)
	}
	return data, nil
}

// SwapCheckpoint implements Storage.
func (s *BlobStorage) SwapCheckpoint(ctx context.Context, old, next []byte) error {
	if len(next) == 0 {
		return fmt.Errorf("%w: empty checkpoint", ErrMalformed)
	}
	if len(next) > maxCheckpointBytes {
		return fmt.Errorf("%w: checkpoint of %d bytes", ErrMalformed, len(next))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.lastV
	if s.last == nil || !bytes.Equal(s.last, old) {
		have, cur, err := s.current(ctx)
		if err != nil {
			return err
		}
		if !sameCheckpoint(have, old) {
			return fmt.Errorf("%w: the stored checkpoint is not the one the swap started from", ErrConflict)
		}
		v = cur
	}
	s.last = nil // known again once this swap succeeds
	key := fmt.Sprintf("%s%020d", s.cpDir(), v+1)
	if _, _, err := s.b.Put(ctx, key, bytes.NewReader(next), int64(len(next))); errors.Is(err, blob.ErrConflict) {
		return fmt.Errorf("%w: another writer stored checkpoint version %d first", ErrConflict, v+1)
	} else if err != nil {
		return fmt.Errorf("tlog: storing checkpoint: %w", err)
	}
	vs, ks, err := s.versions(ctx)
	if err != nil {
		return err
	}
	if len(vs) == 0 || vs[len(vs)-1] != v+1 {
		// Another writer got further meanwhile: ours is not the current
		// checkpoint. Remove it so that it never becomes newest again.
		_ = s.b.Delete(ctx, key)
		return fmt.Errorf("%w: another writer stored a newer checkpoint meanwhile", ErrConflict)
	}
	// The new checkpoint is durable and newest: drop the older ones. A
	// failure here leaves old versions behind, which only cost space.
	for i, k := range ks {
		if vs[i] < v+1 {
			_ = s.b.Delete(ctx, k)
		}
	}
	s.last, s.lastV = bytes.Clone(next), v+1
	return nil
}
