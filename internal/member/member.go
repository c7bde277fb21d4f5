// Package member is what a household member's device does with the cloud:
// fetch and verify the household's chain from the genesis it pinned and its
// head in the transparency log, and pair a hub (the member's half of the
// pairing protocol).
//
// It never trusts the cloud: every chain is verified from the pinned genesis
// before anything in it is used, must extend the last head the device
// verified, and must have its head in a log checkpoint the device verified;
// a hub joins the chain only after the pairing code authenticated the whole
// exchange and the hub confirmed it. It never sends a private key anywhere
// and never logs codes or keys.
package member

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"vigil/internal/client"
	"vigil/internal/history"
	"vigil/internal/keydir"
	"vigil/internal/pairing"
	"vigil/internal/tlog"
	"vigil/internal/tlog/tloghttp"
)

// Option changes how a chain is verified.
type Option func(*settings)

type settings struct {
	log  *tlog.Client
	wait time.Duration
}

func options(fs []Option) settings {
	o := settings{wait: logWait}
	for _, f := range fs {
		f(&o)
	}
	return o
}

// WithLog proves chain heads against log, a client of the transparency log
// whose policy the device pinned (and whose last checkpoint it kept).
// Without it the device follows the log the cloud names (CloudLog): the head
// must still be in that log, but the cloud chose the log's key.
func WithLog(log *tlog.Client) Option { return func(o *settings) { o.log = log } }

// WithWait bounds how long a head the log has not taken in yet is waited
// for (default: logWait).
func WithWait(d time.Duration) Option { return func(o *settings) { o.wait = d } }

// CloudLog returns a client of the log the cloud names (GET /v1/log), with
// no checkpoint verified yet.
func CloudLog(ctx context.Context, c *client.Client) (*tlog.Client, history.LogPolicy, error) {
	lp, err := c.LogPolicy(ctx)
	if err != nil {
		return nil, lp, fmt.Errorf("asking the cloud for its transparency log: %w", err)
	}
	return LogClient(c, lp, nil)
}

// LogClient returns a client of the log with policy lp on c's service,
// starting from the checkpoint note last (nil: none).
func LogClient(c *client.Client, lp history.LogPolicy, last []byte) (*tlog.Client, history.LogPolicy, error) {
	p, err := lp.Policy()
	if err != nil {
		return nil, lp, fmt.Errorf("the transparency log's policy: %w", err)
	}
	lc, err := tlog.NewClient(p, &tloghttp.Fetcher{BaseURL: c.BaseURL, HTTP: c.HTTP}, last)
	if err != nil {
		return nil, lp, err
	}
	return lc, lp, nil
}

// logWait bounds how long VerifiedLoggedChain waits for a new head to reach
// the log (the cloud integrates entries within about a second).
const logWait = 10 * time.Second

// ErrNotLogged means the household's chain head is not in the transparency
// log: a device does not use a chain the public log does not hold, because
// a head outside it could be a fork shown to this device alone.
var ErrNotLogged = errors.New("the household chain's head is not in the transparency log")

// VerifiedChain fetches a household's chain and verifies it from the
// genesis hash this device pinned, and its head in the transparency log: a
// device the household's admins did not add is refused (G4).
func VerifiedChain(ctx context.Context, c *client.Client, householdID string, genesis []byte, opts ...Option) (*keydir.State, error) {
	return VerifiedChainSince(ctx, c, householdID, genesis, nil, opts...)
}

// Known is what a device remembers of the last chain it verified.
type Known struct {
	Seq  int64  `json:"seq"`
	Head []byte `json:"head"`
}

// ErrRollback means the cloud served a chain that does not contain the
// last link this device saw: an older chain (which could bring back a
// removed device or an old epoch) or a fork.
var ErrRollback = errors.New("the cloud served an older or different chain than this device saw before; refusing it")

// VerifiedChainSince is VerifiedChain for a device that remembers the last
// link it verified (known may be nil): the chain must still contain that
// link, so a cloud cannot roll the household back to an older state.
func VerifiedChainSince(ctx context.Context, c *client.Client, householdID string, genesis []byte, known *Known, opts ...Option) (*keydir.State, error) {
	fetch := func(ctx context.Context) ([][]byte, []int64, error) { return c.ChainIndexed(ctx, householdID, 0) }
	if o := options(opts); o.log == nil {
		lc, _, err := CloudLog(ctx, c)
		if err != nil {
			return nil, err
		}
		opts = append(opts, WithLog(lc))
	}
	return VerifiedLoggedChain(ctx, "household", fetch, householdID, genesis, known, opts...)
}

// Fetch reads a chain in the household chain's format: its links and,
// for each, its index in the transparency log (-1 while it waits).
type Fetch func(ctx context.Context) (links [][]byte, logIndex []int64, err error)

