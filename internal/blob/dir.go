package blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
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
	"time"

	"vigil/internal/fsutil"
)

// DefaultMaxObjectSize is the largest object a Dir accepts unless
// DirOptions.MaxObjectSize says otherwise.
const DefaultMaxObjectSize = 1 << 30

// DefaultPackObjectMax is the largest object a Dir stores in a pack unless
// DirOptions.PackObjectMax says otherwise; larger ones get a file each.
const DefaultPackObjectMax = 4 << 20

// DefaultPackSize is the size at which a Dir seals its pack and starts the
// next, unless DirOptions.PackSize says otherwise.
const DefaultPackSize = 64 << 20

// DefaultCommitDelay is how long a commit waits for company when Puts
// arrive faster than one per delay (fsutil.CommitDelay), unless
// DirOptions.CommitDelay says otherwise.
const DefaultCommitDelay = 4 * time.Millisecond

// ErrLocked: another Dir, in this process or another, has the directory
// open. A directory belongs to one Dir at a time, so that the leftovers
// OpenDir removes are never another writer's work in progress.
var ErrLocked = errors.New("blob: directory is in use by another Dir")

// errClosed: the Dir is closed.
var errClosed = errors.New("blob: the Dir is closed")

// DirOptions configures OpenDir.
type DirOptions struct {
	// MaxObjectSize is the largest object Put accepts, in bytes; a larger
	// size fails with ErrTooLarge before any byte is read. 0 means
	// DefaultMaxObjectSize.
	MaxObjectSize int64
	// PackObjectMax: objects of at most this many bytes are stored in
	// packs, larger ones in a file each. 0 means DefaultPackObjectMax; a
	// negative value stores every object in a file of its own.
	PackObjectMax int64
	// PackSize: once a pack holds this many bytes it is sealed and the
	// next one started. 0 means DefaultPackSize.
	PackSize int64
	// CommitDelay: under load, how long a commit waits for more records to
	// share its fsync (fsutil.CommitDelay). 0 means DefaultCommitDelay; a
	// negative value never waits.
	CommitDelay time.Duration
	// Logger receives what OpenDir finds on disk that is not an object
	// and what recovery and compaction do (paths and keys only, never
	// contents). nil discards it.
	Logger *slog.Logger
}

