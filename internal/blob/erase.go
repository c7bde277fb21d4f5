package blob

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
)

// Eraser is a Store that can also erase an object: delete it and leave no
// byte of it behind in its own files (a deleted object may otherwise stay
// on disk until space is reclaimed). What must be gone for good — a clip
// whose donor revoked its consent — is erased where the Store can.
type Eraser interface {
	// Erase deletes key as Delete does, then overwrites every copy of its
	// bytes the Store still holds. Erasing a missing key is not an error.
	Erase(ctx context.Context, key string) error
}

var _ Eraser = (*Dir)(nil)

// Erase implements Eraser. A deleted object's record stays in its pack
// until compaction removes the pack; Erase overwrites the data of every
// record of key in the packs with zeros, rewrites the record's header to
// match (so the pack still verifies when opened) and fsyncs the pack. An
// object in a file of its own is removed by Delete. Blocks the file system
// freed are beyond its reach.
func (d *Dir) Erase(ctx context.Context, key string) error {
	if !ValidKey(key) {
		return invalidKey(key)
	}
	if err := d.Delete(ctx, key); err != nil {
		return err
	}
	type target struct {
		p    *pack
		size int64
	}
	var targets []target
	d.mu.Lock()
	if err := d.usable(); err != nil {
		d.mu.Unlock()
		return fmt.Errorf("blob: erase %s: %w", key, err)
	}
	for _, id := range d.ghosts[key] {
		if p := d.packs[id]; p != nil && !p.gone && p.f != nil {
			p.refs++
			targets = append(targets, target{p, p.size})
		}
	}
	d.mu.Unlock()
	var errs []error
	for _, t := range targets {
		if err := eraseIn(t.p, t.size, key); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", packName(t.p.id), err))
		}
		d.release(t.p)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("blob: erase %s: %w", key, err)
	}
	return nil
}

// eraseIn overwrites the data of p's put records of key, among its first
// size bytes, and syncs p. The records are dead (their key was deleted),
// so no reader of the Dir's index reads them again.
func eraseIn(p *pack, size int64, key string) error {
	var recs []record
	if _, err := scanPack(p.f, size, false, func(r record) {
		if r.kind == kindPut && r.key == key {
			recs = append(recs, r)
		}
	}); err != nil {
		return err
	}
	for _, r := range recs {
		zeros := make([]byte, r.size)
		if _, err := p.f.WriteAt(zeros, r.dataOff()); err != nil {
			return err
		}
		hdr := make([]byte, recHeaderLen+len(key))
		putHeader(hdr, kindPut, key, r.size, nil, crc32.Checksum(zeros, castagnoli))
		if _, err := p.f.WriteAt(hdr, r.off); err != nil {
			return err
		}
	}
	if len(recs) == 0 {
		return nil
	}
	return p.f.Sync()
}
