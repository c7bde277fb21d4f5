package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// DefaultMaxObjectSize is the largest object a Dir accepts unless
// DirOptions.MaxObjectSize says otherwise.
const DefaultMaxObjectSize = 1 << 30

// ErrLocked: another Dir, in this process or another, has the directory
// open. A directory belongs to one Dir at a time, so that the leftovers
// OpenDir removes are never another writer's work in progress.
var ErrLocked = errors.New("blob: directory is in use by another Dir")

// DirOptions configures OpenDir.
type DirOptions struct {
	// MaxObjectSize is the largest object Put accepts, in bytes; a larger
	// size fails with ErrTooLarge before any byte is read. 0 means
	// DefaultMaxObjectSize.
	MaxObjectSize int64
	// Logger receives what OpenDir and List find on disk that is not an
	// object (paths only, never contents). nil discards it.
	Logger *slog.Logger
}

// Dir is a Store in a local directory, the cloud's embedded default.
//
// Layout under the root:
//
//	lock      flock(2)ed while a Dir has the root open (ErrLocked)
//	objects/  one plain file per object, holding exactly its bytes
//
// A key's segments are directories under objects/ and its last segment is
// the file, written so that every valid key has its own path on any
// filesystem Vigil runs on:
//
//   - an upper-case letter is written '^' and the letter in lower case, so
//     keys that differ only in case stay apart where names are not
//     case-sensitive;
//   - the file name ends in '@', so "a" (the file a@) and "a/b" (the
//     directory a) coexist;
//   - a segment longer than 200 bytes once written is cut into pieces, each
//     but the last a directory whose name ends in '+', because names are
//     limited to 255 bytes; the last piece is at least 3 bytes, so it is
//     never "." or "..".
//
// Key "cam/Front/0001" is the file objects/cam/^front/0001@. Names that
// start with '#' are Put's temporary files: written and fsynced in the
// object's directory, then renamed into place and the directory fsynced.
// OpenDir removes those a crash left behind, and empty directories.
//
// Every path is opened through an os.Root, so neither a key nor a symbolic
// link planted under the root reaches outside it; a symbolic link that
// stays inside the root is followed.
//
// Stat computes the SHA-256 by reading the object (about a millisecond for
// 2 MiB): the metadata store keeps the hash recorded at upload, and a hash
// computed from the bytes is never stale.
type Dir struct {
	root *os.Root
	lock *os.File
	max  int64
	log  *slog.Logger

	// keyMu serialises, per key (hashed to a stripe), the check-and-rename
	// that commits a Put and the removal of a Delete.
	keyMu [64]sync.Mutex

	// treeMu: Put holds it shared from creating its directory until its
	// temporary file is in it (from then on the file keeps the directory
	// from being removed), Delete from removing the file until its
	// directory is synced; pruning empty directories holds it exclusively.
	treeMu sync.RWMutex
	// dirMu guards synced: the directories known to exist with their entry
	// in their parent on stable storage.
	dirMu  sync.Mutex
	synced map[string]bool

	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*Dir)(nil)

const (
	objectsDir   = "objects"
	lockName     = "lock"
	objectSuffix = '@'
	pieceSuffix  = '+'
	escapeByte   = '^'
	tempPrefix   = "#"
	// maxPiece bounds a written segment (or piece of one) so that a name
	// plus its suffix stays well inside the usual 255-byte limit.
	maxPiece = 200
)

// OpenDir opens the store in the directory root, creating it if needed. It
// removes the temporary files and empty directories a crash left behind.
// Close releases it.
func OpenDir(root string, opts DirOptions) (*Dir, error) {
	if opts.MaxObjectSize < 0 {
		return nil, fmt.Errorf("blob: MaxObjectSize is %d; want 0 (default %d) or more", opts.MaxObjectSize, DefaultMaxObjectSize)
	}
	d := &Dir{max: opts.MaxObjectSize, log: opts.Logger, synced: map[string]bool{}}
	if d.max == 0 {
		d.max = DefaultMaxObjectSize
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if err := makeRoot(root); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	d.root = r
	if d.lock, err = lockRoot(r, lockName); err != nil {
		r.Close()
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("%w: %s (hint: is another vigil cloud using this data directory?)", ErrLocked, root)
		}
		return nil, fmt.Errorf("blob: lock %s: %w", root, err)
	}
	if err := d.init(); err != nil {
		d.Close()
		return nil, fmt.Errorf("blob: open %s: %w", root, err)
	}
	return d, nil
}

