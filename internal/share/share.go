// Package share is the share manifest of docs/FORMAT.md ("Share manifest")
// in Go: the link key schedule (link key, bearer token and MAC key derived
// from the secret in a link's fragment), signing a manifest as a sharer
// device and opening one as a guest, and opening the one blurred clip of a
// redacted share (version 2). The browser's implementation is
// web/src/share/manifest.ts; each opens what the other makes.
//
// What it owns: the format and its checks. What it must never do: put the
// link secret, the link key, the MAC key or a file key anywhere but in the
// caller's hands (the bearer token is the only derived value meant to be
// sent), or return the body of a manifest whose MAC or signature fails.
package share

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"vigil/internal/envelope"
)

// Domain separation (FORMAT.md).
const (
	SigContext = "vigil/share/v1/manifest\x00"
	infoKey    = "vigil/share/v1/link-key"
	infoToken  = "vigil/share/v1/link-token"
	infoMAC    = "vigil/share/v1/link-mac"
)

// Manifest versions: 1 shares the household's own segments; 2 is a
// redacted share, whose only object is one blurred clip the sharer's device
// sealed and signed (Body.Redacted).
const (
	V1         = 1
	VRedacted  = 2
	clipSuffix = "/clip"
)

// ClipKey is the cloud key of a redacted share's clip: "shares/<id>/clip".
func ClipKey(id string) string { return "shares/" + id + clipSuffix }

// Kinds of share.
const (
	KindLink    = "link"
	KindAccount = "account"
)

// SecretSize is the size of a new link secret; MinSecretSize the least a
// reader accepts.
const (
	SecretSize    = 32
	MinSecretSize = 16
	stanzaSize    = 85
)

var b64u = base64.RawURLEncoding

