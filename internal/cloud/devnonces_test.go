package cloud_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/cloud"
	"vigil/internal/cloud/store"
	"vigil/internal/devauth"
	"vigil/internal/pgtest"
	"vigil/internal/vigiltest"
)

// signedUpload returns the bytes of a PUT /v1/objects of sealed, signed by
// the hub at now for host (the service's public name, the same on every
// replica), exactly as they go on the wire.
func signedUpload(t *testing.T, host string, hubID string, hubKey ed25519.PrivateKey, sealed []byte, now time.Time) []byte {
	t.Helper()
	req, err := http.NewRequest("PUT", "http://"+host+"/v1/objects", bytes.NewReader(sealed))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.vigil.sealed")
	if err := devauth.Sign(req, sealed, hubID, hubKey, now); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sendRaw sends the bytes of one request to the server at base (an
// http:// URL) on a new connection, and returns the answer's status and
// body.
func sendRaw(t *testing.T, base string, raw []byte) (int, string) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// nonceKey returns the EphemeralStore key of the nonce of the one
// device request in raw.
func nonceKey(t *testing.T, raw []byte) string {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var id, nonce string
	for _, p := range strings.Split(strings.TrimPrefix(req.Header.Get(devauth.Header), devauth.Scheme+" "), ", ") {
		k, v, _ := strings.Cut(p, "=")
		switch k {
		case "id":
			id = v
		case "nonce":
			nonce = v
		}
	}
	if id == "" || nonce == "" {
		t.Fatalf("no id or nonce in %q", req.Header.Get(devauth.Header))
	}
	return cloud.KeyDeviceNonce + id + "/" + nonce
}

// signedGet returns the bytes of a GET of path signed by the hub.
func signedGet(t *testing.T, host, path, hubID string, hubKey ed25519.PrivateKey, now time.Time) []byte {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+host+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := devauth.Sign(req, nil, hubID, hubKey, now); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDeviceReplayAcrossReplicas: a hub's request captured on its way to
// replica A and replayed, byte for byte, to replica B (both over one
// PostgreSQL database) is refused as a replay, as it is on A. An upload
// replayed to B stores nothing new and is answered as already stored;
// replayed to A it is refused.
func TestDeviceReplayAcrossReplicas(t *testing.T) {
	dsn := pgtest.NewSchema(t, pgtest.NewDB(t))
	a, b := newReplicas(t, func(t *testing.T) store.Store {
		st, err := store.OpenPostgres(t.Context(), dsn, store.PostgresOptions{Logger: vigiltest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
	alice := a.signUp("alice@example.com")
	st := a.household(alice, "Home")
	hub, hubKey := a.addHub(alice, st)
	start := time.Unix(1_800_000_000, 0).UTC()

	// Both replicas serve one public name, which the hub signs.
	const host = "vigil.test"
	for _, path := range []string{"/v1/hub/chain", "/v1/hub/settings"} {
		raw := signedGet(t, host, path, hub.DeviceID, hubKey, a.clock.Now())
		if status, body := sendRaw(t, a.url, raw); status != http.StatusOK {
			t.Fatalf("GET %s on A: %d %s", path, status, body)
		}
		// The nonce is in the store, for every replica to see.
		if _, err := a.st.Get(t.Context(), nonceKey(t, raw), a.clock.Now()); err != nil {
			t.Errorf("GET %s: the nonce in the store: %v", path, err)
		}
		for _, r := range []struct {
			name string
			e    *env
		}{{"B", b}, {"A", a}} {
			status, body := sendRaw(t, r.e.url, raw)
			if status != http.StatusUnauthorized || !strings.Contains(body, "replayed nonce") {
				t.Errorf("GET %s replayed to %s: %d %s, want 401 naming the replay", path, r.name, status, body)
			}
		}
	}

	sealed := seal(t, hubKey, st, "front", 0, start, 5000)
	raw := signedUpload(t, host, hub.DeviceID, hubKey, sealed, a.clock.Now())
	if status, body := sendRaw(t, a.url, raw); status != http.StatusCreated {
		t.Fatalf("the upload on A: %d %s", status, body)
	}
	if _, err := a.st.Get(t.Context(), nonceKey(t, raw), a.clock.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an upload's nonce in the store: %v, want none (uploads are remembered per replica)", err)
	}
	a.clock.Add(time.Minute)
	if status, body := sendRaw(t, a.url, raw); status != http.StatusUnauthorized || !strings.Contains(body, "replayed nonce") {
		t.Errorf("the upload replayed to A: %d %s, want 401 naming the replay", status, body)
	}
	if status, body := sendRaw(t, b.url, raw); status != http.StatusOK || !strings.Contains(body, `"created":false`) {
		t.Errorf("the upload replayed to B: %d %s, want 200, already stored", status, body)
	}
	objs, err := a.st.Objects(t.Context(), store.ObjectFilter{HouseholdID: st.HouseholdID})
	if err != nil || len(objs) != 1 {
		t.Errorf("objects after the replays: %d, %v; want the one uploaded", len(objs), err)
	}
	// The hub's next request, signed afresh, goes through on B.
	raw = signedUpload(t, host, hub.DeviceID, hubKey, seal(t, hubKey, st, "front", 1, start.Add(4*time.Second), 5000), a.clock.Now())
	if status, body := sendRaw(t, b.url, raw); status != http.StatusCreated {
		t.Fatalf("a fresh upload on B: %d %s", status, body)
	}
}

// TestDeviceNoncesInMemoryOnSQLite: on SQLite (one process) a device
// request writes no nonce to the store, and a replay is still refused (by
// the Verifier's own memory).
func TestDeviceNoncesInMemoryOnSQLite(t *testing.T) {
	checkNoncesInMemory(t, newEnv(t))
}

// checkNoncesInMemory uploads once from a new hub of e (a SQLite cloud):
// no nonce reaches the store, and the replay is still refused.
func checkNoncesInMemory(t *testing.T, e *env) {
	t.Helper()
	alice := e.signUp("alice@example.com")
	hh := e.household(alice, "Home")
	hub, hubKey := e.addHub(alice, hh)
	u, _ := url.Parse(e.url)
	raw := signedUpload(t, u.Host, hub.DeviceID, hubKey, seal(t, hubKey, hh, "front", 0, time.Unix(1_800_000_000, 0), 5000), e.clock.Now())
	if status, body := sendRaw(t, e.url, raw); status != http.StatusCreated {
		t.Fatalf("upload: %d %s", status, body)
	}
	if _, err := e.st.Get(t.Context(), nonceKey(t, raw), e.clock.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the nonce in the SQLite store: %v, want none", err)
	}
	if status, body := sendRaw(t, e.url, raw); status != http.StatusUnauthorized || !strings.Contains(body, "replayed nonce") {
		t.Errorf("replay: %d %s, want 401 naming the replay", status, body)
	}
}

// TestStoreNoncesSQLite and TestStoreNoncesPostgres check the store-backed
// replay memory over two handles of one database, as two replicas hold.
func TestStoreNoncesSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	testStoreNonces(t, func(t *testing.T) store.Store {
		st, err := store.OpenSQLite(t.Context(), path, store.SQLiteOptions{Logger: vigiltest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func TestStoreNoncesPostgres(t *testing.T) {
	dsn := pgtest.NewSchema(t, pgtest.NewDB(t))
	testStoreNonces(t, func(t *testing.T) store.Store {
		st, err := store.OpenPostgres(t.Context(), dsn, store.PostgresOptions{Logger: vigiltest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func newNonce() []byte {
	n := make([]byte, 16)
	rand.Read(n)
	return n
}

func testStoreNonces(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := t.Context()
	stA, stB := open(t), open(t)
	a, b := cloud.StoreNonces(stA), cloud.StoreNonces(stB)
	now := time.Now()
	expires := now.Add(5 * time.Minute)
	n1, n2 := newNonce(), newNonce()
	if err := a.Record(ctx, "hub-1", n1, now, expires); err != nil {
		t.Fatal(err)
	}
	// Refused on either handle, from now through expires, inclusive.
	for _, at := range []time.Time{now, now.Add(time.Minute), expires} {
		for name, n := range map[string]devauth.Nonces{"A": a, "B": b} {
			if err := n.Record(ctx, "hub-1", n1, at, at.Add(5*time.Minute)); !errors.Is(err, devauth.ErrReplay) {
				t.Errorf("the same pair on %s at +%v: %v, want ErrReplay", name, at.Sub(now), err)
			}
		}
	}
	// The pair is the device and the nonce: either alone is new.
	if err := b.Record(ctx, "hub-2", n1, now, expires); err != nil {
		t.Errorf("another device, same nonce: %v", err)
	}
	if err := b.Record(ctx, "hub-1", n2, now, expires); err != nil {
		t.Errorf("same device, another nonce: %v", err)
	}
	// Device IDs that a separator could confuse are different pairs.
	n3 := newNonce()
	if err := a.Record(ctx, "hub-1", n3, now, expires); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(ctx, "hub-1:x", n3, now, expires); err != nil {
		t.Errorf("a longer device ID, same nonce: %v", err)
	}
	// Well past expires the pair is forgotten (the store sweeps it; a
	// Verifier refuses its request as stale by then).
	later := expires.Add(time.Minute)
	if err := b.Record(ctx, "hub-1", n1, later, later.Add(5*time.Minute)); err != nil {
		t.Errorf("after expiry: %v", err)
	}

	// Of concurrent Records of one pair on both handles, one succeeds.
	for round := range 5 {
		n := newNonce()
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for i := range 8 {
			h := []devauth.Nonces{a, b}[i%2]
			wg.Go(func() {
				err := h.Record(ctx, "hub-1", n, now, expires)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case !errors.Is(err, devauth.ErrReplay):
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if ok != 1 {
			t.Fatalf("round %d: %d of 8 concurrent Records succeeded, want 1", round, ok)
		}
	}

	// A store that fails refuses: its error, not a decision.
	stC := open(t)
	c := cloud.StoreNonces(stC)
	stC.Close()
	err := c.Record(ctx, "hub-1", newNonce(), now, expires)
	if err == nil || errors.Is(err, devauth.ErrReplay) {
		t.Errorf("Record on a closed store: %v, want its error", err)
	}
}

// TestStoreNoncesOutage: with PostgreSQL stopped, recording a nonce fails
// quickly with an error the cloud answers 503 with Retry-After
// (store.IsUnavailable); once it is back, nonces are recorded again and
// those recorded before are still refused.
func TestStoreNoncesOutage(t *testing.T) {
	pg := pgtest.Private(t)
	dsn := pg.NewDB(t)
	ctx := t.Context()
	st, err := store.OpenPostgres(ctx, dsn, store.PostgresOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n := cloud.StoreNonces(st)
	now := time.Now()
	before := newNonce()
	if err := n.Record(ctx, "hub-1", before, now, now.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	pg.Stop(t)
	for i := range 3 {
		began := time.Now()
		err := n.Record(ctx, "hub-1", newNonce(), now, now.Add(5*time.Minute))
		if d := time.Since(began); d > outageBound {
			t.Errorf("Record %d took %s while the database was down", i, d)
		}
		if err == nil || errors.Is(err, devauth.ErrReplay) || !store.IsUnavailable(err) {
			t.Fatalf("Record %d while the database was down: %v, want an unavailable store", i, err)
		}
	}
	pg.Restart(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := n.Record(ctx, "hub-1", newNonce(), now, now.Add(5*time.Minute))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Record after the database came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := n.Record(ctx, "hub-1", before, now, now.Add(5*time.Minute)); !errors.Is(err, devauth.ErrReplay) {
		t.Errorf("the nonce recorded before the outage: %v, want ErrReplay", err)
	}
}

// BenchmarkStoreNonces measures recording a device request's nonce in the
// store (one INSERT on its primary key), on PostgreSQL and, for
// comparison, on SQLite, and in memory.
func BenchmarkStoreNonces(b *testing.B) {
	ctx := context.Background()
	pgDSN := pgtest.NewDB(b)
	pg, err := store.OpenPostgres(ctx, pgDSN, store.PostgresOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pg.Close() })
	lite, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "cloud.db"), store.SQLiteOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lite.Close() })
	var hubs []string
	for i := range 16 {
		hubs = append(hubs, fmt.Sprintf("hub-%d", i))
	}
	for _, c := range []struct {
		name string
		n    func(n int) devauth.Nonces // for n Records
	}{
		{"postgres", func(int) devauth.Nonces { return cloud.StoreNonces(pg) }},
		{"sqlite", func(int) devauth.Nonces { return cloud.StoreNonces(lite) }},
		{"memory", func(n int) devauth.Nonces { return &devauth.MemoryNonces{Max: n} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			rec := c.n(b.N)
			nonces := make([][]byte, b.N)
			for i := range nonces {
				nonces[i] = newNonce()
			}
			b.ResetTimer()
			for i := range b.N {
				now := time.Now()
				if err := rec.Record(ctx, hubs[i%len(hubs)], nonces[i], now, now.Add(5*time.Minute)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
