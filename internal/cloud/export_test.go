package cloud

import (
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/devauth"
)

// SetBodyWait sets how long a device body waits for one of the
// maxBodyReads turns before the request gets 503.
func SetBodyWait(s *Server, d time.Duration) { s.bodyWait = d }

// MaxBodyReads is how many device bodies are read at once.
const MaxBodyReads = maxBodyReads

// StoreNonces is the replay memory of device requests that replicas over
// a shared store use: the entries of st's EphemeralStore.
func StoreNonces(st store.EphemeralStore) devauth.Nonces { return storeNonces{st} }

// KeyDeviceNonce is the key prefix of device requests' nonces in the
// EphemeralStore.
const KeyDeviceNonce = keyDeviceNonce
