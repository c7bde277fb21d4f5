package upload

import (
	"bytes"
	"context"
	"crypto/ed25519"
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
	"sync/atomic"
	"time"

	"vigil/internal/envelope"
	"vigil/internal/fsutil"
)

// Outbox sends the hub's small sealed objects — event records, snapshots
// and hub state records — to the cloud, through crashes and outages, with
// the same protocol and answers as segments (see the package doc).
//
// Each object is a file in Dir, written by fsutil.WriteFile (a temporary
// file, fsynced, renamed to its final name, the directory fsynced), so a
// crash leaves either the whole object or nothing; files are sent in name order (Put names them by
// a time-ordered counter) and deleted once the cloud has them. Before a file
// is sent it must parse as a sealed event, snapshot or state record: nothing
// else leaves.
// Objects the cloud refuses for good are moved to Dir/rejected. The outbox
// keeps at most MaxFiles objects; when full, Put refuses new ones (the
// detection pipeline then drops the event's upload, never the recording).
type Outbox struct {
	cfg      OutboxConfig
	log      *slog.Logger
	client   *http.Client
	endpoint string
	probe    time.Duration // probeEvery; tests shorten it

	mu   sync.Mutex
	seq  uint64
	kick chan struct{}

	sent     atomic.Int64
	rejected atomic.Int64
	lastErr  atomic.Value // string
}

// OutboxConfig configures an Outbox.
type OutboxConfig struct {
	CloudURL string
	DeviceID string
	Key      ed25519.PrivateKey
	// Dir holds the queued objects (created if missing).
	Dir string
	// MaxFiles bounds the queue; 0 means 10000.
	MaxFiles int
	// MinBackoff and MaxBackoff bound the wait between attempts while the
	// cloud is away; 0 means 1 s and 60 s.
	MinBackoff, MaxBackoff time.Duration
	Client                 *http.Client
	Logger                 *slog.Logger
	Now                    func() time.Time
}

// maxOutboxObject bounds one event or snapshot object.
const maxOutboxObject = 8 << 20

// ErrOutboxFull is returned by Put when MaxFiles objects are queued.
var ErrOutboxFull = errors.New("upload: outbox is full")

// NewOutbox checks cfg and prepares Dir.
func NewOutbox(cfg OutboxConfig) (*Outbox, error) {
	endpoint, _, err := checkConfig(&Config{CloudURL: cfg.CloudURL, DeviceID: cfg.DeviceID, Key: cfg.Key})
	if err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		return nil, errors.New("upload: OutboxConfig.Dir is empty")
	}
	if cfg.MaxFiles <= 0 {
		cfg.MaxFiles = 10000
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "rejected"), 0o700); err != nil {
		return nil, fmt.Errorf("upload: outbox: %w", err)
	}
	o := &Outbox{cfg: cfg, log: cfg.Logger, client: cfg.Client, endpoint: endpoint, kick: make(chan struct{}, 1), probe: probeEvery}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.client == nil {
		o.client = &http.Client{Transport: Transport()}
	}
	o.lastErr.Store("")
	return o, nil
}

// checkOutboxObject accepts only sealed events, snapshots and state records.
func checkOutboxObject(body []byte) error {
	if len(body) > maxOutboxObject {
		return fmt.Errorf("object is %d bytes, more than %d", len(body), maxOutboxObject)
	}
	h, err := envelope.Inspect(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not a sealed object: %w", err)
	}
	if h.Kind != envelope.KindEvent && h.Kind != envelope.KindSnapshot && h.Kind != envelope.KindState {
		return fmt.Errorf("the outbox sends events, snapshots and state records only, not %s", h.Kind)
	}
	return nil
}

// Put queues a sealed event, snapshot or state record durably; it returns
// once the file is on disk.
func (o *Outbox) Put(sealed []byte) error {
	if err := checkOutboxObject(sealed); err != nil {
		return fmt.Errorf("upload: outbox: %w", err)
	}
	names, err := o.list()
	if err != nil {
		return err
	}
	if len(names) >= o.cfg.MaxFiles {
		return ErrOutboxFull
	}
	o.mu.Lock()
	o.seq++
	name := fmt.Sprintf("%020d-%06d.sealed", o.cfg.Now().UnixNano(), o.seq%1000000)
	o.mu.Unlock()
	if err := fsutil.WriteFile(filepath.Join(o.cfg.Dir, name), sealed, 0o600); err != nil {
		return fmt.Errorf("upload: outbox: %w", err)
	}
	select {
	case o.kick <- struct{}{}:
	default:
	}
	return nil
}

