package segstore

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

type uploadRow struct {
	state    UploadState
	attempts int
	err      string
	next     int64
}

func uploadOf(t *testing.T, s *Store, cam string, seq uint64) uploadRow {
	t.Helper()
	var r uploadRow
	if err := s.db.QueryRow(`SELECT upload_state, upload_attempts, upload_error, upload_next_ns FROM segments
		WHERE camera = ? AND seq = ?`, cam, int64(seq)).Scan(&r.state, &r.attempts, &r.err, &r.next); err != nil {
		t.Fatalf("upload state of %s %d: %v", cam, seq, err)
	}
	return r
}

func pendingKeys(t *testing.T, s *Store, f PendingFilter) []string {
	t.Helper()
	ups, err := s.PendingUploads(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, u := range ups {
		out = append(out, u.Camera+string(rune('0'+u.Seq)))
	}
	return out
}

func takeLost(t *testing.T, s *Store) []string {
	t.Helper()
	lost, err := s.TakeLostUploads(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range lost {
		out = append(out, l.Camera+string(rune('0'+l.Seq)))
	}
	return out
}

func record(t *testing.T, s *Store, cam string, seq uint64, r UploadResult) bool {
	t.Helper()
	ok, err := s.RecordUpload(context.Background(), cam, seq, r)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestUploadState(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	ctx := context.Background()
	for _, m := range []Meta{meta("a", 0), meta("b", 0), meta("a", 1), meta("a", 2)} {
		mustPut(t, s, m, sealedBytes(10, 1))
	}
	// Stored means pending.
	b, err := s.UploadBacklog(ctx, time.Time{})
	if err != nil || b.Count != 4 || b.Bytes != 40 || !b.Oldest.Equal(baseTime()) {
		t.Fatalf("backlog %+v, %v; want 4 segments, 40 bytes, oldest at the first", b, err)
	}
	now := baseTime().Add(time.Hour)
	if got := pendingKeys(t, s, PendingFilter{Due: now, Limit: 10}); !slices.Equal(got, []string{"a0", "b0", "a1", "a2"}) {
		t.Errorf("oldest first: %v", got)
	}
	if got := pendingKeys(t, s, PendingFilter{Due: now, Limit: 2, NewestFirst: true}); !slices.Equal(got, []string{"a2", "a1"}) {
		t.Errorf("newest first, 2: %v", got)
	}
	if got := pendingKeys(t, s, PendingFilter{Since: meta("a", 1).Start, Due: now, Limit: 10}); !slices.Equal(got, []string{"a1", "a2"}) {
		t.Errorf("since a1: %v", got)
	}
	if _, err := s.PendingUploads(ctx, PendingFilter{Due: now}); err == nil {
		t.Error("a zero limit was accepted")
	}

	if !record(t, s, "a", 0, UploadResult{State: UploadDone}) {
		t.Error("a0 was not pending")
	}
	if record(t, s, "a", 0, UploadResult{State: UploadPending, Error: "late"}) {
		t.Error("a done segment was made pending again")
	}
	record(t, s, "b", 0, UploadResult{State: UploadRejected, Error: "409 Conflict"})
	record(t, s, "a", 1, UploadResult{State: UploadPending, Error: "read error", NextTry: now.Add(time.Hour)})
	if got := pendingKeys(t, s, PendingFilter{Due: now, Limit: 10}); !slices.Equal(got, []string{"a2"}) {
		t.Errorf("due now: %v, want a1 waiting for its next try", got)
	}
	ups, err := s.PendingUploads(ctx, PendingFilter{Due: now.Add(time.Hour), Limit: 10})
	if err != nil || len(ups) != 2 || ups[0].Seq != 1 || ups[0].Attempts != 1 || ups[0].Error != "read error" ||
		!ups[0].NextTry.Equal(now.Add(time.Hour)) || ups[0].Path != filepath.Join(dir, "segments", cameraDir("a"), "1-"+itoa(meta("a", 1).Start.UnixMilli())+".vseg") {
		t.Errorf("due in an hour: %+v, %v", ups, err)
	}
	if b, _ := s.UploadBacklog(ctx, time.Time{}); b.Count != 2 || !b.Oldest.Equal(meta("a", 1).Start) {
		t.Errorf("backlog %+v, want a1 and a2", b)
	}
	if _, err := s.RecordUpload(ctx, "a", 2, UploadResult{State: 7}); !errors.Is(err, ErrInvalidMeta) {
		t.Errorf("state 7: %v", err)
	}

	// The states outlive the process; Put's fsync makes the relaxed
	// commits durable too.
	s.Close()
	s = openStore(t, dir, Options{})
	for _, c := range []struct {
		cam  string
		seq  uint64
		want uploadRow
	}{
		{"a", 0, uploadRow{UploadDone, 1, "", 0}},
		{"b", 0, uploadRow{UploadRejected, 1, "409 Conflict", 0}},
		{"a", 1, uploadRow{UploadPending, 1, "read error", now.Add(time.Hour).UnixNano()}},
		{"a", 2, uploadRow{UploadPending, 0, "", 0}},
	} {
		if got := uploadOf(t, s, c.cam, c.seq); got != c.want {
			t.Errorf("%s %d after reopening: %+v, want %+v", c.cam, c.seq, got, c.want)
		}
	}
	// A read-only store records nothing.
	ro, err := OpenReadOnly(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.RecordUpload(ctx, "a", 2, UploadResult{State: UploadDone}); !errors.Is(err, ErrReadOnly) {
		t.Errorf("RecordUpload on a read-only store: %v", err)
	}
}

func itoa(n int64) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int64) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

// Retention deletes segments whatever their upload state (as it always
// has); a pending one is remembered until the uploader takes it, once.
func TestUploadLost(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{MaxBytes: 20})
	mustPut(t, s, meta("a", 0), sealedBytes(10, 1))
	record(t, s, "a", 0, UploadResult{State: UploadDone})
	mustPut(t, s, meta("a", 1), sealedBytes(10, 1))
	mustPut(t, s, meta("a", 2), sealedBytes(10, 1)) // evicts a0, uploaded
	if got := takeLost(t, s); got != nil {
		t.Errorf("lost %v, want none: a0 was uploaded", got)
	}
	mustPut(t, s, meta("a", 3), sealedBytes(10, 1)) // evicts a1, pending
	if got := takeLost(t, s); !slices.Equal(got, []string{"a1"}) {
		t.Errorf("lost %v, want a1", got)
	}
	if got := takeLost(t, s); got != nil {
		t.Errorf("taken twice: %v", got)
	}

	// Evicted while its upload was in flight, then uploaded: not lost.
	mustPut(t, s, meta("a", 4), sealedBytes(10, 1)) // evicts a2
	if record(t, s, "a", 2, UploadResult{State: UploadDone}) {
		t.Error("an evicted segment was still pending")
	}
	// Evicted in flight, and the attempt failed: lost.
	mustPut(t, s, meta("a", 5), sealedBytes(10, 1)) // evicts a3
	record(t, s, "a", 3, UploadResult{State: UploadPending, Error: "503"})
	if got := takeLost(t, s); !slices.Equal(got, []string{"a3"}) {
		t.Errorf("lost %v, want a3 only", got)
	}

	// Lost segments outlive the process, and so does a pending segment
	// whose file is found missing at Open.
	mustPut(t, s, meta("a", 6), sealedBytes(10, 1)) // evicts a4
	a5 := uploadPath(t, s, "a", 5)
	s.Close()
	if err := os.Remove(a5); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, Options{MaxBytes: 20})
	if got := takeLost(t, s); !slices.Equal(got, []string{"a4", "a5"}) {
		t.Errorf("lost after reopening %v, want a4 (evicted) and a5 (file missing)", got)
	}
	checkConsistent(t, s)
}

func uploadPath(t *testing.T, s *Store, cam string, seq uint64) string {
	t.Helper()
	for _, sg := range mustList(t, s, Filter{Camera: cam}) {
		if sg.Seq == seq {
			return sg.Path
		}
	}
	t.Fatalf("no segment %s %d", cam, seq)
	return ""
}

// upload_lost keeps the newest maxLost rows: a hub nothing uploads from
// does not grow it for ever.
func TestUploadLostBounded(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	for i := range maxLost + 5 {
		if _, err := tx.Exec(`INSERT INTO upload_lost (camera, seq, start_ns) VALUES ('a', ?, ?)`, i, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := capLost(ctx, tx); err != nil {
		t.Fatal(err)
	}
	var n, low int64
	if err := tx.QueryRow(`SELECT COUNT(*), MIN(seq) FROM upload_lost`).Scan(&n, &low); err != nil {
		t.Fatal(err)
	}
	if n != maxLost || low != 5 {
		t.Errorf("%d rows from seq %d, want %d from 5", n, low, maxLost)
	}
}

// legacyQueueSchema is the uploader's queue database as versions before
// schema 3 created it (user_version 1).
const legacyQueueSchema = `
CREATE TABLE queue (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	camera     TEXT    NOT NULL,
	seq        INTEGER NOT NULL CHECK (seq >= 0),
	start_ns   INTEGER NOT NULL,
	bytes      INTEGER NOT NULL,
	path       TEXT    NOT NULL,
	state      INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),
	attempts   INTEGER NOT NULL DEFAULT 0,
	error      TEXT    NOT NULL DEFAULT '',
	next_ns    INTEGER NOT NULL DEFAULT 0,
	updated_ns INTEGER NOT NULL,
	UNIQUE (camera, seq)
) STRICT;
CREATE INDEX queue_state_start ON queue (state, start_ns);
CREATE INDEX queue_camera_start ON queue (camera, start_ns);
PRAGMA user_version = 1;
`

// downgradeToV2 turns dir's index into the schema version 2 an older hub
// wrote: the upload state's columns, index and table dropped.
func downgradeToV2(t *testing.T, dir string) {
	t.Helper()
	db, err := sql.Open(driverName, filepath.Join(dir, indexFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		`DROP INDEX segments_upload_pending`, `DROP TABLE upload_lost`,
		`ALTER TABLE segments DROP COLUMN upload_state`, `ALTER TABLE segments DROP COLUMN upload_attempts`,
		`ALTER TABLE segments DROP COLUMN upload_error`, `ALTER TABLE segments DROP COLUMN upload_next_ns`,
		`PRAGMA user_version = 2`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// writeLegacyQueue writes an old queue database to dir as a hub killed
// while running would leave it: the database file and its WAL, with the
// rows in the WAL.
func writeLegacyQueue(t *testing.T, dir string, rows [][]any) {
	t.Helper()
	tmp := t.TempDir()
	db, err := sql.Open(driverName, "file:"+filepath.Join(tmp, legacyQueueFile)+"?_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	defer db.Close()
	if _, err := db.Exec(legacyQueueSchema); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if _, err := db.Exec(`INSERT INTO queue (camera, seq, start_ns, bytes, path, state, attempts, error, next_ns, updated_ns)
			VALUES (?, ?, ?, 10, '/old/path', ?, ?, ?, ?, 1)`, r...); err != nil {
			t.Fatal(err)
		}
	}
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(filepath.Join(tmp, legacyQueueFile+suffix))
		if err != nil {
			t.Fatal(err)
		}
		if suffix == "-wal" && len(b) == 0 {
			t.Fatal("the legacy queue's rows are not in its WAL; the test proves less than it says")
		}
		if err := os.WriteFile(filepath.Join(dir, legacyQueueFile+suffix), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func checkNoLegacyQueue(t *testing.T, dir string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if _, err := os.Stat(filepath.Join(dir, legacyQueueFile+suffix)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s%s is still there (%v)", legacyQueueFile, suffix, err)
		}
	}
}

// TestImportLegacyQueue: a hub upgraded from a version that kept its
// upload queue in uploads.db loses nothing: every segment keeps its state,
// a segment the queue never saw is pending, a pending segment retention
// deleted is still reported, and the old database is removed, once.
func TestImportLegacyQueue(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	for seq := range uint64(5) {
		mustPut(t, s, meta("a", seq), sealedBytes(10, 1))
	}
	mustPut(t, s, meta("b", 0), sealedBytes(10, 1))
	s.Close()
	downgradeToV2(t, dir)
	ns := func(cam string, seq uint64) int64 { return meta(cam, seq).Start.UnixNano() }
	next := baseTime().Add(time.Hour).UnixNano()
	writeLegacyQueue(t, dir, [][]any{
		// camera, seq, start_ns, state, attempts, error, next_ns
		{"a", 0, ns("a", 0), 1, 1, "", 0},                            // uploaded
		{"a", 1, ns("a", 1), 2, 1, "409 Conflict", 0},                // rejected
		{"a", 2, ns("a", 2), 0, 3, "reading: EIO", next},             // pending, delayed
		{"b", 0, ns("b", 0), 0, 0, "", 0},                            // pending
		{"a", 9, ns("a", 9), 0, 2, "503", 0},                         // pending, file deleted by retention
		{"c", 0, baseTime().Add(-time.Hour).UnixNano(), 1, 1, "", 0}, // uploaded, deleted since
		// a3 and a4: stored, never queued (a crash before Enqueue)
	})

	// An unreadable queue stops the upgrade with a hint, and changes
	// nothing.
	// (The WAL goes too: its frames would stand in for the file's pages.)
	good, err := os.ReadFile(filepath.Join(dir, legacyQueueFile))
	if err != nil {
		t.Fatal(err)
	}
	goodWAL, err := os.ReadFile(filepath.Join(dir, legacyQueueFile+"-wal"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, legacyQueueFile+"-wal"))
	if err := os.WriteFile(filepath.Join(dir, legacyQueueFile), sealedBytes(4096, 'x'), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), dir, Options{Logger: testLogger(t)}); err == nil {
		t.Fatal("an unreadable uploads.db was ignored")
	} else if !strings.Contains(err.Error(), "hint:") {
		t.Errorf("no hint: %v", err)
	}
	if v := indexVersion(t, dir); v != 2 {
		t.Errorf("the failed upgrade left schema version %d, want 2", v)
	}
	if err := os.WriteFile(filepath.Join(dir, legacyQueueFile), good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, legacyQueueFile+"-wal"), goodWAL, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, legacyQueueFile+"-shm"))

	s = openStore(t, dir, Options{})
	var v int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion() {
		t.Fatalf("schema version %d, %v", v, err)
	}
	checkNoLegacyQueue(t, dir)
	for _, c := range []struct {
		cam  string
		seq  uint64
		want uploadRow
	}{
		{"a", 0, uploadRow{UploadDone, 1, "", 0}},
		{"a", 1, uploadRow{UploadRejected, 1, "409 Conflict", 0}},
		{"a", 2, uploadRow{UploadPending, 3, "reading: EIO", next}},
		{"a", 3, uploadRow{UploadPending, 0, "", 0}},
		{"a", 4, uploadRow{UploadPending, 0, "", 0}},
		{"b", 0, uploadRow{UploadPending, 0, "", 0}},
	} {
		if got := uploadOf(t, s, c.cam, c.seq); got != c.want {
			t.Errorf("%s %d imported as %+v, want %+v", c.cam, c.seq, got, c.want)
		}
	}
	if got := takeLost(t, s); !slices.Equal(got, []string{"a9"}) {
		t.Errorf("lost %v, want a9", got)
	}

	// A crash after the import committed but before the file was removed:
	// the next Open removes it and imports nothing again.
	record(t, s, "a", 2, UploadResult{State: UploadDone})
	s.Close()
	writeLegacyQueue(t, dir, [][]any{{"a", 2, ns("a", 2), 0, 3, "reading: EIO", next}})
	s = openStore(t, dir, Options{})
	checkNoLegacyQueue(t, dir)
	if got := uploadOf(t, s, "a", 2); got.state != UploadDone {
		t.Errorf("a2 after a leftover queue: %+v, want done", got)
	}
	checkConsistent(t, s)
}

func indexVersion(t *testing.T, dir string) int {
	t.Helper()
	db, err := sql.Open(driverName, filepath.Join(dir, indexFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}
