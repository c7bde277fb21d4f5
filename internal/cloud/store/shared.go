package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"vigil/internal/history"
)

// Dialect-independent pieces of SQLite and Postgres: the prune throttle,
// argument checks and row-to-struct conversions. The SQL, the transaction
// mechanics and the error mapping stay with each dialect.

// rowScanner is a row to scan: *sql.Row, *sql.Rows, pgx.Row, pgx.Rows.
type rowScanner = interface{ Scan(...any) error }

// pruneClock throttles the deletion of expired tokens and pairings to once
// per pruneEvery (per process). Its zero value is ready: the first check is
// due.
type pruneClock struct {
	mu   sync.Mutex
	last time.Time
}

// due reports whether a prune is due at now, and if so records now as the
// last one, so that concurrent callers do not prune together. A clock that
// went backwards makes it due.
func (c *pruneClock) due(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	due := c.last.IsZero() || now.Sub(c.last) >= pruneEvery || now.Before(c.last)
	if due {
		c.last = now
	}
	return due
}

// mark records a prune at now.
func (c *pruneClock) mark(now time.Time) {
	c.mu.Lock()
	c.last = now
	c.mu.Unlock()
}

// maybePrune calls prune (with a context that outlives ctx's cancellation)
// if the clock says a prune is due at now.
func (c *pruneClock) maybePrune(ctx context.Context, now time.Time, prune func(context.Context, time.Time)) {
	if c.due(now) {
		// Housekeeping outlives the request that triggered it.
		prune(context.WithoutCancel(ctx), now)
	}
}

// logPrune logs the outcome of a prune: a failure as a warning (pruning is
// housekeeping, never an error to return), deleted rows at debug level.
func logPrune(log *slog.Logger, tokens, pairings int64, err error) {
	if err != nil {
		log.Warn("store: prune expired tokens and pairings", "err", err)
		return
	}
	if tokens > 0 || pairings > 0 {
		log.Debug("store: pruned expired rows", "tokens", tokens, "pairings", pairings)
	}
}

// logSweep logs the outcome of a sweep of expired ephemeral entries, as
// logPrune does.
func logSweep(log *slog.Logger, n int64, err error) {
	if err != nil {
		log.Warn("store: sweep expired ephemeral entries", "err", err)
		return
	}
	if n > 0 {
		log.Debug("store: swept expired ephemeral entries", "entries", n)
	}
}

// scanLink scans seq, hash, data, created_ns into a link of householdID.
func scanLink(householdID string) func(rowScanner) (Link, error) {
	return func(row rowScanner) (Link, error) {
		l := Link{HouseholdID: householdID}
		var created int64
		if err := row.Scan(&l.Seq, &l.Hash, &l.Data, &created); err != nil {
			return Link{}, err
		}
		l.Created = decTime(created)
		return l, nil
	}
}

// scanMember scans account_id, role, created_ns into a member of
// householdID.
func scanMember(householdID string) func(rowScanner) (Member, error) {
	return func(row rowScanner) (Member, error) {
		m := Member{HouseholdID: householdID}
		var created int64
		if err := row.Scan(&m.AccountID, &m.Role, &created); err != nil {
			return Member{}, err
		}
		m.Created = decTime(created)
		return m, nil
	}
}

// scanPushSub scans household_id, account_id, endpoint, p256dh, auth,
// created_ns.
func scanPushSub(row rowScanner) (PushSub, error) {
	var p PushSub
	var created int64
	err := row.Scan(&p.HouseholdID, &p.AccountID, &p.Endpoint, &p.P256dh, &p.Auth, &created)
	p.Created = decTime(created)
	return p, err
}

// historyCols are the columns scanItem reads.
const historyCols = `id, kind, household_id, num, entry, log_index`

// scanItem scans historyCols.
func scanItem(row rowScanner) (history.Item, error) {
	var it history.Item
	var kind int64
	err := row.Scan(&it.ID, &kind, &it.Household, &it.Num, &it.Entry, &it.Index)
	it.Kind = byte(kind)
	return it, err
}

// checkRecordHousehold refuses a record without a household.
func checkRecordHousehold(household string) error {
	if household == "" {
		return fmt.Errorf("%w: a record needs a household", history.ErrStore)
	}
	return nil
}

// checkAddItem checks an item for history.Store.Add and returns its key.
func checkAddItem(it history.Item) (string, error) {
	if it.Kind == history.TypeRecord {
		return "", fmt.Errorf("%w: records are added with AppendRecord", history.ErrStore)
	}
	key, err := history.ItemKey(it)
	if err != nil {
		return "", err
	}
	if len(it.Entry) == 0 || len(it.Entry) > history.MaxEntrySize {
		return "", fmt.Errorf("%w: an entry of %d bytes", history.ErrStore, len(it.Entry))
	}
	return key, nil
}

// addedAgain is the answer to adding it again under key when old is
// stored: old if the entries are the same, an error otherwise.
func addedAgain(old, it history.Item, key string) (history.Item, error) {
	if string(old.Entry) != string(it.Entry) {
		return history.Item{}, fmt.Errorf("%w: %s is stored with another entry", history.ErrStore, key)
	}
	return old, nil
}

// householdRows completes admin and genesis for CreateHousehold of h (an
// empty HouseholdID means h.ID) and checks them.
func householdRows(h Household, admin Member, genesis Link) (Member, Link, error) {
	if admin.HouseholdID == "" {
		admin.HouseholdID = h.ID
	}
	if genesis.HouseholdID == "" {
		genesis.HouseholdID = h.ID
	}
	if admin.HouseholdID != h.ID || genesis.HouseholdID != h.ID {
		return Member{}, Link{}, errors.New("admin or genesis link belongs to another household")
	}
	if genesis.Seq != 0 {
		return Member{}, Link{}, fmt.Errorf("genesis link has seq %d, want 0: %w", genesis.Seq, ErrConflict)
	}
	return admin, genesis, nil
}

// pairingRows reads the pairing id from rows of household_id, created_ns,
// expires_ns, step, data (step and data NULL for a pairing without
// messages), ordered by step. It does not close rows.
func pairingRows(id string, rows interface {
	Next() bool
	Scan(...any) error
	Err() error
}) (Pairing, error) {
	p := Pairing{ID: id}
	found := false
	for rows.Next() {
		var created, expires int64
		var step *int64
		var data []byte
		if err := rows.Scan(&p.HouseholdID, &created, &expires, &step, &data); err != nil {
			return Pairing{}, fmt.Errorf("store: pairing: %w", err)
		}
		found = true
		p.Created, p.Expires = decTime(created), decTime(expires)
		if step != nil {
			if *step != int64(len(p.Msgs)) {
				return Pairing{}, fmt.Errorf("store: pairing: message %d missing", len(p.Msgs))
			}
			p.Msgs = append(p.Msgs, data)
		}
	}
	if err := rows.Err(); err != nil {
		return Pairing{}, fmt.Errorf("store: pairing: %w", err)
	}
	if !found {
		return Pairing{}, fmt.Errorf("store: pairing: %w", ErrNotFound)
	}
	return p, nil
}
