package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"vigil/internal/fsutil"
)

// SQLiteOptions configure OpenSQLite. The zero value is usable.
type SQLiteOptions struct {
	// Now returns the current time, against which token and pairing expiry
	// is checked; nil means time.Now. Tests inject a clock.
	Now func() time.Time
	// Logger receives migrations (info) and pruning (debug). It never
	// receives tokens, hashes, secrets or message bytes. nil discards logs.
	Logger *slog.Logger
	// ObserveWrite, if set, is given the duration of every write
	// transaction, commit included (the cloud's store latency metric).
	ObserveWrite func(time.Duration)
}

// SQLite is the Store kept in one SQLite database file (WAL mode,
// synchronous=FULL, foreign keys on). It is safe for concurrent use.
//
// Writes go through a single connection and every multi-row write is one
// BEGIN IMMEDIATE transaction, so writers never interleave (AppendLink and
// AppendPairingMsg decide head+1 inside that transaction; primary keys on
// (household, seq) and (pairing, step) refuse a duplicate regardless).
// Reads use a separate pool of read-only connections and, thanks to WAL,
// never wait for a writer.
//
// Behaviour the Store interface leaves open: Delete* of a missing row is not
// an error; a row that refers to an account or household that does not exist
// (a token, member, link, device or object) is refused with ErrNotFound;
// UpdateAccount changes PasswordHash and TOTPSecret only; list methods return
// an empty slice for an unknown household; times are kept to the nanosecond
// and clamped to the years 1678..2262 (a zero time.Time round-trips as zero);
// a zero Expires is already expired. Expired tokens and pairings are deleted
// at Open and then at most once a minute by PutToken and CreatePairing.
type SQLite struct {
	labelling // labelling workspaces (labelling.go)

	w   *sql.DB // one connection, BEGIN IMMEDIATE: every write
	r   *sql.DB // read-only pool: every read
	now func() time.Time
	log *slog.Logger

	pruned pruneClock
	swept  pruneClock // of ephemeral entries, by the callers' clock

	objs      objBatcher // group commit of PutObject
	objDelay  fsutil.CommitDelay
	insertObj *sql.Stmt // insertObjectSQL, prepared once on the writer

	observeWrite func(time.Duration) // SQLiteOptions.ObserveWrite
}

var _ Store = (*SQLite)(nil)

const (
	sqliteDriver = "sqlite"
	// sqliteReaders bounds the read-only connection pool.
	sqliteReaders = 8
	// sqliteBusyMillis is how long a connection waits for a lock held by
	// another process before failing with SQLITE_BUSY.
	sqliteBusyMillis = 10000
	// pruneEvery bounds how often writes delete expired tokens and pairings.
	pruneEvery = time.Minute
)

// OpenSQLite opens (creating if needed) the database file at path and
// brings its schema up to date. A database written by a newer version of
// this program is refused. Close releases it.
func OpenSQLite(ctx context.Context, path string, opts SQLiteOptions) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("store: open sqlite: empty path")
	}
	s := &SQLite{now: opts.Now, log: opts.Logger, observeWrite: opts.ObserveWrite}
	s.labelling = labelling{read: s.lbRead, write: s.lbWrite}
	s.objDelay.Max = objCommitDelay
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()

	var err error
	if s.w, err = openSQLiteDB(path, false); err != nil {
		return nil, err
	}
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	if mode != "wal" {
		return nil, fmt.Errorf("store: open sqlite %s: journal_mode is %q, want wal", path, mode)
	}
	if err := migrateSQLite(ctx, s.w, s.log, encTime(s.now())); err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	// Uploads insert an object each: the statement is parsed once, not once
	// per group commit (parsing cost more than the insert).
	if s.insertObj, err = s.w.PrepareContext(ctx, insertObjectSQL); err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	// The read pool opens only once the file exists in WAL mode.
	if s.r, err = openSQLiteDB(path, true); err != nil {
		return nil, err
	}
	if err := s.r.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	s.prune(ctx, s.now())
	ok = true
	return s, nil
}

