package upload

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite"

	"vigil/internal/segstore"
)

// QueueFile is the name of the upload queue database inside Config.DataDir.
const QueueFile = "uploads.db"

// Row states.
const (
	statePending  = 0 // not yet in the cloud
	stateDone     = 1 // the cloud has it (201 or 200)
	stateRejected = 2 // refused for good (409, 400, 413, 422, not sealed); never retried
)

// migrations upgrade the queue: step i goes from user_version i to i+1.
// Append new steps; never edit old ones.
var migrations = []string{`
CREATE TABLE queue (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	camera     TEXT    NOT NULL,
	seq        INTEGER NOT NULL CHECK (seq >= 0),
	start_ns   INTEGER NOT NULL,
	bytes      INTEGER NOT NULL,
	path       TEXT    NOT NULL,
	state      INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),
	attempts   INTEGER NOT NULL DEFAULT 0,
	error      TEXT    NOT NULL DEFAULT '',
	next_ns    INTEGER NOT NULL DEFAULT 0, -- not before, after a local read error
	updated_ns INTEGER NOT NULL,
	UNIQUE (camera, seq)
) STRICT;
CREATE INDEX queue_state_start ON queue (state, start_ns);
CREATE INDEX queue_camera_start ON queue (camera, start_ns);
`}

// openQueue opens (creating or migrating) the queue database at path.
//
// The database runs in WAL mode with synchronous=NORMAL: a power cut may
// lose the last transactions, never consistency. Both losses are harmless
// here: a lost pending row is re-queued by reconcile from the store, and a
// lost done mark only makes the segment upload again, which the cloud
// answers with 200.
func openQueue(ctx context.Context, path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: filepath.ToSlash(path)}).EscapedPath() + "?" + q.Encode()
	conn, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("upload: open queue %s: %w", path, err)
	}
	db := sql.OpenDB(conn)
	// One connection: every statement is serialized, so no SQLITE_BUSY and
	// no rows left open across another statement.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := migrateQueue(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("upload: open queue %s: %w", path, err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		db.Close()
		return nil, fmt.Errorf("upload: open queue %s: journal mode %q, want wal (%v)", path, mode, err)
	}
	return db, nil
}

func migrateQueue(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this program supports (%d); hint: run a newer vigil", v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
	}
	return nil
}

