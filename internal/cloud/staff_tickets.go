package cloud

import (
	"context"
	"errors"
	"net/http"

	"vigil/internal/cloud/staff"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
)

// Tickets, the operations view and staff management: the staff routes
// beyond the look-up and the lockbox (staffRoutes lists them with the roles
// each needs). A ticket is about one household, found by its support code;
// its opening, closing and reopening are in the household's history with
// the ticket's subject, its notes are not (they are staff's working notes:
// staff metadata, internal/cloud/staff). The operations view counts across
// households and names none; staff management is the API form of 'vigil
// cloud staff add|list|disable'.

// staffNames resolves staff IDs to names once per request.
type staffNames struct {
	s   *Server
	ctx context.Context
	m   map[string]string
}

func (n *staffNames) name(id string) (string, error) {
	if id == "" {
		return "", nil
	}
	if v, ok := n.m[id]; ok {
		return v, nil
	}
	st, err := n.s.staff.Identity(n.ctx, id)
	if err != nil && staffError(err) == nil {
		return "", err
	}
	n.m[id] = st.Name
	return st.Name, nil
}

func (s *Server) names(r *http.Request) *staffNames {
	return &staffNames{s: s, ctx: r.Context(), m: map[string]string{}}
}

func (n *staffNames) ticket(t store.StaffTicket, notes []store.StaffNote) (cloudapi.StaffTicket, error) {
	out := cloudapi.StaffTicket{ID: t.ID, HouseholdID: t.HouseholdID, Subject: t.Subject, State: t.State,
		OpenedBy: t.OpenedBy, Opened: t.Opened, ClosedBy: t.ClosedBy, Closed: t.Closed}
	var err error
	if out.OpenedByName, err = n.name(t.OpenedBy); err != nil {
		return out, err
	}
	if out.ClosedByName, err = n.name(t.ClosedBy); err != nil {
		return out, err
	}
	for _, x := range notes {
		name, err := n.name(x.StaffID)
		if err != nil {
			return out, err
		}
		out.Notes = append(out.Notes, cloudapi.StaffNote{ID: x.ID, StaffID: x.StaffID, StaffName: name, Created: x.Created, Text: x.Text})
	}
	return out, nil
}

func (n *staffNames) tickets(ts []store.StaffTicket) (cloudapi.StaffTickets, error) {
	out := cloudapi.StaffTickets{Tickets: []cloudapi.StaffTicket{}}
	for _, t := range ts {
		j, err := n.ticket(t, nil)
		if err != nil {
			return out, err
		}
		out.Tickets = append(out.Tickets, j)
	}
	return out, nil
}

// ticketObject is how a ticket is named in the household's history (the
// object of its staff.ticket-open, -close and -reopen records): "ticket ID:
// subject". The history page reads the subject back from it
// (web/src/history/describe.ts); internal/history/testdata/actions.json
// pins it (TestStaffRecordVectors).
func ticketObject(t store.StaffTicket) string { return "ticket " + t.ID + ": " + t.Subject }

// supportCodeObject is how a household's support code is named in its
// history (the object of staff.lookup and staff.tickets records): the
// canonical code (staff.ParseSupportCode) as people read it.
func supportCodeObject(code string) string { return "support code " + staff.FormatSupportCode(code) }

