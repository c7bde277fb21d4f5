package households

import "fmt"

// Kind is the class of a refusal; the HTTP layer maps each to a status.
type Kind int

// Kinds of refusal.
const (
	Invalid  Kind = iota + 1 // the request is malformed (400)
	NotFound                 // no such thing, or not the caller's (404)
	Conflict                 // the request does not fit what is stored (409)
	Refused                  // a link that does not verify onto the chain (422)
)

// Error is a refusal: its Kind and a message for the person who made the
// request.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}
