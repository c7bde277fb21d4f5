package cloudtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	_ "modernc.org/sqlite" // the embedded store's database, read as an insider

	"vigil/internal/vigiltest"
)

// ScanStats counts what Scan read.
type ScanStats struct {
	Files, Rows, Cells, Objects int
	Tables                      int
	// Logs are the processes' log files; Streams and Messages the NATS
	// streams and the messages read from them; NATSFiles the files of the
	// NATS server's store.
	Logs, Streams, Messages, NATSFiles int
	Bytes                              int64
}

func (s ScanStats) String() string {
	return fmt.Sprintf("%d files, %d tables (%d rows, %d cells), %d S3 objects, %d logs, %d NATS streams (%d messages), %d NATS store files: %d bytes",
		s.Files, s.Tables, s.Rows, s.Cells, s.Objects, s.Logs, s.Streams, s.Messages, s.NATSFiles, s.Bytes)
}

// Scan reads everything the cloud keeps, as an insider with access to its
// machines would, and hands each piece to visit with where it was found:
// every file under the data directory, every process's log, every cell of
// every table of its database (SQLite when embedded, every table of every
// schema of the PostgreSQL database when scaled), every object of its S3
// bucket, and, with a bus, every message its NATS server keeps in a
// stream (read through a NATS client) and, for the cluster's private
// server, every file of that server's store. Stop the cloud first for a
// consistent picture (Stop); the NATS server must still run.
func (c *Cloud) Scan(t testing.TB, visit func(where string, b []byte)) ScanStats {
	t.Helper()
	var st ScanStats
	walk := func(dir string, n *int) {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			*n++
			st.Bytes += int64(len(b))
			visit(path, b)
			return nil
		})
		if err != nil {
			t.Fatalf("cloudtest: scanning %s: %v", dir, err)
		}
	}
	walk(c.Data, &st.Files)
	for _, r := range c.Replicas {
		b, err := os.ReadFile(r.LogFile)
		if err != nil {
			t.Fatalf("cloudtest: reading the log of replica %d: %v", r.Index, err)
		}
		st.Logs++
		st.Bytes += int64(len(b))
		visit(r.LogFile, b)
	}
	ctx := context.Background()
	if c.DSN == "" {
		c.scanSQLite(t, filepath.Join(c.Data, "cloud.db"), &st, visit)
		return st
	}
	c.scanPostgres(t, ctx, &st, visit)
	c.scanBucket(t, ctx, &st, visit)
	if c.NATS != "" {
		c.scanStreams(t, ctx, &st, visit)
	}
	if c.NATSServer != nil {
		walk(c.NATSServer.Dir(), &st.NATSFiles)
	}
	return st
}

// scanStreams reads every message of every JetStream stream on the bus's
// server, by sequence number, as an operator of that server could.
// MaskLogEntries marks the public fields of every log entry the cloud's
// database holds (its history table) as public in leaks
// (vigiltest.LeakScan.Public), wherever they occur: in the table, in the
// database's files and in the log's tiles. They are random-looking bytes
// after fixed ones (docs/FORMAT.md, "Log entries, version 1": a record's
// epoch, a big-endian 1, is followed by an ephemeral public key), which a
// media signature can match by chance. It returns how many entries it
// found. Call it after Stop and before the scan that checks.
func (c *Cloud) MaskLogEntries(t testing.TB, leaks *vigiltest.LeakScan) int {
	t.Helper()
	n := 0
	c.Scan(t, func(where string, b []byte) {
		if !strings.Contains(where, "history") || !strings.HasSuffix(where, " column entry") {
			return
		}
		if p := logEntryPublic(b); p != nil {
			leaks.Public(p)
			n++
		}
	})
	return n
}

// logEntryPublic returns the public fields at the start of a version-1 log
// entry: all of a chain head (tag and head hash), a record's tag, epoch
// and encapsulated key, a release's key and signature.
func logEntryPublic(e []byte) []byte {
	if len(e) < 2 || e[0] != 0x01 {
		return nil
	}
	var n int
	switch e[1] {
	case 0x01: // version, type, tag (32), head (32)
		n = 2 + 32 + 32
	case 0x02: // version, type, tag (32), epoch (4), enc (32)
		n = 2 + 32 + 4 + 32
	case 0x03: // version, type, key (32), signature (64)
		n = 2 + 32 + 64
	default:
		return nil
	}
	return e[:min(n, len(e))]
}