func openSQLiteDB(path string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyMillis))
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_txlock", "immediate")
	}
	dsn := "file:" + (&url.URL{Path: filepath.ToSlash(path)}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open(sqliteDriver, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	n := 1
	if readOnly {
		n = sqliteReaders
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// Close closes the database. Calls after Close fail.
func (s *SQLite) Close() error {
	var errs []error
	if s.insertObj != nil {
		errs = append(errs, s.insertObj.Close())
	}
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	return errors.Join(errs...)
}

// writeTx runs fn in one write transaction (BEGIN IMMEDIATE) and commits it
// when fn returns nil.
func (s *SQLite) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.observeWrite != nil {
		defer observeSince(s.observeWrite, time.Now())
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// observeSince gives observe the time since t.
func observeSince(observe func(time.Duration), t time.Time) { observe(time.Since(t)) }

// maybePrune deletes expired tokens and pairings if it has not done so for
// pruneEvery. Failures are logged, never returned: pruning is housekeeping,
// and reads already treat expired rows as missing.
func (s *SQLite) maybePrune(ctx context.Context) {
	s.pruned.maybePrune(ctx, s.now(), s.prune)
}

func (s *SQLite) prune(ctx context.Context, now time.Time) {
	s.pruned.mark(now)
	var tokens, pairings int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE expires_ns <= ?`, encTime(now))
		if err != nil {
			return err
		}
		tokens, _ = res.RowsAffected()
		res, err = tx.ExecContext(ctx, `DELETE FROM pairings WHERE expires_ns <= ?`, encTime(now))
		if err != nil {
			return err
		}
		pairings, _ = res.RowsAffected()
		return nil
	})
	logPrune(s.log, tokens, pairings, err)
}

// Times are Unix nanoseconds; the zero time.Time is math.MinInt64 and other
// times are clamped to the rest of the int64 range.
const zeroTimeNanos = math.MinInt64

var (
	minTime = time.Unix(0, zeroTimeNanos+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

func encTime(t time.Time) int64 {
	switch {
	case t.IsZero():
		return zeroTimeNanos
	case t.Before(minTime):
		return zeroTimeNanos + 1
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func decTime(ns int64) time.Time {
	if ns == zeroTimeNanos {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func encScopes(scopes []string) (string, error) {
	if len(scopes) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(scopes)
	return string(b), err
}

func decScopes(s string) ([]string, error) {
	var scopes []string
	if err := json.Unmarshal([]byte(s), &scopes); err != nil {
		return nil, err
	}
	if len(scopes) == 0 {
		return nil, nil
	}
	return scopes, nil
}

// notFound maps sql.ErrNoRows to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// refErr maps a foreign key failure (the account or household the row
// refers to does not exist) to ErrNotFound.
func refErr(err error) error {
	if isForeignKeyViolation(err) {
		return fmt.Errorf("%w (%w)", ErrNotFound, err)
	}
	return err
}

// Credentials.

func scanCredential(row interface{ Scan(...any) error }) (Credential, error) {
	var c Credential
	var created, used int64
	if err := row.Scan(&c.ID, &c.AccountID, &c.Data, &created, &used); err != nil {
		return Credential{}, err
	}
	c.Created, c.LastUsed = decTime(created), decTime(used)
	return c, nil
}

// PutCredential stores a new passkey of an account.
func (s *SQLite) PutCredential(ctx context.Context, c Credential) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO credentials (id, account_id, data, created_ns, last_used_ns) VALUES (?, ?, ?, ?, ?)`,
		c.ID, c.AccountID, c.Data, encTime(c.Created), encTime(c.LastUsed))
	switch {
	case isUniqueViolation(err):
		err = ErrExists
	case err != nil:
		err = refErr(err)
	}
	if err != nil {
		return fmt.Errorf("store: put credential: %w", err)
	}
	return nil
}

// Credentials returns the account's passkeys.
func (s *SQLite) Credentials(ctx context.Context, accountID string) ([]Credential, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, account_id, data, created_ns, last_used_ns FROM credentials WHERE account_id = ? ORDER BY created_ns, id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("store: credentials: %w", err)
	}
	defer rows.Close()
	out := []Credential{}
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, fmt.Errorf("store: credentials: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateCredential replaces a passkey's record and last use.
func (s *SQLite) UpdateCredential(ctx context.Context, c Credential) error {
	res, err := s.w.ExecContext(ctx, `UPDATE credentials SET data = ?, last_used_ns = ? WHERE id = ?`, c.Data, encTime(c.LastUsed), c.ID)
	if err != nil {
		return fmt.Errorf("store: update credential: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: update credential: %w", ErrNotFound)
	}
	return nil
}

// DeleteCredential removes one of the account's passkeys.
func (s *SQLite) DeleteCredential(ctx context.Context, accountID string, id []byte) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM credentials WHERE id = ? AND account_id = ?`, id, accountID)
	if err != nil {
		return fmt.Errorf("store: delete credential: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("store: delete credential: %w", ErrNotFound)
	}
	return nil
}

// Accounts.

const accountCols = `id, email, password_hash, totp_secret, created_ns`

func scanAccount(row interface{ Scan(...any) error }) (Account, error) {
	var a Account
	var created int64
	if err := row.Scan(&a.ID, &a.Email, &a.PasswordHash, &a.TOTPSecret, &created); err != nil {
		return Account{}, err
	}
	a.Created = decTime(created)
	return a, nil
}

// CreateAccount stores a; ErrExists when its ID or e-mail is taken.
func (s *SQLite) CreateAccount(ctx context.Context, a Account) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO accounts (`+accountCols+`) VALUES (?, ?, ?, ?, ?)`,
		a.ID, a.Email, a.PasswordHash, a.TOTPSecret, encTime(a.Created))
	if isUniqueViolation(err) {
		err = ErrExists
	}
	if err != nil {
		return fmt.Errorf("store: create account %q: %w", a.ID, err)
	}
	return nil
}

// Account returns the account with the ID.
func (s *SQLite) Account(ctx context.Context, id string) (Account, error) {
	a, err := scanAccount(s.r.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = ?`, id))
	if err != nil {
		return Account{}, fmt.Errorf("store: account %q: %w", id, notFound(err))
	}
	return a, nil
}

// AccountByEmail returns the account with exactly this e-mail.
func (s *SQLite) AccountByEmail(ctx context.Context, email string) (Account, error) {
	a, err := scanAccount(s.r.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE email = ?`, email))
	if err != nil {
		// The address is personal data: not in the message.
		return Account{}, fmt.Errorf("store: account by e-mail: %w", notFound(err))
	}
	return a, nil
}

// UpdateAccount replaces the PasswordHash and TOTPSecret of account a.ID.
// Email and Created are not changed.
func (s *SQLite) UpdateAccount(ctx context.Context, a Account) error {
	res, err := s.w.ExecContext(ctx, `UPDATE accounts SET password_hash = ?, totp_secret = ? WHERE id = ?`,
		a.PasswordHash, a.TOTPSecret, a.ID)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("store: update account %q: %w", a.ID, err)
	}
	return nil
}

