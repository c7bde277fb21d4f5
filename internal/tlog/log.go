package tlog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Witness is a cosigner the log asks at every checkpoint (C2SP
// tlog-witness; the HTTP client lives elsewhere).
//
// A Witness that also has a method Verifier() note.Verifier (its
// cosignature verifier) has the signatures it returns checked by the log,
// which drops those that do not verify: clients refuse a checkpoint that
// carries a bad signature by a key they know, so one faulty witness must
// not spoil the checkpoint for everyone.
type Witness interface {
	// Name is the witness's key name.
	Name() string
	// AddCheckpoint asks the witness to cosign checkpoint (the log-signed
	// note), with a consistency proof from oldSize, the size the log
	// believes the witness last cosigned (0 for none). It returns the
	// witness's signature lines (each "— name base64\n"). When the witness
	// has another size it returns *SizeMismatch. proof is shared with the
	// other witnesses: it must not be modified.
	AddCheckpoint(ctx context.Context, oldSize int64, proof tlog.TreeProof, checkpoint []byte) ([]byte, error)
}

// defaultWitnessTimeout is how long the log waits for a witness unless
// Config.WitnessTimeout says otherwise.
const defaultWitnessTimeout = 5 * time.Second

// Config configures a Log.
type Config struct {
	// Origin is the checkpoint's origin line, e.g. "vigil.example/tlog".
	Origin string
	// Signer is the log's Ed25519 note signer (note.NewSigner); its Name
	// must equal Origin.
	Signer note.Signer
	// Storage holds the tiles and the checkpoint.
	Storage Storage
	// Witnesses are asked in parallel after each integration.
	Witnesses []Witness
	// WitnessTimeout bounds each witness's answer (default 5 s); a witness
	// that fails or times out is logged and left out of that checkpoint.
	WitnessTimeout time.Duration
	// Logger receives warnings (witness failures, recoveries); nil
	// discards them. Entries are never logged.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Log is the sequencer of one transparency log. Its methods are safe for
// concurrent use; Appends are serialised.
type Log struct {
	cfg   Config
	log   *slog.Logger
	cache *tileCache

	life     sync.Mutex // guards closed and the inflight.Add
	closed   bool
	inflight sync.WaitGroup

	mu       sync.Mutex // serialises Append; guards the fields below
	edge     *edge
	cp       []byte           // the stored checkpoint note
	sizes    map[string]int64 // witness name → size it last cosigned
	leftover [][]byte         // entries stored past the checkpoint by a failed Append
	broken   bool             // an Append failed: reload from the storage first

	pubMu sync.RWMutex // guards pub
	pub   published
}

type published struct {
	note []byte
	n    int64
}

// Open loads the log from cfg.Storage: it verifies the stored checkpoint's
// signature with the signer's key, that its origin is cfg.Origin and that
// the stored edge tiles hash to its root. In empty storage it starts an
// empty log and stores its size-0 checkpoint (asking the witnesses).
//
// Entries that a failed Append wrote past the stored checkpoint (a crash
// between tiles and checkpoint) are found here and settled by the next
// Append: a retry of the same batch rewrites the same tiles; any other
// batch is appended after them (so an entry whose Append failed may still
// appear in the log, once).
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if cfg.Origin == "" || !validKeyName(cfg.Origin) {
		return nil, fmt.Errorf("tlog: Config.Origin %q: want a non-empty note key name (no spaces, no '+')", cfg.Origin)
	}
	if cfg.Signer == nil {
		return nil, errors.New("tlog: Config.Signer is nil (hint: note.NewSigner of the key GenerateKey made)")
	}
	if cfg.Signer.Name() != cfg.Origin {
		return nil, fmt.Errorf("tlog: the signer's key is named %q but Config.Origin is %q: they must be equal", cfg.Signer.Name(), cfg.Origin)
	}
	if cfg.Storage == nil {
		return nil, errors.New("tlog: Config.Storage is nil")
	}
	seen := map[string]bool{}
	for i, w := range cfg.Witnesses {
		if w == nil || w.Name() == "" {
			return nil, fmt.Errorf("tlog: Config.Witnesses[%d] has no name", i)
		}
		if seen[w.Name()] {
			return nil, fmt.Errorf("tlog: witness %q is listed twice", w.Name())
		}
		seen[w.Name()] = true
	}
	if cfg.WitnessTimeout <= 0 {
		cfg.WitnessTimeout = defaultWitnessTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Log{cfg: cfg, log: cfg.Logger, cache: newTileCache(512)}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.load(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// load reads the checkpoint, the edge and any leftover from the storage;
// in empty storage it publishes the empty tree.
func (l *Log) load(ctx context.Context) error {
	st := l.cfg.Storage
	cp, err := st.Checkpoint(ctx)
	if errors.Is(err, ErrNotFound) {
		e := &edge{}
		if l.leftover, err = l.probeLeftover(ctx, e); err != nil {
			return err
		}
		l.edge, l.cp, l.sizes = e, nil, map[string]int64{}
		note, err := l.publish(ctx, e, e.treeHash())
		if err != nil {
			return fmt.Errorf("tlog: starting an empty log: %w", err)
		}
		l.setPublished(note, 0)
		return nil
	}
	if err != nil {
		return fmt.Errorf("tlog: reading the checkpoint: %w", err)
	}
	n, err := note.Open(cp, note.VerifierList(signerVerifier{l.cfg.Signer}))
	if err != nil {
		return fmt.Errorf("tlog: the stored checkpoint is not signed by this log's key (%v): is Config.Signer the key this log was started with?", err)
	}
	origin, size, hash, err := parseCheckpoint(n.Text)
	if err != nil {
		return fmt.Errorf("tlog: the stored checkpoint: %w", err)
	}
	if origin != l.cfg.Origin {
		return fmt.Errorf("tlog: the stored checkpoint's origin is %q, Config.Origin is %q", origin, l.cfg.Origin)
	}
	e, err := loadEdge(ctx, st, size)
	if err != nil {
		return err
	}
	if got := e.treeHash(); got != hash {
		return fmt.Errorf("tlog: the stored tiles hash to %s, but the checkpoint of size %d says %s: the storage is damaged", got, size, hash)
	}
	leftover, err := l.probeLeftover(ctx, e)
	if err != nil {
		return err
	}
	sizes := map[string]int64{}
	for _, w := range l.cfg.Witnesses {
		for _, s := range n.UnverifiedSigs {
			if s.Name == w.Name() {
				sizes[w.Name()] = size
			}
		}
	}
	l.edge, l.cp, l.sizes, l.leftover = e, cp, sizes, leftover
	l.setPublished(cp, size)
	if len(leftover) > 0 {
		l.log.Warn("tlog: entries stored past the checkpoint by an append that did not finish; the next append settles them",
			"checkpoint_size", size, "entries", len(leftover))
	}
	return nil
}

// loadEdge reads the edge tiles of the tree of n entries and checks them
// against each other: the entry bundle against the level-0 hashes, and
// each level's last full tile against its hash one level up.
func loadEdge(ctx context.Context, st Storage, n int64) (*edge, error) {
	e := &edge{n: n}
	readHashes := func(t tlog.Tile) ([]tlog.Hash, error) {
		data, err := st.Tile(ctx, TilePath(t))
		if err != nil {
			return nil, fmt.Errorf("tlog: reading edge tile %s of the tree of size %d: %w", TilePath(t), n, err)
		}
		if len(data) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("tlog: stored tile %s has %d bytes, want %d: the storage is damaged", TilePath(t), len(data), t.W*tlog.HashSize)
		}
		hs := make([]tlog.Hash, t.W)
		for i := range hs {
			copy(hs[i][:], data[i*tlog.HashSize:])
		}
		return hs, nil
	}
	for L := 0; n>>(TileHeight*L) > 0; L++ {
		p := n >> (TileHeight * L)
		var row []tlog.Hash
		if w := int(p % tileWidth); w > 0 {
			var err error
			if row, err = readHashes(tlog.Tile{H: TileHeight, L: L, N: p >> TileHeight, W: w}); err != nil {
				return nil, err
			}
		}
		e.rows = append(e.rows, row)
	}
	// The last full tile of each level must hash to the last hash of the
	// row above (when that row holds it).
	for L := 0; L+1 < len(e.rows); L++ {
		T := (n >> (TileHeight * L)) >> TileHeight
		if T == 0 || T%tileWidth == 0 {
			continue
		}
		full, err := readHashes(tlog.Tile{H: TileHeight, L: L, N: T - 1, W: tileWidth})
		if err != nil {
			return nil, err
		}
		up := e.rows[L+1]
		if len(up) == 0 || merkleRoot(full) != up[len(up)-1] {
			return nil, fmt.Errorf("tlog: stored tile %s does not hash to its parent: the storage is damaged", TilePath(tlog.Tile{H: TileHeight, L: L, N: T - 1, W: tileWidth}))
		}
	}
	if w := int(n % tileWidth); w > 0 {
		t := tlog.Tile{H: TileHeight, L: -1, N: n >> TileHeight, W: w}
		data, err := st.Tile(ctx, TilePath(t))
		if err != nil {
			return nil, fmt.Errorf("tlog: reading edge entry bundle %s: %w", TilePath(t), err)
		}
		entries, err := ParseEntryBundle(data, w)
		if err != nil {
			return nil, fmt.Errorf("tlog: stored entry bundle %s: %w", TilePath(t), err)
		}
		for i, en := range entries {
			if tlog.RecordHash(en) != e.rows[0][i] {
				return nil, fmt.Errorf("tlog: stored entry bundle %s does not match tile %s: the storage is damaged", TilePath(t), TilePath(tlog.Tile{H: TileHeight, L: 0, N: t.N, W: w}))
			}
		}
		e.bundle, e.bundleCount = data, w
	}
	return e, nil
}

// probeLeftover finds entries that an Append which did not finish stored
// past the edge: entry bundles are written in ascending order before
// anything else, so they are the bundles that extend the edge bundle,
// looked up at every width from full down.
func (l *Log) probeLeftover(ctx context.Context, e *edge) ([][]byte, error) {
	var out [][]byte
	tn, have, prefix := e.n>>TileHeight, e.bundleCount, e.bundle
	for {
		var found []byte
		w := 0
		for w = tileWidth; w > have; w-- {
			data, err := l.cfg.Storage.Tile(ctx, TilePath(tlog.Tile{H: TileHeight, L: -1, N: tn, W: w}))
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("tlog: looking for entries past the checkpoint: %w", err)
			}
			found = data
			break
		}
		if found == nil {
			return out, nil
		}
		path := TilePath(tlog.Tile{H: TileHeight, L: -1, N: tn, W: w})
		entries, err := ParseEntryBundle(found, w)
		if err != nil {
			return nil, fmt.Errorf("tlog: stored entry bundle %s past the checkpoint: %w", path, err)
		}
		if !bytes.HasPrefix(found, prefix) {
			return nil, fmt.Errorf("tlog: stored entry bundle %s past the checkpoint disagrees with the published entries: the storage is damaged", path)
		}
		out = append(out, entries[have:]...)
		if w < tileWidth {
			return out, nil
		}
		tn, have, prefix = tn+1, 0, nil
	}
}

func (l *Log) setPublished(note []byte, n int64) {
	l.pubMu.Lock()
	l.pub = published{note: note, n: n}
	l.pubMu.Unlock()
}

// Checkpoint returns the latest published checkpoint note (with its
// cosignatures).
func (l *Log) Checkpoint() []byte {
	l.pubMu.RLock()
	defer l.pubMu.RUnlock()
	return bytes.Clone(l.pub.note)
}

// Size returns the size of the latest published checkpoint.
func (l *Log) Size() int64 {
	l.pubMu.RLock()
	defer l.pubMu.RUnlock()
	return l.pub.n
}

// Close waits for the Appends in flight; later Appends fail with
// ErrClosed. The Storage is the caller's to close.
func (l *Log) Close() error {
	l.life.Lock()
	l.closed = true
	l.life.Unlock()
	l.inflight.Wait()
	return nil
}

// Append integrates entries as one batch (group commit: callers batch)
// and returns the index of entries[0]. On return every entry is in the
// entry bundles and hash tiles, and a new checkpoint (with the
// cosignatures the witnesses gave within the timeout) is stored: tiles
// first (entry bundles in ascending order, then hash tiles), checkpoint
// last, so a crash at any point leaves the previous checkpoint valid. An
// empty entry or one over MaxEntrySize bytes is refused before anything is
// written. Appends are serialised.
//
// After a failed Append the entries may or may not end up in the log: the
// next Append reloads the log from the storage and either rewrites the
// same tiles (a retry of the same batch) or appends the entries the
// failed one left stored before its own (see Open).
func (l *Log) Append(ctx context.Context, entries [][]byte) (int64, error) {
	for i, e := range entries {
		if len(e) == 0 {
			return 0, fmt.Errorf("%w: entry %d is empty", ErrMalformed, i)
		}
		if len(e) > MaxEntrySize {
			return 0, fmt.Errorf("%w: entry %d has %d bytes, more than %d", ErrMalformed, i, len(e), MaxEntrySize)
		}
	}
	l.life.Lock()
	if l.closed {
		l.life.Unlock()
		return 0, ErrClosed
	}
	l.inflight.Add(1)
	l.life.Unlock()
	defer l.inflight.Done()

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken {
		if err := l.load(ctx); err != nil {
			return 0, fmt.Errorf("tlog: reloading after a failed append: %w", err)
		}
		l.broken = false
	}
	if len(entries) == 0 {
		return l.edge.n, nil
	}
	if len(l.leftover) > 0 {
		if !startsWith(entries, l.leftover) {
			l.log.Warn("tlog: appending the entries a failed append left stored", "entries", len(l.leftover), "at", l.edge.n)
			if err := l.integrate(ctx, l.leftover); err != nil {
				l.broken = true
				return 0, err
			}
		}
		l.leftover = nil
	}
	start := l.edge.n
	if err := l.integrate(ctx, entries); err != nil {
		l.broken = true
		return 0, err
	}
	return start, nil
}

// Recosign asks again the witnesses that have not cosigned the current
// checkpoint (one was down at the last Append) and publishes it with the
// cosignatures it gets. It does nothing when every witness has cosigned,
// or when there are none; it reports whether it asked.
func (l *Log) Recosign(ctx context.Context) (bool, error) {
	l.life.Lock()
	if l.closed {
		l.life.Unlock()
		return false, ErrClosed
	}
	l.inflight.Add(1)
	l.life.Unlock()
	defer l.inflight.Done()

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken || len(l.cfg.Witnesses) == 0 {
		return false, nil
	}
	missing := false
	for _, w := range l.cfg.Witnesses {
		missing = missing || l.sizes[w.Name()] != l.edge.n
	}
	if !missing {
		return false, nil
	}
	note, err := l.publish(ctx, l.edge, l.edge.treeHash())
	if err != nil {
		l.broken = true
		return true, err
	}
	l.setPublished(note, l.edge.n)
	return true, nil
}

func startsWith(entries, prefix [][]byte) bool {
	if len(entries) < len(prefix) {
		return false
	}
	for i := range prefix {
		if !bytes.Equal(entries[i], prefix[i]) {
			return false
		}
	}
	return true
}

// integrate writes the tiles of entries and publishes the new checkpoint.
func (l *Log) integrate(ctx context.Context, entries [][]byte) error {
	next, bundles, hashTiles := l.edge.extend(entries)
	st := l.cfg.Storage
	// Bundles one by one in ascending order: probeLeftover relies on it.
	for _, b := range bundles {
		if err := st.PutTile(ctx, TilePath(b.t), b.data); err != nil {
			return fmt.Errorf("tlog: writing %s: %w", TilePath(b.t), err)
		}
	}
	if err := parallel(ctx, len(hashTiles), 8, func(ctx context.Context, i int) error {
		t := hashTiles[i]
		if err := st.PutTile(ctx, TilePath(t.t), t.data); err != nil {
			return fmt.Errorf("tlog: writing %s: %w", TilePath(t.t), err)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, t := range hashTiles {
		if t.t.W == tileWidth {
			l.cache.put(t.t.L, t.t.N, t.hashes)
		}
	}
	note, err := l.publish(ctx, next, next.treeHash())
	if err != nil {
		return err
	}
	l.edge = next
	l.setPublished(note, next.n)
	return nil
}

// publish signs the checkpoint of e, gathers cosignatures and stores it
// in place of l.cp.
func (l *Log) publish(ctx context.Context, e *edge, hash tlog.Hash) ([]byte, error) {
	body := formatCheckpoint(l.cfg.Origin, e.n, hash)
	signed, err := note.Sign(&note.Note{Text: body}, l.cfg.Signer)
	if err != nil {
		return nil, fmt.Errorf("tlog: signing the checkpoint: %w", err)
	}
	full := append(bytes.Clone(signed), l.cosign(ctx, e, body, signed)...)
	if err := l.cfg.Storage.SwapCheckpoint(ctx, l.cp, full); err != nil {
		return nil, fmt.Errorf("tlog: storing the checkpoint of size %d: %w", e.n, err)
	}
	l.cp = full
	return full, nil
}

// cosign asks every witness in parallel and returns the signature lines
// of those that answered in time, in the order of Config.Witnesses.
func (l *Log) cosign(ctx context.Context, e *edge, body string, signed []byte) []byte {
	ws := l.cfg.Witnesses
	if len(ws) == 0 {
		return nil
	}
	lines := make([][]byte, len(ws))
	sizes := make([]int64, len(ws))
	for i, w := range ws {
		sizes[i] = l.sizes[w.Name()]
	}
	// The witnesses have mostly cosigned the same size: prove each size
	// once. The map is only read once the witnesses are asked.
	proofs := map[int64]tlog.TreeProof{}
	for _, old := range sizes {
		if _, ok := proofs[old]; !ok {
			if p, err := l.consistencyProof(ctx, e, old); err == nil {
				proofs[old] = p
			}
		}
	}
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wctx, cancel := context.WithTimeout(ctx, l.cfg.WitnessTimeout)
			defer cancel()
			t0 := l.cfg.Now()
			got, size, err := l.askWitness(wctx, e, w, sizes[i], signed, proofs)
			if err != nil {
				l.log.Warn("tlog: witness did not cosign", "witness", w.Name(), "size", e.n, "after", l.cfg.Now().Sub(t0), "err", err)
				sizes[i] = size
				return
			}
			ok, err := checkCosignatures(w, body, got)
			if err != nil {
				l.log.Warn("tlog: witness returned signatures the log drops", "witness", w.Name(), "size", e.n, "err", err)
			}
			lines[i] = ok
			if len(ok) > 0 {
				sizes[i] = e.n
			} else {
				sizes[i] = size
			}
		}()
	}
	wg.Wait()
	var out []byte
	for i, w := range ws {
		l.sizes[w.Name()] = sizes[i]
		out = append(out, lines[i]...)
	}
	return out
}

// askWitness calls AddCheckpoint, once more from the witness's own size
// if it reports another one. It returns the size the witness is known to
// have cosigned when it fails. proofs holds consistency proofs already
// made, by old size.
func (l *Log) askWitness(ctx context.Context, e *edge, w Witness, old int64, signed []byte, proofs map[int64]tlog.TreeProof) ([]byte, int64, error) {
	for try := 0; ; try++ {
		if old < 0 || old > e.n {
			old = 0
		}
		proof, ok := proofs[old]
		if !ok {
			var err error
			if proof, err = l.consistencyProof(ctx, e, old); err != nil {
				return nil, old, err
			}
		}
		sigs, err := w.AddCheckpoint(ctx, old, proof, signed)
		var sm *SizeMismatch
		if errors.As(err, &sm) && try == 0 && sm.Size != old {
			if sm.Size < 0 || sm.Size > e.n {
				return nil, old, fmt.Errorf("witness has cosigned a tree of size %d, larger than this log's %d", sm.Size, e.n)
			}
			old = sm.Size
			continue
		}
		return sigs, old, err
	}
}

// consistencyProof proves the tree of e consistent with its first old
// entries (empty for old 0 or old = e.n, as C2SP tlog-witness says).
func (l *Log) consistencyProof(ctx context.Context, e *edge, old int64) (tlog.TreeProof, error) {
	if old == 0 || old == e.n {
		return tlog.TreeProof{}, nil
	}
	return tlog.ProveTree(e.n, old, edgeReader{ctx: ctx, e: e, cache: l.cache, st: l.cfg.Storage})
}

// checkCosignatures keeps the well-formed signature lines of witness w
// (its name; verified when w offers its verifier) and reports the rest.
func checkCosignatures(w Witness, body string, sigs []byte) ([]byte, error) {
	var v note.Verifier
	if wv, ok := w.(interface{ Verifier() note.Verifier }); ok {
		v = wv.Verifier()
	}
	var ok []byte
	var bad []string
	for len(sigs) > 0 {
		line, rest, found := bytes.Cut(sigs, []byte("\n"))
		sigs = rest
		if !found {
			bad = append(bad, "a line without a newline")
			break
		}
		s, isSig := strings.CutPrefix(string(line), "— ")
		name, b64, _ := strings.Cut(s, " ")
		raw, err := base64.StdEncoding.DecodeString(b64)
		switch {
		case !isSig || err != nil || len(raw) < 5:
			bad = append(bad, "a line that is not a signature")
		case name != w.Name():
			bad = append(bad, fmt.Sprintf("a signature named %q", name))
		case v != nil && (v.Name() != name || v.KeyHash() != binary.BigEndian.Uint32(raw) || !v.Verify([]byte(body), raw[4:])):
			bad = append(bad, "a signature that does not verify")
		default:
			ok = append(ok, line...)
			ok = append(ok, '\n')
		}
	}
	if len(bad) > 0 {
		return ok, errors.New(strings.Join(bad, "; "))
	}
	return ok, nil
}

// parallel runs fn(ctx, i) for i in [0, n), at most limit at a time, and
// returns the first error (the others are cancelled).
func parallel(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		sem   = make(chan struct{}, limit)
	)
	for i := range n {
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}
