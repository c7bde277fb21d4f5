package cloud_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/blob"
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
	"vigil/internal/history"
	"vigil/internal/keydir"
	vmember "vigil/internal/member"
	"vigil/internal/pgtest"
	"vigil/internal/tlog"
	"vigil/internal/vigiltest"
)

// newReplicas starts two Servers, as two replicas of the service behind a
// load balancer: each has its own store handle (from open, on one
// database), its own HTTP listener, and nothing else of its own in common
// with the other but the blob directory, the log and the clock.
func newReplicas(t *testing.T, open func(t *testing.T) store.Store) (a, b *env) {
	t.Helper()
	dir := t.TempDir()
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	clk := &clock{t: time.Now()}
	const origin = "vigil.test/tlog"
	signer, vkey := logSigner(t, origin)
	logStorage := tlog.NewMemoryStorage()
	// As deployed: every replica makes its records durable in the shared
	// history outbox, and one at a time (the leader) sequences them into
	// the log, which it opens afresh for its term (Options.OpenLog).
	openLog := func(ctx context.Context) (*tlog.Log, error) {
		return tlog.Open(ctx, tlog.Config{Origin: origin, Signer: signer, Storage: logStorage, Logger: vigiltest.Logger(t), Now: clk.Now})
	}
	outbox := filepath.Join(dir, "outbox")
	start := func() *env {
		st := open(t)
		t.Cleanup(func() { st.Close() })
		srv, err := cloud.New(cloud.Options{Store: st, Blobs: blobs, Logger: vigiltest.Logger(t), Now: clk.Now,
			OpenLog: openLog, LogStorage: logStorage, LogKey: vkey,
			Mailer: cloud.OutboxMailer{Dir: outbox}, Argon2: testArgon, PublicURL: "http://vigil.test"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(hs.Close)
		return &env{t: t, srv: srv, url: hs.URL, dir: dir, st: st, clock: clk, outbox: outbox}
	}
	a, b = start(), start()
	// a leads; the sequencer stops before the servers close.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.srv.SequenceLog(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("SequenceLog: %v", err)
		}
	})
	return a, b
}

// on returns a client of m's account that talks to replica e.
func on(e *env, m *member) *client.Client {
	c := client.New(e.url)
	c.Token = m.c.Token
	return c
}

func TestReplicasSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cloud.db")
	testReplicas(t, func(t *testing.T) store.Store {
		st, err := store.OpenSQLite(t.Context(), path, store.SQLiteOptions{Logger: vigiltest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

func TestReplicasPostgres(t *testing.T) {
	dsn := pgtest.NewSchema(t, pgtest.NewDB(t))
	testReplicas(t, func(t *testing.T) store.Store {
		st, err := store.OpenPostgres(t.Context(), dsn, store.PostgresOptions{Logger: vigiltest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// testReplicas: no request depends on which replica took the one before.
func testReplicas(t *testing.T, open func(t *testing.T) store.Store) {
	a, b := newReplicas(t, open)
	ctx := t.Context()
	alice := a.signUp("alice@example.com")
	bob := b.signUp("bob@example.com")

	t.Run("TOTPCodeOnce", func(t *testing.T) {
		code := auth.TOTPCode(alice.totp, a.clock.Now())
		if _, err := client.New(a.url).SignIn(ctx, alice.email, alice.password, code); err != nil {
			t.Fatalf("sign-in on A: %v", err)
		}
		if _, err := client.New(b.url).SignIn(ctx, alice.email, alice.password, code); !client.IsStatus(err, 401) {
			t.Errorf("the same code on B: %v, want 401", err)
		}
		a.clock.Add(31 * time.Second)
	})

	t.Run("FailuresCount", func(t *testing.T) {
		carol := a.signUp("carol@example.com")
		// Five failures are free, the sixth opens a backoff window: all
		// on A, and B refuses even the right password and code.
		for i := range 6 {
			if _, err := client.New(a.url).SignIn(ctx, carol.email, "wrong password", "000000"); !client.IsStatus(err, 401) {
				t.Fatalf("failure %d on A: %v", i+1, err)
			}
		}
		_, err := client.New(b.url).SignIn(ctx, carol.email, carol.password, auth.TOTPCode(carol.totp, a.clock.Now()))
		var ae *client.Error
		if !errors.As(err, &ae) || ae.Status != 429 || !strings.Contains(err.Error(), "too many failed sign-ins") {
			t.Fatalf("B after 6 failures on A: %v, want 429", err)
		}
		if ae.RetryAfter <= 0 {
			t.Errorf("429 without Retry-After: %+v", ae)
		}
		a.clock.Add(time.Minute)
		if _, err := client.New(b.url).SignIn(ctx, carol.email, carol.password, auth.TOTPCode(carol.totp, a.clock.Now())); err != nil {
			t.Errorf("B after the backoff: %v", err)
		}
		a.clock.Add(31 * time.Second)
	})

	t.Run("SignInLinkOnce", func(t *testing.T) {
		id := alice.accountID(t)
		tok, err := a.srv.SignInLink(ctx, id, 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if status, cookie, _ := useLink(t, a.url, tok); status != 200 || cookie == nil {
			t.Fatalf("link on A: %d", status)
		}
		if status, cookie, _ := useLink(t, b.url, tok); status != 401 || cookie != nil {
			t.Errorf("the used link on B: %d, want 401", status)
		}
		// A link made by B is good on A, once.
		tok, err = b.srv.SignInLink(ctx, id, 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if status, _, _ := useLink(t, a.url, tok); status != 200 {
			t.Errorf("B's link on A: %d", status)
		}
		if status, _, _ := useLink(t, b.url, tok); status != 401 {
			t.Errorf("B's link used on A, then on B: %d, want 401", status)
		}
	})

	t.Run("PasskeyCeremonies", func(t *testing.T) {
		key := newSoftAuthenticator(t, "vigil.test", "http://vigil.test")
		cj := begin(t, on(a, alice), "/v1/passkeys/register/begin", "{}")
		if status, got := post(t, on(b, alice), "/v1/passkeys/register/finish?ceremony="+cj.Ceremony, create(t, key, cj)); status != 201 {
			t.Fatalf("registration begun on A, finished on B: %d %s", status, got)
		}
		cj = begin(t, client.New(b.url), "/v1/passkeys/login/begin", `{"type":"api"}`)
		resp := get(t, key, cj)
		if status, got := post(t, client.New(a.url), "/v1/passkeys/login/finish?ceremony="+cj.Ceremony, resp); status != 200 {
			t.Fatalf("sign-in begun on B, finished on A: %d %s", status, got)
		}
		status, got := post(t, client.New(b.url), "/v1/passkeys/login/finish?ceremony="+cj.Ceremony, resp)
		wantRefused(t, "the ceremony finished on A, again on B", status, got, 400, "already used")
	})

	st := a.household(alice, "Home")
	hh := st.HouseholdID

	t.Run("JoinAcross", func(t *testing.T) {
		inv := a.invite(alice, hh, "member", time.Hour)
		bobB := on(b, bob)
		k, err := keydir.NewDeviceKeys()
		if err != nil {
			t.Fatal(err)
		}
		dev := keydir.EncodeDevice(k)
		rid, err := bobB.RequestJoin(ctx, inv.Key, dev, "phone", vmember.JoinProof(inv.Secret, inv.ID, dev))
		if err != nil {
			t.Fatalf("joining on B an invite made on A: %v", err)
		}
		reqs, err := on(a, alice).JoinRequests(ctx, hh)
		if err != nil || len(reqs) != 1 || reqs[0].ID != rid {
			t.Fatalf("requests on A: %+v, %v", reqs, err)
		}
		dk, err := keydir.ParseDevice(reqs[0].Device, keydir.RoleMember, reqs[0].Name)
		if err != nil {
			t.Fatal(err)
		}
		link, err := st.AddDevice(alice.keys, dk, a.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := on(b, alice).ApproveJoinRequest(ctx, hh, rid, link); err != nil {
			t.Fatalf("approving on B: %v", err)
		}
		if err := st.Apply(link); err != nil {
			t.Fatal(err)
		}
		if s, err := on(a, bob).JoinStatus(ctx, inv.Key, rid); err != nil || s != "approved" {
			t.Errorf("status on A: %q, %v", s, err)
		}
		// The invite is used on every replica.
		if _, err := on(a, bob).RequestJoin(ctx, inv.Key, dev, "phone", vmember.JoinProof(inv.Secret, inv.ID, dev)); !client.IsStatus(err, 410) {
			t.Errorf("a used invite on A: %v, want 410", err)
		}
	})

	t.Run("SignedActionOnce", func(t *testing.T) {
		sa := a.action(alice.keys, hh, history.InviteParams{Invite: newInviteID(), Role: "member",
			Expires: a.clock.Now().Add(time.Hour).Truncate(time.Millisecond)})
		if _, err := on(a, alice).CreateInvite(ctx, hh, sa); err != nil {
			t.Fatal(err)
		}
		if _, err := on(b, alice).CreateInvite(ctx, hh, sa); !client.IsStatus(err, 409) || !strings.Contains(err.Error(), "replayed") {
			t.Errorf("the action replayed on B: %v, want 409", err)
		}
	})

	t.Run("ChainAcross", func(t *testing.T) {
		// A second admin device, added through B; A checks signed actions
		// against the chain at once.
		phone, err := keydir.NewDeviceKeys()
		if err != nil {
			t.Fatal(err)
		}
		pdk, err := keydir.ParseDevice(keydir.EncodeDevice(phone), keydir.RoleAdmin, "phone")
		if err != nil {
			t.Fatal(err)
		}
		link, err := st.AddDevice(alice.keys, pdk, a.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := on(b, alice).AppendLink(ctx, hh, link); err != nil {
			t.Fatalf("append on B: %v", err)
		}
		if err := st.Apply(link); err != nil {
			t.Fatal(err)
		}
		if _, err := on(a, alice).CreateInvite(ctx, hh, a.action(phone, hh, history.InviteParams{Invite: newInviteID(), Role: "member",
			Expires: a.clock.Now().Add(time.Hour).Truncate(time.Millisecond)})); err != nil {
			t.Errorf("A refused an action of the admin device B added: %v", err)
		}
		// A hub added through B is served by A (within chainRecheck).
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		pub := key.Public().(ed25519.PublicKey)
		link, err = st.AddHub(alice.keys, keydir.DeviceKey{ID: keydir.DeviceID(pub), Role: keydir.RoleHub, Name: "hub", SignPub: pub}, a.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := on(b, alice).AppendLink(ctx, hh, link); err != nil {
			t.Fatalf("append on B: %v", err)
		}
		a.clock.Add(time.Second)
		hub := &client.Client{BaseURL: a.url, HTTP: http.DefaultClient, DeviceID: keydir.DeviceID(pub), DeviceKey: key}
		links, _, err := hub.ChainIndexed(ctx, "", 0)
		if err != nil || len(links) != int(st.Seq)+2 {
			t.Fatalf("the hub B added, on A: %d links, %v; want %d", len(links), err, st.Seq+2)
		}
		// And the next link appended on A builds on B's.
		if err := st.Apply(link); err != nil {
			t.Fatal(err)
		}
		_, key2, _ := ed25519.GenerateKey(rand.Reader)
		pub2 := key2.Public().(ed25519.PublicKey)
		link, err = st.AddHub(alice.keys, keydir.DeviceKey{ID: keydir.DeviceID(pub2), Role: keydir.RoleHub, Name: "hub 2", SignPub: pub2}, a.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := on(a, alice).AppendLink(ctx, hh, link); err != nil {
			t.Fatalf("append on A after B's: %v", err)
		}
		if err := st.Apply(link); err != nil {
			t.Fatal(err)
		}
		// The first hub, known to A (its key cached there), removed
		// through B: A refuses it once chainRecheck has passed.
		start := a.clock.Now().Add(-time.Minute)
		if _, _, err := hub.Upload(ctx, seal(t, key, st, "front", 0, start, 1000)); err != nil {
			t.Fatalf("the hub's upload on A before its removal: %v", err)
		}
		link, err = st.RemoveDevice(alice.keys, keydir.DeviceID(pub), a.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := on(b, alice).AppendLink(ctx, hh, link); err != nil {
			t.Fatalf("remove the hub on B: %v", err)
		}
		a.clock.Add(time.Second)
		if _, _, err := hub.Upload(ctx, seal(t, key, st, "front", 1, start, 1000)); !client.IsStatus(err, 401) && !client.IsStatus(err, 403) {
			t.Errorf("an upload of the hub B removed, on A: %v; want it refused", err)
		}
		if err := st.Apply(link); err != nil {
			t.Fatal(err)
		}
		// The admin device B added, removed through B: a new epoch. A
		// record A makes next is sealed to it, not to the epoch A held
		// (which the removed device can open).
		before := st.Epoch
		link, err = st.RemoveDevice(alice.keys, phone.ID(), a.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := on(b, alice).AppendLink(ctx, hh, link); err != nil {
			t.Fatalf("remove the phone on B: %v", err)
		}
		if err := st.Apply(link); err != nil {
			t.Fatal(err)
		}
		if st.Epoch == before {
			t.Fatalf("removing an admin device kept epoch %d", st.Epoch)
		}
		// A read on A that needs no chain state of its own (a change would
		// bring A's state up to the store first).
		a.clock.Add(time.Second)
		if _, err := on(a, alice).Cameras(ctx, hh); err != nil {
			t.Fatal(err)
		}
		items, err := a.st.(interface{ History() history.Store }).History().Items(ctx, history.Query{Household: hh, Kind: history.TypeRecord})
		if err != nil || len(items) == 0 {
			t.Fatalf("history records: %d, %v", len(items), err)
		}
		e, err := history.ParseEntry(items[len(items)-1].Entry)
		if err != nil || e.Record == nil {
			t.Fatalf("A's newest record: %v", err)
		}
		if int(e.Record.Epoch) != int(st.Epoch) {
			t.Errorf("A's newest record after the removal through B is sealed to epoch %d, want %d", e.Record.Epoch, st.Epoch)
		}
	})
}
