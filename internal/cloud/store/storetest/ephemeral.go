package storetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/cloud/auth"
	"vigil/internal/cloud/store"
)

// The EphemeralStore's clock is the caller's: these tests pass times of
// the suite's fixed clock (Base), never the wall clock.

func testEphemeral(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := At(0)
	if _, err := s.Get(ctx, "k", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of a missing key: %v, want ErrNotFound", err)
	}
	if _, err := s.Take(ctx, "k", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Take of a missing key: %v, want ErrNotFound", err)
	}
	OK(t, s.Delete(ctx, "k"), "Delete of a missing key")

	stored, err := s.PutIfAbsent(ctx, "k", []byte("one"), now, At(time.Minute))
	if err != nil || !stored {
		t.Fatalf("PutIfAbsent of a new key = %v, %v; want stored", stored, err)
	}
	stored, err = s.PutIfAbsent(ctx, "k", []byte("two"), now, At(time.Hour))
	if err != nil || stored {
		t.Fatalf("PutIfAbsent of a taken key = %v, %v; want not stored", stored, err)
	}
	if v, err := s.Get(ctx, "k", now); err != nil || string(v) != "one" {
		t.Errorf("Get = %q, %v; want the first value", v, err)
	}
	// Keys are compared byte for byte: neighbours are other keys.
	for _, other := range []string{"K", "k ", "k/", " k", "kk"} {
		if _, err := s.Get(ctx, other, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%q) with only %q stored: %v, want ErrNotFound", other, "k", err)
		}
	}
	OK(t, s.Delete(ctx, "k"), "Delete")
	if _, err := s.Get(ctx, "k", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}

	// Take gets the value once.
	mustPut(t, s, "t", "taken", now, At(time.Minute))
	if v, err := s.Take(ctx, "t", now); err != nil || string(v) != "taken" {
		t.Errorf("Take = %q, %v", v, err)
	}
	if _, err := s.Take(ctx, "t", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second Take: %v, want ErrNotFound", err)
	}

	// An empty value is an entry, and comes back empty, not nil.
	mustPut(t, s, "empty", "", now, At(time.Minute))
	if v, err := s.Get(ctx, "empty", now); err != nil || v == nil || len(v) != 0 {
		t.Errorf("Get of an empty value = %#v, %v; want non-nil empty", v, err)
	}
	// Binary values round-trip.
	bin := []byte{0, 1, 0xff, 0, 0x80}
	if _, err := s.PutIfAbsent(ctx, "bin", bin, now, At(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, "bin", now); err != nil || !bytes.Equal(v, bin) {
		t.Errorf("Get of binary = %x, %v", v, err)
	}

	// Bad input.
	if _, err := s.PutIfAbsent(ctx, "past", []byte("x"), now, now); err == nil {
		t.Error("PutIfAbsent expiring at now: no error")
	}
	if _, err := s.PutIfAbsent(ctx, "", []byte("x"), now, At(time.Minute)); err == nil {
		t.Error("PutIfAbsent with an empty key: no error")
	}
	long := strings.Repeat("k", store.MaxEphemeralKey+1)
	if _, err := s.PutIfAbsent(ctx, long, []byte("x"), now, At(time.Minute)); !errors.Is(err, store.ErrEphemeralTooBig) {
		t.Errorf("PutIfAbsent with a %d-byte key: %v, want ErrEphemeralTooBig", len(long), err)
	}
	big := make([]byte, store.MaxEphemeralValue+1)
	if _, err := s.PutIfAbsent(ctx, "big", big, now, At(time.Minute)); !errors.Is(err, store.ErrEphemeralTooBig) {
		t.Errorf("PutIfAbsent of %d bytes: %v, want ErrEphemeralTooBig", len(big), err)
	}
	err = s.Update(ctx, "big", now, func([]byte) ([]byte, time.Time, error) { return big, At(time.Minute), nil })
	if !errors.Is(err, store.ErrEphemeralTooBig) {
		t.Errorf("Update to %d bytes: %v, want ErrEphemeralTooBig", len(big), err)
	}
	if _, err := s.Get(ctx, "big", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused Update stored something: %v", err)
	}
}

