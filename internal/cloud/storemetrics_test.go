package cloud_test

import (
	"context"
	"net/http"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"vigil/internal/cloud"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
	"vigil/internal/pgtest"
	"vigil/internal/vigiltest"
)

// storeWrites are the methods of store.Store (and HouseholdLister) that
// change the store; the store times them itself (op="write"). Every other
// method is a read.
var storeWrites = map[string]bool{
	"CreateAccount": true, "UpdateAccount": true, "PutCredential": true, "UpdateCredential": true, "DeleteCredential": true,
	"PutToken": true, "DeleteToken": true, "DeleteTokens": true,
	"CreateHousehold": true, "PutMember": true, "DeleteMember": true, "AppendLink": true, "PutDevice": true, "SetRetention": true,
	"CreatePairing": true, "AppendPairingMsg": true,
	"PutObject": true, "DeleteObject": true,
	"CreateShare": true, "RevokeShare": true, "SetShareClip": true,
	"PutPushSub": true, "DeletePushSub": true, "InitPushVAPIDKey": true,
	"CreateStaff": true, "DisableStaff": true, "PutStaffToken": true, "DeleteStaffToken": true, "PutStaffCredential": true,
	"UpdateStaffCredential": true, "InitSupportCode": true, "CreateStaffRequest": true, "SetStaffRequestState": true,
	"CreateStaffTicket": true, "SetStaffTicketState": true, "AddStaffNote": true,
	"PutHubReport": true, "MarkHubQuiet": true, "MarkHubBack": true,
	"CreateWorkspace": true, "AppendWorkspaceLink": true, "CreateDonation": true, "AssignDonation": true, "EndDonation": true,
	"ReviewDonation": true, "SetDonationState": true, "PutAnnotation": true, "PutEvaluation": true, "CreateDatasetVersion": true,
	"PutIfAbsent": true, "Take": true, "Update": true, "Delete": true,
	"Close": true,
}

// TestTimedStoreReads calls every read method of the store the cloud's
// domains use, over SQLite and PostgreSQL, with zero arguments (a read of
// something missing is still a read): each adds exactly one observation to
// vigil_cloud_store_read_duration_seconds, so a read method added to
// store.Store without being timed fails here.
func TestTimedStoreReads(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "cloud.db"), store.SQLiteOptions{Logger: vigiltest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		checkTimedReads(t, st)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.NewSchema(t, pgtest.NewDB(t))
		st, err := store.OpenPostgres(t.Context(), dsn, store.PostgresOptions{Logger: vigiltest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		checkTimedReads(t, st)
	})
}

func checkTimedReads(t *testing.T, st store.Store) {
	reg := prometheus.NewRegistry()
	m, err := cloud.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	timed := cloud.TimedStore(m, st)
	v := reflect.ValueOf(timed)
	methods := map[string]bool{}
	for _, it := range []reflect.Type{reflect.TypeFor[store.Store](), reflect.TypeFor[store.HouseholdLister]()} {
		for i := range it.NumMethod() {
			methods[it.Method(i).Name] = true
		}
	}
	reads := 0
	for name := range methods {
		if storeWrites[name] {
			continue
		}
		reads++
		fn := v.MethodByName(name)
		args := make([]reflect.Value, fn.Type().NumIn())
		for i := range args {
			args[i] = reflect.Zero(fn.Type().In(i))
		}
		args[0] = reflect.ValueOf(context.Background())
		before := readCounts(t, reg)
		fn.Call(args)
		after := readCounts(t, reg)
		grew := 0
		for g, n := range after {
			switch d := n - before[g]; {
			case d == 1:
				grew++
			case d != 0:
				t.Errorf("%s: group %s grew by %d", name, g, d)
			}
		}
		if grew != 1 {
			t.Errorf("%s: %d read groups grew, want 1 (a read method of the store that is not timed?)", name, grew)
		}
	}
	if reads < 50 {
		t.Errorf("%d read methods called: the method set is not the store's", reads)
	}
}

// readCounts returns the observations of the store read histogram by group.
func readCounts(t *testing.T, g prometheus.Gatherer) map[string]uint64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "vigil_cloud_store_read_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[labelValue(m, "group")] = m.GetHistogram().GetSampleCount()
		}
	}
	if len(out) == 0 {
		t.Fatal("no vigil_cloud_store_read_duration_seconds series")
	}
	return out
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestTimedStoreKeepsStoreKind: with metrics on, the cloud still knows
// its store is SQLite where that decides behaviour: device nonces stay in
// the replica's memory (none written to the store, a replay refused) and
// the staff's operations page names the database.
func TestTimedStoreKeepsStoreKind(t *testing.T) {
	dir := t.TempDir()
	cm, err := cloud.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "cloud.db"), store.SQLiteOptions{ObserveWrite: cm.StoreWriteObserver()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newMetricsEnv(t, dir, st, cm)
	checkNoncesInMemory(t, e)
	status, b := e.staffCall(t, e.staffUser("Olu", "operator"), "GET", "/staff/v1/ops", nil)
	if o := decodeAs[cloudapi.StaffOps](t, b); status != http.StatusOK || o.Database != "sqlite" {
		t.Errorf("ops: %d %s, want the database named sqlite", status, b)
	}
}
