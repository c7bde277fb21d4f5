package households_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/cloud/households"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
	"vigil/internal/keydir"
	"vigil/internal/pgtest"
	"vigil/internal/vigiltest"
)

// The households domain's contract with its Store, run over both real
// stores: every case opens a fresh store and two Services over it, two
// replicas sharing one database.

func TestSQLite(t *testing.T) {
	run(t, func(t *testing.T, now func() time.Time) store.Store {
		return storetest.OpenSQLite(t, now)
	})
}

func TestPostgres(t *testing.T) {
	db := pgtest.NewDB(t)
	run(t, func(t *testing.T, now func() time.Time) store.Store {
		return storetest.OpenPostgres(t, db, now)
	})
}

// head is what OnHead was told.
type head struct {
	household string
	seq       int64
}

// env is one case: a store, two replicas over it, their clock, and the
// heads each was told of.
type env struct {
	t     *testing.T
	st    store.Store
	a, b  *households.Service
	clock *vigiltest.Clock // the test's time, shared by the store and the services
	mu    sync.Mutex
	heads map[*households.Service][]head
	joins map[*households.Service][]string // households OnJoinRequest was told of
	sets  map[*households.Service][]string // households OnSettings was told of
}

func newEnv(t *testing.T, open func(*testing.T, func() time.Time) store.Store) *env {
	e := &env{t: t, clock: vigiltest.NewClock(time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)), heads: map[*households.Service][]head{},
		joins: map[*households.Service][]string{}, sets: map[*households.Service][]string{}}
	e.st = open(t, e.clock.Now)
	svc := func() *households.Service {
		var s *households.Service
		s, err := households.New(households.Config{Store: e.st, Now: e.clock.Now,
			OnHead: func(_ context.Context, h store.Household, st *keydir.State) {
				e.mu.Lock()
				e.heads[s] = append(e.heads[s], head{h.ID, st.Seq})
				e.mu.Unlock()
			},
			OnJoinRequest: func(hh string) {
				e.mu.Lock()
				e.joins[s] = append(e.joins[s], hh)
				e.mu.Unlock()
			},
			OnSettings: func(hh string) {
				e.mu.Lock()
				e.sets[s] = append(e.sets[s], hh)
				e.mu.Unlock()
			}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	e.a, e.b = svc(), svc()
	return e
}

func (e *env) headsOf(s *households.Service) []head {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]head(nil), e.heads[s]...)
}

// household is a household made through e.a by a fresh admin device, for
// a fresh account.
type household struct {
	h     store.Household
	admin *keydir.DeviceKeys
	st    *keydir.State // the chain as its admin holds it
}

