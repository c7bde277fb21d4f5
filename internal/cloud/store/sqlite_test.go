package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/vigiltest"
)

func openSQLite(t *testing.T, path string, opts store.SQLiteOptions) *store.SQLite {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = vigiltest.Logger(t)
	}
	s, err := store.OpenSQLite(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	return s
}

// TestSQLiteConformance runs every suite of the store over SQLite: the
// domains' (their Store interfaces) and storetest's (the rest), each
// subtest on a new database.
func TestSQLiteConformance(t *testing.T) {
	open := func(t *testing.T) *store.SQLite {
		return openSQLite(t, filepath.Join(t.TempDir(), "cloud.db"), store.SQLiteOptions{})
	}
	// The domains' suites leave closing to newStore: their interfaces
	// have no Close.
	closed := func(t *testing.T) *store.SQLite {
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	runSuites(t, func(t *testing.T) suiteStore { return closed(t) }, func(t *testing.T) store.Store { return open(t) })
}

// rawDB opens the database file directly, to look at what is stored.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// fixture writes one of everything and returns what it wrote.
type fixture struct {
	account store.Account
	token   store.Token
	hh      store.Household
	genesis store.Link
	object  store.Object
	pairing store.Pairing
	cred    store.Credential
}

func writeFixture(t *testing.T, s store.Store, now time.Time) fixture {
	t.Helper()
	ctx := t.Context()
	f := fixture{
		account: store.Account{ID: "ann", Email: "ann@example.com", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
			TOTPSecret: []byte("totp seed 1234567890"), Created: now},
		token: store.Token{Hash: sha256.Sum256([]byte("a session secret")), AccountID: "ann", Kind: store.TokenSession,
			CSRF: "csrf-value", Created: now, Expires: now.Add(time.Hour)},
		hh:      store.Household{ID: "hh-1", Name: "Home", GenesisHash: []byte("genesis hash"), Created: now},
		genesis: store.Link{HouseholdID: "hh-1", Seq: 0, Hash: []byte("genesis hash"), Data: []byte("genesis"), Created: now},
		object: store.Object{HouseholdID: "hh-1", Key: "hh-1/front/1", Device: "hub", Camera: "front", Kind: "segment", Seq: 1,
			Start: now, End: now.Add(4 * time.Second), Size: 1234, SHA256: sha256.Sum256([]byte("sealed")), Created: now},
		pairing: store.Pairing{ID: "pair-1", Msgs: [][]byte{[]byte("hub hello")}, Created: now, Expires: now.Add(10 * time.Minute)},
		cred: store.Credential{ID: []byte("passkey credential id"), AccountID: "ann", Data: []byte(`{"publicKey":"cose"}`),
			Created: now, LastUsed: now},
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.CreateAccount(ctx, f.account))
	must(s.PutToken(ctx, f.token))
	must(s.CreateHousehold(ctx, f.hh, store.Member{HouseholdID: "hh-1", AccountID: "ann", Role: store.RoleAdmin, Created: now}, f.genesis))
	_, err := s.PutObject(ctx, f.object)
	must(err)
	must(s.CreatePairing(ctx, f.pairing))
	must(s.PutCredential(ctx, f.cred))
	return f
}

func TestSQLiteReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "cloud.db")
	now := time.Now().UTC().Truncate(time.Nanosecond)
	s := openSQLite(t, path, store.SQLiteOptions{})
	f := writeFixture(t, s, now)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openSQLite(t, path, store.SQLiteOptions{})
	defer s.Close()
	a, err := s.AccountByEmail(ctx, f.account.Email)
	if err != nil || a.ID != f.account.ID || !bytes.Equal(a.TOTPSecret, f.account.TOTPSecret) || !a.Created.Equal(now) {
		t.Errorf("account after reopen = %+v, %v", a, err)
	}
	tok, err := s.Token(ctx, f.token.Hash)
	if err != nil || tok.CSRF != f.token.CSRF || !tok.Expires.Equal(f.token.Expires) {
		t.Errorf("token after reopen: %v", err)
	}
	if m, err := s.Member(ctx, "hh-1", "ann"); err != nil || m.Role != store.RoleAdmin {
		t.Errorf("member after reopen = %+v, %v", m, err)
	}
	if links, err := s.Links(ctx, "hh-1", 0); err != nil || len(links) != 1 || !bytes.Equal(links[0].Data, f.genesis.Data) {
		t.Errorf("links after reopen = %v, %v", links, err)
	}
	o, err := s.Object(ctx, "hh-1", f.object.Key)
	if err != nil || o.SHA256 != f.object.SHA256 || !o.End.Equal(f.object.End) {
		t.Errorf("object after reopen = %+v, %v", o, err)
	}
	if p, err := s.Pairing(ctx, "pair-1"); err != nil || len(p.Msgs) != 1 {
		t.Errorf("pairing after reopen = %+v, %v", p, err)
	}
	if cs, err := s.Credentials(ctx, "ann"); err != nil || len(cs) != 1 || !bytes.Equal(cs[0].ID, f.cred.ID) || !bytes.Equal(cs[0].Data, f.cred.Data) || !cs[0].LastUsed.Equal(now) {
		t.Errorf("credentials after reopen = %+v, %v", cs, err)
	}
}

