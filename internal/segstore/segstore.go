// Package segstore is the hub's crash-safe local store of sealed media
// segments: one file per segment under a directory, plus a SQLite index, with
// retention by bytes and age.
//
// The store owns the on-disk layout and the index. It receives segments that
// are already sealed (encrypted and signed by the caller) and treats them as
// opaque bytes: it must never hold, write or try to interpret plaintext media.
// The index also keeps each segment's upload state for the hub's uploader
// (see [Store.PendingUploads] and [Store.RecordUpload]): the store keeps
// those states and never uploads or reads a segment for it.
//
// # Layout
//
//	<dir>/LOCK                                   advisory lock held while open
//	<dir>/index.db (+ -wal, -shm)                the SQLite index (WAL, synchronous=FULL)
//	<dir>/RESERVE                                space released to the index when the disk is full
//	<dir>/segments/<camera-dir>/<seq>-<startms>.vseg
//
// A camera directory is named after a sanitized form of the camera name plus a
// short hash of the full name, so any user-chosen name maps to one safe
// directory inside <dir>.
//
// # Crash safety
//
// The write ordering follows Moonfire NVR. A segment becomes visible only
// after its file is durable: the file is created with O_EXCL, written,
// fsynced, its directory is fsynced, and only then is its index row inserted.
// A segment is deleted by first moving its row to the garbage table (one
// transaction), then unlinking the file, fsyncing the directory and finally
// dropping the garbage row. A file is never deleted before its row has moved to
// garbage. Open repairs whatever a crash left behind; see [Recovery].
//
// # Retention
//
// [Options] sets byte and age limits for the whole store and per camera.
// Put applies the byte limits right after each segment (so the store stays
// within MaxBytes plus one segment) and the age limits at most once a minute;
// [Store.Enforce] applies all limits at once. Recording never stops for lack of
// space: when the disk is full, Put evicts the globally oldest segment and
// retries until the write succeeds or nothing is left to evict. A small
// reserve file is kept so that, even on a disk filled by another program,
// the index can still grow enough to record those evictions.
package segstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"vigil/internal/fsutil"
)

// Errors returned by the store. They are wrapped with context; test with
// errors.Is.
var (
	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("segstore: store is closed")
	// ErrInvalidCamera is returned for an empty camera name, a name longer
	// than MaxCameraNameLen bytes or one that is not valid UTF-8.
	ErrInvalidCamera = errors.New("segstore: invalid camera name")
	// ErrInvalidMeta is returned when a segment's or gap's metadata is
	// unusable: times out of range or reversed, missing codec, empty data.
	ErrInvalidMeta = errors.New("segstore: invalid metadata")
	// ErrDuplicate is returned by Put when the camera already has a segment
	// with the same sequence number. Use NextSeq to pick a fresh one.
	ErrDuplicate = errors.New("segstore: segment already exists")
	// ErrLocked is returned by Open when another process (or another Store in
	// this process) has the directory open.
	ErrLocked = errors.New("segstore: directory is in use by another store; hint: stop the other hub process first")
)

// MaxCameraNameLen is the longest camera name, in bytes, the store accepts.
const MaxCameraNameLen = 1024

const (
	indexFile   = "index.db"
	lockFile    = "LOCK"
	segmentsDir = "segments"
	segExt      = ".vseg"
	tmpExt      = ".tmp"

	// ageCheckEvery is how often Put applies the age limits.
	ageCheckEvery = time.Minute
	// evictBatch bounds how many segments one eviction transaction moves.
	evictBatch = 256
)

// Options configures a Store. The zero value is a store without retention
// limits that logs nothing.
type Options struct {
	// MaxBytes caps the total size of all segment files in the store; 0
	// means unlimited. When exceeded, the globally oldest segments (by start
	// time) are evicted, but never the last remaining segment.
	MaxBytes int64
	// MaxAge evicts segments whose end time is older than now-MaxAge; 0 means
	// unlimited. A camera's Limits.MaxAge, when set, replaces it for that
	// camera.
	MaxAge time.Duration
	// EventMaxAge keeps the segments overlapping a range passed to Keep (the
	// recording around a detection event) until their end is older than
	// now-EventMaxAge, when that is longer than the camera's age limit. Byte
	// limits and disk-full eviction still apply to them. 0 means events
	// get no longer retention.
	EventMaxAge time.Duration
	// Cameras holds per-camera limits, keyed by camera name. A camera's
	// MaxBytes is an extra cap on that camera's segments (the global
	// MaxBytes still applies to the whole store); its MaxAge, when non-zero,
	// overrides the global MaxAge for that camera (it may be longer or
	// shorter).
	Cameras map[string]Limits
	// Logger receives recovery reports, evictions (debug per segment, info
	// summary) and warnings. nil discards logs.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now. Tests inject a clock.
	Now func() time.Time
	// FS holds optional fault-injection hooks. It is a test seam: production
	// code leaves it zero.
	FS FaultHooks
}

