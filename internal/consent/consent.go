package consent

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"vigil/internal/canonjson"
	"vigil/internal/keydir"
)

const (
	// Version is the version of the records this package writes and reads.
	Version = 1
	// MaxSize bounds a record's body.
	MaxSize = 4096
	// MaxLife bounds how long a consent may last (from created to
	// expires); DefaultLife is what a device offers.
	MaxLife     = 731 * 24 * time.Hour
	DefaultLife = 365 * 24 * time.Hour
	// Skew is how far a record's created (or a revocation's time) may be
	// ahead of the verifier's clock, and a revocation's time behind it.
	Skew = 5 * time.Minute

	consentContext    = "vigil/labelling/v1/consent\x00"
	revocationContext = "vigil/labelling/v1/revocation\x00"
)

// Purposes a consent may name: the fixed list a member chooses from.
const (
	PurposePersonDetection = "improve-person-detection"
	PurposeObjectDetection = "improve-object-detection"
)

// Purposes lists every purpose, in the order a device offers them.
var Purposes = []string{PurposePersonDetection, PurposeObjectDetection}

// Errors; every error of this package wraps one of them.
var (
	// ErrMalformed: not a valid record (JSON, field rules, canonical form).
	ErrMalformed = errors.New("consent: malformed record")
	// ErrHousehold: the record names another household (or consent) than
	// the one it is checked against.
	ErrHousehold = errors.New("consent: record for another household or consent")
	// ErrSigner: the signing device is not a current admin or member
	// device of the household's chain (or, for a revocation, neither an
	// admin nor the donor device).
	ErrSigner = errors.New("consent: signer is not a current device of the household allowed to sign this")
	// ErrSignature: the signature does not verify with the signer's key.
	ErrSignature = errors.New("consent: signature does not verify")
	// ErrExpired: the consent's expiry has passed.
	ErrExpired = errors.New("consent: expired")
	// ErrDigest: the sealed object is not the one the consent names.
	ErrDigest = errors.New("consent: the object's SHA-256 is not the consent's")
	// ErrTime: the record's time is too far from the verifier's clock.
	ErrTime = errors.New("consent: record time outside the accepted window")
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

var (
	idRE     = regexp.MustCompile(`^[a-z2-7]{26}$`)
	groupRE  = regexp.MustCompile(`^h[a-z2-7]{26}$`)
	deviceRE = regexp.MustCompile(`^d[a-z2-7]{26}$`)
	hexRE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	eventRE  = regexp.MustCompile(`^[A-Za-z0-9._-]{0,128}$`)
)

// ValidID reports whether id has the shape of a consent ID.
func ValidID(id string) bool { return idRE.MatchString(id) }

// NewID returns a fresh random consent ID: 128 random bits as 26 lower-case
// base32 letters.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// CameraDigest is how a consent names a camera: the hex SHA-256 of its
// stream name, so the workspace learns which donations share a camera
// without the name written out. It is not keyed: a guessed name (front,
// garage) can be checked against it (docs/FORMAT.md, "Consent records").
func CameraDigest(name string) string {
	h := sha256.Sum256([]byte("vigil camera v1\n" + name))
	return hex.EncodeToString(h[:])
}

// Consent is the body a donor's device signs.
type Consent struct {
	V         int
	ID        string // 26 lower-case base32 letters, chosen by the device
	Household string // the donor household's ID
	Device    string // the signing member device's ID
	Workspace string // the labelling workspace's ID (its chain's ID)
	Purpose   string // one of Purposes
	Camera    string // CameraDigest of the clip's camera
	From, To  time.Time
	Event     string   // the event the clip is of; "" for a range of the timeline
	Object    [32]byte // SHA-256 of the sealed donation object, exactly as uploaded
	Audio     bool     // the member kept the clip's sound
	Created   time.Time
	Expires   time.Time
}

type consentWire struct {
	V         int    `json:"v"`
	ID        string `json:"id"`
	Household string `json:"household"`
	Device    string `json:"device"`
	Workspace string `json:"workspace"`
	Purpose   string `json:"purpose"`
	Camera    string `json:"camera"`
	From      string `json:"from"`
	To        string `json:"to"`
	Event     string `json:"event"`
	Object    string `json:"object"`
	Audio     bool   `json:"audio"`
	Created   string `json:"created"`
	Expires   string `json:"expires"`
}

// Revocation takes a consent back. The donor device or any admin device of
// the household signs it.
type Revocation struct {
	V         int
	Consent   string // the consent's ID
	Household string
	Device    string // the signing device's ID
	Time      time.Time
}

type revocationWire struct {
	V         int    `json:"v"`
	Consent   string `json:"consent"`
	Household string `json:"household"`
	Device    string `json:"device"`
	Time      string `json:"time"`
}

func fmtTime(t time.Time, field string) (string, error) {
	s, ok := canonjson.FormatTime(t)
	if !ok {
		return "", malformed("%s: a UTC time of the years 0 to 9999 with millisecond precision", field)
	}
	return s, nil
}

func parseTime(s, field string) (time.Time, error) {
	t, ok := canonjson.ParseTime(s)
	if !ok {
		return time.Time{}, malformed("%s %q: RFC 3339 in UTC with milliseconds, as 2026-12-03T18:00:00.123Z", field, s)
	}
	return t, nil
}

func strictDecode(b []byte, v any) error {
	if len(b) > MaxSize {
		return malformed("body of %d bytes is over %d", len(b), MaxSize)
	}
	if !utf8.Valid(b) {
		return malformed("body is not UTF-8")
	}
	if err := canonjson.Decode(b, v); err != nil {
		return malformed("body: %v", err)
	}
	return nil
}

func checkPurpose(p string) error {
	for _, v := range Purposes {
		if p == v {
			return nil
		}
	}
	return malformed("purpose %q: one of %s", p, strings.Join(Purposes, ", "))
}

// Encode returns the consent's body, its canonical JSON, after checking
// every rule of docs/FORMAT.md.
func (c Consent) Encode() ([]byte, error) {
	switch {
	case c.V != Version:
		return nil, malformed("version %d (this is version %d)", c.V, Version)
	case !idRE.MatchString(c.ID):
		return nil, malformed("id %q: 26 lower-case base32 letters (a-z, 2-7)", c.ID)
	case !groupRE.MatchString(c.Household):
		return nil, malformed("household %q is not a household ID", c.Household)
	case !deviceRE.MatchString(c.Device):
		return nil, malformed("device %q is not a device ID", c.Device)
	case !groupRE.MatchString(c.Workspace):
		return nil, malformed("workspace %q is not a workspace ID", c.Workspace)
	case !hexRE.MatchString(c.Camera):
		return nil, malformed("camera: the camera's digest, 64 lower-case hex digits")
	case !eventRE.MatchString(c.Event):
		return nil, malformed("event: an event ID (up to 128 of A-Z a-z 0-9 . _ -) or empty")
	}
	if err := checkPurpose(c.Purpose); err != nil {
		return nil, err
	}
	w := consentWire{V: c.V, ID: c.ID, Household: c.Household, Device: c.Device, Workspace: c.Workspace,
		Purpose: c.Purpose, Camera: c.Camera, Event: c.Event, Object: hex.EncodeToString(c.Object[:]), Audio: c.Audio}
	var err error
	for _, f := range []struct {
		t    time.Time
		s    *string
		name string
	}{{c.From, &w.From, "from"}, {c.To, &w.To, "to"}, {c.Created, &w.Created, "created"}, {c.Expires, &w.Expires, "expires"}} {
		if *f.s, err = fmtTime(f.t, f.name); err != nil {
			return nil, err
		}
	}
	switch {
	case !c.From.Before(c.To):
		return nil, malformed("from must be before to")
	case !c.Created.Before(c.Expires):
		return nil, malformed("expires must be after created")
	case c.Expires.Sub(c.Created) > MaxLife:
		return nil, malformed("expires: at most %d days after created", MaxLife/(24*time.Hour))
	}
	b, err := canonjson.Marshal(w)
	if err != nil {
		return nil, malformed("%v", err)
	}
	if len(b) > MaxSize {
		return nil, malformed("body of %d bytes is over %d", len(b), MaxSize)
	}
	return b, nil
}

// Parse reads a consent's body strictly: UTF-8 JSON of at most MaxSize
// bytes with exactly the fields of docs/FORMAT.md, valid, and in canonical
// form (it re-encodes to exactly its own bytes).
func Parse(body []byte) (Consent, error) {
	var w consentWire
	if err := strictDecode(body, &w); err != nil {
		return Consent{}, err
	}
	c := Consent{V: w.V, ID: w.ID, Household: w.Household, Device: w.Device, Workspace: w.Workspace,
		Purpose: w.Purpose, Camera: w.Camera, Event: w.Event, Audio: w.Audio}
	var err error
	for _, f := range []struct {
		s    string
		t    *time.Time
		name string
	}{{w.From, &c.From, "from"}, {w.To, &c.To, "to"}, {w.Created, &c.Created, "created"}, {w.Expires, &c.Expires, "expires"}} {
		if *f.t, err = parseTime(f.s, f.name); err != nil {
			return Consent{}, err
		}
	}
	if !hexRE.MatchString(w.Object) {
		return Consent{}, malformed("object: the sealed object's SHA-256, 64 lower-case hex digits")
	}
	hex.Decode(c.Object[:], []byte(w.Object))
	canon, err := c.Encode()
	if err != nil {
		return Consent{}, err
	}
	if !bytes.Equal(canon, body) {
		return Consent{}, malformed("body is not in canonical form (fields v, id, household, device, workspace, purpose, camera, from, to, event, object, audio, created, expires, in that order, no spaces)")
	}
	return c, nil
}

// Encode returns the revocation's body, its canonical JSON.
func (r Revocation) Encode() ([]byte, error) {
	switch {
	case r.V != Version:
		return nil, malformed("version %d (this is version %d)", r.V, Version)
	case !idRE.MatchString(r.Consent):
		return nil, malformed("consent %q: 26 lower-case base32 letters (a-z, 2-7)", r.Consent)
	case !groupRE.MatchString(r.Household):
		return nil, malformed("household %q is not a household ID", r.Household)
	case !deviceRE.MatchString(r.Device):
		return nil, malformed("device %q is not a device ID", r.Device)
	}
	ts, err := fmtTime(r.Time, "time")
	if err != nil {
		return nil, err
	}
	return canonjson.Marshal(revocationWire{V: r.V, Consent: r.Consent, Household: r.Household, Device: r.Device, Time: ts})
}

// ParseRevocation reads a revocation's body strictly, as Parse does.
func ParseRevocation(body []byte) (Revocation, error) {
	var w revocationWire
	if err := strictDecode(body, &w); err != nil {
		return Revocation{}, err
	}
	t, err := parseTime(w.Time, "time")
	if err != nil {
		return Revocation{}, err
	}
	r := Revocation{V: w.V, Consent: w.Consent, Household: w.Household, Device: w.Device, Time: t}
	canon, err := r.Encode()
	if err != nil {
		return Revocation{}, err
	}
	if !bytes.Equal(canon, body) {
		return Revocation{}, malformed("body is not in canonical form (fields v, consent, household, device, time, in that order, no spaces)")
	}
	return r, nil
}

// Signed is a signed record: a consent's or a revocation's body, exactly as
// signed, and the device's Ed25519 signature. Its text form (String,
// ParseSigned) is the body and the signature in unpadded base64url, joined
// by a dot.
type Signed struct {
	Body []byte
	Sig  []byte
}

var b64 = base64.RawURLEncoding.Strict()

// String returns the text form.
func (s Signed) String() string { return b64.EncodeToString(s.Body) + "." + b64.EncodeToString(s.Sig) }

// ParseSigned reads the text form: a body of 1 to MaxSize bytes and a
// 64-byte signature. It does not look into the body.
func ParseSigned(text string) (Signed, error) {
	if len(text) > 2*MaxSize {
		return Signed{}, malformed("signed record of %d bytes is too long", len(text))
	}
	bs, ss, ok := strings.Cut(text, ".")
	if !ok {
		return Signed{}, malformed("expected BODY.SIG, each in unpadded base64url")
	}
	body, err := b64.DecodeString(bs)
	if err != nil || len(body) == 0 || len(body) > MaxSize {
		return Signed{}, malformed("body: 1 to %d bytes, unpadded base64url", MaxSize)
	}
	sig, err := b64.DecodeString(ss)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Signed{}, malformed("sig: the %d-byte Ed25519 signature, unpadded base64url", ed25519.SignatureSize)
	}
	return Signed{Body: body, Sig: sig}, nil
}

