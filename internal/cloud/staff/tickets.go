package staff

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"vigil/internal/cloud/store"
)

// Tickets: a staff member opens a ticket about one household, found by its
// support code (LookUp first), with a subject; staff add notes to it while
// it is open, close it, and reopen it. A ticket is staff metadata: its
// subject and notes are what staff wrote, and staff see nothing of a
// household's content to write (the lockbox's scopes are metadata too).
// The HTTP layer records a ticket's opening, closing and reopening in the
// household's history, with its subject; notes stay on the staff side.

const (
	// maxSubject bounds a ticket's subject (it goes into the household's
	// history); maxNote a note; maxNotes how many notes a ticket takes.
	maxSubject = 120
	maxNote    = 2000
	maxNotes   = 200
	// maxTickets bounds a listing.
	maxTickets = 200
	// opsWindow is how far back the operations view counts uploads.
	opsWindow = time.Hour
)

// Which roles may do what. Support staff look households up, file lockbox
// requests, read under grants, and keep tickets; operators can also see
// the operations view (counts across households); staff admins can also
// manage staff. Each staff route names one of these.
var (
	SupportRoles  = []string{store.StaffSupport, store.StaffOperator, store.StaffAdmin}
	OperatorRoles = []string{store.StaffOperator, store.StaffAdmin}
	AdminRoles    = []string{store.StaffAdmin}
)

// Permit refuses (Forbidden) a staff member whose role is not one of roles;
// no roles refuses everyone.
func Permit(st store.Staff, roles []string) error {
	if slices.Contains(roles, st.Role) {
		return nil
	}
	if len(roles) == 0 {
		return errorf(Forbidden, "no staff role may do this")
	}
	return errorf(Forbidden, "staff role %s may not do this: it needs the role %s", st.Role, strings.Join(roles, " or "))
}

// text checks a subject or a note: trimmed, 1 to max bytes of printable
// characters (newlines and tabs too when multiline).
func text(what, v string, max int, multiline bool) (string, error) {
	v = strings.TrimSpace(v)
	bad := func(r rune) bool {
		if multiline && (r == '\n' || r == '\t') {
			return false
		}
		return !unicode.IsPrint(r)
	}
	if v == "" || len(v) > max || !utf8.ValidString(v) || strings.ContainsFunc(v, bad) {
		return "", errorf(Invalid, "%s: 1 to %d printable characters", what, max)
	}
	return v, nil
}

// OpenTicket opens a ticket by staff member st about household hh (which
// the caller found by its support code) with a subject and, when note is
// not empty, a first note.
func (s *Service) OpenTicket(ctx context.Context, st store.Staff, hh, subject, note string) (store.StaffTicket, error) {
	subject, err := text("subject", subject, maxSubject, false)
	if err != nil {
		return store.StaffTicket{}, err
	}
	if strings.TrimSpace(note) != "" {
		if note, err = text("note", note, maxNote, true); err != nil {
			return store.StaffTicket{}, err
		}
	}
	t := store.StaffTicket{ID: "t" + randomID(), HouseholdID: hh, Subject: subject, State: store.TicketOpen,
		OpenedBy: st.ID, Opened: s.now().UTC()}
	if err := s.st.CreateStaffTicket(ctx, t); errors.Is(err, store.ErrNotFound) {
		return store.StaffTicket{}, errorf(NotFound, "not found")
	} else if err != nil {
		return store.StaffTicket{}, err
	}
	if note != "" {
		if err := s.st.AddStaffNote(ctx, store.StaffNote{ID: "n" + randomID(), TicketID: t.ID, StaffID: st.ID, Created: t.Opened, Text: note}); err != nil {
			return store.StaffTicket{}, err
		}
	}
	s.log.Info("ticket opened", "staff", st.ID, "household", hh, "ticket", t.ID)
	return t, nil
}