// mustAffect returns ErrNotFound when res changed no row.
func mustAffect(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Tokens.

// PutToken stores t, replacing a token with the same hash. ErrNotFound
// when its account does not exist.
func (s *SQLite) PutToken(ctx context.Context, t Token) error {
	scopes, err := encScopes(t.Scopes)
	if err != nil {
		return fmt.Errorf("store: put token: scopes: %w", err)
	}
	_, err = s.w.ExecContext(ctx, `
INSERT INTO tokens (hash, account_id, kind, scopes, csrf, device, created_ns, expires_ns)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (hash) DO UPDATE SET
	account_id = excluded.account_id, kind = excluded.kind, scopes = excluded.scopes,
	csrf = excluded.csrf, device = excluded.device, created_ns = excluded.created_ns, expires_ns = excluded.expires_ns`,
		t.Hash[:], t.AccountID, t.Kind, scopes, t.CSRF, t.Device, encTime(t.Created), encTime(t.Expires))
	if err != nil {
		// Never the hash in a message.
		return fmt.Errorf("store: put token for account %q: %w", t.AccountID, refErr(err))
	}
	s.maybePrune(ctx)
	return nil
}

// Token returns the token with the hash; ErrNotFound when it is missing or
// expired (Expires not after now).
func (s *SQLite) Token(ctx context.Context, hash [32]byte) (Token, error) {
	var t Token
	var h []byte
	var scopes string
	var created, expires int64
	err := s.r.QueryRowContext(ctx, `
SELECT hash, account_id, kind, scopes, csrf, device, created_ns, expires_ns
FROM tokens WHERE hash = ? AND expires_ns > ?`, hash[:], encTime(s.now())).
		Scan(&h, &t.AccountID, &t.Kind, &scopes, &t.CSRF, &t.Device, &created, &expires)
	if err != nil {
		return Token{}, fmt.Errorf("store: token: %w", notFound(err))
	}
	if len(h) != len(t.Hash) {
		return Token{}, fmt.Errorf("store: token: stored hash has %d bytes", len(h))
	}
	copy(t.Hash[:], h)
	if t.Scopes, err = decScopes(scopes); err != nil {
		return Token{}, fmt.Errorf("store: token: scopes: %w", err)
	}
	t.Created, t.Expires = decTime(created), decTime(expires)
	return t, nil
}

// DeleteToken removes the token with the hash; a missing token is not an
// error.
func (s *SQLite) DeleteToken(ctx context.Context, hash [32]byte) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM tokens WHERE hash = ?`, hash[:]); err != nil {
		return fmt.Errorf("store: delete token: %w", err)
	}
	return nil
}

// DeleteTokens removes every token of the account of the kind ("": all
// kinds).
func (s *SQLite) DeleteTokens(ctx context.Context, accountID, kind string) error {
	var err error
	if kind == "" {
		_, err = s.w.ExecContext(ctx, `DELETE FROM tokens WHERE account_id = ?`, accountID)
	} else {
		_, err = s.w.ExecContext(ctx, `DELETE FROM tokens WHERE account_id = ? AND kind = ?`, accountID, kind)
	}
	if err != nil {
		return fmt.Errorf("store: delete tokens of account %q: %w", accountID, err)
	}
	return nil
}

// Households and members.

const householdCols = `id, name, genesis_hash, quota_bytes, created_ns`

func scanHousehold(row interface{ Scan(...any) error }) (Household, error) {
	var h Household
	var created int64
	if err := row.Scan(&h.ID, &h.Name, &h.GenesisHash, &h.QuotaBytes, &created); err != nil {
		return Household{}, err
	}
	h.Created = decTime(created)
	return h, nil
}

// CreateHousehold stores h, admin and genesis in one transaction. An empty
// HouseholdID in admin or genesis means h.ID; another ID is an error.
// ErrExists when h.ID is taken, ErrConflict when genesis.Seq is not 0,
// ErrNotFound when the admin's account does not exist; on any error nothing
// is stored.
func (s *SQLite) CreateHousehold(ctx context.Context, h Household, admin Member, genesis Link) error {
	wrap := func(err error) error { return fmt.Errorf("store: create household %q: %w", h.ID, err) }
	admin, genesis, err := householdRows(h, admin, genesis)
	if err != nil {
		return wrap(err)
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO households (`+householdCols+`) VALUES (?, ?, ?, ?, ?)`,
			h.ID, h.Name, h.GenesisHash, h.QuotaBytes, encTime(h.Created))
		if isUniqueViolation(err) {
			return ErrExists
		}
		if err != nil {
			return err
		}
		if err := insertMember(ctx, tx, admin); err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		if err := insertLink(ctx, tx, genesis); err != nil {
			return fmt.Errorf("genesis link: %w", err)
		}
		return nil
	})
	if err != nil {
		return wrap(err)
	}
	return nil
}

