package segstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// uploadStateVersion is the schema version that added the upload state.
const uploadStateVersion = 3

// legacyQueueFile is the queue database the uploader kept beside the index
// before the index held the upload state (schema versions 1 and 2). The
// migration to uploadStateVersion imports it and removes it.
const legacyQueueFile = "uploads.db"

// legacyQueue is the old queue database, attached to the migration's
// connection as "legacy".
type legacyQueue struct {
	dir      string
	hasQueue bool // it holds the queue table (an empty file may not)
}

// attachLegacyQueue attaches dir's legacyQueueFile, or returns nil when
// there is none.
func attachLegacyQueue(ctx context.Context, conn *sql.Conn, dir string) (*legacyQueue, error) {
	p := filepath.Join(dir, legacyQueueFile)
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("upload queue %s: %w", p, err)
	}
	const hint = "hint: move it away and start again to upload every segment again; the cloud answers those it has as already stored"
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS legacy`, p); err != nil {
		return nil, fmt.Errorf("open the upload queue %s to import it: %w (%s)", p, err, hint)
	}
	l := &legacyQueue{dir: dir}
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM legacy.sqlite_master WHERE type = 'table' AND name = 'queue'`).Scan(&n); err != nil {
		l.detach(ctx, conn)
		return nil, fmt.Errorf("read the upload queue %s to import it: %w (%s)", p, err, hint)
	}
	l.hasQueue = n > 0
	return l, nil
}

// importInto copies the queue's state onto the segments it names, within
// the migration's transaction: pending, done or rejected with their
// attempts, last error and next try. A pending row whose segment the store
// no longer has (deleted before it was uploaded, and not yet counted) goes
// to upload_lost, so the uploader still reports it. Rows of segments gone
// after their upload are dropped; segments the queue never saw stay pending.
func (l *legacyQueue) importInto(ctx context.Context, tx *sql.Tx, log *slog.Logger) error {
	if !l.hasQueue {
		return nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE segments SET upload_state = q.state, upload_attempts = q.attempts,
		upload_error = q.error, upload_next_ns = q.next_ns
		FROM legacy.queue AS q WHERE q.camera = segments.camera AND q.seq = segments.seq`)
	if err != nil {
		return fmt.Errorf("import the upload queue: %w", err)
	}
	updated, _ := res.RowsAffected()
	res, err = tx.ExecContext(ctx, `INSERT INTO upload_lost (camera, seq, start_ns)
		SELECT q.camera, q.seq, q.start_ns FROM legacy.queue AS q WHERE q.state = 0
		AND NOT EXISTS (SELECT 1 FROM segments s WHERE s.camera = q.camera AND s.seq = q.seq)
		ORDER BY q.id`)
	if err != nil {
		return fmt.Errorf("import the upload queue: %w", err)
	}
	lost, _ := res.RowsAffected()
	log.Info("segstore: imported the uploader's queue into the index", "segments", updated, "lost_before_upload", lost)
	return nil
}

func (l *legacyQueue) detach(ctx context.Context, conn *sql.Conn) {
	conn.ExecContext(ctx, `DETACH DATABASE legacy`)
}

// remove deletes the imported queue database.
func (l *legacyQueue) remove(log *slog.Logger) { removeLegacyQueue(l.dir, log) }

// removeLegacyQueue deletes dir's legacyQueueFile and its WAL files. At
// uploadStateVersion and later such a file can only be one whose import
// committed before a crash kept it from being removed.
func removeLegacyQueue(dir string, log *slog.Logger) {
	removed := false
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		p := filepath.Join(dir, legacyQueueFile+suffix)
		err := os.Remove(p)
		switch {
		case err == nil:
			removed = true
		case !errors.Is(err, fs.ErrNotExist):
			log.Warn("segstore: cannot remove the imported upload queue", "path", p, "err", err)
		}
	}
	if !removed {
		return
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	log.Info("segstore: removed the imported upload queue", "path", filepath.Join(dir, legacyQueueFile))
}
