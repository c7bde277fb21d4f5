package segstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// ageReason is the reason of deletions by the age limits.
const ageReason = "age limit"

// Forced counts the segments deleted to make room (a byte limit or a full
// disk) while younger than their camera's age limit: retention forced
// below the configured age.
type Forced struct {
	Segments int64         // such segments deleted since Open
	LastAge  time.Duration // the age of the latest one when it was deleted
	Limit    time.Duration // the age limit of the latest one's camera
	At       time.Time     // when the latest one was deleted; zero if none
}

// Forced returns the deletions that went below the configured age.
func (s *Store) Forced() Forced {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forced
}

// victim is a segment chosen for deletion.
type victim struct {
	id       int64
	camera   string
	seq      int64
	start    int64
	end      int64
	bytes    int64
	path     string
	fileGone bool // set when the file was unlinked (or already absent)
}

const victimCols = `id, camera, seq, start_ns, end_ns, bytes, path`

// Enforce applies every retention limit now: per-camera byte caps, age
// limits (a segment goes once its end is before now-MaxAge), then the
// global byte cap evicting the globally oldest segments. Gaps older than a
// camera's oldest remaining segment, or older than its age limit, are pruned.
// Deletes left pending by a failed unlink are retried first. It returns the
// number of segments deleted.
func (s *Store) Enforce(ctx context.Context) (deleted int, err error) {
	if err := s.acquire(); err != nil {
		return 0, err
	}
	defer s.release()
	if s.readOnly {
		return 0, ErrReadOnly
	}
	s.evictMu.Lock()
	defer s.evictMu.Unlock()
	if _, err := s.finishGarbage(ctx); err != nil {
		return 0, err
	}
	now := s.now()
	s.mu.Lock()
	s.lastAgeCheck = now
	s.mu.Unlock()

	for _, cam := range s.cameraNames() {
		n, err := s.enforceCameraBytes(ctx, cam)
		deleted += n
		if err != nil {
			return deleted, err
		}
	}
	n, err := s.enforceAge(ctx, now)
	deleted += n
	if err != nil {
		return deleted, err
	}
	n, err = s.enforceGlobalBytes(ctx)
	deleted += n
	return deleted, err
}

// enforceAfterPut applies the byte limits touched by a Put to camera, and
// the age limits at most once every ageCheckEvery. Errors are logged: a
// retention failure must not fail recording.
func (s *Store) enforceAfterPut(ctx context.Context, camera string) {
	now := s.now()
	s.mu.Lock()
	camCap := s.opts.Cameras[camera].MaxBytes
	over := (s.opts.MaxBytes > 0 && s.total > s.opts.MaxBytes) ||
		(camCap > 0 && s.usage[camera].bytes > camCap)
	ageDue := s.hasAgeLimit() && now.Sub(s.lastAgeCheck) >= ageCheckEvery
	if ageDue {
		s.lastAgeCheck = now
	}
	s.mu.Unlock()
	if !over && !ageDue {
		return
	}
	s.evictMu.Lock()
	defer s.evictMu.Unlock()
	var errs []error
	if ageDue {
		if _, err := s.enforceAge(ctx, now); err != nil {
			errs = append(errs, err)
		}
	}
	if camCap > 0 {
		if _, err := s.enforceCameraBytes(ctx, camera); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := s.enforceGlobalBytes(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		s.log.Warn("segstore: retention after put failed; will retry on the next put or Enforce", "camera", camera, "err", err)
	}
}

func (s *Store) hasAgeLimit() bool {
	if s.opts.MaxAge > 0 {
		return true
	}
	for _, l := range s.opts.Cameras {
		if l.MaxAge > 0 {
			return true
		}
	}
	return false
}

// cameraNames returns the cameras that currently have segments, sorted.
func (s *Store) cameraNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.usage))
	for c := range s.usage {
		names = append(names, c)
	}
	slices.Sort(names)
	return names
}

