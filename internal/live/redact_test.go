package live

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"vigil/internal/keydir"
)

// redactWatch watches "front" with keys and a redact channel.
func redactWatch(t *testing.T, hub *Hub, hh *household, keys *keydir.DeviceKeys) *Watch {
	t.Helper()
	cfg := viewer(hh, keys)
	cfg.Redact = true
	w, err := StartWatch(context.Background(), cfg, direct(hub))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// invert is the test's redaction: every byte inverted, so the test knows
// what must come back, and a report with the input's digest, so it knows
// what arrived.
func invert(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = ^c
	}
	return out
}

func digest(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d entries left in the redaction directory: %s", len(ents), ents[0].Name())
		}
	}
}

// TestLiveRedactChannel: a member's clip crosses the redact channel whole
// (several chunks, not a multiple of a chunk), the hub's RedactFunc gets
// exactly those bytes with keep_audio as asked, its progress reaches the
// viewer, its output comes back byte for byte, and nothing stays in the
// hub's directory. A failure comes back as the function said it and the
// channel takes the next clip; a size out of bounds, a hub without a
// redactor and a device removed from the chain are refused before a byte
// is stored; the hub redacts one clip at a time.
func TestLiveRedactChannel(t *testing.T) {
	hh := newHousehold(t)
	dir := t.TempDir()
	var mu sync.Mutex
	chain := hh.st
	release := make(chan struct{})
	hub, _ := startHubWith(t, hh, func(c *HubConfig) {
		c.Chain = func() *keydir.State { mu.Lock(); defer mu.Unlock(); return chain }
		c.RedactDir = dir
		c.MaxRedactClip = 2 << 20
		c.Redact = func(ctx context.Context, job RedactJob) (any, error) {
			in, err := os.ReadFile(job.In)
			if err != nil {
				return nil, err
			}
			if string(in) == "fail" {
				return nil, errors.New("no video stream in the clip: send an MP4")
			}
			if string(in) == "wait" {
				select {
				case <-release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			job.Progress(1, 2)
			time.Sleep(600 * time.Millisecond)
			job.Progress(2, 2)
			out := invert(in)
			if len(in) > 1000 {
				out = append(out, out...) // larger than what came in
			}
			if err := os.WriteFile(job.Out, out, 0o600); err != nil {
				return nil, err
			}
			return map[string]any{"sha256": digest(in), "keep_audio": job.KeepAudio, "device": job.Device}, nil
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	member := redactWatch(t, hub, hh, hh.member)

	clip := make([]byte, 5*RedactChunk+1234)
	rand.Read(clip)
	var progress []int
	out, rep, err := member.Redact(ctx, clip, true, func(done, total int) { progress = append(progress, done) })
	if err != nil {
		t.Fatal(err)
	}
	want := invert(clip)
	want = append(want, want...)
	if !bytes.Equal(out, want) {
		t.Fatalf("the redacted clip came back as %d bytes, not the function's %d", len(out), len(want))
	}
	var r struct {
		SHA256    string `json:"sha256"`
		KeepAudio bool   `json:"keep_audio"`
		Device    string
	}
	if err := json.Unmarshal(rep, &r); err != nil || r.SHA256 != digest(clip) || !r.KeepAudio || r.Device != hh.member.ID() {
		t.Fatalf("report %s (%v): the function did not get the clip as sent", rep, err)
	}
	if len(progress) == 0 {
		t.Error("no progress reached the viewer")
	}
	emptyDir(t, dir)

	// A failure, then the next clip on the same channel.
	if _, _, err := member.Redact(ctx, []byte("fail"), false, nil); err == nil || !strings.Contains(err.Error(), "no video stream") {
		t.Errorf("a failed redaction: %v", err)
	}
	emptyDir(t, dir)
	if out, _, err := member.Redact(ctx, []byte("short"), false, nil); err != nil || !bytes.Equal(out, invert([]byte("short"))) {
		t.Errorf("the clip after a failure: %q, %v", out, err)
	}

	// Out of bounds: refused before anything is stored.
	for _, size := range []int{0, 2<<20 + 1} {
		_, _, err := member.Redact(ctx, make([]byte, size), false, nil)
		if err == nil || !strings.Contains(err.Error(), "1 to 2097152 bytes") {
			t.Errorf("a clip of %d bytes: %v", size, err)
		}
	}

	// One clip at a time per hub: a second member's begin is refused while
	// the first runs, and taken after it ends.
	other := redactWatch(t, hub, hh, hh.admin)
	first := make(chan error, 1)
	go func() { _, _, err := member.Redact(ctx, []byte("wait"), false, nil); first <- err }()
	for {
		_, _, err := other.Redact(ctx, []byte("x"), false, nil)
		if err != nil && strings.Contains(err.Error(), "redacting another clip") {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // the first has not begun yet
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if _, _, err := other.Redact(ctx, []byte("x"), false, nil); err != nil {
		t.Errorf("after the first ended: %v", err)
	}

	// A member removed from the chain is refused at its next clip.
	mu.Lock()
	st := *chain
	st.Devices = map[string]keydir.DeviceKey{}
	for id, d := range chain.Devices {
		if id != hh.member.ID() {
			st.Devices[id] = d
		}
	}
	chain = &st
	mu.Unlock()
	if _, _, err := member.Redact(ctx, []byte("x"), false, nil); err == nil || !strings.Contains(err.Error(), "no longer in the household") {
		t.Errorf("a removed member: %v", err)
	}
	emptyDir(t, dir)
}

// TestLiveRedactCancel: a viewer that gives up cancels the hub's job (its
// context ends), a hub closing waits for the job to return, and neither
// leaves a file behind. A hub without a redactor refuses.
func TestLiveRedactCancel(t *testing.T) {
	hh := newHousehold(t)
	dir := t.TempDir()
	started := make(chan struct{}, 2)
	returned := make(chan struct{}, 2)
	hub, _ := startHubWith(t, hh, func(c *HubConfig) {
		c.RedactDir = dir
		c.Redact = func(ctx context.Context, job RedactJob) (any, error) {
			defer func() { returned <- struct{}{} }()
			started <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		}
	})
	w := redactWatch(t, hub, hh, hh.member)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, _, err := w.Redact(ctx, []byte("clip"), false, nil); done <- err }()
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled redaction: %v", err)
	}
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("the hub's job did not end when the viewer cancelled")
	}
	emptyDir(t, dir)

	go func() { _, _, err := w.Redact(context.Background(), []byte("clip"), false, nil); done <- err }()
	<-started
	hub.Close()
	select {
	case <-returned:
	default:
		t.Fatal("Close returned while a redaction was running")
	}
	emptyDir(t, dir)

	plain, _ := startHubWith(t, hh, nil)
	w2 := redactWatch(t, plain, hh, hh.member)
	tctx, tcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer tcancel()
	if _, _, err := w2.Redact(tctx, []byte("clip"), false, nil); err == nil || !strings.Contains(err.Error(), "does not redact") {
		t.Errorf("a hub without a redactor: %v", err)
	}
}