// Dir is a Store in a local directory, the cloud's embedded default.
//
// Layout under the root:
//
//	lock      flock(2)ed while a Dir has the root open (ErrLocked)
//	packs/    append-only pack files holding the objects of at most
//	          DirOptions.PackObjectMax bytes, with their sidecar indexes
//	          (see pack.go for the format)
//	objects/  one plain file per larger object, holding exactly its bytes;
//	          also every object a Dir stored before it had packs
//
// Small objects go into packs because a file per object costs a file
// creation, two fsyncs (the file and its directory) and a walk of the
// path per Put, which was most of the cost of an upload. A pack takes the
// records of concurrent Puts and Deletes together and covers them with a
// single fsync (group commit); no Put returns before the fsync covering
// its record. Deleted records stay in their pack until compaction (see
// compact.go) copies what is still live out of a pack that is at least
// half dead and removes it; it runs in its own goroutine, which Close
// waits for.
//
// The index of every key (where its object is) is kept in memory, built
// on open from the sidecar indexes and packs and from the files under
// objects/; it costs about 140 bytes per object besides the key itself.
//
// Under objects/, a key's segments are directories and its last segment is
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
// start with '#' are temporary files: written and fsynced, then renamed
// into place and the directory fsynced. OpenDir removes those a crash left
// behind, and empty directories.
//
// Every path is opened through an os.Root, so neither a key nor a symbolic
// link planted under the root reaches outside it; a symbolic link that
// stays inside the root is followed. Keys never become paths of packs.
//
// Stat of an object in a pack reads the SHA-256 its record holds; of an
// object in a file it hashes the file (about a millisecond for 2 MiB).
type Dir struct {
	root     *os.Root
	lock     *os.File
	max      int64
	packMax  int64
	packSize int64
	log      *slog.Logger

	// treeMu: a Put of a file holds it shared from creating its directory
	// until its temporary file is in it (from then on the file keeps the
	// directory from being removed), Delete from removing the file until
	// its directory is synced; pruning empty directories holds it
	// exclusively.
	treeMu sync.RWMutex
	// dirMu guards synced: the directories known to exist with their entry
	// in their parent on stable storage.
	dirMu  sync.Mutex
	synced map[string]bool

	// mu guards what follows, and the entries and packs they point to.
	mu    sync.Mutex
	ix    index
	packs map[uint64]*pack
	head  *pack // the pack being written
	// ghosts: for each key, the packs that hold dead copies of it (see
	// compact.go).
	ghosts map[string][]uint64
	// failed: a pack write failed; writes are refused until reopened.
	failed error
	closed bool
	// inflight counts the Puts, Deletes and Compacts under way, which
	// Close waits for.
	inflight sync.WaitGroup

	wq        writeQueue // records waiting for their commit
	delay     fsutil.CommitDelay
	kick      chan struct{} // to the maintenance goroutine
	stopMaint context.CancelFunc
	maintDone chan struct{}
	compactMu sync.Mutex

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
// removes the temporary files and empty directories a crash left behind,
// cuts off a torn end of the newest pack, and builds the index. Close
// releases it.
func OpenDir(root string, opts DirOptions) (*Dir, error) {
	if opts.MaxObjectSize < 0 {
		return nil, fmt.Errorf("blob: MaxObjectSize is %d; want 0 (default %d) or more", opts.MaxObjectSize, DefaultMaxObjectSize)
	}
	if opts.PackSize < 0 {
		return nil, fmt.Errorf("blob: PackSize is %d; want 0 (default %d) or more", opts.PackSize, DefaultPackSize)
	}
	d := &Dir{max: opts.MaxObjectSize, packMax: opts.PackObjectMax, packSize: opts.PackSize, log: opts.Logger,
		synced: map[string]bool{}, packs: map[uint64]*pack{}, ghosts: map[string][]uint64{}}
	if d.max == 0 {
		d.max = DefaultMaxObjectSize
	}
	if d.packMax == 0 {
		d.packMax = DefaultPackObjectMax
	}
	if d.packSize == 0 {
		d.packSize = DefaultPackSize
	}
	switch {
	case opts.CommitDelay == 0:
		d.delay.Max = DefaultCommitDelay
	case opts.CommitDelay > 0:
		d.delay.Max = opts.CommitDelay
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
		d.closeFiles()
		return nil, fmt.Errorf("blob: open %s: %w", root, err)
	}
	d.kick = make(chan struct{}, 1)
	d.maintDone = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	d.stopMaint = cancel
	go d.maintain(ctx)
	d.kickMaintenance() // sidecars and compaction of what opening found
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

// init makes objects/ and packs/, removes a crash's leftovers and builds
// the index.
func (d *Dir) init() error {
	for _, dir := range []string{objectsDir, packsDir} {
		err := d.root.Mkdir(dir, 0o700)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		fi, err := d.root.Lstat(dir)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory (a symbolic link?)", dir)
		}
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
	var files []string
	if err := d.walk(context.Background(), objectsDir, "", "", "", &files); err != nil {
		return err
	}
	for _, key := range files {
		d.ix.set(key, &entry{})
	}
	if err := d.openPacks(); err != nil {
		return err
	}
	if len(files) > 0 {
		d.log.Info("blob: objects in files of their own (objects/) are read and deleted as before; new objects up to the pack size limit go into packs (packs/)",
			"files", len(files), "objects", d.ix.n)
	}
	return nil
}

// openPacks opens the packs, replays their records into the index and
// makes sure there is a head pack to write.
func (d *Dir) openPacks() error {
	ents, err := d.readDir(packsDir)
	if err != nil {
		return err
	}
	var ids []uint64
	idxs := map[uint64]bool{}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, tempPrefix) && e.Type().IsRegular() {
			if err := d.root.Remove(packsDir + "/" + name); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			continue
		}
		if id, ok := parsePackName(name); ok && e.Type().IsRegular() {
			ids = append(ids, id)
			continue
		}
		if s, ok := strings.CutSuffix(name, idxExt); ok {
			if id, ok := parsePackName(s + packExt); ok {
				idxs[id] = true
				continue
			}
		}
		d.log.Warn("blob: ignoring an entry that is not a pack", "path", packsDir+"/"+name)
	}
	slices.Sort(ids)
	for i, id := range ids {
		p, err := d.openPack(id, i == len(ids)-1, idxs[id])
		if err != nil {
			return err
		}
		if p != nil {
			d.packs[id] = p
			if i == len(ids)-1 {
				d.head = p
			}
		}
		delete(idxs, id)
	}
	for id := range idxs { // sidecars of packs that are gone
		if err := d.root.Remove(idxName(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if d.head == nil {
		var next uint64 = 1
		if len(ids) > 0 {
			next = ids[len(ids)-1] + 1
		}
		if d.head, err = d.createPack(next); err != nil {
			return err
		}
		d.packs[next] = d.head
	}
	return nil
}

// openPack opens pack id, checks it and replays its records. The last
// pack is the head: every record of it is checked, data too, and a torn
// end is cut off. It returns nil, without error, for a pack that cannot
// be used (logged).
func (d *Dir) openPack(id uint64, last, hasIdx bool) (*pack, error) {
	name := packName(id)
	flag := os.O_RDONLY
	if last {
		flag = os.O_RDWR
	}
	f, err := d.root.OpenFile(name, flag, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size := fi.Size()
	hdr := make([]byte, packHeaderLen)
	n, _ := f.ReadAt(hdr, 0)
	if err := checkPackHeader(hdr[:n], id); err != nil {
		f.Close()
		if last && size <= packHeaderLen {
			// Created just before a crash: its header was never synced,
			// so nothing was written to it.
			d.log.Info("blob: removing a pack an interrupted start left empty", "pack", name)
			if err := d.root.Remove(name); err != nil {
				return nil, err
			}
			return nil, d.syncDir(packsDir)
		}
		d.log.Error("blob: ignoring a pack with a damaged header; its objects are not available", "pack", name, "err", err)
		return nil, nil
	}
	p := &pack{id: id, f: f, sealed: !last}
	var recs []record
	if !last && hasIdx {
		if b, err := d.readFile(idxName(id)); err == nil {
			if recs, err = decodeSidecar(b, id, size); err == nil {
				p.indexed = true
			} else {
				d.log.Warn("blob: rebuilding a pack's index", "pack", name, "err", err)
			}
		}
	}
	end := size
	if !p.indexed {
		recs = recs[:0]
		end, err = scanPack(f, size, last, func(r record) { recs = append(recs, r) })
		switch {
		case err != nil && last:
			d.log.Warn("blob: cutting off the end of the newest pack that an interrupted write left (objects whose Put had not returned)",
				"pack", name, "offset", end, "bytes", size-end, "reason", err)
			if err := f.Truncate(end); err != nil {
				f.Close()
				return nil, err
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return nil, err
			}
		case err != nil:
			d.log.Error("blob: a sealed pack is damaged; the records after the damage are not available",
				"pack", name, "offset", end, "bytes", size-end, "err", err)
			p.indexed = true // do not write a sidecar that hides the damage
		}
	}
	p.size = end
	for i := range recs {
		d.replay(p, &recs[i])
	}
	return p, nil
}

// replay applies a record read back from pack p to the index.
func (d *Dir) replay(p *pack, r *record) {
	e := d.ix.get(r.key)
	switch r.kind {
	case kindPut:
		switch {
		case e == nil:
			d.ix.set(r.key, &entry{pack: p, off: r.off, size: r.size})
			p.live += r.len()
		case e.pack == nil:
			// A file under objects/ can only have been stored once this
			// record was dead (its delete record since compacted away).
			d.addGhost(r.key, p.id)
		default:
			// A copy compaction made: the newer one counts.
			d.drop(r.key, e)
			e.pack, e.off, e.size = p, r.off, r.size
			p.live += r.len()
		}
	case kindDelete:
		if e != nil && e.pack != nil {
			d.drop(r.key, e)
			d.ix.remove(r.key)
		}
	}
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

// Close waits for the Puts, Deletes and compaction under way, then
// releases the directory. The Dir must not be used afterwards; Objects
// already open stay readable.
func (d *Dir) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		d.stopMaint()
		<-d.maintDone
		d.inflight.Wait()
		d.closeErr = d.closeFiles()
	})
	return d.closeErr
}

// closeFiles closes the packs (those Objects still read once they are
// closed), the lock and the root.
func (d *Dir) closeFiles() error {
	var err error
	d.mu.Lock()
	for _, p := range d.packs {
		p.gone = true
		d.closeIfUnused(p)
	}
	d.mu.Unlock()
	if d.lock != nil {
		err = d.lock.Close()
	}
	if rerr := d.root.Close(); err == nil {
		err = rerr
	}
	return err
}

// usable returns why the Dir takes no writes, if it does not. d.mu is held.
func (d *Dir) usable() error {
	if d.closed {
		return errClosed
	}
	return d.failed
}

// enter registers an operation Close must wait for.
func (d *Dir) enter() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errClosed
	}
	d.inflight.Add(1)
	return nil
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
	known := KnownSHA256(r)
	src := ctxReader{ctx, io.LimitReader(r, limit)}
	var info Info
	var created bool
	var err error
	if size <= d.packMax {
		info, created, err = d.putPacked(ctx, key, src, size, known)
	} else {
		info, created, err = d.putFile(ctx, key, src, size, known)
	}
	if err != nil {
		return Info{}, false, fmt.Errorf("blob: put %s: %w", key, err)
	}
	return info, created, nil
}

