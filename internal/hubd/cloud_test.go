package hubd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"vigil/internal/blob"
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
	"vigil/internal/config"
	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/member"
	"vigil/internal/pairing"
	"vigil/internal/segstore"
	"vigil/internal/tlog"
	"vigil/internal/vigiltest"
)

// testCloud is a real cloud service (SQLite, blob directory) on loopback
// that can be stopped and started again on the same address. Its
// transparency log is held by the test, which can play the insider who
// runs it: append entries, sign checkpoints, stop serving it.
type testCloud struct {
	t     *testing.T
	st    store.Store
	blobs *blob.Dir
	srv   *cloud.Server
	addr  string
	hs    *http.Server
	dir   string // everything the cloud stores

	log       *tlog.Log
	logSigner note.Signer
	served    *servedLog // what /tlog/ serves
}

// servedLog is the log storage the cloud serves /tlog/ from: the real one,
// unless the test stops it (every read fails) or makes it serve a forged
// checkpoint.
type servedLog struct {
	tlog.Storage
	down   atomic.Bool
	forged atomic.Pointer[[]byte]
}

func (s *servedLog) Checkpoint(ctx context.Context) ([]byte, error) {
	if s.down.Load() {
		return nil, errors.New("the log is stopped for the test")
	}
	if f := s.forged.Load(); f != nil {
		return *f, nil
	}
	return s.Storage.Checkpoint(ctx)
}

func (s *servedLog) Tile(ctx context.Context, path string) ([]byte, error) {
	if s.down.Load() {
		return nil, errors.New("the log is stopped for the test")
	}
	return s.Storage.Tile(ctx, path)
}

func startCloud(t *testing.T) *testCloud {
	t.Helper()
	return startCloudWith(t, nil)
}

// startCloudWith is startCloud with adjust applied to the cloud's options.
func startCloudWith(t *testing.T, adjust func(*cloud.Options)) *testCloud {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "cloud.db"), store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const origin = "cloud.test/tlog"
	skey, vkey, err := tlog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	mem := tlog.NewMemoryStorage()
	lg, err := tlog.Open(context.Background(), tlog.Config{Origin: origin, Signer: signer, Storage: mem,
		Logger: vigiltest.Logger(t).With("component", "tlog")})
	if err != nil {
		t.Fatal(err)
	}
	served := &servedLog{Storage: mem}
	opts := cloud.Options{Store: st, Blobs: blobs, Argon2: auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1},
		Log: lg, LogStorage: served, LogKey: vkey, Logger: vigiltest.Logger(t).With("component", "cloud")}
	if adjust != nil {
		adjust(&opts)
	}
	srv, err := cloud.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCloud{t: t, st: st, blobs: blobs, srv: srv, dir: dir, log: lg, logSigner: signer, served: served}
	c.start("127.0.0.1:0")
	t.Cleanup(func() {
		c.stop()
		srv.Close()
		lg.Close()
		blobs.Close()
		st.Close()
	})
	return c
}

func (c *testCloud) start(addr string) {
	c.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the old socket may linger for a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	c.addr = ln.Addr().String()
	c.hs = &http.Server{Handler: c.srv.Handler()}
	go c.hs.Serve(ln)
}

func (c *testCloud) stop() {
	if c.hs != nil {
		c.hs.Close()
		c.hs = nil
	}
}

func (c *testCloud) url() string { return "http://" + c.addr }

var memberSeq atomic.Int64

// memberDevice signs up, signs in and creates a household with its device
// as the first admin.
type memberDevice struct {
	c       *client.Client
	keys    *keydir.DeviceKeys
	st      *keydir.State
	genesis []byte
}

func newMember(t *testing.T, cloudURL string) *memberDevice {
	t.Helper()
	ctx := context.Background()
	c := client.New(cloudURL)
	email := fmt.Sprintf("member%d@example.com", memberSeq.Add(1))
	res, err := c.SignUp(ctx, email, "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(res.TOTPSecret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SignIn(ctx, email, "a long enough password", auth.TOTPCode(secret, time.Now())); err != nil {
		t.Fatal(err)
	}
	k, err := keydir.NewDeviceKeys()
	if err != nil {
		t.Fatal(err)
	}
	g, _, st, err := keydir.NewHousehold("Home", k, "laptop", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateHousehold(ctx, g); err != nil {
		t.Fatal(err)
	}
	return &memberDevice{c: c, keys: k, st: st, genesis: st.GenesisHash}
}

// pairedConfig is the config of a hub with one camera that seals to the
// household of the cloud it will be paired with, uploading oldest first.
func pairedConfig(t *testing.T, cl *testCloud, camera, url string) *config.Hub {
	t.Helper()
	cfg := hubConfig(t, "", map[string]string{camera: url}, time.Second)
	cfg.Recipients = nil
	cfg.Cloud = &config.Cloud{URL: cl.url(), UploadOrder: config.UploadOldest}
	return cfg
}

// pair runs the real pairing: the hub's side (Pair) and the member's side
// (member.PairHub) concurrently, through relayURL.
func pair(t *testing.T, relayURL, dataDir string, m *memberDevice) (*Paired, error, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	codes := make(chan string, 1)
	var p *Paired
	var hubErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		p, hubErr = Pair(ctx, dataDir, PairOptions{Cloud: relayURL, Name: "garage hub", Poll: 50 * time.Millisecond,
			ShowCode: func(code string) { codes <- code }})
		if hubErr != nil {
			select {
			case codes <- "":
			default:
			}
		}
	}()
	var memberErr error
	select {
	case code := <-codes:
		if code == "" {
			<-done
			return p, hubErr, errors.New("no code shown")
		}
		pc, err := pairing.ParseCode(code)
		if err != nil {
			t.Fatal(err)
		}
		mctx, mcancel := context.WithTimeout(ctx, 5*time.Second)
		mc := client.New(relayURL)
		mc.Token = m.c.Token
		_, memberErr = member.PairHub(mctx, mc, m.st.HouseholdID, m.genesis, m.keys, pc, 50*time.Millisecond)
		mcancel()
		if memberErr != nil {
			cancel() // the hub would wait for the code's lifetime
		}
	case <-ctx.Done():
		t.Fatal("the hub never showed a code")
	}
	<-done
	return p, hubErr, memberErr
}

func TestPairAndRecordToCloud(t *testing.T) {
	t.Parallel()
	cl := startCloud(t)
	m := newMember(t, cl.url())
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	cfg := pairedConfig(t, cl, "front", cam.URL("cam"))

	p, hubErr, memberErr := pair(t, cl.url(), cfg.Data, m)
	if hubErr != nil || memberErr != nil {
		t.Fatalf("pairing: hub %v, member %v", hubErr, memberErr)
	}
	if p.HouseholdID != m.st.HouseholdID {
		t.Fatalf("paired with %s, want %s", p.HouseholdID, m.st.HouseholdID)
	}
	h := startHub(t, cfg, Options{UploadMinBackoff: 100 * time.Millisecond, UploadMaxBackoff: time.Second})
	waitFor(t, "segments in the cloud", 30*time.Second, func() bool {
		objs, _ := m.c.Objects(context.Background(), m.st.HouseholdID, "front", time.Time{}, time.Time{})
		return len(objs) >= 3
	})
	h.Close()
	// The member opens what the hub uploaded, with its own device keys,
	// trusting the hub only because the verified chain lists it.
	st, err := member.VerifiedChain(context.Background(), m.c, m.st.HouseholdID, m.genesis)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := st.EpochIdentities(m.keys)
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := m.c.Objects(context.Background(), m.st.HouseholdID, "front", time.Time{}, time.Time{})
	b, err := m.c.ReadObject(context.Background(), m.st.HouseholdID, objs[0].Key, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := envelope.Open(b, st.TrustedHubs(), ids...); err != nil {
		t.Fatalf("the member cannot open the hub's upload: %v", err)
	}
}

// tamperingRelay forwards to the cloud and flips one byte of one pairing
// message on its way (which: "msg1", "msg2" or "msg3").
func tamperingRelay(t *testing.T, cloudURL, which string) string {
	t.Helper()
	target, _ := url.Parse(cloudURL)
	var done atomic.Bool
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, target.String()+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		req.Host = r.Host // a relay in the path keeps the Host the devices signed
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(502)
			return
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		// msg1 and msg3 are read by the member (signed in), msg2 by the hub.
		readByMember := strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ")
		if r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/v1/pairings/") && resp.StatusCode == 200 && !done.Load() &&
			readByMember == (which != "msg2") {
			var p map[string]any
			json.Unmarshal(out, &p)
			msgs, _ := p["msgs"].([]any)
			idx := map[string]int{"msg1": 0, "msg2": 1, "msg3": 2}[which]
			if len(msgs) > idx {
				var raw []byte
				s, _ := msgs[idx].(string)
				raw, _ = base64.StdEncoding.DecodeString(s)
				raw[len(raw)/2] ^= 0x01
				msgs[idx] = base64.StdEncoding.EncodeToString(raw)
				out, _ = json.Marshal(p)
				done.Store(true)
			}
		}
		for k, v := range resp.Header {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(out)
	}))
	t.Cleanup(hs.Close)
	return hs.URL
}

