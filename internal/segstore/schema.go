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
	}
}

// schemaVersion is the index schema version this code writes.
func schemaVersion() int { return len(migrations()) }

// migrate brings the index to schemaVersion, one transaction per step.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > schemaVersion() {
		return fmt.Errorf("index schema version %d is newer than this program supports (%d); hint: run a newer vigil", v, schemaVersion())
	}
	steps := migrations()
	for ; v < len(steps); v++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate to %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, steps[v]); err != nil {
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
		log.Info("segstore: index schema migrated", "version", v+1)
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
