// Package blob is the cloud's store of sealed objects: opaque byte strings
// under keys, written once, read whole or by byte range.
//
// It owns durability of the bytes it is given and nothing else. It never
// interprets, decrypts or logs object contents (the cloud only ever holds
// ciphertext, G2), never lets a key name a path outside its root, and never
// replaces an object with different bytes: a second Put of the same key is
// accepted only when the bytes are identical, so retries are harmless.
//
// Implementations: Dir (a local directory, the embedded default) and
// s3blob (an S3-compatible bucket, in its own package because it speaks
// HTTP); both pass blobtest.Run, the conformance suite.
package blob

import (
	"context"
	"errors"
	"io"
)

// Errors every implementation returns (wrapped is fine; test with errors.Is).
var (
	// ErrNotFound: no object under that key.
	ErrNotFound = errors.New("blob: not found")
	// ErrConflict: an object already exists under that key with other bytes.
	ErrConflict = errors.New("blob: a different object already exists under that key")
	// ErrInvalidKey: the key is empty, too long, or has characters or
	// segments that are not allowed (see ValidKey).
	ErrInvalidKey = errors.New("blob: invalid key")
	// ErrTooLarge: the object is larger than the store accepts.
	ErrTooLarge = errors.New("blob: object too large")
)

// Info describes a stored object.
type Info struct {
	Key  string
	Size int64
	// SHA256 of the whole object.
	SHA256 [32]byte
}

// Store holds sealed objects. Implementations are safe for concurrent use.
type Store interface {
	// Put stores size bytes read from r under key, durably (the object is
	// on stable storage when Put returns nil). If key already holds exactly
	// these bytes, Put returns created=false and no error; if it holds other
	// bytes, ErrConflict. A reader that yields more or fewer than size bytes
	// is an error and leaves nothing behind. When r is a Hashed, its
	// SHA256 is taken as the bytes' instead of hashing them (see Hashed).
	Put(ctx context.Context, key string, r io.Reader, size int64) (info Info, created bool, err error)
	// Open returns the object for reading at any offset (HTTP Range).
	Open(ctx context.Context, key string) (Object, error)
	// Stat returns the object's Info.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the keys with the given prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}

// Hashed is a reader whose SHA-256 its caller already knows, having
// computed it over exactly the bytes R yields (a server that hashed a
// request body to check its signature). Given one, Put does not hash the
// bytes again: Dir records SHA256 as the object's, s3blob sends it as the
// object's checksum (which the server verifies against the bytes). A sum
// that is not the bytes' makes an s3blob Put fail, and a Dir record a wrong
// SHA-256 (which Stat and a later Put of the same key then compare
// against), so pass only a sum taken over the same bytes.
type Hashed struct {
	R      io.Reader
	SHA256 [32]byte
}

// Read reads from R.
func (h Hashed) Read(p []byte) (int, error) { return h.R.Read(p) }

// KnownSHA256 returns the SHA-256 the caller of Put knows of r's bytes:
// r's own when r is a Hashed (or a *Hashed), else nil.
func KnownSHA256(r io.Reader) *[32]byte {
	switch h := r.(type) {
	case Hashed:
		return &h.SHA256
	case *Hashed:
		if h != nil {
			return &h.SHA256
		}
	}
	return nil
}

// Object is an open stored object.
type Object interface {
	io.ReaderAt
	io.ReadSeeker
	io.Closer
	Size() int64
}

// MaxKeyLen bounds key length.
const MaxKeyLen = 512

// ValidKey reports whether key is acceptable: 1..MaxKeyLen bytes of
// [A-Za-z0-9._-] in segments separated by single '/', no segment "." or
// "..", no leading or trailing '/'.
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKeyLen {
		return false
	}
	seg := 0
	for i := 0; i <= len(key); i++ {
		if i == len(key) || key[i] == '/' {
			s := key[seg:i]
			if s == "" || s == "." || s == ".." {
				return false
			}
			seg = i + 1
			continue
		}
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