// ageLimit is the effective age limit of camera (0 = none).
func (s *Store) ageLimit(camera string) time.Duration {
	if l := s.opts.Cameras[camera].MaxAge; l > 0 {
		return l
	}
	return s.opts.MaxAge
}

// enforceCameraBytes evicts camera's oldest segments until it is within its
// MaxBytes, keeping at least its newest segment. evictMu must be held.
func (s *Store) enforceCameraBytes(ctx context.Context, camera string) (int, error) {
	limit := s.opts.Cameras[camera].MaxBytes
	if limit <= 0 {
		return 0, nil
	}
	return s.evictBytes(ctx, "camera byte limit", func() (excess, keep int64) {
		s.mu.Lock()
		defer s.mu.Unlock()
		u := s.usage[camera]
		return u.bytes - limit, u.count - 1
	}, `SELECT `+victimCols+` FROM segments WHERE camera = ? ORDER BY start_ns, id LIMIT ?`, camera)
}

// enforceGlobalBytes evicts the globally oldest segments until the store is
// within MaxBytes, keeping at least one segment. evictMu must be held.
func (s *Store) enforceGlobalBytes(ctx context.Context) (int, error) {
	if s.opts.MaxBytes <= 0 {
		return 0, nil
	}
	return s.evictBytes(ctx, "store byte limit", func() (excess, keep int64) {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.total - s.opts.MaxBytes, s.count - 1
	}, `SELECT `+victimCols+` FROM segments ORDER BY start_ns, id LIMIT ?`)
}

// evictBytes repeatedly reads the excess and the number of evictable
// segments from state, selects the oldest victims with query (args then
// a LIMIT) and deletes them until the excess is gone.
func (s *Store) evictBytes(ctx context.Context, reason string, state func() (excess, evictable int64), query string, args ...any) (int, error) {
	var deleted int
	var freed int64
	defer func() { s.logSummary(reason, deleted, freed) }()
	for {
		excess, evictable := state()
		if excess <= 0 || evictable <= 0 {
			return deleted, nil
		}
		vs, err := s.selectVictims(ctx, query, append(slices.Clone(args), min(evictable, evictBatch))...)
		if err != nil {
			return deleted, err
		}
		var sum int64
		for i, v := range vs {
			sum += v.bytes
			if sum >= excess {
				vs = vs[:i+1]
				break
			}
		}
		if len(vs) == 0 {
			return deleted, nil
		}
		n, b, err := s.evict(ctx, vs, reason)
		deleted += n
		freed += b
		if err != nil {
			return deleted, err
		}
		if n == 0 {
			return deleted, nil
		}
	}
}