func insertMember(ctx context.Context, tx *sql.Tx, m Member) error {
	_, err := tx.ExecContext(ctx, `
INSERT INTO members (household_id, account_id, role, created_ns) VALUES (?, ?, ?, ?)
ON CONFLICT (household_id, account_id) DO UPDATE SET role = excluded.role`,
		m.HouseholdID, m.AccountID, m.Role, encTime(m.Created))
	return refErr(err)
}

func insertLink(ctx context.Context, tx *sql.Tx, l Link) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO links (household_id, seq, hash, data, created_ns) VALUES (?, ?, ?, ?, ?)`,
		l.HouseholdID, l.Seq, l.Hash, l.Data, encTime(l.Created))
	if isUniqueViolation(err) {
		return ErrConflict
	}
	return refErr(err)
}

// Household returns the household with the ID.
func (s *SQLite) Household(ctx context.Context, id string) (Household, error) {
	h, err := scanHousehold(s.r.QueryRowContext(ctx, `SELECT `+householdCols+` FROM households WHERE id = ?`, id))
	if err != nil {
		return Household{}, fmt.Errorf("store: household %q: %w", id, notFound(err))
	}
	return h, nil
}

// Households returns the households the account is a member of, oldest
// first.
func (s *SQLite) Households(ctx context.Context, accountID string) ([]Household, error) {
	rows, err := s.r.QueryContext(ctx, `
