package segstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPutListBasics(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), Options{})

	if n, err := s.NextSeq(ctx, "front"); err != nil || n != 0 {
		t.Fatalf("NextSeq(new camera) = %d, %v; want 0", n, err)
	}
	for seq := range uint64(5) {
		for _, cam := range []string{"front", "back"} {
			seg := mustPut(t, s, meta(cam, seq), sealedBytes(100+int(seq), byte(seq)))
			if !filepath.IsAbs(seg.Path) || seg.Bytes != int64(100+seq) || seg.ID == 0 {
				t.Fatalf("Put returned %+v", seg)
			}
			got, err := os.ReadFile(seg.Path)
			if err != nil || !bytes.Equal(got, sealedBytes(100+int(seq), byte(seq))) {
				t.Fatalf("file content of seq %d: %v", seq, err)
			}
			if want := fmt.Sprintf("%d-%d.vseg", seq, meta(cam, seq).Start.UnixMilli()); filepath.Base(seg.Path) != want {
				t.Errorf("file name %s, want %s", filepath.Base(seg.Path), want)
			}
		}
	}

	all := mustList(t, s, Filter{})
	if len(all) != 10 {
		t.Fatalf("List all: %d segments, want 10", len(all))
	}
	// Ordered by camera, then start.
	if all[0].Camera != "back" || all[5].Camera != "front" || !slices.Equal(seqs(all[:5]), []uint64{0, 1, 2, 3, 4}) {
		t.Errorf("List order: %v %v", all[0].Camera, seqs(all))
	}
	want := meta("back", 2)
	got := all[2]
	if got.Camera != want.Camera || got.Seq != 2 || !got.Start.Equal(want.Start) || !got.End.Equal(want.End) ||
		got.Codec != "H264" || got.AudioCodec != "AAC" || got.Keyframes != 1 || got.Frames != 100 || got.Bytes != 102 {
		t.Errorf("List[2] = %+v, want meta %+v", got, want)
	}

	front := mustList(t, s, Filter{Camera: "front"})
	if len(front) != 5 || front[0].Camera != "front" {
		t.Errorf("List front: %v", seqs(front))
	}
	// Segments are [start, start+4s) at 4 s intervals. [seq1.start+1s, seq3.start)
	// overlaps seq 1 and 2 only.
	f := Filter{Camera: "front", From: meta("", 1).Start.Add(time.Second), To: meta("", 3).Start}
	if got := seqs(mustList(t, s, f)); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("List %+v = %v, want [1 2]", f, got)
	}
	// From exactly at an end excludes that segment; open-ended To.
	if got := seqs(mustList(t, s, Filter{Camera: "back", From: meta("", 3).Start})); !slices.Equal(got, []uint64{3, 4}) {
		t.Errorf("List From=seq3.start = %v, want [3 4]", got)
	}
	if got := seqs(mustList(t, s, Filter{To: meta("", 1).Start})); !slices.Equal(got, []uint64{0, 0}) {
		t.Errorf("List To=seq1.start = %v, want [0 0]", got)
	}
	if got := mustList(t, s, Filter{Camera: "nobody"}); len(got) != 0 {
		t.Errorf("List unknown camera = %v", got)
	}

	if n, err := s.NextSeq(ctx, "front"); err != nil || n != 5 {
		t.Errorf("NextSeq(front) = %d, %v; want 5", n, err)
	}
	cams, err := s.Cameras(ctx)
	if err != nil || !slices.Equal(cams, []string{"back", "front"}) {
		t.Errorf("Cameras = %v, %v", cams, err)
	}
	total, per := s.Usage()
	if total != 2*(100+101+102+103+104) || per["front"] != 510 || per["back"] != 510 {
		t.Errorf("Usage = %d %v", total, per)
	}

	// Duplicate seq.
	if _, err := s.Put(ctx, meta("front", 3), []byte("x")); !errors.Is(err, ErrDuplicate) {
		t.Errorf("Put duplicate seq: %v, want ErrDuplicate", err)
	}
	// Invalid metadata.
	bad := []Meta{
		{Camera: "front", Seq: 9, Codec: "H264"}, // zero times
		func() Meta { m := meta("front", 9); m.End = m.Start.Add(-time.Second); return m }(),
		func() Meta { m := meta("front", 9); m.Codec = ""; return m }(),
		func() Meta { m := meta("front", 9); m.Frames = -1; return m }(),
		func() Meta { m := meta("front", 9); m.Seq = 1 << 63; return m }(),
	}
	for _, m := range bad {
		if _, err := s.Put(ctx, m, []byte("x")); !errors.Is(err, ErrInvalidMeta) {
			t.Errorf("Put(%+v): %v, want ErrInvalidMeta", m, err)
		}
	}
	if _, err := s.Put(ctx, meta("front", 9), nil); !errors.Is(err, ErrInvalidMeta) {
		t.Errorf("Put(empty data): %v, want ErrInvalidMeta", err)
	}
	checkConsistent(t, s)
}

