package member_test

import (
	"encoding/hex"
	"testing"

	"vigil/internal/history"
	"vigil/internal/member"
)

// The invite key and ID of a fixed secret (bytes 0..31), computed apart
// from this code (Python's hmac and hashlib); web/test-src/crypto.ts checks
// the browser's against the same values.
func TestInviteKeyVector(t *testing.T) {
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i)
	}
	const wantKey = "ffec7515bec9d9e847a09f147f92ff827c56878c4df88a7fa501ac866982d7fa"
	const wantID = "mqq27koyfidpb35cnpiv7tfugy"
	key := member.InviteKey(secret)
	if hex.EncodeToString(key) != wantKey {
		t.Errorf("InviteKey = %x, want %s", key, wantKey)
	}
	if id := member.InviteID(secret); id != wantID || history.InviteIDForKey(key) != wantID {
		t.Errorf("InviteID = %s, want %s", id, wantID)
	}
	// The ID is a hash of the key, not of the secret: a device holding
	// only the ID can derive neither.
	if member.InviteID(key) == wantID {
		t.Error("the ID of the key taken as a secret equals the invite's ID")
	}
}
