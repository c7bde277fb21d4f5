package hubd

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"vigil/internal/client"
	"vigil/internal/cloud/store"
	"vigil/internal/config"
	"vigil/internal/envelope"
	"vigil/internal/history"
	"vigil/internal/keydir"
	"vigil/internal/member"
	"vigil/internal/tlog"
	"vigil/internal/vigiltest"
)

// The tests below play an insider of the cloud: someone who can write the
// cloud's database and runs its transparency log (appends entries, signs
// checkpoints, stops serving it). The hub must refuse every chain that is
// not the one it verified, extended and logged; keep recording and sealing
// to the epoch key it verified; and tell the household in its sealed state
// records.

// insiderDB opens the cloud's database as someone with access to it.
func (c *testCloud) insiderDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(c.dir, "cloud.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// logEntry appends e to the log as the log's operator and returns its
// index.
func (c *testCloud) logEntry(t *testing.T, e []byte) int64 {
	t.Helper()
	ix, err := c.log.Append(context.Background(), [][]byte{e})
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

// replaceLink puts link at seq of the household's chain in place of the one
// its admins signed, logs its head and points the chain's log index at it:
// a fork served consistently by the store and the log. restore puts the
// real link and its index back.
func (c *testCloud) replaceLink(t *testing.T, hh string, genesis []byte, seq int64, link []byte) (restore func()) {
	t.Helper()
	ctx := context.Background()
	if err := c.srv.SyncLog(ctx); err != nil {
		t.Fatal(err)
	}
	db := c.insiderDB(t)
	var data, hash, entry []byte
	var index int64
	if err := db.QueryRow(`SELECT data, hash FROM links WHERE household_id = ? AND seq = ?`, hh, seq).Scan(&data, &hash); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT entry, log_index FROM history WHERE household_id = ? AND kind = 1 AND num = ?`, hh, seq).Scan(&entry, &index); err != nil {
		t.Fatal(err)
	}
	tk, err := history.NewTagKey(genesis)
	if err != nil {
		t.Fatal(err)
	}
	fe, err := tk.ChainHeadEntry(seq, keydir.LinkHash(link))
	if err != nil {
		t.Fatal(err)
	}
	ix := c.logEntry(t, fe)
	mustExec(t, db, `UPDATE links SET data = ?, hash = ? WHERE household_id = ? AND seq = ?`, link, keydir.LinkHash(link), hh, seq)
	mustExec(t, db, `UPDATE history SET entry = ?, log_index = ? WHERE household_id = ? AND kind = 1 AND num = ?`, fe, ix, hh, seq)
	return func() {
		mustExec(t, db, `UPDATE links SET data = ?, hash = ? WHERE household_id = ? AND seq = ?`, data, hash, hh, seq)
		mustExec(t, db, `UPDATE history SET entry = ?, log_index = ? WHERE household_id = ? AND kind = 1 AND num = ?`, entry, index, hh, seq)
	}
}

// dropLinks deletes the household's links from seq on (a rollback);
// restore puts them back.
func (c *testCloud) dropLinks(t *testing.T, hh string, seq int64) (restore func()) {
	t.Helper()
	db := c.insiderDB(t)
	type row struct {
		seq        int64
		hash, data []byte
		created    int64
	}
	rows, err := db.Query(`SELECT seq, hash, data, created_ns FROM links WHERE household_id = ? AND seq >= ?`, hh, seq)
	if err != nil {
		t.Fatal(err)
	}
	var saved []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.hash, &r.data, &r.created); err != nil {
			t.Fatal(err)
		}
		saved = append(saved, r)
	}
	rows.Close()
	mustExec(t, db, `DELETE FROM links WHERE household_id = ? AND seq >= ?`, hh, seq)
	return func() {
		for _, r := range saved {
			mustExec(t, db, `INSERT INTO links (household_id, seq, hash, data, created_ns) VALUES (?, ?, ?, ?, ?)`, hh, r.seq, r.hash, r.data, r.created)
		}
	}
}

// forgeCheckpoint has the log serve a checkpoint of n entries with another
// root, signed with the log's key: a split view.
func (c *testCloud) forgeCheckpoint(t *testing.T, origin string, n int64) {
	t.Helper()
	var h [32]byte
	rand.Read(h[:])
	msg, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n%d\n%s\n", origin, n, base64.StdEncoding.EncodeToString(h[:]))}, c.logSigner)
	if err != nil {
		t.Fatal(err)
	}
	c.served.forged.Store(&msg)
}

// addAdmin adds a new admin device to m's household and returns its keys.
func addAdmin(t *testing.T, m *memberDevice, name string) *keydir.DeviceKeys {
	t.Helper()
	k, err := keydir.NewDeviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	appendLink(t, m, func(st *keydir.State) ([]byte, error) {
		return st.AddDevice(m.keys, k.Public(keydir.RoleAdmin, name), time.Now())
	})
	return k
}

// appendLink signs a link on m's verified chain and appends it.
func appendLink(t *testing.T, m *memberDevice, build func(*keydir.State) ([]byte, error)) []byte {
	t.Helper()
	link, err := build(m.st)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.c.AppendLink(context.Background(), m.st.HouseholdID, link); err != nil {
		t.Fatal(err)
	}
	if err := m.st.Apply(link); err != nil {
		t.Fatal(err)
	}
	return link
}

// syncMember makes m's chain the verified one from the cloud (after the
// member's pairing appended the hub's link).
func syncMember(t *testing.T, m *memberDevice) {
	t.Helper()
	st, err := member.VerifiedChain(context.Background(), m.c, m.st.HouseholdID, m.genesis)
	if err != nil {
		t.Fatal(err)
	}
	m.st = st
}

// sealedState is a hub state record as a member opens it.
type sealedState struct {
	hdr envelope.Header
	rec history.StateRecord
}

// hubStates returns the hub state records in the cloud that member m opens
// with its keys of the chain st, in the order the hub made them.
func hubStates(t *testing.T, m *memberDevice, st *keydir.State) []sealedState {
	t.Helper()
	ctx := context.Background()
	objs, err := m.c.Objects(ctx, st.HouseholdID, history.StateStream, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := st.EpochIdentities(m.keys)
	if err != nil {
		t.Fatal(err)
	}
	var out []sealedState
	for _, o := range objs {
		if o.Kind != "state" {
			continue
		}
		b, err := m.c.ReadObject(ctx, st.HouseholdID, o.Key, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		hdr, _, pt, err := envelope.Open(b, st.TrustedHubs(), ids...)
		if err != nil {
			t.Logf("state record %s does not open: %v", o.Key, err)
			continue
		}
		rec, err := history.ParseState(pt)
		if err != nil {
			t.Fatalf("state record %s: %v", o.Key, err)
		}
		out = append(out, sealedState{hdr: hdr, rec: rec})
	}
	slices.SortFunc(out, func(a, b sealedState) int { return cmp.Compare(a.hdr.Sequence, b.hdr.Sequence) })
	return out
}

// waitState waits for a hub state record that match accepts.
func waitState(t *testing.T, what string, m *memberDevice, st *keydir.State, match func(sealedState) bool) sealedState {
	t.Helper()
	var got sealedState
	waitFor(t, what, 30*time.Second, func() bool {
		for _, s := range hubStates(t, m, st) {
			if match(s) {
				got = s
				return true
			}
		}
		return false
	})
	return got
}

func hasProblem(s sealedState, text string) bool {
	for _, p := range s.rec.Problems {
		if strings.Contains(p.Text, text) {
			return true
		}
	}
	return false
}

// activeProblems returns the problems the hub has now.
func activeProblems(h *Hub) []history.Problem {
	h.problems.mu.Lock()
	defer h.problems.mu.Unlock()
	return slices.Collect(maps.Values(h.problems.active))
}

func hubHasProblem(h *Hub, text string) bool {
	for _, p := range activeProblems(h) {
		if strings.Contains(p.Text, text) {
			return true
		}
	}
	return false
}

// pairedHousehold starts a cloud whose log the test runs and sets up
// admin devices A and R and a hub paired with their household (links 0 to
// 2), not started; its camera "front" is a software camera, or none.
func pairedHousehold(t *testing.T, camera bool) (*testCloud, *memberDevice, *keydir.DeviceKeys, *config.Hub) {
	t.Helper()
	cl := startCloud(t)
	cameraURL := "rtsp://127.0.0.1:9/none"
	if camera {
		cameraURL = vigiltest.StartCamera(t, "127.0.0.1:0", "cam").URL("cam")
	}
	m := newMember(t, cl.url())
	r := addAdmin(t, m, "R's tablet")
	cfg := pairedConfig(t, cl, "front", cameraURL)
	if _, hubErr, memberErr := pair(t, cl.url(), cfg.Data, m); hubErr != nil || memberErr != nil {
		t.Fatalf("pairing: hub %v, member %v", hubErr, memberErr)
	}
	syncMember(t, m)
	if m.st.Seq != 2 {
		t.Fatalf("the household chain has %d links, want 3", m.st.Seq+1)
	}
	return cl, m, r, cfg
}

func fastCloud() Options {
	return Options{ChainRefresh: 200 * time.Millisecond, UploadMinBackoff: 100 * time.Millisecond, UploadMaxBackoff: time.Second}
}

// wantAt fails the test unless the hub is at link seq of epoch.
func wantAt(t *testing.T, h *Hub, seq int64, epoch int, when string) {
	t.Helper()
	if st := h.household.current(); st.Seq != seq || st.Epoch != epoch {
		t.Fatalf("%s the hub is at link %d epoch %d, want link %d epoch %d", when, st.Seq, st.Epoch, seq, epoch)
	}
}

// footageAfter waits for footage of camera "front" recorded after since to
// reach the cloud and returns the newest, sealed.
func footageAfter(t *testing.T, m *memberDevice, since time.Time) []byte {
	t.Helper()
	ctx := context.Background()
	var objs []client.Object
	waitFor(t, "footage recorded after "+since.Format(time.TimeOnly)+" in the cloud", 30*time.Second, func() bool {
		objs, _ = m.c.Objects(ctx, m.st.HouseholdID, "front", since, time.Time{})
		return len(objs) > 0
	})
	seg, err := m.c.ReadObject(ctx, m.st.HouseholdID, objs[len(objs)-1].Key, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

// audit runs A's audit of its household, with the log the cloud names.
func audit(t *testing.T, m *memberDevice) *history.Report {
	t.Helper()
	ctx := context.Background()
	alog, _, err := member.CloudLog(ctx, m.c)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := history.Audit(ctx, history.AuditConfig{Household: m.st.HouseholdID, Genesis: m.genesis, Keys: m.keys, Log: alog,
		Source: member.CloudSource{C: m.c, Household: m.st.HouseholdID}})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Findings {
		t.Logf("finding (severe %v): %s", f.Severe, f.What)
	}
	return rep
}

// severeFinding reports whether rep has a severe finding that says each
// of texts.
func severeFinding(rep *history.Report, texts ...string) bool {
	for _, f := range rep.Findings {
		if f.Severe && !slices.ContainsFunc(texts, func(s string) bool { return !strings.Contains(f.What, s) }) {
			return true
		}
	}
	return false
}

// TestForkRefused is the fork of issue 11 against the real hub and member
// code: admin device A removes admin device R and the hub verifies it; R,
// which kept its key, signs another link at that seq (removing A), and an
// insider of the cloud serves it with its head in the log. The hub refuses
// it, keeps sealing new footage to A's epoch (which R cannot open) and says
// so in its next state record; A's device refuses the fork too, and A's
// audit reports the hub's refusal.
func TestForkRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl, m, r, cfg := pairedHousehold(t, true)
	hh := m.st.HouseholdID
	mlog, _, err := member.CloudLog(ctx, m.c)
	if err != nil {
		t.Fatal(err)
	}
	h := startHub(t, cfg, fastCloud())

	// A removes R: a new epoch R does not hold.
	atTwo := m.st.Clone()
	appendLink(t, m, func(st *keydir.State) ([]byte, error) { return st.RemoveDevice(m.keys, r.ID(), time.Now()) })
	waitFor(t, "the hub to verify A's removal of R", 20*time.Second, func() bool { return h.household.current().Seq == 3 })
	epochA := h.household.current().Epoch
	if epochA != m.st.Epoch || h.household.current().EpochRecipient().String() != m.st.EpochRecipient().String() {
		t.Fatalf("hub epoch %d, A's %d", epochA, m.st.Epoch)
	}
	known := &member.Known{Seq: m.st.Seq, Head: m.st.Head}
	if _, err := member.VerifiedChainSince(ctx, m.c, hh, m.genesis, known, member.WithLog(mlog)); err != nil {
		t.Fatalf("A's device refuses the real chain: %v", err)
	}

	// R forks link 3: it removes A, with a fresh epoch key it holds.
	fork, err := atTwo.RemoveDevice(r, m.keys.ID(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	refusedAt := time.Now()
	restore := cl.replaceLink(t, hh, m.genesis, 3, fork)

	waitFor(t, "the hub to refuse the fork", 20*time.Second, func() bool {
		return hubHasProblem(h, "refused the chain from the cloud: link 3 differs from the one this hub verified")
	})
	if st := h.household.current(); st.Epoch != epochA || !slices.Equal(st.Head, m.st.Head) {
		t.Fatalf("after the fork the hub is at link %d epoch %d, want A's link 3 epoch %d", st.Seq, st.Epoch, epochA)
	}
	rec := waitState(t, "a state record carrying the refusal", m, m.st, func(s sealedState) bool {
		return hasProblem(s, "link 3 differs from the one this hub verified")
	})
	if rec.hdr.Epoch != uint32(epochA) || rec.rec.Chain.Seq != 3 || rec.rec.Chain.Head != hex.EncodeToString(m.st.Head) || rec.rec.Checkpoint == nil {
		t.Errorf("state record: epoch %d, chain %+v, checkpoint %v", rec.hdr.Epoch, rec.rec.Chain, rec.rec.Checkpoint)
	}

	// Recording goes on, sealed to A's epoch: A opens the new footage, R
	// (with every epoch key it was given) does not.
	idsA, err := m.st.EpochIdentities(m.keys)
	if err != nil {
		t.Fatal(err)
	}
	idsR, err := atTwo.EpochIdentities(r)
	if err != nil {
		t.Fatal(err)
	}
	seg := footageAfter(t, m, refusedAt.Add(time.Second))
	hdr, _, _, err := envelope.Open(seg, m.st.TrustedHubs(), idsA...)
	if err != nil || hdr.Epoch != uint32(epochA) {
		t.Fatalf("A opens the footage recorded after the fork: %v (epoch %d)", err, hdr.Epoch)
	}
	if _, _, _, err := envelope.Open(seg, m.st.TrustedHubs(), idsR...); !errors.Is(err, envelope.ErrIncorrectIdentity) {
		t.Fatalf("R opens footage recorded after its removal: %v", err)
	}

	// A's device, which verified link 3 before, refuses the fork as well.
	if _, err := member.VerifiedChainSince(ctx, m.c, hh, m.genesis, known, member.WithLog(mlog)); !errors.Is(err, member.ErrRollback) {
		t.Fatalf("A's device on the fork: %v, want ErrRollback", err)
	}

	// The insider shows the members the real chain again; A's audit reads
	// the hub's sealed state record and reports what the hub refused.
	restore()
	if !severeFinding(audit(t, m), "link 3 differs from the one this hub verified") {
		t.Error("A's audit does not report the hub's refusal of the fork")
	}
}

// TestSplitViewDetectedFromSealedState: the insider shows a hub that never
// saw the real link 3 a fork (R adds a device of its own as an admin),
// logged, while the members see A's removal of R. The hub cannot tell and
// accepts it; A's audit finds the fork from the hub's sealed state record
// alone.
func TestSplitViewDetectedFromSealedState(t *testing.T) {
	t.Parallel()
	cl, m, r, cfg := pairedHousehold(t, false)
	hh := m.st.HouseholdID
	atTwo := m.st.Clone()
	appendLink(t, m, func(st *keydir.State) ([]byte, error) { return st.RemoveDevice(m.keys, r.ID(), time.Now()) })

	ghost, _ := keydir.NewDeviceKeys()
	fork, err := atTwo.AddDevice(r, ghost.Public(keydir.RoleAdmin, "R's other tablet"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	restore := cl.replaceLink(t, hh, m.genesis, 3, fork)
	h := startHub(t, cfg, fastCloud())
	forkHead := hex.EncodeToString(keydir.LinkHash(fork))
	waitFor(t, "the hub to accept the logged fork", 20*time.Second, func() bool { return h.household.current().Seq == 3 })
	if got := hex.EncodeToString(h.household.current().Head); got != forkHead {
		t.Fatalf("the hub verified head %s, want the fork's %s", got, forkHead)
	}
	waitState(t, "the hub's state record of the fork", m, m.st, func(s sealedState) bool {
		return s.rec.Chain.Seq == 3 && s.rec.Chain.Head == forkHead
	})
	h.Close()

	restore()
	if rep := audit(t, m); !severeFinding(rep, "verified another link 3", "fork") || rep.OK() {
		t.Error("A's audit does not report the fork the hub was shown")
	}
}

// TestRollbackAndUnloggedHeadRefused: an older chain (without A's removal
// of R, so with an epoch R holds) and a new link whose head is not in the
// log are refused; the hub stays at the epoch it verified and reports both.
func TestRollbackAndUnloggedHeadRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl, m, r, cfg := pairedHousehold(t, false)
	hh := m.st.HouseholdID
	opts := fastCloud()
	opts.LogGrace = time.Second
	h := startHub(t, cfg, opts)
	appendLink(t, m, func(st *keydir.State) ([]byte, error) { return st.RemoveDevice(m.keys, r.ID(), time.Now()) })
	waitFor(t, "the hub to verify link 3", 20*time.Second, func() bool { return h.household.current().Seq == 3 })
	epoch := h.household.current().Epoch

	restore := cl.dropLinks(t, hh, 3)
	waitFor(t, "the hub to refuse the rollback", 20*time.Second, func() bool {
		return hubHasProblem(h, "refused the chain from the cloud: it ends at link 2, and this hub verified link 3 (a rollback)")
	})
	waitState(t, "a state record of the rollback", m, m.st, func(s sealedState) bool { return hasProblem(s, "(a rollback)") })
	wantAt(t, h, 3, epoch, "after the rollback")
	restore()
	waitFor(t, "the problem to end with the real chain", 20*time.Second, func() bool { return len(activeProblems(h)) == 0 })

	// A new epoch, signed by A, whose head the cloud claims is at a log
	// index that holds something else.
	link4, err := m.st.Clone().NewEpoch(m.keys, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	decoy := cl.logEntry(t, []byte("\x01\x7fnot the head of link 4"))
	tk, _ := history.NewTagKey(m.genesis)
	e, _ := tk.ChainHeadEntry(4, keydir.LinkHash(link4))
	key, err := history.ItemKey(history.Item{Kind: history.TypeChainHead, Household: hh, Num: 4, Entry: e})
	if err != nil {
		t.Fatal(err)
	}
	db := cl.insiderDB(t)
	mustExec(t, db, `INSERT INTO history (key, kind, household_id, num, entry, log_index) VALUES (?, 1, ?, 4, ?, ?)`, key, hh, e, decoy)
	if err := cl.st.AppendLink(ctx, store.Link{HouseholdID: hh, Seq: 4, Hash: keydir.LinkHash(link4), Data: link4, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("refused the chain from the cloud: link 4 is not in the transparency log at index %d as the cloud says", decoy)
	waitFor(t, "the hub to refuse the unlogged head", 20*time.Second, func() bool { return hubHasProblem(h, want) })
	waitState(t, "a state record of the unlogged head", m, m.st, func(s sealedState) bool { return hasProblem(s, want) })
	wantAt(t, h, 3, epoch, "after the unlogged head")

	// The cloud now says the head is past the end of the log: it never
	// arrives, and after the grace the hub reports it.
	mustExec(t, db, `UPDATE history SET log_index = ? WHERE household_id = ? AND kind = 1 AND num = 4`, int64(1)<<40, hh)
	want = "refused the chain from the cloud: link 4 has not reached the transparency log within 1s; this hub keeps link 3"
	waitState(t, "a state record of the head that never reaches the log", m, m.st, func(s sealedState) bool { return hasProblem(s, want) })
	wantAt(t, h, 3, epoch, "with the head never logged")
}

// TestRollbackRefusedAfterRestart: what the hub verified outlives a
// restart (data/tlog.json, data/chain.json): the restarted hub refuses a
// checkpoint older than the last one it verified (the log rolled back to
// before its link) and a chain without the link it verified, and stays at
// that link's epoch.
func TestRollbackRefusedAfterRestart(t *testing.T) {
	t.Parallel()
	cl, m, r, cfg := pairedHousehold(t, false)
	old, err := cl.served.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := startHub(t, cfg, fastCloud())
	appendLink(t, m, func(st *keydir.State) ([]byte, error) { return st.RemoveDevice(m.keys, r.ID(), time.Now()) })
	waitFor(t, "the hub to verify link 3", 20*time.Second, func() bool { return h.household.current().Seq == 3 })
	epoch := h.household.current().Epoch
	h.Close()

	cl.served.forged.Store(&old)
	h = startHub(t, cfg, fastCloud())
	waitFor(t, "the restarted hub to refuse the older checkpoint", 20*time.Second, func() bool {
		return hubHasProblem(h, "the transparency log served a checkpoint older than the one this hub verified")
	})
	wantAt(t, h, 3, epoch, "after a restart and a rollback of the log")

	cl.served.forged.Store(nil)
	cl.dropLinks(t, m.st.HouseholdID, 3)
	waitFor(t, "the restarted hub to refuse the older chain", 20*time.Second, func() bool {
		return hubHasProblem(h, "it ends at link 2, and this hub verified link 3 (a rollback)")
	})
	wantAt(t, h, 3, epoch, "after a restart and a rollback of the chain")
}

// TestUnverifiableLogKeepsRecording: while the log is stopped, and then
// while it serves a checkpoint inconsistent with the one the hub verified,
// the hub keeps recording and sealing to the epoch it verified, refuses the
// new epoch A signed, and says why in its state records; once the log
// verifies again it moves to the new epoch.
func TestUnverifiableLogKeepsRecording(t *testing.T) {
	t.Parallel()
	cl, m, r, cfg := pairedHousehold(t, true)
	h := startHub(t, cfg, fastCloud())
	epoch := h.household.current().Epoch
	atTwo := m.st.Clone()

	cl.served.down.Store(true)
	appendLink(t, m, func(st *keydir.State) ([]byte, error) { return st.RemoveDevice(m.keys, r.ID(), time.Now()) })
	stoppedAt := time.Now()
	waitState(t, "a state record of the stopped log", m, atTwo, func(s sealedState) bool {
		return hasProblem(s, "the transparency log could not be verified")
	})
	wantAt(t, h, 2, epoch, "with the log stopped")
	segs := len(listSegs(t, h, "front"))
	waitFor(t, "recording to go on", 30*time.Second, func() bool { return len(listSegs(t, h, "front")) >= segs+2 })
	b := footageAfter(t, m, stoppedAt.Add(time.Second))
	if hdr, err := envelope.Inspect(bytes.NewReader(b)); err != nil || hdr.Epoch != uint32(epoch) {
		t.Fatalf("footage recorded while the log was stopped: %v, epoch %d want %d", err, hdr.Epoch, epoch)
	}

	// The log comes back with a checkpoint of the size the hub verified and
	// another root.
	cp, ok := h.household.checkpoint()
	if !ok {
		t.Fatal("the hub has verified no checkpoint")
	}
	cl.forgeCheckpoint(t, cp.Origin, cp.N)
	cl.served.down.Store(false)
	waitState(t, "a state record of the split view", m, atTwo, func(s sealedState) bool {
		return hasProblem(s, fmt.Sprintf("two different trees of %d entries (a split view)", cp.N))
	})
	wantAt(t, h, 2, epoch, "with a split view")

	cl.served.forged.Store(nil)
	waitFor(t, "the hub to verify link 3 once the log verifies", 20*time.Second, func() bool {
		return h.household.current().Seq == 3
	})
	if h.household.current().Epoch != m.st.Epoch {
		t.Fatalf("hub epoch %d, want %d", h.household.current().Epoch, m.st.Epoch)
	}
}

// acceptedRetention returns the retention settings the hub accepted last
// (ok false before any).
func acceptedRetention(h *Hub) (history.SettingsParams, bool) {
	h.retentionMu.Lock()
	f := h.retention
	h.retentionMu.Unlock()
	if f == nil {
		return history.SettingsParams{}, false
	}
	a, err := history.ParseAction(f.Signed.Body)
	if err != nil {
		return history.SettingsParams{}, false
	}
	p, err := a.Settings()
	return p, err == nil
}

// TestRetentionSettingsChecked: the hub accepts retention settings signed
// by an admin device of the chain it verified, and reports settings whose
// signer was removed, older settings served after newer ones, and settings
// signed by a device that is no admin.
func TestRetentionSettingsChecked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl, m, r, cfg := pairedHousehold(t, false)
	hh := m.st.HouseholdID
	sign := func(k *keydir.DeviceKeys, days int64, at time.Time) history.Signed {
		t.Helper()
		a, err := history.NewAction(hh, history.SettingsParams{MaxAgeSeconds: days * 86400}, at)
		if err != nil {
			t.Fatal(err)
		}
		s, err := history.SignAction(k, a)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	serve := func(s history.Signed) {
		t.Helper()
		if err := cl.st.SetRetention(ctx, hh, store.Retention{Signed: &s}); err != nil {
			t.Fatal(err)
		}
	}
	older := sign(m.keys, 30, time.Now().Add(-time.Minute))
	h := startHub(t, cfg, fastCloud())

	if _, err := m.c.PutSettings(ctx, hh, sign(r, 7, time.Now())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the hub to accept R's settings", 20*time.Second, func() bool {
		p, ok := acceptedRetention(h)
		return ok && p.MaxAgeSeconds == 7*86400
	})

	appendLink(t, m, func(st *keydir.State) ([]byte, error) { return st.RemoveDevice(m.keys, r.ID(), time.Now()) })
	waitState(t, "a state record of settings whose signer was removed", m, m.st, func(s sealedState) bool {
		return hasProblem(s, "are no longer signed by a current admin device")
	})

	if _, err := m.c.PutSettings(ctx, hh, sign(m.keys, 14, time.Now())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the hub to accept A's settings", 20*time.Second, func() bool {
		p, ok := acceptedRetention(h)
		return ok && p.MaxAgeSeconds == 14*86400 && !hubHasProblem(h, "retention")
	})

	serve(older)
	waitState(t, "a state record of stale settings", m, m.st, func(s sealedState) bool {
		return hasProblem(s, "older than the ones this hub accepted") && hasProblem(s, "a rollback")
	})

	ghost, _ := keydir.NewDeviceKeys()
	serve(sign(ghost, 1, time.Now()))
	waitState(t, "a state record of settings no admin signed", m, m.st, func(s sealedState) bool {
		return hasProblem(s, "refused the retention settings from the cloud") && hasProblem(s, "not signed by an admin device")
	})
	if p, _ := acceptedRetention(h); p.MaxAgeSeconds != 14*86400 {
		t.Errorf("the hub keeps %+v, want A's 14 days", p)
	}
}

// TestLogPolicyPinned: a hub paired before it knew of the log pins the
// cloud's log policy at its first refresh; a hub whose config names
// another log than the cloud's reports it and accepts no chain the cloud's
// log vouches for.
func TestLogPolicyPinned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl, m, r, cfg := pairedHousehold(t, false)
	p, err := LoadPaired(cfg.Data)
	if err != nil || p.Log == nil || p.Log.Key != cl.srv.LogKey() {
		t.Fatalf("pairing pinned %+v (%v), want the cloud's log", p, err)
	}

	// As a hub paired before the log: no policy pinned, no checkpoint.
	p.Log = nil
	b, _ := json.MarshalIndent(p, "", "  ")
	if err := os.WriteFile(filepath.Join(cfg.Data, HouseholdFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(cfg.Data, LogFile)); err != nil {
		t.Fatal(err)
	}
	h := startHub(t, cfg, fastCloud())
	waitFor(t, "the hub to pin the cloud's log", 20*time.Second, func() bool {
		p, err := LoadPaired(cfg.Data)
		return err == nil && p.Log != nil && p.Log.Key == cl.srv.LogKey()
	})
	appendLink(t, m, func(st *keydir.State) ([]byte, error) { return st.RemoveDevice(m.keys, r.ID(), time.Now()) })
	waitFor(t, "the hub to verify link 3 in the pinned log", 20*time.Second, func() bool { return h.household.current().Seq == 3 })
	h.Close()

	// The config names another log (say, the household's own monitor's).
	_, other, err := tlog.GenerateKey("elsewhere.example/tlog")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Log = &config.Log{Key: other}
	h = startHub(t, cfg, fastCloud())
	waitFor(t, "the hub to report the cloud's other log", 20*time.Second, func() bool {
		return hubHasProblem(h, "refused the transparency log the cloud names") && hubHasProblem(h, "the transparency log could not be verified")
	})
	appendLink(t, m, func(st *keydir.State) ([]byte, error) { return st.NewEpoch(m.keys, time.Now()) })
	waitState(t, "a state record of the other log", m, m.st, func(s sealedState) bool {
		return hasProblem(s, "refused the transparency log the cloud names")
	})
	if err := cl.srv.SyncLog(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // a few refreshes
	if st := h.household.current(); st.Seq != 3 {
		t.Fatalf("the hub accepted link %d from a log it does not follow", st.Seq)
	}
}