SELECT h.id, h.name, h.genesis_hash, h.quota_bytes, h.created_ns
FROM members m JOIN households h ON h.id = m.household_id
WHERE m.account_id = ? ORDER BY h.created_ns, h.id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("store: households of account %q: %w", accountID, err)
	}
	out, err := collect(rows, scanHousehold)
	if err != nil {
		return nil, fmt.Errorf("store: households of account %q: %w", accountID, err)
	}
	return out, nil
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// PutMember inserts m or updates its role (Created is kept). ErrNotFound
// when the household or account does not exist.
func (s *SQLite) PutMember(ctx context.Context, m Member) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error { return insertMember(ctx, tx, m) })
	if err != nil {
		return fmt.Errorf("store: put member %q of household %q: %w", m.AccountID, m.HouseholdID, err)
	}
	return nil
}

// Member returns the account's membership of the household.
func (s *SQLite) Member(ctx context.Context, householdID, accountID string) (Member, error) {
	m := Member{HouseholdID: householdID, AccountID: accountID}
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT role, created_ns FROM members WHERE household_id = ? AND account_id = ?`,
		householdID, accountID).Scan(&m.Role, &created)
	if err != nil {
		return Member{}, fmt.Errorf("store: member %q of household %q: %w", accountID, householdID, notFound(err))
	}
	m.Created = decTime(created)
	return m, nil
}

// Chain links.

// AppendLink adds l when l.Seq is the household's last seq plus one;
// ErrConflict otherwise, ErrNotFound when the household does not exist.
func (s *SQLite) AppendLink(ctx context.Context, l Link) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var head sql.NullInt64
		var exists bool
		err := tx.QueryRowContext(ctx, `
SELECT EXISTS (SELECT 1 FROM households WHERE id = ?1),
       (SELECT MAX(seq) FROM links WHERE household_id = ?1)`, l.HouseholdID).Scan(&exists, &head)
		if err != nil {
			return err
		}
		if !exists {
			return ErrNotFound
		}
		next := int64(0)
		if head.Valid {
			next = head.Int64 + 1
		}
		if l.Seq != next {
			return fmt.Errorf("seq %d, want %d: %w", l.Seq, next, ErrConflict)
		}
		return insertLink(ctx, tx, l)
	})
	if err != nil {
		return fmt.Errorf("store: append link to household %q: %w", l.HouseholdID, err)
	}
	return nil
}

// Links returns the household's links with Seq >= fromSeq, in order.
func (s *SQLite) Links(ctx context.Context, householdID string, fromSeq int64) ([]Link, error) {
	rows, err := s.r.QueryContext(ctx, `
SELECT seq, hash, data, created_ns FROM links
WHERE household_id = ? AND seq >= ? ORDER BY seq`, householdID, fromSeq)
	if err != nil {
		return nil, fmt.Errorf("store: links of household %q: %w", householdID, err)
	}
	out, err := collect(rows, scanLink(householdID))
	if err != nil {
		return nil, fmt.Errorf("store: links of household %q: %w", householdID, err)
	}
	return out, nil
}

// Devices.

const deviceCols = `id, household_id, kind, sign_pub, created_ns`

func scanDevice(row interface{ Scan(...any) error }) (Device, error) {
	var d Device
	var created int64
	if err := row.Scan(&d.ID, &d.HouseholdID, &d.Kind, &d.SignPub, &created); err != nil {
		return Device{}, err
	}
	d.Created = decTime(created)
	return d, nil
}

// PutDevice inserts d or replaces the device with its ID. ErrNotFound when
// the household does not exist.
func (s *SQLite) PutDevice(ctx context.Context, d Device) error {
	_, err := s.w.ExecContext(ctx, `
INSERT INTO devices (`+deviceCols+`) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
	household_id = excluded.household_id, kind = excluded.kind,
	sign_pub = excluded.sign_pub, created_ns = excluded.created_ns`,
		d.ID, d.HouseholdID, d.Kind, d.SignPub, encTime(d.Created))
	if err != nil {
		return fmt.Errorf("store: put device %q: %w", d.ID, refErr(err))
	}
	return nil
}

// Device returns the device with the ID.
func (s *SQLite) Device(ctx context.Context, id string) (Device, error) {
	d, err := scanDevice(s.r.QueryRowContext(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = ?`, id))
	if err != nil {
		return Device{}, fmt.Errorf("store: device %q: %w", id, notFound(err))
	}
	return d, nil
}

