package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Staff identities, their sessions and support codes (PostgreSQL).

// CreateStaff stores a new identity.
func (s *Postgres) CreateStaff(ctx context.Context, st Staff) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO staff (id, name, role, created_ns, disabled_ns) VALUES ($1, $2, $3, $4, $5)`,
		st.ID, st.Name, st.Role, encTime(st.Created), encTime(st.Disabled))
	if err != nil {
		return fmt.Errorf("store: create staff: %w", pgInsertErr(err))
	}
	return nil
}

// Staff returns one identity.
func (s *Postgres) Staff(ctx context.Context, id string) (Staff, error) {
	st, err := scanStaff(s.pool.QueryRow(ctx, `SELECT `+staffCols+` FROM staff WHERE id = $1`, id))
	if err != nil {
		return Staff{}, fmt.Errorf("store: staff: %w", pgNotFound(err))
	}
	return st, nil
}

// StaffList returns every identity, oldest first.
func (s *Postgres) StaffList(ctx context.Context) ([]Staff, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+staffCols+` FROM staff ORDER BY created_ns, id`)
	out, err := pgCollect(rows, err, scanStaff)
	if err != nil {
		return nil, fmt.Errorf("store: staff list: %w", err)
	}
	return out, nil
}

// DisableStaff disables the identity and removes its sessions.
func (s *Postgres) DisableStaff(ctx context.Context, id string, at time.Time) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
UPDATE staff SET disabled_ns = CASE WHEN disabled_ns = $1 THEN $2 ELSE disabled_ns END WHERE id = $3`,
			encTime(time.Time{}), encTime(at), id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		_, err = tx.Exec(ctx, `DELETE FROM staff_tokens WHERE staff_id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: disable staff: %w", err)
	}
	return nil
}

// PutStaffToken stores a staff session.
func (s *Postgres) PutStaffToken(ctx context.Context, t StaffToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO staff_tokens (hash, staff_id, csrf, created_ns, expires_ns) VALUES ($1, $2, $3, $4, $5)`,
		t.Hash[:], t.StaffID, t.CSRF, encTime(t.Created), encTime(t.Expires))
	if err != nil {
		return fmt.Errorf("store: put staff token: %w", pgInsertErr(err))
	}
	return nil
}

// StaffToken returns a staff session.
func (s *Postgres) StaffToken(ctx context.Context, hash [32]byte) (StaffToken, error) {
	t, err := scanStaffToken(s.pool.QueryRow(ctx, `SELECT `+staffTokenCols+` FROM staff_tokens WHERE hash = $1`, hash[:]))
	if err != nil {
		return StaffToken{}, fmt.Errorf("store: staff token: %w", pgNotFound(err))
	}
	return t, nil
}

// DeleteStaffToken removes a staff session.
func (s *Postgres) DeleteStaffToken(ctx context.Context, hash [32]byte) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM staff_tokens WHERE hash = $1`, hash[:])
	if err != nil {
		return fmt.Errorf("store: delete staff token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: delete staff token: %w", ErrNotFound)
	}
	return nil
}

// InitSupportCode stores the household's support code unless it has one.
func (s *Postgres) InitSupportCode(ctx context.Context, householdID, code string) (string, error) {
	var stored string
	err := s.tx(ctx, func(tx pgx.Tx) error {
		// ON CONFLICT on the household keeps the first code; a code that
		// is another household's fails on the unique code.
		_, err := tx.Exec(ctx, `INSERT INTO support_codes (household_id, code) VALUES ($1, $2) ON CONFLICT (household_id) DO NOTHING`,
			householdID, code)
		if err != nil {
			return pgInsertErr(err)
		}
		return tx.QueryRow(ctx, `SELECT code FROM support_codes WHERE household_id = $1`, householdID).Scan(&stored)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: init support code: %w", err)
	}
	return stored, nil
}

// SupportCode returns the household's support code.
func (s *Postgres) SupportCode(ctx context.Context, householdID string) (string, error) {
	var code string
	if err := s.pool.QueryRow(ctx, `SELECT code FROM support_codes WHERE household_id = $1`, householdID).Scan(&code); err != nil {
		return "", fmt.Errorf("store: support code: %w", pgNotFound(err))
	}
	return code, nil
}

// HouseholdBySupportCode returns the household with the code.
func (s *Postgres) HouseholdBySupportCode(ctx context.Context, code string) (string, error) {
	var hh string
	if err := s.pool.QueryRow(ctx, `SELECT household_id FROM support_codes WHERE code = $1`, code).Scan(&hh); err != nil {
		return "", fmt.Errorf("store: household by support code: %w", pgNotFound(err))
	}
	return hh, nil
}

// CreateStaffRequest stores a lockbox request.
func (s *Postgres) CreateStaffRequest(ctx context.Context, r StaffRequest) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO staff_requests (`+staffRequestCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		r.ID, r.HouseholdID, r.StaffID, strings.Join(r.Scopes, ","), r.Reason, int64(r.Duration), encTime(r.Created),
		r.State, encTime(r.Decided), r.DecidedBy, encTime(r.Expires))
	if err != nil {
		return fmt.Errorf("store: create staff request: %w", pgInsertErr(err))
	}
	return nil
}

