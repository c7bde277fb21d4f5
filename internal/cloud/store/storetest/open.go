package storetest

import (
	"path/filepath"
	"testing"
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/pgtest"
)

// OpenSQLite opens a fresh SQLite store in a temporary directory, closed
// when t ends; now is its clock (nil: time.Now). The domain packages' tests
// run over it and over OpenPostgres.
func OpenSQLite(t testing.TB, now func() time.Time) *store.SQLite {
	t.Helper()
	s, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "cloud.db"), store.SQLiteOptions{Now: now})
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// OpenPostgres opens a fresh store in a new schema of db (a database from
// pgtest.NewDB, shared by a test's cases), closed when t ends; now is its
// clock (nil: time.Now).
func OpenPostgres(t testing.TB, db string, now func() time.Time) *store.Postgres {
	t.Helper()
	s, err := store.OpenPostgres(t.Context(), pgtest.NewSchema(t, db), store.PostgresOptions{Now: now})
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