// Object is one shared object: its cloud key, its times and its file key
// wrapped to the share's recipient.
type Object struct {
	Key    string    `json:"key"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Stanza string    `json:"stanza"` // base64url of the 85-byte type-1 stanza
}

// Sharer is the device that signed a manifest.
type Sharer struct {
	Device  string `json:"device"`
	SignPub string `json:"sign_pub"` // base64url Ed25519 public key
	Name    string `json:"name"`
}

// Redaction says that a share is redacted (faces and heads blurred) and
// names the device that sealed and signed its clip: the sharer's device,
// whose key the guest checks the clip's signature against.
type Redaction struct {
	Device  string `json:"device"`
	SignPub string `json:"sign_pub"` // base64url Ed25519 public key
}

// Body is a manifest's content.
type Body struct {
	V             int       `json:"v"`
	ID            string    `json:"id"`
	Household     string    `json:"household"`
	HouseholdName string    `json:"household_name"`
	Camera        string    `json:"camera"`
	From          time.Time `json:"from"`
	To            time.Time `json:"to"`
	Expires       time.Time `json:"expires"`
	Kind          string    `json:"kind"`
	Recipient     string    `json:"recipient"` // base64url X25519 public key
	Sharer        Sharer    `json:"sharer"`
	Hubs          []string  `json:"hubs"` // base64url Ed25519 keys
	Objects       []Object  `json:"objects"`
	Created       time.Time `json:"created"`
	// Redacted is set in version 2 only: Objects is then the one clip
	// under ClipKey(ID), and Hubs is empty.
	Redacted *Redaction `json:"redacted,omitempty"`
}

type signed struct {
	Body string `json:"body"`
	Sig  string `json:"sig"`
	MAC  string `json:"mac,omitempty"`
}

// NewID returns a new share ID: 128 random bits as 26 lower-case base32 letters.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// NewSecret returns a new link secret.
func NewSecret() []byte {
	b := make([]byte, SecretSize)
	rand.Read(b)
	return b
}

// LinkKeys are what a link secret derives for share id.
type LinkKeys struct {
	Identity *envelope.X25519Identity // the link key; Recipient() is the manifest's recipient
	Token    []byte                   // the bearer token (Vigil-Share-Token); the cloud keeps SHA-256(Token)
	MACKey   []byte
}

// TokenHeader is the bearer token as sent in Vigil-Share-Token.
func (k *LinkKeys) TokenHeader() string { return b64u.EncodeToString(k.Token) }

// TokenHash is what the cloud stores for the link.
func (k *LinkKeys) TokenHash() [32]byte { return sha256.Sum256(k.Token) }

// DeriveLinkKeys derives the link key, bearer token and MAC key from a link
// secret (HKDF-SHA256, salt = the share ID).
func DeriveLinkKeys(secret []byte, id string) (*LinkKeys, error) {
	if len(secret) < MinSecretSize {
		return nil, fmt.Errorf("share: link secret of %d bytes (at least %d; was the link copied completely?)", len(secret), MinSecretSize)
	}
	derive := func(info string) []byte {
		k, err := hkdf.Key(sha256.New, secret, []byte(id), info, 32)
		if err != nil {
			panic(err) // 32 bytes of SHA-256 HKDF cannot fail
		}
		return k
	}
	idn, err := envelope.NewX25519Identity(derive(infoKey))
	if err != nil {
		return nil, err
	}
	return &LinkKeys{Identity: idn, Token: derive(infoToken), MACKey: derive(infoMAC)}, nil
}

// LinkURL is the link of share id on the service at base: the secret only
// in the fragment.
func LinkURL(base, id string, secret []byte) string {
	return strings.TrimRight(base, "/") + "/s/" + id + "#k=" + b64u.EncodeToString(secret)
}

// ParseLinkURL splits a share link into the service's base URL, the share ID
// and the secret.
func ParseLinkURL(link string) (base, id string, secret []byte, err error) {
	u, err := url.Parse(strings.TrimSpace(link))
	if err != nil {
		return "", "", nil, fmt.Errorf("share: not a link: %w", err)
	}
	rest, ok := strings.CutPrefix(u.Path, "/s/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return "", "", nil, errors.New("share: not a share link (its path is not /s/<id>)")
	}
	k, ok := strings.CutPrefix(u.Fragment, "k=")
	if !ok {
		return "", "", nil, errors.New("share: the link has no key (the part after #k= is missing)")
	}
	if secret, err = b64u.DecodeString(k); err != nil || len(secret) < MinSecretSize {
		return "", "", nil, errors.New("share: the link's key is damaged (was it copied completely?)")
	}
	u.Path, u.Fragment, u.RawQuery = "", "", ""
	return u.String(), rest, secret, nil
}

// EncodeStanza is the manifest form of a stanza.
func EncodeStanza(s *envelope.Stanza) string {
	b := make([]byte, 0, stanzaSize)
	b = append(append(append(append(b, s.Type), s.Hint[:]...), s.Enc...), s.Body...)
	return b64u.EncodeToString(b)
}

// StanzaOf decodes an object's stanza.
func (o Object) StanzaOf() (*envelope.Stanza, error) {
	b, err := b64u.DecodeString(o.Stanza)
	if err != nil || len(b) != stanzaSize || b[0] != envelope.StanzaTypeX25519 {
		return nil, fmt.Errorf("share: the key of object %s in the manifest is damaged", o.Key)
	}
	s := &envelope.Stanza{Type: b[0], Enc: b[5:37], Body: b[37:85]}
	copy(s.Hint[:], b[1:5])
	return s, nil
}

// Sign signs body with the sharer device's key and, for a link, the link's
// MAC key, and returns the signed form the cloud stores.
func Sign(body *Body, key ed25519.PrivateKey, macKey []byte) ([]byte, error) {
	if body.Hubs == nil || body.Objects == nil {
		// Lists, never null: readers require arrays.
		c := *body
		if c.Hubs == nil {
			c.Hubs = []string{}
		}
		if c.Objects == nil {
			c.Objects = []Object{}
		}
		body = &c
	}
	bb, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	s := signed{Body: b64u.EncodeToString(bb), Sig: b64u.EncodeToString(ed25519.Sign(key, append([]byte(SigContext), bb...)))}
	if macKey != nil {
		m := hmac.New(sha256.New, macKey)
		m.Write(bb)
		s.MAC = b64u.EncodeToString(m.Sum(nil))
	}
	return json.Marshal(s)
}

// ErrManifest is every failure to open a manifest.
var ErrManifest = errors.New("share: manifest refused")

func refused(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrManifest, fmt.Sprintf(format, args...))
}

// Open checks a signed manifest as the guest of share id whose key is
// recipient (32-byte X25519 public key): for a link (macKey set) the MAC
// first, then the sharer's signature, the version, the ID and the
// recipient. It returns the body only if all hold.
func Open(signedManifest []byte, id string, recipient, macKey []byte) (*Body, error) {
	var s signed
	if err := json.Unmarshal(signedManifest, &s); err != nil {
		return nil, refused("damaged")
	}
	bb, err1 := b64u.DecodeString(s.Body)
	sig, err2 := b64u.DecodeString(s.Sig)
	if err1 != nil || err2 != nil {
		return nil, refused("damaged")
	}
	if macKey != nil {
		mac, err := b64u.DecodeString(s.MAC)
		m := hmac.New(sha256.New, macKey)
		m.Write(bb)
		if err != nil || !hmac.Equal(mac, m.Sum(nil)) {
			return nil, refused("it does not match the link (the link is damaged, or the manifest was replaced)")
		}
	}
	var b Body
	if err := json.Unmarshal(bb, &b); err != nil {
		return nil, refused("damaged body")
	}
	if b.V != V1 && b.V != VRedacted {
		return nil, refused("version %d is not supported", b.V)
	}
	pub, err := b64u.DecodeString(b.Sharer.SignPub)
	if err != nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, append([]byte(SigContext), bb...), sig) {
		return nil, refused("the sharer's signature does not verify")
	}
	if b.ID != id {
		return nil, refused("it is for share %q, not %q", b.ID, id)
	}
	if rc, err := b64u.DecodeString(b.Recipient); err != nil || !hmac.Equal(rc, recipient) {
		return nil, refused("it was made for another device or link")
	}
	if err := checkRedaction(&b); err != nil {
		return nil, err
	}
	return &b, nil
}

// checkRedaction holds a manifest to its version: a version 1 manifest
// names no redaction; a version 2 one names the sharer's own device as the
// clip's signer and lists exactly the clip, under ClipKey(ID), and no hub.
func checkRedaction(b *Body) error {
	if b.V == V1 {
		if b.Redacted != nil {
			return refused("a version 1 manifest cannot be redacted")
		}
		return nil
	}
	r := b.Redacted
	switch {
	case r == nil:
		return refused("a version 2 manifest must say who signed its blurred clip")
	case r.Device != b.Sharer.Device || r.SignPub != b.Sharer.SignPub:
		return refused("its blurred clip is not signed by the device that shared it")
	case len(b.Objects) != 1 || b.Objects[0].Key != ClipKey(b.ID):
		return refused("a redacted share holds exactly its blurred clip (%s)", ClipKey(b.ID))
	case len(b.Hubs) != 0:
		return refused("a redacted share names no hub (its clip is the sharer's)")
	}
	return nil
}

// ErrClip is every failure to open a redacted share's clip.
var ErrClip = errors.New("share: blurred clip refused")

// stanzaIdentity unwraps a manifest's stanza instead of the header's.
type stanzaIdentity struct {
	id     envelope.Identity
	stanza *envelope.Stanza
}

func (s stanzaIdentity) Unwrap([]*envelope.Stanza) ([]byte, error) {
	return s.id.Unwrap([]*envelope.Stanza{s.stanza})
}

// OpenClip opens the sealed clip of redacted share b (opened by Open) as
// its guest, whose key is id: with the file key the manifest wraps to the
// guest, verified in full against the signing key the manifest names
// (Redacted.SignPub); it must be a clip (envelope.KindClip) of the shared
// camera. It returns the clip's header and its plaintext (an MP4).
func OpenClip(b *Body, sealed []byte, id envelope.Identity) (envelope.Header, []byte, error) {
	if b.V != VRedacted || b.Redacted == nil || len(b.Objects) != 1 {
		return envelope.Header{}, nil, fmt.Errorf("%w: the share is not redacted", ErrClip)
	}
	pub, err := b64u.DecodeString(b.Redacted.SignPub)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return envelope.Header{}, nil, fmt.Errorf("%w: the manifest's signing key is damaged", ErrClip)
	}
	st, err := b.Objects[0].StanzaOf()
	if err != nil {
		return envelope.Header{}, nil, fmt.Errorf("%w: %v", ErrClip, err)
	}
	h, _, plain, err := envelope.Open(sealed, envelope.TrustedKeys{ed25519.PublicKey(pub)}, stanzaIdentity{id, st})
	if err != nil {
		return envelope.Header{}, nil, fmt.Errorf("%w: %w", ErrClip, err)
	}
	if h.Kind != envelope.KindClip || h.Stream != b.Camera {
		return envelope.Header{}, nil, fmt.Errorf("%w: it is a %v of %q, not a clip of %s", ErrClip, h.Kind, h.Stream, b.Camera)
	}
	return h, plain, nil
}

// Wrap makes the manifest entry of an object: its file key wrapped to the
// recipient.
func Wrap(key string, start, end time.Time, fileKey []byte, to *envelope.X25519Recipient) (Object, error) {
	s, err := to.Wrap(fileKey)
	if err != nil {
		return Object{}, err
	}
	return Object{Key: key, Start: start.UTC(), End: end.UTC(), Stanza: EncodeStanza(s)}, nil
}
