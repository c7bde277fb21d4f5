package segstore

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestRetentionGlobalBytes(t *testing.T) {
	const size, limit = 1000, 10 * 1000
	s := openStore(t, t.TempDir(), Options{MaxBytes: limit})
	cams := []string{"a", "b", "c"}
	for seq := range uint64(30) {
		for _, cam := range cams {
			mustPut(t, s, meta(cam, seq), sealedBytes(size, 1))
			total, _ := s.Usage()
			if total > limit {
				t.Fatalf("after Put %s/%d: total %d > MaxBytes %d", cam, seq, total, limit)
			}
		}
	}
	segs := mustList(t, s, Filter{})
	if len(segs) != 10 {
		t.Fatalf("%d segments kept, want 10", len(segs))
	}
	// The globally newest survive: seq 27..29 of all and seq 26 of "c"
	// (ties in start are broken by id, i.e. insertion order).
	var got []string
	for _, sg := range segs {
		got = append(got, sg.Camera+string(rune('0'+sg.Seq-20)))
	}
	want := []string{"a7", "a8", "a9", "b7", "b8", "b9", "c6", "c7", "c8", "c9"}
	if !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	// Recording continued: the newest Put is there.
	if n, _ := s.NextSeq(context.Background(), "c"); n != 30 {
		t.Errorf("NextSeq = %d, want 30 (seq never reused)", n)
	}
	checkConsistent(t, s)
}

func TestRetentionKeepsTotalWithinOneSegmentDuringPut(t *testing.T) {
	// A segment bigger than the limit: the store keeps the newest one.
	s := openStore(t, t.TempDir(), Options{MaxBytes: 500, Cameras: map[string]Limits{"a": {MaxBytes: 100}}})
	for seq := range uint64(5) {
		mustPut(t, s, meta("a", seq), sealedBytes(800, 1))
	}
	if got := seqs(mustList(t, s, Filter{})); !slices.Equal(got, []uint64{4}) {
		t.Errorf("kept %v, want only the newest [4]", got)
	}
	checkConsistent(t, s)
}

func TestRetentionPerCameraBytes(t *testing.T) {
	const size = 100
	s := openStore(t, t.TempDir(), Options{
		MaxBytes: 20 * size,
		Cameras:  map[string]Limits{"door": {MaxBytes: 3 * size}},
	})
	for seq := range uint64(12) {
		mustPut(t, s, meta("door", seq), sealedBytes(size, 1))
		mustPut(t, s, meta("yard", seq), sealedBytes(size, 2))
		_, per := s.Usage()
		if per["door"] > 3*size {
			t.Fatalf("door over its limit after seq %d: %d", seq, per["door"])
		}
	}
	if got := seqs(mustList(t, s, Filter{Camera: "door"})); !slices.Equal(got, []uint64{9, 10, 11}) {
		t.Errorf("door kept %v, want [9 10 11]", got)
	}
	// yard: 12 segments, global limit 20 minus door's 3 = room for all.
	if got := seqs(mustList(t, s, Filter{Camera: "yard"})); len(got) != 12 {
		t.Errorf("yard kept %v, want all 12", got)
	}
	// Lowering the global limit via Enforce on a reopened store evicts
	// globally oldest: yard's oldest go first.
	dir := s.dir
	s.Close()
	s2 := openStore(t, dir, Options{MaxBytes: 8 * size, Cameras: map[string]Limits{"door": {MaxBytes: 2 * size}}})
	n, err := s2.Enforce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 7 {
		t.Errorf("Enforce deleted %d, want 7", n)
	}
	if got := seqs(mustList(t, s2, Filter{Camera: "door"})); !slices.Equal(got, []uint64{10, 11}) {
		t.Errorf("door kept %v, want [10 11]", got)
	}
	if got := seqs(mustList(t, s2, Filter{Camera: "yard"})); !slices.Equal(got, []uint64{6, 7, 8, 9, 10, 11}) {
		t.Errorf("yard kept %v, want [6..11]", got)
	}
	checkConsistent(t, s2)
}

