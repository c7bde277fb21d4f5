package history

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/tlog"
)

// worldSource serves the world's chain, records and hub state records as a
// cloud would; tests alter what it serves.
type worldSource struct {
	w      *testWorld
	links  func([][]byte) [][]byte
	recs   func([]RecordRef) []RecordRef
	states []SealedState
}

func (s *worldSource) Chain(ctx context.Context) ([][]byte, []int64, error) {
	links := slices.Clone(s.w.links)
	if s.links != nil {
		links = s.links(links)
	}
	heads, _ := s.w.store.Items(ctx, Query{Household: s.w.st.HouseholdID, Kind: TypeChainHead})
	idx := make([]int64, len(links))
	for i := range idx {
		idx[i] = -1
		for _, h := range heads {
			if h.Num == int64(i) {
				idx[i] = h.Index
			}
		}
	}
	return links, idx, nil
}

func (s *worldSource) Records(ctx context.Context, from int64) ([]RecordRef, error) {
	items, _ := s.w.store.Items(ctx, Query{Household: s.w.st.HouseholdID, Kind: TypeRecord, From: from})
	var out []RecordRef
	for _, it := range items {
		out = append(out, RecordRef{N: it.Num, Index: it.Index, Entry: it.Entry})
	}
	if s.recs != nil {
		out = s.recs(out)
	}
	return out, nil
}

func (s *worldSource) States(ctx context.Context) ([]SealedState, error) { return s.states, nil }

func (w *testWorld) client(last []byte) *tlog.Client {
	w.t.Helper()
	p, err := tlog.NewPolicy(w.vkey, nil, 0)
	if err != nil {
		w.t.Fatal(err)
	}
	c, err := tlog.NewClient(p, tlog.StorageFetcher{Storage: w.storage}, last)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *testWorld) audit(src Source, state AuditState) *Report {
	w.t.Helper()
	rep, err := Audit(w.ctx, AuditConfig{Household: w.st.HouseholdID, Genesis: w.gen, Keys: w.admin,
		Log: w.client(state.Checkpoint), Source: src, State: state, Now: w.clock.Now})
	if err != nil {
		w.t.Fatal(err)
	}
	return rep
}

func findings(r *Report) string {
	var b strings.Builder
	for _, f := range r.Findings {
		if f.Severe {
			b.WriteString("SEVERE ")
		}
		b.WriteString(f.What + "\n")
	}
	return b.String()
}

func wantSevere(t *testing.T, r *Report, substr string) {
	t.Helper()
	for _, f := range r.Findings {
		if f.Severe && strings.Contains(f.What, substr) {
			return
		}
	}
	t.Fatalf("no severe finding with %q; findings:\n%s", substr, findings(r))
}

