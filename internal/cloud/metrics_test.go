package cloud_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vigil/internal/blob"
	"vigil/internal/cloud"
	"vigil/internal/cloud/store"
	"vigil/internal/metrics"
	"vigil/internal/metrics/metricstest"
	"vigil/internal/vigiltest"
)

// TestMetricsScrape runs a cloud on SQLite with its metrics served on a
// listener of their own, signs up, makes a household, uploads segments of
// a camera with a distinctive name and reads them back, scraping /metrics
// before and after: request counts grow in the upload and objects groups,
// store write, store read (objects, sessions) and blob latencies were
// observed, the names pass promlint, and no
// label value carries the camera's name, the household's ID, the e-mail
// address or the account's ID.
func TestMetricsScrape(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	cm, err := cloud.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "cloud.db"), store.SQLiteOptions{ObserveWrite: cm.StoreWriteObserver()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newMetricsEnv(t, dir, st, cm)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms := metrics.Serve(ln, reg, vigiltest.Logger(t))
	t.Cleanup(func() { ms.Close() })
	url := "http://" + ms.Addr().String() + "/metrics"

	const email, camera = "metrics-owner@example.com", "porch-zx81"
	alice := e.signUp(email)
	hh := e.household(alice, "Metrics Home")
	first := metricstest.Get(t, url)
	for _, g := range []string{"account", "households", "upload", "objects", "app", "log"} {
		if _, ok := first.Sum("vigil_cloud_http_request_duration_seconds", map[string]string{"group": g}); !ok {
			t.Errorf("no request latency series for group %s", g)
		}
	}
	hub, hubKey := e.addHub(alice, hh)
	start := time.Unix(1_800_000_000, 0).UTC()
	for i := range 3 {
		if _, _, err := hub.Upload(ctx, seal(t, hubKey, hh, camera, uint64(i), start.Add(time.Duration(i)*4*time.Second), 50_000)); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := alice.c.Objects(ctx, hh.HouseholdID, camera, time.Time{}, time.Time{})
	if err != nil || len(objs) != 3 {
		t.Fatalf("objects: %v %v", objs, err)
	}
	if _, err := alice.c.ReadObject(ctx, hh.HouseholdID, objs[0].Key, 1<<20); err != nil {
		t.Fatal(err)
	}
	// A request is counted when its handler returns, which may be just
	// after the client has its answer.
	var second metricstest.Scrape
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		second = metricstest.Get(t, url)
		reads, _ := second.Sum("vigil_cloud_http_requests_total", map[string]string{"group": "objects"})
		if reads >= 2 || time.Now().After(deadline) { // the last two requests made
			break
		}
	}

	grew := func(name string, labels map[string]string, by float64) {
		t.Helper()
		a, _ := first.Sum(name, labels)
		b, ok := second.Sum(name, labels)
		if !ok || b-a < by {
			t.Errorf("%s%v: %v then %v (present %v), want it to grow by %v", name, labels, a, b, ok, by)
		}
	}
	grew("vigil_cloud_http_requests_total", map[string]string{"group": "upload", "code": "201"}, 3)
	grew("vigil_cloud_http_requests_total", map[string]string{"group": "objects", "code": "200"}, 2)
	grew("vigil_cloud_http_request_duration_seconds", map[string]string{"group": "upload"}, 3)
	grew("vigil_cloud_blob_operation_duration_seconds", map[string]string{"op": "put"}, 3)
	grew("vigil_cloud_blob_operation_duration_seconds", map[string]string{"op": "open"}, 1)
	grew("vigil_cloud_store_operation_duration_seconds", map[string]string{"op": "write"}, 1)
	// Listing and reading objects read the index; every signed-in request
	// reads its session.
	grew("vigil_cloud_store_read_duration_seconds", map[string]string{"group": "object"}, 2)
	grew("vigil_cloud_store_read_duration_seconds", map[string]string{"group": "account"}, 2)
	for _, g := range []string{"account", "household", "object", "share", "push", "staff", "health", "labelling", "ephemeral"} {
		if _, ok := second.Sum("vigil_cloud_store_read_duration_seconds", map[string]string{"group": g}); !ok {
			t.Errorf("no store read latency series for group %s", g)
		}
	}
	if n, _ := second.Sum("vigil_cloud_http_requests_total", map[string]string{"group": "other"}); n != 0 {
		t.Errorf("%v requests counted in group other", n)
	}

	account, err := st.AccountByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{camera, hh.HouseholdID, email, account.ID, "Metrics Home", objs[0].Key}
	for _, v := range second.LabelValues() {
		for _, s := range secrets {
			if strings.Contains(v, s) {
				t.Errorf("label value %q carries %q", v, s)
			}
		}
	}
	body := string(second.Body)
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Errorf("the metrics page carries %q", s)
		}
	}
}

// TestRouteGroups: every route of the API falls in one of the named
// groups, never "other", and the groups are few.
func TestRouteGroups(t *testing.T) {
	e := newEnv(t)
	groups := map[string]bool{}
	for _, r := range e.srv.Routes() {
		method, pattern, _ := strings.Cut(r, " ")
		g := cloud.RouteGroup(method, pattern)
		if g == "other" {
			t.Errorf("%s is in no group", r)
		}
		groups[g] = true
	}
	if len(groups) > 16 {
		t.Errorf("%d route groups: keep them few", len(groups))
	}
	for path, want := range map[string]string{"/tlog/checkpoint": "log", "/": "app", "/v1/objects": "upload"} {
		method := "GET"
		if path == "/v1/objects" {
			method = "PUT"
		}
		if g := cloud.RouteGroup(method, path); g != want {
			t.Errorf("%s %s: group %s, want %s", method, path, g, want)
		}
	}
}

// newMetricsEnv is newEnvOn with metrics.
func newMetricsEnv(t *testing.T, dir string, st store.Store, m *cloud.Metrics) *env {
	t.Helper()
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	return newEnvOpts(t, dir, st, cloud.Options{Blobs: blobs, Metrics: m})
}