// Objects.

const objectCols = `household_id, key, device, camera, kind, seq, start_ns, end_ns, size, sha256, created_ns`

func scanObject(row interface{ Scan(...any) error }) (Object, error) {
	var o Object
	var seq, start, end, created int64
	var sum []byte
	if err := row.Scan(&o.HouseholdID, &o.Key, &o.Device, &o.Camera, &o.Kind, &seq, &start, &end, &o.Size, &sum, &created); err != nil {
		return Object{}, err
	}
	if len(sum) != len(o.SHA256) {
		return Object{}, fmt.Errorf("object %q: stored SHA-256 has %d bytes", o.Key, len(sum))
	}
	copy(o.SHA256[:], sum)
	o.Seq = uint64(seq)
	o.Start, o.End, o.Created = decTime(start), decTime(end), decTime(created)
	return o, nil
}

// PutObject indexes o. The same (HouseholdID, Key) with the same SHA256
// returns created=false; with another SHA256, ErrConflict. ErrNotFound when
// the household does not exist.
func (s *SQLite) PutObject(ctx context.Context, o Object) (bool, error) {
	// Uploads arrive many at a time and each must be durable before it is
	// acknowledged; committing them one transaction (one fsync) each would
	// serialise every upload behind the disk. Concurrent calls are grouped
	// into one transaction instead (group commit): each keeps its own
	// result, and none returns before its row is on stable storage.
	req := &objReq{ctx: ctx, o: o, done: make(chan objRes, 1), lead: make(chan struct{}, 1)}
	b := &s.objs
	s.objDelay.Arrived()
	b.mu.Lock()
	b.pending = append(b.pending, req)
	lead := !b.running
	if lead {
		b.running = true
	}
	b.mu.Unlock()
	if lead {
		s.commitObjects()
	}
	for {
		select {
		case r := <-req.done:
			if r.err != nil {
				return false, fmt.Errorf("store: put object %q of household %q: %w", o.Key, o.HouseholdID, r.err)
			}
			return r.created, nil
		case <-req.lead:
			s.commitObjects()
		}
	}
}

type objReq struct {
	ctx  context.Context
	o    Object
	done chan objRes
	lead chan struct{} // this caller commits the next batch
}

type objRes struct {
	created bool
	err     error
}

// objBatcher groups concurrent PutObject calls; one caller at a time (the
// leader) commits everything pending, then hands the lead to a waiting one.
type objBatcher struct {
	mu      sync.Mutex
	pending []*objReq
	running bool
}

// maxObjectBatch bounds one group commit.
const maxObjectBatch = 256

// objCommitDelay is how long a group commit of objects waits for company
// when PutObject calls arrive faster than one per delay
// (fsutil.CommitDelay): each commit's fsync and thread hand-offs cost
// more than its rows.
const objCommitDelay = 4 * time.Millisecond

