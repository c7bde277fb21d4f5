package blob

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
)

// Compaction frees the space of deleted objects. A sealed pack whose live
// records fill at most half of it is evacuated: its live records are
// copied to the head pack (committed like new Puts), the delete
// records that are still needed likewise, and the pack is removed. With
// retention deleting the oldest objects first, most packs die whole and
// are removed without copying anything.
//
// Copying a live record to the head keeps replay correct: a live record
// is the last record of its key, and stays the last. A delete record is
// needed only while an older pack still holds a dead copy of its key and
// the key has no entry (a later Put of the key supersedes everything
// before it): Dir.ghosts records which packs hold dead copies of which
// keys.

// addGhost records that pack id holds a dead copy of key. d.mu is held.
func (d *Dir) addGhost(key string, id uint64) {
	if !slices.Contains(d.ghosts[key], id) {
		d.ghosts[key] = append(d.ghosts[key], id)
	}
}

// dropGhost forgets pack id's dead copy of key. d.mu is held.
func (d *Dir) dropGhost(key string, id uint64) {
	g := slices.DeleteFunc(d.ghosts[key], func(x uint64) bool { return x == id })
	if len(g) == 0 {
		delete(d.ghosts, key)
	} else {
		d.ghosts[key] = g
	}
}

// ghostBefore reports whether a pack older than id holds a dead copy of
// key. d.mu is held.
func (d *Dir) ghostBefore(key string, id uint64) bool {
	for _, g := range d.ghosts[key] {
		if g < id {
			return true
		}
	}
	return false
}

func (d *Dir) kickMaintenance() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// maintain writes the sidecar indexes of sealed packs and compacts,
// whenever kicked, until Close.
func (d *Dir) maintain(ctx context.Context) {
	defer close(d.maintDone)
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
		}
		d.writeSidecars(ctx)
		if err := d.compact(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("blob: compaction", "err", err)
		}
	}
}

// writeSidecars writes the sidecar index of each sealed pack that lacks
// one.
func (d *Dir) writeSidecars(ctx context.Context) {
	d.mu.Lock()
	var todo []*pack
	for _, p := range d.packs {
		if p.sealed && !p.indexed {
			todo = append(todo, p)
		}
	}
	d.mu.Unlock()
	for _, p := range todo {
		if ctx.Err() != nil {
			return
		}
		var recs []record
		end, err := scanPack(p.f, p.size, false, func(r record) { recs = append(recs, r) })
		if err == nil && end != p.size {
			err = fmt.Errorf("records end at %d, not %d", end, p.size)
		}
		if err == nil {
			err = d.writeSidecar(p, recs)
		}
		if err != nil {
			d.log.Warn("blob: writing a pack's index; it is read from the pack meanwhile", "pack", packName(p.id), "err", err)
		}
	}
}

// writeSidecar stores the sidecar index of sealed pack p.
func (d *Dir) writeSidecar(p *pack, recs []record) error {
	tmp := packsDir + "/" + tempPrefix + strconv.FormatUint(rand.Uint64(), 36)
	f, err := d.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(encodeSidecar(p.id, p.size, recs))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// No directory sync: a sidecar lost in a crash is rebuilt.
		err = d.root.Rename(tmp, idxName(p.id))
	}
	if err != nil {
		d.root.Remove(tmp)
		return err
	}
	d.mu.Lock()
	p.indexed = true
	d.mu.Unlock()
	return nil
}

// records returns the records of sealed pack p, from its sidecar index
// if it has a good one, else from the pack.
func (d *Dir) records(p *pack) ([]record, error) {
	if b, err := d.readFile(idxName(p.id)); err == nil {
		if recs, err := decodeSidecar(b, p.id, p.size); err == nil {
			return recs, nil
		}
	}
	var recs []record
	end, err := scanPack(p.f, p.size, false, func(r record) { recs = append(recs, r) })
	if err == nil && end != p.size {
		err = fmt.Errorf("records end at %d, not %d", end, p.size)
	}
	return recs, err
}

func (d *Dir) readFile(name string) ([]byte, error) {
	f, err := d.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > 1<<30 {
		return nil, fmt.Errorf("%s is not a regular file of a sane size", name)
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, err
	}
	return b, nil
}

// Compact runs one round of compaction now and returns when it is done.
// Compaction also runs by itself, in the background, after pack writes
// and deletes: calling Compact is never needed for space to be freed
// eventually.
func (d *Dir) Compact(ctx context.Context) error {
	if err := d.enter(); err != nil {
		return fmt.Errorf("blob: compact: %w", err)
	}
	defer d.inflight.Done()
	d.writeSidecars(ctx)
	if err := d.compact(ctx); err != nil {
		return fmt.Errorf("blob: compact: %w", err)
	}
	return nil
}

