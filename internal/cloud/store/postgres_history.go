package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"vigil/internal/history"
)

// The history outbox and index (history.Store) in the same database, as
// with SQLite: a record is durable here before the transparency log
// integrates it, and members find their household's entries through it.

// History returns the history store kept in this database.
func (s *Postgres) History() history.Store { return pgHistory{s} }

type pgHistory struct{ s *Postgres }

var _ history.Store = pgHistory{}

// AppendRecord numbers the household's next record. An advisory lock of
// the household, held to the end of the transaction, makes appenders in
// every process take turns, so each reads the last record the previous one
// stored; the unique key refuses a second record with a number regardless.
func (h pgHistory) AppendRecord(ctx context.Context, household string, build func(n int64, prev string) ([]byte, error)) (history.Item, error) {
	if err := checkRecordHousehold(household); err != nil {
		return history.Item{}, err
	}
	var it history.Item
	err := h.s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockRecord, household); err != nil {
			return err
		}
		n, prev := int64(1), history.ZeroPrev
		var last int64
		var lastEntry []byte
		err := tx.QueryRow(ctx, `SELECT num, entry FROM history WHERE household_id = $1 AND kind = $2 ORDER BY num DESC LIMIT 1`,
			household, int16(history.TypeRecord)).Scan(&last, &lastEntry)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		default:
			n, prev = last+1, history.EntryHash(lastEntry)
		}
		e, err := build(n, prev)
		if err != nil {
			return err
		}
		it = history.Item{Kind: history.TypeRecord, Household: household, Num: n, Entry: e, Index: -1}
		key, _ := history.ItemKey(it)
		return tx.QueryRow(ctx, `INSERT INTO history (key, kind, household_id, num, entry) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			key, int16(it.Kind), household, n, e).Scan(&it.ID)
	})
	if err != nil {
		return history.Item{}, err
	}
	return it, nil
}

// Add stores a chain head or a release once; adding it again returns the
// stored item.
func (h pgHistory) Add(ctx context.Context, it history.Item) (history.Item, error) {
	key, err := checkAddItem(it)
	if err != nil {
		return history.Item{}, err
	}
	// As PutObject: ON CONFLICT DO NOTHING waits for a concurrent insert of
	// the key, and the SELECT after it reads the stored item.
	for range pgTxAttempts {
		err := h.s.pool.QueryRow(ctx, `INSERT INTO history (key, kind, household_id, num, entry) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (key) DO NOTHING RETURNING id`, key, int16(it.Kind), it.Household, it.Num, it.Entry).Scan(&it.ID)
		if err == nil {
			it.Index = -1
			return it, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return history.Item{}, err
		}
		old, err := scanItem(h.s.pool.QueryRow(ctx, `SELECT `+historyCols+` FROM history WHERE key = $1`, key))
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return history.Item{}, err
		}
		return addedAgain(old, it, key)
	}
	return history.Item{}, fmt.Errorf("%w: %s vanished under every attempt to add it", history.ErrStore, key)
}

// Pending returns up to limit items without an index, in the order of
// their IDs.
func (h pgHistory) Pending(ctx context.Context, limit int) ([]history.Item, error) {
	q := `SELECT ` + historyCols + ` FROM history WHERE log_index < 0 ORDER BY id`
	args := []any{}
	if limit > 0 {
		q += ` LIMIT $1`
		args = append(args, int64(limit))
	}
	rows, err := h.s.pool.Query(ctx, q, args...)
	return pgCollect(rows, err, scanItem)
}

// SetIndexes gives the items their log indexes in one transaction: the
// items' rows are locked, checked, then updated together.
func (h pgHistory) SetIndexes(ctx context.Context, ids []int64, first int64) error {
	if len(ids) == 0 {
		return nil
	}
	return h.s.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, log_index FROM history WHERE id = ANY($1) FOR UPDATE`, ids)
		if err != nil {
			return err
		}
		have := map[int64]int64{}
		var id, ix int64
		if _, err := pgx.ForEachRow(rows, []any{&id, &ix}, func() error { have[id] = ix; return nil }); err != nil {
			return err
		}
		var setIDs, setIdx []int64
		for i, id := range ids {
			want := first + int64(i)
			ix, ok := have[id]
			switch {
			case !ok:
				return fmt.Errorf("%w: no item %d", history.ErrStore, id)
			case ix >= 0 && ix != want:
				return fmt.Errorf("%w: item %d is at index %d already, not %d", history.ErrStore, id, ix, want)
			case ix < 0:
				setIDs, setIdx = append(setIDs, id), append(setIdx, want)
				have[id] = want
			}
		}
		if len(setIDs) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE history h SET log_index = u.ix FROM unnest($1::BIGINT[], $2::BIGINT[]) AS u(id, ix) WHERE h.id = u.id`,
			setIDs, setIdx)
		if pgUnique(err) {
			return fmt.Errorf("%w: an index from %d is another item's", history.ErrStore, first)
		}
		return err
	})
}

// Items returns the items q selects.
func (h pgHistory) Items(ctx context.Context, q history.Query) ([]history.Item, error) {
	order := "num, id"
	if q.Kind == history.TypeRelease {
		order = "id"
	}
	sq := `SELECT ` + historyCols + ` FROM history WHERE household_id = $1 AND kind = $2 AND num >= $3 ORDER BY ` + order
	args := []any{q.Household, int16(q.Kind), q.From}
	if q.Limit > 0 {
		sq += ` LIMIT $4`
		args = append(args, int64(q.Limit))
	}
	rows, err := h.s.pool.Query(ctx, sq, args...)
	return pgCollect(rows, err, scanItem)
}

// LastIndex returns the highest log index given, -1 for none; the WHERE
// lets PostgreSQL read it off the end of history_log_index.
func (h pgHistory) LastIndex(ctx context.Context) (int64, error) {
	var last int64
	err := h.s.pool.QueryRow(ctx, lastIndexQuery).Scan(&last)
	return last, err
}
