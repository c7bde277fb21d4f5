//go:build unix

package s3test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// lockFile takes an exclusive flock(2) on path, waiting for it; the
// returned function releases it.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// pause stops p and, where /proc shows it, waits until every thread of it
// has stopped: the signal is delivered asynchronously, and a thread still
// running could answer one more request after pause returned.
func pause(p *os.Process) error {
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		running, err := runningThreads(p.Pid)
		if err != nil || running == 0 {
			return nil // no /proc: the signal is all there is
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d threads still running 5 s after SIGSTOP", running)
		}
		time.Sleep(time.Millisecond)
	}
}

// runningThreads counts the threads of pid that are not stopped, from
// /proc/PID/task/*/stat (the state follows the command's closing paren).
func runningThreads(pid int) (int, error) {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		return 0, fmt.Errorf("no /proc/%d/task", pid)
	}
	n := 0
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue // the thread ended
		}
		i := strings.LastIndexByte(string(b), ')')
		if i >= 0 && i+2 < len(b) && b[i+2] != 'T' && b[i+2] != 't' {
			n++
		}
	}
	return n, nil
}

func resume(p *os.Process) error    { return p.Signal(syscall.SIGCONT) }
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
