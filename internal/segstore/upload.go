package segstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"time"
)

// The index keeps each segment's upload state for the hub's uploader, so
// that the hub has one database and nothing to reconcile: a segment is
// pending from the moment Put indexes it (a crash before the uploader hears
// of it loses nothing), and its state leaves with it when retention deletes
// it. A segment deleted while still pending is remembered in upload_lost
// until the uploader takes it (TakeLostUploads), so the uploader can say
// that the cloud will not have it. The store only keeps these states; it
// uploads nothing and never reads the segments for it.

// UploadState is where a segment's upload stands.
type UploadState int

// Upload states. The values are stored in the index: never renumber them.
const (
	// UploadPending: not yet in the cloud. Every segment starts pending.
	UploadPending UploadState = 0
	// UploadDone: the cloud has the segment.
	UploadDone UploadState = 1
	// UploadRejected: refused for good (by the cloud or the uploader's own
	// checks); never tried again.
	UploadRejected UploadState = 2
	// UploadMissing: the segment's file was gone when its upload was
	// tried; never tried again.
	UploadMissing UploadState = 3
)

// maxLost bounds upload_lost: a hub nothing uploads from (never paired)
// would otherwise add a row for every segment retention deletes. Beyond it
// the oldest rows are dropped.
const maxLost = 10000

// Upload is a segment with its upload state, as PendingUploads lists it.
type Upload struct {
	Segment
	// Attempts counts the upload attempts recorded so far.
	Attempts int
	// Error is the last attempt's error, "" if none.
	Error string
	// NextTry is when the segment may be tried again (zero: now).
	NextTry time.Time
}

// PendingFilter selects pending uploads.
type PendingFilter struct {
	// Since selects segments starting at or after it (zero: all).
	Since time.Time
	// Due selects segments whose next try is at or before it.
	Due time.Time
	// NewestFirst orders by start descending; otherwise ascending.
	NewestFirst bool
	// Limit caps the result; it must be positive.
	Limit int
}

// PendingUploads lists pending segments due at f.Due, in start order.
func (s *Store) PendingUploads(ctx context.Context, f PendingFilter) ([]Upload, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	if f.Limit <= 0 {
		return nil, fmt.Errorf("%w: pending uploads limit %d", ErrInvalidMeta, f.Limit)
	}
	order := "ASC"
	if f.NewestFirst {
		order = "DESC"
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, camera, seq, start_ns, end_ns, bytes, codec, audio_codec,
		keyframes, frames, path, upload_attempts, upload_error, upload_next_ns FROM segments
		WHERE upload_state = 0 AND start_ns >= ? AND upload_next_ns <= ?
		ORDER BY start_ns `+order+`, id `+order+` LIMIT ?`,
		sinceNanos(f.Since), clampNanos(f.Due), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("segstore: pending uploads: %w", err)
	}
	defer rows.Close()
	var out []Upload
	for rows.Next() {
		var u Upload
		var seq, start, end, next int64
		var rel string
		if err := rows.Scan(&u.ID, &u.Camera, &seq, &start, &end, &u.Bytes, &u.Codec, &u.AudioCodec,
			&u.Keyframes, &u.Frames, &rel, &u.Attempts, &u.Error, &next); err != nil {
			return nil, fmt.Errorf("segstore: pending uploads: %w", err)
		}
		u.Seq, u.Start, u.End = uint64(seq), time.Unix(0, start), time.Unix(0, end)
		if next != 0 {
			u.NextTry = time.Unix(0, next)
		}
		if u.Path, err = s.absPath(rel); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("segstore: pending uploads: %w", err)
	}
	return out, nil
}

func sinceNanos(t time.Time) int64 {
	if t.IsZero() {
		return minInt64Nanos
	}
	return clampNanos(t)
}

// UploadResult is the outcome of one upload attempt.
type UploadResult struct {
	// State is the segment's new state; UploadPending keeps it queued.
	State UploadState
	// Error describes the attempt's failure, "" if none.
	Error string
	// NextTry, for a segment that stays pending, is when it may be tried
	// again (zero: at once).
	NextTry time.Time
}

// RecordUpload records an attempt at uploading camera's segment seq, if it
// is still pending: its state, error and next try are set and its attempts
// counted. It reports whether it was. When the segment left the index
// during the attempt and r ends its upload (done, rejected or missing), the
// segment is also taken out of upload_lost: it must not be reported lost
// as well.
//
// Results are committed without waiting for the disk: a power cut may lose
// the last ones, and those segments are then uploaded again (which the
// cloud answers as already stored). It never marks done a segment whose
// upload was not recorded as done.
func (s *Store) RecordUpload(ctx context.Context, camera string, seq uint64, r UploadResult) (bool, error) {
	if err := s.acquire(); err != nil {
		return false, err
	}
	defer s.release()
	if s.readOnly {
		return false, ErrReadOnly
	}
	if r.State < UploadPending || r.State > UploadMissing {
		return false, fmt.Errorf("%w: upload state %d", ErrInvalidMeta, r.State)
	}
	var next int64
	if !r.NextTry.IsZero() {
		next = clampNanos(r.NextTry)
	}
	var updated bool
	err := s.relaxedTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE segments SET upload_state = ?, upload_attempts = upload_attempts + 1,
			upload_error = ?, upload_next_ns = ? WHERE camera = ? AND seq = ? AND upload_state = 0`,
			int(r.State), r.Error, next, camera, int64(seq))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		updated = n > 0
		if !updated && r.State != UploadPending {
			_, err = tx.ExecContext(ctx, `DELETE FROM upload_lost WHERE camera = ? AND seq = ?`, camera, int64(seq))
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("segstore: record upload of %q seq %d: %w", camera, seq, err)
	}
	return updated, nil
}