func mustPut(t *testing.T, s store.Store, key, value string, now, expires time.Time) {
	t.Helper()
	stored, err := s.PutIfAbsent(t.Context(), key, []byte(value), now, expires)
	if err != nil || !stored {
		t.Fatalf("PutIfAbsent(%q) = %v, %v", key, stored, err)
	}
}

// testEphemeralExpiry: an entry is live while its expiry is after the
// caller's now, and missing to every method from then on.
func testEphemeralExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "e", "v", At(0), At(time.Minute))
	if v, err := s.Get(ctx, "e", At(time.Minute-time.Microsecond)); err != nil || string(v) != "v" {
		t.Errorf("Get just before expiry = %q, %v", v, err)
	}
	if _, err := s.Get(ctx, "e", At(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get at expiry: %v, want ErrNotFound", err)
	}
	if _, err := s.Take(ctx, "e", At(time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Take at expiry: %v, want ErrNotFound", err)
	}
	// Expiry is the caller's clock: an earlier now still sees it.
	if _, err := s.Get(ctx, "e", At(0)); err != nil {
		t.Errorf("Get at an earlier now: %v", err)
	}
	err := s.Update(ctx, "e", At(time.Minute), func(cur []byte) ([]byte, time.Time, error) {
		if cur != nil {
			t.Errorf("Update at expiry sees %q, want nil", cur)
		}
		return nil, time.Time{}, nil
	})
	OK(t, err, "Update at expiry")
	// An expired key is free again, with the new value.
	stored, err := s.PutIfAbsent(ctx, "e", []byte("w"), At(time.Minute), At(2*time.Minute))
	if err != nil || !stored {
		t.Fatalf("PutIfAbsent over an expired entry = %v, %v; want stored", stored, err)
	}
	if v, err := s.Get(ctx, "e", At(time.Minute)); err != nil || string(v) != "w" {
		t.Errorf("Get after replacing an expired entry = %q, %v", v, err)
	}
	// Update over an expired entry starts from nil and stores its value.
	mustPut(t, s, "u", "old", At(0), At(time.Second))
	err = s.Update(ctx, "u", At(time.Hour), func(cur []byte) ([]byte, time.Time, error) {
		if cur != nil {
			t.Errorf("Update over an expired entry sees %q", cur)
		}
		return []byte("new"), At(2 * time.Hour), nil
	})
	OK(t, err, "Update over an expired entry")
	if v, err := s.Get(ctx, "u", At(time.Hour)); err != nil || string(v) != "new" {
		t.Errorf("after Update over an expired entry: %q, %v", v, err)
	}
	// Many expired entries do not get in the way of new ones (whether and
	// when they are swept is the implementation's; they are never seen).
	for i := range 50 {
		mustPut(t, s, fmt.Sprintf("sweep/%d", i), "x", At(0), At(time.Second))
	}
	for i := range 50 {
		mustPut(t, s, fmt.Sprintf("sweep/%d", i), "y", At(pruneGap), At(pruneGap+time.Second))
		if v, err := s.Get(ctx, fmt.Sprintf("sweep/%d", i), At(pruneGap)); err != nil || string(v) != "y" {
			t.Fatalf("entry %d after expiry and a new put: %q, %v", i, v, err)
		}
	}
}

// pruneGap is longer than any implementation waits between sweeps.
const pruneGap = 2 * time.Hour

// testEphemeralUpdate: Update's contract, one caller at a time.
func testEphemeralUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := At(0)
	// A missing key: fn sees nil; returning nil writes nothing.
	err := s.Update(ctx, "u", now, func(cur []byte) ([]byte, time.Time, error) {
		if cur != nil {
			t.Errorf("Update of a missing key sees %q", cur)
		}
		return nil, time.Time{}, nil
	})
	OK(t, err, "Update writing nothing")
	if _, err := s.Get(ctx, "u", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Update returning nil stored something: %v", err)
	}
	// Store, then change it.
	OK(t, s.Update(ctx, "u", now, func([]byte) ([]byte, time.Time, error) { return []byte("1"), At(time.Minute), nil }), "Update storing")
	OK(t, s.Update(ctx, "u", now, func(cur []byte) ([]byte, time.Time, error) {
		if string(cur) != "1" {
			t.Errorf("Update sees %q, want 1", cur)
		}
		return []byte("2"), At(time.Hour), nil
	}), "Update changing")
	if v, err := s.Get(ctx, "u", At(30*time.Minute)); err != nil || string(v) != "2" {
		t.Errorf("after Update with a later expiry: %q, %v (the expiry must be the new one)", v, err)
	}
	// An error from fn writes nothing and comes back as it is.
	boom := errors.New("boom")
	err = s.Update(ctx, "u", now, func([]byte) ([]byte, time.Time, error) { return []byte("3"), At(time.Hour), boom })
	if err != boom {
		t.Errorf("Update with fn failing: %v, want fn's error itself", err)
	}
	if v, _ := s.Get(ctx, "u", now); string(v) != "2" {
		t.Errorf("after a failed Update: %q, want 2", v)
	}
	// nil deletes; so does an expiry not after now.
	OK(t, s.Update(ctx, "u", now, func([]byte) ([]byte, time.Time, error) { return nil, At(time.Hour), nil }), "Update deleting")
	if _, err := s.Get(ctx, "u", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Update returning nil kept the entry: %v", err)
	}
	mustPut(t, s, "u", "x", now, At(time.Hour))
	OK(t, s.Update(ctx, "u", now, func([]byte) ([]byte, time.Time, error) { return []byte("y"), now, nil }), "Update expiring")
	if _, err := s.Get(ctx, "u", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Update with an expiry at now kept the entry: %v", err)
	}
	// Entries of PutIfAbsent and Update are the same entries.
	mustPut(t, s, "p", "put", now, At(time.Hour))
	OK(t, s.Update(ctx, "p", now, func(cur []byte) ([]byte, time.Time, error) {
		return append(cur, "+updated"...), At(time.Hour), nil
	}), "Update of a put entry")
	if v, err := s.Take(ctx, "p", now); err != nil || string(v) != "put+updated" {
		t.Errorf("Take after Update = %q, %v", v, err)
	}
}

