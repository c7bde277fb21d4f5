package store

import (
	"context"
	"fmt"
	"time"

	"vigil/internal/history"
)

// Members and retention settings (PostgreSQL).

// Members returns the household's members, oldest first.
func (s *Postgres) Members(ctx context.Context, householdID string) ([]Member, error) {
	rows, err := s.pool.Query(ctx, `
SELECT account_id, role, created_ns FROM members WHERE household_id = $1 ORDER BY created_ns, account_id`, householdID)
	out, err := pgCollect(rows, err, scanMember(householdID))
	if err != nil {
		return nil, fmt.Errorf("store: members of household %q: %w", householdID, err)
	}
	return out, nil
}

// DeleteMember removes the account's membership.
func (s *Postgres) DeleteMember(ctx context.Context, householdID, accountID string) error {
	err := pgAffected(s.pool.Exec(ctx, `DELETE FROM members WHERE household_id = $1 AND account_id = $2`, householdID, accountID))
	if err != nil {
		return fmt.Errorf("store: delete member %q of household %q: %w", accountID, householdID, err)
	}
	return nil
}

// SetRetention stores the household's quota and maximum age.
func (s *Postgres) SetRetention(ctx context.Context, householdID string, r Retention) error {
	if r.QuotaBytes < 0 || r.MaxAge < 0 {
		return fmt.Errorf("store: retention of household %q: negative quota or age", householdID)
	}
	var dev *string // NULL without a signed action
	var body, sig []byte
	if r.Signed != nil {
		dev, body, sig = &r.Signed.Device, r.Signed.Body, r.Signed.Sig
	}
	err := pgAffected(s.pool.Exec(ctx, `
UPDATE households SET quota_bytes = $1, max_age_ns = $2, settings_device = $3, settings_body = $4, settings_sig = $5 WHERE id = $6`,
		r.QuotaBytes, int64(r.MaxAge), dev, body, sig, householdID))
	if err != nil {
		return fmt.Errorf("store: set retention of household %q: %w", householdID, err)
	}
	return nil
}

// Retention returns the household's quota and maximum age.
func (s *Postgres) Retention(ctx context.Context, householdID string) (Retention, error) {
	var r Retention
	var age int64
	var dev *string
	var body, sig []byte
	err := s.pool.QueryRow(ctx, `SELECT quota_bytes, max_age_ns, settings_device, settings_body, settings_sig FROM households WHERE id = $1`,
		householdID).Scan(&r.QuotaBytes, &age, &dev, &body, &sig)
	if err != nil {
		return Retention{}, fmt.Errorf("store: retention of household %q: %w", householdID, pgNotFound(err))
	}
	r.MaxAge = time.Duration(age)
	if dev != nil {
		r.Signed = &history.Signed{Device: *dev, Body: body, Sig: sig}
	}
	return r, nil
}
