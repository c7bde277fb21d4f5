package blob

import (
	"context"
	"errors"
	"syscall"
)

// ErrUnavailable is wrapped by a Store whose backing service is down,
// unreachable or asking callers to slow down: the same call may succeed
// later.
var ErrUnavailable = errors.New("blob: the storage service is unavailable")

// IsUnavailable reports whether err means the blob store cannot be reached
// or answer right now, rather than that the key or the data is wrong: the
// caller answers "try again" (HTTP 503 with Retry-After), never an
// internal error. It recognises ErrUnavailable, a context deadline, any
// error that says it is a timeout, and refused, reset or unreachable
// connections. A backend adds what only it can tell (s3blob.IsUnavailable
// for S3's own errors). A cancelled context is not unavailability: nobody
// waits for the answer.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return true
	}
	for _, e := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE,
		syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EHOSTDOWN} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
