package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresOptions configure OpenPostgres. The zero value is usable.
type PostgresOptions struct {
	// Now returns the current time, against which token and pairing expiry
	// is checked; nil means time.Now. Tests inject a clock.
	Now func() time.Time
	// Logger receives migrations (info) and pruning (debug). It never
	// receives tokens, hashes, secrets, message bytes or the DSN's password.
	// nil discards logs.
	Logger *slog.Logger
	// MaxConns bounds the connection pool; 0 means the DSN's pool_max_conns
	// or pgx's default (the greater of 4 and the number of CPUs).
	MaxConns int32
	// ObserveWrite, if set, is given the duration of every transaction,
	// commit and retries included (the cloud's store latency metric).
	ObserveWrite func(time.Duration)
}

// Postgres is the Store kept in a PostgreSQL database (the tables of the
// DSN's search_path: one schema is one store). It is safe for concurrent
// use, and so is running several processes (cloud replicas) on the same
// schema:
//
//   - every read-modify-write is one transaction that first locks what it
//     decides on: AppendLink the household's row, AppendPairingMsg the
//     pairing's, PutPushSub (with a maximum) the account's, AppendRecord an
//     advisory lock of the household; the primary keys on (household, seq)
//     and (pairing, step) refuse a duplicate regardless;
//   - single-row writes are single statements (INSERT ... ON CONFLICT,
//     UPDATE ... WHERE), atomic under READ COMMITTED;
//   - migrations run under an advisory lock (migratePostgres).
//
// It behaves as SQLite does where the Store interface leaves a choice open
// (see SQLite): Delete* of a missing row is not an error; a row that
// refers to a missing account or household is refused with ErrNotFound;
// times are kept to the nanosecond and clamped to the years 1678..2262; a
// zero Expires is already expired; expired tokens and pairings are deleted
// at Open and then at most once a minute (per process) by PutToken and
// CreatePairing. Text is PostgreSQL's: a string with a NUL byte or invalid
// UTF-8 is refused with an error, where SQLite would keep it.
type Postgres struct {
	labelling // labelling workspaces (labelling.go)

	pool *pgxpool.Pool
	now  func() time.Time
	log  *slog.Logger

	observeWrite func(time.Duration) // PostgresOptions.ObserveWrite

	pruned pruneClock
	swept  pruneClock // of ephemeral entries, by the callers' clock
}

var _ Store = (*Postgres)(nil)

// pgTxAttempts bounds how often a transaction that PostgreSQL aborted for a
// deadlock or a serialization failure is run again.
const pgTxAttempts = 5

// OpenPostgres connects to the database dsn names (a URL or key=value
// string, as libpq takes; pool_max_conns and search_path among them) and
// brings its schema up to date. A schema written by a newer version of
// this program is refused. Close releases the connections.
func OpenPostgres(ctx context.Context, dsn string, opts PostgresOptions) (*Postgres, error) {
	s := &Postgres{now: opts.Now, log: opts.Logger, observeWrite: opts.ObserveWrite}
	s.labelling = labelling{read: s.lbRead, write: s.lbWrite}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn's message shows the DSN with its password redacted.
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	where := fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("store: open postgres %s: %w", where, err)
	}
	ok := false
	defer func() {
		if !ok {
			s.pool.Close()
		}
	}()
	if err := s.pool.Ping(ctx); err != nil {
		return nil, fmt.Errorf("store: open postgres %s: %w", where, err)
	}
	if err := migratePostgres(ctx, s.pool, postgresMigrations(), s.log, encTime(s.now())); err != nil {
		return nil, fmt.Errorf("store: open postgres %s: %w", where, err)
	}
	s.prune(ctx, s.now())
	ok = true
	return s, nil
}

// Close closes every connection, waiting for those in use to be released.
// Calls after Close fail.
func (s *Postgres) Close() error {
	s.pool.Close()
	return nil
}

// tx runs fn in one READ COMMITTED transaction and commits it when fn
// returns nil. A transaction that PostgreSQL aborted for a deadlock or a
// serialization failure runs again, fn included: fn must have no effect
// outside the transaction.
func (s *Postgres) tx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	if s.observeWrite != nil {
		defer observeSince(s.observeWrite, time.Now())
	}
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if c := pgCode(err); attempt < pgTxAttempts && (c == pgDeadlockDetected || c == pgSerializationFailure) {
			continue
		}
		return err
	}
}

// maybePrune deletes expired tokens and pairings if it has not done so for
// pruneEvery. Failures are logged, never returned: pruning is housekeeping,
// and reads already treat expired rows as missing.
func (s *Postgres) maybePrune(ctx context.Context) {
	s.pruned.maybePrune(ctx, s.now(), s.prune)
}