// makeRoot creates dir if it is missing, durably.
func makeRoot(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return syncPath(filepath.Dir(dir))
}

func syncPath(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// init makes objects/ and removes a crash's leftovers from it.
func (d *Dir) init() error {
	err := d.root.Mkdir(objectsDir, 0o700)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	fi, err := d.root.Lstat(objectsDir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory (a symbolic link?)", objectsDir)
	}
	if err := d.syncDir("."); err != nil {
		return err
	}
	d.synced[objectsDir] = true
	var removed int
	if _, err := d.tidy(objectsDir, &removed); err != nil {
		return err
	}
	if removed > 0 {
		d.log.Info("blob: removed what an interrupted write left behind", "entries", removed)
	}
	return nil
}

// tidy removes temporary files under dir, then the directories that are
// left empty below it, counting what it removed. It reports whether dir
// itself is now empty.
func (d *Dir) tidy(dir string, removed *int) (empty bool, err error) {
	ents, err := d.readDir(dir)
	if err != nil {
		return false, err
	}
	left := len(ents)
	for _, e := range ents {
		p := dir + "/" + e.Name()
		switch {
		case strings.HasPrefix(e.Name(), tempPrefix) && e.Type().IsRegular():
			if err := d.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return false, err
			}
			*removed++
			left--
		case e.IsDir():
			sub, err := d.tidy(p, removed)
			if err != nil {
				return false, err
			}
			if sub {
				if err := d.root.Remove(p); err != nil {
					return false, err
				}
				*removed++
				left--
			}
		}
	}
	return left == 0, nil
}

// Close releases the directory. The Dir must not be used afterwards;
// Objects already open stay readable.
func (d *Dir) Close() error {
	d.closeOnce.Do(func() {
		if d.lock != nil {
			d.closeErr = d.lock.Close()
		}
		if err := d.root.Close(); d.closeErr == nil {
			d.closeErr = err
		}
	})
	return d.closeErr
}

