package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Staff tickets, their notes and the operations counts (SQLite).

// CreateStaffTicket stores a new ticket.
func (s *SQLite) CreateStaffTicket(ctx context.Context, t StaffTicket) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO staff_tickets (`+staffTicketCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.HouseholdID, t.Subject, t.State, t.OpenedBy, encTime(t.Opened), t.ClosedBy, encTime(t.Closed))
	if isUniqueViolation(err) {
		return fmt.Errorf("store: create staff ticket: %w", ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: create staff ticket: %w", refErr(err))
	}
	return nil
}

// StaffTicket returns one ticket.
func (s *SQLite) StaffTicket(ctx context.Context, id string) (StaffTicket, error) {
	t, err := scanStaffTicket(s.r.QueryRowContext(ctx, `SELECT `+staffTicketCols+` FROM staff_tickets WHERE id = ?`, id))
	if err != nil {
		return StaffTicket{}, fmt.Errorf("store: staff ticket: %w", notFound(err))
	}
	return t, nil
}

// StaffTickets returns the tickets q selects, newest first.
func (s *SQLite) StaffTickets(ctx context.Context, q TicketQuery) ([]StaffTicket, error) {
	where, args := ticketWhere(q, func(int) string { return "?" })
	rows, err := s.r.QueryContext(ctx, `SELECT `+staffTicketCols+` FROM staff_tickets`+where, args...)
	if err != nil {
		return nil, fmt.Errorf("store: staff tickets: %w", err)
	}
	out, err := collect(rows, scanStaffTicket)
	if err != nil {
		return nil, fmt.Errorf("store: staff tickets: %w", err)
	}
	if out == nil {
		out = []StaffTicket{}
	}
	return out, nil
}

// SetStaffTicketState moves a ticket from one state to the next.
func (s *SQLite) SetStaffTicketState(ctx context.Context, id, from string, t StaffTicket) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var cur string
		if err := tx.QueryRowContext(ctx, `SELECT state FROM staff_tickets WHERE id = ?`, id).Scan(&cur); err != nil {
			return notFound(err)
		}
		if cur != from {
			return fmt.Errorf("the ticket is %s, not %s: %w", cur, from, ErrConflict)
		}
		_, err := tx.ExecContext(ctx, `UPDATE staff_tickets SET state = ?, closed_by = ?, closed_ns = ? WHERE id = ?`,
			t.State, t.ClosedBy, encTime(t.Closed), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set staff ticket state: %w", err)
	}
	return nil
}

// AddStaffNote stores a note.
func (s *SQLite) AddStaffNote(ctx context.Context, n StaffNote) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO staff_notes (`+staffNoteCols+`) VALUES (?, ?, ?, ?, ?)`,
		n.ID, n.TicketID, n.StaffID, encTime(n.Created), n.Text)
	if isUniqueViolation(err) {
		return fmt.Errorf("store: add staff note: %w", ErrExists)
	}
	if err != nil {
		return fmt.Errorf("store: add staff note: %w", refErr(err))
	}
	return nil
}

// StaffNotes returns the ticket's notes, oldest first.
func (s *SQLite) StaffNotes(ctx context.Context, ticketID string) ([]StaffNote, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+staffNoteCols+` FROM staff_notes WHERE ticket_id = ? ORDER BY created_ns, id`, ticketID)
	if err != nil {
		return nil, fmt.Errorf("store: staff notes: %w", err)
	}
	out, err := collect(rows, scanStaffNote)
	if err != nil {
		return nil, fmt.Errorf("store: staff notes: %w", err)
	}
	if out == nil {
		out = []StaffNote{}
	}
	return out, nil
}

// StaffOpsCounts returns the counts across households.
func (s *SQLite) StaffOpsCounts(ctx context.Context, since time.Time) (StaffOps, error) {
	var o StaffOps
	err := s.r.QueryRowContext(ctx, strings.ReplaceAll(staffOpsQuery, "$", "?"), encTime(since), encTime(time.Time{})).Scan(
		&o.Households, &o.Hubs, &o.Uploads, &o.UploadedBytes, &o.OpenTickets, &o.Staff)
	if err != nil {
		return StaffOps{}, fmt.Errorf("store: staff ops counts: %w", err)
	}
	return o, nil
}

// staffOpsQuery counts across every household ($1: uploads since; $2:
// the encoding of "not disabled"). SQLite reads the placeholders as ?1
// and ?2. The uploads are counted over the objects index, which has no
// index by creation time alone: an operator's view, not a hot path.
const staffOpsQuery = `SELECT
	(SELECT COUNT(*) FROM households),
	(SELECT COUNT(*) FROM devices WHERE kind = 'hub'),
	(SELECT COUNT(*) FROM objects WHERE created_ns >= $1),
	(SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM objects WHERE created_ns >= $1),
	(SELECT COUNT(*) FROM staff_tickets WHERE state = 'open'),
	(SELECT COUNT(*) FROM staff WHERE disabled_ns = $2)`
