package blob

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
)

// Records are committed by the callers that wait for them, not by a
// goroutine of the Dir's own: the first caller to find no commit under
// way leads. The leader takes every record waiting (up to maxBatch
// bytes), writes them one after another to the newest pack ("head"),
// fsyncs once and only then applies them to the index and tells their
// callers; then it hands the lead to the next caller waiting, or gives it
// up when none is. Concurrent Puts thus share an fsync, as a database's
// group commit does, and a Put that finds the disk idle commits its own
// record without a hand-off between goroutines (each costs a thread
// wake-up, which is most of what a small write costs on a virtual
// machine).

// Under load a leader first waits a little for company (Dir.delay, a
// fsutil.CommitDelay): at a few hundred Puts a second most would otherwise
// find the disk idle and pay for an fsync alone.

// maxBatch bounds the bytes of records one fsync covers.
const maxBatch = 32 << 20

type opKind uint8

const (
	opPut opKind = iota
	opDelete
	// opMove is compaction's copy of a live record into the head; it is
	// written only if key's entry is still live at (from, fromOff).
	opMove
	// opKeep is compaction's copy of a delete record that is still
	// needed; it is written only if key has no entry at all.
	opKeep
)

type op struct {
	kind    opKind
	key     string
	rec     []byte // the whole record
	from    *pack  // opMove
	fromOff int64  // opMove
	// async: the caller does not wait right away (compaction queues
	// many); the lead is never handed to it.
	async bool
	lead  chan struct{} // the lead passes to this op's caller

	// Set by the commit before done is closed.
	err     error
	skipped bool // opMove, opKeep: no longer wanted, not written
	pack    *pack
	off     int64
	done    chan struct{}
}

// writeQueue holds the records waiting to be committed.
type writeQueue struct {
	mu      sync.Mutex
	pending []*op
	leading bool // a caller is committing
}

// submit queues o and reports whether its caller must lead (no commit was
// under way).
func (d *Dir) submit(o *op) (lead bool) {
	o.done = make(chan struct{})
	if !o.async {
		o.lead = make(chan struct{}, 1)
	}
	q := &d.wq
	d.delay.Arrived()
	q.mu.Lock()
	q.pending = append(q.pending, o)
	lead = !q.leading
	q.leading = true
	q.mu.Unlock()
	return lead
}

// lead commits batches until the lead can pass to a caller waiting in
// send, or nothing waits.
func (d *Dir) lead() {
	q := &d.wq
	for {
		q.mu.Lock()
		waiting := len(q.pending)
		q.mu.Unlock()
		d.delay.Wait(waiting)

		q.mu.Lock()
		n, size := 0, 0
		for n < len(q.pending) && (n == 0 || size+len(q.pending[n].rec) <= maxBatch) {
			size += len(q.pending[n].rec)
			n++
		}
		batch := slices.Clone(q.pending[:n])
		q.pending = slices.Delete(q.pending, 0, n)
		q.mu.Unlock()

		d.commit(batch)

		q.mu.Lock()
		if len(q.pending) == 0 {
			q.leading = false
			q.mu.Unlock()
			return
		}
		if i := slices.IndexFunc(q.pending, func(o *op) bool { return !o.async }); i >= 0 {
			q.pending[i].lead <- struct{}{} // buffered: the caller is in send
			q.mu.Unlock()
			return
		}
		q.mu.Unlock() // only compaction's records wait: commit them too
	}
}

