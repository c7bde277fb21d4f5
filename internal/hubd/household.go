package hubd

import (
	"bytes"
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
	"strings"
	"sync"
	"time"

	"vigil/internal/client"
	"vigil/internal/envelope"
	"vigil/internal/fsutil"
	"vigil/internal/history"
	"vigil/internal/keydir"
	"vigil/internal/pairing"
	"vigil/internal/tlog"
	"vigil/internal/tlog/tloghttp"
)

// Files of a paired hub, in its data directory.
const (
	// HouseholdFile pins the household the hub is paired with: its ID, the
	// genesis hash every chain must start from, and the cloud.
	HouseholdFile = "household.json"
	// ChainFile caches the last verified chain, so a restart while the
	// cloud is away still seals to the current epoch key.
	ChainFile = "chain.json"
	// LogFile keeps what the hub verified of the transparency log: the last
	// checkpoint and the chain head it proved in it, so that neither the
	// log nor the chain can be rolled back across a restart.
	LogFile = "tlog.json"
)

// Paired is what a hub pins when it is paired.
type Paired struct {
	HouseholdID string    `json:"household_id"`
	GenesisHash string    `json:"genesis_hash"` // hex
	Cloud       string    `json:"cloud"`
	PairedAt    time.Time `json:"paired_at"`
	// Log is the transparency log the hub proves chain heads in, pinned
	// when the hub was paired (or, for a hub paired before the log, at its
	// first refresh). The config file's log section takes precedence.
	Log *history.LogPolicy `json:"log,omitempty"`
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

// householdChain tracks the verified chain of the hub's household: the
// epoch key segments are sealed to, and nothing the chain did not
// authorise. A chain from the cloud replaces it only if it verifies from the
// pinned genesis, extends the chain the hub verified (the same link at every
// seq the hub verified: no fork, no rollback) and its head is proven in a
// checkpoint of the pinned transparency log that is consistent with the last
// one the hub verified (no unlogged chain). Anything else is refused, the
// verified chain stays, and the reason goes to report.
type householdChain struct {
	dir    string
	pinned *Paired // pinned.Log is set once, under refreshMu
	o      householdOptions

	refreshMu    sync.Mutex // one refresh at a time
	proven       logFile    // what LogFile holds (refreshMu)
	pendingSeq   int64      // a head waiting for the log since pendingSince (refreshMu)
	pendingSince time.Time

	mu    sync.RWMutex
	links [][]byte
	state *keydir.State
	lc    *tlog.Client // nil until the log's policy is known
}

// householdOptions are what openHousehold needs beyond the pinned household.
type householdOptions struct {
	// Log is the log policy from the config file; nil means the pinned one.
	Log    *history.LogPolicy
	Logger *slog.Logger
	Now    func() time.Time
	// Grace is how long a new head may wait for the log before it is
	// reported (default defaultLogGrace).
	Grace time.Duration
	// Report is told of a problem of a kind (text "" when it is gone).
	Report func(kind, text string)
	// Changed is called after a new chain head was accepted.
	Changed func()
	// Fetcher reads the log; nil means the cloud's /tlog/ at refresh.
	Fetcher tlog.Fetcher
}

// defaultLogGrace is how long a new chain head may wait for the log (the
// cloud integrates entries within about a second) before the hub reports
// that it is not there.
const defaultLogGrace = time.Minute

// Kinds of problems a hub reports in its state records.
const (
	problemChain    = "chain"    // a fork, a rollback, a chain that does not verify, a head not in the log
	problemLog      = "log"      // a log that cannot be verified
	problemPolicy   = "policy"   // the cloud names another log
	problemSettings = "settings" // retention settings not signed by a current admin device, or rolled back
)

// logFile is LogFile: the last checkpoint the hub verified, and the chain
// head it proved in the log.
type logFile struct {
	V          int    `json:"v"`
	Checkpoint []byte `json:"checkpoint,omitempty"` // the signed note, with its cosignatures
	Seq        int64  `json:"seq"`
	Head       string `json:"head,omitempty"` // hex link hash of link Seq; "" before the first proof
}

func readLogFile(dir string) (logFile, error) {
	var lf logFile
	b, err := os.ReadFile(filepath.Join(dir, LogFile))
	if errors.Is(err, fs.ErrNotExist) {
		return logFile{V: 1}, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &lf)
	}
	if err != nil {
		return logFile{}, fmt.Errorf("%s: %w (hint: remove it; the hub then trusts the next checkpoint consistent with nothing, so do it only while the cloud is trusted)", filepath.Join(dir, LogFile), err)
	}
	return lf, nil
}