func TestRetentionAge(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := openStore(t, t.TempDir(), Options{
		MaxAge:  time.Hour,
		Cameras: map[string]Limits{"door": {MaxAge: 3 * time.Hour}},
		Now:     clk.Now,
	})
	// One segment every 30 minutes from now-4h to now, for two cameras.
	now := clk.Now()
	put := func(cam string, i int) {
		start := now.Add(-4*time.Hour + time.Duration(i)*30*time.Minute)
		m := Meta{Camera: cam, Seq: uint64(i), Start: start, End: start.Add(4 * time.Second), Codec: "H265"}
		mustPut(t, s, m, sealedBytes(10, 1))
	}
	for i := range 9 {
		put("door", i)
		put("yard", i)
	}
	// A gap older than any age limit, one recent.
	for _, g := range []Gap{
		{Camera: "yard", Start: now.Add(-5 * time.Hour), End: now.Add(-5*time.Hour + time.Minute), Reason: "old"},
		{Camera: "yard", Start: now.Add(-10 * time.Minute), End: now.Add(-9 * time.Minute), Reason: "recent"},
		{Camera: "gone", Start: now.Add(-2 * time.Hour), End: now.Add(-2*time.Hour + time.Minute), Reason: "old, no segments"},
	} {
		if err := s.AddGap(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	// The first Put already applied age limits (once a minute): check that
	// Enforce brings everything to the limits.
	if _, err := s.Enforce(ctx); err != nil {
		t.Fatal(err)
	}
	// yard: end >= now-1h, i.e. starts at -1h (end -1h+4s), -30m, 0.
	if got := seqs(mustList(t, s, Filter{Camera: "yard"})); !slices.Equal(got, []uint64{6, 7, 8}) {
		t.Errorf("yard kept %v, want [6 7 8]", got)
	}
	// door: 3 h.
	if got := seqs(mustList(t, s, Filter{Camera: "door"})); !slices.Equal(got, []uint64{2, 3, 4, 5, 6, 7, 8}) {
		t.Errorf("door kept %v, want [2..8]", got)
	}
	gaps, _ := s.Gaps(ctx, Filter{})
	if len(gaps) != 1 || gaps[0].Reason != "recent" {
		t.Errorf("gaps kept %+v, want only the recent one", gaps)
	}

	// Time passes; the next Put (more than a minute later) applies the age
	// limits by itself and recording continues.
	clk.Advance(29 * time.Minute)
	mustPut(t, s, Meta{Camera: "yard", Seq: 9, Start: clk.Now(), End: clk.Now().Add(4 * time.Second), Codec: "H265"}, sealedBytes(10, 1))
	if got := seqs(mustList(t, s, Filter{Camera: "yard"})); !slices.Equal(got, []uint64{7, 8, 9}) {
		t.Errorf("yard after 29 min kept %v, want [7 8 9]", got)
	}
	if got := seqs(mustList(t, s, Filter{Camera: "door"})); !slices.Equal(got, []uint64{3, 4, 5, 6, 7, 8}) {
		t.Errorf("door after 29 min kept %v, want [3..8]", got)
	}
	checkConsistent(t, s)
}

func TestRetentionPrunesGapsBeforeOldestSegment(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), Options{Cameras: map[string]Limits{"a": {MaxBytes: 200}}})
	t0 := meta("a", 0).Start
	// Gap before seq 0, gap between seq 1 and seq 5 (seqs 2..4 missing).
	mustPut(t, s, meta("a", 0), sealedBytes(100, 1))
	mustPut(t, s, meta("a", 1), sealedBytes(100, 1))
	for _, g := range []Gap{
		{Camera: "a", Start: t0.Add(-time.Minute), End: t0, Reason: "before 0"},
		{Camera: "a", Start: meta("a", 2).Start, End: meta("a", 5).Start, Reason: "2..4"},
		{Camera: "b", Start: t0.Add(-time.Minute), End: t0, Reason: "other camera"},
	} {
		if err := s.AddGap(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	mustPut(t, s, meta("a", 5), sealedBytes(100, 1)) // evicts seq 0
	gaps, _ := s.Gaps(ctx, Filter{})
	if len(gaps) != 2 || gaps[0].Reason != "2..4" || gaps[1].Reason != "other camera" {
		t.Errorf("after evicting seq 0: gaps %+v", gaps)
	}
	mustPut(t, s, meta("a", 6), sealedBytes(100, 1)) // evicts seq 1: the 2..4 gap is now before the oldest
	gaps, _ = s.Gaps(ctx, Filter{Camera: "a"})
	if len(gaps) != 0 {
		t.Errorf("after evicting seq 1: gaps %+v", gaps)
	}
}

// TestKeepAroundEvents: segments overlapping a kept range outlive the age
// limit until the event age limit; others go at the age limit; a kept range
// on another camera keeps nothing here; the ranges are forgotten once older
// than both limits.
func TestKeepAroundEvents(t *testing.T) {
	clk := newClock() // 12:00; segments start at 10:00, 4 s each
	s := openStore(t, t.TempDir(), Options{MaxAge: time.Hour, EventMaxAge: 5 * time.Hour, Now: clk.Now})
	ctx := context.Background()
	for seq := range uint64(10) {
		mustPut(t, s, meta("front", seq), sealedBytes(100, byte(seq)))
	}
	// An event from 10:00:09 to 10:00:13 touches segments 2 and 3.
	if err := s.Keep(ctx, "front", baseTime().Add(9*time.Second), baseTime().Add(13*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.Keep(ctx, "back", baseTime(), baseTime().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Keep(ctx, "front", baseTime().Add(time.Second), baseTime()); err == nil {
		t.Error("a range ending before it starts was kept")
	}
	if _, err := s.Enforce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := seqs(mustList(t, s, Filter{Camera: "front"})); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Fatalf("after the age limit: segments %v, want the event's 2 and 3", got)
	}
	clk.Advance(4 * time.Hour) // 16:00: the event is 6 h old, past EventMaxAge
	if _, err := s.Enforce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustList(t, s, Filter{Camera: "front"}); len(got) != 0 {
		t.Errorf("after the event age limit: %v left", seqs(got))
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM keep WHERE camera = 'front'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("kept ranges left: %d (%v)", n, err)
	}
	checkConsistent(t, s)
}

// TestRetentionForcedBelowAge: deletions by the age limit are not forced;
// a byte limit that deletes footage younger than the age limit is, and
// Forced says how young it was.
func TestRetentionForcedBelowAge(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := openStore(t, t.TempDir(), Options{MaxAge: time.Hour, Now: clk.Now})
	now := clk.Now()
	put := func(seq uint64, start time.Time) {
		mustPut(t, s, Meta{Camera: "yard", Seq: seq, Start: start, End: start.Add(4 * time.Second), Codec: "H264"}, sealedBytes(100, 1))
	}
	put(0, now.Add(-3*time.Hour))
	put(1, now.Add(-2*time.Hour))
	put(2, now.Add(-10*time.Minute))
	put(3, now.Add(-5*time.Minute))
	if _, err := s.Enforce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := seqs(mustList(t, s, Filter{})); !slices.Equal(got, []uint64{2, 3}) {
		t.Fatalf("kept %v, want [2 3]", got)
	}
	if f := s.Forced(); f != (Forced{}) {
		t.Errorf("the age limit's own deletions counted as forced: %+v", f)
	}
	s.Close()

	// Reopened with a byte limit of one segment: seq 2 (10 min old, under
	// the hour) must go to make room.
	s = openStore(t, s.dir, Options{MaxAge: time.Hour, MaxBytes: 150, Now: clk.Now})
	if _, err := s.Enforce(ctx); err != nil {
		t.Fatal(err)
	}
	f := s.Forced()
	if f.Segments != 1 || !f.At.Equal(now) || f.LastAge < 9*time.Minute || f.LastAge > 10*time.Minute || f.Limit != time.Hour {
		t.Errorf("forced %+v, want one segment about 10 minutes old", f)
	}
}
