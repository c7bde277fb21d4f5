package cloud

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"vigil/internal/devauth"
)

// Reading device bodies. A device-authenticated request carries up to
// MaxObjectBytes, and its signature covers the body, so the body must be
// read before the request is authenticated. What bounds that cost:
// devauth's Precheck runs first (a request without a well-formed, fresh
// header naming a known device is refused before a byte is read); at most
// maxBodyReads bodies are read at once, and a request that cannot start
// within bodyReadWait gets 503 with Retry-After; and each read has a
// deadline scaled to its size, so a slow sender cannot hold a slot.

const (
	maxBodyReads = 8
	bodyReadWait = 10 * time.Second
	// A body must arrive at minBodyRate after bodyReadSlack.
	bodyReadSlack = 30 * time.Second
	minBodyRate   = 64 << 10 // bytes a second
)

// bodyReadDeadline is how long reading a body of size bytes may take.
func bodyReadDeadline(size int64) time.Duration {
	return bodyReadSlack + time.Duration(size/minBodyRate)*time.Second
}

// deviceRefusal maps a devauth error to the answer; nil for nil.
func deviceRefusal(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, devauth.ErrBusy):
		return &apiError{status: http.StatusServiceUnavailable, msg: "too many requests in flight; retry", retryAfter: 5}
	case errors.Is(err, devauth.ErrMalformed), errors.Is(err, devauth.ErrStale), errors.Is(err, devauth.ErrUnknownDevice),
		errors.Is(err, devauth.ErrBadSignature), errors.Is(err, devauth.ErrReplay):
		return errorf(http.StatusUnauthorized, "device signature refused: %v", err)
	}
	return err
}

// readDeviceBody reads the body of a device request whose header passed
// Precheck, within the bounds above.
func (s *Server) readDeviceBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength == 0 {
		return nil, nil // nothing to read (a GET, a WebSocket upgrade)
	}
	if r.ContentLength > MaxObjectBytes {
		return nil, errorf(http.StatusRequestEntityTooLarge, "body of %d bytes is over the limit of %d", r.ContentLength, int64(MaxObjectBytes))
	}
	wait := time.NewTimer(s.bodyWait)
	defer wait.Stop()
	select {
	case s.bodyReads <- struct{}{}:
	case <-wait.C:
		return nil, &apiError{status: http.StatusServiceUnavailable, msg: "too many uploads in progress; retry", retryAfter: 5}
	case <-r.Context().Done():
		return nil, &apiError{status: http.StatusServiceUnavailable, msg: "too many uploads in progress; retry", retryAfter: 5}
	}
	defer func() { <-s.bodyReads }()
	size := r.ContentLength
	if size < 0 {
		size = MaxObjectBytes
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(bodyReadDeadline(size))); err == nil {
		defer rc.SetReadDeadline(time.Time{})
	}
	if r.ContentLength < 0 {
		return readBody(w, r, MaxObjectBytes) // chunked: size unknown
	}
	// The size is known: read into a pooled buffer of that size rather than
	// growing one (the upload handler gives it back).
	buf := s.bodies.get(int(r.ContentLength))
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		s.bodies.put(buf)
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, errorf(http.StatusBadRequest, "reading the body: it ended before its Content-Length of %d bytes", r.ContentLength)
		}
		return nil, errorf(http.StatusBadRequest, "reading the body: %v", err)
	}
	return buf, nil
}

// Body buffers come in size classes from 64 KiB to 16 MiB, pooled; larger
// bodies get a buffer of their own.
const (
	bodyClassMin = 64 << 10
	bodyClasses  = 9
)

// bodyPool holds body buffers for reuse; the zero value is ready.
type bodyPool struct {
	classes [bodyClasses]sync.Pool
}

// get returns a buffer of n bytes, pooled when n fits a class.
func (p *bodyPool) get(n int) []byte {
	for c, size := 0, bodyClassMin; c < bodyClasses; c, size = c+1, size*2 {
		if n <= size {
			if b, ok := p.classes[c].Get().(*[]byte); ok {
				return (*b)[:n]
			}
			return make([]byte, n, size)
		}
	}
	return make([]byte, n)
}

// put gives a buffer from get back; others are left to the garbage
// collector.
func (p *bodyPool) put(b []byte) {
	for c, size := 0, bodyClassMin; c < bodyClasses; c, size = c+1, size*2 {
		if cap(b) == size {
			b = b[:0]
			p.classes[c].Put(&b)
			return
		}
	}
}

// releaseBody gives a request's body buffer back once nothing refers to
// it any more: a handler of a device request defers it.
func (s *Server) releaseBody(b []byte) {
	if b != nil {
		s.bodies.put(b)
	}
}
