//go:build unix

package blob

import (
	"errors"
	"os"
	"syscall"
)

// lockRoot takes an exclusive advisory lock on the file name in r (created
// if needed); ErrLocked if another open file holds it.
func lockRoot(r *os.Root, name string) (*os.File, error) {
	f, err := r.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return f, nil
}