// TestPairingThroughTamperingRelay: a relay that alters any of the three
// pairing messages makes the pairing fail, and leaves no half-paired state:
// the hub pins nothing and the household's chain has no hub.
func TestPairingThroughTamperingRelay(t *testing.T) {
	t.Parallel()
	cl := startCloud(t)
	for _, which := range []string{"msg1", "msg2", "msg3"} {
		t.Run(which, func(t *testing.T) {
			m := newMember(t, cl.url())
			dir := t.TempDir()
			_, hubErr, memberErr := pair(t, tamperingRelay(t, cl.url(), which), dir, m)
			if hubErr == nil && memberErr == nil {
				t.Fatal("pairing succeeded through a relay that altered a message")
			}
			t.Logf("hub: %v; member: %v", hubErr, memberErr)
			for _, f := range []string{HouseholdFile, ChainFile} {
				if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the hub kept %s after a failed pairing", f)
				}
			}
			st, err := member.VerifiedChain(context.Background(), m.c, m.st.HouseholdID, m.genesis)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Hubs()) != 0 {
				t.Errorf("the household gained a hub from a failed pairing: %v", st.Hubs())
			}
		})
	}
}

// TestGhostDeviceRefused (G4): a device inserted straight into the cloud's
// store — a link the household's admins never signed — is refused by the
// hub and by the member's device; the hub keeps sealing to the epoch the
// real chain set.
func TestGhostDeviceRefused(t *testing.T) {
	t.Parallel()
	cl := startCloud(t)
	m := newMember(t, cl.url())
	cfg := hubConfig(t, "", map[string]string{}, time.Second)
	if _, hubErr, memberErr := pair(t, cl.url(), cfg.Data, m); hubErr != nil || memberErr != nil {
		t.Fatalf("pairing: %v %v", hubErr, memberErr)
	}
	p, err := LoadPaired(cfg.Data)
	if err != nil || p == nil {
		t.Fatalf("pinned household: %v %v", p, err)
	}
	hh, err := openHousehold(cfg.Data, p, householdOptions{Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	before := hh.current()
	epochBefore := before.EpochRecipient().String()

	// The operator (or an attacker inside the cloud) forges a link: a new
	// admin device, "signed" by a key that is not an admin of the chain,
	// with a fresh epoch it controls.
	ghost, _ := keydir.NewDeviceKeys()
	forgedState := before.Clone()
	forged, err := ghostLink(forgedState, m.keys, ghost)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.st.AppendLink(context.Background(), store.Link{HouseholdID: p.HouseholdID, Seq: before.Seq + 1,
		Hash: keydir.LinkHash(forged), Data: forged, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	dc := &client.Client{BaseURL: cl.url(), HTTP: http.DefaultClient, DeviceID: keydir.DeviceID(mustHubPub(t, cfg.Data)), DeviceKey: mustHubKey(t, cfg.Data)}
	if err := hh.refresh(context.Background(), dc); err == nil {
		t.Fatal("the hub accepted a chain with a ghost device")
	}
	if got := hh.current().EpochRecipient().String(); got != epochBefore {
		t.Fatal("the hub's sealing key changed after a refused chain")
	}
	if _, err := member.VerifiedChain(context.Background(), m.c, m.st.HouseholdID, m.genesis); err == nil {
		t.Fatal("the member's device accepted a chain with a ghost device")
	}
	// A tampered cloud serving another household's chain is refused too.
	other := newMember(t, cl.url())
	if _, err := member.VerifiedChain(context.Background(), other.c, other.st.HouseholdID, m.genesis); err == nil {
		t.Fatal("a chain from another genesis was accepted")
	}
}

// ghostLink forges a link adding ghost as an admin device: it takes a link
// an admin signed for some other device and swaps in the ghost's keys, as
// someone with write access to the cloud's database could. The admin's
// signature no longer covers it.
func ghostLink(st *keydir.State, admin *keydir.DeviceKeys, ghost *keydir.DeviceKeys) ([]byte, error) {
	decoy, _ := keydir.NewDeviceKeys()
	link, err := st.AddDevice(admin, decoy.Public(keydir.RoleAdmin, "ghost"), time.Now())
	if err != nil {
		return nil, err
	}
	d, g := decoy.Public(keydir.RoleAdmin, "ghost"), ghost.Public(keydir.RoleAdmin, "ghost")
	link = bytes.ReplaceAll(link, d.SignPub, g.SignPub)
	link = bytes.ReplaceAll(link, d.BoxPub, g.BoxPub)
	link = bytes.ReplaceAll(link, []byte(d.ID), []byte(g.ID))
	if bytes.Contains(link, d.SignPub) || !bytes.Contains(link, g.SignPub) {
		return nil, errors.New("could not swap the keys in the link")
	}
	return link, nil
}

func mustHubKey(t *testing.T, dir string) []byte {
	k, _, err := keydir.LoadOrCreateSigner(dir)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustHubPub(t *testing.T, dir string) []byte {
	pub, err := keydir.ReadSignerPublic(dir)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// TestStoreAndForward: the cloud is away for 60 s while the hub records;
// afterwards every segment the hub stored is in the cloud exactly once, with
// the same bytes.
func TestStoreAndForward(t *testing.T) {
	t.Parallel()
	cl := startCloud(t)
	m := newMember(t, cl.url())
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "cam")
	cfg := pairedConfig(t, cl, "front", cam.URL("cam"))
	if _, hubErr, memberErr := pair(t, cl.url(), cfg.Data, m); hubErr != nil || memberErr != nil {
		t.Fatalf("pairing: %v %v", hubErr, memberErr)
	}
	h := startHub(t, cfg, Options{UploadMinBackoff: 200 * time.Millisecond, UploadMaxBackoff: 2 * time.Second})
	waitFor(t, "the first uploads", 30*time.Second, func() bool {
		objs, _ := m.c.Objects(context.Background(), m.st.HouseholdID, "", time.Time{}, time.Time{})
		return len(objs) >= 2
	})
	addr := cl.addr
	cl.stop()
	down := len(listSegs(t, h, "front"))
	time.Sleep(60 * time.Second)
	during := len(listSegs(t, h, "front"))
	if during-down < 20 {
		t.Errorf("the hub stored only %d segments while the cloud was away", during-down)
	}
	cl.start(addr)
	time.Sleep(3 * time.Second) // record a little more after the return
	recorded := listSegs(t, h, "front")
	inCloud := func() map[uint64]client.Object {
		objs, err := m.c.Objects(context.Background(), m.st.HouseholdID, "", time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[uint64]client.Object{}
		for _, o := range objs {
			if _, dup := out[o.Seq]; dup {
				t.Fatalf("segment %d is in the cloud twice", o.Seq)
			}
			out[o.Seq] = o
		}
		return out
	}
	waitFor(t, "the backlog to drain", 90*time.Second, func() bool {
		got := inCloud()
		for _, s := range recorded {
			if _, ok := got[s.Seq]; !ok {
				return false
			}
		}
		return true
	})
	h.Close()
	local := map[uint64]segstore.Segment{}
	for _, s := range segsOf(t, cfg.Data) {
		local[s.Seq] = s
	}
	for seq, o := range inCloud() {
		s, ok := local[seq]
		if !ok {
			t.Fatalf("the cloud has segment %d, which the hub never stored", seq)
		}
		want, err := os.ReadFile(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.c.ReadObject(context.Background(), m.st.HouseholdID, o.Key, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("segment %d: the cloud's bytes differ from the hub's", seq)
		}
		if sum := sha256.Sum256(want); o.SHA256 != hexString(sum[:]) {
			t.Errorf("segment %d: index hash differs", seq)
		}
	}
	t.Logf("%d segments recorded (%d while the cloud was away), every one in the cloud once with equal bytes", len(recorded), during-down)
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

func segsOf(t *testing.T, dir string) []segstore.Segment {
	t.Helper()
	st, err := segstore.OpenReadOnly(context.Background(), dir, segstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	segs, err := st.List(context.Background(), segstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

// TestMemberRefusesRollback: a cloud that serves an older prefix of the
// chain (which would bring back a removed device's epoch) is refused by a
// member device that remembers the last link it verified.
func TestMemberRefusesRollback(t *testing.T) {
	t.Parallel()
	cl := startCloud(t)
	m := newMember(t, cl.url())
	ctx := context.Background()
	// Two more links: a second device joins, then is removed (new epoch).
	phone, _ := keydir.NewDeviceKeys()
	for _, build := range []func(*keydir.State) ([]byte, error){
		func(st *keydir.State) ([]byte, error) {
			return st.AddDevice(m.keys, phone.Public(keydir.RoleMember, "phone"), time.Now())
		},
		func(st *keydir.State) ([]byte, error) { return st.RemoveDevice(m.keys, phone.ID(), time.Now()) },
	} {
		link, err := build(m.st)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.c.AppendLink(ctx, m.st.HouseholdID, link); err != nil {
			t.Fatal(err)
		}
		if err := m.st.Apply(link); err != nil {
			t.Fatal(err)
		}
	}
	known := &member.Known{Seq: m.st.Seq, Head: m.st.Head}
	if _, err := member.VerifiedChainSince(ctx, m.c, m.st.HouseholdID, m.genesis, known); err != nil {
		t.Fatalf("the real chain: %v", err)
	}
	// A cloud that drops the removal serves a chain that verifies on its
	// own, with the removed phone still a member.
	target, _ := url.Parse(cl.url())
	relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, target.String()+r.URL.RequestURI(), r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(502)
			return
		}
		defer resp.Body.Close()
		if !strings.HasSuffix(r.URL.Path, "/chain") {
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			io.Copy(w, resp.Body)
			return
		}
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		if links, ok := body["links"].([]any); ok && len(links) > 1 {
			body["links"] = links[:len(links)-1]
			body["log_index"] = body["log_index"].([]any)[:len(links)-1]
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		json.NewEncoder(w).Encode(body)
	}))
	defer relay.Close()
	rc := client.New(relay.URL)
	rc.Token = m.c.Token
	old, err := member.VerifiedChain(ctx, rc, m.st.HouseholdID, m.genesis)
	if err != nil || old.Devices[phone.ID()].ID == "" {
		t.Fatalf("the truncated chain should verify on its own with the phone in it: %v", err)
	}
	if _, err := member.VerifiedChainSince(ctx, rc, m.st.HouseholdID, m.genesis, known); !errors.Is(err, member.ErrRollback) {
		t.Fatalf("rolled-back chain: %v, want ErrRollback", err)
	}
}