// compact evacuates every sealed pack whose live records fill at most
// half of it.
func (d *Dir) compact(ctx context.Context) error {
	d.compactMu.Lock()
	defer d.compactMu.Unlock()
	d.mu.Lock()
	var todo []*pack
	for _, p := range d.packs {
		if p.sealed && !p.gone && p.live*2 <= p.size-packHeaderLen {
			todo = append(todo, p)
		}
	}
	d.mu.Unlock()
	// The emptiest first: they free the most for the least copying.
	slices.SortFunc(todo, func(a, b *pack) int {
		if a.live != b.live {
			return int(a.live - b.live)
		}
		return int(a.id - b.id)
	})
	var errs []error
	for _, p := range todo {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := d.evacuate(ctx, p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", packName(p.id), err))
		}
	}
	return errors.Join(errs...)
}

// evacuate copies what is still needed in sealed pack p to the head and
// removes p.
func (d *Dir) evacuate(ctx context.Context, p *pack) error {
	recs, err := d.records(p)
	if err != nil {
		return err
	}
	var pending []*op
	var pendingBytes int
	flush := func() error {
		var err error
		for _, o := range pending {
			<-o.done
			if err == nil {
				err = o.err
			}
		}
		pending, pendingBytes = pending[:0], 0
		return err
	}
	queue := func(o *op) error {
		o.async = true
		if d.submit(o) {
			d.lead()
		}
		pending = append(pending, o)
		pendingBytes += len(o.rec)
		if pendingBytes >= maxBatch/2 {
			return flush()
		}
		return nil
	}
	var moved, kept int
	for i := range recs {
		r := &recs[i]
		if err := ctx.Err(); err != nil {
			flush()
			return err
		}
		d.mu.Lock()
		e := d.ix.get(r.key)
		var o *op
		switch r.kind {
		case kindPut:
			if e != nil && e.state == stateLive && e.pack == p && e.off == r.off {
				o = &op{kind: opMove, key: r.key, from: p, fromOff: r.off}
			}
		case kindDelete:
			if e == nil && d.ghostBefore(r.key, p.id) {
				o = &op{kind: opKeep, key: r.key, rec: tombstone(r.key)}
			}
		}
		d.mu.Unlock()
		if o == nil {
			continue
		}
		if o.kind == opMove {
			if o.rec, err = readRecord(p, r); err != nil {
				flush()
				return err
			}
			moved++
		} else {
			kept++
		}
		if err := queue(o); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}

	d.mu.Lock()
	if p.live > 0 {
		// A record was not moved because its Delete was under way: the
		// next round removes the pack.
		d.mu.Unlock()
		return nil
	}
	delete(d.packs, p.id)
	p.gone = true
	d.closeIfUnused(p)
	d.mu.Unlock()
	err = d.root.Remove(packName(p.id))
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		err = d.syncDir(packsDir)
	}
	if rerr := d.root.Remove(idxName(p.id)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
		err = rerr
	}
	if err != nil {
		// The pack may still be on disk: keep its dead copies known, so
		// that the delete records they need stay. Opening again finds it
		// dead and removes it.
		return err
	}
	d.mu.Lock()
	for i := range recs {
		if recs[i].kind == kindPut {
			d.dropGhost(recs[i].key, p.id)
		}
	}
	d.mu.Unlock()
	d.log.Debug("blob: compacted a pack", "pack", packName(p.id), "moved", moved, "kept_deletes", kept, "freed_bytes", p.size)
	return nil
}

// readRecord reads the whole record r of p, checking its data.
func readRecord(p *pack, r *record) ([]byte, error) {
	b := make([]byte, r.len())
	if _, err := p.f.ReadAt(b, r.off); err != nil {
		return nil, err
	}
	h, err := parseHeader(b, r.off)
	if err != nil {
		return nil, err
	}
	if h.key != r.key || h.size != r.size || crc32.Checksum(b[recHeaderLen+len(r.key):], castagnoli) != h.crc {
		return nil, fmt.Errorf("%w at offset %d: the record of %s does not match its checksum", errBadRecord, r.off, r.key)
	}
	return b, nil
}

// closeIfUnused closes p's file once p is gone and no Object reads it.
// d.mu is held.
func (d *Dir) closeIfUnused(p *pack) {
	if p.gone && p.refs == 0 && p.f != nil {
		p.f.Close()
		p.f = nil
	}
}

// release ends an Object's use of p.
func (d *Dir) release(p *pack) {
	d.mu.Lock()
	p.refs--
	d.closeIfUnused(p)
	d.mu.Unlock()
}
