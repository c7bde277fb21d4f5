package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	xtlog "golang.org/x/mod/sumdb/tlog"

	"vigil/internal/envelope"
	"vigil/internal/tlog"
)

// The cloud's side of the history: events become sealed records, chain
// heads and releases become entries, and everything passes through the
// Store (durable first) into the transparency log.

// DefaultCoalesce is how long repeated identical reads are counted into one
// record instead of each making its own.
const DefaultCoalesce = 10 * time.Minute

// maxWindows bounds the reads being coalesced at once; past it every read
// is recorded on its own.
const maxWindows = 100_000

// publishBatch bounds the entries integrated in one log append.
const publishBatch = 4096

// Household is what the publisher needs of a household to make its
// entries: the genesis hash (tags) and its current epoch key (records).
type Household struct {
	Genesis   []byte
	Epoch     uint32
	Recipient *envelope.X25519Recipient
}

// Event is something that happened to a household's data, for its history.
type Event struct {
	Time   time.Time
	Actor  Actor
	Action string
	Object string
	// Signed is the signed household action that authorised a change
	// ({"device","body","sig"}), nil for reads.
	Signed json.RawMessage
	// Change marks an event that changed the household: never coalesced.
	Change bool
}

// PublisherConfig configures a Publisher.
type PublisherConfig struct {
	Log *tlog.Log
	// LogStorage is the log's storage, read when the publisher starts to
	// match entries the log integrated just before a crash with the items
	// that were waiting for them.
	LogStorage tlog.Storage
	Store      Store
	// Household returns the keys of a household (its verified chain).
	Household func(ctx context.Context, id string) (Household, error)
	// OnLogged is called (from the publisher's goroutine) with items once
	// they are in the log, in a checkpoint that was published.
	OnLogged func(items []Item)
	// Coalesce is the window of repeated identical reads (0:
	// DefaultCoalesce; negative: never coalesce).
	Coalesce time.Duration
	Logger   *slog.Logger
	Now      func() time.Time
	// Sequenced leaves the log to Sequence, which the replica that leads
	// the cluster runs (one at a time across the replicas): the publisher
	// makes records durable in the Store and never appends to the log
	// itself, so Log and LogStorage may be nil. Unset, the publisher's own
	// goroutine appends (one process).
	Sequenced bool
}

// Publisher records events and publishes entries. Its goroutine moves
// waiting items into the log in batches (group commit); Close stops it.
type Publisher struct {
	cfg  PublisherConfig
	log  *slog.Logger
	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	windows map[windowKey]*window

	pubMu   sync.Mutex // one publishing pass at a time
	failing string     // what failed the last pass (logged once in a row); guarded by pubMu
}

// windowKey: reads coalesce only when household, actor (with its device), action
// and object are the same.
type windowKey struct {
	hh             string
	actor          Actor
	action, object string
}

type window struct {
	start       time.Time // when the first read, which was recorded, happened
	count       int64     // repeats since, not recorded yet
	first, last time.Time // of the repeats
	ev          Event
}

// NewPublisher reconciles the store with the log (items integrated just
// before a crash get their indexes; an outbox and a log that disagree are
// an error) and starts publishing.
func NewPublisher(ctx context.Context, cfg PublisherConfig) (*Publisher, error) {
	if cfg.Store == nil || cfg.Household == nil || !cfg.Sequenced && (cfg.Log == nil || cfg.LogStorage == nil) {
		return nil, errors.New("history: a publisher needs a log, its storage, a store and a household lookup")
	}
	p := newPublisher(cfg)
	if cfg.Sequenced {
		p.wg.Go(p.run)
		return p, nil
	}
	if err := p.reconcile(ctx); err != nil {
		return nil, err
	}
	p.wg.Go(p.run)
	p.signal()
	return p, nil
}

func newPublisher(cfg PublisherConfig) *Publisher {
	if cfg.Coalesce == 0 {
		cfg.Coalesce = DefaultCoalesce
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Publisher{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), done: make(chan struct{}), windows: map[windowKey]*window{}}
}

// SequenceEvery is how often Sequence looks for waiting items.
const SequenceEvery = 500 * time.Millisecond

