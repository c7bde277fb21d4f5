package history

import (
	"slices"
	"strings"

	"vigil/internal/tlog"
)

// Wire types of the cloud's history API (docs/API.md), shared by the cloud
// and its Go client.

// LogPolicy is the transparency log a cloud appends to and what it takes
// for a checkpoint to count: the log's note verifier key and the witnesses
// (C2SP cosignature keys) of which Quorum must cosign. A device pins it the
// first time it talks to a cloud and refuses a different one later.
type LogPolicy struct {
	Origin    string   `json:"origin"`
	Key       string   `json:"key"`
	Witnesses []string `json:"witnesses"`
	Quorum    int      `json:"quorum"`
}

// Equal reports whether p and q name the same log, the same witnesses and
// the same quorum.
func (p LogPolicy) Equal(q LogPolicy) bool {
	return strings.TrimSpace(p.Key) == strings.TrimSpace(q.Key) && p.Quorum == q.Quorum && slices.Equal(p.Witnesses, q.Witnesses)
}

// Policy returns the tlog policy that verifies the log's checkpoints.
func (p LogPolicy) Policy() (tlog.Policy, error) {
	return tlog.NewPolicy(p.Key, p.Witnesses, p.Quorum)
}

// HistoryPage is one page of a household's records as the cloud lists them
// (GET /v1/households/{hh}/history).
type HistoryPage struct {
	Records []RecordRef `json:"records"`
	More    bool        `json:"more"`
}

// RecordRef is one record as the cloud lists it: its number, its log index
// (-1 while it waits for the log) and the log entry, sealed to the
// household. Nothing in it is trusted until an audit has verified it.
type RecordRef struct {
	N     int64  `json:"n"`
	Index int64  `json:"index"`
	Entry []byte `json:"entry"`
}