// Put implements Store.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader, size int64) (Info, bool, error) {
	if !ValidKey(key) {
		return Info{}, false, invalidKey(key)
	}
	if size < 0 {
		return Info{}, false, fmt.Errorf("blob: put %s: size %d is negative", key, size)
	}
	if size > d.max {
		return Info{}, false, fmt.Errorf("blob: put %s: %d bytes, at most %d: %w", key, size, d.max, ErrTooLarge)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, false, fmt.Errorf("blob: put %s: %w", key, err)
	}
	limit := size
	if limit < math.MaxInt64 {
		limit++ // one byte more, to tell a reader that is too long
	}
	src := ctxReader{ctx, io.LimitReader(r, limit)}
	rel := objectPath(key)

	f, fi, err := d.openObject(rel)
	switch {
	case err == nil:
		defer f.Close()
		return d.putExisting(key, f, fi.Size(), src, size)
	case !errors.Is(err, ErrNotFound):
		return Info{}, false, fmt.Errorf("blob: put %s: %w", key, err)
	}

	dir := path.Dir(rel)
	tmp, tmpName, err := d.createTemp(dir)
	if err != nil {
		return Info{}, false, fmt.Errorf("blob: put %s: %w", key, err)
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		tmp.Close() // a second Close after the one below only returns an error
		if err := d.root.Remove(tmpName); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("blob: removing a temporary file; OpenDir will", "path", tmpName, "err", err)
		}
		d.prune(dir)
	}()

	h := sha256.New()
	buf := getBuf()
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h), src, *buf)
	putBuf(buf)
	if err != nil {
		return Info{}, false, fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := sizeError(n, size); err != nil {
		return Info{}, false, fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return Info{}, false, fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return Info{}, false, fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, false, fmt.Errorf("blob: put %s: %w", key, err)
	}
	info := Info{Key: key, Size: size}
	h.Sum(info.SHA256[:0])

	mu := d.keyLock(key)
	mu.Lock()
	defer mu.Unlock()
	// Another Put of key may have committed while this one was writing.
	if f, fi, err := d.openObject(rel); err == nil {
		defer f.Close()
		if fi.Size() != size {
			return Info{}, false, fmt.Errorf("blob: put %s: %w", key, ErrConflict)
		}
		sum, err := hashFile(ctx, f)
		if err != nil {
			return Info{}, false, fmt.Errorf("blob: put %s: %w", key, err)
		}
		if sum != info.SHA256 {
			return Info{}, false, fmt.Errorf("blob: put %s: %w", key, ErrConflict)
		}
		return info, false, nil
	} else if !errors.Is(err, ErrNotFound) {
		return Info{}, false, fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := d.root.Rename(tmpName, rel); err != nil {
		return Info{}, false, fmt.Errorf("blob: put %s: %w", key, err)
	}
	committed = true
	if err := d.syncDir(dir); err != nil {
		// Without the directory entry on stable storage the object is not
		// durable: take it back rather than report it stored.
		if rerr := d.root.Remove(rel); rerr != nil {
			d.log.Warn("blob: removing an object whose directory could not be synced", "key", key, "err", rerr)
		}
		return Info{}, false, fmt.Errorf("blob: put %s: %w", key, err)
	}
	return info, true, nil
}

// putExisting compares what src yields with f, the object already under
// key, which holds have bytes.
func (d *Dir) putExisting(key string, f *os.File, have int64, src io.Reader, size int64) (Info, bool, error) {
	if have != size {
		return Info{}, false, fmt.Errorf("blob: put %s: %w", key, ErrConflict)
	}
	buf := getBuf()
	defer putBuf(buf)
	half := len(*buf) / 2
	in, stored := (*buf)[:half], (*buf)[half:]
	h := sha256.New()
	for off := int64(0); off < size; {
		n := int(min(int64(half), size-off))
		m, err := io.ReadFull(src, in[:n])
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Info{}, false, fmt.Errorf("blob: put %s: %w", key, sizeError(off+int64(m), size))
		}
		if err != nil {
			return Info{}, false, fmt.Errorf("blob: put %s: %w", key, err)
		}
		if _, err := f.ReadAt(stored[:n], off); err != nil {
			return Info{}, false, fmt.Errorf("blob: put %s: reading the stored object: %w", key, err)
		}
		if !bytes.Equal(in[:n], stored[:n]) {
			return Info{}, false, fmt.Errorf("blob: put %s: %w", key, ErrConflict)
		}
		h.Write(in[:n])
		off += int64(n)
	}
	switch _, err := io.ReadFull(src, in[:1]); {
	case err == nil:
		return Info{}, false, fmt.Errorf("blob: put %s: %w", key, sizeError(size+1, size))
	case !errors.Is(err, io.EOF):
		return Info{}, false, fmt.Errorf("blob: put %s: %w", key, err)
	}
	// The object was there when Put looked. A Put that renamed it there
	// holds the key's lock until its directory is synced: wait for that,
	// so that this Put too returns only once the object is durable.
	mu := d.keyLock(key)
	mu.Lock()
	mu.Unlock()
	info := Info{Key: key, Size: size}
	h.Sum(info.SHA256[:0])
	return info, false, nil
}

func sizeError(got, want int64) error {
	if got < want {
		return fmt.Errorf("reader gave %d bytes, want %d: %w", got, want, io.ErrUnexpectedEOF)
	}
	if got > want {
		return fmt.Errorf("reader gave more than the %d bytes announced", want)
	}
	return nil
}