// putPacked stores an object in the head pack: it reads the whole object
// into its record, then queues the record for its commit. known is the
// object's SHA-256 if the caller knows it (Hashed), else nil.
func (d *Dir) putPacked(ctx context.Context, key string, src io.Reader, size int64, known *[32]byte) (Info, bool, error) {
	buf := getRecord(int(recordLen(key, size)))
	defer putRecord(buf)
	rec := *buf
	data := rec[recHeaderLen+len(key):]
	if n, err := io.ReadFull(src, data); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = sizeError(int64(n), size)
		}
		return Info{}, false, err
	}
	if err := atEnd(src, size); err != nil {
		return Info{}, false, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, false, err
	}
	info := Info{Key: key, Size: size}
	if known != nil {
		info.SHA256 = *known
	} else {
		info.SHA256 = sha256.Sum256(data)
	}
	putHeader(rec, kindPut, key, size, &info.SHA256, crc32.Checksum(data, castagnoli))
	e, p, err := d.reserve(key, size)
	if err != nil {
		return Info{}, false, err
	}
	if e == nil {
		err := d.send(&op{kind: opPut, key: key, rec: rec})
		d.inflight.Done()
		if err != nil {
			return Info{}, false, err
		}
		return info, true, nil
	}
	same, err := d.holds(ctx, key, e, p, info)
	if p != nil {
		d.release(p)
	}
	if err != nil {
		return Info{}, false, err
	}
	if !same {
		return Info{}, false, ErrConflict
	}
	return info, false, nil
}

