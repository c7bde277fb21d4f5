package member

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"vigil/internal/history"
)

// Joining a household by approval (docs/API.md, Invites): the admin device
// makes an invite secret that travels only in the invite link's fragment.
// The joining browser proves it holds the link with JoinProof, and both the
// admin device and the joining browser show JoinCode for a person to
// compare. The cloud never sees the secret, so it can neither answer an
// invite itself nor find another device identity with the same code.
// web/src/pages/enrol.ts computes the same values.

// InviteKey is what a device presents to the cloud to read an invite and
// ask to join through it: HMAC-SHA-256(secret, "vigil invite key v1"). The
// invite's ID is history.InviteIDForKey of it, so the admin device that
// makes the secret names the invite by it, and the cloud finds the invite
// from the key without ever holding the secret (which the join code
// derives from).
func InviteKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("vigil invite key v1"))
	return m.Sum(nil)
}

// InviteID is the ID of the invite whose secret is secret.
func InviteID(secret []byte) string { return history.InviteIDForKey(InviteKey(secret)) }

// JoinProof is HMAC-SHA-256(secret, "vigil join proof v1\n" + invite ID +
// "\n" + device identity).
func JoinProof(secret []byte, inviteID, device string) []byte {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "vigil join proof v1\n%s\n%s", inviteID, device)
	return m.Sum(nil)
}

// JoinCode is the six-digit verification code of a device joining with the
// invite secret, "123 456": the first four bytes of HMAC-SHA-256(secret,
// "vigil join code v1\n" + device identity), big-endian, modulo 10^6.
func JoinCode(secret []byte, device string) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "vigil join code v1\n%s", device)
	n := binary.BigEndian.Uint32(m.Sum(nil)) % 1_000_000
	return fmt.Sprintf("%03d %03d", n/1000, n%1000)
}
