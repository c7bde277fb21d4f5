package hubd

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"vigil/internal/envelope"
	"vigil/internal/history"
	"vigil/internal/keydir"
)

// Hub state records (docs/FORMAT.md, "Hub state records"). A paired hub
// tells its household what it verified — the chain head and the log
// checkpoint — and what it refused or could not verify, in sealed objects
// of kind state on the stream "states", signed by the hub and sealed to the
// household like its segments, so the cloud can neither read nor alter them.
// A member's device compares them with its own view (history.Audit): a hub
// shown another chain or log than the members is a split view it detects
// from the sealed data alone.
//
// A record is made at start, whenever the verified chain head changes or a
// new problem appears, and every stateEvery. It lists the problems that
// appeared since the last record and those still going on, so the newest
// record alone tells whether the hub is in trouble. It goes through the
// outbox, so it reaches the cloud after an outage.

// stateEvery is how often a paired hub makes a state record when nothing
// changes.
const stateEvery = 10 * time.Minute

// maxProblemText bounds one problem's text in a record; with at most
// history.MaxProblems of them the record stays under history.MaxStateSize.
const maxProblemText = 400

// problems are the hub's current problems by kind and those that
// appeared since the last state record.
type problems struct {
	mu      sync.Mutex
	active  map[string]history.Problem
	pending []history.Problem
}

// set makes text the current problem of kind ("" when it is gone) and
// reports whether it is a new one.
func (p *problems) set(kind, text string, now time.Time) bool {
	text = problemText(text)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.active == nil {
		p.active = map[string]history.Problem{}
	}
	if text == "" {
		delete(p.active, kind)
		return false
	}
	if a, ok := p.active[kind]; ok && a.Text == text {
		return false
	}
	pr := history.Problem{Time: now.UTC(), Text: text}
	p.active[kind] = pr
	p.pending = append(p.pending, pr)
	if len(p.pending) > history.MaxProblems {
		p.pending = p.pending[len(p.pending)-history.MaxProblems:]
	}
	return true
}

// forRecord returns the problems for the next record (those since the last
// record and those still active, oldest first, at most
// history.MaxProblems) and how many pending ones it took.
func (p *problems) forRecord() ([]history.Problem, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.pending)
	for _, a := range p.active {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b history.Problem) int { return a.Time.Compare(b.Time) })
	if len(out) > history.MaxProblems {
		out = out[len(out)-history.MaxProblems:]
	}
	return out, len(p.pending)
}

// recorded drops the first n pending problems: a record carries them.
func (p *problems) recorded(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pending = p.pending[min(n, len(p.pending)):]
}

// problemText makes err's text fit a state record: one line of printable
// characters, at most maxProblemText bytes.
func problemText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxProblemText {
		cut := maxProblemText - len("…")
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// problem records a problem of a kind (text "" when it is gone): a new one
// is logged and makes a state record soon.
func (h *Hub) problem(kind, text string) {
	if h.problems.set(kind, text, h.opts.Now()) {
		h.log.Warn("reported to the household in the hub's next state record", "problem", problemText(text))
		h.kickState()
	}
}

// kickState asks for a state record now.
func (h *Hub) kickState() {
	select {
	case h.stateKick <- struct{}{}:
	default: // one is due already
	}
}

// stateLoop makes the paired hub's state records until ctx ends.
func (h *Hub) stateLoop(ctx context.Context) {
	defer h.wg.Done()
	every := h.opts.StateEvery
	if every <= 0 {
		every = stateEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var retry <-chan time.Time
		if err := h.makeState(); err != nil {
			h.log.Warn("hub state record not made; will try again", "err", err)
			retry = time.After(min(every, time.Minute))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-retry:
		case <-h.stateKick:
		}
	}
}

// makeState seals a state record of what the hub verified now and queues
// it for the cloud.
func (h *Hub) makeState() error {
	now := h.opts.Now().UTC()
	st := h.household.current()
	pub := h.signer.Public().(ed25519.PublicKey)
	probs, n := h.problems.forRecord()
	rec := history.StateRecord{V: 1, Hub: keydir.DeviceID(pub), Time: now,
		Chain: history.StateChain{Seq: st.Seq, Head: hex.EncodeToString(st.Head)}, Problems: probs}
	if cp, ok := h.household.checkpoint(); ok {
		rec.Checkpoint = &history.StateCheckpoint{Origin: cp.Origin, Size: cp.N, Hash: base64.StdEncoding.EncodeToString(cp.Hash[:])}
	}
	body, err := history.MarshalState(rec)
	for err != nil && len(rec.Problems) > 0 && errors.Is(err, history.ErrMalformed) {
		rec.Problems = rec.Problems[1:] // too large: the oldest go first
		body, err = history.MarshalState(rec)
	}
	if err != nil {
		return fmt.Errorf("hub state record: %w", err)
	}
	recips, epoch := h.sealRecipients()
	seq := h.nextStateSeq(now)
	sealed, err := envelope.Seal(envelope.Header{Kind: envelope.KindState, Stream: history.StateStream, Sequence: seq, Start: now, Epoch: epoch},
		now, h.signer, body, recips...)
	if err != nil {
		return err
	}
	if err := h.outbox.Put(sealed); err != nil {
		return err
	}
	h.problems.recorded(n)
	h.log.Debug("hub state record queued", "seq", st.Seq, "problems", len(rec.Problems), "checkpoint", rec.Checkpoint != nil)
	return nil
}

// nextStateSeq returns the sequence of the next state record: wall-clock
// nanoseconds, as the events stream's, and always above the last one.
func (h *Hub) nextStateSeq(now time.Time) uint64 {
	for {
		last := h.stateSeq.Load()
		next := max(last+1, uint64(now.UnixNano()))
		if h.stateSeq.CompareAndSwap(last, next) {
			return next
		}
	}
}