func (s *Postgres) prune(ctx context.Context, now time.Time) {
	s.pruned.mark(now)
	var tokens, pairings int64
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM tokens WHERE expires_ns <= $1`, encTime(now))
		if err != nil {
			return err
		}
		tokens = tag.RowsAffected()
		tag, err = tx.Exec(ctx, `DELETE FROM pairings WHERE expires_ns <= $1`, encTime(now))
		if err != nil {
			return err
		}
		pairings = tag.RowsAffected()
		return nil
	})
	logPrune(s.log, tokens, pairings, err)
}

// pgCollect scans every row with scan and closes rows; no rows is an empty
// slice.
func pgCollect[T any](rows pgx.Rows, err error, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
}

// pgAffected returns ErrNotFound when tag changed no row.
func pgAffected(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// Credentials.

// PutCredential stores a new passkey of an account.
func (s *Postgres) PutCredential(ctx context.Context, c Credential) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO credentials (id, account_id, data, created_ns, last_used_ns) VALUES ($1, $2, $3, $4, $5)`,
		c.ID, c.AccountID, c.Data, encTime(c.Created), encTime(c.LastUsed))
	if err := pgInsertErr(err); err != nil {
		return fmt.Errorf("store: put credential: %w", err)
	}
	return nil
}

// Credentials returns the account's passkeys, oldest first.
func (s *Postgres) Credentials(ctx context.Context, accountID string) ([]Credential, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, account_id, data, created_ns, last_used_ns FROM credentials WHERE account_id = $1 ORDER BY created_ns, id`, accountID)
	out, err := pgCollect(rows, err, scanCredential)
	if err != nil {
		return nil, fmt.Errorf("store: credentials: %w", err)
	}
	return out, nil
}

// UpdateCredential replaces a passkey's record and last use.
func (s *Postgres) UpdateCredential(ctx context.Context, c Credential) error {
	err := pgAffected(s.pool.Exec(ctx, `UPDATE credentials SET data = $1, last_used_ns = $2 WHERE id = $3`, c.Data, encTime(c.LastUsed), c.ID))
	if err != nil {
		return fmt.Errorf("store: update credential: %w", err)
	}
	return nil
}

// DeleteCredential removes one of the account's passkeys.
func (s *Postgres) DeleteCredential(ctx context.Context, accountID string, id []byte) error {
	err := pgAffected(s.pool.Exec(ctx, `DELETE FROM credentials WHERE id = $1 AND account_id = $2`, id, accountID))
	if err != nil {
		return fmt.Errorf("store: delete credential: %w", err)
	}
	return nil
}

// Accounts.

// CreateAccount stores a; ErrExists when its ID or e-mail is taken.
func (s *Postgres) CreateAccount(ctx context.Context, a Account) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO accounts (`+accountCols+`) VALUES ($1, $2, $3, $4, $5)`,
		a.ID, a.Email, a.PasswordHash, a.TOTPSecret, encTime(a.Created))
	if pgUnique(err) {
		err = ErrExists
	}
	if err != nil {
		return fmt.Errorf("store: create account %q: %w", a.ID, err)
	}
	return nil
}

// Account returns the account with the ID.
func (s *Postgres) Account(ctx context.Context, id string) (Account, error) {
	a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE id = $1`, id))
	if err != nil {
		return Account{}, fmt.Errorf("store: account %q: %w", id, pgNotFound(err))
	}
	return a, nil
}

// AccountByEmail returns the account with exactly this e-mail.
func (s *Postgres) AccountByEmail(ctx context.Context, email string) (Account, error) {
	a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE email = $1`, email))
	if err != nil {
		// The address is personal data: not in the message.
		return Account{}, fmt.Errorf("store: account by e-mail: %w", pgNotFound(err))
	}
	return a, nil
}

// UpdateAccount replaces the PasswordHash and TOTPSecret of account a.ID.
// Email and Created are not changed.
func (s *Postgres) UpdateAccount(ctx context.Context, a Account) error {
	err := pgAffected(s.pool.Exec(ctx, `UPDATE accounts SET password_hash = $1, totp_secret = $2 WHERE id = $3`,
		a.PasswordHash, a.TOTPSecret, a.ID))
	if err != nil {
		return fmt.Errorf("store: update account %q: %w", a.ID, err)
	}
	return nil
}

// Tokens.

