package history

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/tlog"
)

// The audit a member's device runs (`vigil audit`; the web app runs the
// same steps in web/src/history): the log only grows, the household's chain
// heads and records are in it, the records are all there and in order, and
// the hubs saw the same chain and log as this device.

// MaxLogDelay is how long a record may wait for the log before an audit
// calls it withheld (the cloud integrates entries within about a second).
const MaxLogDelay = 5 * time.Minute

// AuditState is what a device remembers between audits. It only ever moves
// forward, and only as far as what was verified.
type AuditState struct {
	Checkpoint []byte    `json:"checkpoint,omitempty"` // the note of the last verified checkpoint
	ChainSeq   int64     `json:"chain_seq"`
	ChainHead  []byte    `json:"chain_head,omitempty"`
	RecordN    int64     `json:"record_n"`              // the last record verified
	RecordHash string    `json:"record_hash,omitempty"` // EntryHash of its entry
	Checked    time.Time `json:"checked,omitzero"`
}

// SealedState is a hub state record as the cloud serves it (sealed).
type SealedState struct {
	Key    string // the object's key, for messages
	Sealed []byte
}

// Source is what an audit reads from the cloud. Nothing it returns is
// trusted: the audit verifies all of it.
type Source interface {
	// Chain returns the household's chain from link 0 and the log index
	// of each link's head (-1 while it waits for the log).
	Chain(ctx context.Context) (links [][]byte, indexes []int64, err error)
	// Records returns the household's records with N >= from, in order.
	Records(ctx context.Context, from int64) ([]RecordRef, error)
	// States returns the newest state record of each of the household's
	// hubs.
	States(ctx context.Context) ([]SealedState, error)
}

// AuditConfig configures Audit.
type AuditConfig struct {
	Household string
	Genesis   []byte
	Keys      *keydir.DeviceKeys
	Log       *tlog.Client // its Latest is the last verified checkpoint (State.Checkpoint)
	Source    Source
	State     AuditState
	Now       func() time.Time
}

// Finding is something an audit found wrong. Severe findings mean the cloud
// (or whoever runs the log) showed this device something false.
type Finding struct {
	Severe bool
	What   string
}

// Verified is a record the audit verified and opened.
type Verified struct {
	Record
	Index int64
}

// Report is what an audit found.
type Report struct {
	Checkpoint tlog.Checkpoint
	Chain      *keydir.State
	Records    []Verified // the records verified in this audit, oldest first
	Pending    int        // records the cloud lists that are not in the log yet
	Findings   []Finding
	State      AuditState // what to remember for the next audit
}

// OK reports whether the audit found nothing severe.
func (r *Report) OK() bool {
	for _, f := range r.Findings {
		if f.Severe {
			return false
		}
	}
	return true
}

func (r *Report) severe(format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Severe: true, What: fmt.Sprintf(format, args...)})
}

func (r *Report) note(format string, args ...any) {
	r.Findings = append(r.Findings, Finding{What: fmt.Sprintf(format, args...)})
}

