package cloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"vigil/internal/client"
	"vigil/internal/cloud"
)

// staffPost posts body to path (with the staff cookie secret, when set)
// and returns the status, the body and the staff cookie it set.
func staffPost(t *testing.T, base, path string, body []byte) (int, []byte, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), "POST", base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	cookie := ""
	for _, c := range resp.Cookies() {
		if c.Name == cloud.StaffCookie {
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/staff/" {
				t.Errorf("staff cookie %+v: want HttpOnly, SameSite=Strict, path /staff/", c)
			}
			cookie = c.Value
		}
	}
	return resp.StatusCode, b.Bytes(), cookie
}

func staffBegin(t *testing.T, base, path, body string) ceremonyJSON {
	t.Helper()
	status, got, _ := staffPost(t, base, path, []byte(body))
	if status != 200 {
		t.Fatalf("%s: %d %s", path, status, got)
	}
	var cj ceremonyJSON
	if err := json.Unmarshal(got, &cj); err != nil || cj.Ceremony == "" {
		t.Fatalf("%s: %v %s", path, err, got)
	}
	return cj
}

// TestStaffPasskeys: staff enrol a passkey with the one-time secret and
// then sign in with it alone; the session opens staff routes. Account
// passkeys and ceremonies never sign staff in, staff ones never sign an
// account in, and a disabled staff member cannot sign in.
func TestStaffPasskeys(t *testing.T) {
	e := newEnv(t)
	id, secret, err := cloud.StaffAdd(e.srv, "Ada", "support")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "vigilenrol_nope", "vgs_" + secret} {
		b, _ := json.Marshal(map[string]string{"secret": bad})
		if status, got, _ := staffPost(t, e.url, "/staff/v1/enrol/begin", b); status != 400 && status != 410 {
			t.Errorf("enrol with %.16q: %d %s", bad, status, got)
		}
	}
	key := newSoftAuthenticator(t, "vigil.test", "http://vigil.test")
	enrol, _ := json.Marshal(map[string]string{"secret": secret})
	cj := staffBegin(t, e.url, "/staff/v1/enrol/begin", string(enrol))
	status, got, cookie := staffPost(t, e.url, "/staff/v1/enrol/finish?ceremony="+cj.Ceremony, key.create(t, cj))
	if status != 200 || cookie == "" || !strings.Contains(string(got), id) {
		t.Fatalf("enrol finish: %d %s", status, got)
	}
	var sess struct{ CSRF string }
	json.Unmarshal(got, &sess)
	if status, b := staffDo(t, e.url, "GET", "/staff/v1/me", cookie, sess.CSRF, nil); status != 200 || !strings.Contains(b, `"name":"Ada"`) {
		t.Fatalf("me after enrolment: %d %s", status, b)
	}
	if status, got, _ := staffPost(t, e.url, "/staff/v1/enrol/begin", enrol); status != 410 {
		t.Fatalf("the enrolment secret again: %d %s", status, got)
	}

	login := func(a *softAuthenticator) (int, []byte, string) {
		cj := staffBegin(t, e.url, "/staff/v1/login/begin", "{}")
		return staffPost(t, e.url, "/staff/v1/login/finish?ceremony="+cj.Ceremony, a.get(t, cj))
	}
	status, got, cookie = login(key)
	if status != 200 || cookie == "" {
		t.Fatalf("staff sign-in: %d %s", status, got)
	}
	json.Unmarshal(got, &sess)
	if status, b := staffDo(t, e.url, "GET", "/staff/v1/me", cookie, sess.CSRF, nil); status != 200 {
		t.Fatalf("me after sign-in: %d %s", status, b)
	}

	// An account's passkey does not sign staff in, nor a staff passkey an
	// account; neither kind of ceremony finishes as the other.
	alice := e.signUp("alice@example.com")
	akey := newSoftAuthenticator(t, "vigil.test", "http://vigil.test")
	registerPasskey(t, alice, akey)
	if status, got, cookie := login(akey); status != 401 || cookie != "" {
		t.Errorf("an account's passkey as staff: %d %s", status, got)
	}
	anon := client.New(e.url)
	if status, got := passkeyLogin(t, anon, key, `{"type":"api"}`, nil); status != 401 {
		t.Errorf("a staff passkey as an account: %d %s", status, got)
	}
	acj := begin(t, anon, "/v1/passkeys/login/begin", `{"type":"api"}`)
	if status, got, _ := staffPost(t, e.url, "/staff/v1/login/finish?ceremony="+acj.Ceremony, akey.get(t, acj)); status != 400 {
		t.Errorf("an account ceremony finished as staff: %d %s", status, got)
	}
	scj := staffBegin(t, e.url, "/staff/v1/login/begin", "{}")
	if status, got := post(t, anon, "/v1/passkeys/login/finish?ceremony="+scj.Ceremony, key.get(t, scj)); status != 400 {
		t.Errorf("a staff ceremony finished as an account: %d %s", status, got)
	}

	// Disabled: the passkey no longer signs in, and the session is gone.
	if err := cloud.StaffDisable(e.srv, id); err != nil {
		t.Fatal(err)
	}
	if status, b := staffDo(t, e.url, "GET", "/staff/v1/me", cookie, sess.CSRF, nil); status != 401 {
		t.Errorf("a disabled staff member's session: %d %s", status, b)
	}
	if status, got, cookie := login(key); status != 401 || cookie != "" {
		t.Errorf("a disabled staff member signs in: %d %s", status, got)
	}
}
