package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsUnavailable reports whether err, from a Store, means its database is
// down, unreachable, restarting or too slow right now, rather than that
// the request or the data is wrong: the same request may succeed later,
// so the caller answers "try again" (HTTP 503 with Retry-After), never an
// internal error.
//
// It recognises PostgreSQL's: a connection that could not be made (pgx's
// ConnectError: refused, no route, timed out, the server starting up), a
// connection that broke or closed under a statement (pgconn's own errors
// around an EOF, a reset or a timeout), a query whose context deadline
// passed (pgconn.Timeout), SQLSTATE class 08 (connection exception),
// 57P01-57P03 (admin or crash shutdown, cannot connect now), 53300 (too
// many connections) and 57014 (a statement cancelled, as statement_timeout
// does); and SQLite's BUSY and LOCKED (another writer held the database
// past the busy timeout). Only errors that came from the database count:
// a network error of another service is not the database's.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch c := pe.Code; {
		case len(c) == 5 && c[:2] == "08", c == "57P01", c == "57P02", c == "57P03", c == "53300", c == "57014":
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.Timeout(err) || errors.Is(err, pgconn.ErrConnClosed) {
		return true
	}
	if fromPgconn(err) && !errors.Is(err, context.Canceled) {
		// pgconn wraps in errors of its own what broke a connection: an
		// EOF where a message should be, a reset, a write that failed.
		return true
	}
	switch sqliteCode(err) & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// fromPgconn reports whether err came from a PostgreSQL connection's own
// I/O: pgconn's errors say whether the statement may have reached the
// server (SafeToRetry), which only errors of a connection do.
func fromPgconn(err error) bool {
	var re interface{ SafeToRetry() bool }
	return errors.As(err, &re)
}
