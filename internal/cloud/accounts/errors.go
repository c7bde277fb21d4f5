package accounts

import (
	"fmt"
	"time"
)

// Kind is the class of a refusal; the HTTP layer maps each to a status.
type Kind int

// Kinds of refusal.
const (
	Invalid      Kind = iota + 1 // the request is malformed (400)
	Unauthorized                 // a credential is wrong or missing (401)
	Forbidden                    // the caller proved who it is, and may not (403)
	Conflict                     // the request does not fit what is stored (409)
	Limited                      // too many requests or failures: wait RetryAfter (429)
	Busy                         // the request gave up waiting for the service (503)
)

// Error is a refusal: its Kind, and a message for the person who made the
// request (never a secret).
type Error struct {
	Kind Kind
	Msg  string
	// RetryAfter is how long to wait, for Limited.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Msg }

func errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}