func writeLogFile(dir string, lf logFile) error {
	lf.V = 1
	b, err := json.MarshalIndent(lf, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, LogFile), append(b, '\n'))
}

// openHousehold loads the pinned household, its cached chain (verified
// from the pinned genesis) and what the hub verified of the log.
func openHousehold(dir string, p *Paired, o householdOptions) (*householdChain, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Grace <= 0 {
		o.Grace = defaultLogGrace
	}
	hh := &householdChain{dir: dir, pinned: p, o: o}
	b, err := os.ReadFile(filepath.Join(dir, ChainFile))
	if err != nil {
		return nil, fmt.Errorf("paired hub without its chain (%s): %w (hint: pair the hub again)", ChainFile, err)
	}
	var links [][]byte
	if err := json.Unmarshal(b, &links); err != nil {
		return nil, fmt.Errorf("%s: %w", ChainFile, err)
	}
	st, err := hh.verify(links)
	if err != nil {
		return nil, fmt.Errorf("cached chain: %w", err)
	}
	hh.links, hh.state = links, st
	if hh.proven, err = readLogFile(dir); err != nil {
		return nil, err
	}
	if lp := hh.policy(); lp != nil && o.Fetcher != nil {
		if err := hh.startLog(*lp, o.Fetcher); err != nil {
			return nil, err
		}
	}
	return hh, nil
}

// policy is the log policy the hub follows: the config file's, else the
// pinned one (nil before it is pinned).
func (hh *householdChain) policy() *history.LogPolicy {
	if hh.o.Log != nil {
		return hh.o.Log
	}
	return hh.pinned.Log
}

// startLog makes the log client from the policy and the last checkpoint
// the hub verified. A kept checkpoint that the policy does not verify (the
// config file now names another log) is dropped with a warning.
func (hh *householdChain) startLog(lp history.LogPolicy, f tlog.Fetcher) error {
	pol, err := lp.Policy()
	if err != nil {
		return fmt.Errorf("the transparency log's policy: %w", err)
	}
	lc, err := tlog.NewClient(pol, f, hh.proven.Checkpoint)
	if err != nil && hh.proven.Checkpoint != nil {
		hh.o.Logger.Warn("the checkpoint this hub kept is not of the transparency log it now follows; starting from none",
			"file", filepath.Join(hh.dir, LogFile), "err", err)
		hh.proven = logFile{V: 1}
		lc, err = tlog.NewClient(pol, f, nil)
	}
	if err != nil {
		return err
	}
	hh.mu.Lock()
	hh.lc = lc
	hh.mu.Unlock()
	return nil
}

func (hh *householdChain) report(kind, text string) {
	if hh.o.Report != nil {
		hh.o.Report(kind, text)
	}
}

// verify checks links from the pinned genesis.
func (hh *householdChain) verify(links [][]byte) (*keydir.State, error) {
	g, err := hh.pinned.genesis()
	if err != nil {
		return nil, err
	}
	st, err := keydir.Verify(links, g)
	if err != nil {
		return nil, err
	}
	if st.HouseholdID != hh.pinned.HouseholdID {
		return nil, fmt.Errorf("chain is of household %s, the hub is paired with %s", st.HouseholdID, hh.pinned.HouseholdID)
	}
	return st, nil
}

