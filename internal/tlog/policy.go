package tlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// emptyTreeHash is the root of the empty tree (RFC 6962: SHA-256 of the
// empty string).
var emptyTreeHash = tlog.Hash(sha256.Sum256(nil))

// Checkpoint is a verified checkpoint (C2SP tlog-checkpoint).
type Checkpoint struct {
	Origin string
	N      int64
	Hash   tlog.Hash
	// Note is the whole signed note, with the cosignatures it came with.
	Note []byte
}

// Tree returns the checkpoint's tree.
func (c Checkpoint) Tree() tlog.Tree { return tlog.Tree{N: c.N, Hash: c.Hash} }

// formatCheckpoint is the C2SP checkpoint body of a tree: origin, size,
// base64 root, no extension lines.
func formatCheckpoint(origin string, n int64, h tlog.Hash) string {
	return origin + "\n" + strconv.FormatInt(n, 10) + "\n" + base64.StdEncoding.EncodeToString(h[:]) + "\n"
}

// parseCheckpoint parses a checkpoint body, canonical and without
// extension lines.
func parseCheckpoint(text string) (origin string, n int64, h tlog.Hash, err error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return "", 0, h, fmt.Errorf("%w: checkpoint body has %d lines (want origin, size and root hash, each ending in a newline, no extension lines)", ErrMalformed, len(lines)-1)
	}
	origin = lines[0]
	if origin == "" {
		return "", 0, h, fmt.Errorf("%w: checkpoint has an empty origin", ErrMalformed)
	}
	n, perr := strconv.ParseInt(lines[1], 10, 64)
	if perr != nil || n < 0 || lines[1] != strconv.FormatInt(n, 10) {
		return "", 0, h, fmt.Errorf("%w: checkpoint size %q is not a canonical decimal number", ErrMalformed, lines[1])
	}
	if n > maxTreeSize {
		return "", 0, h, fmt.Errorf("%w: checkpoint size %d is beyond what any log here reaches (2^48)", ErrMalformed, n)
	}
	raw, perr := base64.StdEncoding.DecodeString(lines[2])
	if perr != nil || len(raw) != tlog.HashSize || base64.StdEncoding.EncodeToString(raw) != lines[2] {
		return "", 0, h, fmt.Errorf("%w: checkpoint root hash %q is not the base64 of 32 bytes", ErrMalformed, lines[2])
	}
	copy(h[:], raw)
	if n == 0 && h != emptyTreeHash {
		return "", 0, h, fmt.Errorf("%w: checkpoint of size 0 whose root is not the empty tree's", ErrMalformed)
	}
	return origin, n, h, nil
}

// Policy is what a client requires of a checkpoint: the log's signature
// and valid cosignatures from at least Quorum distinct listed witnesses.
type Policy struct {
	// Origin is the checkpoint's first line; it is the log key's name.
	Origin string
	// Log verifies the log's signature.
	Log note.Verifier
	// Witnesses verify cosignatures (see NewCosignatureVerifier).
	Witnesses []note.Verifier
	// Quorum is how many distinct witnesses must have cosigned (0: none).
	Quorum int
}

