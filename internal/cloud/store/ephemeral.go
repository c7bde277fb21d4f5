package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// EphemeralStore keeps the cloud's short-lived state — what a request
// leaves for a later request that may reach another replica: rate-limit
// buckets, the last TOTP step each account used, passkey ceremonies in
// progress, one-time sign-in links, nonces of signed household actions,
// open invites and their join requests. It is a key-value map whose every
// entry has an expiry: an entry whose expiry is not after the caller's now
// is missing to every method, and is swept (deleted) later.
//
// Why a key-value map and not a method per feature: every one of those
// features needs only "claim this key once" (PutIfAbsent: a nonce, a
// ceremony ID, an invite ID), "use this once" (Take: a ceremony, a sign-in
// link), "read" (Get) and "change this atomically" (Update: a limiter
// bucket, a TOTP step, a household's invites). Five methods keep every
// backend's part small and checked by one conformance suite; what a value
// means stays with the feature that writes it, in the cloud's code. The
// values are never secrets the cloud could not keep elsewhere: callers
// store hashes of one-time tokens, never the tokens; the one key kept here
// (the accounts domain's device-cookie HMAC key, shared by replicas) is a
// server secret like the VAPID key beside it in the same database.
//
// Time: every method takes the caller's now, so that the cloud's clock (and
// a test's) decides expiry, not the database's; replicas whose clocks
// differ by a little see an entry expire a little apart, which the
// features tolerate (they hold entries for minutes).
//
// Cost: each method is one statement (Get, PutIfAbsent, Take, Delete) or
// one short transaction (Update), on the primary key. Keys are opaque text
// chosen by the caller, which puts a feature prefix in front ("totp/…").
//
// Durability is the store's: an entry written is kept across a restart
// until it expires.
type EphemeralStore interface {
	// PutIfAbsent stores value under key until expires if key holds no
	// entry live at now, and reports whether it stored it. Of concurrent
	// PutIfAbsent calls for the same key exactly one stores. expires must
	// be after now.
	PutIfAbsent(ctx context.Context, key string, value []byte, now, expires time.Time) (stored bool, err error)
	// Get returns key's value; ErrNotFound when key holds no entry live at
	// now.
	Get(ctx context.Context, key string, now time.Time) ([]byte, error)
	// Take returns key's value and deletes the entry, atomically: of
	// concurrent Takes of the same key exactly one gets the value, the
	// others ErrNotFound (as does a key without an entry live at now).
	Take(ctx context.Context, key string, now time.Time) ([]byte, error)
	// Update changes key's entry atomically: fn gets the value live at now
	// (nil when there is none) and returns the value to store and its
	// expiry; a nil next, or an expiry not after now, deletes the entry.
	// No other write of key comes between fn's read and its write. When fn
	// returns an error nothing is written and Update returns that error
	// (unwrapped). fn may be called more than once (a retried
	// transaction): it must have no effect but its result.
	Update(ctx context.Context, key string, now time.Time, fn func(cur []byte) (next []byte, expires time.Time, err error)) error
	// Delete removes key's entry; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Bounds of EphemeralStore entries: a key or value past them is refused
// (ErrEphemeralTooBig): they bound what one request can make the store
// hold.
const (
	MaxEphemeralKey   = 512
	MaxEphemeralValue = 256 << 10
)

// ErrEphemeralTooBig is returned for a key or a value past the bounds.
var ErrEphemeralTooBig = errors.New("store: ephemeral key or value too big")

// checkEphemeral checks a key, and a value to store until expires.
func checkEphemeral(key string, value []byte, now, expires time.Time) error {
	if key == "" {
		return errors.New("store: ephemeral: empty key")
	}
	if len(key) > MaxEphemeralKey || len(value) > MaxEphemeralValue {
		return fmt.Errorf("%w: key %d bytes (max %d), value %d bytes (max %d)", ErrEphemeralTooBig,
			len(key), MaxEphemeralKey, len(value), MaxEphemeralValue)
	}
	if value != nil && !expires.After(now) {
		return fmt.Errorf("store: ephemeral: expiry %v is not after now %v", expires, now)
	}
	return nil
}

// ephemeralNonNil returns value as stored: never nil (a value of no bytes
// is an entry, and nil means none to Update's fn).
func ephemeralNonNil(value []byte) []byte {
	if value == nil {
		return []byte{}
	}
	return value
}

// errEphemeralRetry makes Postgres.Update run again: its INSERT met an
// entry inserted since its read.
var errEphemeralRetry = errors.New("store: ephemeral: raced with an insert")
