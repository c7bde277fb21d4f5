package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"vigil/internal/cloud/store"
	"vigil/internal/history"
	"vigil/internal/history/historytest"
	"vigil/internal/pgtest"
	"vigil/internal/vigiltest"
)

// openPostgres opens the store dsn names; it is closed when t ends.
func openPostgres(t *testing.T, dsn string, opts store.PostgresOptions) *store.Postgres {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = vigiltest.Logger(t)
	}
	s, err := store.OpenPostgres(t.Context(), dsn, opts)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// pgConn connects to dsn directly, to look at what is stored.
func pgConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func pgCount(t *testing.T, c *pgx.Conn, table string) int {
	t.Helper()
	var n int
	if err := c.QueryRow(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// TestPostgresConformance runs every suite of the store over PostgreSQL:
// the domains' (their Store interfaces) and storetest's (the rest). Every
// subtest gets a store in a schema of its own, in one database; openPostgres
// closes it when the subtest ends.
func TestPostgresConformance(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	open := func(t *testing.T) *store.Postgres {
		return openPostgres(t, pgtest.NewSchema(t, db), store.PostgresOptions{})
	}
	runSuites(t, func(t *testing.T) suiteStore { return open(t) }, func(t *testing.T) store.Store { return open(t) })
}

func TestPostgresHistory(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	historytest.RunStore(t, func(t *testing.T) history.Store {
		return openPostgres(t, pgtest.NewSchema(t, db), store.PostgresOptions{}).History()
	})
}

// countingLog counts the store's "schema migrated" records.
type countingLog struct {
	mu       sync.Mutex
	migrated int
}

func (c *countingLog) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.migrated += strings.Count(string(p), "schema migrated")
	return len(p), nil
}

func (c *countingLog) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.migrated
}

