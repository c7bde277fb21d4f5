package households

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/history"
)

// Signed household actions (docs/FORMAT.md, "Signed household actions"):
// retention settings, invites and account membership change only by an
// action signed by an admin device of the household's current chain.

// MaxActionNonces bounds the nonces remembered per household within
// history.ActionSkew: past it signed changes wait.
const MaxActionNonces = 256

// keyNonces + household ID is the EphemeralStore entry holding the nonces
// of the household's accepted signed actions.
const keyNonces = "nonces/"

// CheckAction parses body as a signed household action and checks it for
// household h: well formed, the action want, signed by an admin device of
// h's chain as the store holds it now, within history.ActionSkew of the
// service's clock and with a nonce not seen before on any Service over the
// same store (the nonce is then used).
func (s *Service) CheckAction(ctx context.Context, h store.Household, body []byte, want string) (history.Action, history.Signed, error) {
	sa, err := history.ParseSigned(body)
	if err != nil {
		return history.Action{}, history.Signed{}, errorf(Invalid,
			"%s (hint: this change is a household action signed by an admin device: docs/API.md, \"Signed household actions\")", actionMessage(err))
	}
	st, err := s.FreshState(ctx, h)
	if err != nil {
		return history.Action{}, history.Signed{}, err
	}
	now := s.now()
	a, err := history.VerifyAction(sa, st, h.ID, now, history.ActionSkew)
	switch {
	case errors.Is(err, history.ErrActionMalformed):
		return history.Action{}, history.Signed{}, errorf(Invalid, "%s", actionMessage(err))
	case errors.Is(err, history.ErrActionSignature), errors.Is(err, history.ErrActionTime):
		return history.Action{}, history.Signed{}, errorf(Unauthenticated, "%s", actionMessage(err))
	case errors.Is(err, history.ErrActionSigner):
		return history.Action{}, history.Signed{}, errorf(Forbidden,
			"only an admin device of this household can sign this change: %s", strings.TrimPrefix(err.Error(), history.ErrActionSigner.Error()+": "))
	case errors.Is(err, history.ErrActionHousehold):
		return history.Action{}, history.Signed{}, errorf(Forbidden, "%s", actionMessage(err))
	case err != nil:
		return history.Action{}, history.Signed{}, err
	}
	if a.Action != want {
		return history.Action{}, history.Signed{}, errorf(Invalid, "this request takes a signed %q action, not %q", want, a.Action)
	}
	if err := s.useNonce(ctx, h.ID, a, now); err != nil {
		return history.Action{}, history.Signed{}, err
	}
	return a, sa, nil
}

// actionMessage is a history error as the API says it.
func actionMessage(err error) string { return strings.TrimPrefix(err.Error(), "history: ") }

// actionNonces are the nonces of the signed actions accepted for one
// household (stored under keyNonces), each kept until its action's time
// has left history.ActionSkew (when VerifyAction refuses it anyway).
type actionNonces struct {
	Until map[string]time.Time `json:"until"` // hex nonce -> kept until
}

// useNonce remembers a's nonce for household hh and refuses a nonce seen
// before, on any replica; past MaxActionNonces for the household, signed
// changes wait.
func (s *Service) useNonce(ctx context.Context, hh string, a history.Action, now time.Time) error {
	key := hex.EncodeToString(a.Nonce)
	return s.st.Update(ctx, keyNonces+hh, now, func(cur []byte) ([]byte, time.Time, error) {
		n := actionNonces{Until: map[string]time.Time{}}
		if cur != nil {
			if err := json.Unmarshal(cur, &n); err != nil {
				return nil, time.Time{}, fmt.Errorf("stored nonces of %s: %w", hh, err)
			}
		}
		for k, until := range n.Until {
			if now.After(until) {
				delete(n.Until, k)
			}
		}
		if _, ok := n.Until[key]; ok {
			return nil, time.Time{}, errorf(Conflict, "this signed action was used already (replayed nonce); sign the change again")
		}
		if len(n.Until) >= MaxActionNonces {
			return nil, time.Time{}, &Error{Kind: TooMany, Msg: "too many signed changes in the last minutes; try again shortly",
				RetryAfter: history.ActionSkew}
		}
		n.Until[key] = a.Time.Add(history.ActionSkew)
		var last time.Time
		for _, until := range n.Until {
			if until.After(last) {
				last = until
			}
		}
		b, err := json.Marshal(n)
		return b, last.Add(time.Second), err
	})
}