// check verifies a chain from the cloud and that it extends the one the
// hub verified.
func (hh *householdChain) check(links [][]byte) (*keydir.State, error) {
	st, err := hh.verify(links)
	if err != nil {
		return nil, fmt.Errorf("refused the chain from the cloud: it does not verify from the household's genesis: %w", err)
	}
	hh.mu.RLock()
	known := hh.links
	hh.mu.RUnlock()
	for i := 0; i < len(known) && i < len(links); i++ {
		if !bytes.Equal(keydir.LinkHash(links[i]), keydir.LinkHash(known[i])) {
			return nil, fmt.Errorf("refused the chain from the cloud: link %d differs from the one this hub verified (a fork)", i)
		}
	}
	if len(links) < len(known) {
		return nil, fmt.Errorf("refused the chain from the cloud: it ends at link %d, and this hub verified link %d (a rollback)", len(links)-1, len(known)-1)
	}
	return st, nil
}

// current returns the verified state.
func (hh *householdChain) current() *keydir.State {
	hh.mu.RLock()
	defer hh.mu.RUnlock()
	return hh.state
}

// checkpoint returns the last checkpoint the hub verified (ok false
// before the first).
func (hh *householdChain) checkpoint() (tlog.Checkpoint, bool) {
	hh.mu.RLock()
	lc := hh.lc
	hh.mu.RUnlock()
	if lc == nil {
		return tlog.Checkpoint{}, false
	}
	cp := lc.Latest()
	return cp, cp.Note != nil
}

// errWaitingForLog: the cloud's chain has a new head that is not in a
// checkpoint yet, for less than the grace; the hub asks again shortly.
// Past the grace refresh reports it and returns another error.
var errWaitingForLog = errors.New("the household chain's new head is not in the transparency log yet")

// refresh fetches the chain from the cloud and accepts it if it verifies,
// extends the verified chain and its head is proven in the log. Otherwise
// the verified chain stays (segments keep being sealed to its epoch key)
// and the reason is reported. A cloud that cannot be reached is an error,
// not a problem: the hub keeps recording and asks again.
func (hh *householdChain) refresh(ctx context.Context, c *client.Client) error {
	hh.refreshMu.Lock()
	defer hh.refreshMu.Unlock()
	lc, err := hh.logClient(ctx, c)
	if err != nil {
		return err
	}
	hh.checkCloudPolicy(ctx, c)
	links, idx, err := c.ChainIndexed(ctx, "", 0)
	if err != nil {
		return fmt.Errorf("fetching the household chain: %w", err)
	}
	st, err := hh.check(links)
	if err != nil {
		hh.report(problemChain, err.Error())
		return err
	}
	before := hh.current()
	if err := hh.updateLog(ctx, lc); err != nil {
		hh.report(problemLog, err.Error())
		if st.Seq != before.Seq {
			return fmt.Errorf("link %d not accepted, the hub keeps sealing to epoch %d: %w", st.Seq, before.Epoch, err)
		}
		return err
	}
	hh.report(problemLog, "")
	if st.Seq == before.Seq && hh.proven.Seq == before.Seq && hh.proven.Head == hex.EncodeToString(before.Head) {
		hh.pendingSince = time.Time{}
		hh.report(problemChain, "")
		return nil
	}
	ix := idx[st.Seq]
	if ix < 0 || ix >= lc.Latest().N {
		now := hh.o.Now()
		if hh.pendingSince.IsZero() || hh.pendingSeq != st.Seq {
			hh.pendingSince, hh.pendingSeq = now, st.Seq
		}
		if now.Sub(hh.pendingSince) >= hh.o.Grace {
			text := fmt.Sprintf("refused the chain from the cloud: link %d has not reached the transparency log within %s; this hub keeps link %d",
				st.Seq, hh.o.Grace, before.Seq)
			hh.report(problemChain, text)
			return errors.New(text)
		}
		return fmt.Errorf("%w (link %d)", errWaitingForLog, st.Seq)
	}
	if err := proveHead(ctx, lc, st, ix); err != nil {
		// The problem names what is wrong, not the tree's size, which
		// grows: the same refusal is one problem, not one per refresh.
		text := fmt.Sprintf("refused the chain from the cloud: link %d is not in the transparency log at index %d as the cloud says", st.Seq, ix)
		hh.report(problemChain, text)
		return fmt.Errorf("%s: %w", text, err)
	}
	hh.pendingSince = time.Time{}
	if err := hh.commit(links, st, lc.Latest()); err != nil {
		return err
	}
	hh.report(problemChain, "")
	if st.Seq != before.Seq {
		if st.Epoch != before.Epoch {
			hh.o.Logger.Info("household key epoch changed; new segments are sealed to it", "epoch", st.Epoch)
		}
		if hh.o.Changed != nil {
			hh.o.Changed()
		}
	}
	return nil
}

