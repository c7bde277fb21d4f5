package objects_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/blob"
	"vigil/internal/cloud/objects"
	"vigil/internal/cloud/store"
	"vigil/internal/cloud/store/storetest"
	"vigil/internal/envelope"
	"vigil/internal/eventrec"
	"vigil/internal/pgtest"
)

// The objects domain over both real stores and a blob directory: every
// case opens a fresh store and two Services over it and one blob
// directory, two replicas sharing them.

func TestSQLite(t *testing.T) {
	run(t, func(t *testing.T) index {
		return storetest.OpenSQLite(t, nil)
	})
}

func TestPostgres(t *testing.T) {
	db := pgtest.NewDB(t)
	run(t, func(t *testing.T) index {
		return storetest.OpenPostgres(t, db, nil)
	})
}

// index is the store the tests open: the objects domain's Store, and what
// makes households for it.
type index interface {
	objects.Store
	CreateAccount(ctx context.Context, a store.Account) error
	CreateHousehold(ctx context.Context, h store.Household, admin store.Member, genesis store.Link) error
}

var start = time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)

// fixture is one store and one blob directory, with hubs the HubFunc
// knows and what the callbacks were called with.
type fixture struct {
	t     *testing.T
	st    index
	blobs *blob.Dir

	mu     sync.Mutex
	hubs   map[string]objects.Hub
	nudges []string // household + " " + key
	events []string // key + " " + the first bytes of the sealed bytes' SHA-256, in hex
}

func open(t *testing.T, st index) *fixture {
	blobs, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	return &fixture{t: t, st: st, blobs: blobs, hubs: map[string]objects.Hub{}}
}

