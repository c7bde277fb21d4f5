package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"testing"
)

// TestSessionDevice: a device's signature binds the session it was made
// for, and nothing else binds it: another session's challenge, another
// device's key, a signature under another context (a household action's),
// a non-canonical S, or a short signature.
func TestSessionDevice(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	key := ed25519.NewKeyFromSeed(seed)
	pub := key.Public().(ed25519.PublicKey)
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize))
	session, another := HashToken("vgs_session"), HashToken("vgs_another")

	// The challenge is SHA-256 of the context, a zero byte and the hash.
	want := sha256.Sum256(append([]byte("vigil/session/v1/challenge\x00"), session[:]...))
	if c := SessionChallenge(session); !bytes.Equal(c, want[:]) {
		t.Fatalf("challenge %x, want %x", c, want)
	}
	if bytes.Equal(SessionChallenge(session), SessionChallenge(another)) {
		t.Fatal("two sessions have one challenge")
	}
	msg := SessionDeviceMessage(SessionChallenge(session))
	if !bytes.HasPrefix(msg, []byte("vigil/session/v1/device\x00")) || len(msg) != len("vigil/session/v1/device")+1+32 {
		t.Fatalf("message %q", msg)
	}
	sig := ed25519.Sign(key, msg)
	if !VerifySessionDevice(session, pub, sig) {
		t.Fatal("the device's own signature is refused")
	}
	// S + L: the same signature, not canonical.
	order, _ := hex.DecodeString("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	s := new(big.Int).SetBytes(reverse(sig[32:]))
	s.Add(s, new(big.Int).SetBytes(reverse(order)))
	sb := make([]byte, 32)
	s.FillBytes(sb)
	malleable := append(append([]byte(nil), sig[:32]...), reverse(sb)...)
	for name, c := range map[string]struct {
		hash [32]byte
		pub  ed25519.PublicKey
		sig  []byte
	}{
		"another session":    {another, pub, sig},
		"another device":     {session, other.Public().(ed25519.PublicKey), sig},
		"another context":    {session, pub, ed25519.Sign(key, append([]byte("vigil/household/v1/action\x00"), SessionChallenge(session)...))},
		"the bare challenge": {session, pub, ed25519.Sign(key, SessionChallenge(session))},
		"S not below L":      {session, pub, malleable},
		"short signature":    {session, pub, sig[:63]},
		"no key":             {session, nil, sig},
	} {
		if VerifySessionDevice(c.hash, c.pub, c.sig) {
			t.Errorf("%s: accepted", name)
		}
	}
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[len(b)-1-i] = b[i]
	}
	return out
}