// Ticket returns the ticket with the ID and its notes, oldest first.
func (s *Service) Ticket(ctx context.Context, id string) (store.StaffTicket, []store.StaffNote, error) {
	t, err := s.st.StaffTicket(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.StaffTicket{}, nil, errorf(NotFound, "not found")
	}
	if err != nil {
		return store.StaffTicket{}, nil, err
	}
	notes, err := s.st.StaffNotes(ctx, id)
	if err != nil {
		return store.StaffTicket{}, nil, err
	}
	return t, notes, nil
}

// OwnTickets returns the open tickets staff member st opened, newest
// first (at most maxTickets).
func (s *Service) OwnTickets(ctx context.Context, st store.Staff) ([]store.StaffTicket, error) {
	return s.st.StaffTickets(ctx, store.TicketQuery{OpenedBy: st.ID, State: store.TicketOpen, Limit: maxTickets})
}

// HouseholdTickets returns household hh's tickets, open and closed,
// newest first (at most maxTickets). The caller found hh by its support
// code.
func (s *Service) HouseholdTickets(ctx context.Context, hh string) ([]store.StaffTicket, error) {
	return s.st.StaffTickets(ctx, store.TicketQuery{HouseholdID: hh, Limit: maxTickets})
}

// AddNote adds staff member st's note to an open ticket.
func (s *Service) AddNote(ctx context.Context, st store.Staff, id, note string) (store.StaffNote, error) {
	note, err := text("note", note, maxNote, true)
	if err != nil {
		return store.StaffNote{}, err
	}
	t, notes, err := s.Ticket(ctx, id)
	if err != nil {
		return store.StaffNote{}, err
	}
	if t.State != store.TicketOpen {
		return store.StaffNote{}, errorf(Conflict, "the ticket is closed: reopen it to add a note")
	}
	if len(notes) >= maxNotes {
		return store.StaffNote{}, errorf(Conflict, "the ticket has %d notes, the most it takes: open a new one", maxNotes)
	}
	n := store.StaffNote{ID: "n" + randomID(), TicketID: id, StaffID: st.ID, Created: s.now().UTC(), Text: note}
	if err := s.st.AddStaffNote(ctx, n); err != nil {
		return store.StaffNote{}, err
	}
	return n, nil
}

// CloseTicket closes an open ticket (Conflict when it is closed).
func (s *Service) CloseTicket(ctx context.Context, st store.Staff, id string) (store.StaffTicket, error) {
	return s.setTicket(ctx, st, id, store.TicketOpen, store.TicketClosed)
}

// ReopenTicket reopens a closed ticket (Conflict when it is open).
func (s *Service) ReopenTicket(ctx context.Context, st store.Staff, id string) (store.StaffTicket, error) {
	return s.setTicket(ctx, st, id, store.TicketClosed, store.TicketOpen)
}

func (s *Service) setTicket(ctx context.Context, st store.Staff, id, from, to string) (store.StaffTicket, error) {
	t, err := s.st.StaffTicket(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.StaffTicket{}, errorf(NotFound, "not found")
	}
	if err != nil {
		return store.StaffTicket{}, err
	}
	next := t
	next.State, next.ClosedBy, next.Closed = to, "", time.Time{}
	if to == store.TicketClosed {
		next.ClosedBy, next.Closed = st.ID, s.now().UTC()
	}
	err = s.st.SetStaffTicketState(ctx, id, from, next)
	if errors.Is(err, store.ErrConflict) {
		return store.StaffTicket{}, errorf(Conflict, "the ticket is %s already", to)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.StaffTicket{}, errorf(NotFound, "not found")
	}
	if err != nil {
		return store.StaffTicket{}, err
	}
	s.log.Info("ticket "+to, "staff", st.ID, "ticket", id)
	return next, nil
}

// Ops returns the operations view's counts, across every household, and
// the time uploads are counted from (an hour ago).
func (s *Service) Ops(ctx context.Context) (store.StaffOps, time.Time, error) {
	since := s.now().Add(-opsWindow).UTC()
	o, err := s.st.StaffOpsCounts(ctx, since)
	return o, since, err
}
