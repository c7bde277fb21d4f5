package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The EphemeralStore of Postgres: the table ephemeral. PutIfAbsent, Get,
// Take and Delete are single statements (atomic under READ COMMITTED);
// Update is one transaction that locks the key's row (SELECT ... FOR
// UPDATE), so replicas updating the same key take turns; when there is no
// row to lock, its INSERT ... ON CONFLICT DO NOTHING finds out whether
// another one came first, and then it runs again. Expired entries are
// deleted at most once a minute (per process) by a write, by the writer's
// clock.

// PutIfAbsent stores value under key unless a live entry holds it.
func (s *Postgres) PutIfAbsent(ctx context.Context, key string, value []byte, now, expires time.Time) (bool, error) {
	value = ephemeralNonNil(value)
	if err := checkEphemeral(key, value, now, expires); err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, `
INSERT INTO ephemeral (key, value, expires_ns) VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_ns = excluded.expires_ns
WHERE ephemeral.expires_ns <= $4`, key, value, encTime(expires), encTime(now))
	if err != nil {
		return false, fmt.Errorf("store: ephemeral put: %w", err)
	}
	s.maybeSweep(ctx, now)
	return tag.RowsAffected() == 1, nil
}

// Get returns key's live value.
func (s *Postgres) Get(ctx context.Context, key string, now time.Time) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM ephemeral WHERE key = $1 AND expires_ns > $2`, key, encTime(now)).Scan(&v)
	if err != nil {
		return nil, fmt.Errorf("store: ephemeral get: %w", pgNotFound(err))
	}
	return ephemeralNonNil(v), nil
}

// Take returns key's live value and deletes it, in one statement.
func (s *Postgres) Take(ctx context.Context, key string, now time.Time) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, `DELETE FROM ephemeral WHERE key = $1 AND expires_ns > $2 RETURNING value`, key, encTime(now)).Scan(&v)
	if err != nil {
		return nil, fmt.Errorf("store: ephemeral take: %w", pgNotFound(err))
	}
	return ephemeralNonNil(v), nil
}

// ephemeralUpdateAttempts bounds how often Update runs again after losing
// an insert race (each loss means another writer made progress).
const ephemeralUpdateAttempts = 10

// Update changes key's entry in one transaction holding the row's lock.
func (s *Postgres) Update(ctx context.Context, key string, now time.Time, fn func(cur []byte) ([]byte, time.Time, error)) error {
	if err := checkEphemeral(key, nil, now, now); err != nil {
		return err
	}
	var fnErr error
	var err error
	for range ephemeralUpdateAttempts {
		fnErr = nil
		err = s.tx(ctx, func(tx pgx.Tx) error {
			var cur []byte
			var expiresNs int64
			row := true
			err := tx.QueryRow(ctx, `SELECT value, expires_ns FROM ephemeral WHERE key = $1 FOR UPDATE`, key).Scan(&cur, &expiresNs)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				row, cur = false, nil
			case err != nil:
				return err
			case expiresNs <= encTime(now):
				cur = nil // expired: locked, and overwritten below
			default:
				cur = ephemeralNonNil(cur)
			}
			next, expires, err := fn(cur)
			if err != nil {
				fnErr = err
				return err
			}
			if next == nil || !expires.After(now) {
				if cur == nil {
					return nil
				}
				_, err = tx.Exec(ctx, `DELETE FROM ephemeral WHERE key = $1`, key)
				return err
			}
			if err := checkEphemeral(key, next, now, expires); err != nil {
				fnErr = err
				return err
			}
			if row {
				_, err = tx.Exec(ctx, `UPDATE ephemeral SET value = $2, expires_ns = $3 WHERE key = $1`, key, next, encTime(expires))
				return err
			}
			tag, err := tx.Exec(ctx, `INSERT INTO ephemeral (key, value, expires_ns) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING`,
				key, next, encTime(expires))
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return errEphemeralRetry
			}
			return nil
		})
		if !errors.Is(err, errEphemeralRetry) {
			break
		}
	}
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("store: ephemeral update: %w", err)
	}
	s.maybeSweep(ctx, now)
	return nil
}

// Delete removes key's entry.
func (s *Postgres) Delete(ctx context.Context, key string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM ephemeral WHERE key = $1`, key); err != nil {
		return fmt.Errorf("store: ephemeral delete: %w", err)
	}
	return nil
}

// maybeSweep deletes the entries expired at now, at most once per
// pruneEvery (per process).
func (s *Postgres) maybeSweep(ctx context.Context, now time.Time) {
	s.swept.maybePrune(ctx, now, func(ctx context.Context, now time.Time) {
		tag, err := s.pool.Exec(ctx, `DELETE FROM ephemeral WHERE expires_ns <= $1`, encTime(now))
		logSweep(s.log, tag.RowsAffected(), err)
	})
}
