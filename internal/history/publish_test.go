package history

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/tlog"
)

// testWorld is one household with an admin device, a log and a publisher.
type testWorld struct {
	t       testing.TB
	ctx     context.Context
	admin   *keydir.DeviceKeys
	links   [][]byte
	st      *keydir.State
	gen     []byte
	storage *tlog.MemoryStorage
	log     *tlog.Log
	skey    string
	vkey    string
	store   *MemoryStore
	pub     *Publisher
	clock   *fakeClock
	logged  chan []Item
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newWorld(t testing.TB) *testWorld {
	t.Helper()
	w := &testWorld{t: t, ctx: context.Background(), store: NewMemoryStore(), storage: tlog.NewMemoryStorage(),
		clock: &fakeClock{t: time.Date(2026, 12, 3, 18, 0, 0, 0, time.UTC)}, logged: make(chan []Item, 100)}
	var err error
	if w.admin, err = keydir.NewDeviceKeys(); err != nil {
		t.Fatal(err)
	}
	g, _, st, err := keydir.NewHousehold("Home", w.admin, "laptop", w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.links, w.st, w.gen = [][]byte{g}, st, keydir.GenesisHash(g)
	if w.skey, w.vkey, err = tlog.GenerateKey("test.example/tlog"); err != nil {
		t.Fatal(err)
	}
	w.openLog()
	w.startPublisher()
	return w
}

func (w *testWorld) openLog() {
	signer, err := note.NewSigner(w.skey)
	if err != nil {
		w.t.Fatal(err)
	}
	if w.log, err = tlog.Open(w.ctx, tlog.Config{Origin: "test.example/tlog", Signer: signer, Storage: w.storage}); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { w.log.Close() })
}

func (w *testWorld) startPublisher() {
	var err error
	w.pub, err = NewPublisher(w.ctx, PublisherConfig{Log: w.log, LogStorage: w.storage, Store: w.store, Now: w.clock.Now,
		Household: func(ctx context.Context, id string) (Household, error) {
			if id != w.st.HouseholdID {
				return Household{}, errors.New("no such household")
			}
			return Household{Genesis: w.gen, Epoch: uint32(w.st.Epoch), Recipient: w.st.EpochRecipient()}, nil
		},
		OnLogged: func(items []Item) { w.logged <- items },
	})
	if err != nil {
		w.t.Fatal(err)
	}
	pub := w.pub
	w.t.Cleanup(func() { pub.Close() })
}

// appendLink applies and publishes a new chain link.
func (w *testWorld) appendLink(link []byte) {
	w.t.Helper()
	if err := w.st.Apply(link); err != nil {
		w.t.Fatal(err)
	}
	w.links = append(w.links, link)
	if _, err := w.pub.ChainHead(w.ctx, w.st.HouseholdID, w.gen, w.st.Seq, w.st.Head); err != nil {
		w.t.Fatal(err)
	}
}

func (w *testWorld) read(actor, object string) {
	w.t.Helper()
	if err := w.pub.Record(w.ctx, w.st.HouseholdID, Event{Time: w.clock.Now(), Actor: Actor{Kind: ActorAccount, ID: actor},
		Action: "object.read", Object: object}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *testWorld) sync() {
	w.t.Helper()
	if err := w.pub.Sync(w.ctx); err != nil {
		w.t.Fatal(err)
	}
}

func (w *testWorld) records() []Record {
	w.t.Helper()
	items, err := w.store.Items(w.ctx, Query{Household: w.st.HouseholdID, Kind: TypeRecord})
	if err != nil {
		w.t.Fatal(err)
	}
	ids, err := w.st.EpochIdentities(w.admin)
	if err != nil {
		w.t.Fatal(err)
	}
	tk, _ := NewTagKey(w.gen)
	var out []Record
	for _, it := range items {
		r, err := OpenRecord(it.Entry, tk, ids)
		if err != nil {
			w.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestPublisherRecordsAndLogs(t *testing.T) {
	w := newWorld(t)
	if _, err := w.pub.ChainHead(w.ctx, w.st.HouseholdID, w.gen, 0, w.st.Head); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		w.read("a1", "obj"+string(rune('0'+i)))
	}
	if err := w.pub.Record(w.ctx, w.st.HouseholdID, Event{Actor: Actor{Kind: ActorAccount, ID: "a1"}, Action: "settings.set",
		Signed: []byte(`{"device":"d1","body":"e30","sig":"AA"}`), Change: true}); err != nil {
		t.Fatal(err)
	}
	w.sync()
	pend, _ := w.store.Pending(w.ctx, 0)
	if len(pend) != 0 {
		t.Fatalf("%d items still wait after Sync", len(pend))
	}
	recs := w.records()
	if len(recs) != 6 || recs[5].Action != "settings.set" || string(recs[5].Signed) != `{"device":"d1","body":"e30","sig":"AA"}` {
		t.Fatalf("records: %+v", recs)
	}
	items, _ := w.store.Items(w.ctx, Query{Household: w.st.HouseholdID, Kind: TypeRecord})
	for i, it := range items {
		e, err := readEntries(w.ctx, w.storage, w.log.Size(), it.Index, it.Index+1)
		if err != nil || string(e[0]) != string(it.Entry) {
			t.Fatalf("record %d is not at log index %d: %v", i+1, it.Index, err)
		}
		if i > 0 && recs[i].Prev != EntryHash(items[i-1].Entry) {
			t.Fatalf("record %d does not chain to %d", i+1, i)
		}
	}
	// OnLogged saw the chain head.
	var sawHead bool
	for len(w.logged) > 0 {
		for _, it := range <-w.logged {
			sawHead = sawHead || it.Kind == TypeChainHead
		}
	}
	if !sawHead {
		t.Fatal("OnLogged was not told about the chain head")
	}
}

func TestPublisherCoalescesRepeatedReads(t *testing.T) {
	w := newWorld(t)
	for range 1744 {
		w.read("a1", "")
		w.clock.Add(300 * time.Millisecond)
	}
	// 1744 polls in about 9 minutes: the first is recorded, the rest counted.
	if n := len(w.records()); n != 1 {
		t.Fatalf("%d records during the window, want 1", n)
	}
	w.read("a2", "") // another actor: its own record
	w.clock.Add(2 * time.Minute)
	w.pub.flushWindows(false)
	recs := w.records()
	if len(recs) != 3 {
		t.Fatalf("%d records after the window, want 3: %+v", len(recs), recs)
	}
	rep := recs[2]
	if rep.Actor.ID != "a1" || rep.Count != 1743 || rep.Last == nil || !rep.Last.After(rep.Time) {
		t.Fatalf("the repeats: %+v", rep)
	}
	// The same account from two devices: each device's reads are its own.
	for _, dev := range []string{"", testDevice, "dzzzzzzzzzzzzzzzzzzzzzzzzzz", testDevice} {
		if err := w.pub.Record(w.ctx, w.st.HouseholdID, Event{Time: w.clock.Now(), Actor: Actor{Kind: ActorAccount, ID: "a3", Device: dev}, Action: "objects.list"}); err != nil {
			t.Fatal(err)
		}
	}
	recs = w.records()
	if len(recs) != 6 || recs[4].Actor.Device != testDevice || recs[5].Actor.Device != "dzzzzzzzzzzzzzzzzzzzzzzzzzz" {
		t.Fatalf("reads by one account from no device and two devices: %+v", recs[3:])
	}
	w.pub.flushWindows(true)
	recs = w.records()
	if len(recs) != 7 || recs[6].Actor.Device != testDevice || recs[6].Count != 1 {
		t.Fatalf("the second read from the first device: %+v", recs[6:])
	}
	// A change is never coalesced.
	for range 3 {
		w.pub.Record(w.ctx, w.st.HouseholdID, Event{Time: w.clock.Now(), Actor: Actor{Kind: ActorAccount, ID: "a1"}, Action: "invite.create", Change: true})
	}
	if n := len(w.records()); n != 10 {
		t.Fatalf("%d records after 3 changes, want 10", n)
	}
	// Close records what is still being counted.
	w.read("a2", "")
	w.read("a2", "")
	w.pub.Close()
	// (The flush above ended a2's window too: its first read here is a
	// record, the second is counted and recorded at Close.)
	if n := len(w.records()); n != 12 {
		t.Fatalf("%d records after Close, want 12", n)
	}
}

// TestPublisherFailedReadIsNotCoalesced: a read whose record failed did
// not happen, and it opens no coalescing window: the same read again must
// be recorded on its own (and fail while the store does), never counted
// in memory behind a record that does not exist.
func TestPublisherFailedReadIsNotCoalesced(t *testing.T) {
	w := newWorld(t)
	w.store.Fail = func(op string) error { return errors.New("the disk is full") }
	read := func() error {
		return w.pub.Record(w.ctx, w.st.HouseholdID, Event{Time: w.clock.Now(), Actor: Actor{Kind: ActorAccount, ID: "a1"}, Action: "object.read", Object: "x"})
	}
	for i := range 3 {
		if err := read(); err == nil {
			t.Fatalf("read %d succeeded while its record could not be stored", i+1)
		}
		w.clock.Add(time.Second)
	}
	w.store.Fail = nil
	if err := read(); err != nil {
		t.Fatal(err)
	}
	if recs := w.records(); len(recs) != 1 || recs[0].Count != 1 {
		t.Fatalf("records: %+v, want the one read that was recorded", recs)
	}
}

// TestPublisherEndedWindowIsRecorded: a read after its window ended, before
// the publisher's ticker recorded the window, records the window's repeats
// first; it does not replace the window and lose them.
func TestPublisherEndedWindowIsRecorded(t *testing.T) {
	w := newWorld(t)
	w.read("a1", "x")
	w.clock.Add(time.Second)
	w.read("a1", "x")
	w.read("a1", "x")
	w.clock.Add(DefaultCoalesce)
	w.read("a1", "x")
	// (The ticker may record the window just before the last read does;
	// either way all four reads are there.)
	recs := w.records()
	var counts []int64
	for _, r := range recs {
		counts = append(counts, r.Count)
	}
	slices.Sort(counts)
	if !slices.Equal(counts, []int64{1, 1, 2}) || recs[0].Count != 1 {
		t.Fatalf("records: %+v; want the first read, its 2 repeats, and the read after the window", recs)
	}
}

func TestPublisherReconcilesAfterACrash(t *testing.T) {
	w := newWorld(t)
	w.read("a1", "x")
	w.sync()
	// The log integrates the next batch but the store cannot record where
	// (the process dies there).
	w.store.Fail = func(op string) error {
		if op == "SetIndexes" {
			return errors.New("crash")
		}
		return nil
	}
	w.read("a1", "y")
	w.read("a1", "z")
	if err := w.pub.Sync(w.ctx); err == nil {
		t.Fatal("Sync succeeded though the store failed")
	}
	w.pub.Close()
	w.store.Fail = nil
	w.log.Close()
	w.openLog()
	w.startPublisher()
	w.sync()
	// Every record is in the log exactly once, at the index the outbox
	// names: none appended twice, none lost.
	items, _ := w.store.Items(w.ctx, Query{Household: w.st.HouseholdID, Kind: TypeRecord})
	size := w.log.Size()
	if int64(len(items)) != size || len(items) != 3 {
		t.Fatalf("%d records, log of %d entries; want 3 and 3", len(items), size)
	}
	entries, err := readEntries(w.ctx, w.storage, size, 0, size)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Index < 0 || it.Index >= size || string(entries[it.Index]) != string(it.Entry) {
			t.Fatalf("record %d is not at its index %d", it.Num, it.Index)
		}
	}
	// An outbox that disagrees with the log is refused.
	w.pub.Close()
	w.store.items[len(w.store.items)-1].Index = -1
	w.store.items[len(w.store.items)-1].Entry = []byte{1, 1, 2}
	_, err = NewPublisher(w.ctx, PublisherConfig{Log: w.log, LogStorage: w.storage, Store: w.store,
		Household: func(context.Context, string) (Household, error) { return Household{}, nil }})
	if err == nil {
		t.Fatal("a publisher started over an outbox that disagrees with the log")
	}
}

var _ = envelope.KindState
