package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Staff identities, their sessions and support codes (SQLite).

// CreateStaff stores a new identity.
func (s *SQLite) CreateStaff(ctx context.Context, st Staff) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO staff (id, name, role, created_ns, disabled_ns) VALUES (?, ?, ?, ?, ?)`,
		st.ID, st.Name, st.Role, encTime(st.Created), encTime(st.Disabled))
	if isUniqueViolation(err) {
		return fmt.Errorf("store: create staff: %w", ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: create staff: %w", err)
	}
	return nil
}

// Staff returns one identity.
func (s *SQLite) Staff(ctx context.Context, id string) (Staff, error) {
	st, err := scanStaff(s.r.QueryRowContext(ctx, `SELECT `+staffCols+` FROM staff WHERE id = ?`, id))
	if err != nil {
		return Staff{}, fmt.Errorf("store: staff: %w", notFound(err))
	}
	return st, nil
}

// StaffList returns every identity, oldest first.
func (s *SQLite) StaffList(ctx context.Context) ([]Staff, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+staffCols+` FROM staff ORDER BY created_ns, id`)
	if err != nil {
		return nil, fmt.Errorf("store: staff list: %w", err)
	}
	out, err := collect(rows, scanStaff)
	if err != nil {
		return nil, fmt.Errorf("store: staff list: %w", err)
	}
	return out, nil
}

// DisableStaff disables the identity and removes its sessions.
func (s *SQLite) DisableStaff(ctx context.Context, id string, at time.Time) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `
UPDATE staff SET disabled_ns = CASE WHEN disabled_ns = ? THEN ? ELSE disabled_ns END WHERE id = ?`,
			encTime(time.Time{}), encTime(at), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM staff_tokens WHERE staff_id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: disable staff: %w", err)
	}
	return nil
}

// PutStaffToken stores a staff session.
func (s *SQLite) PutStaffToken(ctx context.Context, t StaffToken) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO staff_tokens (hash, staff_id, csrf, created_ns, expires_ns) VALUES (?, ?, ?, ?, ?)`,
		t.Hash[:], t.StaffID, t.CSRF, encTime(t.Created), encTime(t.Expires))
	if isUniqueViolation(err) {
		return fmt.Errorf("store: put staff token: %w", ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: put staff token: %w", refErr(err))
	}
	return nil
}

// StaffToken returns a staff session.
func (s *SQLite) StaffToken(ctx context.Context, hash [32]byte) (StaffToken, error) {
	t, err := scanStaffToken(s.r.QueryRowContext(ctx, `SELECT `+staffTokenCols+` FROM staff_tokens WHERE hash = ?`, hash[:]))
	if err != nil {
		return StaffToken{}, fmt.Errorf("store: staff token: %w", notFound(err))
	}
	return t, nil
}

// DeleteStaffToken removes a staff session.
func (s *SQLite) DeleteStaffToken(ctx context.Context, hash [32]byte) error {
	res, err := s.w.ExecContext(ctx, `DELETE FROM staff_tokens WHERE hash = ?`, hash[:])
	if err != nil {
		return fmt.Errorf("store: delete staff token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("store: delete staff token: %w", ErrNotFound)
	}
	return nil
}

// InitSupportCode stores the household's support code unless it has one.
func (s *SQLite) InitSupportCode(ctx context.Context, householdID, code string) (string, error) {
	var stored string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT code FROM support_codes WHERE household_id = ?`, householdID).Scan(&stored)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO support_codes (household_id, code) VALUES (?, ?)`, householdID, code); err != nil {
			if isUniqueViolation(err) {
				return ErrExists
			}
			return refErr(err)
		}
		stored = code
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("store: init support code: %w", err)
	}
	return stored, nil
}

// SupportCode returns the household's support code.
func (s *SQLite) SupportCode(ctx context.Context, householdID string) (string, error) {
	var code string
	if err := s.r.QueryRowContext(ctx, `SELECT code FROM support_codes WHERE household_id = ?`, householdID).Scan(&code); err != nil {
		return "", fmt.Errorf("store: support code: %w", notFound(err))
	}
	return code, nil
}

// HouseholdBySupportCode returns the household with the code.
func (s *SQLite) HouseholdBySupportCode(ctx context.Context, code string) (string, error) {
	var hh string
	if err := s.r.QueryRowContext(ctx, `SELECT household_id FROM support_codes WHERE code = ?`, code).Scan(&hh); err != nil {
		return "", fmt.Errorf("store: household by support code: %w", notFound(err))
	}
	return hh, nil
}

