package staff

import "fmt"

// Kind is the class of a refusal; the HTTP layer maps each to a status.
type Kind int

// Kinds of refusal.
const (
	Invalid         Kind = iota + 1 // the request is malformed (400)
	Unauthenticated                 // no live staff session (401)
	Forbidden                       // a change without the session's CSRF token (403)
	NotFound                        // no such thing (404)
	Conflict                        // a name that is taken (409)
	Missing                         // an enrolment secret unknown, used or expired (410)
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

// ErrSignInRequired is the refusal of a request without a live staff
// session: missing, unknown, expired, or of a disabled identity alike.
var ErrSignInRequired = &Error{Kind: Unauthenticated, Msg: "staff sign-in required"}
