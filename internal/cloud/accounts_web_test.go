package cloud_test

import (
	"context"
	"encoding/json"
	"testing"

	"vigil/internal/client"
)

// TestSignInUnknownAddress: a sign-in to an address without an account is
// refused exactly as a wrong password is (401, the same bytes), so the
// answer does not say which addresses have accounts.
func TestSignInUnknownAddress(t *testing.T) {
	e := newEnv(t)
	alice := e.signUp("alice@example.com")
	c := client.New(e.url)
	try := func(email, password string) (int, string) {
		b, _ := json.Marshal(map[string]string{"type": "api", "email": email, "password": password, "totp": "123456"})
		status, body, err := c.Raw(context.Background(), "POST", "/v1/sessions", b)
		if err != nil {
			t.Fatal(err)
		}
		return status, string(body)
	}
	ws, wb := try(alice.email, "a wrong password, long enough")
	ns, nb := try("nobody@example.com", "a wrong password, long enough")
	if ws != 401 || ns != ws || nb != wb {
		t.Errorf("wrong password: %d %s; unknown address: %d %s; want the same 401", ws, wb, ns, nb)
	}
}
