//go:build !linux

package bench

import "time"

// onThreadCPU runs f and returns the wall time it took: this platform has
// no per-thread CPU clock here.
func onThreadCPU(f func()) time.Duration {
	t0 := time.Now()
	f()
	return time.Since(t0)
}