// enforceAge evicts, per camera, the segments that ended before now minus
// the camera's age limit, and prunes gaps by the same cutoff. evictMu must
// be held.
func (s *Store) enforceAge(ctx context.Context, now time.Time) (int, error) {
	var deleted int
	var freed int64
	defer func() { s.logSummary(ageReason, deleted, freed) }()
	for _, cam := range s.cameraNames() {
		limit := s.ageLimit(cam)
		if limit <= 0 {
			continue
		}
		cutoff := now.Add(-limit).UnixNano()
		// Segments overlapping a kept range whose end is newer than the
		// event cutoff stay (when events are kept longer than the rest).
		evCutoff := cutoff
		if ev := s.eventAgeLimit(cam); ev > limit {
			evCutoff = now.Add(-ev).UnixNano()
		}
		for {
			vs, err := s.selectVictims(ctx, `SELECT `+victimCols+` FROM segments
				WHERE camera = ? AND start_ns < ? AND end_ns < ?
				AND NOT EXISTS (SELECT 1 FROM keep k WHERE k.camera = segments.camera
					AND k.end_ns >= ? AND k.start_ns <= segments.end_ns AND k.end_ns >= segments.start_ns)
				ORDER BY start_ns, id LIMIT ?`,
				cam, cutoff, cutoff, evCutoff, evictBatch)
			if err != nil {
				return deleted, err
			}
			if len(vs) == 0 {
				break
			}
			n, b, err := s.evict(ctx, vs, ageReason)
			deleted += n
			freed += b
			if err != nil {
				return deleted, err
			}
			if n == 0 {
				break
			}
		}
	}
	// Gaps of cameras without segments are not covered by eviction.
	if err := s.pruneGapsByAge(ctx, now); err != nil {
		return deleted, err
	}
	// Kept ranges older than every limit that could still need them.
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT camera FROM keep`)
	if err != nil {
		return deleted, err
	}
	var kept []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return deleted, err
		}
		kept = append(kept, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return deleted, err
	}
	for _, cam := range kept {
		limit := max(s.ageLimit(cam), s.eventAgeLimit(cam))
		if limit <= 0 {
			continue
		}
		if _, err := s.db.ExecContext(ctx, `DELETE FROM keep WHERE camera = ? AND end_ns < ?`, cam, now.Add(-limit).UnixNano()); err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}

// eventAgeLimit is how long recordings around events are kept on camera.
func (s *Store) eventAgeLimit(camera string) time.Duration {
	if l := s.opts.Cameras[camera].EventMaxAge; l > 0 {
		return l
	}
	return s.opts.EventMaxAge
}

// Keep marks the recording of camera between start and end (a detection
// event with some padding) to be kept for the event age limit instead of
// the camera's age limit. Ranges are kept in the index until they are older
// than both limits.
func (s *Store) Keep(ctx context.Context, camera string, start, end time.Time) error {
	if end.Before(start) {
		return fmt.Errorf("segstore: keep range ends (%v) before it starts (%v)", end, start)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO keep (camera, start_ns, end_ns) VALUES (?, ?, ?)`,
		camera, start.UnixNano(), end.UnixNano())
	return err
}

func (s *Store) pruneGapsByAge(ctx context.Context, now time.Time) error {
	overridden := make([]any, 0, len(s.opts.Cameras))
	for cam, l := range s.opts.Cameras {
		if l.MaxAge > 0 {
			overridden = append(overridden, cam)
			cutoff := now.Add(-l.MaxAge).UnixNano()
			if _, err := s.db.ExecContext(ctx, `DELETE FROM gaps WHERE camera = ? AND end_ns < ?`, cam, cutoff); err != nil {
				return fmt.Errorf("segstore: prune gaps: %w", err)
			}
		}
	}
	if s.opts.MaxAge <= 0 {
		return nil
	}
	cutoff := now.Add(-s.opts.MaxAge).UnixNano()
	q := `DELETE FROM gaps WHERE end_ns < ?`
	if len(overridden) > 0 {
		q += ` AND camera NOT IN (?` + strings.Repeat(",?", len(overridden)-1) + `)`
	}
	if _, err := s.db.ExecContext(ctx, q, append([]any{cutoff}, overridden...)...); err != nil {
		return fmt.Errorf("segstore: prune gaps: %w", err)
	}
	return nil
}

// evictForSpace deletes the globally oldest segment to make room after a
// full disk. It returns 0 when there is nothing left to delete.
func (s *Store) evictForSpace(ctx context.Context) (int, error) {
	s.evictMu.Lock()
	defer s.evictMu.Unlock()
	vs, err := s.selectVictims(ctx, `SELECT `+victimCols+` FROM segments ORDER BY start_ns, id LIMIT 1`)
	if err != nil {
		return 0, err
	}
	if len(vs) == 0 {
		return 0, nil
	}
	n, b, err := s.evict(ctx, vs, "disk full")
	if err != nil && isNoSpace(err) && n == 0 {
		// The index itself could not grow (WAL or database file). Give it
		// the reserved space and try once more.
		s.releaseReserve()
		s.checkpoint(ctx)
		n, b, err = s.evict(ctx, vs, "disk full")
	}
	s.logSummary("disk full", n, b)
	// Let the WAL restart from its beginning instead of growing further.
	s.checkpoint(ctx)
	return n, err
}

