package segstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// moveRowToGarbage does what the first step of a delete does (the row moves
// to garbage in one transaction); a crash right after it is simulated by not
// doing the rest.
func moveRowToGarbage(t *testing.T, s *Store, seg Segment) {
	t.Helper()
	vs, err := s.selectVictims(context.Background(), `SELECT `+victimCols+` FROM segments WHERE id = ?`, seg.ID)
	if err != nil || len(vs) != 1 {
		t.Fatalf("select %d: %v", seg.ID, err)
	}
	if _, err := s.moveToGarbage(context.Background(), vs); err != nil {
		t.Fatal(err)
	}
	s.addUsage(seg.Camera, -seg.Bytes, -1)
}

func TestRecoveryOrphans(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	seg := mustPut(t, s, meta("front", 0), sealedBytes(10, 1))
	mustPut(t, s, meta("front", 1), sealedBytes(10, 2))
	s.Close()

	camDir := filepath.Dir(seg.Path)
	// Crash after the file of seq 2 was written (and synced), before its row.
	orphan := filepath.Join(camDir, filepath.Base(segmentRel(meta("front", 2))))
	// A camera whose first segment was being written: new directory, no rows.
	newCam := filepath.Join(dir, segmentsDir, cameraDir("new"))
	other := []string{
		orphan,
		filepath.Join(camDir, "3-123.vseg.tmp"),
		filepath.Join(dir, segmentsDir, "x.tmp"),
		filepath.Join(newCam, filepath.Base(segmentRel(meta("new", 0)))),
	}
	if err := os.MkdirAll(newCam, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range other {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Files the store does not own are left alone.
	foreign := filepath.Join(camDir, "README")
	if err := os.WriteFile(foreign, nil, 0o600); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, dir, Options{})
	if got := s2.Recovery(); got != (Recovery{OrphansRemoved: 4}) {
		t.Errorf("Recovery = %+v, want 4 orphans removed", got)
	}
	for _, p := range other {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", p, err)
		}
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("foreign file removed: %v", err)
	}
	os.Remove(foreign)
	if got := seqs(mustList(t, s2, Filter{})); !slices.Equal(got, []uint64{0, 1}) {
		t.Errorf("segments after recovery: %v", got)
	}
	checkConsistent(t, s2)
	// The interrupted seq can be written again.
	mustPut(t, s2, meta("front", 2), sealedBytes(10, 3))
	checkConsistent(t, s2)
}

func TestRecoveryGarbage(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	var segs []Segment
	for seq := range uint64(4) {
		segs = append(segs, mustPut(t, s, meta("front", seq), sealedBytes(10, byte(seq))))
	}
	// Crash after the row moved to garbage, before the unlink: file present.
	moveRowToGarbage(t, s, segs[0])
	// Crash after the unlink, before the garbage row was dropped: file gone.
	moveRowToGarbage(t, s, segs[1])
	if err := os.Remove(segs[1].Path); err != nil {
		t.Fatal(err)
	}
	// A real delete whose unlink fails (through the fault hook).
	s.hook.Remove = func(string) error { return syscall.EIO }
	s.evictMu.Lock()
	vs, _ := s.selectVictims(context.Background(), `SELECT `+victimCols+` FROM segments WHERE id = ?`, segs[2].ID)
	if n, _, err := s.evict(context.Background(), vs, "test"); n != 1 || err != nil {
		t.Fatalf("evict with failing unlink: %d, %v", n, err)
	}
	s.evictMu.Unlock()
	if _, err := os.Stat(segs[2].Path); err != nil {
		t.Fatalf("file of failed unlink: %v", err)
	}
	// Garbage stays invisible.
	if got := seqs(mustList(t, s, Filter{})); !slices.Equal(got, []uint64{3}) {
		t.Errorf("List with pending garbage: %v", got)
	}
	// NextSeq accounts for garbage.
	if n, _ := s.NextSeq(context.Background(), "front"); n != 4 {
		t.Errorf("NextSeq = %d, want 4", n)
	}
	s.Close()

	s2 := openStore(t, dir, Options{})
	if got := s2.Recovery(); got != (Recovery{GarbageFinished: 3}) {
		t.Errorf("Recovery = %+v, want 3 garbage finished", got)
	}
	for _, sg := range segs[:3] {
		if _, err := os.Stat(sg.Path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("garbage file %s still there: %v", sg.Path, err)
		}
	}
	checkConsistent(t, s2)
}

func TestRecoveryGarbageRetriedByEnforce(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	seg := mustPut(t, s, meta("front", 0), sealedBytes(10, 1))
	mustPut(t, s, meta("front", 1), sealedBytes(10, 1))
	moveRowToGarbage(t, s, seg)
	if _, err := s.Enforce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(seg.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pending garbage not finished by Enforce: %v", err)
	}
	checkConsistent(t, s)
}

func TestRecoveryMissingFiles(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	a0 := mustPut(t, s, meta("a", 0), sealedBytes(10, 1))
	mustPut(t, s, meta("a", 1), sealedBytes(10, 1))
	b0 := mustPut(t, s, meta("b", 0), sealedBytes(10, 1))
	s.Close()
	if err := os.Remove(a0.Path); err != nil {
		t.Fatal(err)
	}
	// Camera b's whole directory is gone.
	if err := os.RemoveAll(filepath.Dir(b0.Path)); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir, Options{})
	if got := s2.Recovery(); got != (Recovery{MissingRows: 2}) {
		t.Errorf("Recovery = %+v, want 2 missing rows", got)
	}
	if got := mustList(t, s2, Filter{}); len(got) != 1 || got[0].Camera != "a" || got[0].Seq != 1 {
		t.Errorf("after recovery: %+v", got)
	}
	if total, _ := s2.Usage(); total != 10 {
		t.Errorf("Usage total = %d, want 10", total)
	}
	checkConsistent(t, s2)
	// Seq numbers are not reused after the rows were dropped.
	if n, _ := s2.NextSeq(context.Background(), "b"); n != 1 {
		t.Errorf("NextSeq(b) = %d, want 1", n)
	}
	mustPut(t, s2, meta("b", 1), sealedBytes(10, 1))
	checkConsistent(t, s2)
}

// A damaged or tampered index must never make the store delete files
// outside its directory.
func TestRecoveryRefusesPathsOutsideStore(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "store")
	victim := filepath.Join(root, "precious")
	if err := os.WriteFile(victim, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir, Options{})
	mustPut(t, s, meta("a", 0), sealedBytes(10, 1))
	for i, p := range []string{"../precious", "segments/../../precious", victim} {
		if _, err := s.db.Exec(`INSERT INTO garbage (id, camera, seq, path, bytes, moved_ns) VALUES (?, 'a', 9, ?, 1, 0)`,
			1000+i, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.db.Exec(`INSERT INTO segments (camera, seq, start_ns, end_ns, duration_ns, bytes, codec, keyframes, frames, path, created_ns)
		VALUES ('a', 5, 1, 2, 1, 7, 'H264', 0, 0, '../precious', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openStore(t, dir, Options{})
	if got := s2.Recovery(); got.GarbageFinished != 3 || got.MissingRows != 1 {
		t.Errorf("Recovery = %+v", got)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "keep me" {
		t.Fatalf("file outside the store touched: %q, %v", b, err)
	}
	checkConsistent(t, s2)
}
