// Package hubhealthtest is the conformance suite of hubhealth.Store, the
// storage the hub health domain needs: each hub's latest health report.
// Every implementation (the cloud's store over SQLite and PostgreSQL)
// passes Run; internal/cloud/store runs it over both.
//
// It pins down these readings: a report is stored as given (times with
// microsecond precision, every field round-trips); a hub's next report
// replaces its last, so a hub has one row; reports are per household and
// listed by hub ID; a household with none lists none (not an error); a
// report for a household that does not exist is ErrNotFound. A hub's
// quiet mark: QuietHubReports lists, across households, the unmarked
// reports older than the cut and the marked ones received since their
// mark, oldest first and at most the limit; MarkHubQuiet marks only the
// report still received at the given time and not marked (once: a second
// call says false); a next report keeps the mark; MarkHubBack clears it
// only when the hub reported since, once.
//
// It is a test helper: only tests import it (internal/deptest), and it
// fails the test it is given, never the process.
package hubhealthtest

import (
	"testing"
	"time"

	"vigil/internal/cloud/hubhealth"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
)

// Store is what the suite needs: the domain's Store, and the fixtures
// (accounts and households) the reports belong to.
type Store interface {
	hubhealth.Store
	storetest.Fixtures
}

// Run runs the suite. newStore returns a new, empty store for each subtest
// and closes it when the subtest ends (t.Cleanup). Subtests do not run in
// parallel.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Latest", testLatest},
		{"Households", testHouseholds},
		{"Quiet", testQuiet},
	}
	for _, tc := range tests {
		t.Run("HubHealth/"+tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// full is a report with every field set.
func full(hh, hub string, at time.Duration) store.HubReport {
	return store.HubReport{HouseholdID: hh, HubID: hub, Received: storetest.At(at), Version: "v1.2.3-test+dirty",
		Started: storetest.At(at - time.Hour), Sent: storetest.At(at - time.Second), Cameras: 3, Recording: 2,
		Pending: 41, OldestPending: storetest.At(at - 10*time.Minute), Failures: 7, Rejected: 1, Evicted: 2, CloudAway: true,
		ErrorKind: "server", ErrorStatus: 502, ErrorMessage: "502 Bad Gateway", ErrorAt: storetest.At(at - 5*time.Minute)}
}

// testRoundTrip: every field comes back as stored, and a report without
// an error or a pending time keeps them zero.
func testRoundTrip(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.MkHousehold(t, s, "h1", "a1")
	r := full("h1", "hub-a", time.Hour)
	storetest.OK(t, s.PutHubReport(ctx, r), "PutHubReport")
	quiet := store.HubReport{HouseholdID: "h1", HubID: "hub-b", Received: storetest.At(2 * time.Hour), Version: "(devel)",
		Started: storetest.At(time.Hour), Sent: storetest.At(2 * time.Hour)}
	storetest.OK(t, s.PutHubReport(ctx, quiet), "PutHubReport quiet")
	got, err := s.HubReports(ctx, "h1")
	storetest.OK(t, err, "HubReports")
	storetest.Same(t, "HubReports", got, []store.HubReport{r, quiet})
}

// testLatest: a hub's next report replaces its last one, whole.
func testLatest(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.MkHousehold(t, s, "h1", "a1")
	storetest.OK(t, s.PutHubReport(ctx, full("h1", "hub-a", time.Hour)), "PutHubReport first")
	next := store.HubReport{HouseholdID: "h1", HubID: "hub-a", Received: storetest.At(2 * time.Hour), Version: "v1.2.4",
		Started: storetest.At(90 * time.Minute), Sent: storetest.At(2 * time.Hour), Cameras: 1, Recording: 1}
	storetest.OK(t, s.PutHubReport(ctx, next), "PutHubReport next")
	got, err := s.HubReports(ctx, "h1")
	storetest.OK(t, err, "HubReports")
	storetest.Same(t, "HubReports after the next report", got, []store.HubReport{next})
}

// testHouseholds: reports are per household; none is an empty list; an
// unknown household's report is refused.
func testHouseholds(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.MkHousehold(t, s, "h1", "a1")
	storetest.MkHousehold(t, s, "h2", "a2")
	a := full("h1", "hub-z", time.Hour)
	b := full("h2", "hub-a", 2*time.Hour)
	storetest.OK(t, s.PutHubReport(ctx, a), "PutHubReport h1")
	storetest.OK(t, s.PutHubReport(ctx, b), "PutHubReport h2")
	got, err := s.HubReports(ctx, "h1")
	storetest.OK(t, err, "HubReports h1")
	storetest.Same(t, "HubReports h1", got, []store.HubReport{a})
	got, err = s.HubReports(ctx, "h2")
	storetest.OK(t, err, "HubReports h2")
	storetest.Same(t, "HubReports h2", got, []store.HubReport{b})
	got, err = s.HubReports(ctx, "nobody")
	storetest.OK(t, err, "HubReports of an unknown household")
	if len(got) != 0 {
		t.Errorf("HubReports of an unknown household: %v", got)
	}
	storetest.IsErr(t, s.PutHubReport(ctx, full("nobody", "hub-a", time.Hour)), store.ErrNotFound, "PutHubReport for an unknown household")
}

// ids are the households and hubs of reports, in order.
func ids(rs []store.HubReport) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.HouseholdID+"/"+r.HubID)
	}
	return out
}

