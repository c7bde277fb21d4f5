package store_test

import (
	"path/filepath"
	"strconv"
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

// BenchmarkEphemeral measures what a sign-in adds to the store: a limiter
// bucket's Update (each rate-limited request), a Take (a sign-in link or a
// passkey ceremony) and a PutIfAbsent (a ceremony begun).
func BenchmarkEphemeral(b *testing.B) {
	for _, bc := range []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"sqlite", func(b *testing.B) store.Store {
			s, err := store.OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "cloud.db"), store.SQLiteOptions{})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"postgres", func(b *testing.B) store.Store {
			s, err := store.OpenPostgres(b.Context(), pgtest.NewSchema(b, pgtest.NewDB(b)), store.PostgresOptions{})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := bc.open(b)
			defer s.Close()
			ctx := b.Context()
			now := time.Now()
			inc := func(cur []byte) ([]byte, time.Time, error) { return append(cur[:0:0], 1), now.Add(time.Minute), nil }
			b.Run("Update", func(b *testing.B) {
				i := 0
				for b.Loop() {
					if err := s.Update(ctx, "limit/ip/198.51.100."+strconv.Itoa(i%100), now, inc); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run("PutIfAbsent+Take", func(b *testing.B) {
				i := 0
				for b.Loop() {
					k := "passkey/" + strconv.Itoa(i)
					if _, err := s.PutIfAbsent(ctx, k, []byte("ceremony"), now, now.Add(time.Minute)); err != nil {
						b.Fatal(err)
					}
					if _, err := s.Take(ctx, k, now); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}
