// Package upload is the hub's store-and-forward uploader: it sends every
// sealed segment the hub records to the cloud, once, through crashes, cloud
// outages and slow links.
//
// It owns the upload queue, a SQLite database at DataDir/uploads.db (WAL)
// holding one row per segment: pending, done (the cloud has it) or rejected
// (the cloud refused it for good). It only reads the hub's segment store: it
// never writes, deletes or renames a segment file.
//
// # Protocol
//
// Each segment is sent as
//
//	PUT {CloudURL}/v1/objects
//	Content-Type: application/vnd.vigil.sealed
//	Authorization: Vigil-Device … (package devauth, with Config.Key)
//
//	<the sealed file's bytes>
//
// The cloud keys the object by its sealed header (camera and sequence) and
// answers:
//
//   - 201 (stored) or 200 (identical bytes already stored): done.
//   - 409 (different bytes under that key): rejected for good, logged as an
//     error, never retried.
//   - 400, 413, 422: rejected for good; the server's {"error": "…"} message
//     is logged.
//   - 401, 403, 404: the cloud refuses this hub (not paired, revoked, clock
//     off, wrong URL). That is not a fault of the object, so nothing is
//     dropped: the segment stays queued and is retried with backoff, and an
//     error is logged (rate-limited) with the server's message.
//   - 429, 5xx, network errors and any other status: retried with
//     exponential backoff between MinBackoff and MaxBackoff, or after
//     Retry-After (honoured up to an hour) when the server sends it.
//     While backed off after no answer at all, or a gateway's 502 or 504
//     (the cloud behind its proxy is away), the uploader probes every
//     couple of seconds with a HEAD of the same URL, which carries nothing
//     and needs no signature; any answer below 500 ends the backoff, so
//     the backlog starts draining within seconds of the cloud's return
//     however long the outage was.
//
// Exactly-once in the cloud rests on these idempotent PUTs: re-sending a
// segment after a crash is answered with 200 and costs only bandwidth.
//
// # Durability
//
// The recorder calls [Uploader.Enqueue] after each segment is stored; it
// never blocks. On start, [Uploader.Run] reconciles the queue with the store:
// every stored segment starting at or after Since that is neither done nor
// rejected is queued, so a crash between the store's Put and Enqueue loses
// nothing; pending segments that retention deleted before they could be
// uploaded are counted in [Stats].Evicted and dropped (not an error); rows of
// uploaded segments the store has since deleted are pruned (also hourly), so
// the queue does not grow without bound. A file is read at upload time, from
// the path the store gave.
//
// Reconcile lists the store in one call, so it holds every segment's
// metadata in memory at once (a few hundred bytes per segment); it runs when
// Run starts and when Enqueue could not keep up.
//
// # What the package must never do
//
//   - Send anything but sealed bytes: before a file is sent it is parsed with
//     envelope.Inspect and must be a sealed segment whose header names the
//     camera and sequence the store indexed; anything else is rejected
//     without being sent.
//   - Log keys, signatures or bodies: logs name cameras, sequence numbers,
//     sizes, statuses and the server's error messages only.
package upload

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"vigil/internal/devauth"
	"vigil/internal/segstore"
)

// ContentType is the media type of a sealed object in an upload.
const ContentType = "application/vnd.vigil.sealed"

// ObjectsPath is the path, under Config.CloudURL, that segments are PUT to.
const ObjectsPath = "/v1/objects"

// Upload orders for Config.Order.
const (
	OrderOldest = "oldest" // the oldest pending segment first (the default)
	OrderNewest = "newest" // the newest pending segment first
)

// ErrClosed is returned by Run and Close after Close.
var ErrClosed = errors.New("upload: uploader is closed")

// Source lists the segments of the hub's store. *segstore.Store satisfies
// it, including a store opened with segstore.OpenReadOnly.
type Source interface {
	List(ctx context.Context, f segstore.Filter) ([]segstore.Segment, error)
}

