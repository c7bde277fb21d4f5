package hubd

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"vigil/internal/config"
	"vigil/internal/envelope"
	"vigil/internal/keydir"
	"vigil/internal/recordings"
	"vigil/internal/segstore"
	"vigil/internal/vigiltest"
)

// household makes a fresh household identity and its recipient string.
func household(t *testing.T) (*envelope.X25519Identity, string) {
	t.Helper()
	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id, id.Recipient().String()
}

func hubConfig(t *testing.T, recipient string, cams map[string]string, segDur time.Duration) *config.Hub {
	t.Helper()
	cfg := &config.Hub{Data: t.TempDir(), Recipients: []string{recipient}, SegmentDuration: config.Duration(segDur)}
	for _, name := range sortedKeys(cams) {
		cfg.Cameras = append(cfg.Cameras, config.Camera{Name: name, URL: cams[name], Transport: "tcp"})
	}
	cfg.ApplyDefaults()
	return cfg
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

func startHub(t *testing.T, cfg *config.Hub, opts Options) *Hub {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = vigiltest.Logger(t).With("component", "hub")
	}
	opts.MinBackoff = 100 * time.Millisecond
	opts.MaxBackoff = time.Second
	h, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() }) // Close is idempotent; tests close earlier when they need to
	return h
}

func statsOf(h *Hub, cam string) CameraStats {
	for _, s := range h.Stats() {
		if s.Camera == cam {
			return s
		}
	}
	return CameraStats{}
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRecordExportEndToEnd: software camera -> hub -> 20 s recorded ->
// export with the household identity -> ffprobe reads H.264 of ~20 s whose
// frame count matches what the camera sent. Export without the identity
// fails and writes nothing. Then G9: no byte of the data directory is media
// in the clear.
func TestRecordExportEndToEnd(t *testing.T) {
	t.Parallel()
	id, rcpt := household(t)
	cam := vigiltest.StartCamera(t, "127.0.0.1:0", "front")
	cfg := hubConfig(t, rcpt, map[string]string{"front": cam.URL("front")}, 4*time.Second)
	h := startHub(t, cfg, Options{})

	waitFor(t, "the camera to connect", 15*time.Second, func() bool { return statsOf(h, "front").Ingest.Connected })
	// 20 s of recording plus the wait for the first keyframe.
	want := uint64(21 * cam.Info().FPS)
	waitFor(t, "21 s of frames", 40*time.Second, func() bool { return statsOf(h, "front").FramesIn >= want })

	// Stop the camera first so every frame it sent reaches the hub, then
	// the hub, which seals the open segment.
	cam.Close()
	var sent, decodable uint64
	for _, p := range cam.Stats() {
		for _, s := range append(p.Sessions, p.ClosedSessions...) {
			sent += s.Frames
			decodable += s.DecodableFrames
		}
	}
	waitFor(t, "the hub to see the camera go", 10*time.Second, func() bool { return !statsOf(h, "front").Ingest.Connected })
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	st := statsOf(h, "front")
	t.Logf("camera sent %d frames (%d decodable); hub got %d, recorded %d in %d segments, dropped %d (%d before the first keyframe)",
		sent, decodable, st.FramesIn, st.FramesRecorded, st.Segments, st.FramesDropped, st.WaitingKey)
	if st.FramesRecorded != decodable {
		t.Errorf("recorded %d frames, the camera sent %d decodable frames", st.FramesRecorded, decodable)
	}
	if st.FramesDropped != st.WaitingKey {
		t.Errorf("dropped %d frames after the first keyframe", st.FramesDropped-st.WaitingKey)
	}

	store, err := segstore.OpenReadOnly(context.Background(), cfg.Data, segstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	segs, err := store.List(context.Background(), segstore.Filter{Camera: "front"})
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 5 {
		t.Fatalf("only %d segments for 20 s at 4 s", len(segs))
	}
	for i := 1; i < len(segs); i++ {
		if segs[i].Keyframes < 1 {
			t.Errorf("segment %d has no keyframe", segs[i].Seq)
		}
	}
	recorded := segs[len(segs)-1].End.Sub(segs[0].Start)

	hubKey, err := keydir.ReadSignerPublic(cfg.Data)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "clip.mp4")
	es, err := recordings.ExportFile(context.Background(), store, out, recordings.ExportOptions{
		Camera: "front", From: segs[0].Start, To: segs[len(segs)-1].End,
		Identities: []envelope.Identity{id}, Trust: envelope.TrustedKeys{hubKey},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := vigiltest.FFprobe(t, out, "v:0")
	dur, _ := strconv.ParseFloat(p["duration"], 64)
	t.Logf("export: %+v; ffprobe: %v; recorded span %s", es, p, recorded)
	if p["codec_name"] != "h264" {
		t.Errorf("exported codec %q, want h264", p["codec_name"])
	}
	if p["nb_read_frames"] != strconv.FormatUint(st.FramesRecorded, 10) {
		t.Errorf("ffprobe counts %s frames, the hub recorded %d", p["nb_read_frames"], st.FramesRecorded)
	}
	if dur < 20 || dur > recorded.Seconds()+0.5 {
		t.Errorf("exported %.2f s, want at least 20 s and at most the recorded %.2f s", dur, recorded.Seconds())
	}

	// Without the household identity: a clear error and no file.
	other, _ := household(t)
	bad := filepath.Join(t.TempDir(), "nope.mp4")
	_, err = recordings.ExportFile(context.Background(), store, bad, recordings.ExportOptions{
		Camera: "front", Identities: []envelope.Identity{other}, Trust: envelope.TrustedKeys{hubKey},
	})
	if !errors.Is(err, envelope.ErrIncorrectIdentity) {
		t.Errorf("export with another household's identity: %v, want ErrIncorrectIdentity", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(bad)); len(entries) != 0 {
		t.Errorf("failed export left %d files behind", len(entries))
	}

	// An untrusted signer (not this hub) is refused too.
	stranger, _ := envelope.GenerateSigningKey()
	_, err = recordings.ExportFile(context.Background(), store, bad, recordings.ExportOptions{
		Camera: "front", Identities: []envelope.Identity{id}, Trust: envelope.TrustedKeys{stranger.Public().(ed25519.PublicKey)},
	})
	if !errors.Is(err, envelope.ErrUntrustedSigner) {
		t.Errorf("export trusting another hub: %v, want ErrUntrustedSigner", err)
	}

	scanG9(t, cfg.Data, id, out)
}

// scanG9 asserts that no file under dir holds media in the clear, any of
// the exported footage or the household's private key (G9: a stolen hub
// reveals no footage).
func scanG9(t *testing.T, dir string, id *envelope.X25519Identity, exported string) {
	t.Helper()
	var leaks vigiltest.LeakScan
	leaks.Secret("household identity", []byte(id.String()))
	leaks.Secret("household private key", id.Bytes())
	leaks.Secret("household identity key", []byte("VIGIL-IDENTITY"))
	clip, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	if leaks.Plaintext("exported footage", clip) == 0 {
		t.Fatal("no sample of the exported footage to scan for")
	}
	var scanned int64
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanned += int64(len(b))
		for _, f := range leaks.Check(path, b) {
			t.Error(f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 100<<10 {
		t.Fatalf("scanned only %d bytes; the recording is missing", scanned)
	}
	t.Logf("G9 scan: %d bytes under %s, no media in the clear", scanned, dir)
}
