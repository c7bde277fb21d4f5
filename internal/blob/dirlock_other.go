//go:build !unix

package blob

import "os"

// lockRoot opens the lock file; without flock it does not keep a second
// Dir out. The cloud runs on Unix.
func lockRoot(r *os.Root, name string) (*os.File, error) {
	return r.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
}
