//go:build !unix

package witness

import (
	"fmt"
	"os"
)

// lockDir opens the lock file; without flock it does not exclude other
// processes. Run one witness per state directory.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	return f, nil
}
