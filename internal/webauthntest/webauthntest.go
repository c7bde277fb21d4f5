// Package webauthntest is a software WebAuthn authenticator for tests: it
// answers registration and sign-in ceremonies as a browser with a platform
// authenticator presents them (ES256, attestation "none", user presence and
// verification), so the cloud's passkey code is tested against real
// WebAuthn answers that go-webauthn parses and checks.
//
// It is test code: only tests import it (internal/deptest), and it never
// holds a key longer than the test that made it.
package webauthntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"

	webauthncbor "github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

var b64 = base64.RawURLEncoding

// Authenticator holds one passkey. Copying the struct clones it (same key,
// same credential, its own counter); tests change the fields to present
// what a phishing page, another relying party, a cloned authenticator or
// one without user verification would.
type Authenticator struct {
	Key        *ecdsa.PrivateKey
	CredID     []byte
	UserHandle []byte // set by Create, from the ceremony's user ID
	Count      uint32 // the signature counter; Get increments it
	RPID       string // the relying party ID hashed into authenticator data
	Origin     string // the origin in the client data
	NoUV       bool   // sign without user verification (no PIN or biometrics)
}

// New returns an authenticator with a fresh P-256 key and credential ID
// for the relying party rpID, answering from origin.
func New(rpID, origin string) (*Authenticator, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	return &Authenticator{Key: k, CredID: id, RPID: rpID, Origin: origin}, nil
}

// Authenticator data flags.
const (
	flagUP = 0x01 // user present
	flagUV = 0x04 // user verified
	flagAT = 0x40 // attested credential data included
)

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

func (a *Authenticator) authData(flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(a.RPID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, a.Count)
	return append(out, attested...)
}

// Create answers a registration ceremony whose options carry userID and
// challenge (both base64url, as the options' publicKey.user.id and
// publicKey.challenge): the browser's PublicKeyCredential as JSON.
func (a *Authenticator) Create(userID, challenge string) ([]byte, error) {
	uh, err := b64.DecodeString(userID)
	if err != nil {
		return nil, fmt.Errorf("webauthntest: user handle: %w", err)
	}
	a.UserHandle = uh
	pub := a.Key.PublicKey
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: pub.X.FillBytes(make([]byte, 32)), YCoord: pub.Y.FillBytes(make([]byte, 32)),
	})
	if err != nil {
		return nil, err
	}
	attested := make([]byte, 16) // AAGUID
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(a.CredID)))
	attested = append(append(attested, a.CredID...), cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": a.authData(flagUP|flagUV|flagAT, attested)})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"id": b64.EncodeToString(a.CredID), "rawId": b64.EncodeToString(a.CredID), "type": "public-key",
		"response": map[string]string{"clientDataJSON": b64.EncodeToString(a.clientData("webauthn.create", challenge)),
			"attestationObject": b64.EncodeToString(att)}})
}

// Get answers a sign-in ceremony with challenge (base64url): the signature
// covers authenticatorData || SHA-256(clientDataJSON), and the answer names
// the user handle Create recorded.
func (a *Authenticator) Get(challenge string) ([]byte, error) {
	a.Count++
	cd := a.clientData("webauthn.get", challenge)
	flags := byte(flagUP | flagUV)
	if a.NoUV {
		flags = flagUP
	}
	ad := a.authData(flags, nil)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte(nil), ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.Key, digest[:])
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"id": b64.EncodeToString(a.CredID), "rawId": b64.EncodeToString(a.CredID), "type": "public-key",
		"response": map[string]string{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(a.UserHandle)}})
}
