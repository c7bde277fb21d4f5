package tlog_test

import (
	"context"
	"errors"
	"testing"

	"vigil/internal/tlog"
)

// A witness that was down at an Append cosigns the same checkpoint when the
// log asks again, so a quiet log does not stay short of its quorum.
func TestRecosign(t *testing.T) {
	tl := openLog(t, tlog.NewMemoryStorage(), 2)
	ctx := context.Background()
	tl.append(t, entries(0, 10))
	if asked, err := tl.Recosign(ctx); asked || err != nil {
		t.Fatalf("every witness cosigned; Recosign asked %v, %v", asked, err)
	}
	down := errors.New("down")
	tl.witnesses[1].Fail = func(context.Context) error { return down }
	tl.append(t, entries(10, 5))
	p := tl.policy(t, 2)
	if _, err := p.Verify(tl.Checkpoint()); err == nil {
		t.Fatal("a checkpoint with one of two cosignatures met a quorum of 2")
	}
	if asked, _ := tl.Recosign(ctx); !asked {
		t.Fatal("Recosign did not ask the witness that missed the checkpoint")
	}
	if _, err := p.Verify(tl.Checkpoint()); err == nil {
		t.Fatal("still down, yet the quorum is met")
	}
	tl.witnesses[1].Fail = nil
	if asked, err := tl.Recosign(ctx); !asked || err != nil {
		t.Fatalf("Recosign: %v, %v", asked, err)
	}
	cp, err := p.Verify(tl.Checkpoint())
	if err != nil || cp.N != 15 {
		t.Fatalf("after the witness came back: %+v, %v", cp, err)
	}
	stored, _ := tl.st.Checkpoint(ctx)
	if _, err := p.Verify(stored); err != nil {
		t.Fatalf("the stored checkpoint misses the cosignature: %v", err)
	}
	if asked, _ := tl.Recosign(ctx); asked {
		t.Fatal("Recosign asked again with every cosignature in")
	}
}
