package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"vigil/internal/pgtest"
)

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// checkServer: a database from s is empty and usable, its schemas are
// apart, and both are gone once the test that made them ends.
func checkServer(t *testing.T, s *pgtest.Server) {
	var db, schema string
	t.Run("use", func(t *testing.T) {
		dsn := s.NewDB(t)
		c := connect(t, dsn)
		if err := c.QueryRow(t.Context(), `SELECT current_database()`).Scan(&db); err != nil {
			t.Fatal(err)
		}
		var tables int
		if err := c.QueryRow(t.Context(), `SELECT COUNT(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("a new database holds %d tables", tables)
		}

		a, b := connect(t, pgtest.NewSchema(t, dsn)), connect(t, pgtest.NewSchema(t, dsn))
		if err := a.QueryRow(t.Context(), `SELECT current_schema()`).Scan(&schema); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{`CREATE TABLE t (v TEXT)`, `INSERT INTO t VALUES ('in a')`} {
			if _, err := a.Exec(t.Context(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if _, err := b.Exec(t.Context(), `CREATE TABLE t (v TEXT)`); err != nil {
			t.Fatalf("the same table in another schema: %v", err)
		}
		var n int
		if err := b.QueryRow(t.Context(), `SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 0 {
			t.Errorf("schema b sees %d rows of a (%v)", n, err)
		}
	})
	if db == "" {
		return
	}
	admin := connect(t, s.NewDB(t))
	var left bool
	if err := admin.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, db).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left {
		t.Errorf("database %s is left after its test", db)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	s := pgtest.Open(t)
	t.Logf("server: %s", s)
	checkServer(t, s)
}

// TestPrivate starts a private server even where another one runs: the
// path a machine without PostgreSQL running takes.
func TestPrivate(t *testing.T) {
	t.Parallel()
	s := pgtest.Private(t)
	checkServer(t, s)
}

// TestStopRestart: a private server stopped refuses connections; restarted,
// it answers with its data as they were.
func TestStopRestart(t *testing.T) {
	t.Parallel()
	s := pgtest.Private(t)
	dsn := s.NewDB(t)
	c := connect(t, dsn)
	if _, err := c.Exec(t.Context(), `CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept')`); err != nil {
		t.Fatal(err)
	}
	s.Stop(t)
	if _, err := c.Exec(t.Context(), `SELECT 1`); err == nil {
		t.Error("a session survived Stop")
	}
	if c2, err := pgx.Connect(t.Context(), dsn); err == nil {
		c2.Close(context.Background())
		t.Fatal("a stopped server accepted a connection")
	}
	s.Restart(t)
	var v string
	if err := connect(t, dsn).QueryRow(t.Context(), `SELECT v FROM t`).Scan(&v); err != nil || v != "kept" {
		t.Errorf("after Restart: %q, %v", v, err)
	}
}