func (e *env) household(name string) household {
	t := e.t
	acct := store.Account{ID: "a-" + name, Email: name + "@example.test", Created: e.clock.Now()}
	if err := e.st.CreateAccount(t.Context(), acct); err != nil {
		t.Fatal(err)
	}
	admin, err := keydir.NewDeviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	genesis, _, st, err := keydir.NewHousehold(name, admin, "laptop", e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	h, got, err := e.a.Create(t.Context(), acct.ID, genesis)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if h.ID != st.HouseholdID || h.Name != name || !bytes.Equal(h.GenesisHash, keydir.GenesisHash(genesis)) || got.Seq != 0 {
		t.Fatalf("Create = %+v, seq %d; want household %s %q at seq 0", h, got.Seq, st.HouseholdID, name)
	}
	m, err := e.st.Member(t.Context(), h.ID, acct.ID)
	if err != nil || m.Role != store.RoleAdmin {
		t.Fatalf("the creating account's membership = %+v, %v; want an admin", m, err)
	}
	return household{h: h, admin: admin, st: st}
}

// addHub makes (without appending) a link adding a fresh hub to hh's chain
// as its admin holds it, and the hub's ID.
func (e *env) addHub(hh *household) ([]byte, *keydir.State, string) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	id := keydir.DeviceID(pub)
	link, err := hh.st.AddHub(hh.admin, keydir.DeviceKey{ID: id, Role: keydir.RoleHub, Name: "hub", SignPub: pub}, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	next := hh.st.Clone()
	if err := next.Apply(link); err != nil {
		e.t.Fatal(err)
	}
	return link, next, id
}

// seq is st's seq for a message, -1 for none.
func seq(st *keydir.State) int64 {
	if st == nil {
		return -1
	}
	return st.Seq
}

func kind(err error) households.Kind {
	var de *households.Error
	if errors.As(err, &de) {
		return de.Kind
	}
	return 0
}

func wantKind(t *testing.T, what string, err error, k households.Kind, msg string) {
	t.Helper()
	if kind(err) != k || !strings.Contains(err.Error(), msg) {
		t.Errorf("%s: %v (kind %d); want kind %d with %q", what, err, kind(err), k, msg)
	}
}

func run(t *testing.T, open func(*testing.T, func() time.Time) store.Store) {
	t.Run("Create", func(t *testing.T) {
		e := newEnv(t, open)
		hh := e.household("home")
		ctx := t.Context()
		if got := e.headsOf(e.a); len(got) != 1 || got[0] != (head{hh.h.ID, 0}) {
			t.Errorf("heads told after Create = %v; want the genesis head", got)
		}
		// The chain's devices are recorded, so a hub's upload finds its household.
		d, err := e.st.Device(ctx, hh.admin.ID())
		if err != nil || d.HouseholdID != hh.h.ID || d.Kind != "client" {
			t.Errorf("the admin device's record = %+v, %v; want a client of %s", d, err, hh.h.ID)
		}
		// The same genesis again, through either replica: the ID is taken.
		links, err := e.b.Chain(ctx, hh.h, 0)
		if err != nil || len(links) != 1 {
			t.Fatalf("Chain = %d links, %v; want the genesis", len(links), err)
		}
		_, _, err = e.b.Create(ctx, "a-home", links[0].Data)
		wantKind(t, "the same genesis twice", err, households.Conflict, "a household with this ID exists")
		// A genesis link that does not verify is refused and stores nothing.
		bad := bytes.Clone(links[0].Data)
		bad[len(bad)-1] ^= 1
		_, _, err = e.a.Create(ctx, "a-home", bad)
		wantKind(t, "a tampered genesis", err, households.Refused, "genesis link refused")
		_, _, err = e.a.Create(ctx, "a-home", []byte("junk"))
		wantKind(t, "junk", err, households.Refused, "genesis link refused")
	})

	t.Run("AppendSeenByTheOtherReplica", func(t *testing.T) {
		e := newEnv(t, open)
		hh := e.household("home")
		ctx := t.Context()
		// b caches the genesis state.
		if st, err := e.b.State(ctx, hh.h); err != nil || st.Seq != 0 {
			t.Fatalf("b.State = %v, %v; want seq 0", seq(st), err)
		}
		link, next, hub := e.addHub(&hh)
		st, err := e.a.Append(ctx, hh.h, link)
		if err != nil || st.Seq != 1 || !bytes.Equal(st.Head, next.Head) {
			t.Fatalf("a.Append = %v, %v; want seq 1 with the link's head", seq(st), err)
		}
		if got := e.headsOf(e.a); len(got) != 2 || got[1] != (head{hh.h.ID, 1}) {
			t.Errorf("heads told by a = %v; want the genesis and link 1", got)
		}
		if got := e.headsOf(e.b); len(got) != 0 {
			t.Errorf("heads told by b = %v; want none: it appended nothing", got)
		}
		// a sees its own link at once, and its hub.
		if hd, err := e.a.HubDevice(ctx, hub); err != nil || hd.Household.ID != hh.h.ID || hd.Key.ID != hub || hd.State == nil || hd.State.Seq != 1 {
			t.Errorf("a.HubDevice = %+v, %v; want the hub of %s in the state of seq 1", hd, err, hh.h.ID)
		}
		// b uses its cached state within ChainRecheck, the stored chain after it.
		if st, err := e.b.State(ctx, hh.h); err != nil || st.Seq != 0 {
			t.Errorf("b.State within the recheck = %v, %v; want its cached seq 0", seq(st), err)
		}
		if _, err := e.b.HubDevice(ctx, hub); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("b.HubDevice within the recheck = %v; want store.ErrNotFound (its state has no hub yet)", err)
		}
		e.clock.Add(households.ChainRecheck)
		if st, err := e.b.State(ctx, hh.h); err != nil || st.Seq != 1 || !bytes.Equal(st.Head, next.Head) {
			t.Errorf("b.State after the recheck = %v, %v; want seq 1", seq(st), err)
		}
		if hd, err := e.b.HubDevice(ctx, hub); err != nil || hd.Household.ID != hh.h.ID {
			t.Errorf("b.HubDevice after the recheck = %v, %v; want the hub of %s", hd.Household.ID, err, hh.h.ID)
		}
		// An admin device is not a hub.
		if _, err := e.b.HubDevice(ctx, hh.admin.ID()); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("HubDevice(admin) = %v; want store.ErrNotFound", err)
		}
		hh.st = next

		// FreshState and Invalidate do not wait for the recheck.
		if st, err := e.a.State(ctx, hh.h); err != nil || st.Seq != 1 {
			t.Fatalf("a.State = %v, %v; want seq 1", seq(st), err)
		}
		link2, next2, _ := e.addHub(&hh)
		if _, err := e.b.Append(ctx, hh.h, link2); err != nil {
			t.Fatalf("b.Append: %v", err)
		}
		if st, err := e.a.State(ctx, hh.h); err != nil || st.Seq != 1 {
			t.Errorf("a.State within the recheck = %v, %v; want its cached seq 1", seq(st), err)
		}
		if st, err := e.a.FreshState(ctx, hh.h); err != nil || st.Seq != 2 || !bytes.Equal(st.Head, next2.Head) {
			t.Errorf("a.FreshState = %v, %v; want seq 2", seq(st), err)
		}
		hh.st = next2
		link3, next3, _ := e.addHub(&hh)
		if _, err := e.a.Append(ctx, hh.h, link3); err != nil {
			t.Fatalf("a.Append: %v", err)
		}
		e.b.Invalidate(hh.h.ID)
		if st, err := e.b.State(ctx, hh.h); err != nil || st.Seq != 3 {
			t.Errorf("b.State after Invalidate = %v, %v; want seq 3", seq(st), err)
		}
		links, err := e.a.Chain(ctx, hh.h, 2)
		if err != nil || len(links) != 2 || links[0].Seq != 2 || !bytes.Equal(links[1].Data, link3) {
			t.Errorf("Chain from 2 = %d links, %v; want links 2 and 3 as appended", len(links), err)
		}
		_, err = e.a.Chain(ctx, hh.h, -1)
		wantKind(t, "Chain from -1", err, households.Invalid, "from: a link number >= 0")

		// StateOf, by ID alone, is State: the cached state, brought up to
		// the stored chain after the recheck; a fresh service reads the
		// household's row; an unknown household is not found.
		hh.st = next3
		link4, _, _ := e.addHub(&hh)
		if _, err := e.a.Append(ctx, hh.h, link4); err != nil {
			t.Fatalf("a.Append: %v", err)
		}
		if st, err := e.b.StateOf(ctx, hh.h.ID); err != nil || st.Seq != 3 {
			t.Errorf("b.StateOf within the recheck = %v, %v; want its cached seq 3", seq(st), err)
		}
		e.clock.Add(households.ChainRecheck)
		if st, err := e.b.StateOf(ctx, hh.h.ID); err != nil || st.Seq != 4 {
			t.Errorf("b.StateOf after the recheck = %v, %v; want seq 4", seq(st), err)
		}
		fresh, err := households.New(households.Config{Store: e.st, Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		if st, err := fresh.StateOf(ctx, hh.h.ID); err != nil || st.Seq != 4 {
			t.Errorf("StateOf on a service with nothing cached = %v, %v; want seq 4", seq(st), err)
		}
		if _, err := fresh.StateOf(ctx, "hnosuchhousehold"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("StateOf(unknown) = %v; want store.ErrNotFound", err)
		}
	})

	t.Run("AppendRefusals", func(t *testing.T) {
		e := newEnv(t, open)
		hh := e.household("home")
		ctx := t.Context()
		link, _, _ := e.addHub(&hh)
		other, _, _ := e.addHub(&hh) // also made on the genesis
		if _, err := e.a.Append(ctx, hh.h, link); err != nil {
			t.Fatal(err)
		}
		// A link made on a state the chain has moved past, through the
		// replica that has not seen the move yet: it is checked against
		// the stored chain, not the cached state.
		if st, err := e.b.State(ctx, hh.h); err != nil || st.Seq != 1 {
			t.Fatalf("b.State = %v, %v", seq(st), err)
		}
		_, err := e.b.Append(ctx, hh.h, other)
		wantKind(t, "a link on an old head", err, households.Refused, "link refused")
		_, err = e.b.Append(ctx, hh.h, []byte("junk"))
		wantKind(t, "junk", err, households.Refused, "link refused")
		// A link made on the stored head whose signature does not verify:
		// only the household's admin devices can make a valid link.
		st, err := e.a.FreshState(ctx, hh.h)
		if err != nil {
			t.Fatal(err)
		}
		hh.st = st
		good, _, _ := e.addHub(&hh)
		forged := bytes.Clone(good)
		forged[len(forged)-1] ^= 1
		_, err = e.a.Append(ctx, hh.h, forged)
		wantKind(t, "a link with a bad signature", err, households.Refused, "link refused")
		if links, err := e.a.Chain(ctx, hh.h, 0); err != nil || len(links) != 2 {
			t.Errorf("the chain holds %d links, %v; want 2: nothing refused was stored", len(links), err)
		}
		// The same link untampered is taken.
		if st, err := e.a.Append(ctx, hh.h, good); err != nil || st.Seq != 2 {
			t.Errorf("the untampered link: %v, %v; want seq 2", seq(st), err)
		}
	})

	t.Run("RacingAppends", func(t *testing.T) {
		// Two replicas append different links made on the same head at
		// once: the store takes one; the other is refused (the chain moved
		// on), and both replicas then agree on the chain.
		e := newEnv(t, open)
		hh := e.household("home")
		ctx := t.Context()
		for _, s := range []*households.Service{e.a, e.b} {
			if _, err := s.State(ctx, hh.h); err != nil {
				t.Fatal(err)
			}
		}
		for round := range 5 {
			l1, _, _ := e.addHub(&hh)
			l2, _, _ := e.addHub(&hh)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, s := range []*households.Service{e.a, e.b} {
				wg.Go(func() { _, errs[i] = s.Append(ctx, hh.h, [][]byte{l1, l2}[i]) })
			}
			wg.Wait()
			won := 0
			for i, err := range errs {
				switch {
				case err == nil:
					won++
				case kind(err) == households.Conflict && strings.Contains(err.Error(), "the chain moved on"),
					kind(err) == households.Refused:
				default:
					t.Fatalf("round %d: append %d: %v; want success, or a refusal of a link on an old head", round, i, err)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d appends succeeded (%v); want exactly one", round, won, errs)
			}
			a, err := e.a.FreshState(ctx, hh.h)
			if err != nil {
				t.Fatal(err)
			}
			b, err := e.b.FreshState(ctx, hh.h)
			if err != nil {
				t.Fatal(err)
			}
			if a.Seq != int64(round+1) || !bytes.Equal(a.Head, b.Head) {
				t.Fatalf("round %d: the replicas hold seq %d and %d; want both at %d with one head", round, a.Seq, b.Seq, round+1)
			}
			hh.st = a
		}
	})

	t.Run("AppendAdding", func(t *testing.T) {
		e := newEnv(t, open)
		hh := e.household("home")
		ctx := t.Context()
		phone, _ := keydir.NewDeviceKeys()
		link, err := hh.st.AddDevice(hh.admin, phone.Public(keydir.RoleMember, "phone"), e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		// A valid link that adds some other device.
		hubLink, _, _ := e.addHub(&hh)
		_, err = e.b.AppendAdding(ctx, hh.h, hubLink, phone.ID())
		wantKind(t, "a link adding another device", err, households.Refused, "it does not add the requesting device "+phone.ID())
		st, err := e.b.AppendAdding(ctx, hh.h, link, phone.ID())
		if err != nil || st.Seq != 1 {
			t.Fatalf("AppendAdding = %v, %v; want seq 1", seq(st), err)
		}
		if _, ok := st.Devices[phone.ID()]; !ok {
			t.Errorf("the state after AppendAdding lacks the device")
		}
		if d, err := e.st.Device(ctx, phone.ID()); err != nil || d.Kind != "client" {
			t.Errorf("the added device's record = %+v, %v; want a client", d, err)
		}
		if got := e.headsOf(e.b); len(got) != 0 {
			t.Errorf("heads told after AppendAdding = %v; want none", got)
		}
		// The device is in the chain now, through either replica.
		_, err = e.a.AppendAdding(ctx, hh.h, link, phone.ID())
		wantKind(t, "a device in the chain already", err, households.Conflict, "is in the chain already")
	})

	t.Run("Pairing", func(t *testing.T) {
		e := newEnv(t, open)
		hh := e.household("home")
		ctx := t.Context()
		id := strings.Repeat("ab", 16)
		p, err := e.a.CreatePairing(ctx, id, []byte("hello from the hub"))
		if err != nil || !p.Expires.Equal(e.clock.Now().Add(households.DefaultPairingTTL)) {
			t.Fatalf("CreatePairing = %+v, %v; want it to expire in %v", p, err, households.DefaultPairingTTL)
		}
		_, err = e.b.CreatePairing(ctx, id, []byte("again"))
		wantKind(t, "a pairing ID in use", err, households.Conflict, "this pairing code is in use")
		for _, bad := range []string{"", "AB" + id[2:], id[1:], id + "0", strings.Repeat("g", 32)} {
			_, err = e.a.CreatePairing(ctx, bad, []byte("m"))
			wantKind(t, "CreatePairing("+bad+")", err, households.Invalid, "id: 32 lower-case hex characters")
			_, err = e.a.Pairing(ctx, bad)
			wantKind(t, "Pairing("+bad+")", err, households.NotFound, "not found")
		}
		other := strings.Repeat("cd", 16)
		for _, msg := range [][]byte{nil, make([]byte, households.MaxPairingMsg+1)} {
			_, err = e.a.CreatePairing(ctx, other, msg)
			wantKind(t, "a message's size", err, households.Invalid, "msg: 1 to 4096 bytes")
		}
		_, err = e.a.Pairing(ctx, other)
		wantKind(t, "an unknown pairing", err, households.NotFound, "not found")

		// Shapes refused before anything is stored.
		wantKind(t, "step 3", e.a.AppendPairingMsg(ctx, id, 3, []byte("m"), ""), households.Invalid, "step: 1 (member) or 2 (hub)")
		wantKind(t, "step 2 naming a household", e.a.AppendPairingMsg(ctx, id, 2, []byte("m"), hh.h.ID), households.Invalid, "household_id: only with step 1")
		wantKind(t, "an empty answer", e.a.AppendPairingMsg(ctx, id, 1, nil, hh.h.ID), households.Invalid, "msg: 1 to 4096 bytes")
		wantKind(t, "an unknown pairing's answer", e.a.AppendPairingMsg(ctx, other, 1, []byte("m"), hh.h.ID), households.NotFound, "not found")
		// Out of order, then in order through either replica.
		wantKind(t, "step 2 first", e.a.AppendPairingMsg(ctx, id, 2, []byte("m"), ""), households.Conflict, "pairing step 2 is not expected now")
		if err := e.b.AppendPairingMsg(ctx, id, 1, []byte("member"), hh.h.ID); err != nil {
			t.Fatalf("step 1: %v", err)
		}
		wantKind(t, "step 1 twice", e.a.AppendPairingMsg(ctx, id, 1, []byte("member"), hh.h.ID), households.Conflict, "pairing step 1 is not expected now")
		if err := e.a.AppendPairingMsg(ctx, id, 2, []byte("hub"), ""); err != nil {
			t.Fatalf("step 2: %v", err)
		}
		p, err = e.b.Pairing(ctx, id)
		if err != nil || p.HouseholdID != hh.h.ID || len(p.Msgs) != 3 || string(p.Msgs[0]) != "hello from the hub" ||
			string(p.Msgs[1]) != "member" || string(p.Msgs[2]) != "hub" {
			t.Errorf("Pairing = %+v, %v; want the three messages for %s", p, err, hh.h.ID)
		}
		// Expired, it is gone.
		e.clock.Add(households.DefaultPairingTTL)
		_, err = e.a.Pairing(ctx, id)
		wantKind(t, "an expired pairing", err, households.NotFound, "not found")
	})

	t.Run("SignedActions", func(t *testing.T) { signedActions(t, open) })
	t.Run("Invites", func(t *testing.T) { invites(t, open) })
	t.Run("Members", func(t *testing.T) { members(t, open) })

	t.Run("Config", func(t *testing.T) {
		if _, err := households.New(households.Config{}); err == nil {
			t.Error("New without a store: no error")
		}
		e := newEnv(t, open)
		if _, err := households.New(households.Config{Store: e.st, PairingTTL: -time.Second}); err == nil || !strings.Contains(err.Error(), "pairing TTL") {
			t.Errorf("New with a negative pairing TTL = %v; want an error naming it", err)
		}
	})
}