// Config configures an Uploader.
type Config struct {
	// CloudURL is the cloud's base URL, e.g. https://cloud.example or
	// http://127.0.0.1:8080; segments go to CloudURL + ObjectsPath. Plain
	// http is accepted but logged as a warning unless the host is loopback.
	CloudURL string
	// DeviceID is the hub's device id at the cloud (see devauth.ValidDeviceID).
	DeviceID string
	// Key is the hub's Ed25519 device key that signs each request.
	Key ed25519.PrivateKey
	// DataDir is the hub's data directory; the queue lives in
	// DataDir/uploads.db.
	DataDir string
	// Order says which pending segment goes first when there is a backlog:
	// OrderOldest ("" means it) or OrderNewest.
	Order string
	// MaxBytesPerSec caps the bytes per second of request bodies, across
	// all parallel uploads (a token bucket); 0 means unlimited.
	MaxBytesPerSec int64
	// Since restricts uploads to segments starting at or after it (the
	// time the hub was paired); the zero time means every segment.
	Since time.Time
	// Client sends the requests; nil means a client with Transport. Each
	// request gets its own deadline, scaled to its size.
	Client *http.Client
	// Logger receives progress and problems; nil discards them.
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between attempts while the
	// cloud is away; 0 means 1 s and 60 s.
	MinBackoff, MaxBackoff time.Duration
	// Concurrency is the number of parallel uploads, 1 to 16; 0 means 2.
	Concurrency int
	// Now returns the current time, for request signatures and the queue's
	// timestamps; nil means time.Now.
	Now func() time.Time
}

// Stats are the uploader's counters since New (not kept across restarts,
// except Pending and OldestPending, which come from the queue).
type Stats struct {
	// Pending is the number of segments queued and not yet in the cloud.
	Pending int64
	// Uploaded counts segments the cloud stored (201).
	Uploaded int64
	// AlreadyThere counts segments the cloud already had (200).
	AlreadyThere int64
	// BytesSent counts request body bytes sent, failed attempts included.
	BytesSent int64
	// Failures counts failed attempts of any kind: cloud unreachable or
	// refusing, local read errors and permanent rejections.
	Failures int64
	// Rejected counts segments refused for good (409, 400, 413, 422, or
	// not a sealed segment); they are never retried.
	Rejected int64
	// Evicted counts segments deleted from the hub's store before they
	// could be uploaded.
	Evicted int64
	// LastError describes the latest failure, "" if none. It is for the
	// hub's own log: it may name the cloud's URL, a file path or a camera.
	LastError string
	// LastErrorKind classifies LastError (one of the Err* kinds), "" if
	// none; LastErrorStatus is the cloud's HTTP status for it, 0 when
	// there was no answer.
	LastErrorKind   string
	LastErrorStatus int
	// CloudAway is set while the cloud is unreachable or refusing the hub.
	CloudAway bool
	// OldestPending is the start of the oldest pending segment, zero when
	// nothing is pending: how far behind the cloud is.
	OldestPending time.Time
}

// The kinds of Stats.LastErrorKind.
const (
	ErrNetwork  = "network"  // the cloud could not be reached (no answer)
	ErrRefused  = "refused"  // the cloud refuses the hub (401, 403, 404, or the request could not be signed)
	ErrServer   = "server"   // the cloud, or a proxy before it, answered busy or failing (429, 5xx, other)
	ErrRejected = "rejected" // a segment was refused for good, by the cloud or the hub's own checks
	ErrLocal    = "local"    // the hub could not read a segment or its queue
)

// Tuning constants.
const (
	defaultMinBackoff  = time.Second
	defaultMaxBackoff  = time.Minute
	defaultConcurrency = 2
	maxConcurrency     = 16
	maxRetryAfter      = time.Hour
	// maxObjectBytes bounds a segment file; larger files are rejected.
	maxObjectBytes = 256 << 20
	// enqueueBuffer is how many Enqueued segments wait in memory for the
	// queue database; beyond it Enqueue drops them and a reconcile finds
	// them in the store.
	enqueueBuffer = 4096
	// warnEvery rate-limits repeated warnings (cloud unreachable, evictions).
	warnEvery = 5 * time.Minute
	// backlogStart and backlogDrained are the pending counts at which the
	// backlog messages are logged.
	backlogStart   = 10
	backlogDrained = 1
	// idlePoll is how often an idle worker looks at the queue without being
	// woken (for rows delayed after a local read error).
	idlePoll = 30 * time.Second
	// maintainEvery is how often the maintenance loop runs; a reconcile
	// after an Enqueue overflow waits at least this long after the last.
	maintainEvery = time.Minute
	// probeEvery is how often a backed-off uploader asks whether the cloud
	// is back (see the package doc).
	probeEvery = 2 * time.Second
	// pruneEvery is how often rows of deleted segments are pruned.
	pruneEvery = time.Hour
)