func (s *SQLite) commitObjects() {
	b := &s.objs
	b.mu.Lock()
	waiting := len(b.pending)
	b.mu.Unlock()
	s.objDelay.Wait(waiting)
	b.mu.Lock()
	n := min(len(b.pending), maxObjectBatch)
	batch := b.pending[:n:n]
	b.pending = b.pending[n:]
	b.mu.Unlock()

	res := make([]objRes, len(batch))
	ctx := context.Background()
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		// A row that cannot go in (its household is gone, its key holds
		// another object) fails alone: SQLite backs out a statement that
		// fails a constraint and keeps the transaction, so the rest of the
		// batch commits without a savepoint per row. Any other error (I/O,
		// a full disk: SQLite may have rolled the transaction back) fails
		// the whole batch, and no row of it is committed.
		insert := tx.StmtContext(ctx, s.insertObj)
		defer insert.Close()
		for i, r := range batch {
			if err := r.ctx.Err(); err != nil {
				res[i].err = err
				continue
			}
			res[i].created, res[i].err = putObjectTx(ctx, tx, insert, r.o)
			if err := res[i].err; err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
				return err
			}
		}
		return nil
	})
	for i, r := range batch {
		if err != nil {
			res[i] = objRes{err: err}
		}
		r.done <- res[i]
	}
	b.mu.Lock()
	if len(b.pending) > 0 {
		b.pending[0].lead <- struct{}{}
	} else {
		b.running = false
	}
	b.mu.Unlock()
}

// insertObjectSQL adds an object unless its key is taken (putObjectTx).
const insertObjectSQL = `INSERT INTO objects (` + objectCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (household_id, key) DO NOTHING`

// putObjectTx adds o in tx with insert (insertObjectSQL prepared in tx).
func putObjectTx(ctx context.Context, tx *sql.Tx, insert *sql.Stmt, o Object) (bool, error) {
	res, err := insert.ExecContext(ctx,
		o.HouseholdID, o.Key, o.Device, o.Camera, o.Kind, int64(o.Seq),
		encTime(o.Start), encTime(o.End), o.Size, o.SHA256[:], encTime(o.Created))
	if err != nil {
		return false, refErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	if n == 1 {
		return true, nil
	}
	var sum []byte
	if err := tx.QueryRowContext(ctx, `SELECT sha256 FROM objects WHERE household_id = ? AND key = ?`,
		o.HouseholdID, o.Key).Scan(&sum); err != nil {
		return false, err
	}
	if string(sum) != string(o.SHA256[:]) {
		return false, fmt.Errorf("key holds another object: %w", ErrConflict)
	}
	return false, nil
}

// Object returns the household's object with the key.
func (s *SQLite) Object(ctx context.Context, householdID, key string) (Object, error) {
	o, err := scanObject(s.r.QueryRowContext(ctx, `SELECT `+objectCols+` FROM objects WHERE household_id = ? AND key = ?`,
		householdID, key))
	if err != nil {
		return Object{}, fmt.Errorf("store: object %q of household %q: %w", key, householdID, notFound(err))
	}
	return o, nil
}

// Objects returns the objects f selects ordered by camera, start, key. An
// object [Start, End) overlaps [From, To) when it ends after From and starts
// before To; a zero-length object at t overlaps when From <= t < To.
func (s *SQLite) Objects(ctx context.Context, f ObjectFilter) ([]Object, error) {
	conds := []string{"household_id = ?"}
	args := []any{f.HouseholdID}
	if f.Camera != "" {
		conds = append(conds, "camera = ?")
		args = append(args, f.Camera)
	}
	if f.Kind != "" {
		conds = append(conds, "kind = ?")
		args = append(args, f.Kind)
	}
	if !f.To.IsZero() {
		conds = append(conds, "start_ns < ?")
		args = append(args, encTime(f.To))
	}
	if !f.From.IsZero() {
		from := encTime(f.From)
		conds = append(conds, "(end_ns > ? OR start_ns >= ?)")
		args = append(args, from, from)
	}
	q := `SELECT ` + objectCols + ` FROM objects WHERE ` + strings.Join(conds, " AND ") + ` ORDER BY camera, start_ns, key`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: objects of household %q: %w", f.HouseholdID, err)
	}
	out, err := collect(rows, scanObject)
	if err != nil {
		return nil, fmt.Errorf("store: objects of household %q: %w", f.HouseholdID, err)
	}
	return out, nil
}

// Cameras returns the distinct cameras of the household's objects, sorted.
func (s *SQLite) Cameras(ctx context.Context, householdID string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT camera FROM objects WHERE household_id = ? ORDER BY camera`, householdID)
	if err != nil {
		return nil, fmt.Errorf("store: cameras of household %q: %w", householdID, err)
	}
	out, err := collect(rows, func(row interface{ Scan(...any) error }) (string, error) {
		var c string
		err := row.Scan(&c)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: cameras of household %q: %w", householdID, err)
	}
	return out, nil
}

