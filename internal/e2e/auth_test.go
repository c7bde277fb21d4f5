package e2e

import (
	"strings"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/cloud"
)

// TestPasskeyPages: on a localhost origin (the relying party), the account
// page registers a passkey in Chromium's virtual authenticator and the
// sign-in page signs in with it alone.
func TestPasskeyPages(t *testing.T) {
	c := startCloud(t, func(o *cloud.Options) {
		o.PublicURL = strings.Replace(o.PublicURL, "127.0.0.1", "localhost", 1)
	})
	var res struct {
		Passkeys, Credentials, SignedOutNav int
		Resident                            bool
		SignedInAs, NoPasskeyError          string
	}
	base := strings.Replace(c.url, "127.0.0.1", "localhost", 1)
	browsertest.Run(t, 2*time.Minute, "auth-passkey.mjs", map[string]string{"BASE_URL": base}, &res)
	if res.Passkeys != 1 || res.Credentials != 1 || !res.Resident {
		t.Errorf("after adding: %d listed, %d in the authenticator (resident %v)", res.Passkeys, res.Credentials, res.Resident)
	}
	if res.SignedOutNav != 0 {
		t.Errorf("the nav still shows an account after sign-out")
	}
	if res.SignedInAs != "pat@example.com" {
		t.Errorf("passkey sign-in: nav shows %q", res.SignedInAs)
	}
	if res.NoPasskeyError == "" {
		t.Errorf("no error without a passkey")
	}
}
