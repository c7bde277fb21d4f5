package keydir

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"vigil/internal/envelope"
)

// Chain device roles.
const (
	// RoleAdmin devices hold the epoch keys and are the only devices whose
	// signature can change the chain.
	RoleAdmin = "admin"
	// RoleMember devices hold the epoch keys but cannot change the chain.
	RoleMember = "member"
	// RoleHub devices seal footage to the current epoch key and sign it.
	// They never receive an epoch private key.
	RoleHub = "hub"
)

// Prefixes of the lines of a device key file; they are the encodings of
// [envelope.MarshalSigningKey] and [envelope.X25519Identity.String].
const (
	signerLinePrefix   = "VIGIL-SIGNER-1-"
	identityLinePrefix = "VIGIL-IDENTITY-1-"
)

// DeviceKey is a device's public identity in the chain.
type DeviceKey struct {
	ID      string            // DeviceID(SignPub)
	Role    string            // RoleAdmin, RoleMember or RoleHub
	Name    string            // human label, e.g. "Alice's laptop", "hub"
	SignPub ed25519.PublicKey // Ed25519 public key: signs chain links (admins), segments (hubs), live-view fingerprints
	BoxPub  []byte            // X25519 public key (32 bytes) receiving epoch keys; nil for hubs
}

func (d DeviceKey) clone() DeviceKey {
	d.SignPub = bytes.Clone(d.SignPub)
	d.BoxPub = bytes.Clone(d.BoxPub)
	return d
}

// holdsEpochKeys reports whether the chain wraps epoch keys to d.
func (d DeviceKey) holdsEpochKeys() bool { return d.Role == RoleAdmin || d.Role == RoleMember }

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// DeviceID returns the identifier of the device with signing key pub: "d"
// followed by the lowercase, unpadded base32 of the first 16 bytes of
// SHA-256(pub), 27 characters in all. It is short, stable and URL-safe, and
// it is never stored in a link: verifiers derive it from the key.
func DeviceID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return "d" + idEncoding.EncodeToString(h[:16])
}

// DeviceKeys are a device's private keys. A member or admin device has both;
// a hub has only Sign (Box is nil), because hubs never receive epoch keys.
//
// DeviceKeys are secret: never log them, never put them in a link or send
// them anywhere.
type DeviceKeys struct {
	Sign ed25519.PrivateKey
	Box  *envelope.X25519Identity
}

// NewDeviceKeys returns fresh random keys for a member or admin device.
func NewDeviceKeys() (*DeviceKeys, error) {
	_, sign, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keydir: generating signing key: %w", err)
	}
	box, err := envelope.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("keydir: generating X25519 key: %w", err)
	}
	return &DeviceKeys{Sign: sign, Box: box}, nil
}

// ID returns the device ID of k: [DeviceID] of its signing public key.
func (k *DeviceKeys) ID() string { return DeviceID(k.signPub()) }

func (k *DeviceKeys) signPub() ed25519.PublicKey {
	if k == nil || len(k.Sign) != ed25519.PrivateKeySize {
		return nil
	}
	return k.Sign.Public().(ed25519.PublicKey)
}

// Public returns the public identity of k for the chain. BoxPub is set only
// for admin and member devices that have a Box key: a hub's entry never
// carries an X25519 key, whatever k holds.
func (k *DeviceKeys) Public(role, name string) DeviceKey {
	pub := k.signPub()
	d := DeviceKey{ID: DeviceID(pub), Role: role, Name: name, SignPub: bytes.Clone(pub)}
	if role != RoleHub && k.Box != nil {
		d.BoxPub = k.Box.Recipient().Bytes()
	}
	return d
}

// Marshal returns the text form of k for a private (0600) file: comment
// lines, a "VIGIL-SIGNER-1-…" line and, unless Box is nil, a
// "VIGIL-IDENTITY-1-…" line. The result is secret.
func (k *DeviceKeys) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString("# Vigil device keys. SECRET: whoever holds this file can act as this device.\n")
	fmt.Fprintf(&b, "# device %s\n", k.ID())
	b.WriteString(envelope.MarshalSigningKey(k.Sign) + "\n")
	if k.Box != nil {
		b.WriteString(k.Box.String() + "\n")
	}
	return b.Bytes()
}

// ParseDeviceKeys parses the output of [DeviceKeys.Marshal]. Blank lines and
// lines starting with '#' are ignored; exactly one signing key line and at
// most one identity line are allowed. A hub's key file ("hub.key", a single
// signing key line) parses as DeviceKeys with a nil Box. Errors name the
// line but never quote it.
func ParseDeviceKeys(b []byte) (*DeviceKeys, error) {
	k := &DeviceKeys{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, signerLinePrefix):
			if k.Sign != nil {
				return nil, fmt.Errorf("keydir: device keys: line %d is a second signing key; a device has exactly one", n)
			}
			sign, err := envelope.ParseSigningKey(line)
			if err != nil {
				return nil, fmt.Errorf("keydir: device keys: line %d: %w", n, err)
			}
			k.Sign = sign
		case strings.HasPrefix(line, identityLinePrefix):
			if k.Box != nil {
				return nil, fmt.Errorf("keydir: device keys: line %d is a second identity; a device has at most one", n)
			}
			box, err := envelope.ParseX25519Identity(line)
			if err != nil {
				return nil, fmt.Errorf("keydir: device keys: line %d: %w", n, err)
			}
			k.Box = box
		default:
			return nil, fmt.Errorf("keydir: device keys: line %d is not a device key; hint: key lines start with %q or %q", n, signerLinePrefix, identityLinePrefix)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("keydir: device keys: reading after line %d: %w", n, err)
	}
	if k.Sign == nil {
		return nil, fmt.Errorf("keydir: device keys: no signing key (a %q line) found", signerLinePrefix)
	}
	return k, nil
}

// LoadOrCreateDeviceKeys returns the device keys stored at path, creating
// fresh member-device keys there (mode 0600, with [WriteSecretFile], which
// never overwrites a file) when the file does not exist. created reports
// whether the keys are new.
func LoadOrCreateDeviceKeys(path string) (k *DeviceKeys, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := ParseDeviceKeys(b)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w (hint: the device key file is damaged; restore it from backup, or move it away and enroll this device again)", path, err)
		}
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("read device keys: %w", err)
	}
	k, err = NewDeviceKeys()
	if err != nil {
		return nil, false, err
	}
	if err := WriteSecretFile(path, k.Marshal()); err != nil {
		return nil, false, err
	}
	return k, true, nil
}
