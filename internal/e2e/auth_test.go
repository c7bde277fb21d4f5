package e2e

import (
	"strings"
	"testing"
	"time"

	"vigil/internal/browsertest"
	"vigil/internal/cloud"
)

// TestPasskeyPages: sign-up shows the authenticator's QR code of the
// otpauth:// URI holding the key, with the key itself one tap away; on a
// localhost origin (the relying party), the account page registers a
// passkey in Chromium's virtual authenticator and the sign-in page signs in
// with it alone.
func TestPasskeyPages(t *testing.T) {
	c := startCloud(t, func(o *cloud.Options) {
		o.PublicURL = strings.Replace(o.PublicURL, "127.0.0.1", "localhost", 1)
	})
	var res struct {
		Passkeys, Credentials, SignedOutNav, QRModules int
		Resident, KeyHidden, URIHasKey                 bool
		SignedInAs, NoPasskeyError, TOTPURI            string
	}
	base := strings.Replace(c.url, "127.0.0.1", "localhost", 1)
	browsertest.Run(t, 2*time.Minute, "auth-passkey.mjs", map[string]string{"BASE_URL": base}, &res)
	if res.QRModules < 21 || !strings.HasPrefix(res.TOTPURI, "otpauth://totp/") || !res.URIHasKey {
		t.Errorf("sign-up: QR code of %d modules, authenticator link %q (holds the key: %v)", res.QRModules, res.TOTPURI, res.URIHasKey)
	}
	if !res.KeyHidden {
		t.Errorf("sign-up: the key is shown before \"Can't scan?\" is tapped")
	}
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
