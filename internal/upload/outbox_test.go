package upload

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"vigil/internal/envelope"
	"vigil/internal/segstore"
)

func (f *fixture) sealKind(kind envelope.Kind, stream string, seq uint64) []byte {
	f.t.Helper()
	start := time.Now()
	sealed, err := envelope.Seal(envelope.Header{Kind: kind, Stream: stream, Sequence: seq, Start: start},
		start, f.key, []byte(`{"v":1}`), f.recip)
	if err != nil {
		f.t.Fatal(err)
	}
	return sealed
}

func (f *fixture) outbox(dir string) *Outbox {
	f.t.Helper()
	o, err := NewOutbox(OutboxConfig{CloudURL: f.cloud.URL(), DeviceID: testDevice, Key: f.key, Dir: dir,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: slog.New(f.log), MaxFiles: 5})
	if err != nil {
		f.t.Fatal(err)
	}
	return o
}

func runOutbox(t *testing.T, o *Outbox) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// TestOutbox: events, snapshots and hub state records reach the cloud in
// order through an outage and a restart; nothing else is queued;
// a refused object is set aside, not retried; a full outbox refuses.
func TestOutbox(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	dir := filepath.Join(f.dir, "outbox")
	o := f.outbox(dir)

	if err := o.Put([]byte("plain text")); err == nil {
		t.Error("the outbox queued bytes that are not sealed")
	}
	if err := o.Put(f.seal("front", 1, time.Now(), 10)); err == nil {
		t.Error("the outbox queued a segment")
	}

	// The cloud is away: objects wait on disk.
	f.cloud.down()
	for i := range 3 {
		if err := o.Put(f.sealKind(envelope.KindEvent, "events", uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Put(f.sealKind(envelope.KindSnapshot, "snapshots", 0)); err != nil {
		t.Fatal(err)
	}
	stop := runOutbox(t, o)
	time.Sleep(150 * time.Millisecond)
	stop()
	if n := o.Stats().Pending; n != 4 {
		t.Fatalf("pending while the cloud is away: %d, want 4", n)
	}
	// Full: MaxFiles is 5.
	if err := o.Put(f.sealKind(envelope.KindState, "states", 3)); err != nil {
		t.Fatal(err)
	}
	if err := o.Put(f.sealKind(envelope.KindEvent, "events", 4)); !errors.Is(err, ErrOutboxFull) {
		t.Errorf("a full outbox: %v, want ErrOutboxFull", err)
	}

	// A new process finds them and sends them once the cloud is back.
	f.cloud.up()
	f.cloud.setFault(func(k objKey) (int, http.Header, string) {
		if k.camera == "events" && k.seq == 1 {
			return http.StatusUnprocessableEntity, nil, "refused for the test"
		}
		return 0, nil, ""
	})
	o2 := f.outbox(dir)
	stop = runOutbox(t, o2)
	defer stop()
	waitFor(t, "the outbox to drain", 10*time.Second, func() bool { return o2.Stats().Pending == 0 })
	if got := f.cloud.stored(); got != 4 {
		t.Errorf("the cloud holds %d objects, want 4 (one refused)", got)
	}
	if s := o2.Stats(); s.Sent != 4 || s.Rejected != 1 {
		t.Errorf("stats %+v, want 4 sent, 1 rejected", s)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "rejected")); len(ents) != 1 {
		t.Errorf("rejected directory holds %d files, want 1", len(ents))
	}
	f.cloud.mu.Lock()
	arr := append([]objKey(nil), f.cloud.arrivals...)
	f.cloud.mu.Unlock()
	// Everything but the refused event, once each, in the order it was put.
	if want := []objKey{{"events", 0}, {"events", 2}, {"snapshots", 0}, {"states", 3}}; !slices.Equal(arr, want) {
		t.Errorf("arrived as %v, want %v", arr, want)
	}
	if f.cloud.attemptsOf(objKey{"events", 1}) != 1 {
		t.Error("a refused object was retried")
	}
}

// TestOutboxLeftovers: a write a crash interrupted leaves a temporary file,
// which is never sent and is removed once it is a minute old.
func TestOutboxLeftovers(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	dir := filepath.Join(f.dir, "outbox")
	o := f.outbox(dir)
	ev := f.sealKind(envelope.KindEvent, "events", 0)
	old, fresh := []string{".tmp-1234", ".00000000000000000001-000001.sealed.tmp"}, ".tmp-5678"
	for _, n := range append(old, fresh) {
		if err := os.WriteFile(filepath.Join(dir, n), ev[:len(ev)/2], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range old {
		at := time.Now().Add(-2 * time.Minute)
		if err := os.Chtimes(filepath.Join(dir, n), at, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Put(ev); err != nil {
		t.Fatal(err)
	}
	if n := o.Stats().Pending; n != 1 {
		t.Errorf("pending: %d, want the one object put", n)
	}
	for _, n := range old {
		if _, err := os.Stat(filepath.Join(dir, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the leftover %s is still there: %v", n, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, fresh)); err != nil {
		t.Errorf("a temporary file younger than a minute (a write in progress) was removed: %v", err)
	}
}

// TestOutboxSoonAfterOutage: with its backoff at a minute, the outbox sends
// its events within seconds of the cloud listening again (the probe).
func TestOutboxSoonAfterOutage(t *testing.T) {
	f := newFixture(t, segstore.Options{})
	o, err := NewOutbox(OutboxConfig{CloudURL: f.cloud.URL(), DeviceID: testDevice, Key: f.key, Dir: filepath.Join(f.dir, "outbox"),
		MinBackoff: time.Minute, MaxBackoff: time.Minute, Logger: slog.New(f.log)})
	if err != nil {
		t.Fatal(err)
	}
	f.cloud.down()
	for i := range 3 {
		if err := o.Put(f.sealKind(envelope.KindEvent, "events", uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	stop := runOutbox(t, o)
	defer stop()
	waitFor(t, "a failed attempt", 5*time.Second, func() bool { return o.Stats().LastError != "" })
	time.Sleep(time.Second)
	f.cloud.up()
	back := time.Now()
	waitFor(t, "the outbox to drain", 10*time.Second, func() bool { return o.Stats().Pending == 0 })
	lag := time.Since(back)
	t.Logf("the outbox drained %v after the cloud's return (backoff was a minute)", lag.Round(time.Millisecond))
	if lag > 5*time.Second {
		t.Errorf("the outbox drained %v after the cloud's return, want within 5 s", lag)
	}
	if got := f.cloud.stored(); got != 3 {
		t.Errorf("the cloud holds %d objects, want 3", got)
	}
}
