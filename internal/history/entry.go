package history

import (
	"crypto/ed25519"
	"errors"
	"fmt"
)

// Entry versions and types (docs/FORMAT.md, "Log entries, version 1").
const (
	EntryVersion = 0x01

	TypeChainHead = 0x01 // a household chain head: tag ‖ head
	TypeRecord    = 0x02 // a household record: tag ‖ epoch ‖ enc ‖ ct
	TypeRelease   = 0x03 // a web release: key ‖ sig ‖ manifest

	// MaxEntrySize is the largest entry the log holds (an entry bundle
	// stores its length in two bytes).
	MaxEntrySize = 65535

	tagSize       = 32
	headSize      = 32
	chainHeadSize = 2 + tagSize + headSize
	recordFixed   = 2 + tagSize + 4 + 32 // before the ciphertext
	gcmTagSize    = 16
	releaseFixed  = 2 + ed25519.PublicKeySize + ed25519.SignatureSize
)

// ErrMalformed is wrapped by every error for bytes that are not a valid
// entry of a type this version knows.
var ErrMalformed = errors.New("history: malformed log entry")

// ErrUnknownType is returned by ParseEntry for a well-formed version-1
// entry of a type this version does not know (reserved for later entry
// types: readers skip it).
var ErrUnknownType = errors.New("history: log entry of an unknown type")

// Tag is 32 bytes that only holders of a household's genesis hash can
// link to the household.
type Tag [tagSize]byte

// ChainHead is a type-1 entry: the chain head of a household at one seq.
type ChainHead struct {
	Tag  Tag      // TagKey.Chain(seq)
	Head [32]byte // the link_hash of link seq
}

// Encode returns the entry's bytes.
func (c ChainHead) Encode() []byte {
	b := make([]byte, 0, chainHeadSize)
	b = append(b, EntryVersion, TypeChainHead)
	b = append(b, c.Tag[:]...)
	return append(b, c.Head[:]...)
}

// SealedRecord is a type-2 entry: a household record sealed to an epoch
// key. Open it with OpenRecord.
type SealedRecord struct {
	Tag   Tag    // TagKey.Record(n)
	Epoch uint32 // the epoch whose key it is sealed to
	Enc   []byte // HPKE encapsulated key (32 bytes)
	CT    []byte // HPKE ciphertext of the record's JSON (with the AEAD tag)
}

// Encode returns the entry's bytes.
func (r SealedRecord) Encode() []byte {
	b := make([]byte, 0, recordFixed+len(r.CT))
	b = append(b, EntryVersion, TypeRecord)
	b = append(b, r.Tag[:]...)
	b = append(b, byte(r.Epoch>>24), byte(r.Epoch>>16), byte(r.Epoch>>8), byte(r.Epoch))
	b = append(b, r.Enc...)
	return append(b, r.CT...)
}

// aad is what the record's AEAD authenticates besides the plaintext: the
// entry's first 38 bytes.
func (r SealedRecord) aad() []byte { return r.Encode()[:2+tagSize+4] }

// Release is a type-3 entry: a web release manifest signed by a release
// key. Its bytes are also the signed release's file form (release.vrel).
type Release struct {
	Key      ed25519.PublicKey
	Sig      []byte
	Manifest []byte
}

// Encode returns the entry's bytes.
func (r Release) Encode() []byte {
	b := make([]byte, 0, releaseFixed+len(r.Manifest))
	b = append(b, EntryVersion, TypeRelease)
	b = append(b, r.Key...)
	b = append(b, r.Sig...)
	return append(b, r.Manifest...)
}

// Entry is one parsed log entry: exactly one of the fields is set.
type Entry struct {
	ChainHead *ChainHead
	Record    *SealedRecord
	Release   *Release
}

// ParseEntry decodes b. It checks the layout only: a record still has to be
// opened, a release's signature verified. A version-1 entry of another type
// gives ErrUnknownType; anything else that is not an entry, ErrMalformed.
func ParseEntry(b []byte) (Entry, error) {
	if len(b) < 2 {
		return Entry{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if len(b) > MaxEntrySize {
		return Entry{}, fmt.Errorf("%w: %d bytes is over the limit of %d", ErrMalformed, len(b), MaxEntrySize)
	}
	if b[0] != EntryVersion {
		return Entry{}, fmt.Errorf("%w: version %d (this reader knows version %d)", ErrMalformed, b[0], EntryVersion)
	}
	switch b[1] {
	case TypeChainHead:
		if len(b) != chainHeadSize {
			return Entry{}, fmt.Errorf("%w: a chain head is %d bytes, not %d", ErrMalformed, chainHeadSize, len(b))
		}
		var c ChainHead
		copy(c.Tag[:], b[2:])
		copy(c.Head[:], b[2+tagSize:])
		return Entry{ChainHead: &c}, nil
	case TypeRecord:
		if len(b) < recordFixed+gcmTagSize {
			return Entry{}, fmt.Errorf("%w: a household record of %d bytes is too short", ErrMalformed, len(b))
		}
		r := SealedRecord{
			Epoch: uint32(b[34])<<24 | uint32(b[35])<<16 | uint32(b[36])<<8 | uint32(b[37]),
			Enc:   append([]byte(nil), b[38:70]...),
			CT:    append([]byte(nil), b[70:]...),
		}
		copy(r.Tag[:], b[2:])
		if r.Epoch == 0 {
			return Entry{}, fmt.Errorf("%w: a household record sealed to epoch 0", ErrMalformed)
		}
		return Entry{Record: &r}, nil
	case TypeRelease:
		if len(b) <= releaseFixed {
			return Entry{}, fmt.Errorf("%w: a release of %d bytes has no manifest", ErrMalformed, len(b))
		}
		r := Release{
			Key:      append(ed25519.PublicKey(nil), b[2:2+ed25519.PublicKeySize]...),
			Sig:      append([]byte(nil), b[2+ed25519.PublicKeySize:releaseFixed]...),
			Manifest: append([]byte(nil), b[releaseFixed:]...),
		}
		return Entry{Release: &r}, nil
	}
	return Entry{}, fmt.Errorf("%w (type %d)", ErrUnknownType, b[1])
}
