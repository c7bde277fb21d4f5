package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The EphemeralStore of SQLite: the table ephemeral. Writes go through the
// one write connection (so Update's read and write are one BEGIN IMMEDIATE
// transaction that no other writer of the file, in this process or
// another, can come between); Get reads from the read pool. Expired
// entries are deleted at most once a minute by a write, by the writer's
// clock.

// PutIfAbsent stores value under key unless a live entry holds it.
func (s *SQLite) PutIfAbsent(ctx context.Context, key string, value []byte, now, expires time.Time) (bool, error) {
	value = ephemeralNonNil(value)
	if err := checkEphemeral(key, value, now, expires); err != nil {
		return false, err
	}
	// An expired entry is replaced; a live one is left alone.
	res, err := s.w.ExecContext(ctx, `
INSERT INTO ephemeral (key, value, expires_ns) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_ns = excluded.expires_ns
WHERE ephemeral.expires_ns <= ?`, key, value, encTime(expires), encTime(now))
	if err != nil {
		return false, fmt.Errorf("store: ephemeral put: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: ephemeral put: %w", err)
	}
	s.maybeSweep(ctx, now)
	return n == 1, nil
}

// Get returns key's live value.
func (s *SQLite) Get(ctx context.Context, key string, now time.Time) ([]byte, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx, `SELECT value FROM ephemeral WHERE key = ? AND expires_ns > ?`, key, encTime(now)).Scan(&v)
	if err != nil {
		return nil, fmt.Errorf("store: ephemeral get: %w", notFound(err))
	}
	return ephemeralNonNil(v), nil
}

// Take returns key's live value and deletes it, in one statement.
func (s *SQLite) Take(ctx context.Context, key string, now time.Time) ([]byte, error) {
	var v []byte
	err := s.w.QueryRowContext(ctx, `DELETE FROM ephemeral WHERE key = ? AND expires_ns > ? RETURNING value`, key, encTime(now)).Scan(&v)
	if err != nil {
		return nil, fmt.Errorf("store: ephemeral take: %w", notFound(err))
	}
	return ephemeralNonNil(v), nil
}

// Update changes key's entry in one write transaction.
func (s *SQLite) Update(ctx context.Context, key string, now time.Time, fn func(cur []byte) ([]byte, time.Time, error)) error {
	if err := checkEphemeral(key, nil, now, now); err != nil {
		return err
	}
	var fnErr error
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var cur []byte
		err := tx.QueryRowContext(ctx, `SELECT value FROM ephemeral WHERE key = ? AND expires_ns > ?`, key, encTime(now)).Scan(&cur)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			cur = nil
		case err != nil:
			return err
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
				return nil // nothing live; an expired entry is the sweep's
			}
			_, err = tx.ExecContext(ctx, `DELETE FROM ephemeral WHERE key = ?`, key)
			return err
		}
		if err := checkEphemeral(key, next, now, expires); err != nil {
			fnErr = err
			return err
		}
		_, err = tx.ExecContext(ctx, `
INSERT INTO ephemeral (key, value, expires_ns) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_ns = excluded.expires_ns`, key, next, encTime(expires))
		return err
	})
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
func (s *SQLite) Delete(ctx context.Context, key string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM ephemeral WHERE key = ?`, key); err != nil {
		return fmt.Errorf("store: ephemeral delete: %w", err)
	}
	return nil
}

// maybeSweep deletes the entries expired at now, at most once per
// pruneEvery.
func (s *SQLite) maybeSweep(ctx context.Context, now time.Time) {
	s.swept.maybePrune(ctx, now, func(ctx context.Context, now time.Time) {
		res, err := s.w.ExecContext(ctx, `DELETE FROM ephemeral WHERE expires_ns <= ?`, encTime(now))
		var n int64
		if err == nil {
			n, _ = res.RowsAffected()
		}
		logSweep(s.log, n, err)
	})
}
