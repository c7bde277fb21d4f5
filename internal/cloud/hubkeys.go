package cloud

import (
	"context"
	"sync"
	"time"

	"vigil/internal/cloud/store"
	"vigil/internal/keydir"
)

// Hub keys are looked up for every device-signed request, three times per
// upload (the header precheck, the signature check and the handler), so
// they are cached: hub device ID -> its household and key, with the
// verified chain state they were read from.
//
// A cached key is used only while (a) the household's chain state is still
// the one the key came from: state (households.go) brings it up to the
// stored chain at most households.ChainRecheck after the last look, and every chain
// change replaces it, so removing a hub or changing its role through any
// replica takes effect within ChainRecheck (at once on the replica that
// made it, and on the others when the bus carries the change:
// InvalidateHousehold), and (b) it is younger than hubKeyTTL, which bounds
// how long a change of the store's device rows goes unseen.
//
// The cache is here, in the HTTP layer, rather than in the objects domain
// (internal/cloud/objects), because uploads are only one of its users:
// devauth looks up the key of every device-signed request (the hub's
// chain, settings, live view), the entries are valid only against the
// chain states the Server caches (households.go), and the bus's
// invalidations reach both together. The objects domain asks whether a
// device is a hub through the HubFunc it is given, which is this cache.
const (
	hubKeyTTL = 10 * time.Second
	// maxHubKeys bounds the cache; past it an arbitrary entry goes.
	maxHubKeys = 200_000
)

type hubKeys struct {
	mu sync.Mutex
	m  map[string]hubKey
}

type hubKey struct {
	h       store.Household
	dk      keydir.DeviceKey
	st      *keydir.State // the chain state dk is in
	expires time.Time
}

// cachedHub is hubDevice (households.go) through the cache.
func (s *Server) cachedHub(ctx context.Context, id string) (store.Household, keydir.DeviceKey, error) {
	now := s.now()
	s.hubs.mu.Lock()
	e, ok := s.hubs.m[id]
	s.hubs.mu.Unlock()
	if ok && now.Before(e.expires) {
		st, err := s.state(ctx, e.h)
		if err != nil {
			return store.Household{}, keydir.DeviceKey{}, err
		}
		if st == e.st {
			return e.h, e.dk, nil
		}
	}
	hd, err := s.households.HubDevice(ctx, id)
	if err != nil {
		s.InvalidateDevice(id)
		return store.Household{}, keydir.DeviceKey{}, err
	}
	e.h, e.dk, e.st = hd.Household, hd.Key, hd.State
	e.expires = now.Add(hubKeyTTL)
	s.hubs.mu.Lock()
	if s.hubs.m == nil {
		s.hubs.m = map[string]hubKey{}
	}
	if len(s.hubs.m) >= maxHubKeys {
		for k := range s.hubs.m {
			delete(s.hubs.m, k)
			break
		}
	}
	s.hubs.m[id] = e
	s.hubs.mu.Unlock()
	return e.h, e.dk, nil
}

// InvalidateDevice forgets what this Server cached of a device's key: its
// next request reads the store again.
func (s *Server) InvalidateDevice(deviceID string) {
	s.hubs.mu.Lock()
	delete(s.hubs.m, deviceID)
	s.hubs.mu.Unlock()
}

// InvalidateHousehold makes the household's chain state be compared with
// the store at its next use and forgets its hubs' cached keys, for when
// its chain changed in another process: the links appended since are
// verified onto the state this process holds.
func (s *Server) InvalidateHousehold(householdID string) {
	s.households.Invalidate(householdID)
	s.hubs.mu.Lock()
	for id, e := range s.hubs.m {
		if e.h.ID == householdID {
			delete(s.hubs.m, id)
		}
	}
	s.hubs.mu.Unlock()
}
