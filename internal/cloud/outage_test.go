package cloud_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/blob"
	"vigil/internal/blob/s3blob"
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/store"
	"vigil/internal/keydir"
	"vigil/internal/pgtest"
	"vigil/internal/s3test"
)

// countingHandler passes records on and counts the warnings about an
// unavailable backing service.
type countingHandler struct {
	slog.Handler
	outages *atomic.Int32
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && strings.Contains(r.Message, "backing service is unavailable") {
		h.outages.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

func (h countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return countingHandler{h.Handler.WithAttrs(as), h.outages}
}

// outageBound is how long a request may take while a backing service is
// down.
const outageBound = 5 * time.Second

// TestDatabaseOutage: with PostgreSQL stopped under a running Server,
// every request that needs it gets 503 with Retry-After, quickly, never
// 500; the outage is logged once; once PostgreSQL is back the same Server
// serves again, and the hub's uploads refused meanwhile go through when
// sent again.
func TestDatabaseOutage(t *testing.T) {
	pg := pgtest.Private(t)
	dsn := pg.NewDB(t)
	ctx := t.Context()
	st, err := store.OpenPostgres(ctx, dsn, store.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dir := t.TempDir()
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	o := newOutageEnv(t, dir, st, blobs)
	o.run(t, "the database", pg.Stop, pg.Restart)
}

// TestObjectStorageOutage: the same with the S3 server stopped under a
// Server that keeps its objects there: uploads and reads of objects get
// 503 with Retry-After, and go through again once S3 is back.
func TestObjectStorageOutage(t *testing.T) {
	s3 := s3test.StartPrivate(t)
	dir := t.TempDir()
	st, err := store.OpenSQLite(t.Context(), filepath.Join(dir, "cloud.db"), store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := s3blob.Open(t.Context(), s3blob.Config{Endpoint: s3.Endpoint, Secure: s3.Secure, Region: s3.Region,
		Bucket: s3.Bucket, Prefix: s3.Prefix(t), AccessKey: s3.AccessKey, SecretKey: s3.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	o := newOutageEnv(t, dir, st, blobs)
	o.run(t, "the object storage", func(testing.TB) { s3.Stop() }, s3.Restart)
}

// outageEnv is a Server over the given backends, with a member, her
// household and its hub.
type outageEnv struct {
	*env
	outages *atomic.Int32
	alice   *member
	hh      *keydir.State
	hub     *client.Client
	hubKey  ed25519.PrivateKey
	seq     uint64
}

func newOutageEnv(t *testing.T, dir string, st store.Store, blobs blob.Store) *outageEnv {
	var outages atomic.Int32
	log := slog.New(countingHandler{slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}), &outages})
	clk := &clock{t: time.Now()}
	srv, err := cloud.New(cloud.Options{Store: st, Blobs: blobs, Logger: log, Now: clk.Now,
		Mailer: cloud.OutboxMailer{Dir: filepath.Join(dir, "outbox")}, Argon2: testArgon, PublicURL: "http://vigil.test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	o := &outageEnv{env: &env{t: t, srv: srv, url: hs.URL, dir: dir, st: st, clock: clk}, outages: &outages}
	o.alice = o.signUp("alice@example.com")
	o.hh = o.household(o.alice, "Home")
	o.hub, o.hubKey = o.addHub(o.alice, o.hh)
	return o
}

// run checks the Server before, during (stop to restart) and after an
// outage of the backing service that answers say is what.
func (o *outageEnv) run(t *testing.T, what string, stop, restart func(testing.TB)) {
	ctx := t.Context()
	alice, hh, hub := o.alice, o.hh, o.hub
	start := time.Unix(1_800_000_000, 0).UTC()
	upload := func() ([]byte, error) {
		b := seal(t, o.hubKey, hh, "front", o.seq, start.Add(time.Duration(o.seq)*4*time.Second), 10_000)
		o.seq++
		_, _, err := hub.Upload(ctx, b)
		return b, err
	}
	// get reads the listing, or the first object when the backing service
	// is the object storage.
	var first string
	get := func() (*http.Response, error) {
		path := "/v1/households/" + hh.HouseholdID + "/objects?camera=front"
		if first != "" {
			path = "/v1/households/" + hh.HouseholdID + "/objects/" + first
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", o.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+alice.c.Token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	for range 2 {
		if _, err := upload(); err != nil {
			t.Fatal(err)
		}
	}
	if resp, err := get(); err != nil || resp.StatusCode != 200 {
		t.Fatalf("listing before the outage: %v %v", resp, err)
	}
	if what == "the object storage" {
		objs, err := alice.c.Objects(ctx, hh.HouseholdID, "front", time.Time{}, time.Time{})
		if err != nil || len(objs) == 0 {
			t.Fatalf("objects: %v %v", objs, err)
		}
		first = objs[0].Key
		if resp, err := get(); err != nil || resp.StatusCode != 200 {
			t.Fatalf("reading an object before the outage: %v %v", resp, err)
		}
	}

	stop(t)
	var refused [][]byte
	statuses := map[int]int{}
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		began := time.Now()
		b, err := upload()
		if d := time.Since(began); d > outageBound {
			t.Errorf("an upload took %s while %s was down", d, what)
		}
		var ae *client.Error
		switch {
		case errors.As(err, &ae):
			statuses[ae.Status]++
			if ae.Status == http.StatusServiceUnavailable {
				refused = append(refused, b)
				if ae.RetryAfter <= 0 {
					t.Errorf("a 503 without Retry-After: %v", err)
				}
				if !strings.Contains(ae.Message, what+" is temporarily unavailable") {
					t.Errorf("the 503 says %q", ae.Message)
				}
			}
		case err != nil:
			t.Fatalf("upload while %s was down: %v", what, err)
		default:
			statuses[200]++
		}
		began = time.Now()
		resp, err := get()
		if err != nil {
			t.Fatalf("reading during the outage: %v", err)
		}
		if d := time.Since(began); d > outageBound {
			t.Errorf("a read took %s while %s was down", d, what)
		}
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			t.Error("a read's 503 without Retry-After")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("answers while %s was down: %v", what, statuses)
	if len(statuses) != 1 || statuses[http.StatusServiceUnavailable] == 0 {
		t.Errorf("answers while %s was down: %v, want only 503", what, statuses)
	}

	restart(t)
	began := time.Now()
	for {
		resp, err := get()
		if err == nil && resp.StatusCode == 200 {
			break
		}
		if time.Since(began) > 10*time.Second {
			t.Fatalf("the Server does not serve again after %s came back: %v %v", what, resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("serving again %s after %s came back", time.Since(began).Round(time.Millisecond), what)
	// The hub sends again what was refused: nothing is lost.
	for i, b := range refused {
		if _, _, err := hub.Upload(ctx, b); err != nil {
			t.Fatalf("sending refused upload %d again: %v", i, err)
		}
	}
	objs, err := alice.c.Objects(ctx, hh.HouseholdID, "front", time.Time{}, time.Time{})
	if err != nil || len(objs) != 2+len(refused) {
		t.Fatalf("after the outage: %d objects (%v), want %d", len(objs), err, 2+len(refused))
	}
	if n := o.outages.Load(); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
