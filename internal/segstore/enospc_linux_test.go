//go:build linux

package segstore

import (
	"context"
	"os"
	"syscall"
	"testing"
)

// TestENOSPCRealFilesystem fills a real 2 MiB tmpfs (store and index on it)
// with 100 KiB segments and no byte limit: every Put must succeed by
// evicting the oldest segments.
func TestENOSPCRealFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("needs root to mount a small tmpfs (euid %d); the FaultHooks ENOSPC tests cover the logic", os.Geteuid())
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2m"); err != nil {
		t.Skipf("cannot mount a 2 MiB tmpfs on %s (%v); the FaultHooks ENOSPC tests cover the logic", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	ctx := context.Background()
	s, err := Open(ctx, dir, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const size, n = 100 << 10, 60
	for seq := range uint64(n) {
		if _, err := s.Put(ctx, meta("cam", seq), sealedBytes(size, byte(seq))); err != nil {
			t.Fatalf("Put %d on a full tmpfs: %v", seq, err)
		}
	}
	segs := mustList(t, s, Filter{})
	if len(segs) == 0 || len(segs) >= n || segs[len(segs)-1].Seq != n-1 {
		t.Fatalf("kept %v; want the newest, fewer than %d", seqs(segs), n)
	}
	// What is kept is the newest, contiguous run.
	for i, sg := range segs {
		if sg.Seq != uint64(n-len(segs)+i) {
			t.Fatalf("kept %v, not the newest contiguous run", seqs(segs))
		}
	}
	var st syscall.Statfs_t
	syscall.Statfs(dir, &st)
	t.Logf("kept %d of %d segments of %d KiB; %d KiB free", len(segs), n, size>>10, st.Bavail*uint64(st.Bsize)>>10)
	checkConsistent(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(ctx, dir, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("reopen on a full tmpfs: %v", err)
	}
	defer s2.Close()
	checkConsistent(t, s2)

	// Another program fills every byte left: the index cannot grow until the
	// store gives it its reserve, and recording must go on.
	filler, err := os.Create(dir + "/filler")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := filler.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	filler.Close()
	for seq := uint64(n); seq < n+10; seq++ {
		if _, err := s2.Put(ctx, meta("cam", seq), sealedBytes(size, byte(seq))); err != nil {
			t.Fatalf("Put %d with the disk filled by another program: %v", seq, err)
		}
	}
	if got := seqs(mustList(t, s2, Filter{})); len(got) == 0 || got[len(got)-1] != n+9 {
		t.Errorf("kept %v after the filler", got)
	}
	os.Remove(dir + "/filler")
	checkConsistent(t, s2)
}
