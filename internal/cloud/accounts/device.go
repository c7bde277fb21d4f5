package accounts

import (
	"context"
	"encoding/base64"

	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
	"vigil/internal/keydir"
)

// Sessions bound to a device. A browser (or any holder of a token) proves
// once per session which member device it runs on: it signs the session's
// challenge with the device's signing key (auth.SessionChallenge), the
// cloud checks the signature against the device identity the browser
// sends, and keeps the device ID on the session. From then on every
// record of the session's accesses names that device (actor.device,
// docs/FORMAT.md "Household records"). Whether the device belongs to a
// household is not the accounts domain's to say: the member's browser names
// it from the household's chain, or calls it a device not in the
// household.

// DeviceChallenge is what a device signs to bind the session t to itself
// (base64url, unpadded).
func DeviceChallenge(t store.Token) string {
	return base64.RawURLEncoding.EncodeToString(auth.SessionChallenge(t.Hash))
}

// BindDevice binds the session t to the device (its public identity,
// "vigdev1:…") whose signing key made sig (base64url, unpadded) over the
// session's challenge, and returns the device ID. A session bound to one
// device cannot be bound to another (Conflict); binding it to the same
// device again is accepted.
func (s *Service) BindDevice(ctx context.Context, t store.Token, device, sig string) (string, error) {
	dk, err := keydir.ParseDevice(device, "", "")
	if err != nil {
		return "", errorf(Invalid, `field "device": %v`, err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(raw) != 64 {
		return "", errorf(Invalid, `field "sig": 64 bytes, unpadded base64url`)
	}
	if !auth.VerifySessionDevice(t.Hash, dk.SignPub, raw) {
		return "", errorf(Unauthorized, "the signature is not device %s's signature of this session's challenge", dk.ID)
	}
	if t.Device != "" && t.Device != dk.ID {
		return "", errorf(Conflict, "this session is bound to device %s already; sign in again to use another device", t.Device)
	}
	if t.Device == "" {
		t.Device = dk.ID
		if err := s.st.PutToken(ctx, t); err != nil {
			return "", err
		}
		s.log.Info("session bound to a device", "account", t.AccountID, "device", dk.ID, "kind", t.Kind)
	}
	return dk.ID, nil
}
