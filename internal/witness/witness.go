// Package witness is an independent transparency-log witness and its
// client, following C2SP tlog-witness (the add-checkpoint HTTP protocol) and
// C2SP tlog-cosignature (Ed25519 cosignature/v1, signature type 0x04).
//
// What it owns:
//
//   - [Witness]: for each log it is configured with (origin and the log's
//     note verifier key) it keeps the newest checkpoint it cosigned, checks
//     the log's signature and an RFC 6962 consistency proof from that one to
//     each new one, and cosigns only consistent successors. The new state is
//     on disk (fsynced, renamed, directory fsynced) before the cosignature
//     leaves, so no crash can make it cosign two diverging trees. Two
//     checkpoints of one size with different roots (a split view) are
//     refused and kept as evidence.
//   - its state directory (docs/WITNESS.md lists the files) and its key
//     ([LoadOrCreateKey]; clients read its vkey with
//     tlog.NewCosignatureVerifier).
//   - [Client], the log's side of add-checkpoint: it returns cosignatures
//     only after checking that they are valid ones by the witness it
//     addressed over the checkpoint it sent.
//
// What it must never do: cosign a checkpoint that is not a consistent
// successor of the one it cosigned before, or cosign before that state is
// durable; trust anything in a request before the log's signature and the
// proof verify; know what a log's entries mean; log request bodies or its
// key; panic or answer 5xx on malformed input.
package witness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"vigil/internal/fsutil"
)

// Limits on an add-checkpoint request.
const (
	// MaxRequestBytes bounds the body of an add-checkpoint request.
	MaxRequestBytes = 1 << 20
	// MaxProofLines is the most consistency proof hashes a request may
	// carry (C2SP tlog-witness: clients send at most 63).
	MaxProofLines = 63
)

// SizeContentType is the media type of a 409 answer that carries the size
// of the checkpoint the witness holds (C2SP tlog-witness).
const SizeContentType = "text/x.tlog.size"

// ErrLocked is returned by [New] when another process serves the state
// directory.
var ErrLocked = errors.New("another witness is running on this state directory")

// Config configures a [Witness].
type Config struct {
	// Dir is the state directory (created with mode 0700 if missing): the
	// newest cosigned checkpoint of each log and the evidence of
	// misbehaviour. One witness process at a time may use it.
	Dir string
	// Signer makes the witness's cosignatures; [LoadOrCreateKey] gives the
	// one kept in Dir.
	Signer *torchwood.CosignatureSigner
	// Logs are the logs the witness cosigns for: origin → the log's note
	// verifier key ("<name>+<hash>+<base64 key>", as note.NewVerifier
	// reads; Vigil's logs name their key after the origin). At least one.
	Logs map[string]string
	// Logger receives what the witness did and refused (nil: discarded).
	Logger *slog.Logger
	// Now is the clock for evidence records (nil: time.Now). Cosignature
	// timestamps come from the Signer.
	Now func() time.Time
}

// Witness cosigns consistent checkpoints of the logs it knows. Its methods
// are safe for concurrent use; requests for one log are serialised.
type Witness struct {
	dir    string
	signer *torchwood.CosignatureSigner
	logs   map[string]*logState // fixed after New
	log    *slog.Logger
	now    func() time.Time
	lock   *os.File
	mux    *http.ServeMux

	mu       sync.Mutex // guards closed and the Add side of inflight
	closed   bool
	inflight sync.WaitGroup

	// persistHook, when set (tests only), runs before a log's state is
	// written; an error it returns stands for a failed write.
	persistHook func(origin string) error
}

// logState is one log: its key and the newest checkpoint the witness
// cosigned for it.
type logState struct {
	origin   string
	vkey     string
	verifier note.Verifier

	mu   sync.Mutex // serialises add-checkpoint for this log
	held *held      // nil until the first cosignature
}

// held is a cosigned checkpoint and the signed note it came in.
type held struct {
	checkpoint torchwood.Checkpoint
	note       []byte
}

