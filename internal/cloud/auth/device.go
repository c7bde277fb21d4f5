package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
)

// A session proves which member device it runs on by signing its
// challenge with the device's Ed25519 signing key (docs/FORMAT.md,
// "Household records", the actor's device):
//
//	challenge = SHA-256("vigil/session/v1/challenge" || 0x00 || token hash)
//	message   = "vigil/session/v1/device" || 0x00 || challenge
//	sig       = Ed25519(device signing key, message)
//
// The challenge is the session's own: only the cloud (which holds the
// token's hash) and the holder of the session's secret can ask for it, and
// a signature made for one session binds no other. The context strings keep
// the signature from being anything else a device signs (chain links,
// household actions, pairing).
const (
	sessionChallengeContext = "vigil/session/v1/challenge"
	sessionDeviceContext    = "vigil/session/v1/device"
)

// SessionChallenge returns the challenge of the session or token whose
// secret hashes to tokenHash.
func SessionChallenge(tokenHash [32]byte) []byte {
	h := sha256.New()
	h.Write([]byte(sessionChallengeContext))
	h.Write([]byte{0})
	h.Write(tokenHash[:])
	return h.Sum(nil)
}

// SessionDeviceMessage is what a device signs to bind the session with
// that challenge.
func SessionDeviceMessage(challenge []byte) []byte {
	m := make([]byte, 0, len(sessionDeviceContext)+1+len(challenge))
	m = append(append(append(m, sessionDeviceContext...), 0), challenge...)
	return m
}

// VerifySessionDevice reports whether sig is the device's (signing key pub)
// signature binding the session whose token hashes to tokenHash. Ed25519
// verification refuses a non-canonical S (S >= L).
func VerifySessionDevice(tokenHash [32]byte, pub ed25519.PublicKey, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, SessionDeviceMessage(SessionChallenge(tokenHash)), sig)
}