// reserve returns the live entry of key, or else marks key pending for a
// Put of size bytes and returns nil, having registered the Put with
// inflight. With a live entry in a pack it also returns the pack, which
// the caller releases.
func (d *Dir) reserve(key string, size int64) (*entry, *pack, error) {
	for {
		d.mu.Lock()
		if err := d.usable(); err != nil {
			d.mu.Unlock()
			return nil, nil, err
		}
		e := d.ix.get(key)
		if e == nil {
			d.ix.set(key, &entry{size: size, state: statePending, done: make(chan struct{})})
			d.inflight.Add(1)
			d.mu.Unlock()
			return nil, nil, nil
		}
		if e.state != stateLive {
			ch := e.done
			d.mu.Unlock()
			<-ch
			continue
		}
		c := *e // a copy: the entry may move once d.mu is released
		if c.pack != nil {
			c.pack.refs++
		}
		d.mu.Unlock()
		return &c, c.pack, nil
	}
}

// holds reports whether the object stored as e (a copy of key's entry,
// with its pack referenced) is the one info describes.
func (d *Dir) holds(ctx context.Context, key string, e *entry, p *pack, info Info) (bool, error) {
	if p != nil {
		r, err := readHeader(p.f, e.off)
		if err != nil {
			return false, fmt.Errorf("reading the stored object: %w", err)
		}
		if r.key != key {
			return false, fmt.Errorf("reading the stored object: %w at offset %d of %s: holds another key", errBadRecord, e.off, packName(p.id))
		}
		return r.size == info.Size && r.sum == info.SHA256, nil
	}
	f, fi, err := d.openObject(objectPath(key))
	if err != nil {
		return false, err
	}
	defer f.Close()
	if fi.Size() != info.Size {
		return false, nil
	}
	sum, err := hashFile(ctx, f)
	if err != nil {
		return false, err
	}
	return sum == info.SHA256, nil
}

// atEnd checks that src, limited to size+1 bytes, has nothing after the
// size bytes read from it.
func atEnd(src io.Reader, size int64) error {
	var one [1]byte
	switch _, err := io.ReadFull(src, one[:]); {
	case err == nil:
		return sizeError(size+1, size)
	case !errors.Is(err, io.EOF):
		return err
	}
	return nil
}

