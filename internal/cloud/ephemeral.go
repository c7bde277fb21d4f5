package cloud

import "time"

// Short-lived state lives in the store (store.EphemeralStore), not in the
// Server, so that any replica can take the next request: a sign-in's
// failures count on every replica, a TOTP code used on one is refused on
// all, a passkey ceremony begun on one finishes on another, a sign-in link
// is used once across all, an invite made on one is joined on another, a
// device request accepted by one is refused as a replay by another.
// Each feature keeps its entries under its own key prefix; the accounts
// domain's (rate limits "limit/ip/", "limit/acct/", "limit/device/" and
// "limit/reset/", TOTP steps "totp/", sign-in links "signin-link/", the
// device-cookie key "device-cookie-key") are in internal/cloud/accounts, the
// passkeys domain's (ceremonies "passkey/") in internal/cloud/passkeys, and
// the households domain's (signed actions' nonces "nonces/", invites
// "invites/" and "invite/") in internal/cloud/households. The server's:
const (
	keyDeviceNonce = "devnonce/" // + device ID + "/" + nonce: a device request's nonce, on stores shared by replicas (devnonces.go)
)

func retrySeconds(wait time.Duration) int { return max(1, int(wait.Seconds()+0.999)) }
