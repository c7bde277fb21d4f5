package history

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"vigil/internal/canonjson"
	"vigil/internal/envelope"
)

// MaxRecordSize bounds a record's JSON.
const MaxRecordSize = 16384

const recordInfo = "vigil/history/v1/record"

// ErrNoKey is returned by OpenRecord when none of the identities opens the
// record: it was sealed to an epoch key this device does not hold (made
// after the device was removed, or by a cloud that sealed it to a key the
// household never had).
var ErrNoKey = errors.New("history: no key of this device opens the record")

// Actor kinds of a record.
const (
	ActorAccount = "account" // a signed-in account (its ID)
	ActorHub     = "hub"     // a hub (its device ID)
	ActorDevice  = "device"  // a member device (its device ID)
	ActorGuest   = "guest"   // a share's guest account
	ActorLink    = "link"    // a share link ("share:<id>")
	ActorCloud   = "cloud"   // the service itself (retention, ...)
	ActorStaff   = "staff"   // a Vigil staff member (their staff ID): never an account of the household
	// ActorWorkspace is a device of a labelling workspace (its device ID:
	// an annotator, reviewer or lead) acting on a clip the household
	// donated.
	ActorWorkspace = "workspace"
)

// Actor is who did what a record records.
type Actor struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// Device is the member device (its keydir device ID) that an account's
	// or a guest's session proved it holds, by signing the session's
	// challenge with the device's signing key (docs/FORMAT.md, "Household
	// records"); empty when the session did not. Only with kind account or
	// guest.
	Device string `json:"device,omitempty"`
}

// Record is one entry of a household's history (docs/FORMAT.md,
// "Household records").
type Record struct {
	V      int        `json:"v"`
	N      int64      `json:"n"`
	Prev   string     `json:"prev"` // hex SHA-256 of record N-1's entry; 64 zeros for N = 1
	Time   time.Time  `json:"time"`
	Actor  Actor      `json:"actor"`
	Action string     `json:"action"`
	Object string     `json:"object,omitempty"`
	Count  int64      `json:"count"`
	Last   *time.Time `json:"last,omitempty"`
	// Signed is the signed household action that authorised a change, as
	// the admin device sent it ({"device","body","sig"}); absent for reads.
	Signed json.RawMessage `json:"signed,omitempty"`
}

// ZeroPrev is Prev of record 1.
var ZeroPrev = strings.Repeat("0", 64)

// EntryHash is what the next record's Prev holds: the SHA-256 of an entry,
// hex.
func EntryHash(entry []byte) string {
	h := sha256.Sum256(entry)
	return hex.EncodeToString(h[:])
}