// VerifiedLoggedChain is the one verifier of a chain in the household
// chain's format, a household's or a labelling workspace's (docs/
// ARCHITECTURE.md): it reads the chain with fetch, verifies it from
// genesis, checks that it is chain id, that it still holds the link known
// names (nil: none yet), and proves its head in the log given WithLog
// (required), waiting up to WithWait for a head the log has not taken in
// yet. what names the chain in errors ("household", "workspace").
func VerifiedLoggedChain(ctx context.Context, what string, fetch Fetch, id string, genesis []byte, known *Known, opts ...Option) (*keydir.State, error) {
	o := options(opts)
	if o.log == nil {
		return nil, errors.New("member: VerifiedLoggedChain needs the transparency log (WithLog)")
	}
	deadline := time.Now().Add(o.wait)
	for {
		links, idx, err := fetch(ctx)
		if err != nil {
			return nil, err
		}
		if len(links) == 0 || len(idx) != len(links) {
			return nil, fmt.Errorf("the cloud served a %s chain of %d links with %d log indexes; refusing it", what, len(links), len(idx))
		}
		st, err := keydir.Verify(links, genesis)
		if err != nil {
			return nil, fmt.Errorf("the %s chain served by the cloud does not verify from the pinned genesis; refusing it: %w", what, err)
		}
		if st.HouseholdID != id {
			return nil, fmt.Errorf("the cloud served the chain of %s %s for %s; refusing it", what, st.HouseholdID, id)
		}
		if known != nil && known.Seq > 0 {
			if int64(len(links)) <= known.Seq || !bytes.Equal(keydir.LinkHash(links[known.Seq]), known.Head) {
				return nil, fmt.Errorf("%w (it has %d links; this device verified link %d before)", ErrRollback, len(links), known.Seq)
			}
		}
		ix := idx[len(idx)-1]
		if ix < 0 {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%w: %s link %d is still waiting for the log (hint: try again in a moment)", ErrNotLogged, what, st.Seq)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if err := proveHead(ctx, o.log, st, ix, what); err != nil {
			return nil, err
		}
		return st, nil
	}
}

// proveHead proves that the head of st is the entry at index of the log,
// in a checkpoint newer than or equal to the last one log verified.
func proveHead(ctx context.Context, log *tlog.Client, st *keydir.State, index int64, what string) error {
	if _, err := log.Update(ctx); err != nil && !errors.Is(err, tlog.ErrOlder) {
		return fmt.Errorf("the transparency log does not verify: %w", err)
	}
	tk, err := history.NewTagKey(st.GenesisHash)
	if err != nil {
		return err
	}
	if err := tk.ProveChainHead(ctx, log, st.Seq, st.Head, index); err != nil {
		return fmt.Errorf("%w: %s link %d is not at log index %d as the cloud says: %v", ErrNotLogged, what, st.Seq, index, err)
	}
	return nil
}

// PairHub runs the member's side of pairing a hub: verify the hub's hello
// with the code, offer the household (from its verified chain), wait for the
// hub's confirmation, and only then sign and append the link that adds the
// hub. On any failure the chain is unchanged.
func PairHub(ctx context.Context, c *client.Client, householdID string, genesis []byte, k *keydir.DeviceKeys, code pairing.Code, poll time.Duration, opts ...Option) (pairing.HubHello, error) {
	if poll <= 0 {
		poll = 300 * time.Millisecond
	}
	st, err := VerifiedChain(ctx, c, householdID, genesis, opts...)
	if err != nil {
		return pairing.HubHello{}, err
	}
	rv := code.RendezvousID()
	p, err := c.GetPairing(ctx, rv)
	if client.IsStatus(err, 404) {
		return pairing.HubHello{}, errors.New("no hub is waiting with this code: it was mistyped or has expired (hint: run 'vigil hub pair' again and enter the new code)")
	}
	if err != nil {
		return pairing.HubHello{}, err
	}
	if len(p.Msgs) != 1 {
		return pairing.HubHello{}, errors.New("this pairing code was already used; start pairing again on the hub")
	}
	m, err := pairing.NewMember(code, pairing.HouseholdOffer{HouseholdID: st.HouseholdID, GenesisHash: st.GenesisHash,
		EpochRecipient: st.EpochRecipient().String()})
	if err != nil {
		return pairing.HubHello{}, err
	}
	hello, msg2, err := m.Receive(p.Msgs[0])
	if err != nil {
		return pairing.HubHello{}, err
	}
	if err := c.PostPairingMsg(ctx, rv, 1, msg2, st.HouseholdID); err != nil {
		return pairing.HubHello{}, err
	}
	for {
		if p, err = c.GetPairing(ctx, rv); err != nil {
			return pairing.HubHello{}, err
		}
		if len(p.Msgs) >= 3 {
			break
		}
		select {
		case <-ctx.Done():
			return pairing.HubHello{}, errors.New("the hub did not confirm in time; nothing was changed")
		case <-time.After(poll):
		}
	}
	if err := m.Confirm(p.Msgs[2]); err != nil {
		return pairing.HubHello{}, err
	}
	hub := keydir.DeviceKey{ID: keydir.DeviceID(hello.SignPub), Role: keydir.RoleHub, Name: hello.Name, SignPub: hello.SignPub}
	link, err := st.AddHub(k, hub, time.Now())
	if err != nil {
		return pairing.HubHello{}, err
	}
	if err := c.AppendLink(ctx, householdID, link); err != nil {
		return pairing.HubHello{}, err
	}
	return hello, nil
}