// testEphemeralTakeRace: of Racers taking one key, exactly one gets it.
func testEphemeralTakeRace(t *testing.T, s store.Store) {
	now := At(0)
	for round := range 5 {
		key := fmt.Sprintf("once/%d", round)
		mustPut(t, s, key, "secret", now, At(time.Minute))
		var won, lost atomic.Int32
		raceOK(t, func(int) error {
			v, err := s.Take(context.Background(), key, now)
			switch {
			case errors.Is(err, store.ErrNotFound):
				lost.Add(1)
			case err != nil:
				return err
			case string(v) != "secret":
				return fmt.Errorf("Take got %q", v)
			default:
				won.Add(1)
			}
			return nil
		})
		if won.Load() != 1 || lost.Load() != Racers-1 {
			t.Fatalf("round %d: %d Takes won, %d lost; want 1 and %d", round, won.Load(), lost.Load(), Racers-1)
		}
	}
}

// testEphemeralPutRace: of Racers claiming one key, exactly one stores,
// and its value is the one kept.
func testEphemeralPutRace(t *testing.T, s store.Store) {
	now := At(0)
	for round := range 5 {
		key := fmt.Sprintf("claim/%d", round)
		if round%2 == 1 { // over an expired entry
			mustPut(t, s, key, "expired", At(-time.Hour), At(-time.Minute))
		}
		var winners sync.Map
		var n atomic.Int32
		raceOK(t, func(i int) error {
			stored, err := s.PutIfAbsent(context.Background(), key, []byte(fmt.Sprint(i)), now, At(time.Minute))
			if stored {
				n.Add(1)
				winners.Store(fmt.Sprint(i), true)
			}
			return err
		})
		if n.Load() != 1 {
			t.Fatalf("round %d: %d PutIfAbsent calls stored, want 1", round, n.Load())
		}
		v, err := s.Get(t.Context(), key, now)
		if _, ok := winners.Load(string(v)); err != nil || !ok {
			t.Errorf("round %d: stored %q, %v; not the winner's value", round, v, err)
		}
	}
}