// MarshalText returns the text form (JSON strings carry it).
func (s Signed) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the text form strictly.
func (s *Signed) UnmarshalText(b []byte) error {
	v, err := ParseSigned(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Sign signs the consent with the donor device's keys k (c.Device must be
// k's ID).
func Sign(k *keydir.DeviceKeys, c Consent) (Signed, error) {
	if k == nil || len(k.Sign) != ed25519.PrivateKeySize || k.ID() != c.Device {
		return Signed{}, errors.New("consent: signing needs the keys of the device the consent names")
	}
	body, err := c.Encode()
	if err != nil {
		return Signed{}, err
	}
	return Signed{Body: body, Sig: ed25519.Sign(k.Sign, append([]byte(consentContext), body...))}, nil
}

// SignRevocation signs the revocation with the keys k (r.Device must be
// k's ID).
func SignRevocation(k *keydir.DeviceKeys, r Revocation) (Signed, error) {
	if k == nil || len(k.Sign) != ed25519.PrivateKeySize || k.ID() != r.Device {
		return Signed{}, errors.New("consent: signing needs the keys of the device the revocation names")
	}
	body, err := r.Encode()
	if err != nil {
		return Signed{}, err
	}
	return Signed{Body: body, Sig: ed25519.Sign(k.Sign, append([]byte(revocationContext), body...))}, nil
}

// signer returns the device that signs as id in st, if it may sign: a
// current admin or member device (never a hub).
func signer(st *keydir.State, id string) (keydir.DeviceKey, error) {
	d, ok := st.Devices[id]
	if !ok || (d.Role != keydir.RoleAdmin && d.Role != keydir.RoleMember) {
		return keydir.DeviceKey{}, fmt.Errorf("%w: device %s", ErrSigner, id)
	}
	return d, nil
}

// Verify checks a signed consent against the donor household's verified
// chain st (its current state) at now, for the sealed object whose SHA-256
// is object: a valid body for st's household, signed by a current admin or
// member device of it, not expired, created no later than Skew after now,
// and naming exactly that object.
func Verify(s Signed, st *keydir.State, now time.Time, object [32]byte) (Consent, error) {
	c, err := Parse(s.Body)
	if err != nil {
		return Consent{}, err
	}
	if c.Household != st.HouseholdID {
		return Consent{}, fmt.Errorf("%w: consent %s is for household %s", ErrHousehold, c.ID, c.Household)
	}
	d, err := signer(st, c.Device)
	if err != nil {
		return Consent{}, err
	}
	if len(s.Sig) != ed25519.SignatureSize || !ed25519.Verify(d.SignPub, append([]byte(consentContext), s.Body...), s.Sig) {
		return Consent{}, fmt.Errorf("%w: consent %s", ErrSignature, c.ID)
	}
	if !now.Before(c.Expires) {
		return Consent{}, fmt.Errorf("%w: consent %s expired at %s", ErrExpired, c.ID, c.Expires.Format(time.RFC3339))
	}
	if c.Created.After(now.Add(Skew)) {
		return Consent{}, fmt.Errorf("%w: consent %s is created in the future (check the device's clock)", ErrTime, c.ID)
	}
	if c.Object != object {
		return Consent{}, fmt.Errorf("%w: consent %s", ErrDigest, c.ID)
	}
	return c, nil
}

// VerifyWithKey checks a signed consent as a workspace's device can, which
// does not hold the donor household's chain: against the donor device's
// public key pub (the cloud serves it from the chain it verified), at now,
// for the object whose SHA-256 is object. It checks that pub is the
// consent's device, the signature, the expiry and the digest.
func VerifyWithKey(s Signed, pub ed25519.PublicKey, now time.Time, object [32]byte) (Consent, error) {
	c, err := Parse(s.Body)
	if err != nil {
		return Consent{}, err
	}
	if len(pub) != ed25519.PublicKeySize || keydir.DeviceID(pub) != c.Device {
		return Consent{}, fmt.Errorf("%w: the key given is not device %s's", ErrSigner, c.Device)
	}
	if len(s.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub, append([]byte(consentContext), s.Body...), s.Sig) {
		return Consent{}, fmt.Errorf("%w: consent %s", ErrSignature, c.ID)
	}
	if !now.Before(c.Expires) {
		return Consent{}, fmt.Errorf("%w: consent %s expired at %s", ErrExpired, c.ID, c.Expires.Format(time.RFC3339))
	}
	if c.Object != object {
		return Consent{}, fmt.Errorf("%w: consent %s", ErrDigest, c.ID)
	}
	return c, nil
}

// VerifyRevocation checks a signed revocation of consent c against the
// household's verified chain st at now: a valid body naming c and its
// household, signed by c's donor device or an admin device of st's current
// state, within Skew of now.
func VerifyRevocation(s Signed, c Consent, st *keydir.State, now time.Time) (Revocation, error) {
	r, err := ParseRevocation(s.Body)
	if err != nil {
		return Revocation{}, err
	}
	if r.Household != st.HouseholdID || r.Household != c.Household || r.Consent != c.ID {
		return Revocation{}, fmt.Errorf("%w: revocation of consent %s", ErrHousehold, r.Consent)
	}
	d, err := signer(st, r.Device)
	if err != nil {
		return Revocation{}, err
	}
	if d.Role != keydir.RoleAdmin && d.ID != c.Device {
		return Revocation{}, fmt.Errorf("%w: device %s is neither an admin device nor the donor device", ErrSigner, d.ID)
	}
	if len(s.Sig) != ed25519.SignatureSize || !ed25519.Verify(d.SignPub, append([]byte(revocationContext), s.Body...), s.Sig) {
		return Revocation{}, fmt.Errorf("%w: revocation of consent %s", ErrSignature, r.Consent)
	}
	if skew := r.Time.Sub(now); skew > Skew || skew < -Skew {
		return Revocation{}, fmt.Errorf("%w: revocation signed at %s", ErrTime, r.Time.Format(time.RFC3339))
	}
	return r, nil
}