// service returns a Service over the fixture's store and blobs.
func (f *fixture) service(blobs blob.Store) *objects.Service {
	s, err := objects.New(objects.Config{Store: f.st, Blobs: blobs, Now: func() time.Time { return start.Add(time.Hour) },
		Hub: func(_ context.Context, device string) (objects.Hub, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if device == "broken" {
				return objects.Hub{}, errors.New("chain unreadable")
			}
			h, ok := f.hubs[device]
			if !ok {
				return objects.Hub{}, fmt.Errorf("device %s: %w", device, store.ErrNotFound)
			}
			return h, nil
		},
		Nudge: func(household, key string) {
			f.mu.Lock()
			f.nudges = append(f.nudges, household+" "+key)
			f.mu.Unlock()
		},
		Event: func(o store.Object, sealed []byte) {
			sum := sha256.Sum256(sealed)
			f.mu.Lock()
			f.events = append(f.events, fmt.Sprintf("%s %x", o.Key, sum[:4]))
			f.mu.Unlock()
		},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// household creates a household and a hub of it, and returns the hub's
// signing key.
func (f *fixture) household(id, hub string) ed25519.PrivateKey {
	f.t.Helper()
	ctx := context.Background()
	acct := store.Account{ID: "acct-" + id, Email: id + "@example.com", Created: start}
	if err := f.st.CreateAccount(ctx, acct); err != nil {
		f.t.Fatal(err)
	}
	h := store.Household{ID: id, Name: id, GenesisHash: []byte("g"), Created: start}
	if err := f.st.CreateHousehold(ctx, h, store.Member{HouseholdID: id, AccountID: acct.ID, Role: store.RoleAdmin, Created: start},
		store.Link{HouseholdID: id, Seq: 0, Hash: []byte("g"), Data: []byte("genesis"), Created: start}); err != nil {
		f.t.Fatal(err)
	}
	key, err := envelope.GenerateSigningKey()
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	f.hubs[hub] = objects.Hub{Household: id, SignPub: key.Public().(ed25519.PublicKey)}
	f.mu.Unlock()
	return key
}

// seal makes a sealed object as a hub would, for a recipient nobody here
// holds the key of.
func seal(t *testing.T, signer ed25519.PrivateKey, kind envelope.Kind, stream string, seq uint64, at time.Time) []byte {
	t.Helper()
	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, 1000+int(seq))
	rand.Read(plain)
	b, err := envelope.Seal(envelope.Header{Kind: kind, Stream: stream, Sequence: seq, Start: at}, at.Add(4*time.Second), signer, plain, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func upload(s *objects.Service, device string, sealed []byte) (store.Object, bool, error) {
	return s.Upload(context.Background(), device, sealed, envelope.Digest(sealed))
}

// refusal checks that err is an *objects.Error of kind k whose message
// holds want.
func refusal(t *testing.T, err error, k objects.Kind, want string) {
	t.Helper()
	var oe *objects.Error
	if !errors.As(err, &oe) || oe.Kind != k || !strings.Contains(oe.Msg, want) {
		t.Fatalf("err = %v; want a refusal of kind %d saying %q", err, k, want)
	}
}

func read(t *testing.T, s *objects.Service, household, key string) []byte {
	t.Helper()
	o, obj, err := s.Open(context.Background(), household, key)
	if err != nil {
		t.Fatalf("Open %s: %v", key, err)
	}
	defer obj.Close()
	if o.Key != key || o.HouseholdID != household {
		t.Fatalf("Open %s: indexed as %+v", key, o)
	}
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func run(t *testing.T, open_ func(t *testing.T) index) {
	t.Run("UploadListOpen", func(t *testing.T) {
		f := open(t, open_(t))
		a, b := f.service(f.blobs), f.service(f.blobs)
		key := f.household("h1", "hub1")
		sealed := seal(t, key, envelope.KindSegment, "front", 7, start)
		want := bytes.Clone(sealed)

		o, created, err := upload(a, "hub1", sealed)
		if err != nil || !created {
			t.Fatalf("first upload: created %v, %v", created, err)
		}
		if o.Key != "h1/hub1/front/0000000000000007" || o.Camera != "front" || o.Kind != "segment" || o.Seq != 7 ||
			!o.Start.Equal(start) || !o.End.Equal(start.Add(4*time.Second)) || o.Size != int64(len(want)) || o.SHA256 != sha256.Sum256(want) {
			t.Fatalf("indexed as %+v", o)
		}
		// The service keeps nothing of the body: the caller reuses it.
		clear(sealed)
		if got := read(t, b, "h1", o.Key); !bytes.Equal(got, want) {
			t.Fatal("the other replica read other bytes than were uploaded")
		}
		// The same bytes through the other replica: already there, no
		// second nudge.
		if _, created, err := upload(b, "hub1", want); err != nil || created {
			t.Fatalf("same bytes again: created %v, %v", created, err)
		}
		if !slices.Equal(f.nudges, []string{"h1 " + o.Key}) {
			t.Fatalf("nudges %q; want one, for the new object", f.nudges)
		}
		if len(f.events) != 0 {
			t.Fatalf("a segment went to the events hook: %q", f.events)
		}

		// A state record and an event are not cameras; a later segment is.
		for i, s := range []struct {
			kind   envelope.Kind
			stream string
		}{{envelope.KindEvent, eventrec.StreamEvents}, {envelope.KindSnapshot, eventrec.StreamSnapshots}, {envelope.KindSegment, "back"}, {envelope.KindSegment, "front"}} {
			if _, _, err := upload(a, "hub1", seal(t, key, s.kind, s.stream, uint64(10+i), start.Add(time.Duration(i+1)*time.Minute))); err != nil {
				t.Fatalf("upload %v on %s: %v", s.kind, s.stream, err)
			}
		}
		cams, err := b.Cameras(context.Background(), "h1")
		if err != nil || !slices.Equal(cams, []string{"back", "front"}) {
			t.Fatalf("Cameras = %q, %v", cams, err)
		}
		all, err := b.List(context.Background(), "h1", objects.Query{})
		if err != nil || len(all) != 3 {
			t.Fatalf("List of every camera: %d objects, %v; want the 3 segments", len(all), err)
		}
		for _, o := range all {
			if o.Kind != "segment" {
				t.Fatalf("List of every camera holds a %s", o.Kind)
			}
		}
		front, err := a.List(context.Background(), "h1", objects.Query{Camera: "front", From: start.Add(30 * time.Second)})
		if err != nil || len(front) != 1 || front[0].Seq != 13 {
			t.Fatalf("List front from +30s = %+v, %v; want #13 alone", front, err)
		}
		events, err := a.List(context.Background(), "h1", objects.Query{Camera: eventrec.StreamEvents})
		if err != nil || len(events) != 1 || events[0].Kind != "event" {
			t.Fatalf("List of the events stream = %+v, %v", events, err)
		}
		one, err := a.List(context.Background(), "h1", objects.Query{Limit: 1})
		if err != nil || len(one) != 1 {
			t.Fatalf("List limit 1 = %d objects, %v", len(one), err)
		}
		_, err = a.List(context.Background(), "h1", objects.Query{Limit: -1})
		refusal(t, err, objects.Invalid, "limit: a number >= 0")
		if len(f.events) != 1 || !strings.HasPrefix(f.events[0], "h1/hub1/events/") {
			t.Fatalf("events hook calls %q; want one, for the event", f.events)
		}
		if len(f.nudges) != 5 {
			t.Fatalf("%d nudges; want one per new object (5)", len(f.nudges))
		}
	})

	t.Run("OtherHouseholds", func(t *testing.T) {
		f := open(t, open_(t))
		a, b := f.service(f.blobs), f.service(f.blobs)
		k1, k2 := f.household("h1", "hub1"), f.household("h2", "hub2")
		o, _, err := upload(a, "hub1", seal(t, k1, envelope.KindSegment, "front", 1, start))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := upload(a, "hub2", seal(t, k2, envelope.KindSegment, "yard", 1, start)); err != nil {
			t.Fatal(err)
		}
		// h2 cannot open h1's object, and that looks like no object at all.
		for _, key := range []string{o.Key, "h2/hub2/front/0000000000000001", "../x", ""} {
			_, _, err := b.Open(context.Background(), "h2", key)
			refusal(t, err, objects.NotFound, "not found")
		}
		if cams, err := b.Cameras(context.Background(), "h2"); err != nil || !slices.Equal(cams, []string{"yard"}) {
			t.Fatalf("h2's cameras = %q, %v", cams, err)
		}
		if cams, err := b.Cameras(context.Background(), "nobody"); err != nil || cams == nil || len(cams) != 0 {
			t.Fatalf("cameras of no household = %#v, %v; want an empty list", cams, err)
		}
		// A hub signing as another household's hub is refused.
		_, _, err = upload(b, "hub2", seal(t, k1, envelope.KindSegment, "front", 2, start))
		refusal(t, err, objects.Refused, "sealed object refused")
	})

	t.Run("Refusals", func(t *testing.T) {
		f := open(t, open_(t))
		a := f.service(f.blobs)
		key := f.household("h1", "hub1")
		_, _, err := upload(a, "stranger", seal(t, key, envelope.KindSegment, "front", 1, start))
		refusal(t, err, objects.Forbidden, "device stranger is not a hub of any household")
		if _, _, err := upload(a, "broken", seal(t, key, envelope.KindSegment, "front", 1, start)); err == nil || errors.As(err, new(*objects.Error)) {
			t.Fatalf("a failing HubFunc gave %v; want its error, not a refusal", err)
		}
		garbage := []byte("not a sealed object at all, but long enough to have a footer's worth of bytes in it...........")
		_, _, err = upload(a, "hub1", garbage)
		refusal(t, err, objects.Refused, "sealed object refused")
		other, _ := envelope.GenerateSigningKey()
		_, _, err = upload(a, "hub1", seal(t, other, envelope.KindSegment, "front", 1, start))
		refusal(t, err, objects.Refused, "sealed object refused")
		for _, c := range []struct {
			kind   envelope.Kind
			stream string
			want   string
		}{
			{envelope.KindSegment, eventrec.StreamEvents, `stream "events" is reserved for event objects`},
			{envelope.KindEvent, "front", `an event object's stream must be "events"`},
			{envelope.KindSnapshot, "front", `a snapshot object's stream must be "snapshots"`},
			{envelope.KindState, "front", "a hub state record's stream must be"},
			{envelope.KindSegment, "front door", `stream name "front door": 1 to 64 of A-Z a-z 0-9 . _ -`},
		} {
			_, _, err := upload(a, "hub1", seal(t, key, c.kind, c.stream, 1, start))
			refusal(t, err, objects.Refused, c.want)
		}
		if n, err := a.List(context.Background(), "h1", objects.Query{Camera: "front"}); err != nil || len(n) != 0 || len(f.nudges) != 0 {
			t.Fatalf("after refusals: %d objects, %d nudges, %v; want none", len(n), len(f.nudges), err)
		}
	})

	t.Run("Conflicts", func(t *testing.T) {
		f := open(t, open_(t))
		a, b := f.service(f.blobs), f.service(f.blobs)
		key := f.household("h1", "hub1")
		first := seal(t, key, envelope.KindSegment, "front", 1, start)
		if _, _, err := upload(a, "hub1", first); err != nil {
			t.Fatal(err)
		}
		// Other bytes under the same hub, camera and sequence, through
		// the other replica: the blob store refuses them.
		_, _, err := upload(b, "hub1", seal(t, key, envelope.KindSegment, "front", 1, start))
		refusal(t, err, objects.Conflict, "a different object is stored as hub1 front #1")
		// A replica whose blob store does not hold the first: the index
		// refuses them.
		other, err := blob.OpenDir(filepath.Join(t.TempDir(), "other"), blob.DirOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		_, _, err = upload(f.service(other), "hub1", seal(t, key, envelope.KindSegment, "front", 1, start))
		refusal(t, err, objects.Conflict, "a different object is indexed as hub1 front #1")
		if got := read(t, b, "h1", "h1/hub1/front/0000000000000001"); !bytes.Equal(got, first) {
			t.Fatal("the first object's bytes changed")
		}
	})

	t.Run("ConcurrentSameObject", func(t *testing.T) {
		f := open(t, open_(t))
		a, b := f.service(f.blobs), f.service(f.blobs)
		key := f.household("h1", "hub1")
		sealed := seal(t, key, envelope.KindEvent, eventrec.StreamEvents, 3, start)
		var wg sync.WaitGroup
		var created [8]bool
		var errs [8]error
		for i := range 8 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() { _, created[i], errs[i] = upload(s, "hub1", bytes.Clone(sealed)) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("upload %d: %v", i, err)
			}
		}
		if !slices.Contains(created[:], true) {
			t.Fatal("no upload created the object")
		}
		if len(f.nudges) != 1 || len(f.events) != 1 {
			t.Fatalf("%d nudges and %d events hook calls; want exactly one of each", len(f.nudges), len(f.events))
		}
	})
}
