package history

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSequenced: a Sequenced publisher only makes records durable; the
// log grows only while a Sequence runs, which a fresh log (another
// replica's term) continues; nothing is appended once its context ends,
// nor by the publisher's Close.
func TestSequenced(t *testing.T) {
	w := newWorld(t)
	w.pub.Close()
	var err error
	w.pub, err = NewPublisher(w.ctx, PublisherConfig{Store: w.store, Now: w.clock.Now, Sequenced: true,
		Household: func(ctx context.Context, id string) (Household, error) {
			return Household{Genesis: w.gen, Epoch: uint32(w.st.Epoch), Recipient: w.st.EpochRecipient()}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.pub.Close()
	pending := func() int {
		t.Helper()
		p, err := w.store.Pending(w.ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(p)
	}
	size0 := w.log.Size()
	for i := range 3 {
		w.read("a1", "obj"+string(rune('0'+i)))
	}
	time.Sleep(2 * SequenceEvery)
	if n := pending(); n != 3 || w.log.Size() != size0 {
		t.Fatalf("without a Sequence: %d pending, log size %d; want 3 and %d", n, w.log.Size(), size0)
	}
	short, cancel := context.WithTimeout(w.ctx, 100*time.Millisecond)
	if err := w.pub.Sync(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Sync without a Sequence: %v, want to wait until its deadline", err)
	}
	cancel()

	term := func() (stop func()) {
		ctx, cancel := context.WithCancel(w.ctx)
		done := make(chan error, 1)
		go func() {
			done <- Sequence(ctx, PublisherConfig{Log: w.log, LogStorage: w.storage, Store: w.store, Now: w.clock.Now,
				Household: func(context.Context, string) (Household, error) { return Household{}, errors.New("unused") }})
		}()
		return func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Sequence: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Sequence did not return after its context ended")
			}
		}
	}
	stop := term()
	if err := w.pub.Sync(w.ctx); err != nil {
		t.Fatal(err)
	}
	if n := pending(); n != 0 || w.log.Size() != size0+3 {
		t.Fatalf("after a Sequence: %d pending, log size %d", n, w.log.Size())
	}
	stop()

	w.read("a1", "later")
	time.Sleep(2 * SequenceEvery)
	if n := pending(); n != 1 {
		t.Fatalf("after the Sequence ended: %d pending, want 1", n)
	}
	// Another term, on a log opened afresh from the same storage.
	w.openLog()
	stop = term()
	if err := w.pub.Sync(w.ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	if n := pending(); n != 0 || w.log.Size() != size0+4 {
		t.Fatalf("after the second term: %d pending, log size %d", n, w.log.Size())
	}
	if recs := w.records(); len(recs) != 4 || recs[3].Object != "later" {
		t.Fatalf("records: %+v", recs)
	}

	w.read("a1", "at close")
	if err := w.pub.Close(); err != nil {
		t.Fatal(err)
	}
	if n := pending(); n != 1 {
		t.Errorf("after Close: %d pending, want the one recorded (a Sequenced publisher never appends)", n)
	}
}