// PutToken stores t, replacing a token with the same hash. ErrNotFound
// when its account does not exist.
func (s *Postgres) PutToken(ctx context.Context, t Token) error {
	scopes := t.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	_, err := s.pool.Exec(ctx, `
INSERT INTO tokens (hash, account_id, kind, scopes, csrf, device, created_ns, expires_ns)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (hash) DO UPDATE SET
	account_id = excluded.account_id, kind = excluded.kind, scopes = excluded.scopes,
	csrf = excluded.csrf, device = excluded.device, created_ns = excluded.created_ns, expires_ns = excluded.expires_ns`,
		t.Hash[:], t.AccountID, t.Kind, scopes, t.CSRF, t.Device, encTime(t.Created), encTime(t.Expires))
	if err != nil {
		// Never the hash in a message.
		return fmt.Errorf("store: put token for account %q: %w", t.AccountID, pgRefErr(err))
	}
	s.maybePrune(ctx)
	return nil
}

// Token returns the token with the hash; ErrNotFound when it is missing or
// expired (Expires not after now).
func (s *Postgres) Token(ctx context.Context, hash [32]byte) (Token, error) {
	var t Token
	var h []byte
	var created, expires int64
	err := s.pool.QueryRow(ctx, `
SELECT hash, account_id, kind, scopes, csrf, device, created_ns, expires_ns
FROM tokens WHERE hash = $1 AND expires_ns > $2`, hash[:], encTime(s.now())).
		Scan(&h, &t.AccountID, &t.Kind, &t.Scopes, &t.CSRF, &t.Device, &created, &expires)
	if err != nil {
		return Token{}, fmt.Errorf("store: token: %w", pgNotFound(err))
	}
	if len(h) != len(t.Hash) {
		return Token{}, fmt.Errorf("store: token: stored hash has %d bytes", len(h))
	}
	copy(t.Hash[:], h)
	if len(t.Scopes) == 0 {
		t.Scopes = nil
	}
	t.Created, t.Expires = decTime(created), decTime(expires)
	return t, nil
}

// DeleteToken removes the token with the hash; a missing token is not an
// error.
func (s *Postgres) DeleteToken(ctx context.Context, hash [32]byte) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE hash = $1`, hash[:]); err != nil {
		return fmt.Errorf("store: delete token: %w", err)
	}
	return nil
}

// DeleteTokens removes every token of the account of the kind ("": all
// kinds).
func (s *Postgres) DeleteTokens(ctx context.Context, accountID, kind string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM tokens WHERE account_id = $1 AND ($2 = '' OR kind = $2)`, accountID, kind)
	if err != nil {
		return fmt.Errorf("store: delete tokens of account %q: %w", accountID, err)
	}
	return nil
}

// Households and members.

