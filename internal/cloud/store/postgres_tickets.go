package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Staff tickets, their notes and the operations counts (PostgreSQL).

// CreateStaffTicket stores a new ticket.
func (s *Postgres) CreateStaffTicket(ctx context.Context, t StaffTicket) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO staff_tickets (`+staffTicketCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		t.ID, t.HouseholdID, t.Subject, t.State, t.OpenedBy, encTime(t.Opened), t.ClosedBy, encTime(t.Closed))
	if err != nil {
		return fmt.Errorf("store: create staff ticket: %w", pgInsertErr(err))
	}
	return nil
}

// StaffTicket returns one ticket.
func (s *Postgres) StaffTicket(ctx context.Context, id string) (StaffTicket, error) {
	t, err := scanStaffTicket(s.pool.QueryRow(ctx, `SELECT `+staffTicketCols+` FROM staff_tickets WHERE id = $1`, id))
	if err != nil {
		return StaffTicket{}, fmt.Errorf("store: staff ticket: %w", pgNotFound(err))
	}
	return t, nil
}

// StaffTickets returns the tickets q selects, newest first.
func (s *Postgres) StaffTickets(ctx context.Context, q TicketQuery) ([]StaffTicket, error) {
	where, args := ticketWhere(q, func(i int) string { return "$" + strconv.Itoa(i) })
	rows, err := s.pool.Query(ctx, `SELECT `+staffTicketCols+` FROM staff_tickets`+where, args...)
	out, err := pgCollect(rows, err, scanStaffTicket)
	if err != nil {
		return nil, fmt.Errorf("store: staff tickets: %w", err)
	}
	if out == nil {
		out = []StaffTicket{}
	}
	return out, nil
}

// SetStaffTicketState moves a ticket from one state to the next; the row
// is locked, so of two changes at once one wins.
func (s *Postgres) SetStaffTicketState(ctx context.Context, id, from string, t StaffTicket) error {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var cur string
		if err := tx.QueryRow(ctx, `SELECT state FROM staff_tickets WHERE id = $1 FOR UPDATE`, id).Scan(&cur); err != nil {
			return pgNotFound(err)
		}
		if cur != from {
			return fmt.Errorf("the ticket is %s, not %s: %w", cur, from, ErrConflict)
		}
		_, err := tx.Exec(ctx, `UPDATE staff_tickets SET state = $1, closed_by = $2, closed_ns = $3 WHERE id = $4`,
			t.State, t.ClosedBy, encTime(t.Closed), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set staff ticket state: %w", err)
	}
	return nil
}

// AddStaffNote stores a note.
func (s *Postgres) AddStaffNote(ctx context.Context, n StaffNote) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO staff_notes (`+staffNoteCols+`) VALUES ($1, $2, $3, $4, $5)`,
		n.ID, n.TicketID, n.StaffID, encTime(n.Created), n.Text)
	if err != nil {
		return fmt.Errorf("store: add staff note: %w", pgInsertErr(err))
	}
	return nil
}

// StaffNotes returns the ticket's notes, oldest first.
func (s *Postgres) StaffNotes(ctx context.Context, ticketID string) ([]StaffNote, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+staffNoteCols+` FROM staff_notes WHERE ticket_id = $1 ORDER BY created_ns, id`, ticketID)
	out, err := pgCollect(rows, err, scanStaffNote)
	if err != nil {
		return nil, fmt.Errorf("store: staff notes: %w", err)
	}
	if out == nil {
		out = []StaffNote{}
	}
	return out, nil
}

// StaffOpsCounts returns the counts across households.
func (s *Postgres) StaffOpsCounts(ctx context.Context, since time.Time) (StaffOps, error) {
	var o StaffOps
	err := s.pool.QueryRow(ctx, staffOpsQuery, encTime(since), encTime(time.Time{})).Scan(
		&o.Households, &o.Hubs, &o.Uploads, &o.UploadedBytes, &o.OpenTickets, &o.Staff)
	if err != nil {
		return StaffOps{}, fmt.Errorf("store: staff ops counts: %w", err)
	}
	return o, nil
}
