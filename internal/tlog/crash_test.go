package tlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"vigil/internal/tlog"
)

var errInjected = errors.New("injected storage failure")

// afterFault performs the k-th write and then reports it failed (a write
// that reached the disk but whose acknowledgement was lost).
type afterFault struct {
	*tlog.MemoryStorage
	k, count atomic.Int64
}

func (s *afterFault) hit() bool { return s.count.Add(1) == s.k.Load() }

func (s *afterFault) PutTile(ctx context.Context, p string, data []byte) error {
	if err := s.MemoryStorage.PutTile(ctx, p, data); err != nil {
		return err
	}
	if s.hit() {
		return errInjected
	}
	return nil
}

func (s *afterFault) SwapCheckpoint(ctx context.Context, old, next []byte) error {
	if err := s.MemoryStorage.SwapCheckpoint(ctx, old, next); err != nil {
		return err
	}
	if s.hit() {
		return errInjected
	}
	return nil
}

// A storage that fails at each write of an Append in turn (before or after
// doing it) leaves a log that opens to the previous checkpoint (or, when
// the checkpoint itself was stored, the new one), accepts the same batch
// again without duplicating it, accepts another batch after whatever the
// failed one left stored, and stays consistent for a client that followed
// it from before the failure.
func TestCrashAtEveryWrite(t *testing.T) {
	ctx := context.Background()
	const base = 250
	for _, size := range []int64{3, 600} {
		batch := entries(base, size)
		other := make([][]byte, 5)
		for i := range other {
			other[i] = []byte(fmt.Sprintf("other entry %d", i))
		}
		more := [][]byte{[]byte("more 1"), []byte("more 2")}
		for _, after := range []bool{false, true} {
			for _, reopen := range []bool{false, true} {
				for _, same := range []bool{true, false} {
					name := fmt.Sprintf("batch%d/after=%v/reopen=%v/same=%v", size, after, reopen, same)
					t.Run(name, func(t *testing.T) {
						writes := 0
						for k := int64(1); ; k++ {
							mem := tlog.NewMemoryStorage()
							af := &afterFault{MemoryStorage: mem}
							var st tlog.Storage = mem
							if after {
								st = af
							}
							tl := openLog(t, st, 1)
							tl.append(t, entries(0, base))
							prev := tl.Checkpoint()
							p := tl.policy(t, 1)
							c, err := tlog.NewClient(p, tlog.StorageFetcher{Storage: st}, nil)
							if err != nil {
								t.Fatal(err)
							}
							if _, err := c.Update(ctx); err != nil {
								t.Fatal(err)
							}

							var count atomic.Int64
							if after {
								af.count.Store(0)
								af.k.Store(k)
							} else {
								mem.Fail = func(op, path string) error {
									if (op == tlog.OpPutTile || op == tlog.OpSwapCheckpoint) && count.Add(1) == k {
										return errInjected
									}
									return nil
								}
							}
							_, err = tl.Append(ctx, batch)
							mem.Fail = nil
							af.k.Store(0)
							if err == nil {
								writes = int(k - 1)
								break
							}
							if !errors.Is(err, errInjected) {
								t.Fatalf("write %d failed with %v, want the injected failure", k, err)
							}
							swapStored := false
							if reopen {
								tl.Close()
								tl.reopen(t)
								swapStored = !bytes.Equal(tl.Checkpoint(), prev)
								if !after && swapStored {
									t.Fatalf("write %d: reopened at size %d, want the previous checkpoint", k, tl.Size())
								}
							}
							next := other
							if same {
								next = batch
							}
							start, err := tl.Append(ctx, next)
							if err != nil {
								t.Fatalf("write %d: the append after the failure: %v", k, err)
							}
							if _, err := tl.Append(ctx, more); err != nil {
								t.Fatal(err)
							}
							// What the failed append left: X, a prefix of batch.
							x := int(start - base)
							if x < 0 || x > len(batch) {
								t.Fatalf("write %d: next batch at %d", k, start)
							}
							if same && !after && x != 0 {
								t.Fatalf("write %d: retrying the same batch after a failure duplicated %d entries", k, x)
							}
							if same && x != 0 && x != len(batch) {
								t.Fatalf("write %d: retrying the same batch kept %d of its entries twice", k, x)
							}
							if swapStored && x != len(batch) {
								t.Fatalf("write %d: the stored checkpoint had the whole batch, the log kept %d", k, x)
							}
							want := append(append(append(entries(0, base), batch[:x]...), next...), more...)
							cp, err := c.Update(ctx)
							if err != nil {
								t.Fatalf("write %d: a client from before the failure: %v", k, err)
							}
							if cp.N != int64(len(want)) {
								t.Fatalf("write %d: size %d, want %d", k, cp.N, len(want))
							}
							if cp.Hash != rootOf(want) {
								t.Fatalf("write %d: the root is not that of the entries expected", k)
							}
							for _, i := range []int{base - 1, base, base + x, len(want) - 1} {
								if got, err := c.Entry(ctx, int64(i)); err != nil || !bytes.Equal(got, want[i]) {
									t.Fatalf("write %d: Entry(%d) = %q, %v; want %q", k, i, got, err, want[i])
								}
							}
						}
						if writes < 3 {
							t.Fatalf("the batch took %d writes; the test covered nothing", writes)
						}
					})
				}
			}
		}
	}
}