// Uploader uploads the hub's sealed segments. Its methods are safe for
// concurrent use.
type Uploader struct {
	cfg      Config
	src      Source
	db       *sql.DB
	log      *slog.Logger
	client   *http.Client
	endpoint string
	now      func() time.Time
	bucket   *bucket // nil: unlimited
	warn     time.Duration
	probe    time.Duration // probeEvery; tests shorten it

	enq      chan segstore.Segment
	overflow atomic.Bool
	kick     chan struct{}

	pickMu sync.Mutex // serializes next()

	mu        sync.Mutex
	inflight  map[segKey]bool
	wake      chan struct{} // closed to wake idle workers, then replaced
	closed    bool
	running   bool
	runCancel context.CancelFunc
	runDone   chan struct{}

	failStreak    int
	pauseUntil    time.Time
	probeable     bool // the pause is one a probe may end
	awaySince     time.Time
	lastAwayWarn  time.Time
	lastErr       string
	lastErrKind   string
	lastErrStatus int
	inBacklog     bool
	backlogSince  time.Time
	backlogBase   int64
	evictWarned   time.Time
	evictUnwarned int64
	lastReconcile time.Time

	pending   atomic.Int64
	uploaded  atomic.Int64
	already   atomic.Int64
	bytesSent atomic.Int64
	failures  atomic.Int64
	rejected  atomic.Int64
	evicted   atomic.Int64
	lastPrune atomic.Int64
}

