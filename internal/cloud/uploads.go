package cloud

import (
	"errors"
	"net/http"
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
	return readBody(w, r, MaxObjectBytes)
}
