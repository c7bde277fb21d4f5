package cloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"vigil/internal/client"
)

func accountID(t *testing.T, c *client.Client) string {
	t.Helper()
	status, b, err := c.Raw(context.Background(), "GET", "/v1/account", nil)
	var a struct {
		ID string `json:"account_id"`
	}
	if err != nil || status != 200 || json.Unmarshal(b, &a) != nil {
		t.Fatalf("GET /v1/account: %d %v %s", status, err, b)
	}
	return a.ID
}

func useLink(t *testing.T, url, token string) (int, *http.Cookie, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"token": token})
	resp, err := http.Post(url+"/v1/sessions/link", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct{ CSRF string }
	json.NewDecoder(resp.Body).Decode(&s)
	for _, c := range resp.Cookies() {
		if c.Name == "vigil_session" {
			return resp.StatusCode, c, s.CSRF
		}
	}
	return resp.StatusCode, nil, s.CSRF
}

// TestSignInLink: a link signs in as a browser session once; a used,
// expired or other kind of token does not.
func TestSignInLink(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	ctx := context.Background()
	id := accountID(t, alice.c)
	tok, err := e.srv.SignInLink(ctx, id, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	status, cookie, csrf := useLink(t, e.url, tok)
	if status != 200 || cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || csrf == "" {
		t.Fatalf("first use: %d cookie %+v csrf set %v", status, cookie, csrf != "")
	}
	req, _ := http.NewRequest("GET", e.url+"/v1/account", nil)
	req.AddCookie(cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("the link's session cannot read the account: %d", resp.StatusCode)
	}
	if status, c, _ := useLink(t, e.url, tok); status != 401 || c != nil {
		t.Errorf("second use of a link: %d (cookie %v), want 401 and no session", status, c != nil)
	}

	// Expired.
	old, _ := e.srv.SignInLink(ctx, id, time.Minute)
	e.clock.Add(2 * time.Minute)
	if status, _, _ := useLink(t, e.url, old); status != 401 {
		t.Errorf("expired link: %d, want 401", status)
	}
	// Other tokens are not links: the API token, the session cookie, junk.
	for name, v := range map[string]string{"api token": alice.c.Token, "session": cookie.Value, "junk": "vgl_nope", "empty": ""} {
		if status, _, _ := useLink(t, e.url, v); status != 401 && status != 400 {
			t.Errorf("%s as a link: %d, want 401", name, status)
		}
	}
	if _, err := e.srv.SignInLink(ctx, "a-nobody", time.Minute); err == nil {
		t.Error("a link for an account that does not exist")
	}
}
