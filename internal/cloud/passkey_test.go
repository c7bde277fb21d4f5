package cloud_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"vigil/internal/blob"
	"vigil/internal/client"
	"vigil/internal/cloud"
	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
	"vigil/internal/vigiltest"
	"vigil/internal/webauthntest"
)

var b64 = base64.RawURLEncoding

// softAuthenticator answers ceremonies as a browser's platform
// authenticator does (webauthntest).
type softAuthenticator = webauthntest.Authenticator

func newSoftAuthenticator(t *testing.T, rpID, origin string) *softAuthenticator {
	a, err := webauthntest.New(rpID, origin)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

type ceremonyJSON struct {
	Ceremony string `json:"ceremony"`
	Options  struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	} `json:"options"`
}

// create answers a registration ceremony.
func create(t *testing.T, a *softAuthenticator, c ceremonyJSON) []byte {
	t.Helper()
	b, err := a.Create(c.Options.PublicKey.User.ID, c.Options.PublicKey.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// get answers a sign-in ceremony.
func get(t *testing.T, a *softAuthenticator, c ceremonyJSON) []byte {
	t.Helper()
	b, err := a.Get(c.Options.PublicKey.Challenge)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func call(t *testing.T, c *client.Client, method, path string, body []byte) (int, []byte) {
	t.Helper()
	status, got, err := c.Raw(context.Background(), method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, got
}

func post(t *testing.T, c *client.Client, path string, body []byte) (int, []byte) {
	t.Helper()
	return call(t, c, "POST", path, body)
}

func begin(t *testing.T, c *client.Client, path string, body string) ceremonyJSON {
	t.Helper()
	status, got := post(t, c, path, []byte(body))
	if status != 200 {
		t.Fatalf("%s: %d %s", path, status, got)
	}
	var cj ceremonyJSON
	if err := json.Unmarshal(got, &cj); err != nil || cj.Ceremony == "" || cj.Options.PublicKey.Challenge == "" {
		t.Fatalf("%s: %v %s", path, err, got)
	}
	return cj
}

// registerPasskey adds a passkey to m's account.
func registerPasskey(t *testing.T, m *member, a *softAuthenticator) {
	t.Helper()
	cj := begin(t, m.c, "/v1/passkeys/register/begin", "{}")
	if status, got := post(t, m.c, "/v1/passkeys/register/finish?ceremony="+cj.Ceremony, create(t, a, cj)); status != 201 {
		t.Fatalf("register finish: %d %s", status, got)
	}
}

// passkeyLogin signs in with a; beginBody is the login/begin request and
// mutate, if set, changes the assertion before it is sent.
func passkeyLogin(t *testing.T, c *client.Client, a *softAuthenticator, beginBody string, mutate func([]byte) []byte) (int, []byte) {
	t.Helper()
	cj := begin(t, c, "/v1/passkeys/login/begin", beginBody)
	resp := get(t, a, cj)
	if mutate != nil {
		resp = mutate(resp)
	}
	return post(t, c, "/v1/passkeys/login/finish?ceremony="+cj.Ceremony, resp)
}

// wantRefused checks a 4xx answer whose message contains each of want.
func wantRefused(t *testing.T, what string, status int, got []byte, wantStatus int, want ...string) {
	t.Helper()
	t.Logf("%s: %d %s", what, status, bytes.TrimSpace(got))
	if status != wantStatus {
		t.Errorf("%s: %d %s, want %d", what, status, got, wantStatus)
		return
	}
	for _, w := range want {
		if !strings.Contains(string(got), w) {
			t.Errorf("%s: %s, want it to say %q", what, got, w)
		}
	}
}

// TestPasskeys: a signed-in account adds a passkey, which then signs in on
// its own; wrong origins, other relying parties, replays, forged signatures,
// a counter going backwards and someone else's passkey are refused.
func TestPasskeys(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	bob := e.signUp("bob@example.com")
	anon := client.New(e.url)
	status, got := post(t, anon, "/v1/passkeys/register/begin", []byte("{}"))
	wantRefused(t, "registering without signing in", status, got, 401, "sign-in required")
	key := newSoftAuthenticator(t, "vigil.test", "http://vigil.test")
	registerPasskey(t, alice, key)

	login := func(a *softAuthenticator, mutate func([]byte) []byte) (int, []byte) {
		return passkeyLogin(t, anon, a, `{"type":"api"}`, mutate)
	}
	// No password, no code: the passkey alone.
	status, got = login(key, nil)
	if status != 200 {
		t.Fatalf("passkey sign-in: %d %s", status, got)
	}
	var tok struct {
		AccountID string `json:"account_id"`
		Token     string `json:"token"`
	}
	json.Unmarshal(got, &tok)
	c := client.New(e.url)
	c.Token = tok.Token
	if status, acct := call(t, c, "GET", "/v1/account", nil); status != 200 || !bytes.Contains(acct, []byte("alice@example.com")) {
		t.Fatalf("the passkey's token: %d %s", status, acct)
	}

	// The same answer twice: the ceremony is used up, and a new ceremony has
	// a new challenge.
	cj := begin(t, anon, "/v1/passkeys/login/begin", `{"type":"api"}`)
	resp := get(t, key, cj)
	if status, got := post(t, anon, "/v1/passkeys/login/finish?ceremony="+cj.Ceremony, resp); status != 200 {
		t.Fatalf("sign-in: %d %s", status, got)
	}
	status, got = post(t, anon, "/v1/passkeys/login/finish?ceremony="+cj.Ceremony, resp)
	wantRefused(t, "replayed to a used ceremony", status, got, 400, "already used")
	cj2 := begin(t, anon, "/v1/passkeys/login/begin", `{"type":"api"}`)
	status, got = post(t, anon, "/v1/passkeys/login/finish?ceremony="+cj2.Ceremony, resp)
	wantRefused(t, "replayed to a new challenge", status, got, 401, "passkey sign-in failed", "challenge")

	phish := *key
	phish.Origin = "https://vigil-login.example"
	status, got = login(&phish, nil)
	wantRefused(t, "wrong origin", status, got, 401, "passkey sign-in failed", "origin")
	key.Count = phish.Count
	otherRP := *key
	otherRP.RPID = "example.com"
	status, got = login(&otherRP, nil)
	wantRefused(t, "another relying party", status, got, 401, "passkey sign-in failed", "RP")
	key.Count = otherRP.Count
	forged := func(b []byte) []byte {
		var m map[string]any
		json.Unmarshal(b, &m)
		r := m["response"].(map[string]any)
		sig, _ := b64.DecodeString(r["signature"].(string))
		sig[len(sig)-1] ^= 1
		r["signature"] = b64.EncodeToString(sig)
		out, _ := json.Marshal(m)
		return out
	}
	status, got = login(key, forged)
	wantRefused(t, "forged signature", status, got, 401, "passkey sign-in failed", "signature does not verify")
	// Bob's passkey presented as Alice's (user handle swapped).
	bobKey := newSoftAuthenticator(t, "vigil.test", "http://vigil.test")
	registerPasskey(t, bob, bobKey)
	bobHandle := bobKey.UserHandle
	bobKey.UserHandle = key.UserHandle
	status, got = login(bobKey, nil)
	wantRefused(t, "another account's passkey", status, got, 401, "passkey sign-in failed", "credential")
	// Alice's credential under Bob's user handle.
	swapped := *key
	swapped.UserHandle = bobHandle
	status, got = login(&swapped, nil)
	wantRefused(t, "a passkey under another account's user handle", status, got, 401, "passkey sign-in failed")
	key.Count = swapped.Count
	// Possession alone is one factor: without user verification, refused.
	noUV := *key
	noUV.NoUV = true
	status, got = login(&noUV, nil)
	wantRefused(t, "no user verification", status, got, 401, "passkey sign-in failed", "verify the user")
	// A cloned authenticator: its counter is behind the one last seen.
	clone := *key
	clone.Count = 0
	status, got = login(&clone, nil)
	wantRefused(t, "counter going backwards", status, got, 401, "passkey sign-in failed", "counter went backwards")
	key.Count = noUV.Count
	// The real one still works.
	if status, got := login(key, nil); status != 200 {
		t.Errorf("the genuine passkey after the clone was refused: %d %s", status, got)
	}
}

// newEnvWith is newEnv with adjusted server options. The server's
// PublicURL is its own httptest address (http://127.0.0.1:port) unless
// adjust changes it.
func newEnvWith(t *testing.T, adjust func(o *cloud.Options)) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "cloud.db"), store.SQLiteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvWithOn(t, dir, st, adjust)
}

// newEnvWithOn is newEnvWith over the store st, with the rest under dir.
func newEnvWithOn(t *testing.T, dir string, st store.Store, adjust func(o *cloud.Options)) *env {
	t.Helper()
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	hs := httptest.NewUnstartedServer(nil)
	url := "http://" + hs.Listener.Addr().String()
	clk := &clock{t: time.Now()}
	outbox := filepath.Join(dir, "outbox")
	o := cloud.Options{Store: st, Blobs: blobs, Logger: vigiltest.Logger(t), Now: clk.Now,
		Mailer: cloud.OutboxMailer{Dir: outbox}, Argon2: testArgon, PublicURL: url}
	if adjust != nil {
		adjust(&o)
	}
	srv, err := cloud.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs.Config.Handler = srv.Handler()
	hs.Start()
	t.Cleanup(hs.Close)
	return &env{t: t, srv: srv, url: url, dir: dir, st: st, clock: clk, outbox: outbox}
}

// A service on a loopback address (the default public URL of `vigil cloud`)
// is the relying party "localhost", reachable from its own origin and from
// localhost on the same port; other origins are refused. A public URL that
// is another IP address turns passkeys off with a hint, and an explicit
// relying party that WebAuthn refuses stops the server from starting.
func TestPasskeyRelyingParty(t *testing.T) {
	e := newEnvWith(t, nil)
	if !strings.HasPrefix(e.url, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want a loopback address", e.url)
	}
	alice := e.signUp("alice@example.com")
	key := newSoftAuthenticator(t, "localhost", e.url)
	registerPasskey(t, alice, key)
	anon := client.New(e.url)
	if status, got := passkeyLogin(t, anon, key, `{"type":"api"}`, nil); status != 200 {
		t.Fatalf("passkey sign-in from %s: %d %s", key.Origin, status, got)
	}
	_, port, _ := strings.Cut(strings.TrimPrefix(e.url, "http://"), ":")
	viaName := *key
	viaName.Origin = "http://localhost:" + port
	if status, got := passkeyLogin(t, anon, &viaName, `{"type":"api"}`, nil); status != 200 {
		t.Fatalf("passkey sign-in from %s: %d %s", viaName.Origin, status, got)
	}
	key.Count = viaName.Count
	otherPort := *key
	otherPort.Origin = "http://127.0.0.1:1"
	status, got := passkeyLogin(t, anon, &otherPort, `{"type":"api"}`, nil)
	wantRefused(t, "another port", status, got, 401, "origin")
	ipAsRP := *key
	ipAsRP.Count = otherPort.Count
	ipAsRP.RPID = "127.0.0.1"
	status, got = passkeyLogin(t, anon, &ipAsRP, `{"type":"api"}`, nil)
	wantRefused(t, "the address as relying party", status, got, 401, "RP")

	off := newEnvWith(t, func(o *cloud.Options) { o.PublicURL = "https://192.0.2.7" })
	status, got = post(t, client.New(off.url), "/v1/passkeys/login/begin", []byte(`{"type":"api"}`))
	wantRefused(t, "passkeys with an IP address as public URL", status, got, 501, "domain name", "hint")

	_, err := cloud.New(cloud.Options{Store: e.st, Blobs: blobDir(t), RPID: "127.0.0.1", RPOrigins: []string{"http://127.0.0.1"}})
	if err == nil || !strings.Contains(err.Error(), "RPID") {
		t.Errorf("New with an IP address as RPID: %v, want an error naming RPID", err)
	}
	if _, err := cloud.New(cloud.Options{Store: e.st, Blobs: blobDir(t), RPID: "vigil.example"}); err == nil {
		t.Error("New with an RPID, no origins and no public URL succeeded")
	}
	custom := newEnvWith(t, func(o *cloud.Options) {
		o.PublicURL, o.RPID, o.RPOrigins = "https://api.vigil.example", "vigil.example", []string{"https://app.vigil.example"}
	})
	bob := custom.signUp("bob@example.com")
	app := newSoftAuthenticator(t, "vigil.example", "https://app.vigil.example")
	registerPasskey(t, bob, app)
	if status, got := passkeyLogin(t, client.New(custom.url), app, `{"type":"api"}`, nil); status != 200 {
		t.Errorf("passkey sign-in from a configured origin: %d %s", status, got)
	}
}

func blobDir(t *testing.T) blob.Store {
	t.Helper()
	b, err := blob.OpenDir(filepath.Join(t.TempDir(), "blobs"), blob.DirOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// login/begin with an e-mail address answers the same for an address with
// an account, one without and none; the ceremony then only signs in that
// account, and one begun for an unknown address fails exactly like a known
// address with someone else's passkey.
func TestPasskeyEmail(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	bob := e.signUp("bob@example.com")
	key := newSoftAuthenticator(t, "vigil.test", "http://vigil.test")
	registerPasskey(t, alice, key)
	bobKey := newSoftAuthenticator(t, "vigil.test", "http://vigil.test")
	registerPasskey(t, bob, bobKey)
	anon := client.New(e.url)

	// The answers differ only in the random ceremony ID and challenge.
	random := regexp.MustCompile(`"(ceremony|challenge)":"[A-Za-z0-9_-]+"`)
	var reference []byte
	for _, body := range []string{
		`{"type":"api","email":"alice@example.com"}`,
		`{"type":"api","email":"nobody@example.com"}`,
		`{"type":"api","email":"  Alice@Example.com "}`,
		`{"type":"api"}`,
	} {
		status, got := post(t, anon, "/v1/passkeys/login/begin", []byte(body))
		if status != 200 {
			t.Fatalf("login/begin %s: %d %s", body, status, got)
		}
		got = random.ReplaceAll(got, []byte(`"$1":"x"`))
		if reference == nil {
			reference = got
		} else if !bytes.Equal(got, reference) {
			t.Errorf("login/begin %s answers\n%s\nunlike\n%s", body, got, reference)
		}
	}
	status, got := post(t, anon, "/v1/passkeys/login/begin", []byte(`{"type":"api","email":"not an address"}`))
	wantRefused(t, "malformed address", status, got, 400, "e-mail")

	if status, got := passkeyLogin(t, anon, key, `{"type":"api","email":"alice@example.com"}`, nil); status != 200 {
		t.Fatalf("sign-in naming the passkey's account: %d %s", status, got)
	}
	// Alice's genuine passkey, with a ceremony for Bob and one for nobody;
	// and a response without a user handle.
	noHandle := func(b []byte) []byte {
		var m map[string]any
		json.Unmarshal(b, &m)
		delete(m["response"].(map[string]any), "userHandle")
		out, _ := json.Marshal(m)
		return out
	}
	var answers [][]byte
	for _, email := range []string{"bob@example.com", "nobody@example.com"} {
		for _, mutate := range []func([]byte) []byte{nil, noHandle} {
			status, got := passkeyLogin(t, anon, key, `{"type":"api","email":"`+email+`"}`, mutate)
			wantRefused(t, "alice's passkey for "+email, status, got, 401, "passkey sign-in failed", "account named")
			answers = append(answers, got)
		}
	}
	for i := range answers {
		if !bytes.Equal(answers[i], answers[0]) {
			t.Errorf("refusals differ: %s vs %s", answers[i], answers[0])
		}
	}
}

// Registration ceremonies belong to the account that began them and are
// used once; a passkey registers once; owners list and remove their
// passkeys, and a removed passkey no longer signs in; nobody else can see or
// remove them.
func TestPasskeyManagement(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	bob := e.signUp("bob@example.com")
	key := newSoftAuthenticator(t, "vigil.test", "http://vigil.test")

	cj := begin(t, alice.c, "/v1/passkeys/register/begin", "{}")
	status, got := post(t, bob.c, "/v1/passkeys/register/finish?ceremony="+cj.Ceremony, create(t, key, cj))
	wantRefused(t, "bob finishing alice's registration", status, got, 400, "begin again")
	status, got = post(t, alice.c, "/v1/passkeys/register/finish?ceremony="+cj.Ceremony, create(t, key, cj))
	wantRefused(t, "finishing a registration a second time", status, got, 400, "begin again")
	lj := begin(t, alice.c, "/v1/passkeys/login/begin", `{"type":"api"}`)
	status, got = post(t, alice.c, "/v1/passkeys/register/finish?ceremony="+lj.Ceremony, create(t, key, lj))
	wantRefused(t, "a sign-in ceremony used to register", status, got, 400, "begin again")
	cj = begin(t, alice.c, "/v1/passkeys/register/begin", "{}")
	e.clock.Add(6 * time.Minute)
	status, got = post(t, alice.c, "/v1/passkeys/register/finish?ceremony="+cj.Ceremony, create(t, key, cj))
	wantRefused(t, "an expired registration", status, got, 400, "expired")
	cj = begin(t, alice.c, "/v1/passkeys/register/begin", "{}")
	wrongOrigin := *key
	wrongOrigin.Origin = "https://evil.example"
	status, got = post(t, alice.c, "/v1/passkeys/register/finish?ceremony="+cj.Ceremony, create(t, &wrongOrigin, cj))
	wantRefused(t, "registration from another origin", status, got, 400, "registration refused", "origin")

	registerPasskey(t, alice, key)
	cj = begin(t, alice.c, "/v1/passkeys/register/begin", "{}")
	status, got = post(t, alice.c, "/v1/passkeys/register/finish?ceremony="+cj.Ceremony, create(t, key, cj))
	wantRefused(t, "the same passkey again", status, got, 409, "already registered")
	cj = begin(t, bob.c, "/v1/passkeys/register/begin", "{}")
	status, got = post(t, bob.c, "/v1/passkeys/register/finish?ceremony="+cj.Ceremony, create(t, key, cj))
	wantRefused(t, "alice's passkey registered by bob", status, got, 409, "already registered")
	key.UserHandle = []byte(alice.accountID(t))

	// A read-only API token cannot add a passkey.
	ro := apiToken(t, e, alice, `["read"]`)
	status, got = post(t, ro, "/v1/passkeys/register/begin", []byte("{}"))
	wantRefused(t, "a read-only token adding a passkey", status, got, 403, "scope")

	var list struct {
		Passkeys []struct {
			ID       string    `json:"id"`
			Created  time.Time `json:"created"`
			LastUsed time.Time `json:"last_used"`
		} `json:"passkeys"`
	}
	status, got = call(t, alice.c, "GET", "/v1/passkeys", nil)
	if json.Unmarshal(got, &list); status != 200 || len(list.Passkeys) != 1 || list.Passkeys[0].ID != b64.EncodeToString(key.CredID) {
		t.Fatalf("alice's passkeys: %d %s", status, got)
	}
	if status, got := call(t, bob.c, "GET", "/v1/passkeys", nil); status != 200 || !bytes.Equal(got, []byte(`{"passkeys":[]}`+"\n")) {
		t.Errorf("bob's passkeys: %d %s", status, got)
	}
	id := list.Passkeys[0].ID
	_, notFound := call(t, bob.c, "DELETE", "/v1/passkeys/"+b64.EncodeToString([]byte("no such passkey")), nil)
	for _, path := range []string{"/v1/passkeys/" + id, "/v1/passkeys/not*base64"} {
		status, got := call(t, bob.c, "DELETE", path, nil)
		if status != 404 || !bytes.Equal(got, notFound) {
			t.Errorf("bob: DELETE %s: %d %s, want the answer for a missing passkey %s", path, status, got, notFound)
		}
	}
	anon := client.New(e.url)
	if status, got := passkeyLogin(t, anon, key, `{"type":"api"}`, nil); status != 200 {
		t.Fatalf("alice's passkey after bob's attempts: %d %s", status, got)
	}
	if status, got := call(t, alice.c, "DELETE", "/v1/passkeys/"+id, nil); status != 200 {
		t.Fatalf("alice removing her passkey: %d %s", status, got)
	}
	status, got = passkeyLogin(t, anon, key, `{"type":"api"}`, nil)
	wantRefused(t, "a removed passkey", status, got, 401, "passkey sign-in failed")
}

func (m *member) accountID(t *testing.T) string {
	t.Helper()
	_, got := call(t, m.c, "GET", "/v1/account", nil)
	var a struct {
		AccountID string `json:"account_id"`
	}
	if err := json.Unmarshal(got, &a); err != nil || a.AccountID == "" {
		t.Fatalf("account: %s", got)
	}
	return a.AccountID
}

// apiToken signs m in with password and code for a token with the scopes.
func apiToken(t *testing.T, e *env, m *member, scopes string) *client.Client {
	t.Helper()
	e.clock.Add(31 * time.Second)
	body := `{"email":"` + m.email + `","password":"` + m.password + `","totp":"` + totpNow(e, m) + `","type":"api","scopes":` + scopes + `}`
	status, got := post(t, client.New(e.url), "/v1/sessions", []byte(body))
	var tok struct{ Token string }
	if json.Unmarshal(got, &tok); status != 200 || tok.Token == "" {
		t.Fatalf("sign-in: %d %s", status, got)
	}
	c := client.New(e.url)
	c.Token = tok.Token
	return c
}

// A passkey sign-in of type "browser" gives the same session as the password
// one: an HttpOnly, SameSite=Strict cookie and a CSRF token that state
// changes need.
func TestPasskeyBrowserSession(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	key := newSoftAuthenticator(t, "vigil.test", "http://vigil.test")
	registerPasskey(t, alice, key)
	cj := begin(t, client.New(e.url), "/v1/passkeys/login/begin", `{"type":"browser"}`)
	resp, err := http.Post(e.url+"/v1/passkeys/login/finish?ceremony="+cj.Ceremony, "application/json", bytes.NewReader(get(t, key, cj)))
	if err != nil {
		t.Fatal(err)
	}
	var sess struct {
		CSRF  string `json:"csrf"`
		Token string `json:"token"`
	}
	json.NewDecoder(resp.Body).Decode(&sess)
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "vigil_session" {
			cookie = c
		}
	}
	if resp.StatusCode != 200 || cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || sess.CSRF == "" || sess.Token != "" {
		t.Fatalf("browser passkey sign-in: %d cookie %+v %+v", resp.StatusCode, cookie, sess)
	}
	do := func(method, path, csrf string) int {
		req, _ := http.NewRequest(method, e.url+path, nil)
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
	if got := do("GET", "/v1/passkeys", ""); got != 200 {
		t.Errorf("GET with the cookie: %d", got)
	}
	if got := do("DELETE", "/v1/passkeys/"+b64.EncodeToString(key.CredID), ""); got != 403 {
		t.Errorf("DELETE without the CSRF token: %d", got)
	}
	if got := do("DELETE", "/v1/sessions/current", sess.CSRF); got != 200 {
		t.Errorf("sign-out with the CSRF token: %d", got)
	}
	// Scopes are for API tokens only, as in POST /v1/sessions.
	status, got := post(t, client.New(e.url), "/v1/passkeys/login/begin", []byte(`{"type":"browser","scopes":["read"]}`))
	wantRefused(t, "scopes on a browser sign-in", status, got, 400, "scopes")
	status, got = post(t, client.New(e.url), "/v1/passkeys/login/begin", []byte(`{}`))
	wantRefused(t, "no type", status, got, 400, "type")
}

// The server's log of passkey ceremonies holds no ceremony ID, challenge,
// credential ID, signature or token.
func TestPasskeyLogsNoSecrets(t *testing.T) {
	var buf vigiltest.SyncBuffer
	e := newEnvWith(t, func(o *cloud.Options) {
		o.PublicURL = "http://vigil.test"
		o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(&buf, logWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	alice := e.signUp("alice@example.com")
	key := newSoftAuthenticator(t, "vigil.test", "http://vigil.test")
	anon := client.New(e.url)
	var secrets []string
	cj := begin(t, alice.c, "/v1/passkeys/register/begin", "{}")
	secrets = append(secrets, cj.Ceremony, cj.Options.PublicKey.Challenge)
	if status, got := post(t, alice.c, "/v1/passkeys/register/finish?ceremony="+cj.Ceremony, create(t, key, cj)); status != 201 {
		t.Fatalf("register: %d %s", status, got)
	}
	cj = begin(t, anon, "/v1/passkeys/login/begin", `{"type":"api"}`)
	resp := get(t, key, cj)
	status, got := post(t, anon, "/v1/passkeys/login/finish?ceremony="+cj.Ceremony, resp)
	if status != 200 {
		t.Fatalf("sign-in: %d %s", status, got)
	}
	var tok struct{ Token string }
	json.Unmarshal(got, &tok)
	var assertion struct {
		Response map[string]string `json:"response"`
	}
	json.Unmarshal(resp, &assertion)
	secrets = append(secrets, cj.Ceremony, cj.Options.PublicKey.Challenge, tok.Token, assertion.Response["signature"])
	clone := *key
	clone.Count = 0
	passkeyLogin(t, anon, &clone, `{"type":"api"}`, nil) // a warning is logged
	secrets = append(secrets, b64.EncodeToString(key.CredID), base64.StdEncoding.EncodeToString(key.CredID), hex.EncodeToString(key.CredID))
	out := buf.String()
	if !strings.Contains(out, "passkey added") || !strings.Contains(out, "counter went backwards") {
		t.Errorf("the log lacks the passkey events:\n%s", out)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("the log contains %q", s)
		}
	}
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

func totpNow(e *env, m *member) string { return auth.TOTPCode(m.totp, e.clock.Now()) }
