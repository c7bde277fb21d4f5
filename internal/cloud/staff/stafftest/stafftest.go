package stafftest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"vigil/internal/cloud/staff"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
)

// Store is what the suite needs: the staff domain's Store, and the
// fixtures (accounts and households, which other domains own) the support
// codes belong to.
type Store interface {
	staff.Store
	storetest.Fixtures
	// Staff passkeys, which the passkeys domain keeps (its StaffStore).
	PutStaffCredential(ctx context.Context, c store.StaffCredential) error
	StaffCredentials(ctx context.Context, staffID string) ([]store.StaffCredential, error)
	UpdateStaffCredential(ctx context.Context, c store.StaffCredential) error
	// Hubs and objects, which other domains keep, for the operations
	// counts.
	PutDevice(ctx context.Context, d store.Device) error
	PutObject(ctx context.Context, o store.Object) (bool, error)
}

// Run runs the suite. newStore returns a new, empty store for each subtest
// and closes it when the subtest ends (t.Cleanup). Subtests do not run in
// parallel.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"Identities", testIdentities},
		{"Sessions", testSessions},
		{"SupportCodes", testSupportCodes},
		{"Requests", testRequests},
		{"Credentials", testCredentials},
		{"Tickets", testTickets},
		{"OpsCounts", testOpsCounts},
	}
	for _, tc := range tests {
		t.Run("Staff/"+tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func mkStaff(id, name, role string, created time.Duration) store.Staff {
	return store.Staff{ID: id, Name: name, Role: role, Created: storetest.At(created)}
}

// testIdentities: identities are stored as given, unique by ID and name,
// listed oldest first, and disabled once.
func testIdentities(t *testing.T, s Store) {
	ctx := t.Context()
	a := mkStaff("s1", "Ada", store.StaffSupport, 2*time.Minute)
	b := mkStaff("s2", "Brian", store.StaffAdmin, time.Minute)
	storetest.OK(t, s.CreateStaff(ctx, a), "CreateStaff a")
	storetest.OK(t, s.CreateStaff(ctx, b), "CreateStaff b")
	storetest.IsErr(t, s.CreateStaff(ctx, mkStaff("s1", "Other", store.StaffSupport, 0)), store.ErrExists, "CreateStaff with a taken ID")
	storetest.IsErr(t, s.CreateStaff(ctx, mkStaff("s3", "Ada", store.StaffSupport, 0)), store.ErrExists, "CreateStaff with a taken name")
	got, err := s.Staff(ctx, "s1")
	storetest.OK(t, err, "Staff")
	storetest.Same(t, "Staff", got, a)
	_, err = s.Staff(ctx, "s3")
	storetest.IsErr(t, err, store.ErrNotFound, "Staff of a refused write")
	list, err := s.StaffList(ctx)
	storetest.OK(t, err, "StaffList")
	storetest.Same(t, "StaffList", list, []store.Staff{b, a})

	storetest.OK(t, s.DisableStaff(ctx, "s1", storetest.At(time.Hour)), "DisableStaff")
	storetest.OK(t, s.DisableStaff(ctx, "s1", storetest.At(2*time.Hour)), "DisableStaff again")
	got, _ = s.Staff(ctx, "s1")
	storetest.Same(t, "Disabled", got.Disabled, storetest.At(time.Hour))
	storetest.IsErr(t, s.DisableStaff(ctx, "nobody", storetest.At(time.Hour)), store.ErrNotFound, "DisableStaff unknown")
	got, _ = s.Staff(ctx, "s2")
	if !got.Disabled.IsZero() {
		t.Errorf("disabling s1 disabled s2 at %v", got.Disabled)
	}
}

// testSessions: sessions are kept by hash for a known identity, returned
// even when expired, deleted once, and gone when their identity is
// disabled.
func testSessions(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.OK(t, s.CreateStaff(ctx, mkStaff("s1", "Ada", store.StaffSupport, 0)), "CreateStaff")
	storetest.OK(t, s.CreateStaff(ctx, mkStaff("s2", "Brian", store.StaffOperator, 0)), "CreateStaff")
	t1 := store.StaffToken{Hash: storetest.Hash("t1"), StaffID: "s1", CSRF: "c1", Created: storetest.At(0), Expires: storetest.At(time.Second)}
	t2 := store.StaffToken{Hash: storetest.Hash("t2"), StaffID: "s2", CSRF: "c2", Created: storetest.At(0), Expires: storetest.At(time.Hour)}
	storetest.OK(t, s.PutStaffToken(ctx, t1), "PutStaffToken t1")
	storetest.OK(t, s.PutStaffToken(ctx, t2), "PutStaffToken t2")
	storetest.IsErr(t, s.PutStaffToken(ctx, t1), store.ErrExists, "PutStaffToken again")
	storetest.IsErr(t, s.PutStaffToken(ctx, store.StaffToken{Hash: storetest.Hash("t3"), StaffID: "nobody", Expires: storetest.At(time.Hour)}),
		store.ErrNotFound, "PutStaffToken of an unknown identity")
	got, err := s.StaffToken(ctx, t1.Hash)
	storetest.OK(t, err, "StaffToken (expired)")
	storetest.Same(t, "StaffToken", got, t1)
	_, err = s.StaffToken(ctx, storetest.Hash("t3"))
	storetest.IsErr(t, err, store.ErrNotFound, "StaffToken unknown")

	storetest.OK(t, s.DeleteStaffToken(ctx, t1.Hash), "DeleteStaffToken")
	storetest.IsErr(t, s.DeleteStaffToken(ctx, t1.Hash), store.ErrNotFound, "DeleteStaffToken again")
	_, err = s.StaffToken(ctx, t1.Hash)
	storetest.IsErr(t, err, store.ErrNotFound, "StaffToken deleted")

	storetest.OK(t, s.PutStaffToken(ctx, t1), "PutStaffToken t1 again")
	storetest.OK(t, s.DisableStaff(ctx, "s2", storetest.At(time.Minute)), "DisableStaff")
	_, err = s.StaffToken(ctx, t2.Hash)
	storetest.IsErr(t, err, store.ErrNotFound, "StaffToken of a disabled identity")
	_, err = s.StaffToken(ctx, t1.Hash)
	storetest.OK(t, err, "another identity's session after a disable")
}

// testSupportCodes: a household keeps its first code, a code is one
// household's, and lookups find the household by code only.
func testSupportCodes(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.MkHousehold(t, s, "h1", "a1")
	storetest.MkHousehold(t, s, "h2", "a2")
	_, err := s.SupportCode(ctx, "h1")
	storetest.IsErr(t, err, store.ErrNotFound, "SupportCode before one")
	code, err := s.InitSupportCode(ctx, "h1", "AAAAAAAAAA")
	storetest.OK(t, err, "InitSupportCode")
	storetest.Same(t, "InitSupportCode", code, "AAAAAAAAAA")
	code, err = s.InitSupportCode(ctx, "h1", "BBBBBBBBBB")
	storetest.OK(t, err, "InitSupportCode again")
	storetest.Same(t, "InitSupportCode keeps the first", code, "AAAAAAAAAA")
	_, err = s.InitSupportCode(ctx, "h2", "AAAAAAAAAA")
	storetest.IsErr(t, err, store.ErrExists, "InitSupportCode with another household's code")
	_, err = s.SupportCode(ctx, "h2")
	storetest.IsErr(t, err, store.ErrNotFound, "SupportCode after a refused write")
	_, err = s.InitSupportCode(ctx, "h9", "CCCCCCCCCC")
	storetest.IsErr(t, err, store.ErrNotFound, "InitSupportCode of an unknown household")

	hh, err := s.HouseholdBySupportCode(ctx, "AAAAAAAAAA")
	storetest.OK(t, err, "HouseholdBySupportCode")
	storetest.Same(t, "HouseholdBySupportCode", hh, "h1")
	for _, c := range []string{"BBBBBBBBBB", "aaaaaaaaaa", "CCCCCCCCCC", ""} {
		_, err = s.HouseholdBySupportCode(ctx, c)
		storetest.IsErr(t, err, store.ErrNotFound, "HouseholdBySupportCode "+c)
	}
	code, err = s.SupportCode(ctx, "h1")
	storetest.OK(t, err, "SupportCode")
	storetest.Same(t, "SupportCode", code, "AAAAAAAAAA")
}

// testRequests: requests are stored as given, per household, newest
// first, and change state only from the state the caller names.
func testRequests(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.MkHousehold(t, s, "h1", "a1")
	storetest.MkHousehold(t, s, "h2", "a2")
	storetest.OK(t, s.CreateStaff(ctx, mkStaff("s1", "Ada", store.StaffSupport, 0)), "CreateStaff")
	r1 := store.StaffRequest{ID: "r1", HouseholdID: "h1", StaffID: "s1", Scopes: []string{"hubs", "uploads"}, Reason: "uploads failing",
		Duration: 8 * time.Hour, Created: storetest.At(time.Minute), State: store.StaffPending}
	r2 := r1
	r2.ID, r2.Scopes, r2.Created = "r2", []string{"storage"}, storetest.At(2*time.Minute)
	r3 := r1
	r3.ID, r3.HouseholdID = "r3", "h2"
	for _, r := range []store.StaffRequest{r1, r2, r3} {
		storetest.OK(t, s.CreateStaffRequest(ctx, r), "CreateStaffRequest "+r.ID)
	}
	storetest.IsErr(t, s.CreateStaffRequest(ctx, r1), store.ErrExists, "CreateStaffRequest again")
	bad := r1
	bad.ID, bad.HouseholdID = "r4", "h9"
	storetest.IsErr(t, s.CreateStaffRequest(ctx, bad), store.ErrNotFound, "CreateStaffRequest for an unknown household")
	bad.HouseholdID, bad.StaffID = "h1", "nobody"
	storetest.IsErr(t, s.CreateStaffRequest(ctx, bad), store.ErrNotFound, "CreateStaffRequest by an unknown staff identity")

	got, err := s.StaffRequest(ctx, "h1", "r1")
	storetest.OK(t, err, "StaffRequest")
	storetest.Same(t, "StaffRequest", got, r1)
	_, err = s.StaffRequest(ctx, "h2", "r1")
	storetest.IsErr(t, err, store.ErrNotFound, "StaffRequest of another household")
	got, err = s.StaffRequestByID(ctx, "r3")
	storetest.OK(t, err, "StaffRequestByID")
	storetest.Same(t, "StaffRequestByID", got, r3)
	list, err := s.StaffRequests(ctx, "h1")
	storetest.OK(t, err, "StaffRequests")
	storetest.Same(t, "StaffRequests", list, []store.StaffRequest{r2, r1})

	next := r1
	next.State, next.Decided, next.DecidedBy, next.Expires = store.StaffApproved, storetest.At(time.Hour), "dADMIN", storetest.At(9*time.Hour)
	storetest.OK(t, s.SetStaffRequestState(ctx, "h1", "r1", store.StaffPending, next), "SetStaffRequestState")
	storetest.IsErr(t, s.SetStaffRequestState(ctx, "h1", "r1", store.StaffPending, next), store.ErrConflict, "SetStaffRequestState from a stale state")
	storetest.IsErr(t, s.SetStaffRequestState(ctx, "h2", "r1", store.StaffApproved, next), store.ErrNotFound, "SetStaffRequestState of another household's")
	got, _ = s.StaffRequest(ctx, "h1", "r1")
	storetest.Same(t, "after SetStaffRequestState", got, next)
	// Grants due: approved ones whose end is at or before now, soonest
	// first, of any household.
	r3n := r3
	r3n.State, r3n.Decided, r3n.Expires = store.StaffApproved, storetest.At(time.Hour), storetest.At(5*time.Hour)
	storetest.OK(t, s.SetStaffRequestState(ctx, "h2", "r3", store.StaffPending, r3n), "SetStaffRequestState r3")
	for _, c := range []struct {
		at   time.Duration
		want []store.StaffRequest
	}{
		{4 * time.Hour, nil}, {5 * time.Hour, []store.StaffRequest{r3n}}, {9 * time.Hour, []store.StaffRequest{r3n, next}},
	} {
		due, err := s.StaffGrantsDue(ctx, storetest.At(c.at), 10)
		storetest.OK(t, err, "StaffGrantsDue")
		if len(due) != len(c.want) {
			t.Fatalf("StaffGrantsDue at %v: %+v, want %+v", c.at, due, c.want)
		}
		for i := range due {
			storetest.Same(t, "StaffGrantsDue", due[i], c.want[i])
		}
	}
	due, err := s.StaffGrantsDue(ctx, storetest.At(9*time.Hour), 1)
	storetest.OK(t, err, "StaffGrantsDue limit")
	if len(due) != 1 || due[0].ID != "r3" {
		t.Errorf("StaffGrantsDue limit 1: %+v", due)
	}
	// Only one of two racing decisions wins.
	errs := storetest.Race(func(i int) error {
		n := next
		n.State = []string{store.StaffRevoked, store.StaffExpired}[i%2]
		return s.SetStaffRequestState(ctx, "h1", "r1", store.StaffApproved, n)
	})
	storetest.OneWinner(t, "racing decisions", errs)
}

// testCredentials: staff passkeys are unique by ID, listed per identity
// oldest first, and updated in place (record and last use only).
func testCredentials(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.OK(t, s.CreateStaff(ctx, mkStaff("s1", "Ada", store.StaffSupport, 0)), "CreateStaff")
	storetest.OK(t, s.CreateStaff(ctx, mkStaff("s2", "Bo", store.StaffAdmin, 0)), "CreateStaff")
	c1 := store.StaffCredential{ID: []byte("c1"), StaffID: "s1", Data: []byte(`{"n":1}`), Created: storetest.At(2 * time.Minute), LastUsed: storetest.At(2 * time.Minute)}
	c2 := store.StaffCredential{ID: []byte("c2"), StaffID: "s1", Data: []byte(`{"n":2}`), Created: storetest.At(time.Minute), LastUsed: storetest.At(time.Minute)}
	storetest.OK(t, s.PutStaffCredential(ctx, c1), "PutStaffCredential c1")
	storetest.OK(t, s.PutStaffCredential(ctx, c2), "PutStaffCredential c2")
	dup := c1
	dup.StaffID = "s2"
	storetest.IsErr(t, s.PutStaffCredential(ctx, dup), store.ErrExists, "PutStaffCredential with a taken ID")
	orphan := store.StaffCredential{ID: []byte("c3"), StaffID: "nobody", Data: []byte("{}")}
	storetest.IsErr(t, s.PutStaffCredential(ctx, orphan), store.ErrNotFound, "PutStaffCredential of an unknown identity")
	got, err := s.StaffCredentials(ctx, "s1")
	storetest.OK(t, err, "StaffCredentials")
	storetest.Same(t, "StaffCredentials", got, []store.StaffCredential{c2, c1})
	got, err = s.StaffCredentials(ctx, "s2")
	storetest.OK(t, err, "StaffCredentials s2")
	if len(got) != 0 {
		t.Errorf("s2 has passkeys %+v", got)
	}
	up := store.StaffCredential{ID: c1.ID, StaffID: "s2", Data: []byte(`{"n":3}`), Created: storetest.At(time.Hour), LastUsed: storetest.At(time.Hour)}
	storetest.OK(t, s.UpdateStaffCredential(ctx, up), "UpdateStaffCredential")
	got, _ = s.StaffCredentials(ctx, "s1")
	want := c1
	want.Data, want.LastUsed = up.Data, up.LastUsed
	storetest.Same(t, "after UpdateStaffCredential", got, []store.StaffCredential{c2, want})
	storetest.IsErr(t, s.UpdateStaffCredential(ctx, store.StaffCredential{ID: []byte("c9"), Data: []byte("{}")}), store.ErrNotFound, "UpdateStaffCredential unknown")
}

// testTickets: tickets are stored as given, listed newest first by
// household, opener and state, change state only from the state the
// caller names (one of two racing changes wins), and keep their notes
// oldest first; a ticket or note of an unknown household, staff member or
// ticket is refused.
func testTickets(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.MkHousehold(t, s, "h1", "a1")
	storetest.MkHousehold(t, s, "h2", "a2")
	storetest.OK(t, s.CreateStaff(ctx, mkStaff("s1", "Ada", store.StaffSupport, 0)), "CreateStaff")
	storetest.OK(t, s.CreateStaff(ctx, mkStaff("s2", "Bo", store.StaffOperator, 0)), "CreateStaff")
	t1 := store.StaffTicket{ID: "t1", HouseholdID: "h1", Subject: "uploads failing", State: store.TicketOpen, OpenedBy: "s1", Opened: storetest.At(time.Minute)}
	t2 := store.StaffTicket{ID: "t2", HouseholdID: "h1", Subject: "camera offline", State: store.TicketOpen, OpenedBy: "s2", Opened: storetest.At(2 * time.Minute)}
	t3 := store.StaffTicket{ID: "t3", HouseholdID: "h2", Subject: "billing", State: store.TicketOpen, OpenedBy: "s1", Opened: storetest.At(3 * time.Minute)}
	for _, tk := range []store.StaffTicket{t1, t2, t3} {
		storetest.OK(t, s.CreateStaffTicket(ctx, tk), "CreateStaffTicket "+tk.ID)
	}
	storetest.IsErr(t, s.CreateStaffTicket(ctx, t1), store.ErrExists, "CreateStaffTicket again")
	bad := t1
	bad.ID, bad.HouseholdID = "t9", "h9"
	storetest.IsErr(t, s.CreateStaffTicket(ctx, bad), store.ErrNotFound, "CreateStaffTicket for an unknown household")
	bad.HouseholdID, bad.OpenedBy = "h1", "nobody"
	storetest.IsErr(t, s.CreateStaffTicket(ctx, bad), store.ErrNotFound, "CreateStaffTicket by an unknown staff identity")

	got, err := s.StaffTicket(ctx, "t1")
	storetest.OK(t, err, "StaffTicket")
	storetest.Same(t, "StaffTicket", got, t1)
	_, err = s.StaffTicket(ctx, "t9")
	storetest.IsErr(t, err, store.ErrNotFound, "StaffTicket unknown")
	for _, c := range []struct {
		q    store.TicketQuery
		want []store.StaffTicket
	}{
		{store.TicketQuery{HouseholdID: "h1"}, []store.StaffTicket{t2, t1}},
		{store.TicketQuery{OpenedBy: "s1"}, []store.StaffTicket{t3, t1}},
		{store.TicketQuery{OpenedBy: "s1", HouseholdID: "h2"}, []store.StaffTicket{t3}},
		{store.TicketQuery{}, []store.StaffTicket{t3, t2, t1}},
		{store.TicketQuery{Limit: 1}, []store.StaffTicket{t3}},
		{store.TicketQuery{HouseholdID: "h9"}, []store.StaffTicket{}},
	} {
		list, err := s.StaffTickets(ctx, c.q)
		storetest.OK(t, err, "StaffTickets")
		storetest.Same(t, fmt.Sprintf("StaffTickets %+v", c.q), list, c.want)
	}

	closed := t1
	closed.State, closed.ClosedBy, closed.Closed = store.TicketClosed, "s2", storetest.At(time.Hour)
	storetest.OK(t, s.SetStaffTicketState(ctx, "t1", store.TicketOpen, closed), "SetStaffTicketState close")
	storetest.IsErr(t, s.SetStaffTicketState(ctx, "t1", store.TicketOpen, closed), store.ErrConflict, "SetStaffTicketState from a stale state")
	storetest.IsErr(t, s.SetStaffTicketState(ctx, "t9", store.TicketOpen, closed), store.ErrNotFound, "SetStaffTicketState unknown")
	got, _ = s.StaffTicket(ctx, "t1")
	storetest.Same(t, "after close", got, closed)
	list, err := s.StaffTickets(ctx, store.TicketQuery{OpenedBy: "s1", State: store.TicketOpen})
	storetest.OK(t, err, "StaffTickets open")
	storetest.Same(t, "open tickets of s1", list, []store.StaffTicket{t3})
	list, err = s.StaffTickets(ctx, store.TicketQuery{State: store.TicketClosed})
	storetest.OK(t, err, "StaffTickets closed")
	storetest.Same(t, "closed tickets", list, []store.StaffTicket{closed})
	// Only one of two racing changes wins.
	errs := storetest.Race(func(i int) error {
		n := t2
		n.State, n.ClosedBy, n.Closed = store.TicketClosed, []string{"s1", "s2"}[i%2], storetest.At(time.Hour)
		return s.SetStaffTicketState(ctx, "t2", store.TicketOpen, n)
	})
	storetest.OneWinner(t, "racing closes", errs)
	storetest.OK(t, s.SetStaffTicketState(ctx, "t1", store.TicketClosed, t1), "SetStaffTicketState reopen")
	got, _ = s.StaffTicket(ctx, "t1")
	storetest.Same(t, "after reopen", got, t1)

	n1 := store.StaffNote{ID: "n1", TicketID: "t1", StaffID: "s2", Created: storetest.At(2 * time.Hour), Text: "asked them to restart the hub\nno change"}
	n2 := store.StaffNote{ID: "n2", TicketID: "t1", StaffID: "s1", Created: storetest.At(time.Hour), Text: "called back"}
	storetest.OK(t, s.AddStaffNote(ctx, n1), "AddStaffNote n1")
	storetest.OK(t, s.AddStaffNote(ctx, n2), "AddStaffNote n2")
	storetest.IsErr(t, s.AddStaffNote(ctx, n1), store.ErrExists, "AddStaffNote again")
	storetest.IsErr(t, s.AddStaffNote(ctx, store.StaffNote{ID: "n3", TicketID: "t9", StaffID: "s1", Text: "x"}), store.ErrNotFound, "AddStaffNote to an unknown ticket")
	storetest.IsErr(t, s.AddStaffNote(ctx, store.StaffNote{ID: "n4", TicketID: "t1", StaffID: "nobody", Text: "x"}), store.ErrNotFound, "AddStaffNote by an unknown staff identity")
	notes, err := s.StaffNotes(ctx, "t1")
	storetest.OK(t, err, "StaffNotes")
	storetest.Same(t, "StaffNotes", notes, []store.StaffNote{n2, n1})
	notes, err = s.StaffNotes(ctx, "t3")
	storetest.OK(t, err, "StaffNotes of a ticket without notes")
	storetest.Same(t, "StaffNotes empty", notes, []store.StaffNote{})
}

// testOpsCounts: the counts are across households: every household, every
// hub (not clients), the objects created at or after the time given and
// their bytes, open tickets, and staff who are not disabled.
func testOpsCounts(t *testing.T, s Store) {
	ctx := t.Context()
	o, err := s.StaffOpsCounts(ctx, storetest.At(0))
	storetest.OK(t, err, "StaffOpsCounts empty")
	storetest.Same(t, "StaffOpsCounts empty", o, store.StaffOps{})
	storetest.MkHousehold(t, s, "h1", "a1")
	storetest.MkHousehold(t, s, "h2", "a2")
	for _, d := range []store.Device{{ID: "d1", HouseholdID: "h1", Kind: "hub"}, {ID: "d2", HouseholdID: "h2", Kind: "hub"}, {ID: "d3", HouseholdID: "h2", Kind: "client"}} {
		d.SignPub, d.Created = make([]byte, 32), storetest.At(0)
		storetest.OK(t, s.PutDevice(ctx, d), "PutDevice "+d.ID)
	}
	for i, c := range []struct {
		hh      string
		created time.Duration
		size    int64
	}{{"h1", time.Minute, 100}, {"h2", 2 * time.Hour, 1000}, {"h1", 3 * time.Hour, 10}} {
		obj := store.Object{HouseholdID: c.hh, Key: fmt.Sprintf("%s/d1/front/%016x", c.hh, i), Device: "d1", Camera: "front", Kind: "segment",
			Seq: uint64(i), Start: storetest.At(0), End: storetest.At(time.Second), Size: c.size, SHA256: storetest.Hash(fmt.Sprint(i)), Created: storetest.At(c.created)}
		if _, err := s.PutObject(ctx, obj); err != nil {
			t.Fatalf("PutObject: %v", err)
		}
	}
	storetest.OK(t, s.CreateStaff(ctx, mkStaff("s1", "Ada", store.StaffSupport, 0)), "CreateStaff")
	storetest.OK(t, s.CreateStaff(ctx, mkStaff("s2", "Bo", store.StaffAdmin, 0)), "CreateStaff")
	storetest.OK(t, s.DisableStaff(ctx, "s2", storetest.At(time.Minute)), "DisableStaff")
	storetest.OK(t, s.CreateStaffTicket(ctx, store.StaffTicket{ID: "t1", HouseholdID: "h1", Subject: "x", State: store.TicketOpen, OpenedBy: "s1", Opened: storetest.At(0)}), "CreateStaffTicket")
	storetest.OK(t, s.CreateStaffTicket(ctx, store.StaffTicket{ID: "t2", HouseholdID: "h2", Subject: "y", State: store.TicketClosed, OpenedBy: "s1", Opened: storetest.At(0),
		ClosedBy: "s1", Closed: storetest.At(time.Minute)}), "CreateStaffTicket closed")
	o, err = s.StaffOpsCounts(ctx, storetest.At(2*time.Hour))
	storetest.OK(t, err, "StaffOpsCounts")
	storetest.Same(t, "StaffOpsCounts", o, store.StaffOps{Households: 2, Hubs: 2, Uploads: 2, UploadedBytes: 1010, OpenTickets: 1, Staff: 1})
}
