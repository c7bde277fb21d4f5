package objects

import "fmt"

// Kind is the class of a refusal; the HTTP layer maps each to a status.
type Kind int

// Kinds of refusal.
const (
	Invalid   Kind = iota + 1 // the request is malformed (400)
	Forbidden                 // the device is not a hub of a household (403)
	NotFound                  // no such object in the household, or not the caller's (404)
	Conflict                  // other bytes are stored under the object's key (409)
	Refused                   // the sealed object is not one the cloud accepts (422)
)

// Error is a refusal: its Kind and a message for the caller.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// notFound is the one refusal for an object that does not exist or is not
// the household's: the same message either way.
func notFound() *Error { return &Error{Kind: NotFound, Msg: "not found"} }