// logClient returns the log client, pinning the cloud's log policy first
// for a hub paired before it knew of the log and configured with none.
func (hh *householdChain) logClient(ctx context.Context, c *client.Client) (*tlog.Client, error) {
	hh.mu.RLock()
	lc := hh.lc
	hh.mu.RUnlock()
	if lc != nil {
		return lc, nil
	}
	lp := hh.policy()
	if lp == nil {
		got, err := c.LogPolicy(ctx)
		if err != nil {
			return nil, fmt.Errorf("asking the cloud for its transparency log: %w", err)
		}
		if _, err := got.Policy(); err != nil {
			err = fmt.Errorf("the cloud names a transparency log that cannot be used: %w", err)
			hh.report(problemLog, err.Error())
			return nil, err
		}
		p := *hh.pinned
		p.Log = &got
		b, _ := json.MarshalIndent(&p, "", "  ")
		if err := writeFileAtomic(filepath.Join(hh.dir, HouseholdFile), append(b, '\n')); err != nil {
			return nil, err
		}
		hh.pinned.Log = &got
		lp = &got
		hh.o.Logger.Warn("pinned the transparency log the cloud names; a different one is refused from now on "+
			"(hint: to pin the log yourself, set log.key, log.witnesses and log.quorum in the config: docs/CONFIG.md)",
			"log_key", got.Key, "witnesses", len(got.Witnesses), "quorum", got.Quorum)
	}
	f := hh.o.Fetcher
	if f == nil {
		f = &tloghttp.Fetcher{BaseURL: c.BaseURL, HTTP: c.HTTP}
	}
	if err := hh.startLog(*lp, f); err != nil {
		return nil, err
	}
	hh.mu.RLock()
	defer hh.mu.RUnlock()
	return hh.lc, nil
}

// checkCloudPolicy reports a cloud that names another log than the one the
// hub follows. With a policy from the config file only the log's key
// counts: the household chose its witnesses itself.
func (hh *householdChain) checkCloudPolicy(ctx context.Context, c *client.Client) {
	got, err := c.LogPolicy(ctx)
	if err != nil {
		return // a cloud that cannot be reached is reported by the chain's fetch
	}
	want := hh.policy()
	// A log pinned in the config chose its witnesses itself: only the key
	// must match.
	same := strings.TrimSpace(got.Key) == strings.TrimSpace(want.Key)
	if hh.o.Log == nil {
		same = got.Equal(*want)
	}
	if same {
		hh.report(problemPolicy, "")
		return
	}
	hh.report(problemPolicy, fmt.Sprintf("refused the transparency log the cloud names (key %s, %d witnesses, quorum %d): this hub pinned key %s, %d witnesses, quorum %d "+
		"(hint: if the household moved to another log on purpose, set log: in the hub's config)",
		got.Key, len(got.Witnesses), got.Quorum, want.Key, len(want.Witnesses), want.Quorum))
}

