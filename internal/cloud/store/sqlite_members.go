package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"vigil/internal/history"
)

// Members and retention settings (SQLite).

// Members returns the household's members, oldest first.
func (s *SQLite) Members(ctx context.Context, householdID string) ([]Member, error) {
	rows, err := s.r.QueryContext(ctx, `
SELECT account_id, role, created_ns FROM members WHERE household_id = ? ORDER BY created_ns, account_id`, householdID)
	if err != nil {
		return nil, fmt.Errorf("store: members of household %q: %w", householdID, err)
	}
	out, err := collect(rows, scanMember(householdID))
	if err != nil {
		return nil, fmt.Errorf("store: members of household %q: %w", householdID, err)
	}
	return out, nil
}

// DeleteMember removes the account's membership.
func (s *SQLite) DeleteMember(ctx context.Context, householdID, accountID string) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM members WHERE household_id = ? AND account_id = ?`, householdID, accountID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete member %q of household %q: %w", accountID, householdID, err)
	}
	return nil
}

// SetRetention stores the household's quota and maximum age.
func (s *SQLite) SetRetention(ctx context.Context, householdID string, r Retention) error {
	if r.QuotaBytes < 0 || r.MaxAge < 0 {
		return fmt.Errorf("store: retention of household %q: negative quota or age", householdID)
	}
	var dev, body, sig any // NULL without a signed action
	if r.Signed != nil {
		dev, body, sig = r.Signed.Device, r.Signed.Body, r.Signed.Sig
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
UPDATE households SET quota_bytes = ?, max_age_ns = ?, settings_device = ?, settings_body = ?, settings_sig = ? WHERE id = ?`,
			r.QuotaBytes, int64(r.MaxAge), dev, body, sig, householdID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: set retention of household %q: %w", householdID, err)
	}
	return nil
}

// Retention returns the household's quota and maximum age.
func (s *SQLite) Retention(ctx context.Context, householdID string) (Retention, error) {
	var r Retention
	var age int64
	var dev sql.NullString
	var body, sig []byte
	err := s.r.QueryRowContext(ctx, `SELECT quota_bytes, max_age_ns, settings_device, settings_body, settings_sig FROM households WHERE id = ?`,
		householdID).Scan(&r.QuotaBytes, &age, &dev, &body, &sig)
	if err != nil {
		return Retention{}, fmt.Errorf("store: retention of household %q: %w", householdID, notFound(err))
	}
	r.MaxAge = time.Duration(age)
	if dev.Valid {
		r.Signed = &history.Signed{Device: dev.String, Body: body, Sig: sig}
	}
	return r, nil
}
