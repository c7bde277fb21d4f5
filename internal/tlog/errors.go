package tlog

import (
	"errors"
	"fmt"
)

// Errors of the storage, the sequencer and the client (test with errors.Is;
// most are returned wrapped with the detail).
var (
	// ErrNotFound: a Storage holds nothing at that path, or no checkpoint
	// yet.
	ErrNotFound = errors.New("tlog: not found")
	// ErrConflict: PutTile with other bytes than those already stored at
	// the path, or SwapCheckpoint whose old checkpoint is not the current
	// one.
	ErrConflict = errors.New("tlog: conflict with what is stored")
	// ErrMalformed: a checkpoint, note, key, tile or entry bundle that does
	// not parse or breaks the format's rules.
	ErrMalformed = errors.New("tlog: malformed")
	// ErrBadSignature: a checkpoint not signed by the log's key, or carrying
	// a signature by a known key (the log's or a listed witness's) that does
	// not verify.
	ErrBadSignature = errors.New("tlog: bad signature")
	// ErrOlder: the log served a checkpoint smaller than the one the client
	// already verified. The client keeps the one it had (no rollback).
	ErrOlder = errors.New("tlog: the log served an older checkpoint than the one already verified")
	// ErrNotIncluded: an entry is not the one the log holds at that index
	// in the verified tree (its inclusion proof does not reach the root).
	ErrNotIncluded = errors.New("tlog: entry is not included at that index")
	// ErrClosed: the Log was closed.
	ErrClosed = errors.New("tlog: log is closed")
)

// QuorumError: a checkpoint carries valid cosignatures from fewer distinct
// listed witnesses than the policy requires.
type QuorumError struct {
	Have, Need int
}

func (e *QuorumError) Error() string {
	return fmt.Sprintf("tlog: checkpoint has valid cosignatures from %d of the %d witnesses the policy requires", e.Have, e.Need)
}

// SplitViewError: two verified checkpoints of the same log and size with
// different root hashes. The log has shown two histories; both notes are
// the proof.
type SplitViewError struct {
	Old, New Checkpoint
}

func (e *SplitViewError) Error() string {
	return fmt.Sprintf("tlog: split view: two signed checkpoints of %s at size %d with different roots (%s, %s)",
		e.Old.Origin, e.New.N, e.Old.Hash, e.New.Hash)
}

// InconsistentError: a larger verified checkpoint that does not extend the
// one the client verified before (the log rewrote or dropped entries).
type InconsistentError struct {
	Old, New Checkpoint
	Err      error
}

func (e *InconsistentError) Error() string {
	return fmt.Sprintf("tlog: checkpoint of size %d does not extend the verified checkpoint of size %d: %v", e.New.N, e.Old.N, e.Err)
}

func (e *InconsistentError) Unwrap() error { return e.Err }

// SizeMismatch is what a Witness returns when the size it last cosigned is
// not the one the log gave as oldSize; the log retries once from Size.
type SizeMismatch struct {
	Size int64
}

func (e *SizeMismatch) Error() string {
	return fmt.Sprintf("tlog: witness last cosigned a tree of size %d", e.Size)
}
