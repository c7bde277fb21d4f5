package cloud

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/devauth"
)

// Device requests' replay memory. devauth refuses a device-signed request
// whose (device, nonce) it has seen while the request's timestamp is still
// acceptable. Which memory remembers them depends on the store:
//
//   - On SQLite the cloud is one process: the embedded configuration opens
//     the database file in one process, so the Verifier's own memory
//     (devauth.MemoryNonces) sees every request. Uploads are the hot path,
//     and remembering each nonce in SQLite would add a write, with its
//     fsync (synchronous=FULL), to every one of them, for nothing.
//   - On any other store (PostgreSQL: replicas behind a load balancer) the
//     nonces are entries of the store's EphemeralStore, shared by every
//     replica: a request captured on its way to one replica and replayed
//     to another within the window is refused there as a replay. It costs
//     one INSERT, and its commit, per device request (BenchmarkStoreNonces).
//   - Except uploads (PUT /v1/objects, authUpload): each replica remembers
//     their nonces itself. An upload's effect is keyed by its content (the
//     object's key comes from its signed header, and the same key with
//     other bytes is refused), so replaying one to another replica stores
//     nothing new and is answered as the original was (200: already
//     stored); a shared nonce would put a database commit on the path of
//     every upload, the cloud's hot path, and halved the uploads a replica
//     takes (bench cloud, 1 replica: 484 -> 275 a second on this machine).
//     Replays to the same replica are still refused.
//
// A store that cannot record a nonce refuses the request: its error is
// passed through devauth, and an unavailable database is answered 503 with
// Retry-After like every other request that needs it (routes.go), never
// 500, and never accepted.

// deviceNonces returns the Verifier's replay memory over st: nil (the
// Verifier's own memory) for SQLite, the store's EphemeralStore otherwise.
func deviceNonces(st store.Store) devauth.Nonces {
	if _, oneProcess := st.(*store.SQLite); oneProcess {
		return nil
	}
	return storeNonces{st}
}

// storeNonces is a devauth.Nonces in an EphemeralStore: the entry
// keyDeviceNonce + device ID + "/" + nonce (unpadded base64url), with no
// value. Device IDs cannot contain "/" (devauth.ValidDeviceID), so each
// pair has its own key. Only requests whose signature verified reach it, so
// only a paired device can add entries, and each goes when its request's
// timestamp is no longer acceptable (the store sweeps expired entries).
type storeNonces struct{ st store.EphemeralStore }

// nonceMargin keeps an entry a little past the expiry devauth asks for: an
// entry is live while its expiry is after now, and devauth accepts a
// timestamp up to and including the end of its window.
const nonceMargin = time.Second

// Record remembers (device, nonce) through expires; devauth.ErrReplay when
// a live entry holds it already, on any replica.
func (n storeNonces) Record(ctx context.Context, device string, nonce []byte, now, expires time.Time) error {
	key := keyDeviceNonce + device + "/" + base64.RawURLEncoding.EncodeToString(nonce)
	stored, err := n.st.PutIfAbsent(ctx, key, nil, now, expires.Add(nonceMargin))
	if err != nil {
		return fmt.Errorf("recording the request's nonce: %w", err)
	}
	if !stored {
		return devauth.ErrReplay
	}
	return nil
}