func (c *Cloud) scanStreams(t testing.TB, ctx context.Context, st *ScanStats, visit func(string, []byte)) {
	t.Helper()
	nc, err := nats.Connect(c.NATS, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("cloudtest: connecting to the bus's NATS server: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	names := js.StreamNames(ctx)
	var all []string
	for n := range names.Name() {
		all = append(all, n)
	}
	if err := names.Err(); err != nil {
		t.Fatalf("cloudtest: listing the NATS streams: %v", err)
	}
	for _, n := range all {
		s, err := js.Stream(ctx, n)
		if err != nil {
			t.Fatalf("cloudtest: stream %s: %v", n, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatalf("cloudtest: stream %s: %v", n, err)
		}
		st.Streams++
		for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
			m, err := s.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue // acknowledged and gone (a work queue), or deleted
			}
			if err != nil {
				t.Fatalf("cloudtest: stream %s message %d: %v", n, seq, err)
			}
			st.Messages++
			st.Bytes += int64(len(m.Data))
			where := fmt.Sprintf("nats stream %s message %d (%s)", n, seq, m.Subject)
			visit(where, m.Data)
			for k, vs := range m.Header {
				for _, v := range vs {
					visit(where+" header "+k, []byte(v))
				}
			}
		}
	}
}

func cell(v any) []byte {
	switch x := v.(type) {
	case nil:
		return nil
	case []byte:
		return x
	case string:
		return []byte(x)
	default:
		return fmt.Append(nil, x)
	}
}

func (c *Cloud) scanSQLite(t testing.TB, path string, st *ScanStats, visit func(string, []byte)) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		t.Fatalf("cloudtest: reading %s: %v", path, err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	for _, table := range tables {
		st.Tables++
		rs, err := db.Query(`SELECT * FROM "` + table + `"`)
		if err != nil {
			t.Fatalf("cloudtest: reading table %s: %v", table, err)
		}
		cols, _ := rs.Columns()
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			st.Rows++
			for i, v := range vals {
				b := cell(v)
				st.Cells++
				st.Bytes += int64(len(b))
				visit(fmt.Sprintf("sqlite table %s column %s", table, cols[i]), b)
			}
		}
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		rs.Close()
	}
}

// scanPostgres reads every table outside the system schemas, each cell as
// the server sends it (bytea and text as their bytes).
func (c *Cloud) scanPostgres(t testing.TB, ctx context.Context, st *ScanStats, visit func(string, []byte)) {
	t.Helper()
	conn, err := pgx.Connect(ctx, c.DSN)
	if err != nil {
		t.Fatalf("cloudtest: connecting to the cloud's database: %v", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT table_schema, table_name FROM information_schema.tables
		WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	var tables [][2]string
	for rows.Next() {
		var s, n string
		if err := rows.Scan(&s, &n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, [2]string{s, n})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		st.Tables++
		name := pgx.Identifier{tb[0], tb[1]}.Sanitize()
		rs, err := conn.Query(ctx, `SELECT * FROM `+name)
		if err != nil {
			t.Fatalf("cloudtest: reading table %s: %v", name, err)
		}
		fields := rs.FieldDescriptions()
		for rs.Next() {
			st.Rows++
			for i, raw := range rs.RawValues() {
				st.Cells++
				st.Bytes += int64(len(raw))
				visit(fmt.Sprintf("postgres table %s column %s", name, fields[i].Name), raw)
			}
		}
		if err := rs.Err(); err != nil {
			t.Fatalf("cloudtest: reading table %s: %v", name, err)
		}
	}
}

// scanBucket reads every object of the cloud's bucket.
func (c *Cloud) scanBucket(t testing.TB, ctx context.Context, st *ScanStats, visit func(string, []byte)) {
	t.Helper()
	cl := c.S3.Client()
	for o := range cl.ListObjectsIter(ctx, c.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("cloudtest: listing bucket %s: %v", c.Bucket, o.Err)
		}
		obj, err := cl.GetObject(ctx, c.Bucket, o.Key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatalf("cloudtest: reading s3://%s/%s: %v", c.Bucket, o.Key, err)
		}
		b, err := io.ReadAll(obj)
		obj.Close()
		if err != nil {
			t.Fatalf("cloudtest: reading s3://%s/%s: %v", c.Bucket, o.Key, err)
		}
		st.Objects++
		st.Bytes += int64(len(b))
		visit("s3://"+c.Bucket+"/"+o.Key, b)
	}
}