// testQuiet: the quiet mark's life: listed when quiet, marked once, kept
// by the next report, listed again as back, cleared once.
func testQuiet(t *testing.T, s Store) {
	ctx := t.Context()
	storetest.MkHousehold(t, s, "h1", "a1")
	storetest.MkHousehold(t, s, "h2", "a2")
	old := full("h1", "hub-a", time.Hour)
	older := full("h2", "hub-b", 30*time.Minute)
	fresh := full("h1", "hub-c", 3*time.Hour)
	for _, r := range []store.HubReport{old, older, fresh} {
		storetest.OK(t, s.PutHubReport(ctx, r), "PutHubReport")
	}
	cut := storetest.At(2 * time.Hour)
	got, err := s.QuietHubReports(ctx, cut, 10)
	storetest.OK(t, err, "QuietHubReports")
	storetest.Same(t, "QuietHubReports before any mark", ids(got), []string{"h2/hub-b", "h1/hub-a"})
	got, err = s.QuietHubReports(ctx, cut, 1)
	storetest.OK(t, err, "QuietHubReports limit 1")
	storetest.Same(t, "QuietHubReports limit 1", ids(got), []string{"h2/hub-b"})

	// A mark for a contact that is not the hub's latest changes nothing.
	ok, err := s.MarkHubQuiet(ctx, "h1", "hub-a", old.Received.Add(-time.Second))
	storetest.OK(t, err, "MarkHubQuiet stale")
	if ok {
		t.Error("MarkHubQuiet marked a report by a contact time that is not its own")
	}
	ok, err = s.MarkHubQuiet(ctx, "h1", "hub-a", old.Received)
	storetest.OK(t, err, "MarkHubQuiet")
	if !ok {
		t.Fatal("MarkHubQuiet did not mark a quiet hub")
	}
	ok, err = s.MarkHubQuiet(ctx, "h1", "hub-a", old.Received)
	storetest.OK(t, err, "MarkHubQuiet again")
	if ok {
		t.Error("MarkHubQuiet marked the same quiet hub twice")
	}
	got, err = s.QuietHubReports(ctx, cut, 10)
	storetest.OK(t, err, "QuietHubReports after the mark")
	storetest.Same(t, "QuietHubReports after the mark", ids(got), []string{"h2/hub-b"})
	rs, err := s.HubReports(ctx, "h1")
	storetest.OK(t, err, "HubReports")
	if len(rs) != 2 || !rs[0].Quiet.Equal(old.Received) || !rs[1].Quiet.IsZero() {
		t.Fatalf("HubReports after the mark: %+v, want hub-a quiet at %v and hub-c not", rs, old.Received)
	}
	// Not back yet: nothing to clear.
	ok, err = s.MarkHubBack(ctx, "h1", "hub-a", old.Received)
	storetest.OK(t, err, "MarkHubBack before a report")
	if ok {
		t.Error("MarkHubBack cleared the mark of a hub that has not reported since")
	}

	// The hub reports again: the report replaces the last, the mark stays,
	// and the hub is listed as back whatever the cut.
	next := full("h1", "hub-a", 4*time.Hour)
	storetest.OK(t, s.PutHubReport(ctx, next), "PutHubReport after quiet")
	got, err = s.QuietHubReports(ctx, storetest.At(0), 10)
	storetest.OK(t, err, "QuietHubReports after the hub is back")
	storetest.Same(t, "QuietHubReports after the hub is back", ids(got), []string{"h1/hub-a"})
	if !got[0].Quiet.Equal(old.Received) || !got[0].Received.Equal(next.Received) {
		t.Errorf("the hub back: quiet %v received %v, want %v and %v", got[0].Quiet, got[0].Received, old.Received, next.Received)
	}
	ok, err = s.MarkHubBack(ctx, "h1", "hub-a", next.Received)
	storetest.OK(t, err, "MarkHubBack with the wrong mark")
	if ok {
		t.Error("MarkHubBack cleared a mark it was not given")
	}
	ok, err = s.MarkHubBack(ctx, "h1", "hub-a", old.Received)
	storetest.OK(t, err, "MarkHubBack")
	if !ok {
		t.Fatal("MarkHubBack did not clear the mark of a hub back")
	}
	ok, err = s.MarkHubBack(ctx, "h1", "hub-a", old.Received)
	storetest.OK(t, err, "MarkHubBack again")
	if ok {
		t.Error("MarkHubBack cleared the same mark twice")
	}
	rs, err = s.HubReports(ctx, "h1")
	storetest.OK(t, err, "HubReports after back")
	storetest.Same(t, "HubReports after back", rs, []store.HubReport{next, fresh})
	got, err = s.QuietHubReports(ctx, storetest.At(0), 10)
	storetest.OK(t, err, "QuietHubReports after back")
	if len(got) != 0 {
		t.Errorf("QuietHubReports after back: %v", ids(got))
	}
}
