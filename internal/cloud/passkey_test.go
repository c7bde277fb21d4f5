package cloud_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"vigil/internal/cloud/client"
)

var b64 = base64.RawURLEncoding

// softAuthenticator is a minimal WebAuthn authenticator (ES256, attestation
// "none", user verification always performed), as a browser with a platform
// authenticator would present it.
type softAuthenticator struct {
	key        *ecdsa.PrivateKey
	credID     []byte
	userHandle []byte
	count      uint32
	rpID       string
	origin     string
}

func newSoftAuthenticator(t *testing.T, rpID, origin string) *softAuthenticator {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &softAuthenticator{key: k, credID: id, rpID: rpID, origin: origin}
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

func (a *softAuthenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.origin, "crossOrigin": false})
	return b
}

func (a *softAuthenticator) authData(flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(a.rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, a.count)
	return append(out, attested...)
}

// create answers a registration ceremony.
func (a *softAuthenticator) create(t *testing.T, c ceremonyJSON) []byte {
	t.Helper()
	uh, err := b64.DecodeString(c.Options.PublicKey.User.ID)
	if err != nil {
		t.Fatalf("user handle: %v", err)
	}
	a.userHandle = uh
	pub := a.key.PublicKey
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: pub.X.FillBytes(make([]byte, 32)), YCoord: pub.Y.FillBytes(make([]byte, 32)),
	})
	if err != nil {
		t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.credID)))
	attested = append(append(attested, a.credID...), cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(0x01|0x04|0x40, attested)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(a.credID), "rawId": b64.EncodeToString(a.credID), "type": "public-key",
		"response": map[string]string{"clientDataJSON": b64.EncodeToString(a.clientData("webauthn.create", c.Options.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(att)}})
	return b
}

// get answers a sign-in ceremony.
func (a *softAuthenticator) get(t *testing.T, c ceremonyJSON) []byte {
	t.Helper()
	a.count++
	cd := a.clientData("webauthn.get", c.Options.PublicKey.Challenge)
	ad := a.authData(0x01|0x04, nil)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte(nil), ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{"id": b64.EncodeToString(a.credID), "rawId": b64.EncodeToString(a.credID), "type": "public-key",
		"response": map[string]string{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(a.userHandle)}})
	return b
}

func post(t *testing.T, c *client.Client, path string, body []byte) (int, []byte) {
	t.Helper()
	status, got, err := c.Raw(context.Background(), "POST", path, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, got
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
	if status, got := post(t, m.c, "/v1/passkeys/register/finish?ceremony="+cj.Ceremony, a.create(t, cj)); status != 201 {
		t.Fatalf("register finish: %d %s", status, got)
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
	if status, _ := post(t, anon, "/v1/passkeys/register/begin", []byte("{}")); status != 401 {
		t.Errorf("registering without signing in: %d", status)
	}
	key := newSoftAuthenticator(t, "vigil.test", "http://vigil.test")
	registerPasskey(t, alice, key)

	login := func(a *softAuthenticator, mutate func([]byte) []byte) (int, []byte) {
		cj := begin(t, anon, "/v1/passkeys/login/begin", `{"type":"api"}`)
		resp := a.get(t, cj)
		if mutate != nil {
			resp = mutate(resp)
		}
		return post(t, anon, "/v1/passkeys/login/finish?ceremony="+cj.Ceremony, resp)
	}
	status, got := login(key, nil)
	if status != 200 {
		t.Fatalf("passkey sign-in: %d %s", status, got)
	}
	var tok struct{ Token string }
	json.Unmarshal(got, &tok)
	c := client.New(e.url)
	c.Token = tok.Token
	status, acct, _ := c.Raw(context.Background(), "GET", "/v1/account", nil)
	if status != 200 || !bytes.Contains(acct, []byte("alice@example.com")) {
		t.Fatalf("the passkey's token: %d %s", status, acct)
	}

	// The same answer twice: the ceremony is used up, and a new ceremony has
	// a new challenge.
	cj := begin(t, anon, "/v1/passkeys/login/begin", `{"type":"api"}`)
	resp := key.get(t, cj)
	if status, got := post(t, anon, "/v1/passkeys/login/finish?ceremony="+cj.Ceremony, resp); status != 200 {
		t.Fatalf("sign-in: %d %s", status, got)
	}
	if status, _ := post(t, anon, "/v1/passkeys/login/finish?ceremony="+cj.Ceremony, resp); status != 400 {
		t.Errorf("replayed to a used ceremony: %d", status)
	}
	cj2 := begin(t, anon, "/v1/passkeys/login/begin", `{"type":"api"}`)
	if status, _ := post(t, anon, "/v1/passkeys/login/finish?ceremony="+cj2.Ceremony, resp); status != 401 {
		t.Errorf("replayed to a new challenge: %d", status)
	}

	phish := *key
	phish.origin = "https://vigil-login.example"
	if status, _ := login(&phish, nil); status != 401 {
		t.Errorf("wrong origin: %d", status)
	}
	key.count = phish.count
	otherRP := *key
	otherRP.rpID = "example.com"
	if status, _ := login(&otherRP, nil); status != 401 {
		t.Errorf("another relying party: %d", status)
	}
	key.count = otherRP.count
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
	if status, _ := login(key, forged); status != 401 {
		t.Errorf("forged signature: %d", status)
	}
	// Bob's passkey presented as Alice's (user handle swapped).
	bobKey := newSoftAuthenticator(t, "vigil.test", "http://vigil.test")
	registerPasskey(t, bob, bobKey)
	bobKey.userHandle = key.userHandle
	if status, _ := login(bobKey, nil); status != 401 {
		t.Errorf("another account's passkey: %d", status)
	}
	// A cloned authenticator: its counter is behind the one last seen.
	clone := *key
	clone.count = 0
	status, got = login(&clone, nil)
	if status != 401 || !strings.Contains(string(got), "counter") {
		t.Errorf("counter going backwards: %d %s", status, got)
	}
	// The real one still works.
	if status, got := login(key, nil); status != 200 {
		t.Errorf("the genuine passkey after the clone was refused: %d %s", status, got)
	}
	_ = http.StatusOK
}