// populated is a world with a hub, chain heads in the log and ten records.
func populated(t *testing.T) (*testWorld, *keydir.DeviceKeys, ed25519.PrivateKey) {
	w := newWorld(t)
	w.pub.ChainHead(w.ctx, w.st.HouseholdID, w.gen, 0, w.st.Head)
	hubPub, hubKey, _ := ed25519.GenerateKey(nil)
	link, err := w.st.AddHub(w.admin, keydir.DeviceKey{ID: keydir.DeviceID(hubPub), Role: keydir.RoleHub, Name: "hub", SignPub: hubPub}, w.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	w.st = mustVerify(t, w.links, w.gen) // AddHub does not apply the link
	w.appendLink(link)
	for i := range 10 {
		w.read("a1", "object-"+string(rune('a'+i)))
	}
	w.sync()
	return w, w.admin, hubKey
}

func mustVerify(t *testing.T, links [][]byte, g []byte) *keydir.State {
	st, err := keydir.Verify(links, g)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestAuditHappyAndIncremental(t *testing.T) {
	w, _, _ := populated(t)
	src := &worldSource{w: w}
	rep := w.audit(src, AuditState{})
	if !rep.OK() || len(rep.Records) != 10 || rep.Pending != 0 {
		t.Fatalf("first audit: %d records, %d pending, findings:\n%s", len(rep.Records), rep.Pending, findings(rep))
	}
	if rep.State.RecordN != 10 || rep.State.ChainSeq != 1 || len(rep.State.Checkpoint) == 0 {
		t.Fatalf("state after the audit: %+v", rep.State)
	}
	// A record the log does not have yet (the publisher is stopped).
	w.pub.Close()
	tk, _ := NewTagKey(w.gen)
	w.store.AppendRecord(w.ctx, w.st.HouseholdID, func(n int64, prev string) ([]byte, error) {
		return SealRecord(tk, uint32(w.st.Epoch), w.st.EpochRecipient(), Record{V: 1, N: n, Prev: prev, Time: w.clock.Now(),
			Actor: Actor{Kind: ActorAccount, ID: "a2"}, Action: "object.read", Object: "more", Count: 1})
	})
	rep2 := w.audit(src, rep.State)
	if !rep2.OK() || rep2.Pending != 1 || rep2.State.RecordN != 10 {
		t.Fatalf("a record not yet in the log: %d pending, state %d, findings:\n%s", rep2.Pending, rep2.State.RecordN, findings(rep2))
	}
	// Kept out of the log for too long, it is the cloud hiding it.
	late, err := Audit(w.ctx, AuditConfig{Household: w.st.HouseholdID, Genesis: w.gen, Keys: w.admin, Log: w.client(rep.State.Checkpoint),
		Source: src, State: rep.State, Now: func() time.Time { return w.clock.Now().Add(MaxLogDelay + time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	wantSevere(t, late, "has not reached the log")
	w.startPublisher()
	w.sync()
	rep3 := w.audit(src, rep2.State)
	if !rep3.OK() || len(rep3.Records) != 1 || rep3.State.RecordN != 11 || rep3.Records[0].Actor.ID != "a2" {
		t.Fatalf("incremental audit: %+v, findings:\n%s", rep3.Records, findings(rep3))
	}
}

func TestAuditDetectsAlteredHistory(t *testing.T) {
	w, _, _ := populated(t)
	first := w.audit(&worldSource{w: w}, AuditState{})
	for name, c := range map[string]struct {
		src   *worldSource
		state AuditState
		want  string
	}{
		"a dropped record": {&worldSource{w: w, recs: func(r []RecordRef) []RecordRef { return slices.Delete(r, 3, 4) }}, AuditState{}, "records 4 to 4 are missing"},
		"two records swapped": {&worldSource{w: w, recs: func(r []RecordRef) []RecordRef {
			r[3].N, r[4].N = r[4].N, r[3].N
			r[3], r[4] = r[4], r[3]
			return r
		}}, AuditState{}, "out of order"},
		"a record listed under another number": {&worldSource{w: w, recs: func(r []RecordRef) []RecordRef {
			r[5].Entry, r[5].Index = r[6].Entry, r[6].Index
			return r
		}}, AuditState{}, "reordered"},
		"a record at the wrong index": {&worldSource{w: w, recs: func(r []RecordRef) []RecordRef {
			r[2].Index++
			return r
		}}, AuditState{}, "is not in the log at index"},
		"the tail taken back": {&worldSource{w: w, recs: func(r []RecordRef) []RecordRef { return r[:0] }}, first.State, "no longer lists record 10"},
		"a verified record rewritten": {&worldSource{w: w, recs: func(r []RecordRef) []RecordRef {
			if len(r) > 0 {
				r[0].Entry = append(bytes.Clone(r[0].Entry[:len(r[0].Entry)-1]), r[0].Entry[len(r[0].Entry)-1]^1)
			}
			return r
		}}, first.State, "differs from the one this device verified"},
		"a chain rolled back": {&worldSource{w: w, links: func(l [][]byte) [][]byte { return l[:1] }}, first.State, "without link 1"},
	} {
		t.Run(name, func(t *testing.T) {
			wantSevere(t, w.audit(c.src, c.state), c.want)
		})
	}
}

func TestAuditDetectsARewrittenLog(t *testing.T) {
	w, _, _ := populated(t)
	first := w.audit(&worldSource{w: w}, AuditState{})
	// An insider rebuilds the log without record 4, under the same key.
	entries, err := readEntries(w.ctx, w.storage, w.log.Size(), 0, w.log.Size())
	if err != nil {
		t.Fatal(err)
	}
	items, _ := w.store.Items(w.ctx, Query{Household: w.st.HouseholdID, Kind: TypeRecord})
	drop := items[3].Index
	forged := tlog.NewMemoryStorage()
	signer, _ := note.NewSigner(w.skey)
	fl, err := tlog.Open(w.ctx, tlog.Config{Origin: "test.example/tlog", Signer: signer, Storage: forged})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	kept := slices.Delete(slices.Clone(entries), int(drop), int(drop)+1)
	kept = append(kept, entries[drop]) // same size as before
	if _, err := fl.Append(w.ctx, kept); err != nil {
		t.Fatal(err)
	}
	p, _ := tlog.NewPolicy(w.vkey, nil, 0)
	c, err := tlog.NewClient(p, tlog.StorageFetcher{Storage: forged}, first.State.Checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Audit(w.ctx, AuditConfig{Household: w.st.HouseholdID, Genesis: w.gen, Keys: w.admin, Log: c,
		Source: &worldSource{w: w}, State: first.State, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	wantSevere(t, rep, "two different trees")
}

func TestAuditComparesHubState(t *testing.T) {
	w, _, hubKey := populated(t)
	hubID := keydir.DeviceID(hubKey.Public().(ed25519.PublicKey))
	seal := func(rec StateRecord, rcpt envelope.Recipient) SealedState {
		t.Helper()
		pt, err := MarshalState(rec)
		if err != nil {
			t.Fatal(err)
		}
		b, err := envelope.Seal(envelope.Header{Kind: envelope.KindState, Stream: StateStream, Start: rec.Time, Epoch: uint32(w.st.Epoch)},
			rec.Time, hubKey, pt, rcpt)
		if err != nil {
			t.Fatal(err)
		}
		return SealedState{Key: "states/1", Sealed: b}
	}
	cp := w.client(nil)
	latest, err := cp.Update(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	good := StateRecord{V: 1, Hub: hubID, Time: w.clock.Now(), Chain: StateChain{Seq: w.st.Seq, Head: hex.EncodeToString(w.st.Head)},
		Checkpoint: &StateCheckpoint{Origin: latest.Origin, Size: latest.N, Hash: base64.StdEncoding.EncodeToString(latest.Hash[:])}}
	rep := w.audit(&worldSource{w: w, states: []SealedState{seal(good, w.st.EpochRecipient())}}, AuditState{})
	if !rep.OK() {
		t.Fatalf("a hub that saw what the member sees:\n%s", findings(rep))
	}

	forkHead := good
	forkHead.Chain.Head = strings.Repeat("ab", 32)
	wantSevere(t, w.audit(&worldSource{w: w, states: []SealedState{seal(forkHead, w.st.EpochRecipient())}}, AuditState{}), "a fork")

	ahead := good
	ahead.Chain.Seq = 7
	wantSevere(t, w.audit(&worldSource{w: w, states: []SealedState{seal(ahead, w.st.EpochRecipient())}}, AuditState{}), "does not show this device")

	split := good
	split.Checkpoint = &StateCheckpoint{Origin: latest.Origin, Size: latest.N - 2, Hash: base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))}
	wantSevere(t, w.audit(&worldSource{w: w, states: []SealedState{seal(split, w.st.EpochRecipient())}}, AuditState{}), "split view")

	other, _ := envelope.GenerateX25519Identity()
	wantSevere(t, w.audit(&worldSource{w: w, states: []SealedState{seal(good, other.Recipient())}}, AuditState{}), "sealed to a key this household's chain does not have")

	refused := good
	refused.Problems = []Problem{{Time: w.clock.Now(), Text: "refused the chain from the cloud: link 2 differs from the one this hub verified"}}
	wantSevere(t, w.audit(&worldSource{w: w, states: []SealedState{seal(refused, w.st.EpochRecipient())}}, AuditState{}), "link 2 differs")
	_ = time.Second
}
