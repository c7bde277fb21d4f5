//go:build unix

package fsutil

import (
	"errors"
	"os"
	"syscall"
)

// LockDir takes an exclusive advisory lock on the file path (created if
// needed) and returns it open: closing it releases the lock. ErrLocked when
// another process holds it.
func LockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, lockErr(path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, lockErr(path, err)
	}
	return f, nil
}