// New checks cfg, opens (creating if needed) the queue in cfg.DataDir and
// returns an Uploader that uploads the segments src lists. Run starts it.
func New(cfg Config, src Source) (*Uploader, error) {
	if src == nil {
		return nil, errors.New("upload: no Source")
	}
	endpoint, plain, err := checkConfig(&cfg)
	if err != nil {
		return nil, err
	}
	u := &Uploader{
		cfg:      cfg,
		src:      src,
		log:      cfg.Logger,
		client:   cfg.Client,
		endpoint: endpoint,
		now:      cfg.Now,
		warn:     warnEvery,
		probe:    probeEvery,
		enq:      make(chan segstore.Segment, enqueueBuffer),
		kick:     make(chan struct{}, 1),
		inflight: make(map[segKey]bool),
		wake:     make(chan struct{}),
	}
	if cfg.MaxBytesPerSec > 0 {
		u.bucket = newBucket(cfg.MaxBytesPerSec, time.Now, sleepCtx)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("upload: data directory: %w", err)
	}
	ctx := context.Background()
	if u.db, err = openQueue(ctx, filepath.Join(cfg.DataDir, QueueFile)); err != nil {
		return nil, err
	}
	var n int64
	if err := u.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM queue WHERE state = 0`).Scan(&n); err != nil {
		u.db.Close()
		return nil, fmt.Errorf("upload: reading the queue: %w", err)
	}
	u.pending.Store(n)
	u.lastPrune.Store(u.now().UnixNano())
	if plain {
		u.log.Warn("upload: the cloud URL is plain http: segments stay sealed, but their headers and the hub's requests travel unencrypted; use https",
			"cloud", cfg.CloudURL)
	}
	return u, nil
}

// checkConfig validates cfg, fills in defaults and returns the objects URL
// and whether it is plain http to a host that is not loopback.
func checkConfig(cfg *Config) (endpoint string, plain bool, err error) {
	u, err := url.Parse(cfg.CloudURL)
	switch {
	case cfg.CloudURL == "":
		return "", false, errors.New("upload: Config.CloudURL is empty; hint: set the cloud's base URL, e.g. https://cloud.example")
	case err != nil:
		return "", false, fmt.Errorf("upload: Config.CloudURL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return "", false, fmt.Errorf("upload: Config.CloudURL: scheme %q, want https (or http)", u.Scheme)
	case u.Host == "":
		return "", false, errors.New("upload: Config.CloudURL has no host")
	case u.User != nil:
		return "", false, errors.New("upload: Config.CloudURL must not hold credentials; the hub authenticates with its device key")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", false, errors.New("upload: Config.CloudURL must not have a query or fragment")
	}
	if !devauth.ValidDeviceID(cfg.DeviceID) {
		return "", false, fmt.Errorf("upload: Config.DeviceID must be 1 to %d bytes of [A-Za-z0-9._~:-]", devauth.MaxDeviceIDLen)
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return "", false, errors.New("upload: Config.Key is not an Ed25519 private key")
	}
	if cfg.DataDir == "" {
		return "", false, errors.New("upload: Config.DataDir is empty")
	}
	switch cfg.Order {
	case "":
		cfg.Order = OrderOldest
	case OrderOldest, OrderNewest:
	default:
		return "", false, fmt.Errorf("upload: Config.Order is %q, want %q or %q", cfg.Order, OrderOldest, OrderNewest)
	}
	if cfg.MaxBytesPerSec < 0 {
		return "", false, errors.New("upload: Config.MaxBytesPerSec is negative; 0 means unlimited")
	}
	if cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 {
		return "", false, errors.New("upload: Config.MinBackoff and MaxBackoff must not be negative")
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = defaultMinBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = max(defaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.MinBackoff > cfg.MaxBackoff {
		return "", false, fmt.Errorf("upload: Config.MinBackoff %v is more than MaxBackoff %v", cfg.MinBackoff, cfg.MaxBackoff)
	}
	switch {
	case cfg.Concurrency == 0:
		cfg.Concurrency = defaultConcurrency
	case cfg.Concurrency < 0 || cfg.Concurrency > maxConcurrency:
		return "", false, fmt.Errorf("upload: Config.Concurrency is %d, want 1 to %d", cfg.Concurrency, maxConcurrency)
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: Transport()}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	plain = u.Scheme == "http" && !isLoopback(u.Hostname())
	return strings.TrimRight(u.String(), "/") + ObjectsPath, plain, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Enqueue queues a segment the recorder has just stored. It never blocks:
// when the in-memory buffer is full the segment is left for the next
// reconcile with the store, which finds it. Segments starting before
// Config.Since are ignored, and so is every call after Close.
func (u *Uploader) Enqueue(seg segstore.Segment) {
	if seg.Start.Before(u.cfg.Since) {
		return
	}
	u.mu.Lock()
	closed := u.closed
	u.mu.Unlock()
	if closed {
		return
	}
	select {
	case u.enq <- seg:
	default:
		if !u.overflow.Swap(true) {
			u.log.Warn("upload: too many segments waiting to be queued; they will be queued from the store instead")
		}
		select {
		case u.kick <- struct{}{}:
		default:
		}
	}
}

// Run uploads until ctx is done, then returns nil after the uploads in
// flight have stopped (an interrupted upload stays queued). It first
// reconciles the queue with the store. Only one Run may be active at a time;
// Run may be called again after it returned. It returns ErrClosed after
// Close.
func (u *Uploader) Run(ctx context.Context) error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return ErrClosed
	}
	if u.running {
		u.mu.Unlock()
		return errors.New("upload: Run is already running")
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	u.running, u.runCancel, u.runDone = true, cancel, done
	u.mu.Unlock()
	defer func() {
		cancel()
		u.mu.Lock()
		u.running, u.runCancel, u.runDone = false, nil, nil
		u.mu.Unlock()
		close(done)
	}()

	u.overflow.Store(false) // the reconcile covers whatever was dropped
	reconciled := u.tryReconcile(ctx)

	var wg sync.WaitGroup
	wg.Go(func() { u.ingest(ctx) })
	wg.Go(func() { u.maintain(ctx, !reconciled) })
	wg.Go(func() { u.prober(ctx) })
	for range u.cfg.Concurrency {
		wg.Go(func() { u.worker(ctx) })
	}
	wg.Wait()
	return nil
}

// Close stops Run (waiting for it to return) and closes the queue. Segments
// Enqueued but not yet written to the queue are found again by the next
// reconcile. Later calls return ErrClosed.
func (u *Uploader) Close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return ErrClosed
	}
	u.closed = true
	cancel, done := u.runCancel, u.runDone
	u.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	if err := u.db.Close(); err != nil {
		return fmt.Errorf("upload: close: %w", err)
	}
	return nil
}

// Stats returns the uploader's counters.
func (u *Uploader) Stats() Stats {
	s := Stats{
		Pending:      u.pending.Load(),
		Uploaded:     u.uploaded.Load(),
		AlreadyThere: u.already.Load(),
		BytesSent:    u.bytesSent.Load(),
		Failures:     u.failures.Load(),
		Rejected:     u.rejected.Load(),
		Evicted:      u.evicted.Load(),
	}
	u.mu.Lock()
	s.LastError, s.LastErrorKind, s.LastErrorStatus = u.lastErr, u.lastErrKind, u.lastErrStatus
	s.CloudAway = !u.awaySince.IsZero()
	closed := u.closed
	u.mu.Unlock()
	if !closed && s.Pending > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var start sql.NullInt64
		if err := u.db.QueryRowContext(ctx, `SELECT MIN(start_ns) FROM queue WHERE state = 0`).Scan(&start); err == nil && start.Valid {
			s.OldestPending = time.Unix(0, start.Int64)
		}
	}
	return s
}

func (u *Uploader) addPending(d int64) { u.pending.Add(d) }

func (u *Uploader) setLastError(kind string, status int, msg string) {
	u.mu.Lock()
	u.lastErr, u.lastErrKind, u.lastErrStatus = msg, kind, status
	u.mu.Unlock()
}

// notify wakes idle workers.
func (u *Uploader) notify() {
	u.mu.Lock()
	close(u.wake)
	u.wake = make(chan struct{})
	u.mu.Unlock()
}

func (u *Uploader) wakeChan() <-chan struct{} {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.wake
}

// tryReconcile reconciles and logs a failure; it reports success.
func (u *Uploader) tryReconcile(ctx context.Context) bool {
	u.mu.Lock()
	u.lastReconcile = u.now()
	u.mu.Unlock()
	err := u.reconcile(ctx)
	if err != nil {
		if ctx.Err() == nil {
			u.setLastError(ErrLocal, 0, err.Error())
			u.log.Error("upload: cannot reconcile the queue with the store; will retry", "err", err)
		}
		return false
	}
	u.notify()
	return true
}

// ingest moves Enqueued segments into the queue database, in batches.
func (u *Uploader) ingest(ctx context.Context) {
	for {
		var first segstore.Segment
		select {
		case <-ctx.Done():
			return
		case first = <-u.enq:
		}
		batch := []segstore.Segment{first}
	drain:
		for len(batch) < reconcileBatch {
			select {
			case s := <-u.enq:
				batch = append(batch, s)
			default:
				break drain
			}
		}
		if _, err := u.insertBatch(ctx, batch, false); err != nil {
			if ctx.Err() != nil {
				return // the next Run's reconcile queues them
			}
			u.setLastError(ErrLocal, 0, err.Error())
			u.log.Error("upload: cannot queue new segments; they will be queued from the store", "err", err)
			u.overflow.Store(true)
			continue
		}
		u.notify()
	}
}

// maintain retries a failed reconcile, reconciles after an Enqueue overflow
// and prunes the queue.
func (u *Uploader) maintain(ctx context.Context, needReconcile bool) {
	t := time.NewTicker(maintainEvery)
	defer t.Stop()
	for {
		if u.overflow.Load() {
			u.mu.Lock()
			due := u.now().Sub(u.lastReconcile) >= maintainEvery
			u.mu.Unlock()
			if due {
				u.overflow.Store(false)
				needReconcile = true
			}
		}
		if needReconcile {
			needReconcile = !u.tryReconcile(ctx)
		} else if time.Duration(u.now().UnixNano()-u.lastPrune.Load()) >= pruneEvery {
			if err := u.prune(ctx); err != nil && ctx.Err() == nil {
				u.log.Warn("upload: pruning the queue", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-u.kick:
		}
	}
}

// pausedFor returns how long uploads must still wait after a failure.
func (u *Uploader) pausedFor() time.Duration {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.pauseUntil.Sub(u.now())
}

func (u *Uploader) worker(ctx context.Context) {
	for ctx.Err() == nil {
		// The wake channel is taken before the pause is read: a probe that
		// ends the pause after this read closes this channel.
		wake := u.wakeChan()
		if d := u.pausedFor(); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
			case <-wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		j, ok, err := u.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			u.setLastError(ErrLocal, 0, err.Error())
			u.log.Error("upload: reading the queue", "err", err)
			sleepCtx(ctx, u.cfg.MaxBackoff)
			continue
		}
		if !ok {
			t := time.NewTimer(idlePoll)
			select {
			case <-ctx.Done():
			case <-wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		// A failure may have paused uploads since the check above; its
		// row is only released after the pause is set, so this sees it.
		if u.pausedFor() <= 0 {
			u.process(ctx, j)
		}
		u.mu.Lock()
		delete(u.inflight, j.key())
		u.mu.Unlock()
	}
}
