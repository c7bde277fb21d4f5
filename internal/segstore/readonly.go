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
	"time"
)

// ErrReadOnly is returned by Put, AddGap and Enforce on a store opened with
// OpenReadOnly.
var ErrReadOnly = errors.New("segstore: store is open read-only")

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

var _ io.Closer = nopCloser{}

// OpenReadOnly opens the index of dir for reading, while a hub may be
// recording into it. It takes no lock, repairs nothing and applies no
// retention: List, Gaps, Cameras and NextSeq work; Put, AddGap and Enforce
// return ErrReadOnly. A listed segment can be deleted by the hub's retention
// a moment later, so readers must expect a missing file. Usage reflects the
// index at open time.
func OpenReadOnly(ctx context.Context, dir string, opts Options) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("segstore: open %s: %w", dir, err)
	}
	p := filepath.Join(abs, indexFile)
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("segstore: no segment index in %s (hint: pass the hub's data directory, the 'data:' of its config): %w", abs, err)
	}
	s := &Store{dir: abs, log: opts.Logger, now: opts.Now, opts: opts, lock: nopCloser{}, dirs: map[string]bool{}, readOnly: true}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	q := url.Values{}
	q.Add("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	dsn := "file:" + (&url.URL{Path: filepath.ToSlash(p)}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("segstore: open index %s: %w", p, err)
	}
	db.SetMaxOpenConns(1)
	s.db = db
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		db.Close()
		return nil, fmt.Errorf("segstore: open index %s: %w", p, err)
	}
	if v != schemaVersion() {
		db.Close()
		return nil, fmt.Errorf("segstore: index %s has schema version %d, this program reads %d (hint: start the hub once with this version of vigil)", p, v, schemaVersion())
	}
	if err := s.loadUsage(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
