package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"vigil/internal/history"
)

// The history outbox and index (history.Store) in the same database: a
// record is durable here before the transparency log integrates it, and
// members find their household's entries through it.

// History returns the history store kept in this database.
func (s *SQLite) History() history.Store { return sqliteHistory{s} }

type sqliteHistory struct{ s *SQLite }

var _ history.Store = sqliteHistory{}

func (h sqliteHistory) AppendRecord(ctx context.Context, household string, build func(n int64, prev string) ([]byte, error)) (history.Item, error) {
	if err := checkRecordHousehold(household); err != nil {
		return history.Item{}, err
	}
	tx, err := h.s.w.BeginTx(ctx, nil)
	if err != nil {
		return history.Item{}, err
	}
	defer tx.Rollback()
	n, prev := int64(1), history.ZeroPrev
	var last int64
	var lastEntry []byte
	err = tx.QueryRowContext(ctx, `SELECT num, entry FROM history WHERE household_id = ? AND kind = ? ORDER BY num DESC LIMIT 1`,
		household, history.TypeRecord).Scan(&last, &lastEntry)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return history.Item{}, err
	default:
		n, prev = last+1, history.EntryHash(lastEntry)
	}
	e, err := build(n, prev)
	if err != nil {
		return history.Item{}, err
	}
	it := history.Item{Kind: history.TypeRecord, Household: household, Num: n, Entry: e, Index: -1}
	key, _ := history.ItemKey(it)
	res, err := tx.ExecContext(ctx, `INSERT INTO history (key, kind, household_id, num, entry, log_index) VALUES (?, ?, ?, ?, ?, -1)`,
		key, it.Kind, household, n, e)
	if err != nil {
		return history.Item{}, err
	}
	if it.ID, err = res.LastInsertId(); err != nil {
		return history.Item{}, err
	}
	return it, tx.Commit()
}

func (h sqliteHistory) Add(ctx context.Context, it history.Item) (history.Item, error) {
	key, err := checkAddItem(it)
	if err != nil {
		return history.Item{}, err
	}
	tx, err := h.s.w.BeginTx(ctx, nil)
	if err != nil {
		return history.Item{}, err
	}
	defer tx.Rollback()
	old, err := scanItem(tx.QueryRowContext(ctx, `SELECT `+historyCols+` FROM history WHERE key = ?`, key))
	if err == nil {
		return addedAgain(old, it, key)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return history.Item{}, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO history (key, kind, household_id, num, entry, log_index) VALUES (?, ?, ?, ?, ?, -1)`,
		key, it.Kind, it.Household, it.Num, it.Entry)
	if err != nil {
		return history.Item{}, err
	}
	if it.ID, err = res.LastInsertId(); err != nil {
		return history.Item{}, err
	}
	it.Index = -1
	return it, tx.Commit()
}

func (h sqliteHistory) Pending(ctx context.Context, limit int) ([]history.Item, error) {
	q := `SELECT ` + historyCols + ` FROM history WHERE log_index < 0 ORDER BY id`
	args := []any{}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := h.s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanItem)
}

func (h sqliteHistory) SetIndexes(ctx context.Context, ids []int64, first int64) error {
	tx, err := h.s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for i, id := range ids {
		want := first + int64(i)
		var have int64
		if err := tx.QueryRowContext(ctx, `SELECT log_index FROM history WHERE id = ?`, id).Scan(&have); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: no item %d", history.ErrStore, id)
		} else if err != nil {
			return err
		}
		if have >= 0 {
			if have != want {
				return fmt.Errorf("%w: item %d is at index %d already, not %d", history.ErrStore, id, have, want)
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE history SET log_index = ? WHERE id = ?`, want, id); err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("%w: index %d is another item's", history.ErrStore, want)
			}
			return err
		}
	}
	return tx.Commit()
}

func (h sqliteHistory) Items(ctx context.Context, q history.Query) ([]history.Item, error) {
	order := "num, id"
	if q.Kind == history.TypeRelease {
		order = "id"
	}
	sq := `SELECT ` + historyCols + ` FROM history WHERE household_id = ? AND kind = ? AND num >= ? ORDER BY ` + order
	args := []any{q.Household, q.Kind, q.From}
	if q.Limit > 0 {
		sq += ` LIMIT ?`
		args = append(args, q.Limit)
	}
	rows, err := h.s.r.QueryContext(ctx, sq, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanItem)
}

// lastIndexQuery runs on every publishing pass: its WHERE lets SQLite read
// the answer off the end of the history_log_index index (a partial index
// serves only queries that imply its condition) instead of scanning every
// entry ever recorded.
const lastIndexQuery = `SELECT COALESCE(MAX(log_index), -1) FROM history WHERE log_index >= 0`

func (h sqliteHistory) LastIndex(ctx context.Context) (int64, error) {
	var last int64
	err := h.s.r.QueryRowContext(ctx, lastIndexQuery).Scan(&last)
	return last, err
}

// historySchema creates the history table (a migration step).
const historySchema = `
-- The history outbox and index: transparency log entries (chain heads,
-- household records, web releases), durable here before the log has them.
-- No foreign keys: an entry outlives whatever it is about.
CREATE TABLE history (
	id           INTEGER PRIMARY KEY,
	key          TEXT    NOT NULL UNIQUE,
	kind         INTEGER NOT NULL,
	household_id TEXT    NOT NULL,
	num          INTEGER NOT NULL,
	entry        BLOB    NOT NULL,
	log_index    INTEGER NOT NULL DEFAULT -1
) STRICT;
CREATE INDEX history_household ON history (household_id, kind, num);
CREATE INDEX history_pending ON history (id) WHERE log_index < 0;
CREATE UNIQUE INDEX history_log_index ON history (log_index) WHERE log_index >= 0;
`
