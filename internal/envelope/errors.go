package envelope

import "errors"

// ErrIncorrectIdentity is returned when no identity matches any recipient
// stanza: the object was not sealed to any of the keys the caller holds
// (or a stanza was tampered with, which cannot be told apart without the key).
// [Identity.Unwrap] implementations return it (possibly wrapped) when none of
// the stanzas is for them.
var ErrIncorrectIdentity = errors.New("no identity matches any recipient stanza")

// ErrUntrustedSigner is returned when the object's producer signing key is
// not accepted by the [Verifier] passed to the reader. It is checked before
// any decryption.
var ErrUntrustedSigner = errors.New("object signed by an untrusted key")

// ErrBadSignature is returned when the producer's signature in the footer
// does not verify, or when the chunks read do not match the signed
// commitment. It means the object was not produced, as a whole, by its
// signer — for example a recipient who knows the file key re-encrypted a
// modified payload.
var ErrBadSignature = errors.New("invalid producer signature")

// ErrCorrupt is returned, wrapped with context, when an object is malformed,
// tampered with or truncated: bad magic, a field out of range, a header MAC
// mismatch, a chunk that fails authentication, a missing last chunk or
// footer, or trailing data.
var ErrCorrupt = errors.New("sealed object is corrupt")

// ErrUnsupportedVersion is returned when the object's format version is not
// one this package can read.
var ErrUnsupportedVersion = errors.New("unsupported sealed object version")