// testEphemeralUpdateRace: concurrent Updates of one key never lose one
// another's writes: a counter incremented by each ends at their number.
func testEphemeralUpdateRace(t *testing.T, s store.Store) {
	const each = 10
	now := At(0)
	raceOK(t, func(int) error {
		for range each {
			err := s.Update(context.Background(), "counter", now, func(cur []byte) ([]byte, time.Time, error) {
				var n uint64
				if cur != nil {
					if len(cur) != 8 {
						return nil, time.Time{}, fmt.Errorf("counter of %d bytes", len(cur))
					}
					n = binary.BigEndian.Uint64(cur)
				}
				return binary.BigEndian.AppendUint64(nil, n+1), At(time.Minute), nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	v, err := s.Get(t.Context(), "counter", now)
	if err != nil || len(v) != 8 || binary.BigEndian.Uint64(v) != Racers*each {
		t.Fatalf("counter after %d racing increments = %x, %v", Racers*each, v, err)
	}
}

// testEphemeralLimiter runs the cloud's rate limiter over the store: a
// burst is shared by racing callers exactly, failures counted by one
// Limiter hold on another over the same store (two replicas), and an idle
// key leaves nothing behind.
func testEphemeralLimiter(t *testing.T, s store.Store) {
	var clk struct {
		sync.Mutex
		t time.Time
	}
	clk.t = At(0)
	now := func() time.Time { clk.Lock(); defer clk.Unlock(); return clk.t }
	advance := func(d time.Duration) { clk.Lock(); clk.t = clk.t.Add(d); clk.Unlock() }
	cfg := auth.LimiterConfig{Rate: 1, Burst: 5, FreeFailures: 2, BaseBackoff: time.Minute, MaxBackoff: time.Hour, Now: now}
	a := auth.NewLimiter(cfg, s, "limit/")
	b := auth.NewLimiter(cfg, s, "limit/")
	ctx := t.Context()

	// Racers callers, half on each limiter, at one instant: exactly Burst
	// get through.
	var allowed atomic.Int32
	raceOK(t, func(i int) error {
		l := a
		if i%2 == 1 {
			l = b
		}
		okay, wait, err := l.Allow(context.Background(), "198.51.100.7")
		if okay {
			allowed.Add(1)
		} else if wait != time.Second {
			return fmt.Errorf("refused with retry after %v, want 1s", wait)
		}
		return err
	})
	if allowed.Load() != int32(cfg.Burst) {
		t.Errorf("%d of %d racing requests allowed, want the burst of %d", allowed.Load(), Racers, cfg.Burst)
	}
	// Failures on a count on b.
	for range 3 {
		OK(t, a.Fail(ctx, "alice@example.com"), "Fail")
	}
	if okay, wait, err := b.Allow(ctx, "alice@example.com"); okay || wait != time.Minute || err != nil {
		t.Errorf("after 3 failures on one limiter, the other: Allow = %v, %v, %v; want refused for 1m", okay, wait, err)
	}
	advance(time.Minute)
	OK(t, b.Succeed(ctx, "alice@example.com"), "Succeed")
	OK(t, a.Fail(ctx, "alice@example.com"), "Fail after Succeed")
	if okay, _, err := a.Allow(ctx, "alice@example.com"); !okay || err != nil {
		t.Errorf("Succeed on one limiter did not reset the other's count: %v, %v", okay, err)
	}
	// Once the bucket is full again and failures are forgotten, the
	// key starts afresh: a full burst, and the first failure free.
	advance(auth.DefaultForgetFailures + time.Minute)
	for i := range cfg.Burst {
		if okay, _, err := b.Allow(ctx, "198.51.100.7"); !okay || err != nil {
			t.Fatalf("request %d of a fresh burst: %v, %v", i+1, okay, err)
		}
	}
	// One failure was left before; two more would open a window.
	OK(t, a.Fail(ctx, "alice@example.com"), "Fail")
	OK(t, a.Fail(ctx, "alice@example.com"), "Fail")
	if okay, _, err := b.Allow(ctx, "alice@example.com"); !okay || err != nil {
		t.Errorf("failures not forgotten after %v: %v, %v", auth.DefaultForgetFailures, okay, err)
	}
}

// raceOK runs fn as race does and fails t with the first error.
func raceOK(t *testing.T, fn func(i int) error) {
	t.Helper()
	for _, err := range Race(fn) {
		if err != nil {
			t.Fatal(err)
		}
	}
}
