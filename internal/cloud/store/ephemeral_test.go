package store_test

import (
	"path/filepath"
	"testing"
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/pgtest"
)

// checkSweep: expired ephemeral entries leave the table (the conformance
// suite sees only that they are missing), and live ones stay.
func checkSweep(t *testing.T, s store.Store, rows func() int) {
	t.Helper()
	ctx := t.Context()
	t0 := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, k := range []string{"a", "b", "c"} {
		if _, err := s.PutIfAbsent(ctx, k, []byte("x"), t0, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutIfAbsent(ctx, "live", []byte("x"), t0, t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := rows(); n != 4 {
		t.Fatalf("%d rows, want 4", n)
	}
	// A write two hours on sweeps what expired by then.
	if _, err := s.PutIfAbsent(ctx, "new", []byte("x"), t0.Add(2*time.Hour), t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := rows(); n != 2 {
		t.Errorf("%d rows after the sweep, want 2 (live, new)", n)
	}
}

func TestSQLiteEphemeralSweep(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	s := openSQLite(t, path, store.SQLiteOptions{})
	defer s.Close()
	db := rawDB(t, path)
	checkSweep(t, s, func() int { return count(t, db, "ephemeral") })
}

func TestPostgresEphemeralSweep(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewSchema(t, pgtest.NewDB(t))
	s := openPostgres(t, dsn, store.PostgresOptions{})
	c := pgConn(t, dsn)
	checkSweep(t, s, func() int { return pgCount(t, c, "ephemeral") })
}
