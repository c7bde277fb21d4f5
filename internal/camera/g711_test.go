package camera

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"vigil/internal/softcam"
	"vigil/internal/vigiltest"
)

// recorderOnly is a Handler without G.711.
type recorderOnly struct {
	mu     sync.Mutex
	tracks Tracks
	frames int
}

func (h *recorderOnly) Start(t Tracks) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tracks = t
	return nil
}
func (h *recorderOnly) Video(int64, [][]byte) { h.mu.Lock(); h.frames++; h.mu.Unlock() }
func (h *recorderOnly) Audio(int64, [][]byte) {}
func (h *recorderOnly) Stop(error)            {}

// withG711 also takes G.711.
type withG711 struct {
	recorderOnly
	payloads, bytes int
	lastPTS         int64
	backwards       int
}

func (h *withG711) G711(pts int64, p []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.payloads > 0 && pts <= h.lastPTS {
		h.backwards++
	}
	h.payloads++
	h.bytes += len(p)
	h.lastPTS = pts
}

// TestG711ToHandler: a camera's PCMU audio goes, packet by packet with
// rising 8 kHz timestamps, to a Handler that takes G.711 (and is not named
// as a recorded codec); a Handler that does not gets the video only.
func TestG711ToHandler(t *testing.T) {
	vigiltest.RequireTool(t, "ffmpeg", "ffmpeg")
	if _, err := os.Stat(softcam.DefaultFile); err != nil {
		t.Fatalf("test footage missing: %v (install it with: apt-get install opencv-doc, or run 'make test')", err)
	}
	cam := vigiltest.StartSoftcam(t, softcam.Config{Listen: "127.0.0.1:0", Paths: []string{"door"}, Audio: softcam.AudioPCMU})

	run := func(h Handler, done func() bool) {
		t.Helper()
		in, err := New(Config{Name: "door", URL: cam.URL("door"), Transport: "tcp", ReadTimeout: 5 * time.Second,
			Logger: vigiltest.Logger(t)}, h)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- in.Run(ctx) }()
		deadline := time.Now().Add(20 * time.Second)
		for !done() && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		<-errc
	}

	g := &withG711{}
	run(g, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.payloads >= 50 && g.frames > 0 })
	g.mu.Lock()
	if g.tracks.G711 != "PCMU" || g.tracks.Audio != nil {
		t.Errorf("tracks: G711 %q, recorded audio %v; want PCMU, none", g.tracks.G711, g.tracks.Audio)
	}
	if g.payloads < 50 || g.bytes != 160*g.payloads || g.backwards != 0 {
		t.Errorf("%d payloads, %d bytes, %d timestamps going back; want >= 50 of 160 bytes, rising", g.payloads, g.bytes, g.backwards)
	}
	g.mu.Unlock()

	r := &recorderOnly{}
	run(r, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.frames >= 10 })
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tracks.G711 != "" || r.frames < 10 {
		t.Errorf("a Handler without G.711: tracks.G711 %q, %d frames", r.tracks.G711, r.frames)
	}
}