// putFile stores an object in a file of its own under objects/: written
// to a temporary file, fsynced, renamed into place, its directory fsynced.
func (d *Dir) putFile(ctx context.Context, key string, src io.Reader, size int64, known *[32]byte) (Info, bool, error) {
	e, p, err := d.reserve(key, size)
	if err != nil {
		return Info{}, false, err
	}
	if e != nil {
		defer func() {
			if p != nil {
				d.release(p)
			}
		}()
		return d.putExisting(ctx, key, e, p, src, size, known)
	}
	committed := false
	defer func() {
		d.mu.Lock()
		e := d.ix.get(key)
		if committed {
			e.state = stateLive
		} else {
			d.ix.remove(key)
		}
		close(e.done)
		e.done = nil
		d.mu.Unlock()
		d.inflight.Done()
	}()

	rel := objectPath(key)
	dir := path.Dir(rel)
	tmp, tmpName, err := d.createTemp(dir)
	if err != nil {
		return Info{}, false, err
	}
	renamed := false
	defer func() {
		if renamed {
			return
		}
		tmp.Close() // a second Close after the one below only returns an error
		if err := d.root.Remove(tmpName); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.log.Warn("blob: removing a temporary file; OpenDir will", "path", tmpName, "err", err)
		}
		d.prune(dir)
	}()

	var h hash.Hash
	var w io.Writer = tmp
	if known == nil {
		h = sha256.New()
		w = io.MultiWriter(tmp, h)
	}
	buf := getBuf()
	n, err := io.CopyBuffer(w, src, *buf)
	putBuf(buf)
	if err != nil {
		return Info{}, false, err
	}
	if err := sizeError(n, size); err != nil {
		return Info{}, false, err
	}
	if err := tmp.Sync(); err != nil {
		return Info{}, false, err
	}
	if err := tmp.Close(); err != nil {
		return Info{}, false, err
	}
	if err := ctx.Err(); err != nil {
		return Info{}, false, err
	}
	info := Info{Key: key, Size: size}
	if known != nil {
		info.SHA256 = *known
	} else {
		h.Sum(info.SHA256[:0])
	}
	if err := d.root.Rename(tmpName, rel); err != nil {
		return Info{}, false, err
	}
	renamed = true
	if err := d.syncDir(dir); err != nil {
		// Without the directory entry on stable storage the object is not
		// durable: take it back rather than report it stored.
		if rerr := d.root.Remove(rel); rerr != nil {
			d.log.Warn("blob: removing an object whose directory could not be synced", "key", key, "err", rerr)
		}
		d.prune(dir)
		return Info{}, false, err
	}
	committed = true
	return info, true, nil
}

// putExisting compares what src yields with the object already stored as
// e (a copy of key's entry, with its pack referenced).
func (d *Dir) putExisting(ctx context.Context, key string, e *entry, p *pack, src io.Reader, size int64, known *[32]byte) (Info, bool, error) {
	if e.size != size && p != nil {
		return Info{}, false, ErrConflict
	}
	var stored io.ReaderAt
	if p != nil {
		stored = io.NewSectionReader(p.f, e.off+recHeaderLen+int64(len(key)), e.size)
	} else {
		f, fi, err := d.openObject(objectPath(key))
		if err != nil {
			return Info{}, false, err
		}
		defer f.Close()
		if fi.Size() != size {
			return Info{}, false, ErrConflict
		}
		stored = f
	}
	buf := getBuf()
	defer putBuf(buf)
	half := len(*buf) / 2
	in, have := (*buf)[:half], (*buf)[half:]
	h := sha256.New()
	for off := int64(0); off < size; {
		n := int(min(int64(half), size-off))
		m, err := io.ReadFull(src, in[:n])
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Info{}, false, sizeError(off+int64(m), size)
		}
		if err != nil {
			return Info{}, false, err
		}
		if _, err := stored.ReadAt(have[:n], off); err != nil {
			return Info{}, false, fmt.Errorf("reading the stored object: %w", err)
		}
		if !bytes.Equal(in[:n], have[:n]) {
			return Info{}, false, ErrConflict
		}
		if known == nil {
			h.Write(in[:n])
		}
		off += int64(n)
	}
	if err := atEnd(src, size); err != nil {
		return Info{}, false, err
	}
	info := Info{Key: key, Size: size}
	if known != nil {
		info.SHA256 = *known
	} else {
		h.Sum(info.SHA256[:0])
	}
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

// lookup returns a copy of key's entry if it is visible, with its pack
// referenced (the caller releases it), or ErrNotFound.
func (d *Dir) lookup(key string) (entry, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return entry{}, errClosed
	}
	e := d.ix.get(key)
	if e == nil || !e.visible() {
		return entry{}, ErrNotFound
	}
	if e.pack != nil {
		e.pack.refs++
	}
	return *e, nil
}