// Open implements Store. The Object is the open file: it stays readable
// after a Delete of its key.
func (d *Dir) Open(ctx context.Context, key string) (Object, error) {
	if !ValidKey(key) {
		return nil, invalidKey(key)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	f, fi, err := d.openObject(objectPath(key))
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	return &dirObject{f: f, size: fi.Size()}, nil
}

// Stat implements Store; it reads the object to hash it.
func (d *Dir) Stat(ctx context.Context, key string) (Info, error) {
	if !ValidKey(key) {
		return Info{}, invalidKey(key)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("blob: stat %s: %w", key, err)
	}
	f, fi, err := d.openObject(objectPath(key))
	if err != nil {
		return Info{}, fmt.Errorf("blob: stat %s: %w", key, err)
	}
	defer f.Close()
	sum, err := hashFile(ctx, f)
	if err != nil {
		return Info{}, fmt.Errorf("blob: stat %s: %w", key, err)
	}
	return Info{Key: key, Size: fi.Size(), SHA256: sum}, nil
}

// Delete implements Store. It also removes the directories it leaves empty.
func (d *Dir) Delete(ctx context.Context, key string) error {
	if !ValidKey(key) {
		return invalidKey(key)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	rel := objectPath(key)
	dir := path.Dir(rel)
	mu := d.keyLock(key)
	mu.Lock()
	// Shared, so that no prune removes dir between the two steps.
	d.treeMu.RLock()
	err := d.root.Remove(rel)
	if errors.Is(err, fs.ErrNotExist) {
		d.treeMu.RUnlock()
		mu.Unlock()
		return nil
	}
	if err == nil {
		err = d.syncDir(dir)
	}
	d.treeMu.RUnlock()
	mu.Unlock()
	if err != nil {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	d.prune(dir)
	return nil
}

// List implements Store. It walks only the directories whose keys can
// start with prefix. A prefix no valid key starts with lists nothing.
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: list %q: %w", prefix, err)
	}
	var keys []string
	if err := d.walk(ctx, objectsDir, "", "", prefix, &keys); err != nil {
		return nil, fmt.Errorf("blob: list %q: %w", prefix, err)
	}
	slices.Sort(keys)
	return keys, nil
}

// walk adds to keys those of the objects under dir that start with
// prefix. acc is the key up to dir: whole segments, each followed by '/'.
// part is the written start of the segment dir continues, when dir is a
// piece ('+') of a long segment.
func (d *Dir) walk(ctx context.Context, dir, acc, part, prefix string, keys *[]string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ents, err := d.readDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // pruned since its parent was read
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		p := dir + "/" + name
		last := name[len(name)-1]
		switch {
		case strings.HasPrefix(name, tempPrefix):
		case last == objectSuffix && e.Type().IsRegular():
			key := acc + unescape(part+name[:len(name)-1])
			if !strings.HasPrefix(key, prefix) {
				continue
			}
			if !ValidKey(key) || objectPath(key) != p {
				d.log.Warn("blob: ignoring a file that is not an object", "path", p)
				continue
			}
			*keys = append(*keys, key)
		case last == pieceSuffix && e.IsDir():
			next := part + name[:len(name)-1]
			if !compatible(acc+unescape(next), prefix) {
				continue
			}
			if err := d.walk(ctx, p, acc, next, prefix, keys); err != nil {
				return err
			}
		case e.IsDir():
			next := acc + unescape(part+name) + "/"
			if !compatible(next, prefix) {
				continue
			}
			if err := d.walk(ctx, p, next, "", prefix, keys); err != nil {
				return err
			}
		default:
			d.log.Warn("blob: ignoring an entry that is not an object", "path", p, "type", e.Type().String())
		}
	}
	return nil
}

// compatible reports whether a key starting with s can start with prefix.
func compatible(s, prefix string) bool {
	return strings.HasPrefix(s, prefix) || strings.HasPrefix(prefix, s)
}

// objectPath returns the file of key, relative to the root (see Dir for
// the layout). key must be valid.
func objectPath(key string) string {
	var b strings.Builder
	b.Grow(len(objectsDir) + 2*len(key) + 8)
	b.WriteString(objectsDir)
	for seg := range strings.SplitSeq(key, "/") {
		w := escape(seg)
		for len(w) > maxPiece {
			n := maxPiece
			if len(w)-n < 3 {
				n = len(w) - 3 // the last piece must not be "." or ".."
			}
			b.WriteByte('/')
			b.WriteString(w[:n])
			b.WriteByte(pieceSuffix)
			w = w[n:]
		}
		b.WriteByte('/')
		b.WriteString(w)
	}
	b.WriteByte(objectSuffix)
	return b.String()
}