func TestGaps(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), Options{})
	t0 := baseTime()
	gaps := []Gap{
		{Camera: "front", Start: t0, End: t0.Add(time.Minute), Reason: "camera disconnected"},
		{Camera: "front", Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour), Reason: "hub restarted"},
		{Camera: "back", Start: t0.Add(30 * time.Minute), End: t0.Add(31 * time.Minute), Reason: ""},
	}
	for _, g := range gaps {
		if err := s.AddGap(ctx, g); err != nil {
			t.Fatalf("AddGap: %v", err)
		}
	}
	got, err := s.Gaps(ctx, Filter{})
	if err != nil || len(got) != 3 || got[0].Camera != "back" || got[1].Reason != "camera disconnected" ||
		!got[2].Start.Equal(gaps[1].Start) || !got[2].End.Equal(gaps[1].End) {
		t.Fatalf("Gaps = %+v, %v", got, err)
	}
	got, err = s.Gaps(ctx, Filter{Camera: "front", From: t0.Add(time.Minute), To: t0.Add(90 * time.Minute)})
	if err != nil || len(got) != 1 || got[0].Reason != "hub restarted" {
		t.Errorf("Gaps(filter) = %+v, %v", got, err)
	}
	for _, g := range []Gap{
		{Camera: "", Start: t0, End: t0},
		{Camera: "x", Start: t0, End: t0.Add(-time.Second)},
		{Camera: "x"},
	} {
		if err := s.AddGap(ctx, g); err == nil {
			t.Errorf("AddGap(%+v) succeeded", g)
		}
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	for seq := range uint64(4) {
		mustPut(t, s, meta("a", seq), sealedBytes(50, 1))
		mustPut(t, s, meta("b", seq+10), sealedBytes(70, 2))
	}
	g := Gap{Camera: "a", Start: meta("a", 4).Start, End: meta("a", 5).Start, Reason: "dropped"}
	if err := s.AddGap(ctx, g); err != nil {
		t.Fatal(err)
	}
	before := mustList(t, s, Filter{})
	total, per := s.Usage()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(ctx, Filter{}); !errors.Is(err, ErrClosed) {
		t.Errorf("List after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Put(ctx, meta("a", 99), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Put after Close: %v, want ErrClosed", err)
	}

	s2 := openStore(t, dir, Options{})
	if r := s2.Recovery(); r != (Recovery{}) {
		t.Errorf("Recovery after clean close = %+v", r)
	}
	after := mustList(t, s2, Filter{})
	if len(after) != len(before) {
		t.Fatalf("reopen: %d segments, want %d", len(after), len(before))
	}
	for i := range before {
		b, a := before[i], after[i]
		if a.ID != b.ID || a.Seq != b.Seq || !a.Start.Equal(b.Start) || !a.End.Equal(b.End) || a.Path != b.Path || a.Bytes != b.Bytes {
			t.Errorf("reopen: segment %d = %+v, want %+v", i, a, b)
		}
	}
	t2, p2 := s2.Usage()
	if t2 != total || !mapsEqual(p2, per) {
		t.Errorf("Usage after reopen %d %v, want %d %v", t2, p2, total, per)
	}
	if n, _ := s2.NextSeq(ctx, "b"); n != 14 {
		t.Errorf("NextSeq(b) after reopen = %d, want 14", n)
	}
	if gs, _ := s2.Gaps(ctx, Filter{}); len(gs) != 1 || gs[0].Reason != "dropped" {
		t.Errorf("Gaps after reopen = %+v", gs)
	}
	checkConsistent(t, s2)
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	openStore(t, dir, Options{})
	if _, err := Open(context.Background(), dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}

func TestOpenRejectsNewerSchema(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	if _, err := s.db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(context.Background(), dir, Options{Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open with schema 99: %v", err)
	}
}

func TestConcurrentPuts(t *testing.T) {
	ctx := context.Background()
	// A byte limit makes retention run concurrently with the Puts.
	const size, perCam, cams = 1000, 10, 20
	s := openStore(t, t.TempDir(), Options{MaxBytes: 150 * size, Logger: testLogger(t)})
	var wg sync.WaitGroup
	errs := make(chan error, cams*perCam)
	for c := range cams {
		wg.Go(func() {
			cam := fmt.Sprintf("cam-%02d", c)
			for i := range perCam {
				seq, err := s.NextSeq(ctx, cam)
				if err != nil {
					errs <- err
					return
				}
				if seq != uint64(i) {
					errs <- fmt.Errorf("%s: NextSeq = %d, want %d", cam, seq, i)
				}
				if _, err := s.Put(ctx, meta(cam, seq), sealedBytes(size, byte(c))); err != nil {
					errs <- err
				}
			}
		})
	}
	// Readers and Enforce alongside.
	wg.Go(func() {
		for range 20 {
			if _, err := s.List(ctx, Filter{}); err != nil {
				errs <- err
			}
			if _, err := s.Enforce(ctx); err != nil {
				errs <- err
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total, _ := s.Usage()
	if total > 150*size {
		t.Errorf("total %d over MaxBytes %d after all Puts", total, 150*size)
	}
	if n := len(mustList(t, s, Filter{})); n != 150 {
		t.Errorf("%d segments kept, want 150", n)
	}
	checkConsistent(t, s)
}

func TestHostileCameraNames(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	names := []string{
		"../../etc", "a/b", "a_b", `a\b`, ".", "..", ".hidden", "/abs/path", "with space",
		"日本語のカメラ", "🚪 door", strings.Repeat("x", MaxCameraNameLen), strings.Repeat("é", 300),
		"nul\x00byte", "Front", "front", "a-0123456789abcdef",
	}
	segRoot := filepath.Join(s.dir, segmentsDir)
	dirs := map[string]string{}
	for i, name := range names {
		seg, err := s.Put(ctx, meta(name, 0), sealedBytes(10, byte(i)))
		if err != nil {
			t.Fatalf("Put(%q): %v", name, err)
		}
		rel, err := filepath.Rel(segRoot, seg.Path)
		if err != nil || !filepath.IsLocal(rel) {
			t.Fatalf("camera %q: path %s escapes %s", name, seg.Path, segRoot)
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 2 || strings.HasPrefix(parts[0], ".") || len(parts[0]) > 60 {
			t.Errorf("camera %q: unsafe directory %q", name, parts[0])
		}
		if other, ok := dirs[parts[0]]; ok {
			t.Errorf("cameras %q and %q share directory %s", name, other, parts[0])
		}
		dirs[parts[0]] = name
		if got := mustList(t, s, Filter{Camera: name}); len(got) != 1 || got[0].Camera != name {
			t.Errorf("List(%q) = %+v", name, got)
		}
		if n, err := s.NextSeq(ctx, name); err != nil || n != 1 {
			t.Errorf("NextSeq(%q) = %d, %v", name, n, err)
		}
	}
	for _, name := range []string{"", strings.Repeat("x", MaxCameraNameLen+1), "bad\xffutf8"} {
		if _, err := s.Put(ctx, meta(name, 0), []byte("x")); !errors.Is(err, ErrInvalidCamera) {
			t.Errorf("Put(camera %.20q): %v, want ErrInvalidCamera", name, err)
		}
		if _, err := s.NextSeq(ctx, name); !errors.Is(err, ErrInvalidCamera) {
			t.Errorf("NextSeq(camera %.20q): %v, want ErrInvalidCamera", name, err)
		}
	}
	if _, err := Open(ctx, t.TempDir(), Options{Cameras: map[string]Limits{"": {MaxBytes: 1}}}); !errors.Is(err, ErrInvalidCamera) {
		t.Errorf("Open with Cameras[\"\"]: %v, want ErrInvalidCamera", err)
	}
	// Nothing was written outside dir/segments/<camera-dir>/.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		switch e.Name() {
		case "segments", "index.db", "index.db-wal", "index.db-shm", "LOCK", "RESERVE":
		default:
			t.Errorf("unexpected entry %q in store directory", e.Name())
		}
	}
	checkConsistent(t, s)
}
