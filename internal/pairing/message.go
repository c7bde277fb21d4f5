package pairing

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"

	"vigil/internal/envelope"
)

// ErrMalformed is wrapped by every error about a message that does not
// parse: wrong version or type, wrong length, a field out of range, bytes
// left over.
var ErrMalformed = errors.New("pairing: malformed message")

// Wire format, version 1. Every message starts with a version byte and a
// type byte and ends with a 32-byte HMAC-SHA256; lengths are one byte.
//
//	msg1 hub->member:  01 01 | sign_pub[32] | len | name | hub_nonce[32] | mac1[32]
//	msg2 member->hub:  01 02 | len | household_id | genesis_hash[32] | epoch_pub[32] | member_nonce[32] | mac2[32]
//	msg3 hub->member:  01 03 | mac3[32]
const (
	// Version is the only message version this package reads and writes.
	Version = 1

	// MaxMessageSize bounds every message; the relay may refuse larger ones.
	MaxMessageSize = 256

	// MaxNameLen bounds the hub name, in bytes; it is the household
	// chain's limit on device names (keydir.MaxNameLen).
	MaxNameLen = 128
	// MaxHouseholdIDLen bounds the household ID, in bytes.
	MaxHouseholdIDLen = 64

	typeHubHello  = 1
	typeOffer     = 2
	typeHubFinish = 3

	nonceSize  = 32
	macSize    = 32
	hashSize   = 32 // genesis hash
	headerSize = 2
)

// helloMsg is the hub's hello.
type helloMsg struct {
	signPub ed25519.PublicKey
	name    string
	nonce   []byte
	mac     []byte
}

// offerMsg is the member's offer.
type offerMsg struct {
	householdID string
	genesisHash []byte
	epochPub    []byte // raw X25519 public key
	nonce       []byte
	mac         []byte
}

// confirmMsg is the hub's confirmation.
type confirmMsg struct {
	mac []byte
}

// body returns the encoding of m without its MAC.
func (m *helloMsg) body() []byte {
	b := make([]byte, 0, MaxMessageSize)
	b = append(b, Version, typeHubHello)
	b = append(b, m.signPub...)
	b = append(b, byte(len(m.name)))
	b = append(b, m.name...)
	return append(b, m.nonce...)
}

func (m *helloMsg) marshal() []byte { return append(m.body(), m.mac...) }

func (m *offerMsg) body() []byte {
	b := make([]byte, 0, MaxMessageSize)
	b = append(b, Version, typeOffer)
	b = append(b, byte(len(m.householdID)))
	b = append(b, m.householdID...)
	b = append(b, m.genesisHash...)
	b = append(b, m.epochPub...)
	return append(b, m.nonce...)
}

func (m *offerMsg) marshal() []byte { return append(m.body(), m.mac...) }

func (m *confirmMsg) body() []byte { return []byte{Version, typeHubFinish} }

func (m *confirmMsg) marshal() []byte { return append(m.body(), m.mac...) }

// reader consumes a message strictly. The first error sticks.
type reader struct {
	b   []byte
	err error
}

func newReader(b []byte, typ byte, what string) *reader {
	r := &reader{b: b}
	switch {
	case len(b) > MaxMessageSize:
		r.fail("%s is %d bytes, more than the limit of %d", what, len(b), MaxMessageSize)
	case len(b) < headerSize:
		r.fail("%s is %d bytes, too short to be a pairing message (was it cut off?)", what, len(b))
	case b[0] != Version:
		r.fail("%s has version %d; this vigil reads only version %d (hint: update vigil on both the hub and this device)", what, b[0], Version)
	case b[1] != typ:
		r.fail("expected %s (type %d), got message type %d (hint: the messages arrived out of order; start pairing again on the hub)", what, typ, b[1])
	default:
		r.b = b[headerSize:]
	}
	return r
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (r *reader) fixed(n int, field string) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail("%s cut off: %d bytes left, want %d", field, len(r.b), n)
		return nil
	}
	v := append([]byte(nil), r.b[:n]...)
	r.b = r.b[n:]
	return v
}

func (r *reader) short(maxLen int, field string) string {
	n := r.fixed(1, field+" length")
	if r.err != nil {
		return ""
	}
	if int(n[0]) == 0 || int(n[0]) > maxLen {
		r.fail("%s is %d bytes, want 1 to %d", field, n[0], maxLen)
		return ""
	}
	return string(r.fixed(int(n[0]), field))
}

func (r *reader) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d unexpected bytes after the message", len(r.b))
	}
	return r.err
}

func parseMsg1(b []byte) (*helloMsg, error) {
	r := newReader(b, typeHubHello, "hub hello (message 1)")
	m := &helloMsg{
		signPub: r.fixed(ed25519.PublicKeySize, "hub public key"),
		name:    r.short(MaxNameLen, "hub name"),
		nonce:   r.fixed(nonceSize, "hub nonce"),
		mac:     r.fixed(macSize, "MAC"),
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	if err := checkName(m.name); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return m, nil
}

func parseMsg2(b []byte) (*offerMsg, error) {
	r := newReader(b, typeOffer, "household offer (message 2)")
	m := &offerMsg{
		householdID: r.short(MaxHouseholdIDLen, "household ID"),
		genesisHash: r.fixed(hashSize, "genesis hash"),
		epochPub:    r.fixed(32, "epoch public key"),
		nonce:       r.fixed(nonceSize, "member nonce"),
		mac:         r.fixed(macSize, "MAC"),
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	if err := checkHouseholdID(m.householdID); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := envelope.NewX25519Recipient(m.epochPub); err != nil {
		return nil, fmt.Errorf("%w: epoch public key: %v", ErrMalformed, err)
	}
	return m, nil
}

func parseMsg3(b []byte) (*confirmMsg, error) {
	r := newReader(b, typeHubFinish, "hub confirmation (message 3)")
	m := &confirmMsg{mac: r.fixed(macSize, "MAC")}
	if err := r.end(); err != nil {
		return nil, err
	}
	return m, nil
}

// checkName accepts 1 to MaxNameLen bytes of printable UTF-8: no control,
// format (such as bidi overrides) or non-ASCII space characters, since the
// name is shown to a person deciding whether to trust the hub.
func checkName(s string) error {
	if len(s) == 0 || len(s) > MaxNameLen {
		return fmt.Errorf("hub name is %d bytes, want 1 to %d", len(s), MaxNameLen)
	}
	if !utf8.ValidString(s) {
		return errors.New("hub name is not valid UTF-8")
	}
	for i, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("hub name has an unprintable character %U at byte %d", r, i)
		}
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return errors.New("hub name starts or ends with a space")
	}
	return nil
}

// checkHouseholdID accepts 1 to MaxHouseholdIDLen bytes of A-Z, a-z, 0-9
// and "-_.:".
func checkHouseholdID(s string) error {
	if len(s) == 0 || len(s) > MaxHouseholdIDLen {
		return fmt.Errorf("household ID is %d bytes, want 1 to %d", len(s), MaxHouseholdIDLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return fmt.Errorf("household ID has a character other than A-Z, a-z, 0-9 and -_.: at byte %d", i)
		}
	}
	return nil
}