// list returns the queued file names in send order; leftover temporary
// files of a crash are removed.
func (o *Outbox) list() ([]string, error) {
	ents, err := os.ReadDir(o.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("upload: outbox: %w", err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		switch {
		case e.IsDir():
		case strings.HasPrefix(n, "."): // a temporary file of a write
			if info, err := e.Info(); err == nil && o.cfg.Now().Sub(info.ModTime()) > time.Minute {
				os.Remove(filepath.Join(o.cfg.Dir, n))
			}
		case strings.HasSuffix(n, ".sealed"):
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// OutboxStats are an outbox's counters since NewOutbox.
type OutboxStats struct {
	Pending   int
	Sent      int64
	Rejected  int64
	LastError string
}

// Stats reports the queue.
func (o *Outbox) Stats() OutboxStats {
	names, _ := o.list()
	return OutboxStats{Pending: len(names), Sent: o.sent.Load(), Rejected: o.rejected.Load(), LastError: o.lastErr.Load().(string)}
}

// Run sends queued objects until ctx ends.
func (o *Outbox) Run(ctx context.Context) error {
	backoff := o.cfg.MinBackoff
	for {
		progress, err := o.drain(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := time.Duration(1<<62 - 1)
		if err != nil {
			o.lastErr.Store(err.Error())
			o.log.Warn("upload: outbox: the cloud is away; will retry", "err", err, "retry_in", backoff)
			wait = backoff
			backoff = min(backoff*2, o.cfg.MaxBackoff)
		} else if progress {
			backoff = o.cfg.MinBackoff
		}
		// After no answer, probe every o.probe as the Uploader does, so
		// that events go out within seconds of the cloud's return.
		var se sendError
		probe := time.NewTicker(o.probe)
		if !errors.As(err, &se) || !probeable(se.res) || wait <= o.probe {
			probe.Stop() // no ticks
		}
		t := time.NewTimer(wait)
	waiting:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				probe.Stop()
				return nil
			case <-o.kick:
			case <-t.C:
			case <-probe.C:
				if !cloudAnswers(ctx, o.client, o.endpoint, o.probe) {
					continue
				}
				o.log.Debug("upload: outbox: the cloud answers again; sending")
			}
			break waiting
		}
		t.Stop()
		probe.Stop()
	}
}

// drain sends every queued object in order; it stops at the first one the
// cloud does not take now (err says why).
func (o *Outbox) drain(ctx context.Context) (progress bool, err error) {
	names, err := o.list()
	if err != nil {
		return false, err
	}
	for _, n := range names {
		path := filepath.Join(o.cfg.Dir, n)
		body, err := readLimited(path)
		if err == nil {
			err = checkOutboxObject(body)
			if err != nil {
				o.reject(n, err.Error())
				continue
			}
		}
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return progress, err
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		res := putSealed(rctx, o.client, o.endpoint, o.cfg.DeviceID, o.cfg.Key, o.cfg.Now(), body, bytes.NewReader(body))
		cancel()
		switch res.kind {
		case resDone:
			// Counted before the file goes, so that Stats never shows an
			// object neither pending nor sent.
			o.sent.Add(1)
			progress = true
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return progress, err
			}
		case resRejected:
			o.reject(n, res.msg)
			progress = true
		default:
			return progress, sendError{res}
		}
	}
	return progress, nil
}

// sendError is an attempt the cloud did not take now.
type sendError struct{ res result }

func (e sendError) Error() string { return e.res.msg }

func (o *Outbox) reject(name, msg string) {
	o.rejected.Add(1)
	o.lastErr.Store(msg)
	o.log.Error("upload: outbox: the cloud refused an object for good; it will not be retried", "err", msg)
	os.Rename(filepath.Join(o.cfg.Dir, name), filepath.Join(o.cfg.Dir, "rejected", name))
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxOutboxObject+1))
}
