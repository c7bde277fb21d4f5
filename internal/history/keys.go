package history

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"

	"vigil/internal/tlog"
)

// TagKey makes the tags by which a household's members and hubs recognise
// its entries in the log. It is derived from the genesis hash, which the
// cloud serves to members and hubs only.
type TagKey struct{ k []byte }

// NewTagKey derives the household's tag key from its genesis hash.
func NewTagKey(genesisHash []byte) (TagKey, error) {
	if len(genesisHash) != 32 {
		return TagKey{}, errors.New("history: a genesis hash is 32 bytes")
	}
	k, err := hkdf.Key(sha256.New, genesisHash, nil, "vigil/history/v1/tag", 32)
	if err != nil {
		return TagKey{}, err
	}
	return TagKey{k}, nil
}

// Chain returns the tag of the household's chain head at seq.
func (t TagKey) Chain(seq int64) Tag { return t.tag("chain", uint64(seq)) }

// Record returns the tag of the household's record n.
func (t TagKey) Record(n int64) Tag { return t.tag("record", uint64(n)) }

func (t TagKey) tag(label string, n uint64) Tag {
	m := hmac.New(sha256.New, t.k)
	m.Write([]byte(label))
	m.Write([]byte{0})
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	m.Write(b[:])
	var out Tag
	copy(out[:], m.Sum(nil))
	return out
}

// ChainHeadEntry returns the log entry of the household's chain head: link
// seq whose link_hash is head.
func (t TagKey) ChainHeadEntry(seq int64, head []byte) ([]byte, error) {
	if len(head) != 32 || seq < 0 {
		return nil, errors.New("history: a chain head is a seq >= 0 and a 32-byte link hash")
	}
	c := ChainHead{Tag: t.Chain(seq)}
	copy(c.Head[:], head)
	return c.Encode(), nil
}

// ProveChainHead proves that the head of link seq (its link_hash, head) of
// the household whose tags tk makes is the entry at index of the log, in
// the checkpoint lc verified last. Devices, hubs and audits all prove heads
// through it.
func (t TagKey) ProveChainHead(ctx context.Context, lc *tlog.Client, seq int64, head []byte, index int64) error {
	e, err := t.ChainHeadEntry(seq, head)
	if err != nil {
		return err
	}
	return lc.ProveEntry(ctx, index, e)
}
