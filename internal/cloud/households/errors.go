package households

import (
	"fmt"
	"time"
)

// Kind is the class of a refusal; the HTTP layer maps each to a status.
type Kind int

// Kinds of refusal.
const (
	Invalid         Kind = iota + 1 // the request is malformed (400)
	NotFound                        // no such thing, or not the caller's (404)
	Conflict                        // the request does not fit what is stored (409)
	Refused                         // a link that does not verify onto the chain (422)
	Unauthenticated                 // a signed action whose signature or time does not verify (401)
	Forbidden                       // a signed action its signer or household may not make (403)
	TooMany                         // too many at once; try again after RetryAfter (429)
	Missing                         // unknown or expired, said with what to do instead (404)
	Used                            // used up: it takes no more (410)
)

// Error is a refusal: its Kind and a message for the person who made the
// request.
type Error struct {
	Kind       Kind
	Msg        string
	RetryAfter time.Duration // for TooMany: when to try again (0: unsaid)
}

func (e *Error) Error() string { return e.Msg }

func errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}
