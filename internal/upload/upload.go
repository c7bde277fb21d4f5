// Package upload is the hub's store-and-forward uploader: it sends every
// sealed segment the hub records to the cloud, once, through crashes, cloud
// outages and slow links.
//
// Its queue is the hub's segment index ([Index], *segstore.Store), which
// keeps each segment's upload state: pending, done (the cloud has it),
// rejected (refused for good) or missing (its file was gone), with attempts,
// last error and next try. The uploader keeps no database of its own; it
// writes only those states, and never writes, deletes or renames a segment
// file.
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
// A segment is pending from the moment the store indexes it, so a crash
// between the store's Put and [Uploader.Enqueue] loses nothing: the next Run
// finds it pending. Enqueue, which the recorder calls after each segment is
// stored, only wakes the workers and hands over the sealed bytes it has in
// memory; it never blocks. Segments starting before Since are never
// uploaded. Pending segments that retention deleted before they could be
// uploaded are counted in [Stats].Evicted (not an error). A segment's state
// leaves the index with the segment, so there is nothing to prune.
//
// The bytes handed to Enqueue are kept for a few recent segments (bounded in
// count and bytes, and none while the cloud is away); a segment whose bytes
// are not kept, as in a backlog after an outage, is read from the path the
// store gave. Handing them over saves reading each segment back (measured by
// BenchmarkSegmentBody and BenchmarkProcess).
//
// # What the package must never do
//
//   - Send anything but sealed bytes: before a segment is sent, whether
//     read from its file or handed to Enqueue, it is parsed with
//     envelope.Inspect and must be a sealed segment whose header names the
//     camera and sequence the store indexed; anything else is rejected
//     without being sent.
//   - Keep a database of its own: the upload state is the segment index's.
//   - Log keys, signatures or bodies: logs name cameras, sequence numbers,
//     sizes, statuses and the server's error messages only.
package upload

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
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
// except Pending and OldestPending, which come from the segment index).
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
	// warnEvery rate-limits repeated warnings (cloud unreachable, evictions).
	warnEvery = 5 * time.Minute
	// backlogStart and backlogDrained are the pending counts at which the
	// backlog messages are logged.
	backlogStart   = 10
	backlogDrained = 1
	// idlePoll is how often an idle worker looks at the queue without being
	// woken (for segments delayed after a local read error, and segments
	// stored without Enqueue).
	idlePoll = 30 * time.Second
	// probeEvery is how often a backed-off uploader asks whether the cloud
	// is back (see the package doc).
	probeEvery = 2 * time.Second
)

// Uploader uploads the hub's sealed segments. Its methods are safe for
// concurrent use.
type Uploader struct {
	cfg      Config
	idx      Index
	log      *slog.Logger
	client   *http.Client
	endpoint string
	now      func() time.Time
	bucket   *bucket // nil: unlimited
	warn     time.Duration
	probe    time.Duration // probeEvery; tests shorten it

	handoff handoff

	pickMu sync.Mutex // serializes next() and the release of a picked segment

	mu           sync.Mutex
	inflight     map[segKey]bool
	lostInflight map[segKey]bool // in flight when retention deleted them
	wake         chan struct{}   // closed to wake idle workers, then replaced
	closed       bool
	running      bool
	runCancel    context.CancelFunc
	runDone      chan struct{}

	failStreak    int
	pauseUntil    time.Time
	probeable     bool // the pause is one a probe may end
	awaySince     time.Time
	lastAwayWarn  time.Time
	lastErr       string
	lastErrKind   string
	lastErrStatus int
	lastOldest    time.Time // OldestPending last read
	inBacklog     bool
	backlogSince  time.Time
	backlogBase   int64
	evictWarned   time.Time
	evictUnwarned int64

	pending   atomic.Int64 // last seen, for log lines
	uploaded  atomic.Int64
	already   atomic.Int64
	bytesSent atomic.Int64
	failures  atomic.Int64
	rejected  atomic.Int64
	evicted   atomic.Int64
}

// New checks cfg and returns an Uploader that uploads the pending segments
// of idx. Run starts it.
func New(cfg Config, idx Index) (*Uploader, error) {
	if idx == nil {
		return nil, errors.New("upload: no Index")
	}
	endpoint, plain, err := checkConfig(&cfg)
	if err != nil {
		return nil, err
	}
	u := &Uploader{
		cfg:          cfg,
		idx:          idx,
		log:          cfg.Logger,
		client:       cfg.Client,
		endpoint:     endpoint,
		now:          cfg.Now,
		warn:         warnEvery,
		probe:        probeEvery,
		inflight:     make(map[segKey]bool),
		lostInflight: make(map[segKey]bool),
		wake:         make(chan struct{}),
	}
	if cfg.MaxBytesPerSec > 0 {
		u.bucket = newBucket(cfg.MaxBytesPerSec, time.Now, sleepCtx)
	}
	if _, err := u.backlog(context.Background()); err != nil {
		return nil, fmt.Errorf("upload: reading the queue: %w", err)
	}
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

// Enqueue tells the uploader that the store has just indexed seg (it is
// pending there already) and hands over its sealed bytes, which the caller
// must not modify afterwards; nil sealed means the file is read at upload
// time. It never blocks. Segments starting before Config.Since are ignored,
// and so is every call after Close.
func (u *Uploader) Enqueue(seg segstore.Segment, sealed []byte) {
	if seg.Start.Before(u.cfg.Since) {
		return
	}
	u.mu.Lock()
	closed, away := u.closed, !u.awaySince.IsZero()
	u.mu.Unlock()
	if closed {
		return
	}
	if sealed != nil && !away && int64(len(sealed)) == seg.Bytes {
		u.handoff.put(segKey{seg.Camera, seg.Seq}, sealed)
	}
	u.notify()
}

// Run uploads until ctx is done, then returns nil after the uploads in
// flight have stopped (an interrupted upload stays queued). Only one Run may
// be active at a time;
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

	var wg sync.WaitGroup
	wg.Go(func() { u.prober(ctx) })
	for range u.cfg.Concurrency {
		wg.Go(func() { u.worker(ctx) })
	}
	wg.Wait()
	return nil
}

// Close stops Run (waiting for it to return). Segments stay pending in the
// index for the next Run. Later calls return ErrClosed.
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
	return nil
}

// Stats returns the uploader's counters. Pending and OldestPending are read
// from the index (the last values read when it cannot be read).
func (u *Uploader) Stats() Stats {
	s := Stats{
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
	oldest := u.lastOldest
	u.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if b, err := u.backlog(ctx); err == nil {
		oldest = b.Oldest
		u.mu.Lock()
		u.lastOldest = oldest
		u.mu.Unlock()
	}
	s.Pending, s.OldestPending = u.pending.Load(), oldest
	return s
}

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
		u.takeLost(ctx)
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
		// segment is only released after the pause is set, so this sees it.
		out := outcomePending
		if u.pausedFor() <= 0 {
			out = u.process(ctx, j)
		}
		// Released under pickMu: a next() that listed the segment as
		// pending before its outcome was recorded must still find it in
		// flight, or it would upload it again.
		u.pickMu.Lock()
		u.mu.Lock()
		delete(u.inflight, j.key())
		lost := u.lostInflight[j.key()]
		delete(u.lostInflight, j.key())
		u.mu.Unlock()
		u.pickMu.Unlock()
		// Retention deleted the segment during the attempt: it is lost
		// unless the attempt uploaded or rejected it.
		if out == outcomeMissing || (lost && out == outcomePending) {
			u.noteEvicted(1)
			u.checkBacklog()
		}
	}
}
