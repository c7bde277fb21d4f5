package onvif

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"time"
)

// WS-Security UsernameToken profile 1.0 type URIs.
const (
	passwordDigestType = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
	passwordTextType   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
	base64BinaryType   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)

// passwordDigest is the UsernameToken PasswordDigest:
// Base64(SHA1(nonce + created + password)), nonce raw bytes.
func passwordDigest(nonce []byte, created, password string) string {
	h := sha1.New()
	h.Write(nonce)
	h.Write([]byte(created))
	h.Write([]byte(password))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// usernameToken returns a WS-Security header holding a UsernameToken with
// a PasswordDigest over a fresh 16-byte nonce and created (the device's
// clock, as the client estimates it).
func usernameToken(username, password string, created time.Time) string {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	c := created.UTC().Format("2006-01-02T15:04:05.000Z")
	return `<wsse:Security s:mustUnderstand="1" xmlns:wsse="` + nsWSSE + `" xmlns:wsu="` + nsWSU + `">` +
		`<wsse:UsernameToken><wsse:Username>` + esc(username) + `</wsse:Username>` +
		`<wsse:Password Type="` + passwordDigestType + `">` + passwordDigest(nonce, c, password) + `</wsse:Password>` +
		`<wsse:Nonce EncodingType="` + base64BinaryType + `">` + base64.StdEncoding.EncodeToString(nonce) + `</wsse:Nonce>` +
		`<wsu:Created>` + c + `</wsu:Created></wsse:UsernameToken></wsse:Security>`
}

type usernameTokenXML struct {
	Username string `xml:"Username"`
	Password struct {
		Type  string `xml:"Type,attr"`
		Value string `xml:",chardata"`
	} `xml:"Password"`
	Nonce   string `xml:"Nonce"`
	Created string `xml:"Created"`
}

// errAuth is why a server refused a UsernameToken; it is sent back in
// the fault's reason, so it never holds the token's values.
type errAuth string

func (e errAuth) Error() string { return string(e) }

// tokenChecker checks UsernameTokens for one username and password and
// remembers the nonces it accepted while their Created is in the window,
// so a captured request cannot be replayed.
type tokenChecker struct {
	username, password string
	window             time.Duration
	maxNonces          int

	mu   sync.Mutex
	seen map[string]time.Time // nonce+created -> when it leaves the window
}

func newTokenChecker(username, password string, window time.Duration) *tokenChecker {
	return &tokenChecker{username: username, password: password, window: window, maxNonces: 4096, seen: map[string]time.Time{}}
}

// check accepts t at now or says why not.
func (c *tokenChecker) check(t *usernameTokenXML, now time.Time) error {
	if t == nil {
		return errAuth("no WS-Security UsernameToken")
	}
	if t.Password.Type != "" && t.Password.Type != passwordDigestType {
		if t.Password.Type == passwordTextType {
			return errAuth("PasswordText is refused: send a PasswordDigest")
		}
		return errAuth("unknown password type")
	}
	created := strings.TrimSpace(t.Created)
	ct, err := time.Parse(time.RFC3339Nano, created)
	if err != nil {
		return errAuth("Created is not an xs:dateTime")
	}
	if d := now.Sub(ct); d > c.window || d < -c.window {
		return errAuth(fmt.Sprintf("Created is %s from the device's clock, outside the %s window (check the clock offset)", d.Round(time.Second), c.window))
	}
	nonce, err := base64.StdEncoding.DecodeString(strings.TrimSpace(t.Nonce))
	if err != nil || len(nonce) < 8 || len(nonce) > 64 {
		return errAuth("Nonce is not 8 to 64 bytes of base64")
	}
	want := passwordDigest(nonce, created, c.password)
	userOK := subtle.ConstantTimeCompare([]byte(strings.TrimSpace(t.Username)), []byte(c.username)) == 1
	digestOK := subtle.ConstantTimeCompare([]byte(strings.TrimSpace(t.Password.Value)), []byte(want)) == 1
	if !userOK || !digestOK {
		return errAuth("wrong username or password")
	}
	return c.remember(string(nonce)+"|"+created, ct.Add(c.window), now)
}

// remember records a nonce until it leaves the window, refusing one seen
// before. Only tokens with a correct digest get here, so only a holder of
// the password can fill the table; when it is full, requests are refused
// until entries expire rather than forgetting nonces early.
func (c *tokenChecker) remember(key string, until, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[key]; ok {
		return errAuth("nonce already used (a replayed request)")
	}
	if len(c.seen) >= c.maxNonces {
		for k, exp := range c.seen {
			if !exp.After(now) {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= c.maxNonces {
			return errAuth("too many requests in the window")
		}
	}
	c.seen[key] = until
	return nil
}

// errNoCredentials is a refusal when the client has no credentials to
// send.
var errNoCredentials = fmt.Errorf("%w: the device asks for credentials and none are set", ErrNotAuthorized)
