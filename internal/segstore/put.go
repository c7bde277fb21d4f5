package segstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

const (
	// maxCodecLen bounds Codec and AudioCodec.
	maxCodecLen = 64
	// maxReasonLen bounds Gap.Reason.
	maxReasonLen = 1024
	// maxSanitized bounds the readable part of a camera directory name.
	maxSanitized = 40
)

// timeInRange reports whether t is after the Unix epoch and fits the index's
// int64 Unix nanoseconds.
func timeInRange(t time.Time) bool {
	return t.After(time.Unix(0, 0)) && t.Before(time.Unix(0, math.MaxInt64))
}

func validCamera(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidCamera)
	case len(name) > MaxCameraNameLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidCamera, MaxCameraNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidCamera)
	}
	return nil
}

// cameraDir maps a camera name to the name of its directory under segments/:
// the name with every byte outside [A-Za-z0-9_-] replaced by '_', cut to
// maxSanitized bytes, then '-' and 16 hex digits of SHA-256 of the full name.
// The result never contains a separator, never starts with '.', and differs
// for different names (up to a 64-bit hash collision).
func cameraDir(name string) string {
	var b strings.Builder
	for i := 0; i < len(name) && b.Len() < maxSanitized; i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	sum := sha256.Sum256([]byte(name))
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(sum[:8]))
	return b.String()
}

// segmentRel returns the slash-separated path of a segment relative to the
// store directory.
func segmentRel(m Meta) string {
	name := strconv.FormatUint(m.Seq, 10) + "-" + strconv.FormatInt(m.Start.UnixMilli(), 10) + segExt
	return path.Join(segmentsDir, cameraDir(m.Camera), name)
}

// absPath turns an index path into an absolute path inside the store,
// refusing anything that would leave segments/ (a damaged or tampered index).
func (s *Store) absPath(rel string) (string, error) {
	if !filepath.IsLocal(filepath.FromSlash(rel)) || !strings.HasPrefix(rel, segmentsDir+"/") || strings.Contains(rel, `\`) {
		return "", fmt.Errorf("segstore: index path %q is outside %s", rel, segmentsDir)
	}
	return filepath.Join(s.dir, filepath.FromSlash(rel)), nil
}

func validMeta(m Meta, data []byte) error {
	if err := validCamera(m.Camera); err != nil {
		return err
	}
	switch {
	case m.Seq > math.MaxInt64:
		return fmt.Errorf("%w: seq %d too large", ErrInvalidMeta, m.Seq)
	case !timeInRange(m.Start) || !timeInRange(m.End):
		return fmt.Errorf("%w: start or end time out of range (zero?)", ErrInvalidMeta)
	case m.End.Before(m.Start):
		return fmt.Errorf("%w: end %v before start %v", ErrInvalidMeta, m.End, m.Start)
	case m.Codec == "" || len(m.Codec) > maxCodecLen || len(m.AudioCodec) > maxCodecLen:
		return fmt.Errorf("%w: codec must be 1..%d bytes, audio codec at most %d", ErrInvalidMeta, maxCodecLen, maxCodecLen)
	case !utf8.ValidString(m.Codec) || !utf8.ValidString(m.AudioCodec):
		return fmt.Errorf("%w: codec is not valid UTF-8", ErrInvalidMeta)
	case m.Keyframes < 0 || m.Frames < 0:
		return fmt.Errorf("%w: negative frame counts", ErrInvalidMeta)
	case len(data) == 0:
		return fmt.Errorf("%w: empty segment", ErrInvalidMeta)
	}
	return nil
}

// Put stores a sealed segment durably and indexes it; the returned Segment
// is visible to List from then on. sealed must already be sealed: the store
// writes it verbatim and never inspects it.
//
// When the disk or quota is full, Put evicts the globally oldest segment and
// retries, until it succeeds or nothing is left to evict (then the error
// wraps syscall.ENOSPC). After a successful Put the byte limits are applied
// (and the age limits, at most once a minute); a failure there is logged and
// does not fail the Put. Put returns ErrDuplicate if the camera already has a
// segment with m.Seq.
func (s *Store) Put(ctx context.Context, m Meta, sealed []byte) (Segment, error) {
	if err := s.acquire(); err != nil {
		return Segment{}, err
	}
	defer s.release()
	if s.readOnly {
		return Segment{}, ErrReadOnly
	}
	if err := validMeta(m, sealed); err != nil {
		return Segment{}, err
	}
	m.Start, m.End = time.Unix(0, m.Start.UnixNano()), time.Unix(0, m.End.UnixNano())
	rel := segmentRel(m)
	abs, err := s.absPath(rel)
	if err != nil {
		return Segment{}, err
	}
	var exists bool
	if err := s.db.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM segments WHERE camera = ? AND seq = ?)`,
		m.Camera, int64(m.Seq)).Scan(&exists); err != nil {
		return Segment{}, fmt.Errorf("segstore: put %q seq %d: %w", m.Camera, m.Seq, err)
	}
	if exists {
		return Segment{}, fmt.Errorf("%w: camera %q seq %d", ErrDuplicate, m.Camera, m.Seq)
	}

	var id int64
	for attempt := 0; ; attempt++ {
		id, err = s.putOnce(ctx, m, sealed, rel, abs)
		if err == nil {
			break
		}
		if !isNoSpace(err) {
			return Segment{}, fmt.Errorf("segstore: put %q seq %d: %w", m.Camera, m.Seq, err)
		}
		if cerr := ctx.Err(); cerr != nil {
			return Segment{}, fmt.Errorf("segstore: put %q seq %d: %w (while disk full: %w)", m.Camera, m.Seq, cerr, err)
		}
		n, eerr := s.evictForSpace(ctx)
		if eerr != nil {
			return Segment{}, fmt.Errorf("segstore: put %q seq %d: disk full and eviction failed: %w", m.Camera, m.Seq, errors.Join(noSpace(err), eerr))
		}
		if n == 0 {
			return Segment{}, fmt.Errorf("segstore: put %q seq %d: disk full and nothing left to evict (%d evicted for this segment): %w",
				m.Camera, m.Seq, attempt, noSpace(err))
		}
	}
	s.addUsage(m.Camera, int64(len(sealed)), 1)
	seg := Segment{ID: id, Meta: m, Bytes: int64(len(sealed)), Path: abs}
	s.enforceAfterPut(ctx, m.Camera)
	s.ensureReserve()
	return seg, nil
}