// New opens the state directory, loads what the witness cosigned before
// and returns a witness ready to serve [Witness.Handler].
func New(cfg Config) (*Witness, error) {
	if cfg.Dir == "" {
		return nil, errors.New("witness: no state directory (Config.Dir)")
	}
	if cfg.Signer == nil {
		return nil, errors.New("witness: no signer (Config.Signer; LoadOrCreateKey makes one)")
	}
	if len(cfg.Logs) == 0 {
		return nil, errors.New("witness: no logs to witness (give each log's verifier key, e.g. --log example.org/tlog+1234abcd+AW...)")
	}
	w := &Witness{
		dir:    cfg.Dir,
		signer: cfg.Signer,
		logs:   make(map[string]*logState, len(cfg.Logs)),
		log:    cfg.Logger,
		now:    cfg.Now,
		mux:    http.NewServeMux(),
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.now == nil {
		w.now = time.Now
	}
	for origin, vkey := range cfg.Logs {
		if origin == "" || strings.ContainsAny(origin, "\n") {
			return nil, fmt.Errorf("witness: log origin %q is not a checkpoint origin line", origin)
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, fmt.Errorf("witness: log %s: verifier key %q: %v (hint: it is the line the log serves at /tlog/key, '<origin>+<hash>+<base64 key>')", origin, vkey, err)
		}
		w.logs[origin] = &logState{origin: origin, vkey: vkey, verifier: v}
	}
	for _, d := range []string{cfg.Dir, filepath.Join(cfg.Dir, logsDir), filepath.Join(cfg.Dir, evidenceDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("witness: %w", err)
		}
	}
	lock, err := fsutil.LockDir(filepath.Join(cfg.Dir, "lock"))
	if err != nil {
		if errors.Is(err, fsutil.ErrLocked) {
			err = ErrLocked
			return nil, fmt.Errorf("witness: %s: %w (hint: stop the other 'vigil witness' first)", cfg.Dir, err)
		}
		return nil, fmt.Errorf("witness: %w", err)
	}
	w.lock = lock
	for origin, l := range w.logs {
		h, err := w.loadState(origin)
		if err != nil {
			lock.Close()
			return nil, fmt.Errorf("witness: %w", err)
		}
		l.held = h
		if h != nil {
			w.log.Info("witnessing log", "origin", origin, "size", h.checkpoint.N)
		} else {
			w.log.Info("witnessing log", "origin", origin, "size", "none yet")
		}
	}
	w.mux.HandleFunc("POST /add-checkpoint", w.serveAddCheckpoint)
	w.mux.HandleFunc("GET /{$}", w.serveIndex)
	return w, nil
}

// VerifierKey returns the witness's public key as a vkey (C2SP signed-note,
// type 0x04): what log operators and clients configure to accept its
// cosignatures.
func (w *Witness) VerifierKey() string { return w.signer.Verifier().String() }

// Handler serves POST /add-checkpoint (C2SP tlog-witness) and GET / (a plain
// text page with the witness's key and the logs it witnesses).
func (w *Witness) Handler() http.Handler { return w.mux }

// Close stops accepting requests (they get 503), waits for those under way
// and releases the state directory.
func (w *Witness) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	w.inflight.Wait()
	return w.lock.Close()
}

// begin registers a request under way; false once the witness is closed.
func (w *Witness) begin() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	w.inflight.Add(1)
	return true
}

// refusal is an add-checkpoint answer other than 200.
type refusal struct {
	status int
	msg    string
	// sizeMismatch marks a 409 whose body is the size the witness holds.
	sizeMismatch bool
	size         int64
}

func refuse(status int, format string, args ...any) *refusal {
	return &refusal{status: status, msg: fmt.Sprintf(format, args...)}
}