// NewPolicy builds a Policy from the log's verifier key (as /tlog/key
// serves it), the witnesses' cosignature verifier keys and the quorum K.
func NewPolicy(logVKey string, witnessVKeys []string, quorum int) (Policy, error) {
	lv, err := note.NewVerifier(strings.TrimSpace(logVKey))
	if err != nil {
		return Policy{}, fmt.Errorf("%w: log key %q: %v (want <origin>+<hash>+<base64 Ed25519 key>, as /tlog/key serves it)", ErrMalformed, logVKey, err)
	}
	p := Policy{Origin: lv.Name(), Log: lv, Quorum: quorum}
	type id struct {
		name string
		hash uint32
	}
	seen := map[id]bool{{lv.Name(), lv.KeyHash()}: true}
	for i, k := range witnessVKeys {
		v, err := NewCosignatureVerifier(strings.TrimSpace(k))
		if err != nil {
			return Policy{}, fmt.Errorf("witness key %d: %w", i+1, err)
		}
		if seen[id{v.Name(), v.KeyHash()}] {
			return Policy{}, fmt.Errorf("%w: witness key %d (%q) is listed twice or is the log's key", ErrMalformed, i+1, k)
		}
		seen[id{v.Name(), v.KeyHash()}] = true
		p.Witnesses = append(p.Witnesses, v)
	}
	if quorum < 0 || quorum > len(p.Witnesses) {
		return Policy{}, fmt.Errorf("%w: quorum %d with %d witness keys (want 0 to %d)", ErrMalformed, quorum, len(p.Witnesses), len(p.Witnesses))
	}
	return p, nil
}

// Verify checks a checkpoint note: the log's signature, valid cosignatures
// from Quorum distinct listed witnesses (signatures by unknown keys are
// ignored, a second signature by one key is ignored, a signature by a
// known key that does not verify refuses the note, as C2SP signed-note
// says), and the body: origin equal to p.Origin, canonical size and hash,
// no extension lines. Errors: ErrMalformed (wrapped), ErrBadSignature
// (wrapped), *QuorumError.
func (p Policy) Verify(msg []byte) (Checkpoint, error) {
	if p.Log == nil {
		return Checkpoint{}, fmt.Errorf("%w: policy has no log key", ErrMalformed)
	}
	if len(msg) > maxCheckpointBytes {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint note of %d bytes", ErrMalformed, len(msg))
	}
	known := make([]note.Verifier, 0, 1+len(p.Witnesses))
	known = append(known, p.Log)
	known = append(known, p.Witnesses...)
	n, err := note.Open(msg, note.VerifierList(known...))
	if err != nil {
		var inv *note.InvalidSignatureError
		var unv *note.UnverifiedNoteError
		switch {
		case errors.As(err, &inv):
			return Checkpoint{}, fmt.Errorf("%w: the signature by %s+%08x does not verify", ErrBadSignature, inv.Name, inv.Hash)
		case errors.As(err, &unv):
			return Checkpoint{}, fmt.Errorf("%w: checkpoint not signed by the log key %s", ErrBadSignature, p.Log.Name())
		default:
			return Checkpoint{}, fmt.Errorf("%w: checkpoint note: %v", ErrMalformed, err)
		}
	}
	logSigned := false
	witnesses := 0
	for _, s := range n.Sigs {
		if s.Name == p.Log.Name() && s.Hash == p.Log.KeyHash() {
			logSigned = true
		} else {
			witnesses++ // note.Open keeps one signature per known key
		}
	}
	if !logSigned {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint not signed by the log key %s", ErrBadSignature, p.Log.Name())
	}
	origin, size, hash, err := parseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if origin != p.Origin {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint origin %q, want %q", ErrMalformed, origin, p.Origin)
	}
	if witnesses < p.Quorum {
		return Checkpoint{}, &QuorumError{Have: witnesses, Need: p.Quorum}
	}
	return Checkpoint{Origin: origin, N: size, Hash: hash, Note: bytes.Clone(msg)}, nil
}

// Compare reports two verified checkpoints of one log that cannot both be
// true: the same size with different roots is a *SplitViewError. Two
// checkpoints of different logs are ErrMalformed. Checkpoints of different
// sizes are not compared here (a consistency proof needs the tiles; see
// Client.Update and Client.TreeHash).
func Compare(a, b Checkpoint) error {
	if a.Origin != b.Origin {
		return fmt.Errorf("%w: checkpoints of two logs (%q, %q)", ErrMalformed, a.Origin, b.Origin)
	}
	if a.N == b.N && a.Hash != b.Hash {
		return &SplitViewError{Old: a, New: b}
	}
	return nil
}
