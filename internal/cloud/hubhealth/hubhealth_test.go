package hubhealth_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"vigil/internal/cloud/hubhealth"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
)

// TestReport: a report is checked, stamped with the cloud's clock as
// received, its times kept to the microsecond, and read back by hub; a
// refused one is a *hubhealth.Error and leaves the last report in place.
func TestReport(t *testing.T) {
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "cloud.db"), store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	storetest.MkHousehold(t, st, "h1", "a1")
	now := time.Date(2026, 12, 4, 12, 0, 0, 123456789, time.UTC)
	svc, err := hubhealth.New(hubhealth.Config{Store: st, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	r := store.HubReport{HouseholdID: "h1", HubID: "hub-a", Version: "v1", Started: now.Add(-time.Hour), Sent: now.Add(-time.Second),
		Cameras: 1, Recording: 1, Pending: 2, OldestPending: now.Add(-time.Minute), ErrorKind: "network",
		ErrorMessage: "connection refused", ErrorAt: now.Add(-time.Minute)}
	got, err := svc.Report(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Received.Equal(now.Truncate(time.Microsecond)) || got.Started.Nanosecond()%1000 != 0 {
		t.Errorf("kept %+v", got)
	}
	bad := r
	bad.ErrorMessage = "dial tcp 192.168.1.4 refused"
	var he *hubhealth.Error
	if _, err := svc.Report(t.Context(), bad); !errors.As(err, &he) {
		t.Errorf("a report naming an address: %v, want a *hubhealth.Error", err)
	}
	if _, err := svc.Report(t.Context(), store.HubReport{HubID: "hub-a"}); err == nil || errors.As(err, &he) {
		t.Errorf("a report without its household: %v, want a caller's error", err)
	}
	reps, err := svc.Reports(t.Context(), "h1")
	if err != nil || len(reps) != 1 || reps["hub-a"].ErrorMessage != "connection refused" || !reps["hub-a"].Received.Equal(got.Received) {
		t.Errorf("Reports: %+v, %v", reps, err)
	}
	if _, err := hubhealth.New(hubhealth.Config{}); err == nil {
		t.Error("New without a store")
	}
}