// ownTickets: the signed-in staff member's open tickets.
func (s *Server) ownTickets(w http.ResponseWriter, r *http.Request, c *call) error {
	ts, err := s.staff.OwnTickets(r.Context(), c.staff)
	if err != nil {
		return err
	}
	out, err := s.names(r).tickets(ts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// openTicket: a ticket about the household with the support code. Its
// opening is in the household's history, with its subject.
func (s *Server) openTicket(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.StaffTicketOpen
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	hh, err := s.staff.LookUp(r.Context(), req.SupportCode)
	if err != nil {
		return err
	}
	t, err := s.staff.OpenTicket(r.Context(), c.staff, hh, req.Subject, req.Note)
	if err != nil {
		return err
	}
	if err := s.recordStaff(r, c, hh, "staff.ticket-open", ticketObject(t)); err != nil {
		return err
	}
	_, notes, err := s.staff.Ticket(r.Context(), t.ID)
	if err != nil {
		return err
	}
	out, err := s.names(r).ticket(t, notes)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// findTickets: every ticket about the household with the support code,
// open and closed. The household's history has it (repeats are counted
// into one record).
func (s *Server) findTickets(w http.ResponseWriter, r *http.Request, c *call) error {
	hh, err := s.lookUpByCode(w, r, c, "staff.tickets")
	if err != nil {
		return err
	}
	ts, err := s.staff.HouseholdTickets(r.Context(), hh)
	if err != nil {
		return err
	}
	out, err := s.names(r).tickets(ts)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getTicket: one ticket with its notes.
func (s *Server) getTicket(w http.ResponseWriter, r *http.Request, c *call) error {
	t, notes, err := s.staff.Ticket(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out, err := s.names(r).ticket(t, notes)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// addTicketNote: a note on an open ticket; staff only.
func (s *Server) addTicketNote(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.StaffNoteAdd
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	n, err := s.staff.AddNote(r.Context(), c.staff, r.PathValue("id"), req.Text)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, cloudapi.StaffNote{ID: n.ID, StaffID: n.StaffID, StaffName: c.staff.Name, Created: n.Created, Text: n.Text})
	return nil
}

// setTicketState closes (or reopens) a ticket; the household's history has
// it, with the ticket's subject.
func (s *Server) setTicketState(reopen bool) func(w http.ResponseWriter, r *http.Request, c *call) error {
	return func(w http.ResponseWriter, r *http.Request, c *call) error {
		id := r.PathValue("id")
		set, action := s.staff.CloseTicket, "staff.ticket-close"
		if reopen {
			set, action = s.staff.ReopenTicket, "staff.ticket-reopen"
		}
		t, err := set(r.Context(), c.staff, id)
		if err != nil {
			return err
		}
		if err := s.recordStaff(r, c, t.HouseholdID, action, ticketObject(t)); err != nil {
			return err
		}
		_, notes, err := s.staff.Ticket(r.Context(), id)
		if err != nil {
			return err
		}
		out, err := s.names(r).ticket(t, notes)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// staffOps: counts across every household, for operators and staff
// admins; nothing of any one household.
func (s *Server) staffOps(w http.ResponseWriter, r *http.Request, c *call) error {
	o, since, err := s.staff.Ops(r.Context())
	if err != nil {
		return err
	}
	out := cloudapi.StaffOps{Households: o.Households, Hubs: o.Hubs, Since: since, Uploads: o.Uploads, UploadedBytes: o.UploadedBytes,
		OpenTickets: o.OpenTickets, Staff: o.Staff, Cluster: s.opt.OpenLog != nil || s.opt.ClusterRetention}
	switch s.opt.Store.(type) { // the store given, not the timed one
	case *store.SQLite:
		out.Database = "sqlite"
	case *store.Postgres:
		out.Database = "postgresql"
	default:
		out.Database = "other"
	}
	if out.Cluster {
		out.Note = "replicas and which one leads are not known to a replica: see each replica's log (leader hand-overs)"
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func staffMember(st store.Staff) cloudapi.StaffMember {
	return cloudapi.StaffMember{ID: st.ID, Name: st.Name, Role: st.Role, Created: st.Created, Disabled: st.Disabled}
}

// listStaff: every staff identity, for staff admins.
func (s *Server) listStaff(w http.ResponseWriter, r *http.Request, c *call) error {
	all, err := s.staff.List(r.Context())
	if err != nil {
		return err
	}
	out := cloudapi.StaffMembers{Staff: []cloudapi.StaffMember{}}
	for _, st := range all {
		out.Staff = append(out.Staff, staffMember(st))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// addStaff: a staff admin adds a staff identity and gets its one-time
// enrolment secret, to hand to the new staff member (as 'vigil cloud
// staff add' prints it). The answer is not cached (writeJSON).
func (s *Server) addStaff(w http.ResponseWriter, r *http.Request, c *call) error {
	var req cloudapi.StaffAdd
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	st, en, err := s.staff.Add(r.Context(), req.Name, req.Role)
	if err != nil {
		return err
	}
	s.log.Info("staff member added by a staff admin", "staff", st.ID, "by", c.staff.ID)
	writeJSON(w, http.StatusCreated, cloudapi.StaffAdded{Staff: staffMember(st), EnrolSecret: en.Secret, EnrolExpires: en.Expires})
	return nil
}

// disableStaff: a staff admin disables a staff identity, ending its
// sessions; not their own (another staff admin, or 'vigil cloud staff
// disable', can).
func (s *Server) disableStaff(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	if id == c.staff.ID {
		return errorf(http.StatusConflict, "you cannot disable yourself: another staff admin, or 'vigil cloud staff disable', can")
	}
	if err := s.staff.Disable(r.Context(), id); err != nil {
		return err
	}
	st, err := s.staff.Identity(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) || staffError(err) != nil {
		return errNotFound
	}
	if err != nil {
		return err
	}
	s.log.Info("staff member disabled by a staff admin", "staff", id, "by", c.staff.ID)
	writeJSON(w, http.StatusOK, staffMember(st))
	return nil
}