// Audit runs one audit. It returns an error only when it could not run
// (the cloud or the log unreachable, this device not in the household);
// what it found wrong is in the report's findings.
func Audit(ctx context.Context, cfg AuditConfig) (*Report, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	rep := &Report{State: cfg.State}
	tk, err := NewTagKey(cfg.Genesis)
	if err != nil {
		return nil, err
	}

	// What the cloud says, fetched before the log's checkpoint so that the
	// checkpoint covers as much of it as possible.
	links, idx, err := cfg.Source.Chain(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetching the household chain: %w", err)
	}
	from := max(cfg.State.RecordN, 1)
	refs, err := cfg.Source.Records(ctx, from)
	if err != nil {
		return nil, fmt.Errorf("fetching the household's history: %w", err)
	}

	// 1. The log only grows.
	cp, err := cfg.Log.Update(ctx)
	var split *tlog.SplitViewError
	var incons *tlog.InconsistentError
	switch {
	case err == nil:
	case errors.Is(err, tlog.ErrOlder):
		rep.severe("the log served a checkpoint older than the one this device verified (size %d): it tried to roll the log back", cfg.Log.Latest().N)
	case errors.As(err, &split):
		rep.severe("the log showed two different trees of %d entries: it rewrote its history (a split view)", split.New.N)
	case errors.As(err, &incons):
		rep.severe("the log of %d entries is not an extension of the one of %d this device verified: an entry was dropped, rewritten or reordered", incons.New.N, incons.Old.N)
	default:
		return nil, fmt.Errorf("checking the log: %w", err)
	}
	cp = cfg.Log.Latest()
	rep.Checkpoint = cp
	rep.State.Checkpoint = cp.Note

	// 2. The chain: it extends what this device verified, and its heads
	// are in the log.
	st, err := keydir.Verify(links, cfg.Genesis)
	if err != nil {
		return nil, fmt.Errorf("the household chain does not verify from the pinned genesis: %w", err)
	}
	if st.HouseholdID != cfg.Household {
		return nil, fmt.Errorf("the cloud served the chain of household %s for %s", st.HouseholdID, cfg.Household)
	}
	rep.Chain = st
	if s := cfg.State.ChainSeq; s > 0 || len(cfg.State.ChainHead) > 0 {
		if int64(len(links)) <= s || !bytes.Equal(keydir.LinkHash(links[s]), cfg.State.ChainHead) {
			rep.severe("the cloud served a household chain without link %d as this device verified it: a rollback or a fork", s)
		}
	}
	chainOK := true
	for i := range links {
		seq := int64(i)
		if seq < cfg.State.ChainSeq && seq != st.Seq {
			continue // proven by an earlier audit
		}
		if i >= len(idx) || idx[i] < 0 || idx[i] >= cp.N {
			rep.note("chain link %d is not in the log yet", seq)
			chainOK = false
			continue
		}
		if err := tk.ProveChainHead(ctx, cfg.Log, seq, keydir.LinkHash(links[i]), idx[i]); err != nil {
			rep.severe("chain link %d is not in the log at index %d as the cloud says: %v", seq, idx[i], err)
			chainOK = false
		}
	}
	if chainOK && rep.OK() {
		rep.State.ChainSeq, rep.State.ChainHead = st.Seq, st.Head
	}
	ids, err := st.EpochIdentities(cfg.Keys)
	if err != nil {
		return nil, fmt.Errorf("this device cannot open the household's records: %w", err)
	}

	// 3. The records: all there, in the log, in order, chained.
	wantN, prev := from, ""
	if cfg.State.RecordN > 0 {
		if len(refs) == 0 || refs[0].N != cfg.State.RecordN {
			rep.severe("the cloud no longer lists record %d, which this device verified before", cfg.State.RecordN)
		} else if EntryHash(refs[0].Entry) != cfg.State.RecordHash {
			rep.severe("record %d differs from the one this device verified before: the history was rewritten", cfg.State.RecordN)
		} else {
			prev = cfg.State.RecordHash
			refs = refs[1:]
			wantN++
		}
	} else {
		prev = ZeroPrev
	}
	advancing := rep.OK()
	for _, ref := range refs {
		if ref.Index < 0 || ref.Index >= cp.N {
			// Not in the log yet, or not in the checkpoint verified now. The
			// log takes about a second; a record kept out for long is the
			// cloud hiding it.
			rep.Pending++
			advancing = false
			if rec, err := OpenRecord(ref.Entry, tk, ids); err == nil && cfg.Now().Sub(rec.Time) > MaxLogDelay {
				rep.severe("record %d, made at %s, has not reached the log after %s: the cloud is keeping it out", rec.N, rec.Time.Format(time.RFC3339), MaxLogDelay)
			}
			continue
		}
		if ref.N != wantN {
			if ref.N > wantN {
				rep.severe("records %d to %d are missing from the household's history", wantN, ref.N-1)
			} else {
				rep.severe("record %d is listed out of order (after record %d)", ref.N, wantN-1)
			}
			advancing = false
			wantN = ref.N
		}
		if err := cfg.Log.ProveEntry(ctx, ref.Index, ref.Entry); err != nil {
			rep.severe("record %d is not in the log at index %d as the cloud says: %v", ref.N, ref.Index, err)
			advancing = false
			wantN++
			continue
		}
		rec, err := OpenRecord(ref.Entry, tk, ids)
		if err != nil {
			rep.severe("record %d (log index %d) does not open with the household's keys: %v", ref.N, ref.Index, err)
			advancing = false
			wantN++
			continue
		}
		if rec.N != ref.N {
			rep.severe("the entry listed as record %d is record %d: the history was reordered", ref.N, rec.N)
			advancing = false
		}
		if prev != "" && rec.Prev != prev {
			rep.severe("record %d does not follow the record before it: a record was dropped, rewritten or reordered", rec.N)
			advancing = false
		}
		prev = EntryHash(ref.Entry)
		rep.Records = append(rep.Records, Verified{Record: rec, Index: ref.Index})
		if advancing {
			rep.State.RecordN, rep.State.RecordHash = rec.N, prev
		}
		wantN = rec.N + 1
	}

	// 4. The hubs saw what this device sees.
	states, err := cfg.Source.States(ctx)
	if err != nil {
		return nil, fmt.Errorf("fetching the hubs' state records: %w", err)
	}
	for _, s := range states {
		checkState(ctx, rep, cfg.Log, st, links, ids, s)
	}
	rep.State.Checked = cfg.Now().UTC()
	return rep, nil
}

