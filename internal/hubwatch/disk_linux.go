package hubwatch

import "syscall"

// FreeBytes is the space on dir's filesystem available to the hub, -1 if
// it cannot be read.
func FreeBytes(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