// job is a pending row picked for upload.
type job struct {
	id       int64
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

const insertSQL = `INSERT INTO queue (camera, seq, start_ns, bytes, path, updated_ns)
	VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (camera, seq) DO NOTHING`

// insertBatch queues segs (skipping those already queued, done or
// rejected) in one transaction and returns how many rows it added. When
// fixPaths is set, a pending row whose path differs from the store's is
// updated (the data directory moved).
func (u *Uploader) insertBatch(ctx context.Context, segs []segstore.Segment, fixPaths bool) (int, error) {
	tx, err := u.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, insertSQL)
	if err != nil {
		return 0, err
	}
	defer ins.Close()
	var fix *sql.Stmt
	if fixPaths {
		if fix, err = tx.PrepareContext(ctx, `UPDATE queue SET path = ?3
			WHERE camera = ?1 AND seq = ?2 AND state = 0 AND path != ?3`); err != nil {
			return 0, err
		}
		defer fix.Close()
	}
	now := u.now().UnixNano()
	added := 0
	for _, s := range segs {
		res, err := ins.ExecContext(ctx, s.Camera, int64(s.Seq), s.Start.UnixNano(), s.Bytes, s.Path, now)
		if err != nil {
			return 0, err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			added++
		} else if fix != nil {
			if _, err := fix.ExecContext(ctx, s.Camera, int64(s.Seq), s.Path); err != nil {
				return 0, err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	u.addPending(int64(added))
	return added, nil
}

// next picks the next pending row in the configured order that no worker
// is uploading, and marks it in flight. ok is false when there is none.
func (u *Uploader) next(ctx context.Context) (j job, ok bool, err error) {
	u.pickMu.Lock()
	defer u.pickMu.Unlock()
	order := "ASC"
	if u.cfg.Order == OrderNewest {
		order = "DESC"
	}
	u.mu.Lock()
	skip := len(u.inflight)
	u.mu.Unlock()
	rows, err := u.db.QueryContext(ctx, `SELECT id, camera, seq, start_ns, bytes, path, attempts FROM queue
		WHERE state = 0 AND next_ns <= ? ORDER BY start_ns `+order+`, id `+order+` LIMIT ?`,
		u.now().UnixNano(), skip+1)
	if err != nil {
		return job{}, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var c job
		var seq, start int64
		if err := rows.Scan(&c.id, &c.camera, &seq, &start, &c.bytes, &c.path, &c.attempts); err != nil {
			return job{}, false, err
		}
		c.seq, c.start = uint64(seq), time.Unix(0, start)
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
	return job{}, false, rows.Err()
}

// finish changes a pending row's state; it reports whether the row was
// still pending (a reconcile may have dropped it meanwhile).
func (u *Uploader) finish(j job, state int, msg string) bool {
	res, err := u.db.ExecContext(context.Background(), `UPDATE queue SET state = ?, attempts = attempts + 1, error = ?,
		updated_ns = ? WHERE id = ? AND state = 0`, state, msg, u.now().UnixNano(), j.id)
	if err != nil {
		u.log.Error("upload: recording an upload result; the segment will be sent again", "camera", j.camera, "seq", j.seq, "err", err)
		return false
	}
	n, _ := res.RowsAffected()
	u.addPending(-n)
	return n > 0
}

// delay keeps a row pending but not before until (a local read error).
func (u *Uploader) delay(j job, msg string, until time.Time) {
	if _, err := u.db.ExecContext(context.Background(), `UPDATE queue SET attempts = attempts + 1, error = ?, next_ns = ?,
		updated_ns = ? WHERE id = ? AND state = 0`, msg, until.UnixNano(), u.now().UnixNano(), j.id); err != nil {
		u.log.Error("upload: recording a failed attempt", "camera", j.camera, "seq", j.seq, "err", err)
	}
}

// drop deletes a pending row whose segment left the store.
func (u *Uploader) drop(j job) bool {
	res, err := u.db.ExecContext(context.Background(), `DELETE FROM queue WHERE id = ? AND state = 0`, j.id)
	if err != nil {
		u.log.Error("upload: dropping an evicted segment from the queue", "camera", j.camera, "seq", j.seq, "err", err)
		return false
	}
	n, _ := res.RowsAffected()
	u.addPending(-n)
	return n > 0
}

// reconcileBatch is how many rows one reconcile transaction writes.
const reconcileBatch = 500

// reconcile makes the queue agree with the store: every segment starting at
// or after Since that is neither done nor rejected is queued; pending rows
// whose segment left the store are dropped and counted as evicted; done and
// rejected rows of segments no longer in the store are pruned. Rows added
// after the store was listed are left alone.
func (u *Uploader) reconcile(ctx context.Context) error {
	var maxID int64
	if err := u.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM queue`).Scan(&maxID); err != nil {
		return fmt.Errorf("upload: reconcile: %w", err)
	}
	segs, err := u.src.List(ctx, segstore.Filter{From: u.cfg.Since})
	if err != nil {
		return fmt.Errorf("upload: reconcile: listing the store: %w", err)
	}
	inStore := make(map[segKey]struct{}, len(segs))
	keep := segs[:0]
	for _, s := range segs {
		if s.Start.Before(u.cfg.Since) {
			continue
		}
		inStore[segKey{s.Camera, s.Seq}] = struct{}{}
		keep = append(keep, s)
	}
	added := 0
	for i := 0; i < len(keep); i += reconcileBatch {
		n, err := u.insertBatch(ctx, keep[i:min(i+reconcileBatch, len(keep))], true)
		if err != nil {
			return fmt.Errorf("upload: reconcile: %w", err)
		}
		added += n
	}
	keep, segs = nil, nil

	type gone struct {
		id      int64
		pending bool
		quiet   bool // before Since: not an eviction
	}
	var stale []gone
	rows, err := u.db.QueryContext(ctx, `SELECT id, camera, seq, start_ns, state FROM queue WHERE id <= ?`, maxID)
	if err != nil {
		return fmt.Errorf("upload: reconcile: %w", err)
	}
	u.mu.Lock()
	busy := make(map[segKey]bool, len(u.inflight))
	for k := range u.inflight {
		busy[k] = true
	}
	u.mu.Unlock()
	for rows.Next() {
		var id, seq, start int64
		var cam string
		var state int
		if err = rows.Scan(&id, &cam, &seq, &start, &state); err != nil {
			break
		}
		k := segKey{cam, uint64(seq)}
		if _, ok := inStore[k]; ok || busy[k] {
			continue
		}
		stale = append(stale, gone{id, state == statePending, time.Unix(0, start).Before(u.cfg.Since)})
	}
	if err == nil {
		err = rows.Err()
	}
	rows.Close()
	if err != nil {
		return fmt.Errorf("upload: reconcile: %w", err)
	}

	var evicted, pruned int64
	for i := 0; i < len(stale); i += reconcileBatch {
		err := u.inTx(ctx, func(tx *sql.Tx) error {
			for _, g := range stale[i:min(i+reconcileBatch, len(stale))] {
				res, err := tx.ExecContext(ctx, `DELETE FROM queue WHERE id = ?`, g.id)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 0 {
					continue
				}
				switch {
				case g.pending && !g.quiet:
					evicted++
				case !g.pending:
					pruned++
				}
				if g.pending {
					u.addPending(-1)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("upload: reconcile: %w", err)
		}
	}
	u.evicted.Add(evicted)
	u.log.Debug("upload: reconciled the queue with the store", "segments", len(inStore), "queued", added,
		"evicted", evicted, "pruned", pruned)
	if evicted > 0 {
		u.log.Info("upload: segments left the hub's store before they could be uploaded", "count", evicted)
	}
	u.lastPrune.Store(u.now().UnixNano())
	return nil
}

func (u *Uploader) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := u.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// pruneBatch is how many done rows prune looks at per step.
const pruneBatch = 256

// prune deletes done and rejected rows whose segment file is gone (the
// store's retention deleted it), so the queue does not grow with every
// segment ever uploaded. It walks each camera's rows oldest first and stops
// at the first batch that still has files: retention deletes oldest first.
// Whatever it misses is pruned by the next reconcile.
func (u *Uploader) prune(ctx context.Context) error {
	rows, err := u.db.QueryContext(ctx, `SELECT DISTINCT camera FROM queue`)
	if err != nil {
		return fmt.Errorf("upload: prune: %w", err)
	}
	var cams []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return fmt.Errorf("upload: prune: %w", err)
		}
		cams = append(cams, c)
	}
	rows.Close()
	var total int
	for _, cam := range cams {
		after := int64(-1 << 63)
		for {
			type row struct {
				id    int64
				start int64
				path  string
			}
			var batch []row
			rows, err := u.db.QueryContext(ctx, `SELECT id, start_ns, path FROM queue
				WHERE camera = ? AND start_ns > ? AND state != 0 ORDER BY start_ns LIMIT ?`, cam, after, pruneBatch)
			if err != nil {
				return fmt.Errorf("upload: prune: %w", err)
			}
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.id, &r.start, &r.path); err != nil {
					rows.Close()
					return fmt.Errorf("upload: prune: %w", err)
				}
				batch = append(batch, r)
			}
			rows.Close()
			if len(batch) == 0 {
				break
			}
			var goneIDs []int64
			for _, r := range batch {
				if _, err := os.Stat(r.path); errors.Is(err, fs.ErrNotExist) {
					goneIDs = append(goneIDs, r.id)
				}
			}
			if len(goneIDs) > 0 {
				err := u.inTx(ctx, func(tx *sql.Tx) error {
					for _, id := range goneIDs {
						if _, err := tx.ExecContext(ctx, `DELETE FROM queue WHERE id = ? AND state != 0`, id); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					return fmt.Errorf("upload: prune: %w", err)
				}
				total += len(goneIDs)
			}
			if len(goneIDs) < len(batch) {
				break
			}
			after = batch[len(batch)-1].start
		}
	}
	u.lastPrune.Store(u.now().UnixNano())
	if total > 0 {
		u.log.Debug("upload: pruned rows of uploaded segments the store has deleted", "rows", total)
	}
	return nil
}

// pendingSummary returns the number, bytes and oldest start of pending rows.
func (u *Uploader) pendingSummary(ctx context.Context) (n, bytes int64, oldest time.Time, err error) {
	var minStart sql.NullInt64
	err = u.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(bytes), 0), MIN(start_ns) FROM queue WHERE state = 0`).
		Scan(&n, &bytes, &minStart)
	if minStart.Valid {
		oldest = time.Unix(0, minStart.Int64)
	}
	return n, bytes, oldest, err
}
