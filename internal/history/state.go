package history

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"vigil/internal/canonjson"
)

// Hub state records (docs/FORMAT.md, "Hub state records"): what a hub
// verified, sealed by the hub as envelope kind 5 on stream "states".

// StateStream is the fixed public stream of hub state records.
const StateStream = "states"

// MaxStateSize bounds a state record's JSON.
const MaxStateSize = 8192

// Limits of a state record's problems.
const (
	MaxProblems    = 16
	MaxProblemText = 512
)

// StateRecord is what a hub verified when it made the record.
type StateRecord struct {
	V          int              `json:"v"`
	Hub        string           `json:"hub"`
	Time       time.Time        `json:"time"`
	Chain      StateChain       `json:"chain"`
	Checkpoint *StateCheckpoint `json:"checkpoint,omitempty"`
	Problems   []Problem        `json:"problems,omitempty"`
}

// StateChain is the chain head the hub verified.
type StateChain struct {
	Seq  int64  `json:"seq"`
	Head string `json:"head"` // hex link_hash
}

// StateCheckpoint is the log checkpoint the hub verified.
type StateCheckpoint struct {
	Origin string `json:"origin"`
	Size   int64  `json:"size"`
	Hash   string `json:"hash"` // the root hash, standard base64 as in the checkpoint
}

// Problem is something the hub refused or could not do.
type Problem struct {
	Time time.Time `json:"time"`
	Text string    `json:"text"`
}

// deviceIDRE matches a device ID (keydir.DeviceID): a hub's in a state
// record, a signing device's in a signed action.
var deviceIDRE = regexp.MustCompile(`^d[a-z2-7]{26}$`)

// Check reports the first rule that s breaks.
func (s *StateRecord) Check() error {
	switch {
	case s.V != 1:
		return fmt.Errorf("%w: state record version %d (want 1)", ErrMalformed, s.V)
	case !deviceIDRE.MatchString(s.Hub):
		return fmt.Errorf("%w: state record: hub is not a device ID", ErrMalformed)
	case s.Time.IsZero():
		return fmt.Errorf("%w: state record has no time", ErrMalformed)
	case s.Chain.Seq < 0 || !hexRE.MatchString(s.Chain.Head):
		return fmt.Errorf("%w: state record: chain needs seq >= 0 and a 64-hex head", ErrMalformed)
	case len(s.Problems) > MaxProblems:
		return fmt.Errorf("%w: state record: %d problems (at most %d)", ErrMalformed, len(s.Problems), MaxProblems)
	}
	if c := s.Checkpoint; c != nil {
		h, err := base64.StdEncoding.DecodeString(c.Hash)
		if err != nil || len(h) != 32 || c.Size < 0 || !printable(c.Origin, 256) {
			return fmt.Errorf("%w: state record: checkpoint needs an origin, a size >= 0 and a base64 32-byte hash", ErrMalformed)
		}
	}
	for _, p := range s.Problems {
		if p.Time.IsZero() || !printable(p.Text, MaxProblemText) {
			return fmt.Errorf("%w: state record: a problem needs a time and 1..%d printable bytes", ErrMalformed, MaxProblemText)
		}
	}
	return nil
}

// MarshalState returns the record's JSON after checking it.
func MarshalState(s StateRecord) ([]byte, error) {
	s.Time = s.Time.UTC()
	for i := range s.Problems {
		s.Problems[i].Time = s.Problems[i].Time.UTC()
	}
	if err := s.Check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxStateSize {
		return nil, fmt.Errorf("%w: state record of %d bytes is over %d", ErrMalformed, len(b), MaxStateSize)
	}
	return b, nil
}

// ParseState decodes a state record strictly.
func ParseState(b []byte) (StateRecord, error) {
	if len(b) > MaxStateSize {
		return StateRecord{}, fmt.Errorf("%w: state record of %d bytes is over %d", ErrMalformed, len(b), MaxStateSize)
	}
	var s StateRecord
	if err := canonjson.Decode(b, &s); err != nil {
		return StateRecord{}, fmt.Errorf("%w: state record: %v", ErrMalformed, err)
	}
	if err := s.Check(); err != nil {
		return StateRecord{}, err
	}
	return s, nil
}