// updateLog fetches the log's newest checkpoint and proves it consistent
// with the last one the hub verified; a new one is kept in LogFile.
func (hh *householdChain) updateLog(ctx context.Context, lc *tlog.Client) error {
	cp, err := lc.Update(ctx)
	var split *tlog.SplitViewError
	var incons *tlog.InconsistentError
	var quorum *tlog.QuorumError
	switch {
	case err == nil:
	case errors.Is(err, tlog.ErrOlder):
		return fmt.Errorf("the transparency log served a checkpoint older than the one this hub verified (%d entries): a rollback of the log", lc.Latest().N)
	case errors.As(err, &split):
		return fmt.Errorf("the transparency log showed two different trees of %d entries (a split view)", split.New.N)
	case errors.As(err, &incons):
		return fmt.Errorf("the transparency log does not extend the one of %d entries this hub verified (an entry was dropped or rewritten)", incons.Old.N)
	case errors.As(err, &quorum):
		return fmt.Errorf("the transparency log's checkpoint is cosigned by %d of the %d witnesses this hub requires", quorum.Have, quorum.Need)
	default:
		return fmt.Errorf("the transparency log could not be verified: %w", err)
	}
	if !bytes.Equal(cp.Note, hh.proven.Checkpoint) {
		lf := hh.proven
		lf.Checkpoint = cp.Note
		if err := writeLogFile(hh.dir, lf); err != nil {
			return fmt.Errorf("keeping the verified checkpoint: %w", err)
		}
		hh.proven = lf
	}
	return nil
}

// proveHead proves that the head of st is the entry at index of the log's
// last verified checkpoint.
func proveHead(ctx context.Context, lc *tlog.Client, st *keydir.State, index int64) error {
	tk, err := history.NewTagKey(st.GenesisHash)
	if err != nil {
		return err
	}
	return tk.ProveChainHead(ctx, lc, st.Seq, st.Head, index)
}

// commit makes a chain whose head was proven in cp current: the checkpoint
// and the head first, then the chain, each written atomically.
func (hh *householdChain) commit(links [][]byte, st *keydir.State, cp tlog.Checkpoint) error {
	lf := logFile{V: 1, Checkpoint: cp.Note, Seq: st.Seq, Head: hex.EncodeToString(st.Head)}
	if err := writeLogFile(hh.dir, lf); err != nil {
		return err
	}
	hh.proven = lf
	b, err := json.Marshal(links)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(hh.dir, ChainFile), b); err != nil {
		return err
	}
	hh.mu.Lock()
	hh.links, hh.state = links, st
	hh.mu.Unlock()
	return nil
}

// writeFileAtomic replaces path with b (0600) so that a crash leaves
// either the old or the new content.
func writeFileAtomic(path string, b []byte) error { return fsutil.WriteFile(path, b, 0o600) }

// PairOptions configure Pair.
type PairOptions struct {
	// Cloud is the service URL.
	Cloud string
	// Name is how the hub appears in the household ("hub" if empty).
	Name string
	// ShowCode is called once with the code to show the member.
	ShowCode func(code string)
	// Poll is the interval between checks of the rendezvous (default 1 s).
	Poll time.Duration
	// Log is the transparency log to pin (the config file's log section);
	// nil pins the one the cloud names.
	Log    *history.LogPolicy
	Logger *slog.Logger
	HTTP   *client.Client // optional preconfigured client (tests)
}