// relaxedTx runs f in a transaction committed with synchronous=NORMAL: the
// commit does not wait for the disk, and the next fully synchronous commit
// (the next Put) makes it durable with its own.
func (s *Store) relaxedTx(ctx context.Context, f func(*sql.Tx) error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		return err
	}
	defer func() {
		if _, err := conn.ExecContext(context.Background(), "PRAGMA synchronous = FULL"); err != nil {
			// Never hand a relaxed connection to Put: drop it, and the
			// next one opens with the DSN's synchronous=FULL.
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// Backlog sums the pending uploads.
type Backlog struct {
	// Count and Bytes are the number and total size of pending segments.
	Count, Bytes int64
	// Oldest is the start of the oldest pending segment, zero when none.
	Oldest time.Time
}

// UploadBacklog sums the pending segments starting at or after since.
func (s *Store) UploadBacklog(ctx context.Context, since time.Time) (Backlog, error) {
	if err := s.acquire(); err != nil {
		return Backlog{}, err
	}
	defer s.release()
	var b Backlog
	var oldest sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(bytes), 0), MIN(start_ns) FROM segments
		WHERE upload_state = 0 AND start_ns >= ?`, sinceNanos(since)).Scan(&b.Count, &b.Bytes, &oldest); err != nil {
		return Backlog{}, fmt.Errorf("segstore: upload backlog: %w", err)
	}
	if oldest.Valid {
		b.Oldest = time.Unix(0, oldest.Int64)
	}
	return b, nil
}

// LostUpload is a segment deleted from the store while its upload was
// pending.
type LostUpload struct {
	Camera string
	Seq    uint64
	Start  time.Time
}

// TakeLostUploads returns the segments deleted while their upload was
// pending (by retention, or found without a file at Open) and forgets them,
// so each is returned once. It costs no query when nothing was lost since
// the last call.
func (s *Store) TakeLostUploads(ctx context.Context) ([]LostUpload, error) {
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	if s.readOnly {
		return nil, ErrReadOnly
	}
	if !s.lostHint.Swap(false) {
		return nil, nil
	}
	var out []LostUpload
	err := s.relaxedTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, camera, seq, start_ns FROM upload_lost ORDER BY id`)
		if err != nil {
			return err
		}
		var last int64
		for rows.Next() {
			var l LostUpload
			var seq, start int64
			if err := rows.Scan(&last, &l.Camera, &seq, &start); err != nil {
				rows.Close()
				return err
			}
			l.Seq, l.Start = uint64(seq), time.Unix(0, start)
			out = append(out, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM upload_lost WHERE id <= ?`, last)
		return err
	})
	if err != nil {
		s.lostHint.Store(true)
		return nil, fmt.Errorf("segstore: lost uploads: %w", err)
	}
	return out, nil
}

// noteLost moves the pending upload of segment id to upload_lost, within a
// transaction that deletes the segment; it reports whether it did.
func noteLost(ctx context.Context, tx *sql.Tx, id int64) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO upload_lost (camera, seq, start_ns)
		SELECT camera, seq, start_ns FROM segments WHERE id = ? AND upload_state = 0`, id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// capLost drops the oldest rows of upload_lost beyond maxLost.
func capLost(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM upload_lost WHERE id <= (SELECT MAX(id) FROM upload_lost) - ?`, maxLost)
	return err
}
