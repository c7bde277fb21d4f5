package store

import (
	"context"
	"time"
)

// Ticket states.
const (
	TicketOpen   = "open"
	TicketClosed = "closed"
)

// StaffTicket is a support ticket about one household: staff metadata,
// written by staff (a subject and notes), never a household's content.
type StaffTicket struct {
	ID          string
	HouseholdID string
	Subject     string
	State       string // TicketOpen or TicketClosed
	OpenedBy    string // staff ID
	Opened      time.Time
	ClosedBy    string    // staff ID of the last close ("" while open)
	Closed      time.Time // zero while open
}

// StaffNote is a staff member's note on a ticket.
type StaffNote struct {
	ID       string
	TicketID string
	StaffID  string
	Created  time.Time
	Text     string
}

// TicketQuery selects tickets: of one household, opened by one staff
// member, in one state ("" fields match any), newest first, at most Limit
// (0: no limit).
type TicketQuery struct {
	HouseholdID string
	OpenedBy    string
	State       string
	Limit       int
}

// StaffOps are counts across every household, for operators: how many
// households, hubs, objects uploaded (and their bytes) since a time, and
// open tickets. No count is of one household.
type StaffOps struct {
	Households    int64
	Hubs          int64
	Uploads       int64
	UploadedBytes int64
	OpenTickets   int64
	Staff         int64 // live (not disabled) staff identities
}

// StaffTicketStore keeps tickets and their notes, and counts for the
// operations view.
type StaffTicketStore interface {
	// CreateStaffTicket stores a new ticket: ErrExists for a taken ID,
	// ErrNotFound for an unknown household or staff identity.
	CreateStaffTicket(ctx context.Context, t StaffTicket) error
	// StaffTicket returns the ticket with the ID.
	StaffTicket(ctx context.Context, id string) (StaffTicket, error)
	// StaffTickets returns the tickets q selects, newest first.
	StaffTickets(ctx context.Context, q TicketQuery) ([]StaffTicket, error)
	// SetStaffTicketState moves the ticket from state from to t's State,
	// ClosedBy and Closed: ErrConflict when it is not in state from,
	// ErrNotFound when there is no such ticket.
	SetStaffTicketState(ctx context.Context, id, from string, t StaffTicket) error
	// AddStaffNote stores a note: ErrExists for a taken ID, ErrNotFound
	// for an unknown ticket or staff identity.
	AddStaffNote(ctx context.Context, n StaffNote) error
	// StaffNotes returns the ticket's notes, oldest first.
	StaffNotes(ctx context.Context, ticketID string) ([]StaffNote, error)
	// StaffOpsCounts returns the counts across households, with uploads
	// counted from since.
	StaffOpsCounts(ctx context.Context, since time.Time) (StaffOps, error)
}

// staffTicketCols are the columns scanStaffTicket reads.
const staffTicketCols = `id, household_id, subject, state, opened_by, opened_ns, closed_by, closed_ns`

// scanStaffTicket scans staffTicketCols.
func scanStaffTicket(row rowScanner) (StaffTicket, error) {
	var t StaffTicket
	var opened, closed int64
	err := row.Scan(&t.ID, &t.HouseholdID, &t.Subject, &t.State, &t.OpenedBy, &opened, &t.ClosedBy, &closed)
	t.Opened, t.Closed = decTime(opened), decTime(closed)
	return t, err
}

// staffNoteCols are the columns scanStaffNote reads.
const staffNoteCols = `id, ticket_id, staff_id, created_ns, text`

// scanStaffNote scans staffNoteCols.
func scanStaffNote(row rowScanner) (StaffNote, error) {
	var n StaffNote
	var created int64
	err := row.Scan(&n.ID, &n.TicketID, &n.StaffID, &created, &n.Text)
	n.Created = decTime(created)
	return n, err
}

// ticketWhere is the WHERE clause of q (with placeholders made by ph, 1
// based) and its arguments.
func ticketWhere(q TicketQuery, ph func(i int) string) (string, []any) {
	where, args := "", []any{}
	add := func(col, v string) {
		if v == "" {
			return
		}
		args = append(args, v)
		if where == "" {
			where = " WHERE "
		} else {
			where += " AND "
		}
		where += col + " = " + ph(len(args))
	}
	add("household_id", q.HouseholdID)
	add("opened_by", q.OpenedBy)
	add("state", q.State)
	where += " ORDER BY opened_ns DESC, id"
	if q.Limit > 0 {
		args = append(args, q.Limit)
		where += " LIMIT " + ph(len(args))
	}
	return where, args
}
