package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Push subscriptions and the VAPID key (PostgreSQL).

// PutPushSub stores or replaces a subscription, bounded per account. With
// a bound, the account's row is locked first, so that two processes adding
// the account's last allowed subscription at once cannot both count room
// for it.
func (s *Postgres) PutPushSub(ctx context.Context, sub PushSub, max int) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if max > 0 {
			// An unknown account locks nothing; the insert then fails on
			// its foreign key.
			if _, err := tx.Exec(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE`, sub.AccountID); err != nil {
				return err
			}
			var n int64
			err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM push_subs WHERE account_id = $1 AND NOT (household_id = $2 AND endpoint = $3)`,
				sub.AccountID, sub.HouseholdID, sub.Endpoint).Scan(&n)
			if err != nil {
				return err
			}
			if n >= int64(max) {
				return fmt.Errorf("the account has %d: %w", n, ErrConflict)
			}
		}
		_, err := tx.Exec(ctx, `
INSERT INTO push_subs (household_id, endpoint, account_id, p256dh, auth, created_ns) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (household_id, endpoint) DO UPDATE SET account_id = excluded.account_id, p256dh = excluded.p256dh,
	auth = excluded.auth, created_ns = excluded.created_ns`,
			sub.HouseholdID, sub.Endpoint, sub.AccountID, sub.P256dh, sub.Auth, encTime(sub.Created))
		return pgRefErr(err)
	})
	if err != nil {
		return fmt.Errorf("store: put push subscription: %w", err)
	}
	return nil
}

// PushSubs lists the household's subscriptions, oldest first.
func (s *Postgres) PushSubs(ctx context.Context, householdID string) ([]PushSub, error) {
	rows, err := s.pool.Query(ctx, `
SELECT household_id, account_id, endpoint, p256dh, auth, created_ns FROM push_subs
WHERE household_id = $1 ORDER BY created_ns, endpoint`, householdID)
	out, err := pgCollect(rows, err, scanPushSub)
	if err != nil {
		return nil, fmt.Errorf("store: push subscriptions: %w", err)
	}
	return out, nil
}

// DeletePushSub removes one subscription.
func (s *Postgres) DeletePushSub(ctx context.Context, householdID, accountID, endpoint string) error {
	err := pgAffected(s.pool.Exec(ctx, `DELETE FROM push_subs WHERE household_id = $1 AND endpoint = $2 AND ($3 = '' OR account_id = $3)`,
		householdID, endpoint, accountID))
	if err != nil {
		return fmt.Errorf("store: delete push subscription: %w", err)
	}
	return nil
}

// PushVAPIDKey returns the stored VAPID key.
func (s *Postgres) PushVAPIDKey(ctx context.Context) (string, error) {
	var k string
	if err := s.pool.QueryRow(ctx, `SELECT key FROM push_vapid WHERE id = 1`).Scan(&k); err != nil {
		return "", fmt.Errorf("store: VAPID key: %w", pgNotFound(err))
	}
	return k, nil
}

// InitPushVAPIDKey stores key if none is stored, and returns the stored one.
// Two statements, not one transaction: ON CONFLICT DO NOTHING waits for a
// concurrent first insert to commit, and the SELECT after it (a new
// snapshot) reads whichever key won.
func (s *Postgres) InitPushVAPIDKey(ctx context.Context, key string) (string, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO push_vapid (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`, key); err != nil {
		return "", fmt.Errorf("store: init VAPID key: %w", err)
	}
	stored, err := s.PushVAPIDKey(ctx)
	if err != nil {
		return "", fmt.Errorf("store: init VAPID key: %w", err)
	}
	return stored, nil
}