// checkState compares one hub state record with what this device verified.
func checkState(ctx context.Context, rep *Report, log *tlog.Client, st *keydir.State, links [][]byte, ids []envelope.Identity, s SealedState) {
	trusted := append(envelope.TrustedKeys{}, st.TrustedHubs()...)
	for _, h := range st.FormerHubs() {
		trusted = append(trusted, h.SignPub)
	}
	hdr, _, pt, err := envelope.Open(s.Sealed, trusted, ids...)
	switch {
	case errors.Is(err, envelope.ErrIncorrectIdentity):
		rep.severe("hub state record %s is sealed to a key this household's chain does not have: the hub follows another chain than this device", s.Key)
		return
	case err != nil:
		rep.severe("hub state record %s does not verify: %v", s.Key, err)
		return
	}
	if hdr.Kind != envelope.KindState || hdr.Stream != StateStream {
		rep.severe("object %s is not a hub state record", s.Key)
		return
	}
	rec, err := ParseState(pt)
	if err != nil {
		rep.severe("hub state record %s: %v", s.Key, err)
		return
	}
	hub := rec.Hub
	if keydir.DeviceID(ed25519.PublicKey(hdr.Signer)) != hub {
		rep.severe("hub state record %s names hub %s but another hub signed it", s.Key, hub)
		return
	}
	if name := st.Devices[hub].Name; name != "" {
		hub = fmt.Sprintf("%s (%s)", name, rec.Hub)
	}
	switch {
	case rec.Chain.Seq < int64(len(links)):
		if hex.EncodeToString(keydir.LinkHash(links[rec.Chain.Seq])) != rec.Chain.Head {
			rep.severe("hub %s verified another link %d of the household chain than this device: the cloud showed the hub a different chain (a fork)", hub, rec.Chain.Seq)
		}
	default:
		rep.severe("hub %s verified link %d of the household chain, which the cloud does not show this device (it shows %d links)", hub, rec.Chain.Seq, len(links))
	}
	if c := rec.Checkpoint; c != nil {
		latest := log.Latest()
		switch {
		case c.Origin != latest.Origin:
			rep.severe("hub %s verified a checkpoint of another log (%s)", hub, c.Origin)
		case c.Size <= latest.N:
			h, err := log.TreeHash(ctx, c.Size)
			if err != nil {
				rep.note("could not compare hub %s's checkpoint of size %d: %v", hub, c.Size, err)
			} else if base64.StdEncoding.EncodeToString(h[:]) != c.Hash {
				rep.severe("hub %s verified a log of %d entries that differs from the one this device verified: the log showed the hub and this device different histories (a split view)", hub, c.Size)
			}
		default:
			rep.note("hub %s has verified a newer checkpoint (%d entries) than this device (%d); it is compared at the next audit", hub, c.Size, latest.N)
		}
	}
	for _, p := range rec.Problems {
		rep.severe("hub %s at %s: %s", hub, p.Time.Format(time.RFC3339), p.Text)
	}
}