// A version 1 database (from before passkeys) is migrated in place to
// version 2: its rows stay readable and passkeys can be stored.
func TestSQLiteMigratesVersion1(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "cloud.db")
	now := time.Now().UTC()
	s := openSQLite(t, path, store.SQLiteOptions{})
	f := writeFixture(t, s, now)
	s.Close()
	// Take the file back to what version 1 wrote: no credentials table, one
	// version row.
	db := rawDB(t, path)
	for _, q := range []string{"DROP TABLE labelling_marks", "DROP TABLE labelling_evaluations", "DROP TABLE labelling_items", "DROP TABLE labelling_datasets", "DROP TABLE labelling_annotations", "DROP TABLE labelling_donations", "DROP TABLE labelling_links", "DROP TABLE labelling_workspaces", "DROP TABLE hub_reports", "DROP TABLE staff_notes", "DROP TABLE staff_tickets", "DROP INDEX staff_requests_due", "DROP TABLE staff_credentials", "DROP TABLE staff_requests", "DROP TABLE support_codes", "DROP TABLE staff_tokens", "DROP TABLE staff",
		"DROP TABLE ephemeral", "ALTER TABLE tokens DROP COLUMN device", "CREATE TABLE accesses (id INTEGER PRIMARY KEY)", "DROP TABLE history", "DROP INDEX objects_created", "ALTER TABLE households DROP COLUMN settings_sig",
		"ALTER TABLE households DROP COLUMN settings_body", "ALTER TABLE households DROP COLUMN settings_device", "DROP TABLE push_vapid", "DROP TABLE push_subs", "ALTER TABLE households DROP COLUMN max_age_ns", "DROP TABLE shares", "DROP TABLE credentials", "DELETE FROM schema_version WHERE version > 1"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	s = openSQLite(t, path, store.SQLiteOptions{})
	defer s.Close()
	var v int
	if err := db.QueryRow("SELECT MAX(version) FROM schema_version").Scan(&v); err != nil || v != store.SQLiteSchemaVersion() {
		t.Fatalf("schema version after migration = %d, %v; want %d", v, err, store.SQLiteSchemaVersion())
	}
	if a, err := s.AccountByEmail(ctx, f.account.Email); err != nil || a.ID != f.account.ID || a.PasswordHash != f.account.PasswordHash {
		t.Errorf("version 1 account after migration = %+v, %v", a, err)
	}
	if tok, err := s.Token(ctx, f.token.Hash); err != nil || tok.CSRF != f.token.CSRF {
		t.Errorf("version 1 token after migration: %+v, %v", tok, err)
	}
	if o, err := s.Object(ctx, "hh-1", f.object.Key); err != nil || o.SHA256 != f.object.SHA256 {
		t.Errorf("version 1 object after migration = %+v, %v", o, err)
	}
	if cs, err := s.Credentials(ctx, "ann"); err != nil || len(cs) != 0 {
		t.Errorf("credentials right after migration = %v, %v; want none", cs, err)
	}
	if err := s.PutCredential(ctx, f.cred); err != nil {
		t.Errorf("PutCredential after migration: %v", err)
	}
	if cs, err := s.Credentials(ctx, "ann"); err != nil || len(cs) != 1 {
		t.Errorf("credentials after PutCredential = %v, %v", cs, err)
	}
}

func TestSQLiteSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	openSQLite(t, path, store.SQLiteOptions{}).Close()
	db := rawDB(t, path)
	var v int
	if err := db.QueryRow("SELECT MAX(version) FROM schema_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != store.SQLiteSchemaVersion() {
		t.Errorf("schema version = %d, want %d", v, store.SQLiteSchemaVersion())
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}

	// Reopening does not migrate again.
	openSQLite(t, path, store.SQLiteOptions{}).Close()
	if n := count(t, db, "schema_version"); n != store.SQLiteSchemaVersion() {
		t.Errorf("schema_version rows after reopen = %d, want %d (one per step)", n, store.SQLiteSchemaVersion())
	}

	// A database from a newer program is refused, not modified.
	if _, err := db.Exec("INSERT INTO schema_version (version, applied_ns) VALUES (?, 0)", store.SQLiteSchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s, err := store.OpenSQLite(t.Context(), path, store.SQLiteOptions{Logger: vigiltest.Logger(t)})
	if err == nil {
		s.Close()
		t.Fatal("OpenSQLite of a schema newer than the program succeeded")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error for a newer schema = %v, want it to say so", err)
	}
}

func TestSQLiteOpenErrors(t *testing.T) {
	if _, err := store.OpenSQLite(t.Context(), "", store.SQLiteOptions{}); err == nil {
		t.Error("OpenSQLite with an empty path succeeded")
	}
	if _, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "missing", "cloud.db"), store.SQLiteOptions{}); err == nil {
		t.Error("OpenSQLite in a missing directory succeeded")
	}
}

// Rows that refer to an account or household that does not exist are
// refused with ErrNotFound (foreign keys are on), and a refused
// CreateHousehold stores nothing.
func TestSQLiteForeignKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	s := openSQLite(t, path, store.SQLiteOptions{})
	defer s.Close()
	db := rawDB(t, path)
	checkRefusedReferences(t, s, func(table string) int { return count(t, db, table) })
}

