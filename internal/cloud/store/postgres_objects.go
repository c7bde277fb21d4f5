package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Objects and pairings (PostgreSQL).

// PutObject indexes o. The same (HouseholdID, Key) with the same SHA256
// returns created=false; with another SHA256, ErrConflict. ErrNotFound when
// the household does not exist.
//
// Each call commits on its own: PostgreSQL already groups the WAL flushes
// of concurrent commits, which SQLite's batching does by hand.
func (s *Postgres) PutObject(ctx context.Context, o Object) (bool, error) {
	created, err := s.putObject(ctx, o)
	if err != nil {
		return false, fmt.Errorf("store: put object %q of household %q: %w", o.Key, o.HouseholdID, err)
	}
	return created, nil
}

func (s *Postgres) putObject(ctx context.Context, o Object) (bool, error) {
	// Each round is two statements: ON CONFLICT DO NOTHING waits for a
	// concurrent insert of the key to commit or roll back, and the SELECT
	// after it (a new snapshot) sees the winner's row. Only a delete in
	// between sends it round again.
	for range pgTxAttempts {
		tag, err := s.pool.Exec(ctx, `INSERT INTO objects (`+objectCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (household_id, key) DO NOTHING`,
			o.HouseholdID, o.Key, o.Device, o.Camera, o.Kind, int64(o.Seq),
			encTime(o.Start), encTime(o.End), o.Size, o.SHA256[:], encTime(o.Created))
		if err != nil {
			return false, pgRefErr(err)
		}
		if tag.RowsAffected() == 1 {
			return true, nil
		}
		var sum []byte
		err = s.pool.QueryRow(ctx, `SELECT sha256 FROM objects WHERE household_id = $1 AND key = $2`, o.HouseholdID, o.Key).Scan(&sum)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // deleted since: try again
		}
		if err != nil {
			return false, err
		}
		if string(sum) != string(o.SHA256[:]) {
			return false, fmt.Errorf("key holds another object: %w", ErrConflict)
		}
		return false, nil
	}
	return false, errors.New("the key was deleted under every attempt to index it")
}

// Object returns the household's object with the key.
func (s *Postgres) Object(ctx context.Context, householdID, key string) (Object, error) {
	o, err := scanObject(s.pool.QueryRow(ctx, `SELECT `+objectCols+` FROM objects WHERE household_id = $1 AND key = $2`,
		householdID, key))
	if err != nil {
		return Object{}, fmt.Errorf("store: object %q of household %q: %w", key, householdID, pgNotFound(err))
	}
	return o, nil
}

// pgArgs numbers query arguments: add returns the placeholder of v.
type pgArgs []any

func (a *pgArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// Objects returns the objects f selects ordered by camera, start, key. An
// object [Start, End) overlaps [From, To) when it ends after From and starts
// before To; a zero-length object at t overlaps when From <= t < To.
func (s *Postgres) Objects(ctx context.Context, f ObjectFilter) ([]Object, error) {
	var args pgArgs
	conds := []string{"household_id = " + args.add(f.HouseholdID)}
	if f.Camera != "" {
		conds = append(conds, "camera = "+args.add(f.Camera))
	}
	if f.Kind != "" {
		conds = append(conds, "kind = "+args.add(f.Kind))
	}
	if !f.To.IsZero() {
		conds = append(conds, "start_ns < "+args.add(encTime(f.To)))
	}
	if !f.From.IsZero() {
		from := args.add(encTime(f.From))
		conds = append(conds, "(end_ns > "+from+" OR start_ns >= "+from+")")
	}
	q := `SELECT ` + objectCols + ` FROM objects WHERE ` + strings.Join(conds, " AND ") + ` ORDER BY camera, start_ns, key`
	if f.Limit > 0 {
		q += ` LIMIT ` + args.add(int64(f.Limit))
	}
	rows, err := s.pool.Query(ctx, q, args...)
	out, err := pgCollect(rows, err, scanObject)
	if err != nil {
		return nil, fmt.Errorf("store: objects of household %q: %w", f.HouseholdID, err)
	}
	return out, nil
}

// Cameras returns the distinct cameras of the household's objects, sorted.
func (s *Postgres) Cameras(ctx context.Context, householdID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT camera FROM objects WHERE household_id = $1 ORDER BY camera`, householdID)
	out, err := pgCollect(rows, err, func(row interface{ Scan(...any) error }) (string, error) {
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
func (s *Postgres) DeleteObject(ctx context.Context, householdID, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM objects WHERE household_id = $1 AND key = $2`, householdID, key); err != nil {
		return fmt.Errorf("store: delete object %q of household %q: %w", key, householdID, err)
	}
	return nil
}

// Usage returns the total Size of the household's objects.
func (s *Postgres) Usage(ctx context.Context, householdID string) (int64, error) {
	var n int64
	// SUM of BIGINT is NUMERIC: back to BIGINT, which holds any real total.
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(SUM(size), 0)::BIGINT FROM objects WHERE household_id = $1`, householdID).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: usage of household %q: %w", householdID, err)
	}
	return n, nil
}

// UploadedSince returns the total Size of the household's objects whose
// Created is at or after since.
func (s *Postgres) UploadedSince(ctx context.Context, householdID string, since time.Time) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(SUM(size), 0)::BIGINT FROM objects WHERE household_id = $1 AND created_ns >= $2`,
		householdID, encTime(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: bytes uploaded to household %q since %s: %w", householdID, since.Format(time.RFC3339), err)
	}
	return n, nil
}

// OldestObjects returns up to n of the household's objects ordered by end,
// then start, then key.
func (s *Postgres) OldestObjects(ctx context.Context, householdID string, n int) ([]Object, error) {
	if n <= 0 {
		return []Object{}, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+objectCols+` FROM objects WHERE household_id = $1
ORDER BY end_ns, start_ns, key LIMIT $2`, householdID, int64(n))
	out, err := pgCollect(rows, err, scanObject)
	if err != nil {
		return nil, fmt.Errorf("store: oldest objects of household %q: %w", householdID, err)
	}
	return out, nil
}

// Pairings.

// CreatePairing stores p with p.Msgs as its first messages. ErrExists when
// a pairing that has not expired holds p.ID; an expired one is replaced.
func (s *Postgres) CreatePairing(ctx context.Context, p Pairing) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM pairings WHERE id = $1 AND expires_ns <= $2`, p.ID, encTime(s.now())); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO pairings (id, household_id, created_ns, expires_ns) VALUES ($1, $2, $3, $4)`,
			p.ID, p.HouseholdID, encTime(p.Created), encTime(p.Expires))
		if pgUnique(err) {
			return ErrExists
		}
		if err != nil {
			return err
		}
		for i, m := range p.Msgs {
			if _, err := tx.Exec(ctx, `INSERT INTO pairing_msgs (pairing_id, step, data) VALUES ($1, $2, $3)`, p.ID, int32(i), m); err != nil {
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
func (s *Postgres) Pairing(ctx context.Context, id string) (Pairing, error) {
	rows, err := s.pool.Query(ctx, `
SELECT p.household_id, p.created_ns, p.expires_ns, m.step, m.data
FROM pairings p LEFT JOIN pairing_msgs m ON m.pairing_id = p.id
WHERE p.id = $1 AND p.expires_ns > $2 ORDER BY m.step`, id, encTime(s.now()))
	if err != nil {
		return Pairing{}, fmt.Errorf("store: pairing: %w", err)
	}
	defer rows.Close()
	return pairingRows(id, rows)
}

// AppendPairingMsg appends msg as message number step. ErrNotFound when the
// pairing is missing or expired; ErrConflict when it does not hold exactly
// step messages. A non-empty householdID replaces the pairing's. The
// pairing's row is locked first, so appenders take turns.
func (s *Postgres) AppendPairingMsg(ctx context.Context, id string, step int, msg []byte, householdID string) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM pairings WHERE id = $1 AND expires_ns > $2 FOR NO KEY UPDATE`,
			id, encTime(s.now())).Scan(&one)
		if err != nil {
			return pgNotFound(err)
		}
		var n int64
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM pairing_msgs WHERE pairing_id = $1`, id).Scan(&n); err != nil {
			return err
		}
		if int64(step) != n {
			return fmt.Errorf("step %d, want %d: %w", step, n, ErrConflict)
		}
		_, err = tx.Exec(ctx, `INSERT INTO pairing_msgs (pairing_id, step, data) VALUES ($1, $2, $3)`, id, int32(step), msg)
		if pgUnique(err) {
			return ErrConflict
		}
		if err != nil {
			return err
		}
		if householdID != "" {
			if _, err := tx.Exec(ctx, `UPDATE pairings SET household_id = $1 WHERE id = $2`, householdID, id); err != nil {
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
