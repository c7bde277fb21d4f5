package segstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// driverName is the database/sql driver registered by modernc.org/sqlite.
const driverName = "sqlite"

// migrations returns the schema steps: step i upgrades the index from schema
// version i to i+1. The schema version is SQLite's user_version. Append new
// steps; never edit old ones.
func migrations() []string {
	return []string{
		// 0 -> 1: initial schema.
		`
CREATE TABLE segments (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	camera      TEXT    NOT NULL,
	seq         INTEGER NOT NULL CHECK (seq >= 0),
	start_ns    INTEGER NOT NULL,
	end_ns      INTEGER NOT NULL,
	duration_ns INTEGER NOT NULL,
	bytes       INTEGER NOT NULL CHECK (bytes >= 0),
	codec       TEXT    NOT NULL,
	audio_codec TEXT    NOT NULL DEFAULT '',
	keyframes   INTEGER NOT NULL,
	frames      INTEGER NOT NULL,
	path        TEXT    NOT NULL UNIQUE,
	created_ns  INTEGER NOT NULL,
	CHECK (end_ns >= start_ns)
) STRICT;
CREATE INDEX segments_camera_start ON segments (camera, start_ns);
CREATE UNIQUE INDEX segments_camera_seq ON segments (camera, seq);
CREATE INDEX segments_start ON segments (start_ns);

-- Segments being deleted: the row moved here before the file is unlinked.
CREATE TABLE garbage (
	id       INTEGER PRIMARY KEY,
	camera   TEXT    NOT NULL,
	seq      INTEGER NOT NULL,
	path     TEXT    NOT NULL,
	bytes    INTEGER NOT NULL,
	moved_ns INTEGER NOT NULL
) STRICT;
CREATE INDEX garbage_camera_seq ON garbage (camera, seq);

CREATE TABLE gaps (
	id       INTEGER PRIMARY KEY,
	camera   TEXT    NOT NULL,
	start_ns INTEGER NOT NULL,
	end_ns   INTEGER NOT NULL,
	reason   TEXT    NOT NULL,
	CHECK (end_ns >= start_ns)
) STRICT;
CREATE INDEX gaps_camera_start ON gaps (camera, start_ns);

-- High-water mark of sequence numbers, so NextSeq never goes back even
-- after retention evicted every segment of a camera.
CREATE TABLE cameras (
	name     TEXT    PRIMARY KEY,
	next_seq INTEGER NOT NULL
) STRICT;
`,
		// 1 -> 2: ranges of recording kept longer around detection events.
		`
CREATE TABLE keep (
	id       INTEGER PRIMARY KEY,
	camera   TEXT    NOT NULL,
	start_ns INTEGER NOT NULL,
	end_ns   INTEGER NOT NULL,
	CHECK (end_ns >= start_ns)
) STRICT;
CREATE INDEX keep_camera_end ON keep (camera, end_ns);
`,
		// 2 -> 3: each segment's upload state (see upload.go), kept here
		// instead of in a queue database of the uploader's. The step also
		// imports that database (legacyQueueFile) when it is present.
		`
ALTER TABLE segments ADD COLUMN upload_state INTEGER NOT NULL DEFAULT 0 CHECK (upload_state IN (0, 1, 2, 3));
ALTER TABLE segments ADD COLUMN upload_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE segments ADD COLUMN upload_error TEXT NOT NULL DEFAULT '';
ALTER TABLE segments ADD COLUMN upload_next_ns INTEGER NOT NULL DEFAULT 0;
-- Only pending segments, covering what the uploader's queries read.
CREATE INDEX segments_upload_pending ON segments (start_ns, bytes) WHERE upload_state = 0;

-- Segments deleted while their upload was pending, until the uploader has
-- counted them.
CREATE TABLE upload_lost (
	id       INTEGER PRIMARY KEY,
	camera   TEXT    NOT NULL,
	seq      INTEGER NOT NULL,
	start_ns INTEGER NOT NULL
) STRICT;
CREATE INDEX upload_lost_camera_seq ON upload_lost (camera, seq);
`,
	}
}

// schemaVersion is the index schema version this code writes.
func schemaVersion() int { return len(migrations()) }

// migrate brings the index to schemaVersion, one transaction per step. The
// step to version 3 imports the uploader's old queue database from dir in
// the same transaction (see importLegacyQueue); once it has committed the
// old database is removed.
func migrate(ctx context.Context, db *sql.DB, dir string, log *slog.Logger) error {
	return migrateTo(ctx, db, dir, log, schemaVersion())
}

// migrateTo brings the index to version target (tests build older
// indexes with it).
func migrateTo(ctx context.Context, db *sql.DB, dir string, log *slog.Logger, target int) error {
	// One connection for the whole migration: ATTACH belongs to a
	// connection and cannot run inside a transaction.
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	defer conn.Close()
	var v int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > schemaVersion() {
		return fmt.Errorf("index schema version %d is newer than this program supports (%d); hint: run a newer vigil", v, schemaVersion())
	}
	steps := migrations()
	for ; v < target; v++ {
		var legacy *legacyQueue
		if v+1 == uploadStateVersion {
			if legacy, err = attachLegacyQueue(ctx, conn, dir); err != nil {
				return fmt.Errorf("migrate to %d: %w", v+1, err)
			}
		}
		err := migrateStep(ctx, conn, v, steps[v], legacy, log)
		if legacy != nil {
			legacy.detach(ctx, conn)
		}
		if err != nil {
			return err
		}
		log.Info("segstore: index schema migrated", "version", v+1)
		if legacy != nil {
			legacy.remove(log)
		}
	}
	if v >= uploadStateVersion {
		removeLegacyQueue(dir, log)
	}
	return nil
}

func migrateStep(ctx context.Context, conn *sql.Conn, v int, step string, legacy *legacyQueue, log *slog.Logger) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate to %d: %w", v+1, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, step); err != nil {
		return fmt.Errorf("migrate to %d: %w", v+1, err)
	}
	if legacy != nil {
		if err := legacy.importInto(ctx, tx, log); err != nil {
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return fmt.Errorf("migrate to %d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate to %d: %w", v+1, err)
	}
	return nil
}

// sqliteCode returns the primary SQLite result code of err, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() & 0xff
	}
	return 0
}

// isNoSpace reports whether err means the disk (or quota) is full.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		sqliteCode(err) == sqlite3.SQLITE_FULL
}

func isConstraint(err error) bool { return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT }
