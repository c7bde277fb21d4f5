package cloud_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/blob"
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
	"vigil/internal/devauth"
	"vigil/internal/envelope"
	"vigil/internal/history"
	"vigil/internal/keydir"
	vmember "vigil/internal/member"
	"vigil/internal/vigiltest"
)

// b32 decodes TOTP secrets as authenticator apps take them (no padding).
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// clock is a settable clock shared by the server and the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t      testing.TB
	srv    *cloud.Server
	url    string
	dir    string
	st     store.Store
	clock  *clock
	outbox string
}

var testArgon = auth.Argon2Params{Memory: 1024, Time: 1, Threads: 1}

func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "cloud.db"), store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvOn(t, dir, st)
}

// newEnvOn is newEnv over the store st, with the rest under dir.
func newEnvOn(t testing.TB, dir string, st store.Store) *env {
	t.Helper()
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	return newEnvOpts(t, dir, st, cloud.Options{Blobs: blobs})
}

// newEnvOpts is newEnvOn with o (its Blobs set) as the Server's options.
func newEnvOpts(t testing.TB, dir string, st store.Store, o cloud.Options) *env {
	t.Helper()
	clk := &clock{t: time.Now()}
	outbox := filepath.Join(dir, "outbox")
	o.Store, o.Logger, o.Now = st, vigiltest.Logger(t), clk.Now
	o.Mailer, o.Argon2, o.PublicURL = cloud.OutboxMailer{Dir: outbox}, testArgon, "http://vigil.test"
	srv, err := cloud.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &env{t: t, srv: srv, url: hs.URL, dir: dir, st: st, clock: clk, outbox: outbox}
}

// history returns the household's records as member m's device verifies
// them in the log (everything recorded so far is published first).
func (e *env) history(m *member, st *keydir.State) []history.Verified {
	e.t.Helper()
	if err := e.srv.SyncLog(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	rep, err := vmember.VerifiedHistory(context.Background(), m.c, st.HouseholdID, st.GenesisHash, m.keys, e.clock.Now)
	if err != nil {
		e.t.Fatal(err)
	}
	return rep.Records
}

// member is a person with an account and one enrolled device.
type member struct {
	email, password string
	totp            []byte
	c               *client.Client
	keys            *keydir.DeviceKeys
}

func (e *env) signUp(email string) *member {
	e.t.Helper()
	m := &member{email: email, password: "correct horse battery staple"}
	c := client.New(e.url)
	res, err := c.SignUp(context.Background(), email, m.password)
	if err != nil {
		e.t.Fatal(err)
	}
	m.totp = decodeB32(e.t, res.TOTPSecret)
	if _, err := c.SignIn(context.Background(), email, m.password, auth.TOTPCode(m.totp, e.clock.Now())); err != nil {
		e.t.Fatal(err)
	}
	e.clock.Add(31 * time.Second) // the next sign-in needs a fresh code
	m.c = c
	if m.keys, err = keydir.NewDeviceKeys(); err != nil {
		e.t.Fatal(err)
	}
	return m
}

func decodeB32(t testing.TB, s string) []byte {
	t.Helper()
	b, err := b32.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// household creates a household whose first admin device is m's.
func (e *env) household(m *member, name string) *keydir.State {
	e.t.Helper()
	genesis, _, st, err := keydir.NewHousehold(name, m.keys, "laptop", e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := m.c.CreateHousehold(context.Background(), genesis); err != nil {
		e.t.Fatal(err)
	}
	return st
}

// addHub adds a hub device to the household and returns a client signing
// as it.
func (e *env) addHub(m *member, st *keydir.State) (*client.Client, ed25519.PrivateKey) {
	e.t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub := key.Public().(ed25519.PublicKey)
	link, err := st.AddHub(m.keys, keydir.DeviceKey{ID: keydir.DeviceID(pub), Role: keydir.RoleHub, Name: "hub", SignPub: pub}, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := m.c.AppendLink(context.Background(), st.HouseholdID, link); err != nil {
		e.t.Fatal(err)
	}
	if err := st.Apply(link); err != nil {
		e.t.Fatal(err)
	}
	return &client.Client{BaseURL: e.url, HTTP: http.DefaultClient, DeviceID: keydir.DeviceID(pub), DeviceKey: key}, key
}

// seal makes a sealed segment as a hub would.
func seal(t *testing.T, hub ed25519.PrivateKey, st *keydir.State, camera string, seq uint64, start time.Time, size int) []byte {
	t.Helper()
	plain := make([]byte, size)
	rand.Read(plain)
	b, err := envelope.Seal(envelope.Header{Kind: envelope.KindSegment, Stream: camera, Sequence: seq, Start: start, Epoch: uint32(st.Epoch)},
		start.Add(4*time.Second), hub, plain, st.EpochRecipient())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUploadListReadOpen(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hub, hubKey := e.addHub(alice, st)
	ctx := context.Background()
	start := time.Unix(1_800_000_000, 0).UTC()
	var sealed [][]byte
	for i := range 3 {
		b := seal(t, hubKey, st, "front", uint64(i), start.Add(time.Duration(i)*4*time.Second), 100_000)
		sealed = append(sealed, b)
		key, created, err := hub.Upload(ctx, b)
		if err != nil || !created {
			t.Fatalf("upload %d: %v created=%v", i, err, created)
		}
		// Re-sending the same object is harmless.
		if key2, created, err := hub.Upload(ctx, b); err != nil || created || key2 != key {
			t.Fatalf("re-upload %d: %v created=%v", i, err, created)
		}
	}
	// Other bytes under the same hub/camera/seq are refused.
	if _, _, err := hub.Upload(ctx, seal(t, hubKey, st, "front", 1, start, 1000)); !client.IsStatus(err, 409) {
		t.Errorf("conflicting upload: %v", err)
	}
	objs, err := alice.c.Objects(ctx, st.HouseholdID, "front", time.Time{}, time.Time{})
	if err != nil || len(objs) != 3 {
		t.Fatalf("objects: %v %v", objs, err)
	}
	ids, err := st.EpochIdentities(alice.keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range objs {
		b, err := alice.c.ReadObject(ctx, st.HouseholdID, o.Key, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, sealed[i]) {
			t.Fatalf("object %d: bytes differ", i)
		}
		if _, _, _, err := envelope.Open(b, st.TrustedHubs(), ids...); err != nil {
			t.Fatalf("member cannot open object %d: %v", i, err)
		}
	}
	// HTTP Range.
	req, _ := http.NewRequest("GET", e.url+"/v1/households/"+st.HouseholdID+"/objects/"+objs[0].Key, nil)
	req.Header.Set("Authorization", "Bearer "+alice.c.Token)
	req.Header.Set("Range", "bytes=100-199")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	part := new(bytes.Buffer)
	part.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || !bytes.Equal(part.Bytes(), sealed[0][100:200]) {
		t.Errorf("range: %d, %d bytes", resp.StatusCode, part.Len())
	}
	// Every read above is in the household's verified history.
	reads := int64(0)
	for _, r := range e.history(alice, st) {
		if r.Action == "object.read" && r.Actor.ID == alice.accountID(t) {
			reads += r.Count
		}
	}
	if reads != 4 {
		t.Errorf("%d object reads in the history, want 4", reads)
	}
}

// Bad device requests: an altered body, a replayed request, an object sealed
// by another key, a device that is not in the chain.
func TestUploadRefusals(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	hub, hubKey := e.addHub(alice, st)
	start := time.Unix(1_800_000_000, 0).UTC()
	good := seal(t, hubKey, st, "front", 0, start, 5000)

	put := func(body, signed []byte, key ed25519.PrivateKey, id string) (int, string) {
		req, _ := http.NewRequest("PUT", e.url+"/v1/objects", bytes.NewReader(body))
		if key != nil {
			if err := devauth.Sign(req, signed, id, key, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]string
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m["error"]
	}
	altered := append([]byte(nil), good...)
	altered[len(altered)/2] ^= 1
	if code, msg := put(altered, good, hubKey, hub.DeviceID); code != 401 {
		t.Errorf("body altered after signing: %d %s", code, msg)
	}
	if code, msg := put(altered, altered, hubKey, hub.DeviceID); code != 422 {
		t.Errorf("object altered (request signed): %d %s", code, msg)
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	if code, msg := put(seal(t, otherKey, st, "front", 9, start, 100), nil, nil, ""); code != 401 {
		t.Errorf("unsigned request: %d %s", code, msg)
	}
	forged := seal(t, otherKey, st, "front", 9, start, 100)
	if code, msg := put(forged, forged, hubKey, hub.DeviceID); code != 422 {
		t.Errorf("object signed by another key: %d %s", code, msg)
	}
	ghostID := keydir.DeviceID(otherKey.Public().(ed25519.PublicKey))
	if code, msg := put(forged, forged, otherKey, ghostID); code != 401 {
		t.Errorf("device not in the chain: %d %s", code, msg)
	}
	// A captured request replayed verbatim.
	req, _ := http.NewRequest("PUT", e.url+"/v1/objects", bytes.NewReader(good))
	devauth.Sign(req, good, hub.DeviceID, hubKey, time.Now())
	hdr := req.Header.Get("Authorization")
	for i, want := range []int{201, 401} {
		r2, _ := http.NewRequest("PUT", e.url+"/v1/objects", bytes.NewReader(good))
		r2.Header.Set("Authorization", hdr)
		resp, err := http.DefaultClient.Do(r2)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("request %d of a replay: %d, want %d", i, resp.StatusCode, want)
		}
	}
}

// G3: the e-mail address grants nothing. Someone who controls the inbox and
// does every reset the product allows cannot sign in without the second
// factor — and even with the account in hand cannot decrypt a segment or
// add a device to the household.
func TestEmailGrantsNothing(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	_, hubKey := e.addHub(alice, st)
	hub, _ := e.addHubClient(hubKey)
	ctx := context.Background()
	if _, _, err := hub.Upload(ctx, seal(t, hubKey, st, "front", 0, time.Unix(1_800_000_000, 0), 50_000)); err != nil {
		t.Fatal(err)
	}

	mallory := client.New(e.url)
	// The password alone is refused, as is a wrong code.
	for _, code := range []string{"", "000000", "12345", "abcdef"} {
		if _, err := mallory.SignIn(ctx, alice.email, alice.password, code); !client.IsStatus(err, 401) {
			t.Errorf("sign-in with password and code %q: %v", code, err)
		}
	}
	e.clock.Add(10 * time.Minute) // past any backoff those failures earned
	// Reset through the inbox.
	if status, _, _ := mallory.Raw(ctx, "POST", "/v1/account/reset", []byte(`{"email":"alice@example.com"}`)); status != 202 {
		t.Fatalf("reset start: %d", status)
	}
	token := readResetToken(t, e.outbox)
	for _, code := range []string{"", "123456"} {
		body, _ := json.Marshal(map[string]string{"token": token, "totp": code, "new_password": "mallory's new password"})
		if status, b, _ := mallory.Raw(ctx, "POST", "/v1/account/reset/confirm", body); status != 403 {
			t.Errorf("reset confirm without the second factor (%q): %d %s", code, status, b)
		}
	}
	if _, err := mallory.SignIn(ctx, alice.email, "mallory's new password", auth.TOTPCode(alice.totp, e.clock.Now())); err == nil {
		t.Fatal("the password was changed without the second factor")
	}

	// Worst case: the attacker also has the second factor and completes the
	// reset. Account access, yes; footage, no.
	e.clock.Add(31 * time.Second)
	body, _ := json.Marshal(map[string]string{"token": token, "totp": auth.TOTPCode(alice.totp, e.clock.Now()), "new_password": "mallory's new password"})
	if status, b, _ := mallory.Raw(ctx, "POST", "/v1/account/reset/confirm", body); status != 200 {
		t.Fatalf("reset with both factors: %d %s", status, b)
	}
	if _, err := alice.c.Households(ctx); !client.IsStatus(err, 401) {
		t.Errorf("alice's old token still works after the reset: %v", err)
	}
	e.clock.Add(31 * time.Second)
	if _, err := mallory.SignIn(ctx, alice.email, "mallory's new password", auth.TOTPCode(alice.totp, e.clock.Now())); err != nil {
		t.Fatal(err)
	}
	objs, err := mallory.Objects(ctx, st.HouseholdID, "", time.Time{}, time.Time{})
	if err != nil || len(objs) != 1 {
		t.Fatalf("objects: %v %v", objs, err)
	}
	sealed, err := mallory.ReadObject(ctx, st.HouseholdID, objs[0].Key, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	links, _, err := mallory.ChainIndexed(ctx, st.HouseholdID, 0)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := keydir.Verify(links, st.GenesisHash)
	if err != nil {
		t.Fatal(err)
	}
	malloryKeys, _ := keydir.NewDeviceKeys()
	if ids, err := chain.EpochIdentities(malloryKeys); err == nil && len(ids) > 0 {
		t.Fatal("a device that is not in the chain got epoch keys")
	}
	// Every key the attacker could make opens nothing.
	stranger, _ := envelope.GenerateX25519Identity()
	if _, _, _, err := envelope.Open(sealed, chain.TrustedHubs(), stranger, malloryKeys.Box); !errors.Is(err, envelope.ErrIncorrectIdentity) {
		t.Fatalf("opening with the attacker's keys: %v", err)
	}
	// Adding the attacker's device to the household: the link must be signed
	// by an admin device, which the account does not have.
	// The chain code will not even make that link ...
	if _, err := chain.AddDevice(malloryKeys, malloryKeys.Public(keydir.RoleAdmin, "mallory"), e.clock.Now()); err == nil {
		t.Fatal("keydir made a link signed by a device that is not in the chain")
	}
	// ... and one made by an admin device, then altered, is refused.
	link, err := chain.AddDevice(alice.keys, malloryKeys.Public(keydir.RoleAdmin, "mallory"), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	link[len(link)-1] ^= 1
	if err := mallory.AppendLink(ctx, st.HouseholdID, link); !client.IsStatus(err, 422) {
		t.Fatalf("ghost device link: %v", err)
	}
	// The recovery phrase is the only other way in; the cloud never had it.
	if _, err := chain.RecoveryIdentities("0000-0000-0000-0000-0000-0000-0000-0000"); err == nil {
		t.Error("a made-up recovery phrase was accepted")
	}
}

func (e *env) addHubClient(key ed25519.PrivateKey) (*client.Client, error) {
	pub := key.Public().(ed25519.PublicKey)
	return &client.Client{BaseURL: e.url, HTTP: http.DefaultClient, DeviceID: keydir.DeviceID(pub), DeviceKey: key}, nil
}

var tokenRE = regexp.MustCompile(`Reset token: (\S+)`)

func readResetToken(t *testing.T, outbox string) string {
	t.Helper()
	es, err := os.ReadDir(outbox)
	if err != nil || len(es) == 0 {
		t.Fatalf("no mail in the outbox: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(outbox, es[len(es)-1].Name()))
	if err != nil {
		t.Fatal(err)
	}
	m := tokenRE.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no reset token in the mail:\n%s", b)
	}
	return string(m[1])
}

// Abuse: 100 wrong passwords get rate limited with growing waits; the right
// password afterwards still needs the second factor.
func TestSignInRateLimit(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	ctx := context.Background()
	c := client.New(e.url)
	var limited int
	var longest, first time.Duration
	for i := range 100 {
		_, err := c.SignIn(ctx, alice.email, "wrong password "+string(rune('a'+i%26)), "123456")
		var ae *client.Error
		if !errors.As(err, &ae) {
			t.Fatalf("attempt %d: %v", i, err)
		}
		switch ae.Status {
		case 401:
		case 429:
			limited++
			longest = max(longest, ae.RetryAfter)
			if first == 0 {
				first = ae.RetryAfter
			}
		default:
			t.Fatalf("attempt %d: %v", i, err)
		}
		e.clock.Add(200 * time.Millisecond)
	}
	if limited < 80 {
		t.Errorf("only %d of 100 wrong passwords were rate limited", limited)
	}
	if longest < 8*first {
		t.Errorf("waits from %v to %v; backoff does not grow", first, longest)
	}
	t.Logf("%d of 100 refused with 429, longest Retry-After %v", limited, longest)
	// While limited, even the right password waits.
	if _, err := c.SignIn(ctx, alice.email, alice.password, auth.TOTPCode(alice.totp, e.clock.Now())); !client.IsStatus(err, 429) {
		t.Errorf("right password during backoff: %v", err)
	}
	e.clock.Add(time.Hour)
	if _, err := c.SignIn(ctx, alice.email, alice.password, ""); !client.IsStatus(err, 401) {
		t.Errorf("right password without the code: %v", err)
	}
	e.clock.Add(time.Hour)
	if _, err := c.SignIn(ctx, alice.email, alice.password, auth.TOTPCode(alice.totp, e.clock.Now())); err != nil {
		t.Errorf("right password and code after the wait: %v", err)
	}
}

// Cross-tenant matrix: a member of household A calls every route with every
// ID of household B and gets only 404s, byte-identical to those for random
// IDs.
func TestCrossTenant(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	bob := e.signUp("bob@example.com")
	stA := e.household(alice, "A")
	stB := e.household(bob, "B")
	_, hubB := e.addHub(bob, stB)
	hubBClient, _ := e.addHubClient(hubB)
	ctx := context.Background()
	key, _, err := hubBClient.Upload(ctx, seal(t, hubB, stB, "front", 0, time.Unix(1_800_000_000, 0), 1000))
	if err != nil {
		t.Fatal(err)
	}
	_ = stA
	randomHH := "h" + strings.Repeat("7", 31)
	randomKey := randomHH + "/d7777/front/0000000000000000"
	ids := map[string][2]string{ // name -> {B's ID, a random one}
		"hh":  {stB.HouseholdID, randomHH},
		"key": {key, randomKey},
	}
	bodies := map[string]string{
		"POST /v1/households/{hh}/chain":   `{"link":"AAAA"}`,
		"POST /v1/households/{hh}/members": `{"email":"alice@example.com","role":"admin"}`,
	}
	var reference []byte
	tested := 0
	for _, route := range e.srv.Routes() {
		method, pattern, _ := strings.Cut(route, " ")
		if !strings.Contains(pattern, "{hh}") {
			continue
		}
		for variant := range 2 {
			path := pattern
			path = strings.ReplaceAll(path, "{hh}", ids["hh"][variant])
			path = strings.ReplaceAll(path, "{key...}", ids["key"][variant])
			var body []byte
			if b, ok := bodies[route]; ok {
				body = []byte(b)
			}
			status, got, err := alice.c.Raw(ctx, method, path, body)
			if err != nil {
				t.Fatal(err)
			}
			if status != 404 {
				t.Errorf("%s as a member of A with %s: %d %s", route, []string{"B's IDs", "random IDs"}[variant], status, got)
			}
			if reference == nil {
				reference = got
			} else if !bytes.Equal(got, reference) {
				t.Errorf("%s: answer %q differs from %q", route, got, reference)
			}
			tested++
		}
	}
	// B's object key under A's household: still not found.
	if status, got, _ := alice.c.Raw(ctx, "GET", "/v1/households/"+stA.HouseholdID+"/objects/"+key, nil); status != 404 || !bytes.Equal(got, reference) {
		t.Errorf("B's object through A's household: %d %s", status, got)
	}
	if tested < 14 {
		t.Errorf("only %d route calls tested", tested)
	}
}

// Malformed requests get a 4xx that names the problem, never a 500.
func TestMalformedRequests(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	st := e.household(alice, "Home")
	ctx := context.Background()
	cases := []struct {
		method, path, body string
		status             int
		msg                string
	}{
		{"POST", "/v1/accounts", `{"email":"x@example.com","password":"short"}`, 400, "password"},
		{"POST", "/v1/accounts", `{"email":"not an address","password":"long enough password"}`, 400, "e-mail"},
		{"POST", "/v1/accounts", `{"email":"x@example.com","password":"long enough password","admin":true}`, 400, "unknown field"},
		{"POST", "/v1/accounts", `{"email":"x@example.com"} {}`, 400, "trailing"},
		{"POST", "/v1/accounts", `{"email":`, 400, "malformed"},
		{"POST", "/v1/accounts", ``, 400, "empty"},
		{"POST", "/v1/accounts", `{"email":42}`, 400, "email"},
		{"POST", "/v1/sessions", `{"email":"x@example.com","password":"p","totp":"1","type":"admin"}`, 400, "type"},
		{"POST", "/v1/households", `{"genesis":"AAAA"}`, 422, "genesis"},
		{"POST", "/v1/households/" + st.HouseholdID + "/chain", `{"link":"AAAA"}`, 422, "link"},
		{"GET", "/v1/households/" + st.HouseholdID + "/objects?from=yesterday", "", 400, "from"},
		{"POST", "/v1/pairings", `{"id":"../../etc","msg":"AA=="}`, 400, "id"},
		{"POST", "/v1/accounts", `{"email":"x@example.com","password":"` + strings.Repeat("a", 300<<10) + `"}`, 413, "limit"},
	}
	for _, c := range cases {
		var body []byte
		if c.body != "" || c.method == "POST" {
			body = []byte(c.body)
		}
		status, got, err := alice.c.Raw(ctx, c.method, c.path, body)
		if err != nil {
			t.Fatal(err)
		}
		if status != c.status || !strings.Contains(strings.ToLower(string(got)), c.msg) {
			t.Errorf("%s %s %.60q: %d %s, want %d mentioning %q", c.method, c.path, c.body, status, got, c.status, c.msg)
		}
	}
}

// FuzzRequests sends arbitrary bodies to every JSON route, signed in: the
// answer is never a 500.
func FuzzRequests(f *testing.F) {
	for _, s := range []string{`{}`, `{"email":"a@b.c","password":"0123456789a"}`, `{"genesis":"AAAA"}`, `{"step":1,"msg":"AA==","household_id":"x"}`, `[`, "\x00", `{"link":null}`} {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, body string, which uint8) {
		fe := fuzzEnv(t)
		routes := []string{"POST /v1/accounts", "POST /v1/sessions", "POST /v1/account/reset", "POST /v1/account/reset/confirm",
			"POST /v1/households", "POST /v1/households/{hh}/chain", "POST /v1/pairings", "POST /v1/pairings/{id}/messages"}
		r := routes[int(which)%len(routes)]
		method, path, _ := strings.Cut(r, " ")
		path = strings.ReplaceAll(path, "{hh}", fe.hh)
		path = strings.ReplaceAll(path, "{id}", strings.Repeat("ab", 16))
		status, got, err := fe.c.Raw(context.Background(), method, path, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if status >= 500 {
			t.Fatalf("%s with %q: %d %s", r, body, status, got)
		}
	})
}

type fuzzState struct {
	c  *client.Client
	hh string
}

var (
	fuzzOnce sync.Once
	fuzzS    fuzzState
)

// fuzzEnv is one server shared by every fuzz input (set up once).
func fuzzEnv(t *testing.T) fuzzState {
	fuzzOnce.Do(func() {
		dir, _ := os.MkdirTemp("", "vigil-fuzz-cloud-")
		st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "cloud.db"), store.SQLiteOptions{})
		if err != nil {
			panic(err)
		}
		blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"), blob.DirOptions{})
		if err != nil {
			panic(err)
		}
		srv, err := cloud.New(cloud.Options{Store: st, Blobs: blobs, Argon2: testArgon})
		if err != nil {
			panic(err)
		}
		hs := httptest.NewServer(srv.Handler())
		c := client.New(hs.URL)
		res, err := c.SignUp(context.Background(), "fuzz@example.com", "fuzz password 123")
		if err != nil {
			panic(err)
		}
		secret, _ := b32.DecodeString(res.TOTPSecret)
		if _, err := c.SignIn(context.Background(), "fuzz@example.com", "fuzz password 123", auth.TOTPCode(secret, time.Now())); err != nil {
			panic(err)
		}
		k, _ := keydir.NewDeviceKeys()
		g, _, hst, _ := keydir.NewHousehold("fuzz", k, "d", time.Now())
		if _, err := c.CreateHousehold(context.Background(), g); err != nil {
			panic(err)
		}
		fuzzS = fuzzState{c: c, hh: hst.HouseholdID}
	})
	return fuzzS
}

// Browser sessions: the cookie is HttpOnly and SameSite=Strict, and a
// state-changing request without the session's CSRF token is refused. API
// tokens are limited to their scopes.
func TestSessionsAndScopes(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	ctx := context.Background()
	body, _ := json.Marshal(map[string]string{"email": alice.email, "password": alice.password,
		"totp": auth.TOTPCode(alice.totp, e.clock.Now()), "type": "browser"})
	resp, err := http.Post(e.url+"/v1/sessions", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var sess struct{ CSRF string }
	json.NewDecoder(resp.Body).Decode(&sess)
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "vigil_session" {
			cookie = c
		}
	}
	if resp.StatusCode != 200 || cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || sess.CSRF == "" {
		t.Fatalf("browser sign-in: %d cookie %+v csrf %q", resp.StatusCode, cookie, sess.CSRF)
	}
	k, _ := keydir.NewDeviceKeys()
	genesis, _, _, _ := keydir.NewHousehold("Home", k, "browser", e.clock.Now())
	create, _ := json.Marshal(map[string]any{"genesis": genesis})
	do := func(method, path string, body []byte, csrf string) int {
		req, _ := http.NewRequest(method, e.url+path, bytes.NewReader(body))
		req.AddCookie(cookie)
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do("GET", "/v1/account", nil, ""); got != 200 {
		t.Errorf("GET with the cookie: %d", got)
	}
	if got := do("POST", "/v1/households", create, ""); got != 403 {
		t.Errorf("POST without the CSRF token: %d", got)
	}
	if got := do("POST", "/v1/households", create, "forged"); got != 403 {
		t.Errorf("POST with a wrong CSRF token: %d", got)
	}
	if got := do("POST", "/v1/households", create, sess.CSRF); got != 201 {
		t.Errorf("POST with the CSRF token: %d", got)
	}
	if got := do("DELETE", "/v1/sessions/current", nil, sess.CSRF); got != 200 {
		t.Errorf("sign out: %d", got)
	}
	if got := do("GET", "/v1/account", nil, ""); got != 401 {
		t.Errorf("GET after sign-out: %d", got)
	}

	// A read-only API token.
	e.clock.Add(31 * time.Second)
	body, _ = json.Marshal(map[string]any{"email": alice.email, "password": alice.password,
		"totp": auth.TOTPCode(alice.totp, e.clock.Now()), "type": "api", "scopes": []string{"read"}})
	status, got, _ := client.New(e.url).Raw(ctx, "POST", "/v1/sessions", body)
	var tok struct{ Token string }
	json.Unmarshal(got, &tok)
	if status != 200 || tok.Token == "" {
		t.Fatalf("read-only token: %d %s", status, got)
	}
	ro := client.New(e.url)
	ro.Token = tok.Token
	if _, err := ro.Households(ctx); err != nil {
		t.Errorf("read with a read-only token: %v", err)
	}
	if _, err := ro.CreateHousehold(ctx, genesis); !client.IsStatus(err, 403) {
		t.Errorf("write with a read-only token: %v", err)
	}
}

// BenchmarkUpload measures the whole upload path in process (HTTP, device
// signature, public verification, blob and index writes with fsync) for
// 128 KiB segments from 16 parallel hubs. Run with -benchtime=Nx: the
// segments are sealed before the timer starts.
func BenchmarkUpload(b *testing.B) {
	e := newEnv(b)
	alice := e.signUp("bench@example.com")
	st := e.household(alice, "Home")
	const hubs = 16
	clients := make([]*client.Client, hubs)
	keys := make([]ed25519.PrivateKey, hubs)
	for i := range clients {
		clients[i], keys[i] = e.addHub(alice, st)
	}
	plain := make([]byte, 128<<10)
	start := time.Unix(1_800_000_000, 0)
	type job struct {
		hub    int
		sealed []byte
	}
	jobs := make(chan job, b.N)
	for i := range b.N {
		h := i % hubs
		sealed, err := envelope.Seal(envelope.Header{Kind: envelope.KindSegment, Stream: "cam", Sequence: uint64(i), Start: start.Add(time.Duration(i) * 4 * time.Second)},
			start.Add(time.Duration(i+1)*4*time.Second), keys[h], plain, st.EpochRecipient())
		if err != nil {
			b.Fatal(err)
		}
		jobs <- job{h, sealed}
	}
	close(jobs)
	b.SetBytes(int64(len(plain)))
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			j := <-jobs
			if _, _, err := clients[j.hub].Upload(context.Background(), j.sealed); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// An admin adds another account; it then reads the household's objects (and
// only with a device in the chain could it open them). A plain member
// cannot add accounts.
func TestAddMember(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	bob := e.signUp("bob@example.com")
	carol := e.signUp("carol@example.com")
	st := e.household(alice, "Home")
	ctx := context.Background()
	hh := "/v1/households/" + st.HouseholdID
	if status, _, _ := bob.c.Raw(ctx, "GET", hh+"/objects", nil); status != 404 {
		t.Fatalf("bob before: %d", status)
	}
	add := func(m *member, email string) []byte {
		return body(e.action(m.keys, st.HouseholdID, history.MemberAddParams{Email: email, Role: "member"}))
	}
	if status, b, _ := alice.c.Raw(ctx, "POST", hh+"/members", add(alice, "bob@example.com")); status != 201 {
		t.Fatalf("add bob: %d %s", status, b)
	}
	if status, b, _ := bob.c.Raw(ctx, "GET", hh+"/objects", nil); status != 200 {
		t.Fatalf("bob after: %d %s", status, b)
	}
	if status, _, _ := bob.c.Raw(ctx, "POST", hh+"/members", add(bob, "carol@example.com")); status != 403 {
		t.Errorf("a member added an account: %d", status)
	}
	if status, b, _ := alice.c.Raw(ctx, "POST", hh+"/members", add(alice, "nobody@example.com")); status != 404 || !strings.Contains(string(b), "sign up") {
		t.Errorf("unknown e-mail: %d %s", status, b)
	}
	_ = carol
}
