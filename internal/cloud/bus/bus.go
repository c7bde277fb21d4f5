// Package bus owns the messages that cross the cloud's replicas: live-view
// signalling between a hub connected to one replica and a viewer connected
// to another, new-event notices for open browsers, jobs that must run once
// cluster-wide (a Web Push per event) and cache invalidations. Bus is the
// interface; Local is the embedded implementation (one process) and
// natsbus the NATS JetStream one (many replicas). One conformance suite
// (bustest) runs against both.
//
// What it must never do: see a key or anything readable. It carries
// routing metadata (household, hub, session IDs, object keys) and the
// bytes it is given — signalling messages whose fingerprints the devices
// signed, sealed event records — and never looks inside them. It never
// imports net/http: the HTTP layer is its caller's. It never logs a
// payload.
package bus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Errors of every implementation.
var (
	// ErrClosed: the Bus (or the handle) was closed.
	ErrClosed = errors.New("bus: closed")
	// ErrUnavailable: the bus cannot carry the message now (its server is
	// unreachable); nothing was sent. Callers answer 503 and retry later.
	ErrUnavailable = errors.New("bus: unavailable")
	// ErrTooLarge: the message is over MaxData.
	ErrTooLarge = errors.New("bus: message too large")
	// ErrSubject: a subject, queue name or job ID is not well formed.
	ErrSubject = errors.New("bus: bad subject")
)

// MaxData is the largest message or job a Bus carries (NATS' default
// server limit is 1 MiB).
const MaxData = 512 << 10

// Defaults of the work queues.
const (
	// DefaultDedupWindow is how long a job ID is remembered: a second
	// Enqueue of the same ID within it adds nothing.
	DefaultDedupWindow = 10 * time.Minute
	// DefaultMaxDeliver is how many times a job is handed to a worker
	// before it is dropped.
	DefaultMaxDeliver = 5
	// DefaultRetryDelay is how long a job a worker failed waits before it
	// is handed out again.
	DefaultRetryDelay = 2 * time.Second
)

// Handler receives one published message: its subject (without any prefix
// the implementation adds) and data. It must not keep data after it
// returns, and must not call Stop on its own subscription.
type Handler func(subject string, data []byte)

// JobHandler runs one job. nil marks it done; an error hands it out again
// after a delay (to any worker), up to the queue's delivery limit. ctx is
// cancelled when the worker stops.
type JobHandler func(ctx context.Context, data []byte) error

// Sub is a subscription or a worker.
type Sub interface {
	// Stop ends it: once Stop returns its handler is not running and is
	// not called again. Never call it from the handler itself.
	Stop()
}

// Bus carries messages between the replicas of the cloud. Every method is
// safe for concurrent use.
//
// Subjects are tokens separated by dots ("live.hub.H.D.S"); a token is
// 1 to 128 of A-Z a-z 0-9 _ - ~ (Token makes one of any string). A
// subscription's pattern may use "*" for one token and ">" as its last
// token for one or more.
type Bus interface {
	// Publish sends data to every subscription whose pattern matches
	// subject, on every replica, this one included. Delivery is at most
	// once: a subscription that is not there misses it, and a
	// subscriber that falls far behind may lose messages. Messages one
	// handle publishes on one subject reach a subscription in order.
	// ErrUnavailable when the bus cannot take it now.
	Publish(ctx context.Context, subject string, data []byte) error

	// Subscribe calls h for each message published on a matching subject
	// from now on (a message published after Subscribe returns reaches
	// it), one at a time, until Stop.
	Subscribe(pattern string, h Handler) (Sub, error)

	// Enqueue adds a job to the durable work queue named queue, once per
	// id: an id enqueued within the dedup window before adds nothing and
	// reports added false. A job is run by one worker of the queue across
	// every replica.
	Enqueue(ctx context.Context, queue, id string, data []byte) (added bool, err error)

	// Work runs h for jobs of queue, one at a time per call of Work,
	// until Stop. Jobs enqueued while no worker runs wait for one.
	Work(queue string, h JobHandler) (Sub, error)

	// Ready is nil when the bus can carry messages now, else an error
	// wrapping ErrUnavailable or ErrClosed that says why.
	Ready() error

	// Close stops every subscription and worker of this handle and waits
	// for their handlers to return.
	Close() error
}

var (
	tokenRE = regexp.MustCompile(`^[A-Za-z0-9_~-]{1,128}$`)
	queueRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
)

// Token returns s as a subject token: s itself when it is one already (IDs
// of households, devices and sessions are), else "~" and a hash of it, so
// that no string can name a subject other than its own.
func Token(s string) string {
	if tokenRE.MatchString(s) && !strings.HasPrefix(s, "~") {
		return s
	}
	h := sha256.Sum256([]byte(s))
	return "~" + hex.EncodeToString(h[:16])
}

// Subject joins tokens (each passed through Token) into a subject.
func Subject(tokens ...string) string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		out[i] = Token(t)
	}
	return strings.Join(out, ".")
}

// CheckSubject checks a subject to publish on (wildcard false) or a
// pattern to subscribe to (wildcard true).
func CheckSubject(s string, wildcard bool) error {
	if s == "" {
		return fmt.Errorf("%w: empty subject", ErrSubject)
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case wildcard && t == "*":
		case wildcard && t == ">" && i == len(toks)-1:
		case tokenRE.MatchString(t):
		default:
			return fmt.Errorf("%w: %q: token %d is not 1 to 128 of A-Z a-z 0-9 _ - ~%s", ErrSubject, s, i+1,
				map[bool]string{true: " (or * for one token, > last for the rest)"}[wildcard])
		}
	}
	return nil
}

// CheckQueue checks a queue name.
func CheckQueue(queue string) error {
	if !queueRE.MatchString(queue) {
		return fmt.Errorf("%w: queue %q: 1 to 32 of a-z 0-9 -, starting with a letter or digit", ErrSubject, queue)
	}
	return nil
}

// CheckJobID checks a job's ID.
func CheckJobID(id string) error {
	if id == "" || len(id) > 1024 || strings.ContainsAny(id, "\r\n") {
		return fmt.Errorf("%w: a job ID is 1 to 1024 bytes on one line", ErrSubject)
	}
	return nil
}

// Match reports whether subject matches pattern.
func Match(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, t := range p {
		if t == ">" {
			return len(s) > i
		}
		if i >= len(s) || (t != "*" && t != s[i]) {
			return false
		}
	}
	return len(p) == len(s)
}