// checkpoint copies the WAL into the database so that the next transaction
// reuses the WAL file from its start.
func (s *Store) checkpoint(ctx context.Context) {
	if _, err := s.db.ExecContext(ctx, "PRAGMA wal_checkpoint(RESTART)"); err != nil {
		s.log.Debug("segstore: wal checkpoint", "err", err)
	}
}

func (s *Store) logSummary(reason string, n int, freed int64) {
	if n > 0 {
		s.log.Info("segstore: evicted segments", "count", n, "bytes_freed", freed, "reason", reason)
	}
}

func (s *Store) selectVictims(ctx context.Context, query string, args ...any) ([]victim, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("segstore: select segments to evict: %w", err)
	}
	defer rows.Close()
	var vs []victim
	for rows.Next() {
		var v victim
		if err := rows.Scan(&v.id, &v.camera, &v.seq, &v.start, &v.end, &v.bytes, &v.path); err != nil {
			return nil, fmt.Errorf("segstore: select segments to evict: %w", err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("segstore: select segments to evict: %w", err)
	}
	return vs, nil
}

// evict deletes segments in the crash-safe order: rows move to garbage in
// one transaction (pruning gaps older than each camera's oldest remaining
// segment), files are unlinked, directories fsynced, and garbage rows of
// files known gone are dropped. A file whose unlink or directory sync fails
// keeps its garbage row for a later retry. It returns the number of segments
// removed from the index and their bytes. evictMu must be held.
func (s *Store) evict(ctx context.Context, vs []victim, reason string) (int, int64, error) {
	moved, err := s.moveToGarbage(ctx, vs)
	if err != nil {
		return 0, 0, err
	}
	var freed int64
	now := s.now()
	for _, v := range moved {
		freed += v.bytes
		s.addUsage(v.camera, -v.bytes, -1)
		if limit := s.ageLimit(v.camera); reason != ageReason && limit > 0 && now.Sub(time.Unix(0, v.end)) < limit {
			s.mu.Lock()
			s.forced.Segments++
			s.forced.LastAge = now.Sub(time.Unix(0, v.end))
			s.forced.Limit = limit
			s.forced.At = now
			s.mu.Unlock()
		}
		s.log.Debug("segstore: evicting segment", "camera", v.camera, "seq", v.seq,
			"start", time.Unix(0, v.start).UTC(), "bytes", v.bytes, "reason", reason)
	}
	s.unlinkGarbage(moved)
	if err := s.dropGarbage(ctx, moved); err != nil {
		return len(moved), freed, err
	}
	return len(moved), freed, nil
}

func (s *Store) moveToGarbage(ctx context.Context, vs []victim) ([]victim, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("segstore: move to garbage: %w", err)
	}
	defer tx.Rollback()
	now := s.now().UnixNano()
	var moved []victim
	lastEnd := make(map[string]int64)
	lost := false
	for _, v := range vs {
		l, err := noteLost(ctx, tx, v.id)
		if err != nil {
			return nil, fmt.Errorf("segstore: move to garbage: %w", err)
		}
		lost = lost || l
		if _, err := tx.ExecContext(ctx, `INSERT INTO garbage (id, camera, seq, path, bytes, moved_ns)
			SELECT id, camera, seq, path, bytes, ? FROM segments WHERE id = ?`, now, v.id); err != nil {
			return nil, fmt.Errorf("segstore: move to garbage: %w", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM segments WHERE id = ?`, v.id)
		if err != nil {
			return nil, fmt.Errorf("segstore: move to garbage: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("segstore: move to garbage: %w", err)
		} else if n == 0 {
			continue
		}
		moved = append(moved, v)
		lastEnd[v.camera] = max(lastEnd[v.camera], v.end)
	}
	for cam, end := range lastEnd {
		// Gaps that end before the oldest remaining segment (or, with none
		// left, before the end of what was just evicted) are pruned.
		if _, err := tx.ExecContext(ctx, `DELETE FROM gaps WHERE camera = ? AND end_ns <=
			COALESCE((SELECT MIN(start_ns) FROM segments WHERE camera = ?), ?)`, cam, cam, end); err != nil {
			return nil, fmt.Errorf("segstore: prune gaps: %w", err)
		}
	}
	if lost {
		if err := capLost(ctx, tx); err != nil {
			return nil, fmt.Errorf("segstore: move to garbage: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("segstore: move to garbage: %w", err)
	}
	if lost {
		s.lostHint.Store(true)
	}
	return moved, nil
}

// unlinkGarbage unlinks the files of garbage rows and fsyncs their
// directories, setting fileGone on each victim whose removal is durable.
func (s *Store) unlinkGarbage(vs []victim) {
	dirs := make(map[string][]int)
	for i := range vs {
		abs, err := s.absPath(vs[i].path)
		if err != nil {
			// Never touch a path outside the store; drop the row.
			s.log.Warn("segstore: garbage row with bad path; dropping it without unlinking", "path", vs[i].path, "err", err)
			vs[i].fileGone = true
			continue
		}
		if err := s.remove(abs); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("segstore: unlink failed; will retry", "path", abs, "err", err)
			continue
		}
		d := filepath.Dir(abs)
		dirs[d] = append(dirs[d], i)
	}
	for d, idx := range dirs {
		if err := s.syncDir(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("segstore: directory sync after unlink failed; will retry", "dir", d, "err", err)
			continue
		}
		for _, i := range idx {
			vs[i].fileGone = true
		}
	}
}

// dropGarbage deletes the garbage rows of victims whose file is gone.
func (s *Store) dropGarbage(ctx context.Context, vs []victim) error {
	ids := make([]int64, 0, len(vs))
	for _, v := range vs {
		if v.fileGone {
			ids = append(ids, v.id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("segstore: drop garbage: %w", err)
	}
	defer tx.Rollback()
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `DELETE FROM garbage WHERE id = ?`, id); err != nil {
			return fmt.Errorf("segstore: drop garbage: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("segstore: drop garbage: %w", err)
	}
	return nil
}

// finishGarbage completes pending deletes: unlink (if present), fsync, drop
// the row. It returns how many rows it finished. evictMu must be held (or
// the store not yet shared).
func (s *Store) finishGarbage(ctx context.Context) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, camera, seq, path, bytes FROM garbage ORDER BY id`)
	if err != nil {
		return 0, fmt.Errorf("segstore: read garbage: %w", err)
	}
	var vs []victim
	for rows.Next() {
		var v victim
		if err := rows.Scan(&v.id, &v.camera, &v.seq, &v.path, &v.bytes); err != nil {
			rows.Close()
			return 0, fmt.Errorf("segstore: read garbage: %w", err)
		}
		vs = append(vs, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("segstore: read garbage: %w", err)
	}
	if len(vs) == 0 {
		return 0, nil
	}
	s.unlinkGarbage(vs)
	if err := s.dropGarbage(ctx, vs); err != nil {
		return 0, err
	}
	n := 0
	for _, v := range vs {
		if v.fileGone {
			n++
		}
	}
	return n, nil
}

// Kept lists camera's kept ranges (see Keep), oldest first.
func (s *Store) Kept(ctx context.Context, camera string) ([][2]time.Time, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT start_ns, end_ns FROM keep WHERE camera = ? ORDER BY start_ns, id`, camera)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]time.Time
	for rows.Next() {
		var a, b int64
		if err := rows.Scan(&a, &b); err != nil {
			return nil, err
		}
		out = append(out, [2]time.Time{time.Unix(0, a).UTC(), time.Unix(0, b).UTC()})
	}
	return out, rows.Err()
}