func (w *Witness) serveAddCheckpoint(rw http.ResponseWriter, r *http.Request) {
	if !w.begin() {
		http.Error(rw, "the witness is shutting down; try again later", http.StatusServiceUnavailable)
		return
	}
	defer w.inflight.Done()
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(rw, fmt.Sprintf("request body over %d bytes", MaxRequestBytes), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(rw, "could not read the request body", http.StatusBadRequest)
		return
	}
	cosig, ref := w.addCheckpoint(r.Context(), body)
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	if ref != nil {
		if ref.sizeMismatch {
			rw.Header().Set("Content-Type", SizeContentType)
			rw.WriteHeader(http.StatusConflict)
			fmt.Fprintf(rw, "%d\n", ref.size)
			return
		}
		http.Error(rw, ref.msg, ref.status)
		return
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Write(cosig)
}

// addCheckpoint runs the checks of C2SP tlog-witness in its order and
// returns the cosignature lines, or why the checkpoint is refused.
func (w *Witness) addCheckpoint(ctx context.Context, body []byte) ([]byte, *refusal) {
	req, err := parseRequest(body)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "malformed add-checkpoint request: %v", err)
	}
	l := w.logs[req.origin]
	if l == nil {
		return nil, refuse(http.StatusNotFound, "unknown log origin %q: this witness does not witness it", truncate(req.origin, 200))
	}
	log := w.log.With("origin", l.origin, "old", req.oldSize)
	n, err := note.Open(req.note, note.VerifierList(l.verifier))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			log.DebugContext(ctx, "refused a checkpoint without a valid log signature")
			return nil, refuse(http.StatusForbidden, "the checkpoint has no valid signature by the log's key")
		}
		return nil, refuse(http.StatusBadRequest, "malformed checkpoint note: %v", err)
	}
	c, err := torchwood.ParseCheckpoint(n.Text)
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "malformed checkpoint: %v", err)
	}
	if c.Origin != l.origin {
		return nil, refuse(http.StatusBadRequest, "malformed checkpoint: origin line %q", truncate(c.Origin, 200))
	}
	log = log.With("size", c.N)
	if req.oldSize > c.N {
		return nil, refuse(http.StatusBadRequest, "old size %d is larger than the checkpoint's size %d", req.oldSize, c.N)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.held
	if h != nil && c.N == h.checkpoint.N && c.Hash != h.checkpoint.Hash {
		return nil, w.splitView(ctx, log, l, h, req.note, c)
	}
	heldSize := int64(0)
	if h != nil {
		heldSize = h.checkpoint.N
	}
	if req.oldSize != heldSize {
		log.DebugContext(ctx, "old size is not the size the witness holds", "held", heldSize)
		return nil, &refusal{status: http.StatusConflict, sizeMismatch: true, size: heldSize}
	}
	if req.oldSize == 0 {
		if len(req.proof) != 0 {
			return nil, refuse(http.StatusUnprocessableEntity, "the consistency proof must be empty when the old size is 0")
		}
	} else if err := tlog.CheckTree(req.proof, c.N, c.Hash, h.checkpoint.N, h.checkpoint.Hash); err != nil {
		log.WarnContext(ctx, "refused a log-signed checkpoint whose consistency proof does not verify", "held_hash", h.checkpoint.Hash.String(), "hash", c.Hash.String())
		return nil, refuse(http.StatusUnprocessableEntity, "the consistency proof from size %d to %d does not verify", req.oldSize, c.N)
	}
	if h == nil || c.N != h.checkpoint.N {
		if err := w.saveState(l.origin, req.note); err != nil {
			log.ErrorContext(ctx, "could not record the new checkpoint; not cosigning it", "err", err)
			return nil, refuse(http.StatusInternalServerError, "the witness could not record the checkpoint; try again later")
		}
		l.held = &held{checkpoint: c, note: req.note}
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	if err != nil {
		log.ErrorContext(ctx, "signing failed", "err", err)
		return nil, refuse(http.StatusInternalServerError, "the witness could not sign; try again later")
	}
	log.DebugContext(ctx, "cosigned", "hash", c.Hash.String())
	return signed[len(n.Text)+1:], nil
}

// splitView handles a log-signed checkpoint of the size the witness holds
// with another root hash: the log showed two different trees. It keeps both
// notes as evidence and refuses (409, as C2SP tlog-witness says).
func (w *Witness) splitView(ctx context.Context, log *slog.Logger, l *logState, h *held, submitted []byte, c torchwood.Checkpoint) *refusal {
	path, err := w.keepEvidence(evidence{
		Kind: "split-view", Time: w.now().UTC(), Origin: l.origin, LogKey: l.vkey, Size: c.N,
		Cosigned: string(h.note), Submitted: string(submitted),
	})
	log.ErrorContext(ctx, "SPLIT VIEW: the log signed two different trees of the same size; refused the second and kept both as evidence",
		"cosigned_hash", h.checkpoint.Hash.String(), "submitted_hash", c.Hash.String(), "evidence", path, "evidence_err", err)
	return refuse(http.StatusConflict, "split view: the witness cosigned a checkpoint of size %d with root %s, not %s; refused and kept as evidence",
		c.N, h.checkpoint.Hash, c.Hash)
}

func (w *Witness) serveIndex(rw http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	fmt.Fprintf(&b, "Vigil witness (C2SP tlog-witness, tlog-cosignature cosignature/v1)\n\n")
	fmt.Fprintf(&b, "witness key:\n  %s\n\n", w.VerifierKey())
	fmt.Fprintf(&b, "submit checkpoints: POST /add-checkpoint\n\nlogs witnessed:\n")
	origins := make([]string, 0, len(w.logs))
	for o := range w.logs {
		origins = append(origins, o)
	}
	sort.Strings(origins)
	for _, o := range origins {
		l := w.logs[o]
		l.mu.Lock()
		h := l.held
		l.mu.Unlock()
		fmt.Fprintf(&b, "  %s\n", l.vkey)
		if h == nil {
			fmt.Fprintf(&b, "    cosigned: nothing yet\n")
		} else {
			fmt.Fprintf(&b, "    cosigned: size %d, root %s\n", h.checkpoint.N, h.checkpoint.Hash)
		}
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	rw.Header().Set("Cache-Control", "no-store")
	io.WriteString(rw, b.String())
}

// truncate shortens s for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
