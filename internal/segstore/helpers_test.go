package segstore

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// tWriter routes log output to t.Log.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fakeClock is an injectable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// baseTime is the start of seq 0 in meta.
func baseTime() time.Time { return time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC) }

func meta(cam string, seq uint64) Meta {
	start := baseTime().Add(time.Duration(seq) * 4 * time.Second)
	return Meta{Camera: cam, Seq: seq, Start: start, End: start.Add(4 * time.Second),
		Codec: "H264", AudioCodec: "AAC", Keyframes: 1, Frames: 100}
}

// sealedBytes stands in for a sealed segment: opaque bytes.
func sealedBytes(n int, tag byte) []byte { return bytes.Repeat([]byte{tag}, n) }

func openStore(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustPut(t testing.TB, s *Store, m Meta, data []byte) Segment {
	t.Helper()
	seg, err := s.Put(context.Background(), m, data)
	if err != nil {
		t.Fatalf("Put(%q, %d): %v", m.Camera, m.Seq, err)
	}
	return seg
}

func mustList(t testing.TB, s *Store, f Filter) []Segment {
	t.Helper()
	segs, err := s.List(context.Background(), f)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return segs
}

func seqs(segs []Segment) []uint64 {
	var out []uint64
	for _, sg := range segs {
		out = append(out, sg.Seq)
	}
	return out
}

// checkConsistent walks the segments directory and checks that it holds
// exactly the listed files, with the right sizes, that no garbage is
// pending and that Usage matches the index.
func checkConsistent(t testing.TB, s *Store) {
	t.Helper()
	ctx := context.Background()
	var files []string
	root := filepath.Join(s.dir, segmentsDir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	segs := mustList(t, s, Filter{})
	var listed []string
	var total int64
	per := map[string]int64{}
	for _, sg := range segs {
		listed = append(listed, sg.Path)
		fi, err := os.Stat(sg.Path)
		if err != nil {
			t.Errorf("listed segment %d: %v", sg.ID, err)
			continue
		}
		if fi.Size() != sg.Bytes {
			t.Errorf("segment %d: file has %d bytes, index says %d", sg.ID, fi.Size(), sg.Bytes)
		}
		total += sg.Bytes
		per[sg.Camera] += sg.Bytes
	}
	slices.Sort(files)
	slices.Sort(listed)
	if !slices.Equal(files, listed) {
		t.Errorf("directory and index disagree:\nfiles:  %v\nlisted: %v", files, listed)
	}
	var garbage int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM garbage`).Scan(&garbage); err != nil {
		t.Fatal(err)
	}
	if garbage != 0 {
		t.Errorf("%d garbage rows pending", garbage)
	}
	gotTotal, gotPer := s.Usage()
	if gotTotal != total || !mapsEqual(gotPer, per) {
		t.Errorf("Usage() = %d %v, index says %d %v", gotTotal, gotPer, total, per)
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
