package cloud_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/store"
	"vigil/internal/cloudapi"
	"vigil/internal/consent"
	"vigil/internal/devauth"
	"vigil/internal/envelope"
	"vigil/internal/history"
	"vigil/internal/keydir"
	vmember "vigil/internal/member"
	"vigil/internal/pgtest"
	"vigil/internal/vigiltest"
)

// labFixture: alice's household, and a labelling workspace made by a staff
// admin whose lead device added two annotator devices.
type labFixture struct {
	e          *env
	alice      *member
	st         *keydir.State
	hh         string
	ws         *keydir.State
	lead, ann  *keydir.DeviceKeys
	ann2       *keydir.DeviceKeys // an annotator of the workspace, never assigned
	leadC      *client.Client
	annC       *client.Client
	ann2C      *client.Client
	staffToken [2]string // a staff admin's session secret and CSRF
}

func deviceClient(e *env, k *keydir.DeviceKeys) *client.Client {
	return &client.Client{BaseURL: e.url, HTTP: http.DefaultClient, DeviceID: k.ID(), DeviceKey: k.Sign}
}

func newLabFixture(t *testing.T) *labFixture { return newLabFixtureOn(t, newEnv(t)) }

func newLabFixtureOn(t *testing.T, e *env) *labFixture {
	t.Helper()
	f := &labFixture{e: e, alice: e.signUp("alice@example.com")}
	f.st = e.household(f.alice, "Home")
	f.hh = f.st.HouseholdID
	var err error
	f.lead, _ = keydir.NewDeviceKeys()
	f.ann, _ = keydir.NewDeviceKeys()
	f.ann2, _ = keydir.NewDeviceKeys()
	genesis, _, ws, err := keydir.NewHousehold("Person detection", f.lead, "lead", e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	f.ws = ws
	_, secret, csrf, err := cloud.StaffSession(e.srv, "Olga", "admin")
	if err != nil {
		t.Fatal(err)
	}
	f.staffToken = [2]string{secret, csrf}
	body, _ := json.Marshal(map[string]any{"genesis": genesis})
	if status, b := staffDo(t, e.url, "POST", "/staff/v1/workspaces", secret, csrf, body); status != 201 || !strings.Contains(b, ws.HouseholdID) {
		t.Fatalf("create workspace: %d %s", status, b)
	}
	f.leadC, f.annC, f.ann2C = deviceClient(e, f.lead), deviceClient(e, f.ann), deviceClient(e, f.ann2)
	for _, k := range []*keydir.DeviceKeys{f.ann, f.ann2} {
		link, err := ws.AddDevice(f.lead, k.Public(keydir.RoleMember, "annotator"), e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := f.leadC.AppendWorkspaceLink(t.Context(), ws.HouseholdID, link); err != nil {
			t.Fatalf("add annotator: %v", err)
		}
		if err := ws.Apply(link); err != nil {
			t.Fatal(err)
		}
	}
	// The annotator verifies the workspace's chain from its genesis, and
	// proves its head is in the transparency log, as household devices do.
	if err := e.srv.SyncLog(t.Context()); err != nil {
		t.Fatal(err)
	}
	links, idx, err := f.annC.WorkspaceChain(t.Context(), ws.HouseholdID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := keydir.Verify(links, ws.GenesisHash)
	if err != nil || !bytes.Equal(got.Head, ws.Head) {
		t.Fatalf("workspace chain as an annotator gets it: %v", err)
	}
	lc, _, err := vmember.CloudLog(t.Context(), f.annC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.Update(t.Context()); err != nil {
		t.Fatal(err)
	}
	tk, _ := history.NewTagKey(ws.GenesisHash)
	if err := tk.ProveChainHead(t.Context(), lc, got.Seq, got.Head, idx[len(idx)-1]); err != nil {
		t.Fatalf("the workspace's head is not in the log: %v", err)
	}
	if err := tk.ProveChainHead(t.Context(), lc, got.Seq, got.Head, idx[0]); err == nil {
		t.Fatal("a head proves at another head's index")
	}
	return f
}

// clip is a donated clip: its plaintext, sealed to the workspace's epoch
// key by the donor's device, and the consent that gives it.
type clip struct {
	plain, sealed []byte
	c             consent.Consent
	signed        consent.Signed
}

func (f *labFixture) clip(t *testing.T, donor *keydir.DeviceKeys) clip {
	t.Helper()
	plain := make([]byte, 40_000)
	rand.Read(plain)
	from := f.e.clock.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	sealed, err := envelope.Seal(envelope.Header{Kind: envelope.KindClip, Stream: "donation", Start: from, Epoch: uint32(f.ws.Epoch)},
		from.Add(20*time.Second), donor.Sign, plain, f.ws.EpochRecipient())
	if err != nil {
		t.Fatal(err)
	}
	now := f.e.clock.Now().UTC().Truncate(time.Millisecond)
	c := consent.Consent{V: 1, ID: consent.NewID(), Household: f.hh, Device: donor.ID(), Workspace: f.ws.HouseholdID,
		Purpose: consent.PurposePersonDetection, Camera: consent.CameraDigest("front"), From: from, To: from.Add(20 * time.Second),
		Event: "ev1", Object: sha256.Sum256(sealed), Created: now, Expires: now.Add(consent.DefaultLife)}
	s, err := consent.Sign(donor, c)
	if err != nil {
		t.Fatal(err)
	}
	return clip{plain: plain, sealed: sealed, c: c, signed: s}
}

// sealAnnotation seals an annotation payload as an annotator's device does.
func (f *labFixture) sealAnnotation(t *testing.T, k *keydir.DeviceKeys, payload []byte) []byte {
	t.Helper()
	b, err := envelope.Seal(envelope.Header{Kind: envelope.KindEvent, Stream: "annotation", Start: f.e.clock.Now(), Epoch: uint32(f.ws.Epoch)},
		f.e.clock.Now(), k.Sign, payload, f.ws.EpochRecipient())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// actions returns the labelling steps of the donor's history, in order,
// as "action by kind:id".
func (f *labFixture) actions(t *testing.T) []history.Verified {
	t.Helper()
	var out []history.Verified
	for _, r := range f.e.history(f.alice, f.st) {
		if strings.HasPrefix(r.Action, "labelling.") {
			out = append(out, r)
		}
	}
	return out
}

func actionNames(rs []history.Verified) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Action)
	}
	return out
}

// labelled runs a donation through the workspace: donated, assigned,
// opened, annotated, accepted, in dataset version 1, evaluated.
type labelled struct {
	clip
	annotation, annotationPlain []byte
}

func (f *labFixture) label(t *testing.T) labelled {
	t.Helper()
	ctx := t.Context()
	ws := f.ws.HouseholdID
	cl := f.clip(t, f.alice.keys)
	d, err := f.alice.c.Donate(ctx, f.hh, cl.signed, cl.sealed)
	if err != nil {
		t.Fatalf("donate: %v", err)
	}
	if d.ID != cl.c.ID || d.State != "open" || d.Size != int64(len(cl.sealed)) {
		t.Fatalf("donation: %+v", d)
	}
	// Before assignment the annotator sees nothing.
	if as, err := f.annC.Assignments(ctx, ws); err != nil || len(as) != 0 {
		t.Fatalf("assignments before assignment: %v %v", as, err)
	}
	if _, err := f.leadC.Assign(ctx, ws, d.ID, f.ann.ID()); err != nil {
		t.Fatalf("assign: %v", err)
	}
	as, err := f.annC.Assignments(ctx, ws)
	if err != nil || len(as) != 1 || as[0].ID != d.ID || as[0].Consent != cl.signed.String() {
		t.Fatalf("assignments: %+v %v", as, err)
	}
	// The annotator checks the consent with the donor device's key: the
	// bytes it gets are the ones the donor's device signed for.
	sealed, err := f.annC.Clip(ctx, ws, d.ID)
	if err != nil {
		t.Fatalf("annotator opens the clip: %v", err)
	}
	sc, err := consent.ParseSigned(as[0].Consent)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := consent.VerifyWithKey(sc, as[0].DeviceKey, f.e.clock.Now(), sha256.Sum256(sealed)); err != nil {
		t.Fatalf("annotator checks the consent: %v", err)
	}
	if _, err := consent.VerifyWithKey(sc, as[0].DeviceKey, f.e.clock.Now(), sha256.Sum256(sealed[1:])); err == nil {
		t.Fatal("the annotator's check accepts other bytes")
	}
	ids, err := f.ws.EpochIdentities(f.ann)
	if err != nil {
		t.Fatal(err)
	}
	_, _, plain, err := envelope.Open(sealed, envelope.TrustedKeys{f.alice.keys.Sign.Public().(ed25519.PublicKey)}, ids...)
	if err != nil || !bytes.Equal(plain, cl.plain) {
		t.Fatalf("annotator decrypts the clip: %v", err)
	}
	payload := []byte(`{"boxes":[{"label":"person","x":10,"y":20,"w":30,"h":60,"frame":3}],"note":"ANNOTATION-PLAINTEXT-1234567890"}`)
	ann := f.sealAnnotation(t, f.ann, payload)
	if err := f.annC.PutAnnotation(ctx, ws, d.ID, 1, ann); err != nil {
		t.Fatalf("annotate: %v", err)
	}
	// The reviewer (the lead's device) opens clip and annotation, accepts.
	if _, err := f.leadC.Clip(ctx, ws, d.ID); err != nil {
		t.Fatalf("reviewer opens the clip: %v", err)
	}
	got, v, err := f.leadC.Annotation(ctx, ws, d.ID)
	if err != nil || v != 1 || !bytes.Equal(got, ann) {
		t.Fatalf("reviewer reads the annotation: v%d %v", v, err)
	}
	rd, err := f.leadC.Review(ctx, ws, d.ID, 1, true)
	if err != nil || rd.State != "accepted" || rd.Reviewer != f.lead.ID() {
		t.Fatalf("review: %+v %v", rd, err)
	}
	ds, err := f.leadC.CreateDataset(ctx, ws)
	if err != nil {
		t.Fatalf("dataset: %v", err)
	}
	if ds.Version != 1 || len(ds.Items) != 1 || ds.Items[0] != (cloudapi.DatasetItem{Donation: d.ID, Annotation: 1, Annotator: f.ann.ID(), Reviewer: f.lead.ID()}) {
		t.Fatalf("dataset version 1: %+v", ds)
	}
	if _, err := f.leadC.Evaluate(ctx, ws, "nanodet 2026-12", 1, []byte("sealed scores")); err != nil {
		t.Fatalf("evaluation: %v", err)
	}
	return labelled{clip: cl, annotation: ann, annotationPlain: payload}
}

// TestLabellingEndToEnd: a member donates a sealed clip with a signed
// consent; the workspace's lead assigns it; the assigned annotator's
// device opens and decrypts it with its workspace epoch key, and sends a
// sealed annotation; the reviewer accepts it; dataset version 1 lists it
// with its lineage; and the donor's history shows every step, naming the
// workspace device that took it.
func TestLabellingEndToEnd(t *testing.T) {
	f := newLabFixture(t)
	l := f.label(t)
	ds, err := f.alice.c.Donations(t.Context(), f.hh)
	if err != nil || len(ds) != 1 || ds[0].State != "accepted" || ds[0].Accepted != 1 {
		t.Fatalf("the household's donations: %+v %v", ds, err)
	}
	rs := f.actions(t)
	want := []string{"labelling.donate", "labelling.assign", "labelling.clip.read", "labelling.annotate", "labelling.clip.read",
		"labelling.annotation.read", "labelling.review", "labelling.dataset", "labelling.evaluate"}
	if got := actionNames(rs); !slices.Equal(got, want) {
		t.Fatalf("donor's history: %v, want %v", got, want)
	}
	// The workspace's chain heads are in the transparency log, as
	// households' are: the genesis and the two links adding annotators.
	items, err := f.e.st.(interface{ History() history.Store }).History().Items(t.Context(), history.Query{Household: f.ws.HouseholdID, Kind: history.TypeChainHead})
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := history.NewTagKey(f.ws.GenesisHash)
	var logged []int64
	for _, it := range items {
		e, err := history.ParseEntry(it.Entry)
		if err != nil || e.ChainHead == nil || it.Index < 0 {
			t.Fatalf("workspace head %d: %+v %v (index %d)", it.Num, e, err, it.Index)
		}
		if tk.Chain(it.Num) != e.ChainHead.Tag {
			t.Errorf("workspace head %d: tag not the chain's", it.Num)
		}
		logged = append(logged, it.Num)
	}
	if !slices.Equal(logged, []int64{0, 1, 2}) || !bytes.Equal(items[len(items)-1].Entry[len(items[len(items)-1].Entry)-32:], f.ws.Head) {
		t.Errorf("workspace heads in the log: %v", logged)
	}
	who := []string{"account", f.lead.ID(), f.ann.ID(), f.ann.ID(), f.lead.ID(), f.lead.ID(), f.lead.ID(), f.lead.ID(), f.lead.ID()}
	for i, r := range rs {
		if i == 0 {
			if r.Actor.Kind != history.ActorAccount {
				t.Errorf("donation recorded as %+v, want the donor's account", r.Actor)
			}
			continue
		}
		if r.Actor.Kind != history.ActorWorkspace || r.Actor.ID != who[i] {
			t.Errorf("%s recorded as %+v, want workspace device %s", r.Action, r.Actor, who[i])
		}
		if !strings.Contains(r.Object, l.c.ID) {
			t.Errorf("%s names %q, not the donation %s", r.Action, r.Object, l.c.ID)
		}
	}
	if !strings.Contains(rs[7].Object, "dataset version 1") {
		t.Errorf("dataset record: %q", rs[7].Object)
	}

	// The insider scan while the donation is live (G2): the cloud holds
	// its sealed clip and annotation, and no byte of either's plaintext.
	var leaks vigiltest.LeakScan
	if leaks.Plaintext("donated clip's plaintext", l.plain) == 0 || leaks.Plaintext("annotation's plaintext", l.annotationPlain) == 0 {
		t.Fatal("no samples to scan for")
	}
	leaks.Secret("annotation's text", []byte("ANNOTATION-PLAINTEXT-1234567890"))
	found, scanned := f.insiderScan(t, &leaks, nil)
	for _, x := range found {
		t.Error(x)
	}
	var control vigiltest.LeakScan
	control.Plaintext("sealed clip", l.sealed[len(l.sealed)/4:])
	if seen, _ := f.insiderScan(t, &control, nil); len(seen) == 0 {
		t.Fatal("the scan does not find the sealed clip: it does not look where clips are")
	}
	t.Logf("insider scan of a live donation: %d bytes, no byte of the clip's or the annotation's plaintext", scanned)
}

// insiderScan checks every file under the cloud's data directory (the
// SQLite database with its WAL, the blob directory) and, with scanDB, every
// cell of the store's database, against leaks; it returns what it found
// and how many bytes it read. The log's entries start with public,
// random-looking fields that a media signature can match by chance
// (cloudtest.MaskLogEntries): they are masked.
func (f *labFixture) insiderScan(t *testing.T, leaks *vigiltest.LeakScan, scanDB func(visit func(where string, b []byte))) (found []string, scanned int64) {
	t.Helper()
	hist := f.e.st.(interface{ History() history.Store }).History()
	for _, q := range []history.Query{{Household: f.hh}, {Household: f.ws.HouseholdID}} {
		items, err := hist.Items(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if e := it.Entry; len(e) >= 2 && e[0] == 0x01 && (e[1] == 0x01 || e[1] == 0x02) {
				leaks.Public(e[:min(len(e), 2+32+32+4)])
			}
		}
	}
	err := filepath.WalkDir(f.e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		scanned += int64(len(b))
		found = append(found, leaks.Check(p, b)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanDB != nil {
		scanDB(func(where string, b []byte) {
			scanned += int64(len(b))
			found = append(found, leaks.Check(where, b)...)
		})
	}
	return found, scanned
}

// TestLabellingRefusals: the cloud keeps no donation whose consent does not
// verify, and the workspace's routes give nothing to anyone but the
// devices of its chain, and of those a clip only to its annotator and the
// workspace's admin devices.
func TestLabellingRefusals(t *testing.T) {
	f := newLabFixture(t)
	ctx := t.Context()
	ws := f.ws.HouseholdID
	outsider, _ := keydir.NewDeviceKeys()

	flipped := f.clip(t, f.alice.keys)
	flipped.signed.Sig[5] ^= 1
	foreign := f.clip(t, outsider)
	mismatch := f.clip(t, f.alice.keys)
	mismatch.sealed = append(bytes.Clone(mismatch.sealed[:len(mismatch.sealed)-1]), mismatch.sealed[len(mismatch.sealed)-1]^1)
	expired := f.clip(t, f.alice.keys)
	expired.c.Created = expired.c.Created.Add(-400 * 24 * time.Hour)
	expired.c.Expires = expired.c.Created.Add(365 * 24 * time.Hour)
	expired.signed, _ = consent.Sign(f.alice.keys, expired.c)
	otherWS := f.clip(t, f.alice.keys)
	otherWS.c.Workspace = f.hh
	otherWS.signed, _ = consent.Sign(f.alice.keys, otherWS.c)
	for _, tc := range []struct {
		name   string
		cl     clip
		header string
		status int
	}{
		{"bad signature", flipped, flipped.signed.String(), 403},
		{"device not in the household's chain", foreign, foreign.signed.String(), 403},
		{"digest mismatch", mismatch, mismatch.signed.String(), 403},
		{"expired consent", expired, expired.signed.String(), 403},
		{"malformed consent", flipped, "not a consent", 400},
		{"no consent", flipped, "", 400},
		{"unknown workspace", otherWS, otherWS.signed.String(), 404},
	} {
		status, body := f.donateRaw(t, f.alice, f.hh, tc.header, tc.cl.sealed)
		if status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.status)
		}
	}
	// A body that ends before its Content-Length is the client's fault.
	short := f.clip(t, f.alice.keys)
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /v1/households/%s/donations HTTP/1.1\r\nHost: vigil.test\r\nAuthorization: Bearer %s\r\n%s: %s\r\nContent-Length: %d\r\n\r\n",
		f.hh, f.alice.c.Token, cloud.ConsentHeader, short.signed.String(), len(short.sealed))
	conn.Write(short.sealed[:1000])
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 {
		t.Errorf("a body shorter than its Content-Length: %d, want 400", resp.StatusCode)
	}
	conn.Close()
	if ds, _ := f.alice.c.Donations(ctx, f.hh); len(ds) != 0 {
		t.Errorf("refused donations were kept: %+v", ds)
	}
	if keys, _ := os.ReadDir(filepath.Join(f.e.dir, "blobs", "labelling")); len(keys) != 0 {
		t.Errorf("refused donations left blobs: %v", keys)
	}

	// Another household's member can neither donate for alice's household
	// nor see its donations.
	bob := f.e.signUp("bob@example.com")
	bobSt := f.e.household(bob, "Bob's")
	good := f.clip(t, f.alice.keys)
	if status, body := f.donateRaw(t, bob, bobSt.HouseholdID, good.signed.String(), good.sealed); status != 403 {
		t.Errorf("bob donates alice's consent to his household: %d %s", status, body)
	}
	if status, _ := f.donateRaw(t, bob, f.hh, good.signed.String(), good.sealed); status != 404 {
		t.Errorf("bob donates to alice's household: %d", status)
	}
	if _, err := f.alice.c.Donate(ctx, f.hh, good.signed, good.sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.c.Donations(ctx, f.hh); !client.IsStatus(err, 404) {
		t.Errorf("bob lists alice's donations: %v", err)
	}

	// Only an admin device assigns; an annotator cannot assign to itself.
	if _, err := f.annC.Assign(ctx, ws, good.c.ID, f.ann.ID()); !client.IsStatus(err, 403) {
		t.Errorf("annotator assigns: %v, want 403", err)
	}
	if _, err := f.leadC.Assign(ctx, ws, good.c.ID, outsider.ID()); !client.IsStatus(err, 400) {
		t.Errorf("assigning to a device outside the chain: %v, want 400", err)
	}
	if _, err := f.leadC.Assign(ctx, ws, good.c.ID, f.ann.ID()); err != nil {
		t.Fatal(err)
	}
	// The unassigned annotator: nothing.
	if as, err := f.ann2C.Assignments(ctx, ws); err != nil || len(as) != 0 {
		t.Errorf("unassigned annotator's assignments: %+v %v", as, err)
	}
	if b, err := f.ann2C.Clip(ctx, ws, good.c.ID); !client.IsStatus(err, 404) || b != nil {
		t.Errorf("unassigned annotator opens the clip: %d bytes, %v", len(b), err)
	}
	if err := f.ann2C.PutAnnotation(ctx, ws, good.c.ID, 1, []byte("sealed")); !client.IsStatus(err, 404) {
		t.Errorf("unassigned annotator annotates: %v", err)
	}
	// The annotator cannot accept its own annotation, nor make datasets.
	if err := f.annC.PutAnnotation(ctx, ws, good.c.ID, 1, f.sealAnnotation(t, f.ann, []byte("boxes"))); err != nil {
		t.Fatal(err)
	}
	if _, err := f.annC.Review(ctx, ws, good.c.ID, 1, true); !client.IsStatus(err, 403) {
		t.Errorf("annotator reviews its own annotation: %v", err)
	}
	if _, err := f.annC.CreateDataset(ctx, ws); !client.IsStatus(err, 403) {
		t.Errorf("annotator makes a dataset: %v", err)
	}
	// A device outside the workspace's chain, a household member's
	// session, a staff admin's session: nothing from the workspace routes.
	outC := deviceClient(f.e, outsider)
	paths := []string{"/assignments", "/donations/" + good.c.ID + "/clip", "/donations/" + good.c.ID + "/annotation", "/datasets", "/chain"}
	for _, p := range paths {
		path := "/v1/workspaces/" + ws + p
		req, _ := http.NewRequest("GET", f.e.url+path, nil)
		if err := devauth.Sign(req, nil, outsider.ID(), outsider.Sign, time.Now()); err != nil {
			t.Fatal(err)
		}
		if status, body := do(t, req); status != 404 || bytes.Contains(body, good.sealed[100:140]) {
			t.Errorf("device outside the chain GET %s: %d", p, status)
		}
		if status, body, _ := f.alice.c.Raw(ctx, "GET", path, nil); status != 404 && status != 401 || bytes.Contains(body, good.sealed[100:140]) {
			t.Errorf("member session GET %s: %d", p, status)
		}
		if status, _ := staffDo(t, f.e.url, "GET", path, f.staffToken[0], f.staffToken[1], nil); status != 404 && status != 401 {
			t.Errorf("staff session GET %s: %d", p, status)
		}
	}
	if b, err := outC.Clip(ctx, ws, good.c.ID); err == nil || b != nil {
		t.Errorf("device outside the chain opens the clip")
	}
	// A device removed from the chain loses access.
	link, err := f.ws.RemoveDevice(f.lead, f.ann.ID(), f.e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.leadC.AppendWorkspaceLink(ctx, ws, link); err != nil {
		t.Fatal(err)
	}
	if _, err := f.annC.Clip(ctx, ws, good.c.ID); !client.IsStatus(err, 404) {
		t.Errorf("removed annotator opens the clip: %v", err)
	}
}

func (f *labFixture) donateRaw(t *testing.T, m *member, hh, header string, sealed []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.e.url+"/v1/households/"+hh+"/donations", bytes.NewReader(sealed))
	req.Header.Set("Authorization", "Bearer "+m.c.Token)
	if header != "" {
		req.Header.Set(cloud.ConsentHeader, header)
	}
	status, body := do(t, req)
	return status, string(body)
}

func do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// TestLabellingRevocation: one signed revocation deletes the clip and its
// annotation from the blob store and the store — a scan of every file of
// the cloud finds no byte of the clip's plaintext or ciphertext nor of the
// annotation — removes it from the next dataset version, marks the
// earlier one and its evaluation, and the donor's history says so.
func TestLabellingRevocation(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		f := newLabFixture(t)
		testRevocation(t, f, nil)
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := pgtest.NewSchema(t, pgtest.NewDB(t))
		st, err := store.OpenPostgres(t.Context(), dsn, store.PostgresOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		f := newLabFixtureOn(t, newEnvOn(t, t.TempDir(), st))
		testRevocation(t, f, func(visit func(where string, b []byte)) { scanPostgres(t, dsn, visit) })
	})
}

// scanPostgres visits every cell of every table of the store's schema,
// as a dump of it holds them.
func scanPostgres(t *testing.T, dsn string, visit func(where string, b []byte)) {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var tables []string
	rows, err := conn.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		tables = append(tables, n)
	}
	if rows.Err() != nil || len(tables) == 0 {
		t.Fatalf("no tables to scan: %v", rows.Err())
	}
	for _, tb := range tables {
		rs, err := conn.Query(ctx, `SELECT * FROM `+pgx.Identifier{tb}.Sanitize())
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			for i, raw := range rs.RawValues() {
				visit(fmt.Sprintf("postgres %s.%s", tb, rs.FieldDescriptions()[i].Name), raw)
			}
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// testRevocation runs the revocation on f; scanDB, when set, visits the
// store's database (a SQLite store's files are under the data directory,
// which is scanned anyway).
func testRevocation(t *testing.T, f *labFixture, scanDB func(visit func(where string, b []byte))) {
	ctx := t.Context()
	ws := f.ws.HouseholdID
	l := f.label(t)
	// Another donation stays, accepted, in later versions.
	keep := f.clip(t, f.alice.keys)
	if _, err := f.alice.c.Donate(ctx, f.hh, keep.signed, keep.sealed); err != nil {
		t.Fatal(err)
	}

	// Another member device of the household may not revoke alice's
	// donation; alice's device (the donor's) may.
	phone, _ := keydir.NewDeviceKeys()
	link, _ := f.st.AddDevice(f.alice.keys, phone.Public(keydir.RoleMember, "phone"), f.e.clock.Now())
	if err := f.alice.c.AppendLink(ctx, f.hh, link); err != nil {
		t.Fatal(err)
	}
	f.st.Apply(link)
	rev := func(k *keydir.DeviceKeys) consent.Signed {
		s, err := consent.SignRevocation(k, consent.Revocation{V: 1, Consent: l.c.ID, Household: f.hh, Device: k.ID(), Time: f.e.clock.Now().UTC().Truncate(time.Millisecond)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := f.alice.c.RevokeDonation(ctx, f.hh, keep.c.ID, rev(f.alice.keys)); !client.IsStatus(err, 400) {
		t.Errorf("revocation of one donation sent to another's route: %v, want 400", err)
	}
	if ds, _ := f.alice.c.Donations(ctx, f.hh); len(ds) != 2 || ds[0].State == "revoked" || ds[1].State == "revoked" {
		t.Fatalf("a misdirected revocation revoked something: %+v", ds)
	}
	if _, err := f.alice.c.RevokeDonation(ctx, f.hh, l.c.ID, rev(phone)); !client.IsStatus(err, 403) {
		t.Errorf("revocation by another member device: %v, want 403", err)
	}
	d, err := f.alice.c.RevokeDonation(ctx, f.hh, l.c.ID, rev(f.alice.keys))
	if err != nil || d.State != "revoked" || d.Consent != "" {
		t.Fatalf("revoke: %+v %v", d, err)
	}
	// Sending the revoked donation again brings nothing back.
	if _, err := f.alice.c.Donate(ctx, f.hh, l.signed, l.sealed); !client.IsStatus(err, 409) {
		t.Errorf("donating a revoked consent again: %v, want 409", err)
	}

	// The workspace: nothing left to open; version 1 keeps its items and is
	// marked, as is its evaluation; version 2 lacks the donation.
	if _, err := f.annC.Clip(ctx, ws, l.c.ID); !client.IsStatus(err, 404) {
		t.Errorf("clip after revocation: %v", err)
	}
	if _, _, err := f.leadC.Annotation(ctx, ws, l.c.ID); !client.IsStatus(err, 404) {
		t.Errorf("annotation after revocation: %v", err)
	}
	if _, err := f.leadC.Assign(ctx, ws, keep.c.ID, f.ann.ID()); err != nil {
		t.Fatal(err)
	}
	if err := f.annC.PutAnnotation(ctx, ws, keep.c.ID, 1, f.sealAnnotation(t, f.ann, []byte("boxes of the kept clip"))); err != nil {
		t.Fatal(err)
	}
	if _, err := f.leadC.Review(ctx, ws, keep.c.ID, 1, true); err != nil {
		t.Fatal(err)
	}
	v2, err := f.leadC.CreateDataset(ctx, ws)
	if err != nil || v2.Version != 2 || len(v2.Items) != 1 || v2.Items[0].Donation != keep.c.ID {
		t.Fatalf("dataset version 2: %+v %v", v2, err)
	}
	vs, err := f.leadC.Datasets(ctx, ws)
	if err != nil || len(vs) != 2 {
		t.Fatalf("datasets: %+v %v", vs, err)
	}
	if len(vs[0].Items) != 1 || vs[0].Items[0].Donation != l.c.ID || len(vs[0].Marks) != 1 || vs[0].Marks[0].Donation != l.c.ID || vs[0].Marks[0].Reason != "revoked" {
		t.Errorf("dataset version 1 after revocation: %+v", vs[0])
	}
	if len(vs[1].Marks) != 0 {
		t.Errorf("dataset version 2 is marked: %+v", vs[1])
	}
	evs, err := f.leadC.Evaluations(ctx, ws)
	if err != nil || len(evs) != 1 || len(evs[0].Marks) != 1 || evs[0].Marks[0].Donation != l.c.ID {
		t.Errorf("evaluation after revocation: %+v %v", evs, err)
	}

	// The donor's history.
	names := actionNames(f.actions(t))
	for _, want := range []string{"labelling.revoke", "labelling.mark"} {
		if !slices.Contains(names, want) {
			t.Errorf("donor's history lacks %s: %v", want, names)
		}
	}
	var marks []string
	for _, r := range f.actions(t) {
		if r.Action == "labelling.mark" {
			marks = append(marks, r.Object)
		}
	}
	if len(marks) != 2 || !strings.Contains(marks[0], "dataset version 1") || !strings.Contains(marks[1], "evaluation") {
		t.Errorf("mark records: %q", marks)
	}

	// The insider scan: every file under the cloud's data directory (the
	// SQLite database with its WAL, the blob directory).
	var leaks vigiltest.LeakScan
	if leaks.Plaintext("revoked clip's plaintext", l.plain) == 0 || leaks.Plaintext("revoked clip's ciphertext", l.sealed[len(l.sealed)/4:]) == 0 ||
		leaks.Plaintext("revoked annotation", l.annotation[len(l.annotation)/4:]) == 0 {
		t.Fatal("no samples to scan for")
	}
	leaks.Secret("annotation plaintext", []byte("ANNOTATION-PLAINTEXT-1234567890"))
	found, scanned := f.insiderScan(t, &leaks, scanDB)
	for _, x := range found {
		t.Error(x)
	}
	// The kept donation is still there: the scan looks where clips are.
	var control vigiltest.LeakScan
	control.Plaintext("kept clip's ciphertext", keep.sealed[len(keep.sealed)/4:])
	seen := false
	filepath.WalkDir(f.e.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			seen = seen || len(control.Check(p, b)) > 0
		}
		return nil
	})
	if !seen {
		t.Fatal("the scan does not find the kept clip: it does not look where clips are")
	}
	t.Logf("insider scan after revocation: %d bytes, no byte of the revoked clip or its annotation", scanned)
}

// TestLabellingExpiry: the sweep ends a donation whose consent expired as a
// revocation does.
func TestLabellingExpiry(t *testing.T) {
	f := newLabFixture(t)
	l := f.label(t)
	if n, err := f.e.srv.SweepLabelling(t.Context()); err != nil || n != 0 {
		t.Fatalf("sweep before expiry: %d %v", n, err)
	}
	f.e.clock.Add(consent.DefaultLife)
	n, err := f.e.srv.SweepLabelling(t.Context())
	if err != nil || n != 1 {
		t.Fatalf("sweep after expiry: %d %v", n, err)
	}
	if keys, _ := os.ReadDir(filepath.Join(f.e.dir, "blobs", "labelling", f.ws.HouseholdID, l.c.ID)); len(keys) != 0 {
		t.Errorf("blobs left after expiry: %v", keys)
	}
	d, err := f.e.st.Donation(t.Context(), l.c.ID)
	if err != nil || d.State != "expired" {
		t.Errorf("donation after expiry: %+v %v", d, err)
	}
	v, _ := f.e.st.DatasetVersion(t.Context(), f.ws.HouseholdID, 1)
	if len(v.Marks) != 1 || v.Marks[0].Reason != "expired" {
		t.Errorf("dataset version 1 after expiry: %+v", v)
	}
	names := actionNames(f.actions(t))
	if !slices.Contains(names, "labelling.expire") || !slices.Contains(names, "labelling.mark") {
		t.Errorf("donor's history after expiry: %v", names)
	}
}

// TestLabellingDonorView: any signed-in account — a member about to donate,
// in no workspace — lists the workspaces (ID, name, genesis hash, the
// purposes a consent may name, and nothing else) and reads a workspace's
// chain, which verifies from that genesis to the workspace's current head
// (its devices and epoch key) and whose head is proven in the transparency
// log; a request without a session gets 401 and an unknown workspace 404;
// the chain cannot be written there.
func TestLabellingDonorView(t *testing.T) {
	f := newLabFixture(t)
	ctx := t.Context()
	bob := f.e.signUp("bob@example.com") // in no household, no workspace
	for _, m := range []*member{f.alice, bob} {
		list, err := m.c.LabellingWorkspaces(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("%s lists workspaces: %+v %v", m.email, list, err)
		}
		w := list[0]
		if w.ID != f.ws.HouseholdID || w.Name != "Person detection" || !bytes.Equal(w.GenesisHash, f.ws.GenesisHash) || !slices.Equal(w.Purposes, consent.Purposes) {
			t.Fatalf("%s sees workspace %+v", m.email, w)
		}
		links, idx, err := m.c.DonorWorkspaceChain(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		st, err := keydir.Verify(links, w.GenesisHash)
		if err != nil || !bytes.Equal(st.Head, f.ws.Head) || st.Epoch != f.ws.Epoch || len(st.Devices) != 3 {
			t.Fatalf("%s's workspace chain: %v (head matches: %v, %d devices)", m.email, err, err == nil && bytes.Equal(st.Head, f.ws.Head), len(st.Devices))
		}
		if !bytes.Equal(st.EpochRecipient().Bytes(), f.ws.EpochRecipient().Bytes()) {
			t.Fatalf("%s would seal to another epoch key", m.email)
		}
		lc, _, err := vmember.CloudLog(ctx, m.c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lc.Update(ctx); err != nil {
			t.Fatal(err)
		}
		tk, _ := history.NewTagKey(w.GenesisHash)
		if err := tk.ProveChainHead(ctx, lc, st.Seq, st.Head, idx[len(idx)-1]); err != nil {
			t.Fatalf("the workspace's head as %s proves it: %v", m.email, err)
		}
	}
	// Exactly the fields a donor needs.
	resp, err := http.Get(f.e.url + "/v1/labelling/workspaces")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("workspaces without a session: %s", resp.Status)
	}
	resp, err = http.Get(f.e.url + "/v1/labelling/workspaces/" + f.ws.HouseholdID + "/chain")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a workspace chain without a session: %s", resp.Status)
	}
	bearer := func(method, path string, body []byte) (int, []byte) {
		req, _ := http.NewRequest(method, f.e.url+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+bob.c.Token)
		return do(t, req)
	}
	status, b := bearer("GET", "/v1/labelling/workspaces", nil)
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); status != 200 || err != nil || len(raw) != 1 {
		t.Fatalf("workspaces: %d %s", status, b)
	}
	var keys []string
	for k := range raw[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"genesis_hash", "id", "name", "purposes"}) {
		t.Fatalf("a listed workspace has the fields %v", keys)
	}
	other, _ := keydir.NewDeviceKeys()
	_, _, unknown, _ := keydir.NewHousehold("Elsewhere", other, "lead", f.e.clock.Now())
	var ce *client.Error
	if _, _, err := bob.c.DonorWorkspaceChain(ctx, unknown.HouseholdID); !errors.As(err, &ce) || ce.Status != http.StatusNotFound {
		t.Fatalf("an unknown workspace's chain: %v", err)
	}
	link, _ := f.ws.AddDevice(f.lead, other.Public(keydir.RoleMember, "intruder"), f.e.clock.Now())
	body, _ := json.Marshal(cloudapi.WorkspaceLink{Link: link})
	if status, b := bearer("POST", "/v1/labelling/workspaces/"+f.ws.HouseholdID+"/chain", body); status < 400 {
		t.Fatalf("an account appended to a workspace's chain: %d %s", status, b)
	}
	if links, _, _ := bob.c.DonorWorkspaceChain(ctx, f.ws.HouseholdID); len(links) != 3 {
		t.Fatalf("the workspace's chain has %d links after an account's attempt to append", len(links))
	}
}
