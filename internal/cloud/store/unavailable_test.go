package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"vigil/internal/cloud/store"
	"vigil/internal/pgtest"
)

// TestIsUnavailableReal: errors a real PostgreSQL gives when it is not
// there, or when a query outlives its deadline, are unavailability; a
// wrong query is not.
func TestIsUnavailableReal(t *testing.T) {
	ctx := t.Context()
	// Nothing listens on a port just closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	_, err = pgx.Connect(ctx, fmt.Sprintf("host=127.0.0.1 port=%d user=x dbname=x sslmode=disable connect_timeout=2", addr.Port))
	if err == nil || !store.IsUnavailable(fmt.Errorf("store: %w", err)) {
		t.Errorf("connection refused: IsUnavailable(%v) = false", err)
	}

	dsn := pgtest.NewDB(t)
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	qctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = c.Exec(qctx, `SELECT pg_sleep(5)`)
	if err == nil || !store.IsUnavailable(err) {
		t.Errorf("a query past its deadline: IsUnavailable(%v) = false", err)
	}
	c2, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close(context.Background())
	if _, err := c2.Exec(ctx, `SET statement_timeout = '20ms'`); err != nil {
		t.Fatal(err)
	}
	_, err = c2.Exec(ctx, `SELECT pg_sleep(5)`)
	if err == nil || !store.IsUnavailable(err) {
		t.Errorf("a statement timeout: IsUnavailable(%v) = false", err)
	}
	_, err = c2.Exec(ctx, `SELECT * FROM no_such_table`)
	if err == nil || store.IsUnavailable(err) {
		t.Errorf("a wrong query: IsUnavailable(%v) = true", err)
	}

	// A backend terminated under a connection (what a server shutdown
	// does to every connection).
	var pid int32
	if err := c2.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	_, err = c2.Exec(ctx, `SELECT 1`)
	if err == nil || !store.IsUnavailable(err) {
		t.Errorf("a terminated backend: IsUnavailable(%v) = false", err)
	}
}

// TestIsUnavailableSQLiteBusy: a write that waits past the busy timeout
// for another writer is unavailability.
func TestIsUnavailableSQLiteBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	a, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10)")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	if _, err := a.ExecContext(ctx, `CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	tx, err := a.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	_, err = b.ExecContext(ctx, `INSERT INTO t VALUES (2)`)
	if err == nil || !store.IsUnavailable(fmt.Errorf("store: %w", err)) {
		t.Errorf("a write while another holds the database: IsUnavailable(%v) = false", err)
	}
}

func TestIsUnavailableTable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{store.ErrNotFound, false},
		{errors.New("boom"), false},
		{context.Canceled, false},
		// Not the database's unless it came through a connection to it.
		{fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "57P03"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{&pgconn.PgError{Code: "53300"}, true},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "42P01"}, false},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), false},
		{io.ErrUnexpectedEOF, false}, // not from a connection
	} {
		if got := store.IsUnavailable(c.err); got != c.want {
			t.Errorf("IsUnavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
