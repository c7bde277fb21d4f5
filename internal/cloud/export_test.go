package cloud

import "time"

// SetBodyWait sets how long a device body waits for one of the
// maxBodyReads turns before the request gets 503.
func SetBodyWait(s *Server, d time.Duration) { s.bodyWait = d }

// MaxBodyReads is how many device bodies are read at once.
const MaxBodyReads = maxBodyReads