// StaffRequest returns one of the household's requests.
func (s *Postgres) StaffRequest(ctx context.Context, hh, id string) (StaffRequest, error) {
	r, err := scanStaffRequest(s.pool.QueryRow(ctx, `SELECT `+staffRequestCols+` FROM staff_requests WHERE household_id = $1 AND id = $2`, hh, id))
	if err != nil {
		return StaffRequest{}, fmt.Errorf("store: staff request: %w", pgNotFound(err))
	}
	return r, nil
}

// StaffRequestByID returns a request by its ID.
func (s *Postgres) StaffRequestByID(ctx context.Context, id string) (StaffRequest, error) {
	r, err := scanStaffRequest(s.pool.QueryRow(ctx, `SELECT `+staffRequestCols+` FROM staff_requests WHERE id = $1`, id))
	if err != nil {
		return StaffRequest{}, fmt.Errorf("store: staff request: %w", pgNotFound(err))
	}
	return r, nil
}

// StaffRequests returns the household's requests, newest first.
func (s *Postgres) StaffRequests(ctx context.Context, hh string) ([]StaffRequest, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+staffRequestCols+` FROM staff_requests WHERE household_id = $1 ORDER BY created_ns DESC, id`, hh)
	out, err := pgCollect(rows, err, scanStaffRequest)
	if err != nil {
		return nil, fmt.Errorf("store: staff requests: %w", err)
	}
	return out, nil
}

// SetStaffRequestState moves a request from one state to the next; the
// row is locked, so of two decisions at once one wins.
func (s *Postgres) SetStaffRequestState(ctx context.Context, hh, id, from string, r StaffRequest) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var cur string
		if err := tx.QueryRow(ctx, `SELECT state FROM staff_requests WHERE household_id = $1 AND id = $2 FOR UPDATE`, hh, id).Scan(&cur); err != nil {
			return pgNotFound(err)
		}
		if cur != from {
			return fmt.Errorf("the request is %s, not %s: %w", cur, from, ErrConflict)
		}
		_, err := tx.Exec(ctx, `UPDATE staff_requests SET state = $1, decided_ns = $2, decided_by = $3, expires_ns = $4 WHERE household_id = $5 AND id = $6`,
			r.State, encTime(r.Decided), r.DecidedBy, encTime(r.Expires), hh, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set staff request state: %w", err)
	}
	return nil
}

// PutStaffCredential stores a staff passkey.
func (s *Postgres) PutStaffCredential(ctx context.Context, c StaffCredential) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO staff_credentials (`+staffCredCols+`) VALUES ($1, $2, $3, $4, $5)`,
		c.ID, c.StaffID, c.Data, encTime(c.Created), encTime(c.LastUsed))
	if err != nil {
		return fmt.Errorf("store: put staff credential: %w", pgInsertErr(err))
	}
	return nil
}

// StaffCredentials returns the identity's passkeys, oldest first.
func (s *Postgres) StaffCredentials(ctx context.Context, staffID string) ([]StaffCredential, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+staffCredCols+` FROM staff_credentials WHERE staff_id = $1 ORDER BY created_ns, id`, staffID)
	out, err := pgCollect(rows, err, scanStaffCredential)
	if err != nil {
		return nil, fmt.Errorf("store: staff credentials: %w", err)
	}
	return out, nil
}

// UpdateStaffCredential records a staff passkey's use.
func (s *Postgres) UpdateStaffCredential(ctx context.Context, c StaffCredential) error {
	tag, err := s.pool.Exec(ctx, `UPDATE staff_credentials SET data = $1, last_used_ns = $2 WHERE id = $3`, c.Data, encTime(c.LastUsed), c.ID)
	if err != nil {
		return fmt.Errorf("store: update staff credential: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: update staff credential: %w", ErrNotFound)
	}
	return nil
}

// StaffGrantsDue returns approved requests whose grant has ended.
func (s *Postgres) StaffGrantsDue(ctx context.Context, now time.Time, limit int) ([]StaffRequest, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+staffRequestCols+` FROM staff_requests
WHERE state = 'approved' AND expires_ns <= $1 ORDER BY expires_ns, id LIMIT $2`, encTime(now), limit)
	out, err := pgCollect(rows, err, scanStaffRequest)
	if err != nil {
		return nil, fmt.Errorf("store: staff grants due: %w", err)
	}
	return out, nil
}
