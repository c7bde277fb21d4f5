package store

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsUnavailable reports whether err means the store's database is down,
// unreachable, restarting or too slow right now, rather than that the
// request or the data is wrong: the same request may succeed later, so
// the caller answers "try again" (HTTP 503 with Retry-After), never an
// internal error.
//
// It recognises PostgreSQL connection failures (pgx's connect errors, a
// connection that broke or closed, SQLSTATE class 08, 57P01-57P03 admin
// or crash shutdown and cannot-connect-now, 53300 too many connections,
// 57014 a statement cancelled by its timeout), a context deadline or a
// network timeout on a query, refused or reset connections, and SQLite's
// BUSY and LOCKED (another writer held the database longer than the busy
// timeout). A request cancelled by its client (context.Canceled) is not
// unavailability: nobody waits for the answer.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || errors.Is(err, pgconn.ErrConnClosed) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch c := pe.Code; {
		case len(c) == 5 && c[:2] == "08", c == "57P01", c == "57P02", c == "57P03", c == "53300", c == "57014":
			return true
		}
		return false
	}
	switch c := sqliteCode(err) & 0xff; c {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ETIMEDOUT) ||
		(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && fromPgconn(err)
}

// fromPgconn reports whether err came from a PostgreSQL connection: pgconn
// wraps what broke a connection (an EOF where a message should be) in
// errors of its own that say whether the statement may have run.
func fromPgconn(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if _, ok := e.(interface{ SafeToRetry() bool }); ok {
			return true
		}
	}
	return false
}