// CreateHousehold stores h, admin and genesis in one transaction. An empty
// HouseholdID in admin or genesis means h.ID; another ID is an error.
// ErrExists when h.ID is taken, ErrConflict when genesis.Seq is not 0,
// ErrNotFound when the admin's account does not exist; on any error nothing
// is stored.
func (s *Postgres) CreateHousehold(ctx context.Context, h Household, admin Member, genesis Link) error {
	wrap := func(err error) error { return fmt.Errorf("store: create household %q: %w", h.ID, err) }
	admin, genesis, err := householdRows(h, admin, genesis)
	if err != nil {
		return wrap(err)
	}
	err = s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO households (`+householdCols+`) VALUES ($1, $2, $3, $4, $5)`,
			h.ID, h.Name, h.GenesisHash, h.QuotaBytes, encTime(h.Created))
		if pgUnique(err) {
			return ErrExists
		}
		if err != nil {
			return err
		}
		if err := pgInsertMember(ctx, tx, admin); err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		if err := pgInsertLink(ctx, tx, genesis); err != nil {
			return fmt.Errorf("genesis link: %w", err)
		}
		return nil
	})
	if err != nil {
		return wrap(err)
	}
	return nil
}

func pgInsertMember(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, m Member) error {
	_, err := q.Exec(ctx, `
INSERT INTO members (household_id, account_id, role, created_ns) VALUES ($1, $2, $3, $4)
ON CONFLICT (household_id, account_id) DO UPDATE SET role = excluded.role`,
		m.HouseholdID, m.AccountID, m.Role, encTime(m.Created))
	return pgRefErr(err)
}

func pgInsertLink(ctx context.Context, tx pgx.Tx, l Link) error {
	_, err := tx.Exec(ctx, `INSERT INTO links (household_id, seq, hash, data, created_ns) VALUES ($1, $2, $3, $4, $5)`,
		l.HouseholdID, l.Seq, l.Hash, l.Data, encTime(l.Created))
	if pgUnique(err) {
		return ErrConflict
	}
	return pgRefErr(err)
}

// Household returns the household with the ID.
func (s *Postgres) Household(ctx context.Context, id string) (Household, error) {
	h, err := scanHousehold(s.pool.QueryRow(ctx, `SELECT `+householdCols+` FROM households WHERE id = $1`, id))
	if err != nil {
		return Household{}, fmt.Errorf("store: household %q: %w", id, pgNotFound(err))
	}
	return h, nil
}

// Households returns the households the account is a member of, oldest
// first.
func (s *Postgres) Households(ctx context.Context, accountID string) ([]Household, error) {
	rows, err := s.pool.Query(ctx, `
SELECT h.id, h.name, h.genesis_hash, h.quota_bytes, h.created_ns
FROM members m JOIN households h ON h.id = m.household_id
WHERE m.account_id = $1 ORDER BY h.created_ns, h.id`, accountID)
	out, err := pgCollect(rows, err, scanHousehold)
	if err != nil {
		return nil, fmt.Errorf("store: households of account %q: %w", accountID, err)
	}
	return out, nil
}

// PutMember inserts m or updates its role (Created is kept). ErrNotFound
// when the household or account does not exist.
func (s *Postgres) PutMember(ctx context.Context, m Member) error {
	if err := pgInsertMember(ctx, s.pool, m); err != nil {
		return fmt.Errorf("store: put member %q of household %q: %w", m.AccountID, m.HouseholdID, err)
	}
	return nil
}

// Member returns the account's membership of the household.
func (s *Postgres) Member(ctx context.Context, householdID, accountID string) (Member, error) {
	m := Member{HouseholdID: householdID, AccountID: accountID}
	var created int64
	err := s.pool.QueryRow(ctx, `SELECT role, created_ns FROM members WHERE household_id = $1 AND account_id = $2`,
		householdID, accountID).Scan(&m.Role, &created)
	if err != nil {
		return Member{}, fmt.Errorf("store: member %q of household %q: %w", accountID, householdID, pgNotFound(err))
	}
	m.Created = decTime(created)
	return m, nil
}

// Chain links.

// AppendLink adds l when l.Seq is the household's last seq plus one;
// ErrConflict otherwise, ErrNotFound when the household does not exist.
// The household's row is locked first, so appenders (in any process) take
// turns and each reads the head the previous one left.
func (s *Postgres) AppendLink(ctx context.Context, l Link) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// FOR NO KEY UPDATE: other appenders wait; rows that merely refer to
		// the household (objects, devices, ...) do not.
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM households WHERE id = $1 FOR NO KEY UPDATE`, l.HouseholdID).Scan(&one)
		if err != nil {
			return pgNotFound(err)
		}
		// A statement after the lock: under READ COMMITTED it sees every
		// link committed before the lock was granted.
		var head *int64
		if err := tx.QueryRow(ctx, `SELECT MAX(seq) FROM links WHERE household_id = $1`, l.HouseholdID).Scan(&head); err != nil {
			return err
		}
		next := int64(0)
		if head != nil {
			next = *head + 1
		}
		if l.Seq != next {
			return fmt.Errorf("seq %d, want %d: %w", l.Seq, next, ErrConflict)
		}
		return pgInsertLink(ctx, tx, l)
	})
	if err != nil {
		return fmt.Errorf("store: append link to household %q: %w", l.HouseholdID, err)
	}
	return nil
}

// Links returns the household's links with Seq >= fromSeq, in order.
func (s *Postgres) Links(ctx context.Context, householdID string, fromSeq int64) ([]Link, error) {
	rows, err := s.pool.Query(ctx, `
SELECT seq, hash, data, created_ns FROM links
WHERE household_id = $1 AND seq >= $2 ORDER BY seq`, householdID, fromSeq)
	out, err := pgCollect(rows, err, scanLink(householdID))
	if err != nil {
		return nil, fmt.Errorf("store: links of household %q: %w", householdID, err)
	}
	return out, nil
}

// Devices.

// PutDevice inserts d or replaces the device with its ID. ErrNotFound when
// the household does not exist.
func (s *Postgres) PutDevice(ctx context.Context, d Device) error {
	_, err := s.pool.Exec(ctx, `
INSERT INTO devices (`+deviceCols+`) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET
	household_id = excluded.household_id, kind = excluded.kind,
	sign_pub = excluded.sign_pub, created_ns = excluded.created_ns`,
		d.ID, d.HouseholdID, d.Kind, d.SignPub, encTime(d.Created))
	if err != nil {
		return fmt.Errorf("store: put device %q: %w", d.ID, pgRefErr(err))
	}
	return nil
}

// Device returns the device with the ID.
func (s *Postgres) Device(ctx context.Context, id string) (Device, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = $1`, id))
	if err != nil {
		return Device{}, fmt.Errorf("store: device %q: %w", id, pgNotFound(err))
	}
	return d, nil
}
