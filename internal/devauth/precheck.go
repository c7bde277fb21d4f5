package devauth

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Precheck checks what of r's device authorization can be checked without
// the body: one well-formed header, a timestamp inside the window, and a
// device that Lookup knows. A server calls it before reading a large body,
// so that anonymous requests and requests naming no known device are
// refused without reading it. It returns the claimed device id, which is
// not authenticated yet: [Verifier.Verify] must still check the request
// once the body is read. It records nothing. Errors wrap ErrMalformed,
// ErrStale or ErrUnknownDevice; other errors come from Lookup.
func (v *Verifier) Precheck(r *http.Request) (deviceID string, err error) {
	a, err := requestHeader(r)
	if err != nil {
		return "", err
	}
	w := v.window()
	if skew := v.now().Sub(time.Unix(a.ts, 0)); skew > w || skew < -w {
		return "", fmt.Errorf("devauth: device %s: request time is outside the accepted %s: %w", a.id, w, ErrStale)
	}
	if v.Lookup == nil {
		return "", errors.New("devauth: Verifier has no Lookup function")
	}
	if _, err := v.Lookup(r.Context(), a.id); err != nil {
		return "", fmt.Errorf("devauth: device %s: %w", a.id, err)
	}
	return a.id, nil
}
