package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Push subscriptions and the VAPID key (SQLite).

// PutPushSub stores or replaces a subscription, bounded per account.
func (s *SQLite) PutPushSub(ctx context.Context, sub PushSub, max int) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if max > 0 {
			var n int
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM push_subs WHERE account_id = ? AND NOT (household_id = ? AND endpoint = ?)`,
				sub.AccountID, sub.HouseholdID, sub.Endpoint).Scan(&n)
			if err != nil {
				return fmt.Errorf("store: put push subscription: %w", err)
			}
			if n >= max {
				return fmt.Errorf("store: put push subscription: the account has %d: %w", n, ErrConflict)
			}
		}
		_, err := tx.ExecContext(ctx, `
INSERT INTO push_subs (household_id, endpoint, account_id, p256dh, auth, created_ns) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (household_id, endpoint) DO UPDATE SET account_id = excluded.account_id, p256dh = excluded.p256dh,
	auth = excluded.auth, created_ns = excluded.created_ns`,
			sub.HouseholdID, sub.Endpoint, sub.AccountID, sub.P256dh, sub.Auth, encTime(sub.Created))
		if err != nil {
			return fmt.Errorf("store: put push subscription: %w", refErr(err))
		}
		return nil
	})
}

// PushSubs lists the household's subscriptions, oldest first.
func (s *SQLite) PushSubs(ctx context.Context, householdID string) ([]PushSub, error) {
	rows, err := s.r.QueryContext(ctx, `
SELECT household_id, account_id, endpoint, p256dh, auth, created_ns FROM push_subs
WHERE household_id = ? ORDER BY created_ns, endpoint`, householdID)
	if err != nil {
		return nil, fmt.Errorf("store: push subscriptions: %w", err)
	}
	out, err := collect(rows, scanPushSub)
	if err != nil {
		return nil, fmt.Errorf("store: push subscriptions: %w", err)
	}
	return out, nil
}

// DeletePushSub removes one subscription.
func (s *SQLite) DeletePushSub(ctx context.Context, householdID, accountID, endpoint string) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM push_subs WHERE household_id = ? AND endpoint = ? AND (? = '' OR account_id = ?)`,
		householdID, endpoint, accountID, accountID)
	if err != nil {
		return fmt.Errorf("store: delete push subscription: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("store: delete push subscription: %w", ErrNotFound)
	}
	return nil
}

// PushVAPIDKey returns the stored VAPID key.
func (s *SQLite) PushVAPIDKey(ctx context.Context) (string, error) {
	var k string
	if err := s.r.QueryRowContext(ctx, `SELECT key FROM push_vapid WHERE id = 1`).Scan(&k); err != nil {
		return "", fmt.Errorf("store: VAPID key: %w", notFound(err))
	}
	return k, nil
}

// InitPushVAPIDKey stores key if none is stored, and returns the stored one.
func (s *SQLite) InitPushVAPIDKey(ctx context.Context, key string) (string, error) {
	var stored string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO push_vapid (id, key) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`, key); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT key FROM push_vapid WHERE id = 1`).Scan(&stored)
	})
	if err != nil {
		return "", fmt.Errorf("store: init VAPID key: %w", err)
	}
	return stored, nil
}
