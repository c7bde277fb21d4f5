package segstore

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
)

// failWrites returns a WriteFile hook that writes half the data, then fails
// with errno, for the first n calls (n < 0: always).
func failWrites(n int64, errno syscall.Errno) (func(*os.File, []byte) error, *atomic.Int64) {
	var calls atomic.Int64
	return func(f *os.File, data []byte) error {
		c := calls.Add(1)
		if n >= 0 && c > n {
			_, err := f.Write(data)
			return err
		}
		f.Write(data[:len(data)/2])
		return &os.PathError{Op: "write", Path: f.Name(), Err: errno}
	}, &calls
}

func TestENOSPCEvictsOldestAndRetries(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), Options{})
	for seq := range uint64(5) {
		mustPut(t, s, meta("a", seq), sealedBytes(100, 1))
		mustPut(t, s, meta("b", seq), sealedBytes(100, 1))
	}
	// The next write fails with ENOSPC three times, then EDQUOT once.
	hook, calls := failWrites(3, syscall.ENOSPC)
	s.hook.WriteFile = hook
	seg, err := s.Put(ctx, meta("b", 5), sealedBytes(100, 2))
	if err != nil {
		t.Fatalf("Put on a full disk: %v", err)
	}
	if calls.Load() != 4 {
		t.Errorf("%d write attempts, want 4", calls.Load())
	}
	// Globally oldest first: a0, b0, a1 (ties broken by insertion order).
	var kept []string
	for _, sg := range mustList(t, s, Filter{}) {
		kept = append(kept, sg.Camera+string(rune('0'+sg.Seq)))
	}
	if want := []string{"a2", "a3", "a4", "b1", "b2", "b3", "b4", "b5"}; !slices.Equal(kept, want) {
		t.Errorf("kept %v, want %v", kept, want)
	}
	if b, _ := os.ReadFile(seg.Path); len(b) != 100 {
		t.Errorf("stored file has %d bytes, want 100", len(b))
	}
	checkConsistent(t, s)

	hook, _ = failWrites(1, syscall.EDQUOT)
	s.hook.WriteFile = hook
	mustPut(t, s, meta("b", 6), sealedBytes(100, 2))
	if n := len(mustList(t, s, Filter{})); n != 8 {
		t.Errorf("after EDQUOT: %d segments, want 8", n)
	}
	checkConsistent(t, s)

	// Other errors are not retried and evict nothing.
	s.hook.WriteFile = func(*os.File, []byte) error { return syscall.EIO }
	if _, err := s.Put(ctx, meta("b", 7), sealedBytes(100, 2)); !errors.Is(err, syscall.EIO) {
		t.Errorf("Put with EIO: %v", err)
	}
	if n := len(mustList(t, s, Filter{})); n != 8 {
		t.Errorf("after EIO: %d segments, want 8", n)
	}
	checkConsistent(t, s)
}

func TestENOSPCNothingLeftToEvict(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), Options{})
	mustPut(t, s, meta("a", 0), sealedBytes(100, 1))
	mustPut(t, s, meta("b", 0), sealedBytes(100, 1))
	hook, calls := failWrites(-1, syscall.ENOSPC)
	s.hook.WriteFile = hook
	_, err := s.Put(ctx, meta("a", 1), sealedBytes(100, 1))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put with a disk that stays full: %v, want ENOSPC", err)
	}
	t.Logf("error: %v", err)
	if calls.Load() != 3 {
		t.Errorf("%d write attempts, want 3 (initial + one per evicted segment)", calls.Load())
	}
	if n := len(mustList(t, s, Filter{})); n != 0 {
		t.Errorf("%d segments left, want 0", n)
	}
	checkConsistent(t, s)
	// An empty store with a full disk also fails cleanly.
	if _, err := s.Put(ctx, meta("a", 2), sealedBytes(100, 1)); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Put into an empty full store: %v, want ENOSPC", err)
	}
	// Once space is back, recording resumes, and seq numbers were not reused.
	s.hook.WriteFile = nil
	if n, _ := s.NextSeq(ctx, "b"); n != 1 {
		t.Errorf("NextSeq(b) = %d, want 1", n)
	}
	mustPut(t, s, meta("a", 3), sealedBytes(100, 1))
	checkConsistent(t, s)
}

func TestENOSPCOnSync(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	mustPut(t, s, meta("a", 0), sealedBytes(100, 1))
	var fails atomic.Int64
	fails.Store(1)
	s.hook.Sync = func(f *os.File) error {
		if fails.Add(-1) >= 0 {
			return syscall.ENOSPC
		}
		return f.Sync()
	}
	mustPut(t, s, meta("a", 1), sealedBytes(100, 1))
	if got := seqs(mustList(t, s, Filter{})); !slices.Equal(got, []uint64{1}) {
		t.Errorf("kept %v, want [1]", got)
	}
	checkConsistent(t, s)
}
