package passkeys

import "fmt"

// Kind is the class of a refusal; the HTTP layer maps each to a status.
type Kind int

// Kinds of refusal.
const (
	Invalid      Kind = iota + 1 // the request is malformed, or names no ceremony in progress (400)
	Unauthorized                 // a sign-in's answer does not prove an account (401)
	NotFound                     // no such passkey of the account (404)
	Conflict                     // the passkey is registered already (409)
	Off                          // passkeys are off in this deployment (501)
)

// Error is a refusal: its Kind, and a message for the person who made the
// request (never a challenge's answer or a credential record).
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errorf(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}
