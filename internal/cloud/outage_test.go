package cloud_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/blob"
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/store"
	"vigil/internal/pgtest"
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

// outageBound is how long a request may take while the database is down.
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
	e := &env{t: t, srv: srv, url: hs.URL, dir: dir, st: st, clock: clk}

	alice := e.signUp("alice@example.com")
	hh := e.household(alice, "Home")
	hub, hubKey := e.addHub(alice, hh)
	start := time.Unix(1_800_000_000, 0).UTC()
	seq := uint64(0)
	upload := func() ([]byte, error) {
		b := seal(t, hubKey, hh, "front", seq, start.Add(time.Duration(seq)*4*time.Second), 10_000)
		seq++
		_, _, err := hub.Upload(ctx, b)
		return b, err
	}
	list := func() (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", hs.URL+"/v1/households/"+hh.HouseholdID+"/objects?camera=front", nil)
		req.Header.Set("Authorization", "Bearer "+alice.c.Token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	for range 2 {
		if _, err := upload(); err != nil {
			t.Fatal(err)
		}
	}
	if resp, err := list(); err != nil || resp.StatusCode != 200 {
		t.Fatalf("listing before the outage: %v %v", resp, err)
	}

	pg.Stop(t)
	var refused [][]byte
	statuses := map[int]int{}
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		began := time.Now()
		b, err := upload()
		if d := time.Since(began); d > outageBound {
			t.Errorf("an upload took %s while the database was down", d)
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
				if !strings.Contains(ae.Message, "temporarily unavailable") {
					t.Errorf("the 503 says %q", ae.Message)
				}
			}
		case err != nil:
			t.Fatalf("upload during the outage: %v", err)
		default:
			statuses[200]++
		}
		began = time.Now()
		resp, err := list()
		if err != nil {
			t.Fatalf("listing during the outage: %v", err)
		}
		if d := time.Since(began); d > outageBound {
			t.Errorf("a listing took %s while the database was down", d)
		}
		statuses[resp.StatusCode]++
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			t.Error("a listing's 503 without Retry-After")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("answers while the database was down: %v", statuses)
	if len(statuses) != 1 || statuses[http.StatusServiceUnavailable] == 0 {
		t.Errorf("answers while the database was down: %v, want only 503", statuses)
	}

	pg.Restart(t)
	began := time.Now()
	for {
		resp, err := list()
		if err == nil && resp.StatusCode == 200 {
			break
		}
		if time.Since(began) > 10*time.Second {
			t.Fatalf("the Server does not serve again after the database came back: %v %v", resp, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("serving again %s after the database came back", time.Since(began).Round(time.Millisecond))
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
	if n := outages.Load(); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
