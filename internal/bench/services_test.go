package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"vigil/internal/pgtest"
	"vigil/internal/s3test"
)

// TestListeningPIDs finds this process by a port it listens on, and no
// process for a port no one listens on.
func TestListeningPIDs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if got := listeningPIDs(port); !slices.Contains(got, os.Getpid()) {
		t.Errorf("listeningPIDs(%s) = %v, want this process (%d)", port, got, os.Getpid())
	}
	ln.Close()
	if got := listeningPIDs(port); len(got) != 0 {
		t.Errorf("listeningPIDs(%s) after close = %v", port, got)
	}
}

// TestBenchServices: for a scaled configuration the bench finds the S3
// server's process by its port and PostgreSQL's backends of the cloud's
// database, and measures the CPU they use while busy.
func TestBenchServices(t *testing.T) {
	dir := t.TempDir()
	dsn := pgtest.NewDB(t)
	s3 := s3test.Start(t)
	os.WriteFile(filepath.Join(dir, "pg.dsn"), []byte(dsn+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "s3.secret"), []byte(s3.SecretKey+"\n"), 0o600)
	cfg := filepath.Join(dir, "cloud.yaml")
	os.WriteFile(cfg, fmt.Appendf(nil, `listen: 127.0.0.1:0
data: data
store: {driver: postgres, dsn_file: pg.dsn}
blobs:
  driver: s3
  s3: {endpoint: %q, secure: false, region: %q, bucket: %q, access_key: %q, secret_key_file: s3.secret}
`, s3.Endpoint, s3.Region, s3.Bucket, s3.AccessKey), 0o600)

	ctx := context.Background()
	svcs, err := backingServices(ctx, cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, s := range svcs {
			s.close()
		}
	}()
	byName := map[string]*service{}
	for _, s := range svcs {
		byName[s.name] = s
	}
	pg, s3svc := byName["postgres"], byName["s3"]
	if pg == nil || pg.pg == nil || s3svc == nil || len(s3svc.pids) == 0 {
		t.Fatalf("services found: %+v", svcs)
	}
	for _, pid := range s3svc.pids {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.TrimSpace(string(comm)) != "versitygw" {
			t.Errorf("the S3 server's port leads to process %d (%q), not versitygw", pid, comm)
		}
	}

	// A backend of the cloud's database at work.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var backend int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		t.Fatal(err)
	}
	base, _ := processCPUOK(backend)
	pg.begin(ctx)
	deadline := time.Now().Add(5 * time.Second)
	for used := time.Duration(0); used < 50*time.Millisecond && time.Now().Before(deadline); {
		conn.Exec(ctx, `SELECT count(*) FROM generate_series(1, 300000)`)
		used, _ = processCPUOK(backend)
		used -= base
	}
	got := pg.end(ctx)
	if _, ok := pg.first[backend]; !ok {
		t.Errorf("the database's backend %d is not among PostgreSQL's processes %v", backend, pg.first)
	}
	if got < 30*time.Millisecond {
		t.Errorf("PostgreSQL used %s while a backend counted for a few seconds", got)
	}
}
