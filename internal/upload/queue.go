package upload

import (
	"context"
	"sync"
	"time"

	"vigil/internal/segstore"
)

// Index is where the uploader keeps its queue: the hub's segment index,
// which holds each segment's upload state (pending, done, rejected or
// missing, with its attempts, last error and next try). *segstore.Store
// satisfies it. Every segment the index holds is pending from the moment it
// is stored, so the uploader has nothing to reconcile: a crash between
// storing a segment and Enqueue loses nothing, and a segment's state leaves
// the index with it.
type Index interface {
	// PendingUploads lists pending segments due at f.Due, in start order.
	PendingUploads(ctx context.Context, f segstore.PendingFilter) ([]segstore.Upload, error)
	// RecordUpload records an attempt's outcome on a still pending
	// segment and reports whether it was still pending. A segment that
	// left the index meanwhile, and whose upload r ends, must not be
	// returned by TakeLostUploads afterwards.
	RecordUpload(ctx context.Context, camera string, seq uint64, r segstore.UploadResult) (bool, error)
	// UploadBacklog sums the pending segments starting at or after since.
	UploadBacklog(ctx context.Context, since time.Time) (segstore.Backlog, error)
	// TakeLostUploads returns, once each, the segments that left the
	// index while pending (retention deleted them before their upload).
	TakeLostUploads(ctx context.Context) ([]segstore.LostUpload, error)
}

// job is a pending segment picked for upload.
type job struct {
	camera   string
	seq      uint64
	start    time.Time
	bytes    int64
	path     string
	attempts int
}

type segKey struct {
	camera string
	seq    uint64
}

func (j *job) key() segKey { return segKey{j.camera, j.seq} }

// next picks the next pending segment in the configured order that no
// worker is uploading, and marks it in flight. ok is false when there is
// none.
func (u *Uploader) next(ctx context.Context) (j job, ok bool, err error) {
	u.pickMu.Lock()
	defer u.pickMu.Unlock()
	u.mu.Lock()
	skip := len(u.inflight)
	u.mu.Unlock()
	ups, err := u.idx.PendingUploads(ctx, segstore.PendingFilter{
		Since: u.cfg.Since, Due: u.now(), NewestFirst: u.cfg.Order == OrderNewest, Limit: skip + 1,
	})
	if err != nil {
		return job{}, false, err
	}
	for _, p := range ups {
		c := job{camera: p.Camera, seq: p.Seq, start: p.Start, bytes: p.Bytes, path: p.Path, attempts: p.Attempts}
		u.mu.Lock()
		busy := u.inflight[c.key()]
		if !busy {
			u.inflight[c.key()] = true
		}
		u.mu.Unlock()
		if !busy {
			return c, true, nil
		}
	}
	return job{}, false, nil
}

// record stores an attempt's outcome in the index; it reports whether the
// segment was still pending there.
func (u *Uploader) record(j job, state segstore.UploadState, msg string, next time.Time) bool {
	ok, err := u.idx.RecordUpload(context.Background(), j.camera, j.seq, segstore.UploadResult{State: state, Error: msg, NextTry: next})
	if err != nil {
		u.log.Error("upload: recording an upload result; the segment will be sent again", "camera", j.camera, "seq", j.seq, "err", err)
		return false
	}
	return ok
}

// takeLost counts the segments retention deleted while they were pending.
// One that a worker is uploading right now is counted when its attempt
// ends, and only if the attempt did not upload it.
func (u *Uploader) takeLost(ctx context.Context) {
	// Under pickMu, so that no segment is released between being taken
	// here and being looked up in inflight.
	u.pickMu.Lock()
	defer u.pickMu.Unlock()
	lost, err := u.idx.TakeLostUploads(ctx)
	if err != nil {
		if ctx.Err() == nil {
			u.log.Warn("upload: reading the segments deleted before upload", "err", err)
		}
		return
	}
	var n int64
	u.mu.Lock()
	for _, l := range lost {
		if l.Start.Before(u.cfg.Since) {
			continue // never to be uploaded: not a loss
		}
		k := segKey{l.Camera, l.Seq}
		if u.inflight[k] {
			u.lostInflight[k] = true
			continue
		}
		n++
	}
	u.mu.Unlock()
	if n > 0 {
		u.noteEvicted(n)
	}
}

// backlog reads the pending segments' count, bytes and oldest start, and
// remembers the count for log lines.
func (u *Uploader) backlog(ctx context.Context) (segstore.Backlog, error) {
	b, err := u.idx.UploadBacklog(ctx, u.cfg.Since)
	if err == nil {
		u.pending.Store(b.Count)
	}
	return b, err
}

// handoff keeps the sealed bytes the recorder handed to Enqueue until a
// worker uploads them, so that a segment uploaded soon after it was stored
// is not read back from disk. It is bounded: beyond maxHandoff segments or
// maxHandoffBytes the oldest entries are dropped (those segments are read
// from their files), and while the cloud is away it is emptied and takes
// nothing, so an outage's backlog holds no bytes in memory.
type handoff struct {
	mu    sync.Mutex
	m     map[segKey][]byte
	order []segKey
	bytes int64
}

const (
	maxHandoff      = 16
	maxHandoffBytes = 16 << 20
)

func (h *handoff) put(k segKey, b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[segKey][]byte)
	}
	if old, ok := h.m[k]; ok {
		h.bytes -= int64(len(old))
	} else {
		h.order = append(h.order, k)
	}
	h.m[k] = b
	h.bytes += int64(len(b))
	for len(h.m) > maxHandoff || h.bytes > maxHandoffBytes {
		old := h.order[0]
		h.order = h.order[1:]
		if b, ok := h.m[old]; ok {
			h.bytes -= int64(len(b))
			delete(h.m, old)
		}
	}
}

// clear forgets every entry.
func (h *handoff) clear() {
	h.mu.Lock()
	h.m, h.order, h.bytes = nil, nil, 0
	h.mu.Unlock()
}

// take returns and forgets k's bytes, nil if it has none.
func (h *handoff) take(k segKey) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.m[k]
	if !ok {
		return nil
	}
	delete(h.m, k)
	h.bytes -= int64(len(b))
	if i := indexOf(h.order, k); i >= 0 {
		h.order = append(h.order[:i], h.order[i+1:]...)
	}
	return b
}

func indexOf(ks []segKey, k segKey) int {
	for i, x := range ks {
		if x == k {
			return i
		}
	}
	return -1
}
