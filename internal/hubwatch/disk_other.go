//go:build !linux

package hubwatch

// FreeBytes is the space on dir's filesystem available to the hub; -1:
// this platform's is not read.
func FreeBytes(dir string) int64 { return -1 }
