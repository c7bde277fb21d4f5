package segstore

import (
	"context"
	"errors"
	"testing"
)

// TestOpenReadOnlyWhileRecording: a reader (vigil recordings list/export)
// sees what the writer committed, without taking the lock, and cannot write.
func TestOpenReadOnlyWhileRecording(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := OpenReadOnly(ctx, dir, Options{}); err == nil {
		t.Fatal("read-only open of an empty directory succeeded")
	}
	w := openStore(t, dir, Options{})
	mustPut(t, w, meta("front", 0), sealedBytes(1000, 1))

	r, err := OpenReadOnly(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mustPut(t, w, meta("front", 1), sealedBytes(1000, 2))
	if got := mustList(t, r, Filter{Camera: "front"}); len(got) != 2 {
		t.Fatalf("reader sees %d segments, want 2 (including one committed after it opened)", len(got))
	}
	if _, err := r.Put(ctx, meta("front", 2), sealedBytes(10, 3)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Put on a read-only store: %v", err)
	}
	if err := r.AddGap(ctx, Gap{Camera: "front", Start: baseTime(), End: baseTime().Add(1), Reason: "x"}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("AddGap on a read-only store: %v", err)
	}
	if _, err := r.Enforce(ctx); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Enforce on a read-only store: %v", err)
	}
	checkConsistent(t, w)
}