// escape writes each upper-case letter of seg as '^' and the letter in
// lower case.
func escape(seg string) string {
	upper := 0
	for i := 0; i < len(seg); i++ {
		if 'A' <= seg[i] && seg[i] <= 'Z' {
			upper++
		}
	}
	if upper == 0 {
		return seg
	}
	b := make([]byte, 0, len(seg)+upper)
	for i := 0; i < len(seg); i++ {
		if c := seg[i]; 'A' <= c && c <= 'Z' {
			b = append(b, escapeByte, c+'a'-'A')
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// unescape undoes escape. A trailing '^' (a piece cut between the two) is
// dropped. Names escape did not write come out as keys whose objectPath
// differs from the name, which is how List tells them apart.
func unescape(w string) string {
	if strings.IndexByte(w, escapeByte) < 0 {
		return w
	}
	b := make([]byte, 0, len(w))
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c == escapeByte {
			if i+1 == len(w) {
				break
			}
			i++
			c = w[i] - ('a' - 'A')
		}
		b = append(b, c)
	}
	return string(b)
}

// openObject opens the object file rel, returning an error that wraps
// ErrNotFound if there is none.
func (d *Dir) openObject(rel string) (*os.File, fs.FileInfo, error) {
	f, err := d.root.Open(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not a regular file", rel)
	}
	return f, fi, nil
}

// createTemp creates a temporary file in dir, creating dir if needed.
func (d *Dir) createTemp(dir string) (*os.File, string, error) {
	d.treeMu.RLock()
	defer d.treeMu.RUnlock()
	var err error
	for range 4 {
		if err = d.mkdirs(dir); err != nil {
			return nil, "", err
		}
		name := dir + "/" + tempPrefix + strconv.FormatUint(rand.Uint64(), 36)
		var f *os.File
		f, err = d.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		switch {
		case err == nil:
			return f, name, nil
		case errors.Is(err, fs.ErrNotExist):
			d.forget(dir) // removed behind the Dir's back
		case !errors.Is(err, fs.ErrExist):
			return nil, "", err
		}
	}
	return nil, "", err
}

// mkdirs makes dir and its parents exist, each with its entry in its
// parent on stable storage.
func (d *Dir) mkdirs(dir string) error {
	d.dirMu.Lock()
	known := d.synced[dir]
	d.dirMu.Unlock()
	if known {
		return nil
	}
	parent := path.Dir(dir)
	if err := d.mkdirs(parent); err != nil {
		return err
	}
	if err := d.root.Mkdir(dir, 0o700); errors.Is(err, fs.ErrExist) {
		fi, err := d.root.Lstat(dir)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
	} else if err != nil {
		return err
	}
	// Also when dir was there already: it may have been made just before
	// a crash, its entry not yet synced.
	if err := d.syncDir(parent); err != nil {
		return err
	}
	d.dirMu.Lock()
	d.synced[dir] = true
	d.dirMu.Unlock()
	return nil
}

// forget drops dir and its parents from synced.
func (d *Dir) forget(dir string) {
	d.dirMu.Lock()
	defer d.dirMu.Unlock()
	for ; dir != objectsDir && dir != "."; dir = path.Dir(dir) {
		delete(d.synced, dir)
	}
}

// prune removes dir and its parents below objects/ while they are empty.
func (d *Dir) prune(dir string) {
	d.treeMu.Lock()
	defer d.treeMu.Unlock()
	for ; dir != objectsDir && dir != "."; dir = path.Dir(dir) {
		if err := d.root.Remove(dir); err != nil {
			return // not empty, typically
		}
		d.dirMu.Lock()
		delete(d.synced, dir)
		d.dirMu.Unlock()
	}
}

func (d *Dir) syncDir(dir string) error {
	f, err := d.root.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func (d *Dir) readDir(dir string) ([]fs.DirEntry, error) {
	f, err := d.root.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadDir(-1)
}

func (d *Dir) keyLock(key string) *sync.Mutex {
	h := fnv.New32a()
	io.WriteString(h, key)
	return &d.keyMu[h.Sum32()%uint32(len(d.keyMu))]
}

func hashFile(ctx context.Context, f *os.File) ([32]byte, error) {
	var sum [32]byte
	h := sha256.New()
	buf := getBuf()
	defer putBuf(buf)
	// ctxReader also hides os.File's WriteTo, which would skip buf.
	if _, err := io.CopyBuffer(h, ctxReader{ctx, io.NewSectionReader(f, 0, math.MaxInt64)}, *buf); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}

func invalidKey(key string) error {
	const show = 64
	if len(key) > show {
		key = key[:show] + "..."
	}
	return fmt.Errorf("%w %q: want 1 to %d bytes of A-Z a-z 0-9 . _ - in segments separated by single '/', none of them \".\" or \"..\"", ErrInvalidKey, key, MaxKeyLen)
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

func getBuf() *[]byte  { return bufPool.Get().(*[]byte) }
func putBuf(b *[]byte) { bufPool.Put(b) }

// dirObject is an open object file.
type dirObject struct {
	f    *os.File
	size int64
}

func (o *dirObject) Read(p []byte) (int, error)                { return o.f.Read(p) }
func (o *dirObject) ReadAt(p []byte, off int64) (int, error)   { return o.f.ReadAt(p, off) }
func (o *dirObject) Seek(off int64, whence int) (int64, error) { return o.f.Seek(off, whence) }
func (o *dirObject) Close() error                              { return o.f.Close() }
func (o *dirObject) Size() int64                               { return o.size }