// Pair pairs the hub whose data directory is dir with a household. It shows
// a code, waits for a member to enter it, and authenticates the exchange with
// the code; it writes the pinned household only after the household's
// verified chain lists this hub and the chain's head is proven in the
// transparency log it pins (o.Log, or the one the cloud names). On any
// failure nothing is written.
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
	// member vouched for, lists this hub and its head is in the
	// transparency log.
	pinned := &Paired{HouseholdID: offer.HouseholdID, GenesisHash: hex.EncodeToString(offer.GenesisHash), Cloud: o.Cloud}
	dc := &client.Client{BaseURL: c.BaseURL, HTTP: c.HTTP, DeviceID: id, DeviceKey: key}
	lp := o.Log
	if lp == nil {
		got, err := dc.LogPolicy(ctx)
		if err != nil {
			return nil, fmt.Errorf("asking the cloud for its transparency log: %w", err)
		}
		lp = &got
	}
	pol, err := lp.Policy()
	if err != nil {
		return nil, fmt.Errorf("the transparency log's policy: %w", err)
	}
	lc, err := tlog.NewClient(pol, &tloghttp.Fetcher{BaseURL: dc.BaseURL, HTTP: dc.HTTP}, nil)
	if err != nil {
		return nil, err
	}
	pinned.Log = lp
	var listed time.Time // when the chain first listed this hub
	for {
		links, idx, err := dc.ChainIndexed(ctx, "", 0)
		if err == nil {
			st, verr := keydir.Verify(links, offer.GenesisHash)
			if verr != nil {
				return nil, fmt.Errorf("household chain refused: %w", verr)
			}
			if d, ok := st.Devices[id]; ok && d.Role == keydir.RoleHub {
				if st.HouseholdID != offer.HouseholdID {
					return nil, fmt.Errorf("%w (chain of another household)", pairing.ErrAuth)
				}
				if listed.IsZero() {
					listed = time.Now()
				}
				cp, perr := pairProve(ctx, lc, st, idx[st.Seq])
				if perr == nil {
					if st.EpochRecipient().String() != offer.EpochRecipient {
						o.Logger.Warn("the household's epoch key changed while pairing; using the one in the verified chain")
					}
					return pinned, pairWrite(dir, pinned, links, st, cp)
				}
				if time.Since(listed) > pairLogWait {
					return nil, fmt.Errorf("the household chain's head is not in the transparency log: %w", perr)
				}
			}
		} else if !client.IsStatus(err, 401) && !client.IsStatus(err, 404) {
			return nil, fmt.Errorf("fetching the household chain: %w", err)
		}
		if err := wait(ctx, o.Poll, deadline); err != nil {
			return nil, err
		}
	}
}

// pairLogWait bounds how long pairing waits for the chain's head to reach
// the log once the chain lists the hub.
const pairLogWait = 30 * time.Second

// pairProve proves the head of st at log index ix (-1: not logged yet).
func pairProve(ctx context.Context, lc *tlog.Client, st *keydir.State, ix int64) (tlog.Checkpoint, error) {
	if ix < 0 {
		return tlog.Checkpoint{}, fmt.Errorf("%w (link %d)", errWaitingForLog, st.Seq)
	}
	if _, err := lc.Update(ctx); err != nil && !errors.Is(err, tlog.ErrOlder) {
		return tlog.Checkpoint{}, fmt.Errorf("the transparency log does not verify: %w", err)
	}
	if ix >= lc.Latest().N {
		return tlog.Checkpoint{}, fmt.Errorf("%w (link %d)", errWaitingForLog, st.Seq)
	}
	if err := proveHead(ctx, lc, st, ix); err != nil {
		return tlog.Checkpoint{}, fmt.Errorf("link %d is not at log index %d as the cloud says: %w", st.Seq, ix, err)
	}
	return lc.Latest(), nil
}

// pairWrite writes the files of a paired hub, household.json last: a
// crash before it leaves the hub unpaired.
func pairWrite(dir string, pinned *Paired, links [][]byte, st *keydir.State, cp tlog.Checkpoint) error {
	b, _ := json.Marshal(links)
	pinned.PairedAt = time.Now().UTC()
	pb, _ := json.MarshalIndent(pinned, "", "  ")
	if err := writeFileAtomic(filepath.Join(dir, ChainFile), b); err != nil {
		return err
	}
	if err := writeLogFile(dir, logFile{Checkpoint: cp.Note, Seq: st.Seq, Head: hex.EncodeToString(st.Head)}); err != nil {
		os.Remove(filepath.Join(dir, ChainFile))
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, HouseholdFile), append(pb, '\n')); err != nil {
		os.Remove(filepath.Join(dir, ChainFile))
		os.Remove(filepath.Join(dir, LogFile))
		return err
	}
	return nil
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