// noSpace makes sure err wraps syscall.ENOSPC (SQLite reports a full disk
// as SQLITE_FULL).
func noSpace(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return err
	}
	return fmt.Errorf("%w: %w", syscall.ENOSPC, err)
}

// putOnce makes one attempt: durable file, then index row. On failure no
// file of this attempt remains.
func (s *Store) putOnce(ctx context.Context, m Meta, data []byte, rel, abs string) (int64, error) {
	camDir := filepath.Dir(abs)
	if err := s.ensureDir(camDir, filepath.Dir(camDir)); err != nil {
		return 0, err
	}
	if err := s.writeFile(abs, data); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("%w: %w", ErrDuplicate, err)
		}
		return 0, err
	}
	id, err := s.insert(ctx, m, int64(len(data)), rel)
	if err != nil {
		// The row is not there, so the file is an orphan: safe to remove.
		if rerr := os.Remove(abs); rerr != nil {
			s.log.Warn("segstore: removing file of failed put; Open will remove it", "path", abs, "err", rerr)
		}
		if isConstraint(err) {
			return 0, fmt.Errorf("%w: %w", ErrDuplicate, err)
		}
		return 0, err
	}
	return id, nil
}

func (s *Store) insert(ctx context.Context, m Meta, size int64, rel string) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	defer tx.Rollback()
	start, end := m.Start.UnixNano(), m.End.UnixNano()
	res, err := tx.ExecContext(ctx, `INSERT INTO segments
		(camera, seq, start_ns, end_ns, duration_ns, bytes, codec, audio_codec, keyframes, frames, path, created_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.Camera, int64(m.Seq), start, end, end-start, size, m.Codec, m.AudioCodec,
		m.Keyframes, m.Frames, rel, s.now().UnixNano())
	if err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO cameras (name, next_seq) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET next_seq = MAX(next_seq, excluded.next_seq)`,
		m.Camera, int64(m.Seq)+1); err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	return id, nil
}

// writeFile creates path exclusively, writes data, fsyncs the file and its
// directory. On error it removes the file if it created it.
func (s *Store) writeFile(path string, data []byte) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				s.log.Warn("segstore: removing partial file; Open will remove it", "path", path, "err", rerr)
			}
		}
	}()
	if s.hook.WriteFile != nil {
		err = s.hook.WriteFile(f, data)
	} else {
		_, err = f.Write(data)
	}
	if err == nil {
		err = s.sync(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := s.syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	return nil
}

func (s *Store) sync(f *os.File) error {
	if s.hook.Sync != nil {
		return s.hook.Sync(f)
	}
	return f.Sync()
}

func (s *Store) syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	err = s.sync(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

func (s *Store) remove(path string) error {
	if s.hook.Remove != nil {
		return s.hook.Remove(path)
	}
	return os.Remove(path)
}

// ensureDir makes dir exist durably: created if missing, then its parent
// fsynced. Known directories are cached.
func (s *Store) ensureDir(dir, parent string) error {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	if s.dirs[dir] {
		return nil
	}
	err := os.Mkdir(dir, 0o700)
	switch {
	case err == nil:
		if err := s.syncDir(parent); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrExist):
		fi, serr := os.Lstat(dir)
		if serr != nil {
			return serr
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s exists and is not a directory", dir)
		}
		// It may have been created just before a crash: make its entry durable.
		if err := s.syncDir(parent); err != nil {
			return err
		}
	default:
		return err
	}
	s.dirs[dir] = true
	return nil
}
