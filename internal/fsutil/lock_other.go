//go:build !unix

package fsutil

import "os"

// LockDir opens the lock file; without flock it does not exclude other
// processes (Vigil's hubs, clouds and witnesses run on Unix).
func LockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, lockErr(path, err)
	}
	return f, nil
}
