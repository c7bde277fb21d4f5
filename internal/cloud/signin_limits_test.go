package cloud_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"vigil/internal/cloud"
	"vigil/internal/cloud/accounts"
	"vigil/internal/cloud/auth"
)

// signInAs posts a sign-in through hc to base, as the client at xff (sent
// as X-Forwarded-For when not ""), with extra cookies; it returns the
// answer, its body closed.
func signInAs(t *testing.T, hc *http.Client, base, xff, email, password, code string, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password, "totp": code, "type": "browser"})
	req, err := http.NewRequest("POST", base+"/v1/sessions", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func setCookie(res *http.Response, match func(string) bool) *http.Cookie {
	for _, c := range res.Cookies() {
		if match(c.Name) {
			return c
		}
	}
	return nil
}

// The lock-out attack through the HTTP API: an outsider at another address
// fails on purpose for the owner's e-mail address, far past the old
// lock-out threshold (9). The outsider is refused (429, Retry-After); the
// owner's browser, with the device cookie its last sign-in set, signs in
// with password and code (200); cookies forged, changed or of another
// account get the outsider nothing; the outsider's further attempts stay
// limited.
func TestSignInLockoutSparesDeviceCookie(t *testing.T) {
	e := newEnvWith(t, func(o *cloud.Options) { o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	alice := e.signUp("alice@example.com")
	bob := e.signUp("bob@example.com")
	const ownerIP, attackerIP = "192.0.2.10", "203.0.113.66"

	jar, _ := cookiejar.New(nil)
	owner := &http.Client{Jar: jar}
	res := signInAs(t, owner, e.url, ownerIP, alice.email, alice.password, totpNow(e, alice))
	if res.StatusCode != 200 {
		t.Fatalf("owner's first sign-in: %d", res.StatusCode)
	}
	dev := setCookie(res, accounts.IsDeviceCookieName)
	if dev == nil || !dev.HttpOnly || dev.SameSite != http.SameSiteStrictMode || dev.Path != "/v1/sessions" ||
		dev.Secure || time.Until(dev.Expires) < 30*24*time.Hour {
		t.Fatalf("the sign-in's device cookie: %+v", dev)
	}
	if ck := setCookie(res, func(n string) bool { return n == "vigil_session" }); ck == nil || ck.Secure {
		t.Fatalf("session cookie on a plain-HTTP service: %+v", ck)
	}
	e.clock.Add(31 * time.Second)
	res = signInAs(t, http.DefaultClient, e.url, "192.0.2.11", bob.email, bob.password, totpNow(e, bob))
	bobDev := setCookie(res, accounts.IsDeviceCookieName)
	if res.StatusCode != 200 || bobDev == nil {
		t.Fatalf("bob's sign-in: %d, device cookie %v", res.StatusCode, bobDev)
	}

	attack := func(cookies ...*http.Cookie) *http.Response {
		t.Helper()
		res := signInAs(t, http.DefaultClient, e.url, attackerIP, alice.email, "a guess at the password", "123456", cookies...)
		if res.StatusCode != 401 && res.StatusCode != 429 {
			t.Fatalf("attacker's sign-in: %d", res.StatusCode)
		}
		if res.StatusCode == 429 {
			if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("a 429 with Retry-After %q", res.Header.Get("Retry-After"))
			}
		}
		return res
	}
	const n = 30
	failed, limited := 0, 0
	for range n {
		if attack().StatusCode == 429 {
			limited++
		} else {
			failed++
		}
		e.clock.Add(time.Second)
	}
	t.Logf("attacker, %d attempts one a second: %d answered 401, %d answered 429", n, failed, limited)
	if failed > accounts.AccountFreeFailures+5 {
		t.Errorf("%d of %d attempts reached the password check, want at most %d", failed, n, accounts.AccountFreeFailures+5)
	}
	if res := attack(); res.StatusCode != 429 {
		t.Fatalf("attacker after %d attempts: %d, want 429", n, res.StatusCode)
	}
	// Cookies that are not a valid device cookie of alice's: untrusted.
	changed := []byte(dev.Value)
	changed[5] ^= 1
	for name, c := range map[string]*http.Cookie{
		"changed":              {Name: dev.Name, Value: string(changed)},
		"bob's, under alice's": {Name: dev.Name, Value: bobDev.Value},
		"bob's":                bobDev,
		"forged": {Name: dev.Name, Value: "v1." + strings.Repeat("A", 22) + "." +
			fmt.Sprint(e.clock.Now().Add(time.Hour).Unix()) + "." + strings.Repeat("A", 43)},
	} {
		if res := attack(c); res.StatusCode != 429 {
			t.Errorf("attacker with a %s device cookie: %d, want 429", name, res.StatusCode)
		}
	}
	// The owner, in a browser that never signed in, is refused too (while
	// the backoff window the attack opened lasts).
	if res := signInAs(t, http.DefaultClient, e.url, ownerIP, alice.email, alice.password, totpNow(e, alice)); res.StatusCode != 429 {
		t.Errorf("the owner's credentials from an untrusted browser during the attack: %d, want 429", res.StatusCode)
	}
	// The owner's browser, with its device cookie, signs in.
	e.clock.Add(31 * time.Second)
	if res := signInAs(t, owner, e.url, ownerIP, alice.email, alice.password, totpNow(e, alice)); res.StatusCode != 200 {
		t.Fatalf("the owner's browser with its device cookie during the attack: %d, want 200", res.StatusCode)
	}
	req, _ := http.NewRequest("GET", e.url+"/v1/account", nil)
	if res, err := owner.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("the owner's new session: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	// The attacker's further attempts stay limited: one every 5 s for
	// 15 min reaches the password check only as a backoff window ends.
	failed, limited = 0, 0
	for range 180 {
		if attack().StatusCode == 429 {
			limited++
		} else {
			failed++
		}
		e.clock.Add(5 * time.Second)
	}
	t.Logf("attacker, 180 more attempts over 15 min: %d answered 401, %d answered 429", failed, limited)
	if failed > 8 {
		t.Errorf("180 attempts over 15 min after the owner signed in: %d reached the password check, want at most 8", failed)
	}
}

// loopbackClient is an HTTP client whose connections come from the
// loopback address from (127.0.0.2, ...), as if from its own host; tls
// are the TLS settings (a test server's), or nil.
func loopbackClient(t *testing.T, from string, tlsFrom *http.Client) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	if tlsFrom != nil {
		tr.TLSClientConfig = tlsFrom.Transport.(*http.Transport).TLSClientConfig.Clone()
	}
	t.Cleanup(tr.CloseIdleConnections)
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: tr, Jar: jar}
}

// Behind a TLS-terminating reverse proxy (httputil.ReverseProxy serving
// HTTPS, in front of the cloud's plain HTTP): with public_url https and
// trusted_proxies naming the proxy, cookies are Secure, answers carry HSTS,
// every client behind the proxy has its own rate-limit bucket, and an
// X-Forwarded-For from a client, or from a peer that is not the proxy, is
// not believed.
func TestHardeningBehindTLSProxy(t *testing.T) {
	proxy := httptest.NewUnstartedServer(nil)
	public := "https://" + proxy.Listener.Addr().String()
	e := newEnvWith(t, func(o *cloud.Options) {
		o.PublicURL = public
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	target, _ := url.Parse(e.url)
	proxy.Config.Handler = httputil.NewSingleHostReverseProxy(target) // appends the peer to X-Forwarded-For
	proxy.StartTLS()
	t.Cleanup(proxy.Close)
	// Two clients, each on its own address; the proxy hears them there.
	a := loopbackClient(t, "127.0.0.2", proxy.Client())
	b := loopbackClient(t, "127.0.0.3", proxy.Client())

	// Sign-up and sign-in through the proxy.
	ctx := context.Background()
	body, _ := json.Marshal(map[string]string{"email": "alice@example.com", "password": "correct horse battery staple"})
	req, _ := http.NewRequestWithContext(ctx, "POST", public+"/v1/accounts", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	res, err := a.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up struct {
		TOTPSecret string `json:"totp_secret"`
	}
	json.NewDecoder(res.Body).Decode(&up)
	res.Body.Close()
	if res.StatusCode != 201 || up.TOTPSecret == "" {
		t.Fatalf("sign-up through the proxy: %d", res.StatusCode)
	}
	if hsts := res.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Errorf("answer through the TLS proxy without HSTS (%q)", hsts)
	}
	res = signInAs(t, a, public, "", "alice@example.com", "correct horse battery staple",
		auth.TOTPCode(decodeB32(t, up.TOTPSecret), e.clock.Now()))
	if res.StatusCode != 200 {
		t.Fatalf("sign-in through the proxy: %d", res.StatusCode)
	}
	sess := setCookie(res, func(n string) bool { return n == "vigil_session" })
	dev := setCookie(res, accounts.IsDeviceCookieName)
	if sess == nil || !sess.Secure || !sess.HttpOnly || dev == nil || !dev.Secure {
		t.Fatalf("cookies behind the TLS proxy: session %+v, device %+v; want both Secure", sess, dev)
	}
	req, _ = http.NewRequestWithContext(ctx, "GET", public+"/v1/account", nil)
	if res, err := a.Do(req); err != nil || res.StatusCode != 200 || res.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("the session through the proxy: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	// The cloud itself, on plain HTTP, marks cookies Secure too: the public
	// URL is what browsers see.
	if res := signInAs(t, http.DefaultClient, e.url, "", "alice@example.com", "wrong password!", "000000"); res.Header.Get("Strict-Transport-Security") == "" {
		t.Error("an answer of the service with an https public URL, heard over plain HTTP, without HSTS")
	}

	pairing := func(hc *http.Client, base, xff string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/pairings", strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 400 && res.StatusCode != 429 {
			t.Fatalf("pairing: %d", res.StatusCode)
		}
		return res.StatusCode
	}
	// Client a drains its bucket (the clock stands still: no refill), each
	// request naming another address of its own in X-Forwarded-For.
	allowed := 0
	for i := range 40 {
		if pairing(a, public, fmt.Sprintf("198.18.0.%d", i+1)) == 400 {
			allowed++
		}
	}
	if allowed == 40 || allowed < 20 {
		t.Fatalf("client a: %d of 40 requests through the proxy allowed; want its bucket drained after about 30", allowed)
	}
	if st := pairing(a, public, ""); st != 429 {
		t.Errorf("client a after draining its bucket: %d, want 429", st)
	}
	// Client b, behind the same proxy, has its own bucket.
	if st := pairing(b, public, ""); st != 400 {
		t.Errorf("client b through the same proxy: %d, want 400 (its own bucket)", st)
	}
	// A peer that is not a trusted proxy is its own address, whatever its
	// X-Forwarded-For says: client a straight to the cloud naming a fresh
	// address is still limited, a fresh peer naming a's address is not.
	if st := pairing(loopbackClient(t, "127.0.0.2", nil), e.url, "192.0.2.200"); st != 429 {
		t.Errorf("client a straight to the cloud with a spoofed X-Forwarded-For: %d, want 429 (a's bucket)", st)
	}
	if st := pairing(loopbackClient(t, "127.0.0.4", nil), e.url, "127.0.0.2"); st != 400 {
		t.Errorf("a fresh peer straight to the cloud claiming a's address: %d, want 400 (its own bucket)", st)
	}
}
