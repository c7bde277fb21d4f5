package cloud

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"vigil/internal/blob"
	"vigil/internal/metrics"
)

// Metrics are the cloud's Prometheus metrics: requests and their latency
// per route group, store write, store read (per read group) and blob
// operation latencies. No label
// carries anything a request names: the route group comes from the route
// table's pattern (routeGroup, a fixed set), never from the path, and the
// other labels are status codes, operation names and store read groups
// (readGroups, a fixed set). Neither a household,
// an account, a camera nor an object key ever becomes a label value.
type Metrics struct {
	requests  *prometheus.CounterVec   // group, code
	duration  *prometheus.HistogramVec // group
	store     *prometheus.HistogramVec // op
	storeRead *prometheus.HistogramVec // group
	blob      *prometheus.HistogramVec // op
}

// NewMetrics registers the cloud's metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_cloud_http_requests_total",
			Help: "HTTP requests answered, by route group and status code."}, []string{"group", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_cloud_http_request_duration_seconds",
			Help: "Time to answer an HTTP request, by route group (a WebSocket's whole life for live routes).", Buckets: metrics.LatencyBuckets()},
			[]string{"group"}),
		store: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_cloud_store_operation_duration_seconds",
			Help: "Time the metadata store took for an operation (write: one write transaction, commit included).", Buckets: metrics.LatencyBuckets()},
			[]string{"op"}),
		storeRead: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_cloud_store_read_duration_seconds",
			Help: "Time the metadata store took for a read, by what was read (account, household, object, share, push, staff, health, labelling, ephemeral).", Buckets: metrics.LatencyBuckets()},
			[]string{"group"}),
		blob: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vigil_cloud_blob_operation_duration_seconds",
			Help: "Time the blob store took for an operation (put, open, stat, delete, list, erase).", Buckets: metrics.LatencyBuckets()},
			[]string{"op"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.store, m.storeRead, m.blob} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("cloud metrics: %w", err)
		}
	}
	for _, g := range routeGroups {
		m.duration.WithLabelValues(g.group) // every group is listed from the start
	}
	for _, op := range []string{"put", "open", "stat", "delete", "list", "erase"} {
		m.blob.WithLabelValues(op)
	}
	m.store.WithLabelValues("write")
	for _, g := range readGroups {
		m.storeRead.WithLabelValues(g)
	}
	return m, nil
}

// StoreWriteObserver returns what the store gives each write transaction's
// duration (store.SQLiteOptions.ObserveWrite), nil for nil Metrics.
func (m *Metrics) StoreWriteObserver() func(time.Duration) {
	if m == nil {
		return nil
	}
	o := m.store.WithLabelValues("write")
	return func(d time.Duration) { o.Observe(d.Seconds()) }
}

// routeGroups map a route's pattern to its group: the first entry whose
// method (empty: any) and pattern prefix match. The groups are a small
// fixed set, so the request metrics' labels are too.
var routeGroups = []struct{ method, prefix, group string }{
	{"PUT", "/v1/objects", "upload"},
	{"", "/v1/households/{hh}/objects", "objects"},
	{"", "/v1/households/{hh}/events", "events"},
	{"", "/v1/households/{hh}/push", "events"},
	{"", "/v1/push/", "events"},
	{"", "/v1/households/{hh}/live", "live"},
	{"", "/v1/hub/live", "live"},
	{"", "/v1/households/{hh}/shares", "shares"},
	{"", "/v1/shares", "shares"},
	{"", "/v1/households/{hh}/donations", "labelling"},
	{"", "/v1/labelling/", "labelling"},
	{"", "/v1/workspaces/", "labelling"},
	{"", "/v1/households/{hh}/history", "log"},
	{"", "/v1/log", "log"},
	{"", "/tlog/", "log"},
	{"", "/v1/households", "households"},
	{"", "/v1/invites/", "pairing"},
	{"", "/v1/pairings", "pairing"},
	{"", "/v1/hub/", "hub"},
	{"", "/v1/accounts", "account"},
	{"", "/v1/account", "account"},
	{"", "/v1/sessions", "account"},
	{"", "/v1/passkeys", "account"},
	{"", "/staff/", "staff"},
	{"", "/v1/", "other"},
	{"", "/", "app"},
}

// routeGroup is the group of the route method pattern.
func routeGroup(method, pattern string) string {
	for _, g := range routeGroups {
		if (g.method == "" || g.method == method) && strings.HasPrefix(pattern, g.prefix) {
			return g.group
		}
	}
	return "other"
}

// instrument counts and times h's requests in group. promhttp's wrapper
// keeps the writer's Flusher and Hijacker (WebSockets).
func (m *Metrics) instrument(group string, h http.Handler) http.Handler {
	if m == nil {
		return h
	}
	l := prometheus.Labels{"group": group}
	return promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(l),
		promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(l), h))
}

// timedBlobs is a blob.Store that times each operation.
type timedBlobs struct {
	blob.Store
	put, open, stat, del, list prometheus.Observer
}

// timedEraser is a timedBlobs whose store is a blob.Eraser.
type timedEraser struct {
	*timedBlobs
	erase prometheus.Observer
}

// blobs returns b timed, keeping blob.Eraser when b is one.
func (m *Metrics) blobs(b blob.Store) blob.Store {
	if m == nil {
		return b
	}
	t := &timedBlobs{Store: b, put: m.blob.WithLabelValues("put"), open: m.blob.WithLabelValues("open"),
		stat: m.blob.WithLabelValues("stat"), del: m.blob.WithLabelValues("delete"), list: m.blob.WithLabelValues("list")}
	if _, ok := b.(blob.Eraser); ok {
		return timedEraser{t, m.blob.WithLabelValues("erase")}
	}
	return t
}

func since(o prometheus.Observer, t time.Time) { o.Observe(time.Since(t).Seconds()) }

func (t *timedBlobs) Put(ctx context.Context, key string, r io.Reader, size int64) (blob.Info, bool, error) {
	defer since(t.put, time.Now())
	return t.Store.Put(ctx, key, r, size)
}

func (t *timedBlobs) Open(ctx context.Context, key string) (blob.Object, error) {
	defer since(t.open, time.Now())
	return t.Store.Open(ctx, key)
}

func (t *timedBlobs) Stat(ctx context.Context, key string) (blob.Info, error) {
	defer since(t.stat, time.Now())
	return t.Store.Stat(ctx, key)
}

func (t *timedBlobs) Delete(ctx context.Context, key string) error {
	defer since(t.del, time.Now())
	return t.Store.Delete(ctx, key)
}

func (t *timedBlobs) List(ctx context.Context, prefix string) ([]string, error) {
	defer since(t.list, time.Now())
	return t.Store.List(ctx, prefix)
}

func (t timedEraser) Erase(ctx context.Context, key string) error {
	defer since(t.erase, time.Now())
	return t.Store.(blob.Eraser).Erase(ctx, key)
}