// Sequence appends the items waiting in cfg.Store to the log until ctx
// ends, then returns nil: the part of a Publisher that runs once
// cluster-wide, for the replica that leads (the others' publishers are
// Sequenced). cfg.Log must be opened from its storage for this run, since
// another replica may have appended since; only one Sequence may run at
// a time across the replicas (the log's storage detects a second writer,
// but it costs a failed append). Once ctx is cancelled nothing more is
// appended; an append cut short leaves the log as a crash does, which the
// next Open settles.
func Sequence(ctx context.Context, cfg PublisherConfig) error {
	if cfg.Log == nil || cfg.Store == nil || cfg.LogStorage == nil {
		return errors.New("history: Sequence needs a log, its storage and a store")
	}
	cfg.Sequenced = false
	p := newPublisher(cfg)
	tick := time.NewTicker(SequenceEvery)
	defer tick.Stop()
	var lastRecosign time.Time
	for {
		p.publish(ctx) // logs its failures; the next tick tries again
		if time.Since(lastRecosign) >= recosignEvery && ctx.Err() == nil {
			lastRecosign = time.Now()
			if _, err := cfg.Log.Recosign(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("history: asking the witnesses again failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// reconcile gives indexes to the items the log holds but the store does
// not know it does.
func (p *Publisher) reconcile(ctx context.Context) error {
	size := p.cfg.Log.Size()
	last, err := p.cfg.Store.LastIndex(ctx)
	if err != nil {
		return err
	}
	if last >= size {
		return mismatchf("history: the outbox places entries up to index %d but the log has only %d: the log's storage lost entries (restore it; never start a new log under the same key)", last, size)
	}
	missing := size - 1 - last
	if missing == 0 {
		return nil
	}
	pend, err := p.cfg.Store.Pending(ctx, int(missing))
	if err != nil {
		return err
	}
	if int64(len(pend)) != missing {
		return mismatchf("history: the log holds %d entries after index %d that the outbox does not have", missing-int64(len(pend)), last)
	}
	entries, err := readEntries(ctx, p.cfg.LogStorage, size, last+1, size)
	if err != nil {
		return fmt.Errorf("history: reading the log's last entries: %w", err)
	}
	ids := make([]int64, len(pend))
	for i, it := range pend {
		if !bytes.Equal(entries[i], it.Entry) {
			return mismatchf("history: log entry %d is not outbox item %d: the log and its outbox disagree", last+1+int64(i), it.ID)
		}
		ids[i] = it.ID
	}
	if err := p.cfg.Store.SetIndexes(ctx, ids, last+1); err != nil {
		return err
	}
	p.log.Info("history: matched entries the log integrated before a restart", "entries", len(ids))
	return nil
}

// mismatchError is an outbox and a log that disagree: publishing stops
// until someone repairs them, unlike a store or a log that does not answer
// for a while.
type mismatchError struct{ msg string }

func (e *mismatchError) Error() string { return e.msg }

func mismatchf(format string, args ...any) error {
	return &mismatchError{msg: fmt.Sprintf(format, args...)}
}

// readEntries reads entries [start, end) of a log of the given size from
// its entry bundles. The storage is the log's own (trusted).
func readEntries(ctx context.Context, st tlog.Storage, size, start, end int64) ([][]byte, error) {
	var out [][]byte
	for n := start / tileWidth; n*tileWidth < end; n++ {
		w := min(tileWidth, size-n*tileWidth)
		data, err := st.Tile(ctx, tlog.TilePath(xtlog.Tile{H: tlog.TileHeight, L: -1, N: n, W: int(w)}))
		if err != nil {
			return nil, err
		}
		es, err := tlog.ParseEntryBundle(data, int(w))
		if err != nil {
			return nil, err
		}
		for j, e := range es {
			if idx := n*tileWidth + int64(j); idx >= start && idx < end {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

const tileWidth = 1 << tlog.TileHeight

func (p *Publisher) signal() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// recosignEvery is how often the publisher asks witnesses that missed the
// current checkpoint to cosign it (a quiet log would otherwise stay short
// of its quorum until the next entry).
const recosignEvery = 30 * time.Second

func (p *Publisher) run() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastRecosign time.Time
	for {
		select {
		case <-p.done:
			return
		case <-p.kick:
			if p.cfg.Sequenced {
				continue
			}
		case <-tick.C:
			p.flushWindows(false)
			if p.cfg.Sequenced {
				continue
			}
			if time.Since(lastRecosign) >= recosignEvery {
				lastRecosign = time.Now()
				if asked, err := p.cfg.Log.Recosign(context.Background()); err != nil {
					p.log.Warn("history: asking the witnesses again failed", "err", err)
				} else if asked {
					p.log.Info("history: asked the witnesses that missed the current checkpoint again")
				}
			}
		}
		p.publish(context.Background())
	}
}

// publish moves every waiting item into the log.
func (p *Publisher) publish(ctx context.Context) error {
	p.pubMu.Lock()
	defer p.pubMu.Unlock()
	// An append whose indexes could not be stored must never be repeated:
	// match the log's tail with the outbox first.
	if err := p.reconcile(ctx); err != nil {
		var me *mismatchError
		if errors.As(err, &me) {
			p.log.Error("history: the outbox and the log do not match; nothing is appended until they do", "err", err)
		} else {
			p.failed(ctx, "history: the outbox or the log cannot be read; publishing waits until they answer", err)
		}
		return err
	}
	for {
		items, err := p.cfg.Store.Pending(ctx, publishBatch)
		if err != nil {
			p.failed(ctx, "history: the outbox cannot be read; publishing waits until it answers", err)
			return err
		}
		if len(items) == 0 {
			p.recovered()
			return nil
		}
		entries := make([][]byte, len(items))
		ids := make([]int64, len(items))
		for i, it := range items {
			entries[i], ids[i] = it.Entry, it.ID
		}
		first, err := p.cfg.Log.Append(ctx, entries)
		if err != nil {
			p.failed(ctx, "history: appending to the log failed; the entries stay in the outbox", err, "entries", len(entries))
			return err
		}
		if err := p.cfg.Store.SetIndexes(ctx, ids, first); err != nil {
			// The next pass matches them up (reconcile) before appending.
			p.log.Error("history: the log has the entries but the outbox could not record where", "first", first, "err", err)
			return err
		}
		for i := range items {
			items[i].Index = first + int64(i)
		}
		if p.cfg.OnLogged != nil {
			p.cfg.OnLogged(items)
		}
		if len(items) < publishBatch {
			p.recovered()
			return nil
		}
	}
}

// failed logs a failed publishing pass: at Warn the first time in a row
// for msg, at Debug while the same failure repeats (a store or a log's
// storage that is down fails every pass), and not at all once ctx ended.
// pubMu is held.
func (p *Publisher) failed(ctx context.Context, msg string, err error, attrs ...any) {
	if ctx.Err() != nil {
		return
	}
	level := slog.LevelWarn
	if p.failing == msg {
		level = slog.LevelDebug
	}
	p.failing = msg
	p.log.Log(ctx, level, msg, append(attrs, "err", err)...)
}

// recovered notes a publishing pass that succeeded after failed ones.
// pubMu is held.
func (p *Publisher) recovered() {
	if p.failing != "" {
		p.log.Info("history: publishing again", "after", p.failing)
		p.failing = ""
	}
}

// Sync records the repeated reads still being counted (ending their
// windows), publishes every item waiting now and returns when they are in
// the log (or ctx ends).
//
// A Sequenced publisher waits, polling the Store, until the leader's
// Sequence has given every item waiting now its index.
func (p *Publisher) Sync(ctx context.Context) error {
	p.flushWindows(true)
	if !p.cfg.Sequenced {
		return p.publish(ctx)
	}
	pend, err := p.cfg.Store.Pending(ctx, math.MaxInt32)
	if err != nil || len(pend) == 0 {
		return err
	}
	last := pend[len(pend)-1].ID
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(SequenceEvery / 5):
		}
		first, err := p.cfg.Store.Pending(ctx, 1)
		if err != nil {
			return err
		}
		if len(first) == 0 || first[0].ID > last {
			return nil
		}
	}
}

// Record adds ev to household hh's history. A read identical to one
// recorded less than the coalescing window ago (same actor, action and
// object) is counted instead, and recorded with the others like it when
// the window ends; every other event is durable in the store when Record
// returns.
func (p *Publisher) Record(ctx context.Context, hh string, ev Event) error {
	if ev.Time.IsZero() {
		ev.Time = p.cfg.Now()
	}
	coalesce := !ev.Change && p.cfg.Coalesce > 0
	k := windowKey{hh, ev.Actor, ev.Action, ev.Object}
	if coalesce {
		p.mu.Lock()
		w, ok := p.windows[k]
		if ok && ev.Time.Sub(w.start) < p.cfg.Coalesce {
			if w.count == 0 {
				w.first = ev.Time
			}
			w.count++
			w.last = ev.Time
			p.mu.Unlock()
			return nil
		}
		if ok {
			delete(p.windows, k) // it ended: its repeats are recorded now
		}
		p.mu.Unlock()
		if ok && w.count > 0 {
			p.recordRepeats(k.hh, w)
		}
	}
	if err := p.append(ctx, hh, ev, 1, nil); err != nil {
		return err
	}
	if coalesce {
		// Only a read that was recorded opens a window: the repeats counted
		// in it stand behind a record that exists.
		p.mu.Lock()
		if _, ok := p.windows[k]; !ok && len(p.windows) < maxWindows {
			p.windows[k] = &window{start: ev.Time, ev: ev}
		}
		p.mu.Unlock()
	}
	return nil
}

func (p *Publisher) append(ctx context.Context, hh string, ev Event, count int64, last *time.Time) error {
	h, err := p.cfg.Household(ctx, hh)
	if err != nil {
		return fmt.Errorf("history: household %s: %w", hh, err)
	}
	tk, err := NewTagKey(h.Genesis)
	if err != nil {
		return err
	}
	_, err = p.cfg.Store.AppendRecord(ctx, hh, func(n int64, prev string) ([]byte, error) {
		return SealRecord(tk, h.Epoch, h.Recipient, Record{V: 1, N: n, Prev: prev, Time: ev.Time, Actor: ev.Actor,
			Action: ev.Action, Object: ev.Object, Count: count, Last: last, Signed: ev.Signed})
	})
	if err != nil {
		return err
	}
	p.signal()
	return nil
}

// flushWindows records the repeats of windows that ended (all of them when
// all is set).
func (p *Publisher) flushWindows(all bool) {
	now := p.cfg.Now()
	type due struct {
		hh string
		w  *window
	}
	var out []due
	p.mu.Lock()
	for k, w := range p.windows {
		if all || now.Sub(w.start) >= p.cfg.Coalesce {
			delete(p.windows, k)
			if w.count > 0 {
				out = append(out, due{k.hh, w})
			}
		}
	}
	p.mu.Unlock()
	for _, d := range out {
		p.recordRepeats(d.hh, d.w)
	}
}

// recordRepeats records the repeats counted in an ended window, w.count > 0
// of them, as one record.
func (p *Publisher) recordRepeats(hh string, w *window) {
	ev := w.ev
	ev.Time = w.first
	var last *time.Time
	if w.count > 1 {
		l := w.last
		last = &l
	}
	if err := p.append(context.Background(), hh, ev, w.count, last); err != nil {
		p.log.Error("history: recording repeated reads failed", "household", hh, "action", ev.Action, "count", w.count, "err", err)
	}
}

// ChainHead adds the chain head at seq of household hh (whose genesis hash
// is genesis) to the log.
func (p *Publisher) ChainHead(ctx context.Context, hh string, genesis []byte, seq int64, head []byte) (Item, error) {
	tk, err := NewTagKey(genesis)
	if err != nil {
		return Item{}, err
	}
	e, err := tk.ChainHeadEntry(seq, head)
	if err != nil {
		return Item{}, err
	}
	it, err := p.cfg.Store.Add(ctx, Item{Kind: TypeChainHead, Household: hh, Num: seq, Entry: e})
	if err == nil && it.Index < 0 {
		p.signal()
	}
	return it, err
}

// Release adds a signed web release (a type-3 entry) to the log.
func (p *Publisher) Release(ctx context.Context, entry []byte) (Item, error) {
	e, err := ParseEntry(entry)
	if err != nil {
		return Item{}, err
	}
	if e.Release == nil {
		return Item{}, fmt.Errorf("%w: not a web release", ErrMalformed)
	}
	it, err := p.cfg.Store.Add(ctx, Item{Kind: TypeRelease, Entry: entry})
	if err == nil && it.Index < 0 {
		p.signal()
	}
	return it, err
}

// Close records the repeats still being counted, publishes what waits and
// stops the goroutine.
func (p *Publisher) Close() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	close(p.done)
	p.wg.Wait()
	p.flushWindows(true)
	if p.cfg.Sequenced {
		return nil
	}
	return p.publish(context.Background())
}
