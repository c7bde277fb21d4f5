package keydir

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// devicePrefix starts a device's public identity as shown to people.
const devicePrefix = "vigdev1:"

// EncodeDevice returns the public identity of a device as one line to copy
// to an admin ("vigdev1:" + base64url of the Ed25519 and X25519 public keys).
// It holds no secret.
func EncodeDevice(k *DeviceKeys) string {
	pub := k.Public(RoleMember, "")
	return devicePrefix + base64.RawURLEncoding.EncodeToString(append(append([]byte(nil), pub.SignPub...), pub.BoxPub...))
}

// ParseDevice reads a device identity made by EncodeDevice and returns it
// as a chain device with the given role and name.
func ParseDevice(s string, role, name string) (DeviceKey, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, devicePrefix)
	if !ok {
		return DeviceKey{}, fmt.Errorf("not a device identity: it starts with %q (hint: run 'vigil device id' on the new device)", devicePrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != ed25519.PublicKeySize+32 {
		return DeviceKey{}, errors.New("device identity is damaged (was it copied completely?)")
	}
	sign := ed25519.PublicKey(b[:ed25519.PublicKeySize])
	return DeviceKey{ID: DeviceID(sign), Role: role, Name: name, SignPub: sign, BoxPub: b[ed25519.PublicKeySize:]}, nil
}
