package events

import (
	"errors"
	"fmt"
)

// Kind is the class of a refusal; the HTTP layer maps each to a status.
type Kind int

// Kinds of refusal.
const (
	Invalid  Kind = iota + 1 // the request is malformed (400)
	NotFound                 // no such subscription of the caller's (404)
	Conflict                 // the account has the most subscriptions allowed (409)
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

// ErrGone is what a Sender returns (wrapped or not) when the push service
// says the subscription no longer exists (404 or 410): the service deletes
// it.
var ErrGone = errors.New("events: push subscription is gone")
