package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/jackc/pgx/v5"
)

// SchemaState is where a database's schema stands against this program,
// as 'vigil cloud --check' reports it. Reading it changes nothing: no
// migration runs and no file or table is created.
type SchemaState struct {
	// Where names the database for messages: a SQLite file's path, or a
	// PostgreSQL server's host:port/database; never a password.
	Where string
	// Exists is false for a SQLite file not made yet (the first start
	// makes it).
	Exists bool
	// Version is the database's schema version: 0 for an empty database.
	Version int
	// Current is the version this program writes.
	Current int
}

// Pending is the number of migration steps the next open applies.
func (s SchemaState) Pending() int { return max(0, s.Current-s.Version) }

// Newer reports whether a newer program wrote the schema: this one refuses
// to open it.
func (s SchemaState) Newer() bool { return s.Version > s.Current }

// String says where the schema stands in words, e.g. "schema up to date
// (version 9)".
func (s SchemaState) String() string {
	switch {
	case !s.Exists:
		return fmt.Sprintf("no database yet: the first start makes it (schema version %d)", s.Current)
	case s.Newer():
		return fmt.Sprintf("schema version %d is newer than this build's (%d); hint: run a newer vigil", s.Version, s.Current)
	case s.Pending() == 1:
		return fmt.Sprintf("1 migration step pending (version %d of %d): the next start applies it", s.Version, s.Current)
	case s.Pending() > 1:
		return fmt.Sprintf("%d migration steps pending (version %d of %d): the next start applies them", s.Pending(), s.Version, s.Current)
	}
	return fmt.Sprintf("schema up to date (version %d)", s.Version)
}

// SQLiteSchemaState reads the schema version of the database file at
// path, read-only. A missing file is no error: Exists is false.
func SQLiteSchemaState(ctx context.Context, path string) (SchemaState, error) {
	st := SchemaState{Where: path, Current: sqliteSchemaVersion()}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return st, fmt.Errorf("store: sqlite %s: not a file", path)
	}
	st.Exists = true
	db, err := openSQLiteDB(path, true)
	if err != nil {
		return st, err
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'`).Scan(&n); err != nil {
		return st, fmt.Errorf("store: sqlite %s: %w", path, err)
	}
	if n == 0 {
		return st, nil
	}
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&st.Version); err != nil {
		return st, fmt.Errorf("store: sqlite %s: read schema version: %w", path, err)
	}
	return st, nil
}

// PostgresSchemaState connects to the database dsn names (one connection,
// closed before it returns), runs a trivial query and reads the schema
// version of the DSN's search_path schema. It fails, saying so, when the
// search_path names no schema that exists.
func PostgresSchemaState(ctx context.Context, dsn string) (SchemaState, error) {
	st := SchemaState{Current: postgresSchemaVersion()}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgconn's message shows the DSN with its password redacted.
		return st, fmt.Errorf("store: postgres: %w", err)
	}
	st.Where = fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return st, fmt.Errorf("store: postgres %s: %w", st.Where, err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	var one int
	if err := c.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return st, fmt.Errorf("store: postgres %s: %w", st.Where, err)
	}
	st.Exists = true
	var schema *string
	var table bool
	if err := c.QueryRow(ctx, `SELECT current_schema(), to_regclass('schema_migrations') IS NOT NULL`).Scan(&schema, &table); err != nil {
		return st, fmt.Errorf("store: postgres %s: %w", st.Where, err)
	}
	if schema == nil {
		return st, fmt.Errorf("store: postgres %s: the search_path names no schema that exists (hint: create the schema, or correct search_path)", st.Where)
	}
	if !table {
		return st, nil
	}
	if err := c.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&st.Version); err != nil {
		return st, fmt.Errorf("store: postgres %s: read schema version: %w", st.Where, err)
	}
	return st, nil
}
