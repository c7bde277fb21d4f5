package households

import (
	"context"
	"errors"
	"regexp"

	"vigil/internal/cloud/store"
)

// The pairing relay. A hub opens a pairing under an ID derived from its
// pairing code (step 0, its first message); an admin member answers (step
// 1, naming the household it offers); the hub confirms (step 2). The
// messages are opaque here: the pairing package on both ends authenticates
// them.

// MaxPairingMsg bounds a pairing message.
const MaxPairingMsg = 4096

var pairingIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ValidPairingID says whether id has the shape of a pairing ID (32
// lower-case hex characters).
func ValidPairingID(id string) bool { return pairingIDRE.MatchString(id) }

func checkMsg(msg []byte) error {
	if len(msg) == 0 || len(msg) > MaxPairingMsg {
		return errorf(Invalid, "msg: 1 to %d bytes", MaxPairingMsg)
	}
	return nil
}

// CheckPairingMsg checks the shape of a pairing answer before its sender
// is authenticated: the message's size, the step (1 from a member, 2 from
// the hub) and that only step 1 names a household. Step 1's sender must
// then be shown to be an admin of householdID, which is the HTTP layer's
// to check.
func CheckPairingMsg(step int, msg []byte, householdID string) error {
	if err := checkMsg(msg); err != nil {
		return err
	}
	switch step {
	case 1:
	case 2:
		if householdID != "" {
			return errorf(Invalid, "household_id: only with step 1")
		}
	default:
		return errorf(Invalid, "step: 1 (member) or 2 (hub)")
	}
	return nil
}

// CreatePairing opens a pairing with the hub's first message.
func (s *Service) CreatePairing(ctx context.Context, id string, msg []byte) (store.Pairing, error) {
	if !ValidPairingID(id) {
		return store.Pairing{}, errorf(Invalid, "id: 32 lower-case hex characters")
	}
	if err := checkMsg(msg); err != nil {
		return store.Pairing{}, err
	}
	now := s.now().UTC()
	p := store.Pairing{ID: id, Msgs: [][]byte{msg}, Created: now, Expires: now.Add(s.pairingTTL)}
	if err := s.st.CreatePairing(ctx, p); errors.Is(err, store.ErrExists) {
		return store.Pairing{}, errorf(Conflict, "this pairing code is in use; show a new code on the hub")
	} else if err != nil {
		return store.Pairing{}, err
	}
	return p, nil
}

// Pairing returns the live pairing with the ID.
func (s *Service) Pairing(ctx context.Context, id string) (store.Pairing, error) {
	if !ValidPairingID(id) {
		return store.Pairing{}, errorf(NotFound, "not found")
	}
	p, err := s.st.Pairing(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Pairing{}, errorf(NotFound, "not found")
	}
	return p, err
}

// AppendPairingMsg adds the answer of step (CheckPairingMsg) to the
// pairing with the ID, if the pairing waits for that step.
func (s *Service) AppendPairingMsg(ctx context.Context, id string, step int, msg []byte, householdID string) error {
	if !ValidPairingID(id) {
		return errorf(NotFound, "not found")
	}
	if err := CheckPairingMsg(step, msg, householdID); err != nil {
		return err
	}
	err := s.st.AppendPairingMsg(ctx, id, step, msg, householdID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errorf(NotFound, "not found")
	case errors.Is(err, store.ErrConflict):
		return errorf(Conflict, "pairing step %d is not expected now (already answered, or out of order)", step)
	}
	return err
}
