// Package fsutil writes files so that a crash leaves either the old or the
// new content, locks directories to one process, and paces group commits.
//
// What it owns: the one atomic write (temporary file in the same directory,
// fsync, rename or hard link, fsync of the directory), the one
// directory lock the hub, the witness and the key files use, and
// CommitDelay, the wait for company of the cloud's group commits (the blob
// directory's packs and SQLite's object index). What it must
// never do: leave a partial file under the final name (except on a file
// system without hard links, for WriteNew, where a crash mid-write can
// leave a short file that fails to parse rather than one that is used).
package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrLocked is returned by LockDir when another process holds the lock.
var ErrLocked = errors.New("fsutil: locked by another process")

// WriteFile replaces path with data (mode for a new file): written to a
// temporary file in the same directory, fsynced, renamed over path, and the
// directory fsynced. The directory is created (0700) if missing.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	return write(path, data, mode, false, os.Link)
}

// WriteNew is WriteFile that never replaces a file: it fails with an error
// wrapping fs.ErrExist when path exists.
func WriteNew(path string, data []byte, mode os.FileMode) error {
	return write(path, data, mode, true, os.Link)
}

func write(path string, data []byte, mode os.FileMode, exclusive bool, link func(string, string) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if exclusive {
		err = link(tmp, path)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			// File systems without hard links (FAT, exFAT, some network
			// shares): create the final name exclusively instead.
			return writeExclusive(path, data, mode)
		}
	} else {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return err
	}
	return SyncDir(dir)
}

func writeExclusive(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory, so that a rename or a new name in it
// survives a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// lockErr names the lock file in an error.
func lockErr(path string, err error) error { return fmt.Errorf("lock %s: %w", path, err) }