func TestPostgresMigrations(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	versions := func(t *testing.T, dsn string) []int {
		t.Helper()
		rows, err := pgConn(t, dsn).Query(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	wantVersions := func(t *testing.T, dsn string) {
		t.Helper()
		got := versions(t, dsn)
		if len(got) != store.PostgresSchemaVersion() {
			t.Fatalf("schema_migrations holds %v, want 1..%d once each", got, store.PostgresSchemaVersion())
		}
		for i, v := range got {
			if v != i+1 {
				t.Fatalf("schema_migrations holds %v, want 1..%d once each", got, store.PostgresSchemaVersion())
			}
		}
	}

	t.Run("Reopen", func(t *testing.T) {
		dsn := pgtest.NewSchema(t, db)
		var log countingLog
		opts := store.PostgresOptions{Logger: slog.New(slog.NewTextHandler(&log, nil))}
		s := openPostgres(t, dsn, opts)
		now := time.Now().UTC()
		f := writeFixture(t, s, now)
		s.Close()
		s = openPostgres(t, dsn, opts)
		if n := log.count(); n != 1 {
			t.Errorf("%d migrations logged over two opens, want 1 (the second finds the schema current)", n)
		}
		wantVersions(t, dsn)
		ctx := t.Context()
		if a, err := s.AccountByEmail(ctx, f.account.Email); err != nil || a.ID != f.account.ID || !bytes.Equal(a.TOTPSecret, f.account.TOTPSecret) || !a.Created.Equal(now) {
			t.Errorf("account after reopen = %+v, %v", a, err)
		}
		if tok, err := s.Token(ctx, f.token.Hash); err != nil || tok.CSRF != f.token.CSRF {
			t.Errorf("token after reopen: %+v, %v", tok, err)
		}
		if o, err := s.Object(ctx, "hh-1", f.object.Key); err != nil || o.SHA256 != f.object.SHA256 || !o.End.Equal(f.object.End) {
			t.Errorf("object after reopen = %+v, %v", o, err)
		}
		if p, err := s.Pairing(ctx, f.pairing.ID); err != nil || len(p.Msgs) != 1 {
			t.Errorf("pairing after reopen = %+v, %v", p, err)
		}
		if cs, err := s.Credentials(ctx, "ann"); err != nil || len(cs) != 1 || !bytes.Equal(cs[0].ID, f.cred.ID) {
			t.Errorf("credentials after reopen = %+v, %v", cs, err)
		}
	})

	// Replicas starting at once: all open, one migrates, the schema holds
	// each version once.
	t.Run("ConcurrentOpeners", func(t *testing.T) {
		dsn := pgtest.NewSchema(t, db)
		var log countingLog
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 6)
		for i := range errs {
			wg.Go(func() {
				<-start
				s, err := store.OpenPostgres(t.Context(), dsn, store.PostgresOptions{Logger: slog.New(slog.NewTextHandler(&log, nil))})
				if err == nil {
					err = s.CreateAccount(t.Context(), store.Account{ID: fmt.Sprint("a", i), Email: fmt.Sprint(i, "@example.com")})
					s.Close()
				}
				errs[i] = err
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("opener %d: %v", i, err)
			}
		}
		if n := log.count(); n != 1 {
			t.Errorf("%d openers migrated, want exactly 1", n)
		}
		wantVersions(t, dsn)
	})

	t.Run("NewerRefused", func(t *testing.T) {
		dsn := pgtest.NewSchema(t, db)
		openPostgres(t, dsn, store.PostgresOptions{}).Close()
		if _, err := pgConn(t, dsn).Exec(t.Context(), `INSERT INTO schema_migrations (version, applied_ns) VALUES ($1, 0)`,
			store.PostgresSchemaVersion()+1); err != nil {
			t.Fatal(err)
		}
		_, err := store.OpenPostgres(t.Context(), dsn, store.PostgresOptions{})
		if err == nil || !strings.Contains(err.Error(), "newer") {
			t.Errorf("OpenPostgres of a newer schema: %v, want a refusal", err)
		}
	})

	// A failing step leaves the schema as it was.
	t.Run("FailedStepChangesNothing", func(t *testing.T) {
		dsn := pgtest.NewSchema(t, db)
		err := store.MigratePostgres(t.Context(), dsn, []string{`CREATE TABLE first (v INTEGER)`, `CREATE TABLE second (v NO_SUCH_TYPE)`})
		if err == nil {
			t.Fatal("a migration with a bad step succeeded")
		}
		var tables int
		if err := pgConn(t, dsn).QueryRow(t.Context(), `SELECT COUNT(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 0 {
			t.Errorf("%d tables after a failed migration, want none", tables)
		}
		if err := store.MigratePostgres(t.Context(), dsn, []string{`CREATE TABLE first (v INTEGER)`}); err != nil {
			t.Fatalf("the good step alone: %v", err)
		}
		if got := versions(t, dsn); len(got) != 1 || got[0] != 1 {
			t.Errorf("versions after the good step: %v, want [1]", got)
		}
	})

	t.Run("OpenErrors", func(t *testing.T) {
		if _, err := store.OpenPostgres(t.Context(), "postgres://u:hunter2@%zz", store.PostgresOptions{}); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("OpenPostgres of a bad DSN: %v, want an error without the password", err)
		}
		if _, err := store.OpenPostgres(t.Context(), db+" dbname=vigil_no_such_database", store.PostgresOptions{}); err == nil {
			t.Error("OpenPostgres of a missing database succeeded")
		}
	})
}

// Two stores on one schema are two cloud replicas: every race the suite
// runs inside one store holds between them too.
func TestPostgresReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewSchema(t, pgtest.NewDB(t))
	a := openPostgres(t, dsn, store.PostgresOptions{})
	b := openPostgres(t, dsn, store.PostgresOptions{})
	replicas := []*store.Postgres{a, b}
	ctx := t.Context()
	now := time.Now()
	if err := a.CreateAccount(ctx, store.Account{ID: "ann", Email: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateHousehold(ctx, store.Household{ID: "hh"}, store.Member{AccountID: "ann", Role: store.RoleAdmin}, store.Link{Data: []byte("g")}); err != nil {
		t.Fatal(err)
	}
	const racers = 16
	race := func(fn func(i int, s *store.Postgres) error) []error {
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, racers)
		for i := range racers {
			wg.Go(func() {
				<-start
				errs[i] = fn(i, replicas[i%2])
			})
		}
		close(start)
		wg.Wait()
		return errs
	}
	winners := func(what string, errs []error, want int) {
		t.Helper()
		n := 0
		for i, err := range errs {
			switch {
			case err == nil:
				n++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("%s: racer %d: %v, want nil or ErrConflict", what, i, err)
			}
		}
		if n != want {
			t.Errorf("%s: %d racers won, want %d", what, n, want)
		}
	}

	for seq := int64(1); seq <= 2; seq++ {
		winners(fmt.Sprint("AppendLink ", seq), race(func(i int, s *store.Postgres) error {
			return s.AppendLink(ctx, store.Link{HouseholdID: "hh", Seq: seq, Data: fmt.Appendf(nil, "%d by %d", seq, i)})
		}), 1)
	}
	if links, err := a.Links(ctx, "hh", 0); err != nil || len(links) != 3 {
		t.Errorf("links after the races: %d, %v; want 3", len(links), err)
	}

	if err := a.CreatePairing(ctx, store.Pairing{ID: "p", Msgs: [][]byte{[]byte("hub")}, Created: now, Expires: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	winners("AppendPairingMsg", race(func(i int, s *store.Postgres) error {
		return s.AppendPairingMsg(ctx, "p", 1, []byte("member"), "hh")
	}), 1)

	// The account's subscription bound holds across replicas.
	winners("PutPushSub", race(func(i int, s *store.Postgres) error {
		return s.PutPushSub(ctx, store.PushSub{HouseholdID: "hh", AccountID: "ann", Endpoint: fmt.Sprint("https://push.example/", i)}, 3)
	}), 3)

	var mu sync.Mutex
	nums := map[int64]bool{}
	for i, err := range race(func(i int, s *store.Postgres) error {
		it, err := s.History().AppendRecord(ctx, "hh", func(n int64, prev string) ([]byte, error) { return fmt.Append(nil, n), nil })
		mu.Lock()
		defer mu.Unlock()
		if nums[it.Num] {
			return fmt.Errorf("number %d given twice", it.Num)
		}
		nums[it.Num] = true
		return err
	}) {
		if err != nil {
			t.Errorf("AppendRecord racer %d: %v", i, err)
		}
	}
	for n := int64(1); n <= racers; n++ {
		if !nums[n] {
			t.Errorf("AppendRecord across replicas: numbers %v, want 1..%d", nums, racers)
			break
		}
	}

	keys := map[string]bool{}
	for i, err := range race(func(i int, s *store.Postgres) error {
		k, err := s.InitPushVAPIDKey(ctx, fmt.Sprint("key ", i))
		mu.Lock()
		keys[k] = true
		mu.Unlock()
		return err
	}) {
		if err != nil {
			t.Errorf("InitPushVAPIDKey racer %d: %v", i, err)
		}
	}
	if len(keys) != 1 {
		t.Errorf("racing replicas got VAPID keys %v, want one", keys)
	}
}

// What the Store interface leaves open, PostgreSQL answers as SQLite does:
// missing references are ErrNotFound and store nothing; times keep their
// nanoseconds, come back in UTC, are clamped past 2262; expired rows are
// pruned by a later write; nothing secret is logged.
func TestPostgresAsSQLite(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)

	t.Run("ForeignKeys", func(t *testing.T) {
		dsn := pgtest.NewSchema(t, db)
		s := openPostgres(t, dsn, store.PostgresOptions{})
		c := pgConn(t, dsn)
		checkRefusedReferences(t, s, func(table string) int { return pgCount(t, c, table) })
	})

	t.Run("Times", func(t *testing.T) {
		s := openPostgres(t, pgtest.NewSchema(t, db), store.PostgresOptions{})
		checkTimes(t, s)
	})

	t.Run("PrunesExpiredLogsNoSecrets", func(t *testing.T) {
		dsn := pgtest.NewSchema(t, db)
		var buf vigiltest.SyncBuffer
		clk := &clock{t: time.Now()}
		s := openPostgres(t, dsn, store.PostgresOptions{Now: clk.Now,
			Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		f := writeFixture(t, s, clk.Now())
		ctx := t.Context()
		clk.Add(2 * time.Hour) // the token and the pairing expire
		if _, err := s.Token(ctx, f.token.Hash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Token after expiry: %v, want ErrNotFound", err)
		}
		if _, err := s.Pairing(ctx, f.pairing.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Pairing after expiry: %v, want ErrNotFound", err)
		}
		c := pgConn(t, dsn)
		if n := pgCount(t, c, "tokens"); n != 1 {
			t.Fatalf("tokens before a write = %d, want 1 (reads do not prune)", n)
		}
		later := store.Token{Hash: sha256.Sum256([]byte("later")), AccountID: "ann", Kind: store.TokenAPI, Expires: clk.Now().Add(time.Hour)}
		if err := s.PutToken(ctx, later); err != nil {
			t.Fatal(err)
		}
		for table, want := range map[string]int{"tokens": 1, "pairings": 0, "pairing_msgs": 0} {
			if n := pgCount(t, c, table); n != want {
				t.Errorf("%s after a pruning write = %d, want %d", table, n, want)
			}
		}
		s.Close()
		checkLogNoSecrets(t, buf.String(), f)
	})

	t.Run("ClosedFails", func(t *testing.T) {
		s := openPostgres(t, pgtest.NewSchema(t, db), store.PostgresOptions{})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Account(t.Context(), "ann"); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Errorf("Account after Close: %v, want a failure", err)
		}
	})
}
