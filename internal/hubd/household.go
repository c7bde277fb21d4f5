package hubd

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"vigil/internal/cloud/client"
	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/pairing"
)

// Files of a paired hub, in its data directory.
const (
	// HouseholdFile pins the household the hub is paired with: its ID, the
	// genesis hash every chain must start from, and the cloud.
	HouseholdFile = "household.json"
	// ChainFile caches the last verified chain, so a restart while the
	// cloud is away still seals to the current epoch key.
	ChainFile = "chain.json"
)

// Paired is what a hub pins when it is paired.
type Paired struct {
	HouseholdID string    `json:"household_id"`
	GenesisHash string    `json:"genesis_hash"` // hex
	Cloud       string    `json:"cloud"`
	PairedAt    time.Time `json:"paired_at"`
}

func (p *Paired) genesis() ([]byte, error) {
	g, err := hex.DecodeString(p.GenesisHash)
	if err != nil || len(g) == 0 {
		return nil, fmt.Errorf("%s: genesis_hash is not hex", HouseholdFile)
	}
	return g, nil
}

// LoadPaired reads the pinned household of the hub in dir; nil, nil when
// the hub is not paired.
func LoadPaired(dir string) (*Paired, error) {
	b, err := os.ReadFile(filepath.Join(dir, HouseholdFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p Paired
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w (hint: pair the hub again with 'vigil hub pair')", filepath.Join(dir, HouseholdFile), err)
	}
	if _, err := p.genesis(); err != nil {
		return nil, err
	}
	return &p, nil
}

// household tracks the verified chain of the hub's household: the epoch key
// segments are sealed to, and nothing the chain did not authorise.
type householdChain struct {
	dir    string
	pinned *Paired
	log    *slog.Logger

	mu    sync.RWMutex
	links [][]byte
	state *keydir.State
}

// openHousehold loads the pinned household and its cached chain, verifying
// it from the pinned genesis.
func openHousehold(dir string, p *Paired, log *slog.Logger) (*householdChain, error) {
	hh := &householdChain{dir: dir, pinned: p, log: log}
	b, err := os.ReadFile(filepath.Join(dir, ChainFile))
	if err != nil {
		return nil, fmt.Errorf("paired hub without its chain (%s): %w (hint: pair the hub again)", ChainFile, err)
	}
	var links [][]byte
	if err := json.Unmarshal(b, &links); err != nil {
		return nil, fmt.Errorf("%s: %w", ChainFile, err)
	}
	if err := hh.accept(links); err != nil {
		return nil, fmt.Errorf("cached chain: %w", err)
	}
	return hh, nil
}

// accept verifies links from the pinned genesis and, if they are at least
// as long as what is known, makes them current. A chain that does not verify
// (a ghost device added by someone who is not an admin, another household's
// genesis, an edited link) is refused and changes nothing.
func (hh *householdChain) accept(links [][]byte) error {
	g, err := hh.pinned.genesis()
	if err != nil {
		return err
	}
	st, err := keydir.Verify(links, g)
	if err != nil {
		return err
	}
	if st.HouseholdID != hh.pinned.HouseholdID {
		return fmt.Errorf("chain is of household %s, the hub is paired with %s", st.HouseholdID, hh.pinned.HouseholdID)
	}
	hh.mu.Lock()
	defer hh.mu.Unlock()
	if hh.state != nil && st.Seq < hh.state.Seq {
		return fmt.Errorf("chain of %d links is shorter than the %d already verified (rollback refused)", st.Seq+1, hh.state.Seq+1)
	}
	changed := hh.state == nil || st.Seq != hh.state.Seq
	hh.links, hh.state = links, st
	if changed {
		b, _ := json.Marshal(links)
		if err := writeFileAtomic(filepath.Join(hh.dir, ChainFile), b); err != nil {
			return err
		}
	}
	return nil
}

// current returns the verified state.
func (hh *householdChain) current() *keydir.State {
	hh.mu.RLock()
	defer hh.mu.RUnlock()
	return hh.state
}

// refresh fetches the chain from the cloud and accepts it if it verifies.
func (hh *householdChain) refresh(ctx context.Context, c *client.Client) error {
	links, err := c.Chain(ctx, "", 0)
	if err != nil {
		return err
	}
	before := hh.current()
	if err := hh.accept(links); err != nil {
		return fmt.Errorf("chain from the cloud refused: %w", err)
	}
	if after := hh.current(); after.Epoch != before.Epoch {
		hh.log.Info("household key epoch changed; new segments are sealed to it", "epoch", after.Epoch)
	}
	return nil
}

// writeFileAtomic replaces path with b so that a crash leaves either the old
// or the new content.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename itself survives a crash only once the directory is synced.
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// PairOptions configure Pair.
type PairOptions struct {
	// Cloud is the service URL.
	Cloud string
	// Name is how the hub appears in the household ("hub" if empty).
	Name string
	// ShowCode is called once with the code to show the member.
	ShowCode func(code string)
	// Poll is the interval between checks of the rendezvous (default 1 s).
	Poll   time.Duration
	Logger *slog.Logger
	HTTP   *client.Client // optional preconfigured client (tests)
}

// Pair pairs the hub whose data directory is dir with a household. It shows
// a code, waits for a member to enter it, and authenticates the exchange with
// the code; it writes the pinned household only after the household's
// verified chain lists this hub. On any failure nothing is written.
func Pair(ctx context.Context, dir string, o PairOptions) (*Paired, error) {
	if o.Name == "" {
		o.Name = "hub"
	}
	if o.Poll == 0 {
		o.Poll = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if p, err := LoadPaired(dir); err != nil {
		return nil, err
	} else if p != nil {
		return nil, fmt.Errorf("this hub is already paired with household %s (hint: remove %s to pair it again)", p.HouseholdID, filepath.Join(dir, HouseholdFile))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, _, err := keydir.LoadOrCreateSigner(dir)
	if err != nil {
		return nil, err
	}
	pub := key.Public().(ed25519.PublicKey)
	id := keydir.DeviceID(pub)
	code, err := pairing.NewCode()
	if err != nil {
		return nil, err
	}
	hub, msg1, err := pairing.NewHub(code, pub, o.Name)
	if err != nil {
		return nil, err
	}
	c := o.HTTP
	if c == nil {
		c = client.New(o.Cloud)
	}
	rv := code.RendezvousID()
	if err := c.CreatePairing(ctx, rv, msg1); err != nil {
		return nil, fmt.Errorf("starting pairing: %w", err)
	}
	o.ShowCode(code.String())
	deadline := time.Now().Add(pairing.CodeLifetime)

	var p client.Pairing
	for {
		if p, err = c.GetPairing(ctx, rv); err != nil {
			return nil, fmt.Errorf("waiting for the member: %w", err)
		}
		if len(p.Msgs) >= 2 {
			break
		}
		if err := wait(ctx, o.Poll, deadline); err != nil {
			return nil, err
		}
	}
	offer, msg3, err := hub.Receive(p.Msgs[1])
	if err != nil {
		return nil, err
	}
	if p.HouseholdID != offer.HouseholdID {
		return nil, fmt.Errorf("%w (the relay named another household)", pairing.ErrAuth)
	}
	if err := c.PostPairingMsg(ctx, rv, 2, msg3, ""); err != nil {
		return nil, fmt.Errorf("confirming pairing: %w", err)
	}

	// Wait until the household's chain, verified from the genesis the
	// member vouched for, lists this hub.
	pinned := &Paired{HouseholdID: offer.HouseholdID, GenesisHash: hex.EncodeToString(offer.GenesisHash), Cloud: o.Cloud}
	dc := &client.Client{BaseURL: c.BaseURL, HTTP: c.HTTP, DeviceID: id, DeviceKey: key}
	for {
		links, err := dc.Chain(ctx, "", 0)
		if err == nil {
			st, verr := keydir.Verify(links, offer.GenesisHash)
			if verr != nil {
				return nil, fmt.Errorf("household chain refused: %w", verr)
			}
			if d, ok := st.Devices[id]; ok && d.Role == keydir.RoleHub {
				if st.HouseholdID != offer.HouseholdID {
					return nil, fmt.Errorf("%w (chain of another household)", pairing.ErrAuth)
				}
				if st.EpochRecipient().String() != offer.EpochRecipient {
					o.Logger.Warn("the household's epoch key changed while pairing; using the one in the verified chain")
				}
				b, _ := json.Marshal(links)
				pinned.PairedAt = time.Now().UTC()
				pb, _ := json.MarshalIndent(pinned, "", "  ")
				if err := writeFileAtomic(filepath.Join(dir, ChainFile), b); err != nil {
					return nil, err
				}
				if err := writeFileAtomic(filepath.Join(dir, HouseholdFile), append(pb, '\n')); err != nil {
					os.Remove(filepath.Join(dir, ChainFile))
					return nil, err
				}
				return pinned, nil
			}
		} else if !client.IsStatus(err, 401) && !client.IsStatus(err, 404) {
			return nil, fmt.Errorf("fetching the household chain: %w", err)
		}
		if err := wait(ctx, o.Poll, deadline); err != nil {
			return nil, err
		}
	}
}

func wait(ctx context.Context, d time.Duration, deadline time.Time) error {
	if time.Now().After(deadline) {
		return errors.New("pairing timed out: the code expired before the member entered it; run 'vigil hub pair' again")
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// sealRecipients returns who segments are sealed to now, and the epoch.
func (h *Hub) sealRecipients() ([]envelope.Recipient, uint32) {
	if h.household == nil {
		return h.recips, 0
	}
	st := h.household.current()
	out := append(append([]envelope.Recipient(nil), h.recips...), st.EpochRecipient())
	return out, uint32(st.Epoch)
}