// DeleteObject removes the household's object with the key; a missing
// object is not an error.
func (s *SQLite) DeleteObject(ctx context.Context, householdID, key string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM objects WHERE household_id = ? AND key = ?`, householdID, key); err != nil {
		return fmt.Errorf("store: delete object %q of household %q: %w", key, householdID, err)
	}
	return nil
}

// Usage returns the total Size of the household's objects.
func (s *SQLite) Usage(ctx context.Context, householdID string) (int64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM objects WHERE household_id = ?`, householdID).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: usage of household %q: %w", householdID, err)
	}
	return n, nil
}

// OldestObjects returns up to n of the household's objects ordered by end,
// then start, then key.
func (s *SQLite) OldestObjects(ctx context.Context, householdID string, n int) ([]Object, error) {
	if n <= 0 {
		return []Object{}, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+objectCols+` FROM objects WHERE household_id = ?
ORDER BY end_ns, start_ns, key LIMIT ?`, householdID, n)
	if err != nil {
		return nil, fmt.Errorf("store: oldest objects of household %q: %w", householdID, err)
	}
	out, err := collect(rows, scanObject)
	if err != nil {
		return nil, fmt.Errorf("store: oldest objects of household %q: %w", householdID, err)
	}
	return out, nil
}

// Pairings.

// CreatePairing stores p with p.Msgs as its first messages. ErrExists when
// a pairing that has not expired holds p.ID; an expired one is replaced.
func (s *SQLite) CreatePairing(ctx context.Context, p Pairing) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM pairings WHERE id = ? AND expires_ns <= ?`, p.ID, encTime(s.now())); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO pairings (id, household_id, created_ns, expires_ns) VALUES (?, ?, ?, ?)`,
			p.ID, p.HouseholdID, encTime(p.Created), encTime(p.Expires))
		if isUniqueViolation(err) {
			return ErrExists
		}
		if err != nil {
			return err
		}
		for i, m := range p.Msgs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO pairing_msgs (pairing_id, step, data) VALUES (?, ?, ?)`, p.ID, i, m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The ID is derived from the pairing code: not in the message.
		return fmt.Errorf("store: create pairing: %w", err)
	}
	s.maybePrune(ctx)
	return nil
}

// Pairing returns the rendezvous with its messages; ErrNotFound when it is
// missing or expired.
func (s *SQLite) Pairing(ctx context.Context, id string) (Pairing, error) {
	rows, err := s.r.QueryContext(ctx, `
SELECT p.household_id, p.created_ns, p.expires_ns, m.step, m.data
FROM pairings p LEFT JOIN pairing_msgs m ON m.pairing_id = p.id
WHERE p.id = ? AND p.expires_ns > ? ORDER BY m.step`, id, encTime(s.now()))
	if err != nil {
		return Pairing{}, fmt.Errorf("store: pairing: %w", err)
	}
	defer rows.Close()
	return pairingRows(id, rows)
}

// AppendPairingMsg appends msg as message number step. ErrNotFound when the
// pairing is missing or expired; ErrConflict when it does not hold exactly
// step messages. A non-empty householdID replaces the pairing's.
func (s *SQLite) AppendPairingMsg(ctx context.Context, id string, step int, msg []byte, householdID string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, `
SELECT (SELECT COUNT(*) FROM pairing_msgs WHERE pairing_id = p.id)
FROM pairings p WHERE p.id = ? AND p.expires_ns > ?`, id, encTime(s.now())).Scan(&n)
		if err != nil {
			return notFound(err)
		}
		if step != n {
			return fmt.Errorf("step %d, want %d: %w", step, n, ErrConflict)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO pairing_msgs (pairing_id, step, data) VALUES (?, ?, ?)`, id, step, msg)
		if isUniqueViolation(err) {
			return ErrConflict
		}
		if err != nil {
			return err
		}
		if householdID != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE pairings SET household_id = ? WHERE id = ?`, householdID, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: append pairing message %d: %w", step, err)
	}
	return nil
}
