package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"vigil/internal/cloud/store"
)

// Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device
// Cookies"). The package doc says why; this file says how.
//
// A device cookie is issued with every session (Issue): its name is
// DeviceCookieName(account ID), its value
//
//	"v1." nonce "." expires "." mac
//
// where nonce is 16 random bytes (unpadded base64url), expires the Unix
// second it stops being accepted, and mac the HMAC-SHA256, under the
// service's device-cookie key, of "vigil device cookie v1\n" account ID
// "\n" nonce "\n" expires (unpadded base64url). The account ID is in the
// MAC, not in the value: a cookie is valid for the one account it was
// issued to, and another account's cookie, a cookie whose value was
// changed, an expired one or one made under another key are all invalid,
// which is the same as presenting none. Only a valid cookie gets a bucket
// of its own (keyLimitDevice), so an outsider cannot make the store hold
// more buckets by sending made-up cookies.
//
// The key is 32 random bytes kept in the Store's EphemeralStore under
// keyDeviceCookieKey, made by whichever replica needs it first
// (PutIfAbsent, then read back, so racing replicas agree on one) and kept
// for deviceKeyTTL; when it expires a new one is made and the clients holding
// cookies under the old one are untrusted until they sign in again. It is
// never logged, returned or put anywhere but the store.

// DeviceCookieTTL is how long a device cookie is accepted; every sign-in
// issues a fresh one.
const DeviceCookieTTL = 180 * 24 * time.Hour

// deviceKeyTTL is how long the device-cookie key is kept.
const deviceKeyTTL = 5 * 365 * 24 * time.Hour

// maxDeviceCookies bounds the device cookies of one sign-in that are
// checked (a browser holds one per account that signed in on it, so one
// of the account's name).
const maxDeviceCookies = 8

// deviceCookiePrefix starts the name of every device cookie.
const deviceCookiePrefix = "vigil_device_"

// DeviceCookie is a device cookie for the client that just signed in.
type DeviceCookie struct {
	Name    string // DeviceCookieName of the account
	Value   string // the signed value; a credential of sorts: never logged
	Expires time.Time
}

// DeviceCookieName is the name of account accountID's device cookie: a
// browser keeps one per account that signed in on it. It names the account
// by a hash, not its ID.
func DeviceCookieName(accountID string) string {
	h := sha256.Sum256([]byte("vigil device cookie name\n" + accountID))
	return deviceCookiePrefix + hex.EncodeToString(h[:8])
}

// IsDeviceCookieName reports whether name is a device cookie's name: the
// HTTP layer passes those cookies' values to SignIn.
func IsDeviceCookieName(name string) bool { return strings.HasPrefix(name, deviceCookiePrefix) }

// deviceKey returns the device-cookie key, making it if there is none.
func (s *Service) deviceKey(ctx context.Context) ([]byte, error) {
	now := s.now()
	k, err := s.st.Get(ctx, keyDeviceCookieKey, now)
	if errors.Is(err, store.ErrNotFound) {
		fresh := make([]byte, 32)
		rand.Read(fresh)
		if _, err := s.st.PutIfAbsent(ctx, keyDeviceCookieKey, fresh, now, now.Add(deviceKeyTTL)); err != nil {
			return nil, err
		}
		k, err = s.st.Get(ctx, keyDeviceCookieKey, now)
	}
	if err != nil {
		return nil, err
	}
	if len(k) != 32 {
		return nil, errors.New("accounts: the stored device-cookie key is not 32 bytes")
	}
	return k, nil
}

func deviceMAC(key []byte, accountID, nonce, expires string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("vigil device cookie v1\n" + accountID + "\n" + nonce + "\n" + expires))
	return m.Sum(nil)
}

// newDeviceCookie issues a device cookie for accountID.
func (s *Service) newDeviceCookie(ctx context.Context, accountID string) (DeviceCookie, error) {
	key, err := s.deviceKey(ctx)
	if err != nil {
		return DeviceCookie{}, err
	}
	n := make([]byte, 16)
	rand.Read(n)
	nonce := base64.RawURLEncoding.EncodeToString(n)
	expires := s.now().Add(DeviceCookieTTL).Truncate(time.Second)
	exp := strconv.FormatInt(expires.Unix(), 10)
	mac := base64.RawURLEncoding.EncodeToString(deviceMAC(key, accountID, nonce, exp))
	return DeviceCookie{Name: DeviceCookieName(accountID), Value: "v1." + nonce + "." + exp + "." + mac, Expires: expires}, nil
}

// trustedDevice returns the nonce of the first of cookies that is a valid,
// unexpired device cookie of accountID, "" when none is (or accountID is
// ""): the client is then untrusted. Only the cookies named
// DeviceCookieName(accountID) are checked, at most maxDeviceCookies.
func (s *Service) trustedDevice(ctx context.Context, accountID string, cookies []DeviceCookie) (string, error) {
	if accountID == "" {
		return "", nil
	}
	name := DeviceCookieName(accountID)
	var values []string
	for _, c := range cookies {
		if c.Name == name && len(values) < maxDeviceCookies {
			values = append(values, c.Value)
		}
	}
	if len(values) == 0 {
		return "", nil
	}
	key, err := s.deviceKey(ctx)
	if err != nil {
		return "", err
	}
	now := s.now()
	for _, v := range values {
		parts := strings.Split(v, ".")
		if len(parts) != 4 || parts[0] != "v1" || len(parts[1]) != 22 || len(parts[3]) != 43 || len(parts[2]) > 12 {
			continue
		}
		mac, err := base64.RawURLEncoding.DecodeString(parts[3])
		if err != nil || !hmac.Equal(mac, deviceMAC(key, accountID, parts[1], parts[2])) {
			continue
		}
		exp, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil || !now.Before(time.Unix(exp, 0)) {
			continue
		}
		return parts[1], nil
	}
	return "", nil
}