// CreateStaffRequest stores a lockbox request.
func (s *SQLite) CreateStaffRequest(ctx context.Context, r StaffRequest) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO staff_requests (`+staffRequestCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.HouseholdID, r.StaffID, strings.Join(r.Scopes, ","), r.Reason, int64(r.Duration), encTime(r.Created),
		r.State, encTime(r.Decided), r.DecidedBy, encTime(r.Expires))
	if isUniqueViolation(err) {
		return fmt.Errorf("store: create staff request: %w", ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: create staff request: %w", refErr(err))
	}
	return nil
}

// StaffRequest returns one of the household's requests.
func (s *SQLite) StaffRequest(ctx context.Context, hh, id string) (StaffRequest, error) {
	r, err := scanStaffRequest(s.r.QueryRowContext(ctx, `SELECT `+staffRequestCols+` FROM staff_requests WHERE household_id = ? AND id = ?`, hh, id))
	if err != nil {
		return StaffRequest{}, fmt.Errorf("store: staff request: %w", notFound(err))
	}
	return r, nil
}

// StaffRequestByID returns a request by its ID.
func (s *SQLite) StaffRequestByID(ctx context.Context, id string) (StaffRequest, error) {
	r, err := scanStaffRequest(s.r.QueryRowContext(ctx, `SELECT `+staffRequestCols+` FROM staff_requests WHERE id = ?`, id))
	if err != nil {
		return StaffRequest{}, fmt.Errorf("store: staff request: %w", notFound(err))
	}
	return r, nil
}

// StaffRequests returns the household's requests, newest first.
func (s *SQLite) StaffRequests(ctx context.Context, hh string) ([]StaffRequest, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+staffRequestCols+` FROM staff_requests WHERE household_id = ? ORDER BY created_ns DESC, id`, hh)
	if err != nil {
		return nil, fmt.Errorf("store: staff requests: %w", err)
	}
	out, err := collect(rows, scanStaffRequest)
	if err != nil {
		return nil, fmt.Errorf("store: staff requests: %w", err)
	}
	return out, nil
}

// SetStaffRequestState moves a request from one state to the next.
func (s *SQLite) SetStaffRequestState(ctx context.Context, hh, id, from string, r StaffRequest) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var cur string
		if err := tx.QueryRowContext(ctx, `SELECT state FROM staff_requests WHERE household_id = ? AND id = ?`, hh, id).Scan(&cur); err != nil {
			return notFound(err)
		}
		if cur != from {
			return fmt.Errorf("the request is %s, not %s: %w", cur, from, ErrConflict)
		}
		_, err := tx.ExecContext(ctx, `UPDATE staff_requests SET state = ?, decided_ns = ?, decided_by = ?, expires_ns = ? WHERE household_id = ? AND id = ?`,
			r.State, encTime(r.Decided), r.DecidedBy, encTime(r.Expires), hh, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set staff request state: %w", err)
	}
	return nil
}

// PutStaffCredential stores a staff passkey.
func (s *SQLite) PutStaffCredential(ctx context.Context, c StaffCredential) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO staff_credentials (`+staffCredCols+`) VALUES (?, ?, ?, ?, ?)`,
		c.ID, c.StaffID, c.Data, encTime(c.Created), encTime(c.LastUsed))
	if isUniqueViolation(err) {
		return fmt.Errorf("store: put staff credential: %w", ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: put staff credential: %w", refErr(err))
	}
	return nil
}

// StaffCredentials returns the identity's passkeys, oldest first.
func (s *SQLite) StaffCredentials(ctx context.Context, staffID string) ([]StaffCredential, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+staffCredCols+` FROM staff_credentials WHERE staff_id = ? ORDER BY created_ns, id`, staffID)
	if err != nil {
		return nil, fmt.Errorf("store: staff credentials: %w", err)
	}
	out, err := collect(rows, scanStaffCredential)
	if err != nil {
		return nil, fmt.Errorf("store: staff credentials: %w", err)
	}
	return out, nil
}

// UpdateStaffCredential records a staff passkey's use.
func (s *SQLite) UpdateStaffCredential(ctx context.Context, c StaffCredential) error {
	res, err := s.w.ExecContext(ctx, `UPDATE staff_credentials SET data = ?, last_used_ns = ? WHERE id = ?`, c.Data, encTime(c.LastUsed), c.ID)
	if err != nil {
		return fmt.Errorf("store: update staff credential: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("store: update staff credential: %w", ErrNotFound)
	}
	return nil
}

// StaffGrantsDue returns approved requests whose grant has ended.
func (s *SQLite) StaffGrantsDue(ctx context.Context, now time.Time, limit int) ([]StaffRequest, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+staffRequestCols+` FROM staff_requests
WHERE state = 'approved' AND expires_ns <= ? ORDER BY expires_ns, id LIMIT ?`, encTime(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: staff grants due: %w", err)
	}
	out, err := collect(rows, scanStaffRequest)
	if err != nil {
		return nil, fmt.Errorf("store: staff grants due: %w", err)
	}
	return out, nil
}