var (
	actionRE = regexp.MustCompile(`^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$`)
	hexRE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func printable(s string, max int) bool {
	if s == "" || len(s) > max || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Check reports the first rule of docs/FORMAT.md that r breaks.
func (r *Record) Check() error {
	switch {
	case r.V != 1:
		return fmt.Errorf("%w: record version %d (want 1)", ErrMalformed, r.V)
	case r.N < 1:
		return fmt.Errorf("%w: record number %d (records count from 1)", ErrMalformed, r.N)
	case !hexRE.MatchString(r.Prev):
		return fmt.Errorf("%w: record %d: prev is not 64 lower-case hex digits", ErrMalformed, r.N)
	case r.N == 1 && r.Prev != ZeroPrev:
		return fmt.Errorf("%w: record 1 has a previous record", ErrMalformed)
	case r.Time.IsZero():
		return fmt.Errorf("%w: record %d has no time", ErrMalformed, r.N)
	case !validActorKind(r.Actor.Kind):
		return fmt.Errorf("%w: record %d: unknown actor kind %q", ErrMalformed, r.N, r.Actor.Kind)
	case !printable(r.Actor.ID, 128):
		return fmt.Errorf("%w: record %d: actor id must be 1..128 printable bytes", ErrMalformed, r.N)
	case r.Actor.Device != "" && !deviceIDRE.MatchString(r.Actor.Device):
		return fmt.Errorf("%w: record %d: actor device %q is not a device ID", ErrMalformed, r.N, r.Actor.Device)
	case r.Actor.Device != "" && r.Actor.Kind != ActorAccount && r.Actor.Kind != ActorGuest:
		return fmt.Errorf("%w: record %d: only an account or a guest names a device, not %s", ErrMalformed, r.N, r.Actor.Kind)
	case len(r.Action) > 64 || !actionRE.MatchString(r.Action):
		return fmt.Errorf("%w: record %d: action %q is not a dotted lower-case name", ErrMalformed, r.N, r.Action)
	case r.Object != "" && !printable(r.Object, 512):
		return fmt.Errorf("%w: record %d: object must be at most 512 printable bytes", ErrMalformed, r.N)
	case r.Count < 1:
		return fmt.Errorf("%w: record %d: count %d (at least 1)", ErrMalformed, r.N, r.Count)
	case r.Last != nil && (r.Count < 2 || r.Last.Before(r.Time)):
		return fmt.Errorf("%w: record %d: last is only for repeated reads, and not before time", ErrMalformed, r.N)
	}
	if len(r.Signed) > 0 {
		if len(r.Signed) > 8192 || !json.Valid(r.Signed) || bytes.TrimSpace(r.Signed)[0] != '{' {
			return fmt.Errorf("%w: record %d: signed must be a JSON object of at most 8192 bytes", ErrMalformed, r.N)
		}
	}
	return nil
}

func validActorKind(k string) bool {
	switch k {
	case ActorAccount, ActorHub, ActorDevice, ActorGuest, ActorLink, ActorCloud, ActorStaff, ActorWorkspace:
		return true
	}
	return false
}

// MarshalRecord returns the record's JSON after checking it.
func MarshalRecord(r Record) ([]byte, error) {
	r.Time = r.Time.UTC()
	if r.Last != nil {
		l := r.Last.UTC()
		r.Last = &l
	}
	if len(r.Signed) > 0 {
		var c bytes.Buffer
		if err := json.Compact(&c, r.Signed); err != nil {
			return nil, fmt.Errorf("%w: signed: %v", ErrMalformed, err)
		}
		r.Signed = c.Bytes()
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxRecordSize {
		return nil, fmt.Errorf("%w: record %d is %d bytes, over %d", ErrMalformed, r.N, len(b), MaxRecordSize)
	}
	return b, nil
}

// ParseRecord decodes a record's JSON strictly: unknown fields, trailing
// data and anything Check refuses are errors.
func ParseRecord(b []byte) (Record, error) {
	if len(b) > MaxRecordSize {
		return Record{}, fmt.Errorf("%w: record of %d bytes is over %d", ErrMalformed, len(b), MaxRecordSize)
	}
	var r Record
	if err := canonjson.Decode(b, &r); err != nil {
		return Record{}, fmt.Errorf("%w: record: %v", ErrMalformed, err)
	}
	if err := r.Check(); err != nil {
		return Record{}, err
	}
	return r, nil
}

func hpkeSuite() (hpke.KDF, hpke.AEAD) { return hpke.HKDFSHA256(), hpke.AES256GCM() }

// SealRecord seals r to the household's epoch key (recipient rcpt of epoch
// number epoch) and returns the log entry. Only whoever holds that epoch's
// private key (the household's devices, the recovery phrase) can open it.
func SealRecord(tk TagKey, epoch uint32, rcpt *envelope.X25519Recipient, r Record) ([]byte, error) {
	if epoch == 0 || rcpt == nil {
		return nil, errors.New("history: a record is sealed to an epoch (>= 1) and its key")
	}
	pt, err := MarshalRecord(r)
	if err != nil {
		return nil, err
	}
	pub, err := ecdh.X25519().NewPublicKey(rcpt.Bytes())
	if err != nil {
		return nil, err
	}
	pk, err := hpke.NewDHKEMPublicKey(pub)
	if err != nil {
		return nil, err
	}
	kdf, aead := hpkeSuite()
	enc, s, err := hpke.NewSender(pk, kdf, aead, []byte(recordInfo))
	if err != nil {
		return nil, err
	}
	sr := SealedRecord{Tag: tk.Record(r.N), Epoch: epoch, Enc: enc}
	ct, err := s.Seal(sr.aad(), pt)
	if err != nil {
		return nil, err
	}
	sr.CT = ct
	return sr.Encode(), nil
}

// OpenRecord opens a type-2 entry with the device's epoch identities and
// checks that its tag is the household's tag for its number. ErrNoKey when
// no identity opens it.
func OpenRecord(entry []byte, tk TagKey, ids []envelope.Identity) (Record, error) {
	e, err := ParseEntry(entry)
	if err != nil {
		return Record{}, err
	}
	if e.Record == nil {
		return Record{}, fmt.Errorf("%w: not a household record", ErrMalformed)
	}
	sr := e.Record
	kdf, aead := hpkeSuite()
	for _, id := range ids {
		x, ok := id.(*envelope.X25519Identity)
		if !ok {
			continue
		}
		priv, err := ecdh.X25519().NewPrivateKey(x.Bytes())
		if err != nil {
			continue
		}
		k, err := hpke.NewDHKEMPrivateKey(priv)
		if err != nil {
			continue
		}
		rcv, err := hpke.NewRecipient(sr.Enc, k, kdf, aead, []byte(recordInfo))
		if err != nil {
			continue
		}
		pt, err := rcv.Open(sr.aad(), sr.CT)
		if err != nil {
			continue
		}
		r, err := ParseRecord(pt)
		if err != nil {
			return Record{}, err
		}
		if tk.Record(r.N) != sr.Tag {
			return Record{}, fmt.Errorf("%w: record %d carries the tag of another record or household", ErrMalformed, r.N)
		}
		return r, nil
	}
	return Record{}, ErrNoKey
}