// commit writes batch to the head pack, fsyncs it and applies it.
func (d *Dir) commit(batch []*op) {
	d.mu.Lock()
	head, failed := d.head, d.failed
	off := head.size
	if failed == nil {
		for _, o := range batch {
			switch o.kind {
			case opMove:
				e := d.ix.get(o.key)
				o.skipped = e == nil || e.state != stateLive || e.pack != o.from || e.off != o.fromOff
			case opKeep:
				o.skipped = d.ix.get(o.key) != nil
			}
			if !o.skipped {
				o.pack, o.off = head, off
				off += int64(len(o.rec))
			}
		}
	}
	d.mu.Unlock()

	err := failed
	if err == nil {
		for _, o := range batch {
			if o.skipped {
				continue
			}
			if _, err = head.f.WriteAt(o.rec, o.off); err != nil {
				break
			}
		}
		if err == nil {
			err = head.f.Sync()
		}
		if err != nil {
			err = fmt.Errorf("writing %s: %w", packName(head.id), err)
		}
	}

	d.mu.Lock()
	if err != nil && d.failed == nil {
		// The pack's end is now unknown: no more writes until the
		// directory is opened again, whose recovery finds the end.
		d.failed = err
		d.log.Error("blob: a pack write failed; the store refuses writes until it is opened again", "err", err)
	}
	for _, o := range batch {
		o.err = err
		d.apply(o, err == nil)
	}
	if err == nil {
		head.size = off
	}
	roll := err == nil && head.size >= d.packSize
	d.mu.Unlock()
	for _, o := range batch {
		close(o.done)
	}
	if roll {
		d.roll(head)
	}
}

// apply makes an op's effect on the index, if it was written (ok), or
// undoes its marks. d.mu is held.
func (d *Dir) apply(o *op, ok bool) {
	if o.skipped {
		return
	}
	e := d.ix.get(o.key)
	switch o.kind {
	case opPut:
		if !ok {
			d.ix.remove(o.key)
			close(e.done)
			return
		}
		e.pack, e.off, e.state = o.pack, o.off, stateLive
		o.pack.live += int64(len(o.rec))
		close(e.done)
		e.done = nil
	case opDelete:
		if !ok {
			e.state = stateLive
			close(e.done)
			e.done = nil
			return
		}
		d.drop(o.key, e)
		d.ix.remove(o.key)
		close(e.done)
	case opMove:
		if !ok {
			return
		}
		d.drop(o.key, e)
		e.pack, e.off = o.pack, o.off
		o.pack.live += int64(len(o.rec))
	}
}

// drop accounts for e's record becoming dead: it no longer counts as live
// in its pack, and the pack is remembered as holding a dead copy of key
// (see ghosts). d.mu is held.
func (d *Dir) drop(key string, e *entry) {
	p := e.pack
	p.live -= recordLen(key, e.size)
	d.addGhost(key, p.id)
	if p.sealed && p.live*2 <= p.size-packHeaderLen {
		d.kickMaintenance()
	}
}

// roll seals head, once it is full, and starts the next pack.
func (d *Dir) roll(head *pack) {
	next, err := d.createPack(head.id + 1)
	if err != nil {
		// Not fatal: head takes the next records, and the next commit
		// tries again.
		d.log.Warn("blob: starting a new pack; the current one grows meanwhile", "err", err)
		return
	}
	d.mu.Lock()
	head.sealed = true
	d.head = next
	d.packs[next.id] = next
	d.mu.Unlock()
	d.kickMaintenance()
}

// createPack creates pack id, empty, durably.
func (d *Dir) createPack(id uint64) (*pack, error) {
	name := packName(id)
	f, err := d.root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	p := &pack{id: id, f: f, size: packHeaderLen}
	if _, err = f.WriteAt(packHeader(id), 0); err == nil {
		if err = f.Sync(); err == nil {
			err = d.syncDir(packsDir)
		}
	}
	if err != nil {
		f.Close()
		if rerr := d.root.Remove(name); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			d.log.Warn("blob: removing a pack that could not be created", "pack", name, "err", rerr)
		}
		return nil, err
	}
	return p, nil
}

// send queues o and waits until it is written (or skipped, or failed),
// committing batches whenever the lead comes to it.
func (d *Dir) send(o *op) error {
	if d.submit(o) {
		d.lead()
	}
	for {
		select {
		case <-o.done:
			return o.err
		case <-o.lead:
			d.lead()
		}
	}
}