// Times: zero round-trips as zero, others come back in UTC to the
// nanosecond, and times beyond int64 nanoseconds are clamped.
func TestSQLiteTimes(t *testing.T) {
	s := openSQLite(t, filepath.Join(t.TempDir(), "cloud.db"), store.SQLiteOptions{})
	defer s.Close()
	checkTimes(t, s)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Expired tokens and pairings answer ErrNotFound at once and are deleted by
// a later write (at most once a minute) or at the next Open.
func TestSQLitePrunesExpired(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "cloud.db")
	clk := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := openSQLite(t, path, store.SQLiteOptions{Now: clk.Now})
	defer s.Close()
	if err := s.CreateAccount(ctx, store.Account{ID: "ann", Email: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	n := clk.Now()
	short := store.Token{Hash: sha256.Sum256([]byte("short")), AccountID: "ann", Kind: store.TokenPending, Created: n, Expires: n.Add(5 * time.Minute)}
	long := store.Token{Hash: sha256.Sum256([]byte("long")), AccountID: "ann", Kind: store.TokenSession, Created: n, Expires: n.Add(time.Hour)}
	for _, tok := range []store.Token{short, long} {
		if err := s.PutToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreatePairing(ctx, store.Pairing{ID: "p", Msgs: [][]byte{[]byte("m")}, Created: n, Expires: n.Add(10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Token(ctx, short.Hash); err != nil {
		t.Fatalf("Token before expiry: %v", err)
	}

	clk.Add(5 * time.Minute) // exactly at Expires: expired
	if _, err := s.Token(ctx, short.Hash); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Token at its Expires: %v, want ErrNotFound", err)
	}
	clk.Add(6 * time.Minute)
	if _, err := s.Pairing(ctx, "p"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Pairing after expiry: %v, want ErrNotFound", err)
	}
	db := rawDB(t, path)
	if got := count(t, db, "tokens"); got != 2 {
		t.Fatalf("tokens before a write = %d, want 2 (reads do not prune)", got)
	}
	if err := s.PutToken(ctx, store.Token{Hash: sha256.Sum256([]byte("new")), AccountID: "ann", Kind: store.TokenAPI, Created: clk.Now(), Expires: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if got := count(t, db, "tokens"); got != 2 {
		t.Errorf("tokens after a pruning write = %d, want 2 (the expired one deleted)", got)
	}
	if got := count(t, db, "pairings"); got != 0 {
		t.Errorf("pairings after a pruning write = %d, want 0", got)
	}
	if got := count(t, db, "pairing_msgs"); got != 0 {
		t.Errorf("pairing messages after a pruning write = %d, want 0", got)
	}
	if _, err := s.Token(ctx, long.Hash); err != nil {
		t.Errorf("unexpired token after pruning: %v", err)
	}
}

// Reads run alongside a stream of writes without errors, and every read
// sees a consistent, growing state.
func TestSQLiteConcurrentReadersWhileWriting(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := openSQLite(t, filepath.Join(t.TempDir(), "cloud.db"), store.SQLiteOptions{})
	defer s.Close()
	if err := s.CreateAccount(ctx, store.Account{ID: "ann", Email: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateHousehold(ctx, store.Household{ID: "hh"}, store.Member{AccountID: "ann", Role: store.RoleAdmin}, store.Link{Data: []byte("g")}); err != nil {
		t.Fatal(err)
	}
	const writes = 60
	const size = 100
	var written, overlapped atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	wg.Go(func() {
		for i := range writes {
			o := store.Object{HouseholdID: "hh", Key: fmt.Sprintf("k%04d", i), Camera: "front", Kind: "segment",
				Start: time.Unix(int64(i), 0), End: time.Unix(int64(i+1), 0), Size: size, SHA256: sha256.Sum256(fmt.Append(nil, i))}
			if _, err := s.PutObject(ctx, o); err != nil {
				errc <- fmt.Errorf("PutObject: %w", err)
				return
			}
			if err := s.AppendLink(ctx, store.Link{HouseholdID: "hh", Seq: int64(i + 1), Data: []byte("l")}); err != nil {
				errc <- fmt.Errorf("AppendLink: %w", err)
				return
			}
			written.Store(int64(i + 1))
		}
	})
	for range 4 {
		wg.Go(func() {
			for written.Load() < writes {
				// Pace the readers so they do not starve the writer of CPU.
				time.Sleep(500 * time.Microsecond)
				before := written.Load()
				objs, err := s.Objects(ctx, store.ObjectFilter{HouseholdID: "hh"})
				if err != nil {
					errc <- fmt.Errorf("Objects: %w", err)
					return
				}
				if int64(len(objs)) < before {
					errc <- fmt.Errorf("Objects returned %d objects after %d were written", len(objs), before)
					return
				}
				for i, o := range objs {
					if o.Key != fmt.Sprintf("k%04d", i) {
						errc <- fmt.Errorf("Objects[%d] = %s: out of order or missing", i, o.Key)
						return
					}
				}
				u, err := s.Usage(ctx, "hh")
				if err != nil {
					errc <- fmt.Errorf("Usage: %w", err)
					return
				}
				if u < before*size {
					errc <- fmt.Errorf("Usage = %d after %d objects", u, before)
					return
				}
				links, err := s.Links(ctx, "hh", 0)
				if err != nil {
					errc <- fmt.Errorf("Links: %w", err)
					return
				}
				for i, l := range links {
					if l.Seq != int64(i) {
						errc <- fmt.Errorf("Links[%d].Seq = %d", i, l.Seq)
						return
					}
				}
				if after := written.Load(); before > 0 && after < writes {
					overlapped.Add(1)
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case err := <-errc:
		cancel()
		<-done
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	if overlapped.Load() == 0 {
		t.Error("no read ran while the writes were under way")
	}
	if u, err := s.Usage(ctx, "hh"); err != nil || u != writes*size {
		t.Errorf("final Usage = %d, %v; want %d", u, err, writes*size)
	}
}

// Nothing the store logs contains a token hash, a secret or message bytes.
func TestSQLiteLogsNoSecrets(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := &clock{t: time.Now()}
	path := filepath.Join(t.TempDir(), "cloud.db")
	s := openSQLite(t, path, store.SQLiteOptions{Now: clk.Now, Logger: log})
	f := writeFixture(t, s, clk.Now())
	clk.Add(2 * time.Hour) // everything expires; the next write prunes
	if err := s.PutToken(t.Context(), store.Token{Hash: sha256.Sum256([]byte("later")), AccountID: "ann", Kind: store.TokenAPI, Expires: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	checkLogNoSecrets(t, buf.String(), f)
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