// Open implements Store. The Object stays readable after a Delete of its
// key, and after compaction has moved it.
func (d *Dir) Open(ctx context.Context, key string) (Object, error) {
	if !ValidKey(key) {
		return nil, invalidKey(key)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	e, err := d.lookup(key)
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	if p := e.pack; p != nil {
		return &packObject{SectionReader: io.NewSectionReader(p.f, e.off+recHeaderLen+int64(len(key)), e.size), d: d, p: p}, nil
	}
	f, fi, err := d.openObject(objectPath(key))
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	return &dirObject{f: f, size: fi.Size()}, nil
}

// Stat implements Store. For an object in a pack it reads the SHA-256 in
// its record; for one in a file it reads the file to hash it.
func (d *Dir) Stat(ctx context.Context, key string) (Info, error) {
	if !ValidKey(key) {
		return Info{}, invalidKey(key)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("blob: stat %s: %w", key, err)
	}
	e, err := d.lookup(key)
	if err != nil {
		return Info{}, fmt.Errorf("blob: stat %s: %w", key, err)
	}
	if p := e.pack; p != nil {
		r, err := readHeader(p.f, e.off)
		d.release(p)
		if err == nil && (r.key != key || r.size != e.size) {
			err = fmt.Errorf("%w at offset %d of %s: not the record of this key", errBadRecord, e.off, packName(p.id))
		}
		if err != nil {
			return Info{}, fmt.Errorf("blob: stat %s: %w", key, err)
		}
		return Info{Key: key, Size: r.size, SHA256: r.sum}, nil
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

// Delete implements Store. It returns once the removal is durable: for an
// object in a pack, a delete record is written and fsynced (its space is
// freed by compaction); for a file, the file is removed, its directory
// fsynced and the directories left empty removed.
func (d *Dir) Delete(ctx context.Context, key string) error {
	if !ValidKey(key) {
		return invalidKey(key)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	var inPack bool
	for {
		d.mu.Lock()
		if err := d.usable(); err != nil {
			d.mu.Unlock()
			return fmt.Errorf("blob: delete %s: %w", key, err)
		}
		e := d.ix.get(key)
		if e == nil {
			d.mu.Unlock()
			return nil
		}
		if e.state != stateLive {
			ch := e.done
			d.mu.Unlock()
			<-ch
			continue
		}
		e.state, e.done = stateDeleting, make(chan struct{})
		inPack = e.pack != nil
		d.inflight.Add(1)
		d.mu.Unlock()
		break
	}
	defer d.inflight.Done()
	if inPack {
		if err := d.send(&op{kind: opDelete, key: key, rec: tombstone(key)}); err != nil {
			return fmt.Errorf("blob: delete %s: %w", key, err)
		}
		return nil
	}

	rel := objectPath(key)
	dir := path.Dir(rel)
	// Shared, so that no prune removes dir between the two steps.
	d.treeMu.RLock()
	err := d.root.Remove(rel)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil // removed behind the Dir's back
	} else if err == nil {
		err = d.syncDir(dir)
	}
	d.treeMu.RUnlock()
	d.mu.Lock()
	e := d.ix.get(key)
	if err != nil {
		e.state = stateLive
	} else {
		d.ix.remove(key)
	}
	close(e.done)
	e.done = nil
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	d.prune(dir)
	return nil
}

// List implements Store, from the index. A prefix no valid key starts
// with lists nothing.
func (d *Dir) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: list %q: %w", prefix, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, fmt.Errorf("blob: list %q: %w", prefix, errClosed)
	}
	return d.ix.list(prefix), nil
}

// walk adds to keys those of the object files under dir that start with
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

// Record buffers come in size classes from 64 KiB to 8 MiB, pooled;
// larger ones are not.
const (
	recClassMin = 64 << 10
	recClasses  = 8
)

var recPools [recClasses]sync.Pool

// getRecord returns a buffer of n bytes.
func getRecord(n int) *[]byte {
	for c, size := 0, recClassMin; c < recClasses; c, size = c+1, size*2 {
		if n <= size {
			if b, ok := recPools[c].Get().(*[]byte); ok {
				*b = (*b)[:n]
				return b
			}
			b := make([]byte, n, size)
			return &b
		}
	}
	b := make([]byte, n)
	return &b
}

func putRecord(b *[]byte) {
	for c, size := 0, recClassMin; c < recClasses; c, size = c+1, size*2 {
		if cap(*b) == size {
			recPools[c].Put(b)
			return
		}
	}
}
