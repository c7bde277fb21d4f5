package liveview

import "fmt"

// Kind is the class of a refusal; the HTTP layer maps each to a status.
type Kind int

// Kinds of refusal.
const (
	// Unavailable: the bus cannot carry messages now; the caller tries
	// again in a few seconds (503 with Retry-After).
	Unavailable Kind = iota + 1
	// Closed: the service is shutting down (503).
	Closed
)

// Error is a refusal: its Kind and a message for the caller.
type Error struct {
	Kind Kind
	Msg  string
	Err  error // the cause, when there is one
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

func errorf(k Kind, cause error, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...), Err: cause}
}

// errClosed is the refusal of a service that is closing.
func errClosed() *Error {
	return errorf(Closed, nil, "the service is shutting down; reconnect in a few seconds")
}