// Limits are per-camera retention limits; see Options.Cameras.
type Limits struct {
	// MaxBytes caps the camera's total segment bytes; 0 means no camera cap.
	// The camera's newest segment is never evicted for this cap.
	MaxBytes int64
	// MaxAge, when non-zero, replaces Options.MaxAge for this camera.
	MaxAge time.Duration
	// EventMaxAge, when non-zero, replaces Options.EventMaxAge for this
	// camera.
	EventMaxAge time.Duration
}

// FaultHooks lets tests inject storage faults into the store's file
// operations. It is a test seam: production code leaves every field nil, and
// a nil field means the real operation.
type FaultHooks struct {
	// WriteFile, if set, replaces writing a new segment's sealed bytes to f,
	// which is already created (O_EXCL) and open for writing. It may write a
	// prefix and return an error (e.g. syscall.ENOSPC) to simulate a partial
	// write; the store then removes the file.
	WriteFile func(f *os.File, data []byte) error
	// Sync, if set, replaces fsync of segment files and of directories.
	Sync func(f *os.File) error
	// Remove, if set, replaces unlinking the file of a deleted segment (by
	// retention, disk-full eviction or pending garbage at Open). An error
	// leaves the segment's garbage row in place, exactly as a crash between
	// the two steps would.
	Remove func(path string) error
}

// Meta describes a segment. It holds only what the hub already publishes as
// metadata (camera, times, codecs, counts), never media content.
type Meta struct {
	Camera string
	// Seq is the camera's segment sequence number, unique per camera; see
	// Store.NextSeq.
	Seq uint64
	// Start and End bound the segment's media time; End >= Start.
	Start, End time.Time
	// Codec is the video codec, e.g. "H264" or "H265". AudioCodec may be "".
	Codec, AudioCodec string
	Keyframes, Frames int
}

// Segment is a stored segment as listed by the index.
type Segment struct {
	ID int64
	Meta
	// Bytes is the size of the sealed file.
	Bytes int64
	// Path is the absolute path of the sealed file. Retention may remove the
	// file at any time after it was listed; readers must handle
	// fs.ErrNotExist.
	Path string
}

// Gap records a time range in which a camera has no recording.
type Gap struct {
	Camera     string
	Start, End time.Time
	// Reason says why, e.g. "camera disconnected".
	Reason string
}

// Filter selects segments or gaps. The zero value selects everything.
type Filter struct {
	// Camera selects one camera; "" selects all.
	Camera string
	// From and To select items overlapping [From, To); a zero time is
	// open-ended.
	From, To time.Time
}

// Recovery reports what Open repaired.
type Recovery struct {
	// GarbageFinished counts garbage rows finished: a delete interrupted
	// after its row moved to garbage (file unlinked if still present).
	GarbageFinished int
	// OrphansRemoved counts segment files without an index row (a Put that
	// crashed before its row was inserted) and temporary files removed.
	OrphansRemoved int
	// MissingRows counts index rows dropped because their file was missing.
	MissingRows int
}

// Store is an open segment store. It is safe for concurrent use.
type Store struct {
	dir  string
	db   *sql.DB
	log  *slog.Logger
	now  func() time.Time
	opts Options
	hook FaultHooks
	lock io.Closer
	rec  Recovery
	// readOnly is set by OpenReadOnly: no writes, no lock, no recovery.
	readOnly bool

	// closeMu is held shared by every operation and exclusively by Close, so
	// Close waits for operations in flight.
	closeMu sync.RWMutex
	closed  bool

	// evictMu serializes evictions so concurrent Puts do not pick the same
	// victims or over-evict.
	evictMu sync.Mutex

	// dirMu guards dirs, the camera directories known to exist durably.
	dirMu sync.Mutex
	dirs  map[string]bool

	// mu guards the in-memory usage and the age check time.
	mu           sync.Mutex
	usage        map[string]camUsage
	total        int64
	count        int64
	lastAgeCheck time.Time
	haveReserve  bool
	forced       Forced

	// lostHint is set when upload_lost may have rows TakeLostUploads has
	// not returned (see upload.go).
	lostHint atomic.Bool
}

type camUsage struct {
	bytes int64
	count int64
}

// Open opens (creating if needed) the store in dir, migrates the index,
// repairs what a crash left behind and loads the usage totals. It does not
// apply retention; call Enforce for that.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("segstore: open: empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("segstore: open %s: %w", dir, err)
	}
	s := &Store{
		dir:  abs,
		log:  opts.Logger,
		now:  opts.Now,
		opts: opts,
		hook: opts.FS,
		dirs: make(map[string]bool),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.validateOptions(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("segstore: open: %w", err)
	}
	lk, err := fsutil.LockDir(filepath.Join(abs, lockFile))
	if errors.Is(err, fsutil.ErrLocked) {
		err = ErrLocked
	}
	if err != nil {
		return nil, fmt.Errorf("segstore: open %s: %w", abs, err)
	}
	s.lock = lk
	ok := false
	defer func() {
		if !ok {
			if s.db != nil {
				s.db.Close()
			}
			lk.Close()
		}
	}()
	if err := s.ensureDir(filepath.Join(abs, segmentsDir), abs); err != nil {
		return nil, fmt.Errorf("segstore: open: %w", err)
	}
	if err := s.openDB(ctx); err != nil {
		return nil, err
	}
	if err := s.recover(ctx); err != nil {
		return nil, err
	}
	if err := s.loadUsage(ctx); err != nil {
		return nil, err
	}
	s.ensureReserve()
	s.lostHint.Store(true) // the rows a previous run left, if any
	ok = true
	return s, nil
}

