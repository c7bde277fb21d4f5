package recordings

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vigil/internal/envelope"
	"vigil/internal/segment"
	"vigil/internal/segstore"
	"vigil/internal/vigiltest"
)

type fixture struct {
	store  *segstore.Store
	id     *envelope.X25519Identity
	hubPub ed25519.PublicKey
	segs   []segstore.Segment
}

// record seals a few seconds of real H.264 into a real store, as the hub does.
func record(t *testing.T) *fixture {
	t.Helper()
	m := vigiltest.MakeMedia(t, vigiltest.MediaOptions{Seconds: 4, FPS: 10, GOP: 10})
	id, err := envelope.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := envelope.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	st, err := segstore.Open(context.Background(), t.TempDir(), segstore.Options{Logger: vigiltest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var seq uint64
	seg, err := segment.New(segment.Config{Duration: time.Second, Codec: segment.CodecH264,
		Now: func() time.Time { return time.Unix(1_700_000_000, 0) },
		OnSegment: func(s segment.Segment) error {
			hdr := envelope.Header{Kind: envelope.KindSegment, Stream: "front", Sequence: seq, Start: s.Start}
			sealed, err := envelope.Seal(hdr, s.End, signer, s.Data, id.Recipient())
			if err != nil {
				return err
			}
			_, err = st.Put(context.Background(), segstore.Meta{Camera: "front", Seq: seq, Start: s.Start, End: s.End,
				Codec: s.Codec, Frames: s.Frames, Keyframes: s.Keyframes}, sealed)
			seq++
			return err
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, au := range m.Video {
		if err := seg.WriteVideo(au.PTS, au.NALUs); err != nil {
			t.Fatal(err)
		}
	}
	if err := seg.Flush(); err != nil {
		t.Fatal(err)
	}
	segs, err := st.List(context.Background(), segstore.Filter{Camera: "front"})
	if err != nil || len(segs) < 3 {
		t.Fatalf("recorded %d segments: %v", len(segs), err)
	}
	return &fixture{store: st, id: id, hubPub: signer.Public().(ed25519.PublicKey), segs: segs}
}

func (f *fixture) opts() ExportOptions {
	return ExportOptions{Camera: "front", Identities: []envelope.Identity{f.id}, Trust: envelope.TrustedKeys{f.hubPub}}
}

// leftovers lists every file in dir: a failed or stopped export leaves none.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestExportFile(t *testing.T) {
	f := record(t)
	out := filepath.Join(t.TempDir(), "clip.mp4")
	st, err := ExportFile(context.Background(), f.store, out, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	if st.Segments != len(f.segs) || st.VideoFrames != 40 {
		t.Errorf("exported %d segments, %d frames; want %d and 40", st.Segments, st.VideoFrames, len(f.segs))
	}
	if p := vigiltest.FFprobe(t, out, "v:0"); p["codec_name"] != "h264" {
		t.Errorf("exported stream: %v", p)
	}
}

// Ctrl-C during an export: the context is cancelled, the export stops and
// the partial plaintext output is removed.
func TestExportStoppedLeavesNothing(t *testing.T) {
	f := record(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	o := f.opts()
	o.Progress = func(done, total int) {
		if done == 2 {
			cancel() // the user presses Ctrl-C mid-way
		}
	}
	_, err := ExportFile(ctx, f.store, filepath.Join(dir, "clip.mp4"), o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want the export stopped", err)
	}
	if names := leftovers(t, dir); len(names) != 0 {
		t.Errorf("a stopped export left %v", names)
	}
}

func TestExportWrongIdentityWritesNothing(t *testing.T) {
	f := record(t)
	other, _ := envelope.GenerateX25519Identity()
	dir := t.TempDir()
	o := f.opts()
	o.Identities = []envelope.Identity{other}
	_, err := ExportFile(context.Background(), f.store, filepath.Join(dir, "clip.mp4"), o)
	if !errors.Is(err, envelope.ErrIncorrectIdentity) {
		t.Fatalf("got %v, want ErrIncorrectIdentity", err)
	}
	if names := leftovers(t, dir); len(names) != 0 {
		t.Errorf("a refused export left %v", names)
	}
}

// A segment file swapped for another one of the same camera (both sealed
// and signed by the hub) is caught by the header check, not played in the
// wrong place.
func TestExportDetectsSwappedSegment(t *testing.T) {
	f := record(t)
	a, err := os.ReadFile(f.segs[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.segs[1].Path, a, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err = ExportFile(context.Background(), f.store, filepath.Join(dir, "clip.mp4"), f.opts())
	if err == nil || !strings.Contains(err.Error(), "does not match the index") {
		t.Fatalf("got %v, want a header mismatch", err)
	}
	if names := leftovers(t, dir); len(names) != 0 {
		t.Errorf("a failed export left %v", names)
	}
}