func (s *Store) validateOptions() error {
	if s.opts.MaxBytes < 0 || s.opts.MaxAge < 0 {
		return errors.New("segstore: open: negative MaxBytes or MaxAge")
	}
	for name, l := range s.opts.Cameras {
		if err := validCamera(name); err != nil {
			return fmt.Errorf("segstore: open: Cameras[%q]: %w", name, err)
		}
		if l.MaxBytes < 0 || l.MaxAge < 0 {
			return fmt.Errorf("segstore: open: Cameras[%q]: negative MaxBytes or MaxAge", name)
		}
	}
	return nil
}

func (s *Store) openDB(ctx context.Context) error {
	p := filepath.Join(s.dir, indexFile)
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: filepath.ToSlash(p)}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return fmt.Errorf("segstore: open index %s: %w", p, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	s.db = db
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("segstore: open index %s: %w", p, err)
	}
	if mode != "wal" {
		return fmt.Errorf("segstore: open index %s: journal_mode is %q, want wal", p, mode)
	}
	if err := migrate(ctx, db, s.dir, s.log); err != nil {
		return fmt.Errorf("segstore: open index %s: %w", p, err)
	}
	return nil
}

func (s *Store) loadUsage(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT camera, SUM(bytes), COUNT(*) FROM segments GROUP BY camera`)
	if err != nil {
		return fmt.Errorf("segstore: load usage: %w", err)
	}
	defer rows.Close()
	usage := make(map[string]camUsage)
	var total, count int64
	for rows.Next() {
		var cam string
		var u camUsage
		if err := rows.Scan(&cam, &u.bytes, &u.count); err != nil {
			return fmt.Errorf("segstore: load usage: %w", err)
		}
		usage[cam] = u
		total += u.bytes
		count += u.count
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("segstore: load usage: %w", err)
	}
	s.mu.Lock()
	s.usage, s.total, s.count = usage, total, count
	s.mu.Unlock()
	return nil
}

// Recovery reports what Open repaired.
func (s *Store) Recovery() Recovery { return s.rec }

// Usage returns the total bytes of all segments and the bytes per camera
// (only cameras with segments), from running totals kept in memory.
func (s *Store) Usage() (total int64, perCamera map[string]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	perCamera = make(map[string]int64, len(s.usage))
	for c, u := range s.usage {
		perCamera[c] = u.bytes
	}
	return s.total, perCamera
}

// Close waits for operations in flight, closes the index and releases the
// directory lock. Later calls return ErrClosed.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	err := s.db.Close()
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("segstore: close: %w", err)
	}
	return nil
}

// acquire marks an operation in flight; release must follow.
func (s *Store) acquire() error {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) release() { s.closeMu.RUnlock() }

// addUsage applies a committed change of d bytes and n segments to camera.
func (s *Store) addUsage(camera string, d, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.usage[camera]
	u.bytes += d
	u.count += n
	if u.count <= 0 {
		delete(s.usage, camera)
	} else {
		s.usage[camera] = u
	}
	s.total += d
	s.count += n
}

// reserveSize is the size of the reserve file: space kept aside so that, on
// a full disk, the index can still grow enough to move segments to garbage.
const reserveSize = 256 << 10

const reserveFile = "RESERVE"

// ensureReserve creates the reserve file if it is missing. On a full disk it
// gives up quietly (the reserve is re-tried after the next successful Put).
func (s *Store) ensureReserve() {
	s.mu.Lock()
	have := s.haveReserve
	s.mu.Unlock()
	if have {
		return
	}
	p := filepath.Join(s.dir, reserveFile)
	if fi, err := os.Stat(p); err == nil && fi.Size() == reserveSize {
		s.setReserve(true)
		return
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err == nil {
		_, err = f.Write(make([]byte, reserveSize))
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		os.Remove(p)
		s.log.Debug("segstore: cannot create reserve file", "err", err)
		return
	}
	s.setReserve(true)
}

// releaseReserve deletes the reserve file to free space for the index.
func (s *Store) releaseReserve() {
	s.mu.Lock()
	have := s.haveReserve
	s.mu.Unlock()
	if !have {
		return
	}
	if err := os.Remove(filepath.Join(s.dir, reserveFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("segstore: cannot release reserve file", "err", err)
		return
	}
	s.setReserve(false)
	s.log.Warn("segstore: disk full: released the reserve space to the index")
}

func (s *Store) setReserve(v bool) {
	s.mu.Lock()
	s.haveReserve = v
	s.mu.Unlock()
}
